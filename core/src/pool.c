// Max pooling's argmax: for each output cell, the flat index (into H*W of its plane) of
// the largest input in its window. The pooled values and both gradients are then a
// gather / scatter_add with these indices, which autograd already differentiates.
#include "internal.h"
#include <math.h>

int gan_max_pool2d_indices(gan_tensor **out, const gan_tensor *x, const int *k,
                           const int *stride, const int *pad, const int *dil, bool ceil_mode) {
    char s[GAN_SHAPE_BUF];
    if (x->ndim != 4)
        return gan_error("max_pool2d: expected a 4-d input (N, C, H, W), got %s",
                         gan_shape_str(s, sizeof s, x->ndim, x->size));
    if (!gan_dtype_is_float(x->dtype))
        return gan_error("max_pool2d: expected a float input, got %s", gan_dtype_name(x->dtype));
    for (int i = 0; i < 2; i++) {
        if (k[i] < 1 || stride[i] < 1 || dil[i] < 1 || pad[i] < 0)
            return gan_error("max_pool2d: kernel, stride and dilation must be >= 1 and padding >= 0");
        if ((int64_t)pad[i] * 2 > k[i])
            return gan_error("max_pool2d: padding %d must be at most half the kernel size %d", pad[i], k[i]);
    }
    int64_t N = x->size[0], C = x->size[1], H = x->size[2], W = x->size[3];
    int64_t o[2];
    int64_t in[2] = {H, W};
    for (int i = 0; i < 2; i++) {
        int64_t span = in[i] + 2 * (int64_t)pad[i] - (int64_t)dil[i] * (k[i] - 1) - 1;
        o[i] = (ceil_mode ? (span + stride[i] - 1) / stride[i] : span / stride[i]) + 1;
        // A window must start inside the input or the left padding.
        if (ceil_mode && (o[i] - 1) * stride[i] >= in[i] + pad[i]) o[i]--;
        if (span < 0 || o[i] < 1)
            return gan_error("max_pool2d: input %s is too small for kernel %dx%d",
                             gan_shape_str(s, sizeof s, x->ndim, x->size), k[0], k[1]);
    }
    gan_tensor *xc;
    if (gan_to_dtype(&xc, x, GAN_FLOAT64) != GAN_OK) return GAN_ERR;
    gan_tensor *xcc;
    int rc = gan_contiguous(&xcc, xc);
    gan_tensor_release(xc);
    if (rc != GAN_OK) return GAN_ERR;
    int64_t osize[4] = {N, C, o[0], o[1]};
    gan_tensor *idx;
    if (gan_empty(&idx, GAN_INT64, 4, osize) != GAN_OK) { gan_tensor_release(xcc); return GAN_ERR; }
    const double *X = gan_data(xcc);
    int64_t *I = gan_data(idx);
    #pragma omp parallel for schedule(static) if (N * C * o[0] * o[1] > GAN_PARALLEL_GRAIN / 8)
    for (int64_t pl = 0; pl < N * C; pl++) {
        const double *xp = X + pl * H * W;
        int64_t *ip = I + pl * o[0] * o[1];
        for (int64_t oh = 0; oh < o[0]; oh++)
            for (int64_t ow = 0; ow < o[1]; ow++) {
                int64_t best = -1;
                double bv = -INFINITY;
                for (int ki = 0; ki < k[0]; ki++) {
                    int64_t ih = oh * stride[0] - pad[0] + (int64_t)ki * dil[0];
                    if (ih < 0 || ih >= H) continue;
                    for (int kj = 0; kj < k[1]; kj++) {
                        int64_t iw = ow * stride[1] - pad[1] + (int64_t)kj * dil[1];
                        if (iw < 0 || iw >= W) continue;
                        double v = xp[ih * W + iw];
                        if (best < 0 || v > bv || v != v) { best = ih * W + iw; bv = v; if (v != v) goto found; }
                    }
                }
            found:
                ip[oh * o[1] + ow] = best;
            }
    }
    gan_tensor_release(xcc);
    *out = idx;
    return GAN_OK;
}
