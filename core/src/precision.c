// The process-wide compute precision (gan/precision.h) and float32 -> bfloat16 rounding.
#include "gan/precision.h"
#include <string.h>

static _Atomic gan_precision precision = GAN_PREC_F32;
void gan_set_precision(gan_precision p) { precision = p; }
gan_precision gan_get_precision(void) { return precision; }

void gan_f32_to_bf16(uint16_t *dst, const float *src, int64_t n, int64_t stride) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i * stride], sizeof u);
        if ((u & 0x7fffffffu) > 0x7f800000u) dst[i] = (uint16_t)((u >> 16) | 0x40);   // quiet NaN
        else dst[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}
