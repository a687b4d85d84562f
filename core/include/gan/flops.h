// The floating-point work the kernels were asked for, counted process-wide: 2 per
// multiply-add of every convolution direction and matrix product, as their shapes
// define it (not what an implementation pads them to; elementwise work not counted).
// Benchmarks divide a step's count by its time for GFLOP/s.
#ifndef GAN_FLOPS_H
#define GAN_FLOPS_H
#include <stdint.h>

void gan_flops_add(double flops);
// The count so far (rounded to whole flops).
uint64_t gan_flops(void);
#endif
