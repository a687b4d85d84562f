// The process-wide flop counter of gan/flops.h.
#include "gan/flops.h"

static _Atomic uint64_t count;

void gan_flops_add(double flops) { count += (uint64_t)flops; }
uint64_t gan_flops(void) { return count; }
