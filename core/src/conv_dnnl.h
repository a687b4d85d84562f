// Private to core/: the oneDNN path of the float32 convolution kernels (conv_dnnl.c), the
// engine and lock it shares with the bfloat16 matrix product (dnnl_matmul.c), and that
// product.
#ifndef GAN_CONV_DNNL_H
#define GAN_CONV_DNNL_H
#include <stdbool.h>
#include <stdint.h>

#define GAN_DNNL_UNSUPPORTED 1   // not handled here: the caller takes the GEMM path

typedef enum { GAN_DNNL_FWD, GAN_DNNL_BWD_DATA, GAN_DNNL_BWD_WEIGHTS } gan_dnnl_dir;

// One convolution with 1 to 3 spatial dims (oneDNN's 1-, 2- and 3-d convolutions); the
// spatial arrays hold the first nsp entries, outermost first.
typedef struct {
    gan_dnnl_dir dir;
    int nsp;
    int64_t N, Ci, Co, groups;
    int64_t in[3], out[3], k[3];      // spatial sizes of x, y and the kernel
    int64_t stride[3], pad[3], dil[3];   // dil as in gan_conv_params (1: none)
    bool bias;
    bool bf16;   // bfloat16 inputs, float32 accumulation and output
} gan_dnnl_shape;

// Runs one direction on contiguous float32 data: x (N, Ci, *in), w (Co, Ci/groups, *k),
// y (N, Co, *out), b (Co) or NULL (forward only). Forward writes y, backward data writes
// x from y, backward weights writes w (overwrites, no accumulation). Returns GAN_OK,
// GAN_ERR (message set) or GAN_DNNL_UNSUPPORTED. With bf16 the inputs are converted to
// bfloat16 by the reorders into the primitive's layout; a shape oneDNN has no bfloat16
// kernel for runs in float32.
int gan_dnnl_conv(const gan_dnnl_shape *s, void *x, void *w, const void *b, void *y);
// oneDNN's name for the implementation of the last primitive run (NULL: none yet).
const char *gan_dnnl_last_impl(void);
// How many convolutions oneDNN has run in this process.
uint64_t gan_dnnl_runs(void);
bool gan_dnnl_available(void);

// Runs fn(arg, engine, stream) holding the lock that serialises gan's use of oneDNN, the
// engine created on first use (engine and stream are dnnl_engine_t / dnnl_stream_t).
// Returns fn's result, or GAN_ERR (message set) when the engine cannot be created.
int gan_dnnl_locked(int (*fn)(void *arg, void *engine, void *stream), void *arg);

// C (nb, n, m) = A (nb, n, k) B (nb, k, m): dense row-major bfloat16 operands, float32
// accumulation and result. GAN_OK, GAN_ERR or GAN_DNNL_UNSUPPORTED (no oneDNN, or no
// kernel: the caller computes in float32).
int gan_dnnl_matmul_bf16(int64_t nb, int64_t n, int64_t m, int64_t k, const uint16_t *A, const uint16_t *B,
                         float *C);

#endif
