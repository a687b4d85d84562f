// The arithmetic of float32 convolutions and matrix products: float32, or bfloat16
// inputs (converted on the way in) with float32 accumulation and float32 outputs, on
// oneDNN (AVX512_BF16 kernels where the CPU has them). What oneDNN has no bfloat16 kernel
// for, and every float64 or "gemm"-backend convolution, runs in float32. Process-wide;
// Lua's gan.autocast scopes set and restore it.
#ifndef GAN_PRECISION_H
#define GAN_PRECISION_H
#include <stdint.h>

typedef enum { GAN_PREC_F32 = 0, GAN_PREC_BF16 = 1 } gan_precision;
void gan_set_precision(gan_precision p);
gan_precision gan_get_precision(void);

// n float32 values, `stride` apart, to contiguous bfloat16 (round to nearest even; NaN
// stays NaN).
void gan_f32_to_bf16(uint16_t *dst, const float *src, int64_t n, int64_t stride);

#endif
