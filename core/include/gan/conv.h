// Convolutions in three directions, lowered to GEMM (im2col / col2im) or run by oneDNN.
//
//     y  = conv2d(x, w)                 x (N, Ci, H, W), w (Co, Ci/groups, kh, kw)
//     gx = conv2d_input_grad(gy, w)     = conv_transpose2d(gy, w): (N, Ci, H, W)
//     gw = conv2d_weight_grad(x, gy)    (Co, Ci/groups, kh, kw)
//
// The three are closed under differentiation (each one's backward is made of the other
// two), which is what double backward through convolutions needs. One driver in conv.c
// serves 1 to GAN_CONV_MAX_SPATIAL spatial dims; the 2-d and 3-d entry points are exposed.
#ifndef GAN_CONV_H
#define GAN_CONV_H
#include "gan/autograd.h"

#define GAN_CONV_MAX_SPATIAL 3

// Per spatial dim, outermost first ({h, w} for 2-d); entries past the op's dims are
// not read.
typedef struct gan_conv_params {
    int stride[GAN_CONV_MAX_SPATIAL], pad[GAN_CONV_MAX_SPATIAL], dilation[GAN_CONV_MAX_SPATIAL];
    int groups;
    int output_padding[GAN_CONV_MAX_SPATIAL];   // transposed convolutions only
} gan_conv_params;

// Which implementation runs the float32 kernels: oneDNN (default when gan is built with
// it; shapes it declines and float64 always take the GEMM path) or the portable GEMM
// lowering. Process-wide.
typedef enum { GAN_CONV_GEMM = 0, GAN_CONV_DNNL = 1 } gan_conv_backend;
int gan_set_conv_backend(gan_conv_backend b);   // error if oneDNN is not built in
gan_conv_backend gan_get_conv_backend(void);
// oneDNN's implementation name for the last convolution it ran (NULL if none).
const char *gan_conv_last_dnnl_impl(void);
// How many convolution kernels oneDNN has run (the rest took the GEMM path).
uint64_t gan_conv_dnnl_runs(void);

// Output size of one spatial dim of a convolution.
int64_t gan_conv_out_size(int64_t in, int k, int stride, int pad, int dil);

// ---- raw kernels (b may be NULL)
int gan_conv2d(gan_tensor **out, const gan_tensor *x, const gan_tensor *w, const gan_tensor *b,
               const gan_conv_params *p);
int gan_conv2d_input_grad(gan_tensor **out, const gan_tensor *gy, const gan_tensor *w,
                          const gan_conv_params *p, int64_t H, int64_t W);
int gan_conv2d_weight_grad(gan_tensor **out, const gan_tensor *x, const gan_tensor *gy,
                           const gan_conv_params *p, int kh, int kw);

// ---- differentiable
int gan_ag_conv2d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                  const gan_conv_params *p);
int gan_ag_conv2d_input_grad(gan_tensor **out, gan_tensor *gy, gan_tensor *w,
                             const gan_conv_params *p, int64_t H, int64_t W);
int gan_ag_conv2d_weight_grad(gan_tensor **out, gan_tensor *x, gan_tensor *gy,
                              const gan_conv_params *p, int kh, int kw);
// x (N, Ci, H, W), w (Ci, Co/groups, kh, kw) -> (N, Co, Hout, Wout) with
// Hout = (H - 1) stride - 2 pad + dil (kh - 1) + output_padding + 1.
int gan_ag_conv_transpose2d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                            const gan_conv_params *p);
// The same in 3-d: x (N, Ci, D, H, W), w (Co, Ci/groups, kd, kh, kw) for the convolution,
// (Ci, Co/groups, kd, kh, kw) for the transposed one; params per dim {d, h, w}.
int gan_ag_conv3d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                  const gan_conv_params *p);
int gan_ag_conv_transpose3d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                            const gan_conv_params *p);

// ---- pooling
// For max_pool2d: (N, C, Ho, Wo) int64 flat indices into each H*W plane of the window
// maxima (NaN wins, as in PyTorch). k, stride, pad, dil are (h, w) pairs.
int gan_max_pool2d_indices(gan_tensor **out, const gan_tensor *x, const int *k,
                           const int *stride, const int *pad, const int *dil, bool ceil_mode);

#endif
