// Convolutions on GEMM. Per sample and group: im2col turns the input patch grid into a
// (Cg*kh*kw, Ho*Wo) matrix, so the forward is one GEMM with the weights, the input
// gradient one GEMM then col2im, the weight gradient one GEMM accumulated over samples.
// Samples run in parallel (one column buffer per thread, BLAS single-threaded inside the
// parallel region); a batch smaller than the thread count runs serially on threaded BLAS.
#include "gan/conv.h"
#include "internal.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

int64_t gan_conv_out_size(int64_t in, int k, int stride, int pad, int dil) {
    return (in + 2 * pad - (int64_t)dil * (k - 1) - 1) / stride + 1;
}

typedef struct {
    int64_t N, Ci, H, W, Co, Ho, Wo;
    int kh, kw, groups;
    int64_t Cg, Cog, K, L;      // channels per group (in, out), Cg*kh*kw, Ho*Wo
    const gan_conv_params *p;
} geom;

static void set_geom(geom *g, int64_t N, int64_t Ci, int64_t H, int64_t W, int64_t Co,
                     int64_t Ho, int64_t Wo, int kh, int kw, const gan_conv_params *p) {
    g->N = N; g->Ci = Ci; g->H = H; g->W = W; g->Co = Co; g->Ho = Ho; g->Wo = Wo;
    g->kh = kh; g->kw = kw; g->groups = p->groups; g->p = p;
    g->Cg = Ci / p->groups; g->Cog = Co / p->groups;
    g->K = g->Cg * kh * kw; g->L = Ho * Wo;
}

static bool is_pointwise(const geom *g) {
    const gan_conv_params *p = g->p;
    return g->kh == 1 && g->kw == 1 && p->stride[0] == 1 && p->stride[1] == 1 &&
           p->pad[0] == 0 && p->pad[1] == 0;
}

#define IM2COL(T)                                                                        \
    static void im2col_##T(const geom *g, const T *x, T *cols) {                         \
        const gan_conv_params *p = g->p;                                                 \
        int64_t L = g->L;                                                                \
        for (int64_t c = 0; c < g->Cg; c++)                                              \
            for (int ki = 0; ki < g->kh; ki++)                                           \
                for (int kj = 0; kj < g->kw; kj++) {                                     \
                    T *row = cols + ((c * g->kh + ki) * g->kw + kj) * L;                 \
                    const T *xc = x + c * g->H * g->W;                                   \
                    for (int64_t oh = 0; oh < g->Ho; oh++) {                             \
                        int64_t ih = oh * p->stride[0] - p->pad[0] + ki * p->dilation[0]; \
                        T *r = row + oh * g->Wo;                                         \
                        if (ih < 0 || ih >= g->H) { memset(r, 0, sizeof(T) * (size_t)g->Wo); continue; } \
                        const T *xr = xc + ih * g->W;                                    \
                        int64_t off = kj * p->dilation[1] - p->pad[1];                   \
                        if (p->stride[1] == 1) {                                         \
                            for (int64_t ow = 0; ow < g->Wo; ow++) {                     \
                                int64_t iw = ow + off;                                   \
                                r[ow] = (iw >= 0 && iw < g->W) ? xr[iw] : 0;             \
                            }                                                            \
                        } else {                                                         \
                            for (int64_t ow = 0; ow < g->Wo; ow++) {                     \
                                int64_t iw = ow * p->stride[1] + off;                    \
                                r[ow] = (iw >= 0 && iw < g->W) ? xr[iw] : 0;             \
                            }                                                            \
                        }                                                                \
                    }                                                                    \
                }                                                                        \
    }                                                                                    \
    static void col2im_##T(const geom *g, const T *cols, T *x) {                         \
        const gan_conv_params *p = g->p;                                                 \
        int64_t L = g->L;                                                                \
        memset(x, 0, sizeof(T) * (size_t)(g->Cg * g->H * g->W));                         \
        for (int64_t c = 0; c < g->Cg; c++)                                              \
            for (int ki = 0; ki < g->kh; ki++)                                           \
                for (int kj = 0; kj < g->kw; kj++) {                                     \
                    const T *row = cols + ((c * g->kh + ki) * g->kw + kj) * L;           \
                    T *xc = x + c * g->H * g->W;                                         \
                    for (int64_t oh = 0; oh < g->Ho; oh++) {                             \
                        int64_t ih = oh * p->stride[0] - p->pad[0] + ki * p->dilation[0]; \
                        if (ih < 0 || ih >= g->H) continue;                              \
                        const T *r = row + oh * g->Wo;                                   \
                        T *xr = xc + ih * g->W;                                          \
                        int64_t off = kj * p->dilation[1] - p->pad[1];                   \
                        for (int64_t ow = 0; ow < g->Wo; ow++) {                         \
                            int64_t iw = ow * p->stride[1] + off;                        \
                            if (iw >= 0 && iw < g->W) xr[iw] += r[ow];                   \
                        }                                                                \
                    }                                                                    \
                }                                                                        \
    }
IM2COL(float)
IM2COL(double)

static void im2col(gan_dtype dt, const geom *g, const void *x, void *cols) {
    if (dt == GAN_FLOAT32) im2col_float(g, x, cols); else im2col_double(g, x, cols);
}
static void col2im(gan_dtype dt, const geom *g, const void *cols, void *x) {
    if (dt == GAN_FLOAT32) col2im_float(g, cols, x); else col2im_double(g, cols, x);
}

// C (m, n) = alpha op(A) op(B) + beta C, row-major, contiguous operands.
static void gemm(gan_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                 const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C,
                 int64_t ldc) {
    if (dt == GAN_FLOAT32)
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)m, (int)n, (int)k, 1.0f, A, (int)lda, B, (int)ldb, (float)beta, C, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)m, (int)n, (int)k, 1.0, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

static int check_params(const gan_conv_params *p, const char *op) {
    for (int i = 0; i < 2; i++) {
        if (p->stride[i] < 1) return gan_error("%s: stride must be >= 1, got %d", op, p->stride[i]);
        if (p->pad[i] < 0) return gan_error("%s: padding must be >= 0, got %d", op, p->pad[i]);
        if (p->dilation[i] < 1) return gan_error("%s: dilation must be >= 1, got %d", op, p->dilation[i]);
        if (p->output_padding[i] < 0) return gan_error("%s: output_padding must be >= 0", op);
    }
    if (p->groups < 1) return gan_error("%s: groups must be >= 1, got %d", op, p->groups);
    return GAN_OK;
}

static int check_float_same(const gan_tensor *a, const gan_tensor *b, const char *op,
                            const char *an, const char *bn) {
    if (!gan_dtype_is_float(a->dtype))
        return gan_error("%s: %s must be float32 or float64, got %s", op, an, gan_dtype_name(a->dtype));
    if (a->dtype != b->dtype)
        return gan_error("%s: %s is %s but %s is %s", op, an, gan_dtype_name(a->dtype), bn,
                         gan_dtype_name(b->dtype));
    return GAN_OK;
}

// Thread count for a loop over n samples: parallel only if every thread gets one.
static int sample_threads(int64_t n) {
    int t = omp_in_parallel() ? 1 : omp_get_max_threads();
    return n >= t ? t : 1;
}

// ---- forward

int gan_conv2d(gan_tensor **out, const gan_tensor *x, const gan_tensor *w, const gan_tensor *b,
               const gan_conv_params *p) {
    char sx[GAN_SHAPE_BUF], sw[GAN_SHAPE_BUF];
    if (check_params(p, "conv2d") != GAN_OK) return GAN_ERR;
    if (x->ndim != 4 || w->ndim != 4)
        return gan_error("conv2d: expected a 4-d input (N, C, H, W) and a 4-d weight, got %s and %s",
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size),
                         gan_shape_str(sw, sizeof sw, w->ndim, w->size));
    if (check_float_same(x, w, "conv2d", "input", "weight") != GAN_OK) return GAN_ERR;
    int64_t Co = w->size[0], Ci = x->size[1];
    if (Ci != w->size[1] * p->groups || Co % p->groups)
        return gan_error("conv2d: input %s has %lld channels, weight %s expects %lld (groups %d)",
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size), (long long)Ci,
                         gan_shape_str(sw, sizeof sw, w->ndim, w->size),
                         (long long)(w->size[1] * p->groups), p->groups);
    if (b && (b->ndim != 1 || b->size[0] != Co || b->dtype != x->dtype))
        return gan_error("conv2d: bias must be a %s vector of %lld entries, got %s",
                         gan_dtype_name(x->dtype), (long long)Co, gan_shape_str(sx, sizeof sx, b->ndim, b->size));
    int kh = (int)w->size[2], kw = (int)w->size[3];
    int64_t Ho = gan_conv_out_size(x->size[2], kh, p->stride[0], p->pad[0], p->dilation[0]);
    int64_t Wo = gan_conv_out_size(x->size[3], kw, p->stride[1], p->pad[1], p->dilation[1]);
    if (Ho < 1 || Wo < 1)
        return gan_error("conv2d: input %s is too small for kernel %dx%d with padding %d,%d and "
                         "dilation %d,%d", gan_shape_str(sx, sizeof sx, x->ndim, x->size), kh, kw,
                         p->pad[0], p->pad[1], p->dilation[0], p->dilation[1]);
    geom g;
    set_geom(&g, x->size[0], Ci, x->size[2], x->size[3], Co, Ho, Wo, kh, kw, p);
    gan_tensor *xc = NULL, *wc = NULL, *y = NULL;
    int64_t ysize[4] = {g.N, Co, Ho, Wo};
    if (gan_contiguous(&xc, x) != GAN_OK || gan_contiguous(&wc, w) != GAN_OK ||
        gan_empty(&y, x->dtype, 4, ysize) != GAN_OK) {
        gan_tensor_release(xc); gan_tensor_release(wc);
        return GAN_ERR;
    }
    size_t es = gan_dtype_size(x->dtype);
    bool pw = is_pointwise(&g);
    int T = sample_threads(g.N);
    size_t colbytes = pw ? 0 : (size_t)(g.K * g.L) * es;
    char *cols = colbytes ? gan_alloc(colbytes * (size_t)T) : NULL;
    if (colbytes && !cols) { gan_tensor_release(xc); gan_tensor_release(wc); gan_tensor_release(y); return GAN_ERR; }
    const char *X = gan_data(xc), *Wt = gan_data(wc);
    char *Y = gan_data(y);
    #pragma omp parallel for num_threads(T) schedule(static) if (T > 1)
    for (int64_t n = 0; n < g.N; n++) {
        char *buf = cols + (size_t)omp_get_thread_num() * colbytes;
        for (int gr = 0; gr < g.groups; gr++) {
            const char *xin = X + (size_t)((n * Ci + gr * g.Cg) * g.H * g.W) * es;
            if (!pw) im2col(x->dtype, &g, xin, buf);
            gemm(x->dtype, false, false, g.Cog, g.L, g.K, Wt + (size_t)(gr * g.Cog * g.K) * es, g.K,
                 pw ? xin : buf, g.L, 0.0, Y + (size_t)((n * Co + gr * g.Cog) * g.L) * es, g.L);
        }
    }
    gan_free(cols, colbytes * (size_t)T);
    gan_tensor_release(xc);
    gan_tensor_release(wc);
    if (b) {
        gan_tensor *bv;
        int64_t bs[4] = {1, Co, 1, 1};
        if (gan_view(&bv, b, 4, bs) != GAN_OK || gan_binary_(y, GAN_ADD, bv) != GAN_OK) {
            gan_tensor_release(y);
            return GAN_ERR;
        }
        gan_tensor_release(bv);
    }
    *out = y;
    return GAN_OK;
}

// ---- input gradient (= transposed convolution without bias)

int gan_conv2d_input_grad(gan_tensor **out, const gan_tensor *gy, const gan_tensor *w,
                          const gan_conv_params *p, int64_t H, int64_t W) {
    char sg[GAN_SHAPE_BUF], sw[GAN_SHAPE_BUF];
    const char *op = "conv_transpose2d";
    if (check_params(p, op) != GAN_OK) return GAN_ERR;
    if (gy->ndim != 4 || w->ndim != 4)
        return gan_error("%s: expected a 4-d input (N, C, H, W) and a 4-d weight, got %s and %s", op,
                         gan_shape_str(sg, sizeof sg, gy->ndim, gy->size),
                         gan_shape_str(sw, sizeof sw, w->ndim, w->size));
    if (check_float_same(gy, w, op, "input", "weight") != GAN_OK) return GAN_ERR;
    int64_t Co = w->size[0], Ci = w->size[1] * p->groups;
    if (gy->size[1] != Co || Co % p->groups)
        return gan_error("%s: input %s has %lld channels, weight %s expects %lld (groups %d)", op,
                         gan_shape_str(sg, sizeof sg, gy->ndim, gy->size), (long long)gy->size[1],
                         gan_shape_str(sw, sizeof sw, w->ndim, w->size), (long long)Co, p->groups);
    int kh = (int)w->size[2], kw = (int)w->size[3];
    int64_t Ho = gy->size[2], Wo = gy->size[3];
    if (H < 1 || W < 1 || gan_conv_out_size(H, kh, p->stride[0], p->pad[0], p->dilation[0]) != Ho ||
        gan_conv_out_size(W, kw, p->stride[1], p->pad[1], p->dilation[1]) != Wo)
        return gan_error("%s: an output of %lldx%lld does not match an input of %lldx%lld with "
                         "kernel %dx%d, stride %d,%d, padding %d,%d", op, (long long)H, (long long)W,
                         (long long)Ho, (long long)Wo, kh, kw, p->stride[0], p->stride[1], p->pad[0], p->pad[1]);
    geom g;
    set_geom(&g, gy->size[0], Ci, H, W, Co, Ho, Wo, kh, kw, p);
    gan_tensor *gc = NULL, *wc = NULL, *gx = NULL;
    int64_t xsize[4] = {g.N, Ci, H, W};
    if (gan_contiguous(&gc, gy) != GAN_OK || gan_contiguous(&wc, w) != GAN_OK ||
        gan_empty(&gx, gy->dtype, 4, xsize) != GAN_OK) {
        gan_tensor_release(gc); gan_tensor_release(wc);
        return GAN_ERR;
    }
    size_t es = gan_dtype_size(gy->dtype);
    bool pw = is_pointwise(&g);
    int T = sample_threads(g.N);
    size_t colbytes = pw ? 0 : (size_t)(g.K * g.L) * es;
    char *cols = colbytes ? gan_alloc(colbytes * (size_t)T) : NULL;
    if (colbytes && !cols) { gan_tensor_release(gc); gan_tensor_release(wc); gan_tensor_release(gx); return GAN_ERR; }
    const char *G = gan_data(gc), *Wt = gan_data(wc);
    char *X = gan_data(gx);
    #pragma omp parallel for num_threads(T) schedule(static) if (T > 1)
    for (int64_t n = 0; n < g.N; n++) {
        char *buf = cols + (size_t)omp_get_thread_num() * colbytes;
        for (int gr = 0; gr < g.groups; gr++) {
            char *xo = X + (size_t)((n * Ci + gr * g.Cg) * H * W) * es;
            // cols (K, L) = W_g^T (K, Cog) @ gy (Cog, L)
            gemm(gy->dtype, true, false, g.K, g.L, g.Cog, Wt + (size_t)(gr * g.Cog * g.K) * es, g.K,
                 G + (size_t)((n * Co + gr * g.Cog) * g.L) * es, g.L, 0.0, pw ? xo : buf, g.L);
            if (!pw) col2im(gy->dtype, &g, buf, xo);
        }
    }
    gan_free(cols, colbytes * (size_t)T);
    gan_tensor_release(gc);
    gan_tensor_release(wc);
    *out = gx;
    return GAN_OK;
}

// ---- weight gradient

int gan_conv2d_weight_grad(gan_tensor **out, const gan_tensor *x, const gan_tensor *gy,
                           const gan_conv_params *p, int kh, int kw) {
    char sx[GAN_SHAPE_BUF], sg[GAN_SHAPE_BUF];
    const char *op = "conv2d_weight_grad";
    if (check_params(p, op) != GAN_OK) return GAN_ERR;
    if (x->ndim != 4 || gy->ndim != 4 || x->size[0] != gy->size[0] || x->size[1] % p->groups ||
        gy->size[1] % p->groups || kh < 1 || kw < 1)
        return gan_error("%s: input %s and output gradient %s do not match (groups %d)", op,
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size),
                         gan_shape_str(sg, sizeof sg, gy->ndim, gy->size), p->groups);
    if (check_float_same(x, gy, op, "input", "gradient") != GAN_OK) return GAN_ERR;
    int64_t Ho = gan_conv_out_size(x->size[2], kh, p->stride[0], p->pad[0], p->dilation[0]);
    int64_t Wo = gan_conv_out_size(x->size[3], kw, p->stride[1], p->pad[1], p->dilation[1]);
    if (Ho != gy->size[2] || Wo != gy->size[3])
        return gan_error("%s: gradient %s does not match input %s with kernel %dx%d", op,
                         gan_shape_str(sg, sizeof sg, gy->ndim, gy->size),
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size), kh, kw);
    geom g;
    set_geom(&g, x->size[0], x->size[1], x->size[2], x->size[3], gy->size[1], Ho, Wo, kh, kw, p);
    gan_tensor *xc = NULL, *gc = NULL, *gw = NULL;
    int64_t wsize[4] = {g.Co, g.Cg, kh, kw};
    if (gan_contiguous(&xc, x) != GAN_OK || gan_contiguous(&gc, gy) != GAN_OK ||
        gan_zeros(&gw, x->dtype, 4, wsize) != GAN_OK) {
        gan_tensor_release(xc); gan_tensor_release(gc);
        return GAN_ERR;
    }
    size_t es = gan_dtype_size(x->dtype);
    bool pw = is_pointwise(&g);
    int T = sample_threads(g.N);
    size_t colbytes = pw ? 0 : (size_t)(g.K * g.L) * es;
    size_t wbytes = (size_t)gan_numel(gw) * es;
    // Thread 0 accumulates into gw, the others into their own buffers, summed in order.
    char *cols = colbytes ? gan_alloc(colbytes * (size_t)T) : NULL;
    char *part = T > 1 ? gan_alloc(wbytes * (size_t)(T - 1)) : NULL;
    if ((colbytes && !cols) || (T > 1 && !part)) {
        gan_free(cols, colbytes * (size_t)T); gan_free(part, wbytes * (size_t)(T - 1));
        gan_tensor_release(xc); gan_tensor_release(gc); gan_tensor_release(gw);
        return GAN_ERR;
    }
    if (part) memset(part, 0, wbytes * (size_t)(T - 1));
    const char *X = gan_data(xc), *G = gan_data(gc);
    char *Wg = gan_data(gw);
    #pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num();
        char *buf = cols + (size_t)t * colbytes;
        char *acc = t == 0 ? Wg : part + (size_t)(t - 1) * wbytes;
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < g.N; n++) {
            for (int gr = 0; gr < g.groups; gr++) {
                const char *xin = X + (size_t)((n * g.Ci + gr * g.Cg) * g.H * g.W) * es;
                if (!pw) im2col(x->dtype, &g, xin, buf);
                // gw_g (Cog, K) += gy (Cog, L) @ cols^T (L, K)
                gemm(x->dtype, false, true, g.Cog, g.K, g.L,
                     G + (size_t)((n * g.Co + gr * g.Cog) * g.L) * es, g.L, pw ? xin : buf, g.L, 1.0,
                     acc + (size_t)(gr * g.Cog * g.K) * es, g.K);
            }
        }
    }
    int64_t nw = gan_numel(gw);
    for (int t = 1; t < T; t++) {
        const char *src = part + (size_t)(t - 1) * wbytes;
        if (x->dtype == GAN_FLOAT32) for (int64_t i = 0; i < nw; i++) ((float *)Wg)[i] += ((const float *)src)[i];
        else for (int64_t i = 0; i < nw; i++) ((double *)Wg)[i] += ((const double *)src)[i];
    }
    gan_free(cols, colbytes * (size_t)T);
    gan_free(part, wbytes * (size_t)(T > 1 ? T - 1 : 0));
    gan_tensor_release(xc);
    gan_tensor_release(gc);
    *out = gw;
    return GAN_OK;
}

// ---- differentiable wrappers

static void put_params(gan_node *n, const gan_conv_params *p) {
    n->i[0] = p->stride[0]; n->i[1] = p->stride[1]; n->i[2] = p->pad[0]; n->i[3] = p->pad[1];
    n->i[4] = p->dilation[0]; n->i[5] = p->dilation[1]; n->i[6] = p->groups;
    n->i[7] = p->output_padding[0]; n->i[8] = p->output_padding[1];
}
static gan_conv_params get_params(const gan_node *n) {
    gan_conv_params p = {{(int)n->i[0], (int)n->i[1]}, {(int)n->i[2], (int)n->i[3]},
                         {(int)n->i[4], (int)n->i[5]}, (int)n->i[6], {(int)n->i[7], (int)n->i[8]}};
    return p;
}

static int conv2d_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    gan_conv_params p = get_params(n);
    gan_tensor *x = NULL, *w = NULL;
    int rc = GAN_ERR;
    if (gan_node_unpack(n, 0, &x) != GAN_OK || gan_node_unpack(n, 1, &w) != GAN_OK) goto out;
    if (gan_node_needs(n, 0) &&
        gan_ag_conv2d_input_grad(&gin[0], g, w, &p, x->size[2], x->size[3]) != GAN_OK) goto out;
    if (gan_node_needs(n, 1) &&
        gan_ag_conv2d_weight_grad(&gin[1], x, g, &p, (int)w->size[2], (int)w->size[3]) != GAN_OK) goto out;
    if (n->n_next > 2 && gan_node_needs(n, 2)) {
        int dims[3] = {0, 2, 3};
        if (gan_ag_reduce(&gin[2], GAN_SUM, g, 3, dims, false) != GAN_OK) goto out;
    }
    rc = GAN_OK;
out:
    gan_tensor_release(x);
    gan_tensor_release(w);
    return rc;
}

int gan_ag_conv2d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                  const gan_conv_params *p) {
    if (gan_conv2d(out, x, w, b, p) != GAN_OK) return GAN_ERR;
    const gan_tensor *ins[3] = {x, w, b};
    gan_node *n = gan_record("conv2d", conv2d_backward, *out, b ? 3 : 2, ins);
    if (!n) return GAN_OK;
    put_params(n, p);
    if (gan_node_save(n, x, false) != GAN_OK || gan_node_save(n, w, false) != GAN_OK) {
        gan_tensor_release(*out);
        return GAN_ERR;
    }
    return GAN_OK;
}

static int input_grad_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    // y = conv_transpose(gy, w): d/dgy = conv2d(g, w); d/dw = weight_grad(g, gy).
    gan_conv_params p = get_params(n);
    gan_tensor *gy = NULL, *w = NULL;
    int rc = GAN_ERR;
    if (gan_node_unpack(n, 0, &gy) != GAN_OK || gan_node_unpack(n, 1, &w) != GAN_OK) goto out;
    if (gan_node_needs(n, 0) && gan_ag_conv2d(&gin[0], g, w, NULL, &p) != GAN_OK) goto out;
    if (gan_node_needs(n, 1) &&
        gan_ag_conv2d_weight_grad(&gin[1], g, gy, &p, (int)w->size[2], (int)w->size[3]) != GAN_OK) goto out;
    rc = GAN_OK;
out:
    gan_tensor_release(gy);
    gan_tensor_release(w);
    return rc;
}

int gan_ag_conv2d_input_grad(gan_tensor **out, gan_tensor *gy, gan_tensor *w,
                             const gan_conv_params *p, int64_t H, int64_t W) {
    if (gan_conv2d_input_grad(out, gy, w, p, H, W) != GAN_OK) return GAN_ERR;
    const gan_tensor *ins[2] = {gy, w};
    gan_node *n = gan_record("conv_transpose2d", input_grad_backward, *out, 2, ins);
    if (!n) return GAN_OK;
    put_params(n, p);
    if (gan_node_save(n, gy, false) != GAN_OK || gan_node_save(n, w, false) != GAN_OK) {
        gan_tensor_release(*out);
        return GAN_ERR;
    }
    return GAN_OK;
}

static int weight_grad_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    // gw = sum gy (x) im2col(x): d/dx = input_grad(gy, g); d/dgy = conv2d(x, g).
    gan_conv_params p = get_params(n);
    gan_tensor *x = NULL, *gy = NULL;
    int rc = GAN_ERR;
    if (gan_node_unpack(n, 0, &x) != GAN_OK || gan_node_unpack(n, 1, &gy) != GAN_OK) goto out;
    if (gan_node_needs(n, 0) &&
        gan_ag_conv2d_input_grad(&gin[0], gy, g, &p, x->size[2], x->size[3]) != GAN_OK) goto out;
    if (gan_node_needs(n, 1) && gan_ag_conv2d(&gin[1], x, g, NULL, &p) != GAN_OK) goto out;
    rc = GAN_OK;
out:
    gan_tensor_release(x);
    gan_tensor_release(gy);
    return rc;
}

int gan_ag_conv2d_weight_grad(gan_tensor **out, gan_tensor *x, gan_tensor *gy,
                              const gan_conv_params *p, int kh, int kw) {
    if (gan_conv2d_weight_grad(out, x, gy, p, kh, kw) != GAN_OK) return GAN_ERR;
    const gan_tensor *ins[2] = {x, gy};
    gan_node *n = gan_record("conv2d_weight_grad", weight_grad_backward, *out, 2, ins);
    if (!n) return GAN_OK;
    put_params(n, p);
    if (gan_node_save(n, x, false) != GAN_OK || gan_node_save(n, gy, false) != GAN_OK) {
        gan_tensor_release(*out);
        return GAN_ERR;
    }
    return GAN_OK;
}

int gan_ag_conv_transpose2d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                            const gan_conv_params *p) {
    char sx[GAN_SHAPE_BUF], sw[GAN_SHAPE_BUF];
    if (check_params(p, "conv_transpose2d") != GAN_OK) return GAN_ERR;
    if (x->ndim != 4 || w->ndim != 4)
        return gan_error("conv_transpose2d: expected a 4-d input (N, C, H, W) and a 4-d weight, "
                         "got %s and %s", gan_shape_str(sx, sizeof sx, x->ndim, x->size),
                         gan_shape_str(sw, sizeof sw, w->ndim, w->size));
    for (int i = 0; i < 2; i++)
        if (p->output_padding[i] >= p->stride[i] && p->output_padding[i] >= p->dilation[i])
            return gan_error("conv_transpose2d: output_padding %d must be smaller than stride %d "
                             "or dilation %d", p->output_padding[i], p->stride[i], p->dilation[i]);
    int64_t Hout = (x->size[2] - 1) * p->stride[0] - 2 * p->pad[0] + (int64_t)p->dilation[0] * (w->size[2] - 1) + p->output_padding[0] + 1;
    int64_t Wout = (x->size[3] - 1) * p->stride[1] - 2 * p->pad[1] + (int64_t)p->dilation[1] * (w->size[3] - 1) + p->output_padding[1] + 1;
    if (Hout < 1 || Wout < 1)
        return gan_error("conv_transpose2d: input %s with kernel %lldx%lld and padding %d,%d gives an "
                         "empty output", gan_shape_str(sx, sizeof sx, x->ndim, x->size),
                         (long long)w->size[2], (long long)w->size[3], p->pad[0], p->pad[1]);
    gan_tensor *y;
    if (gan_ag_conv2d_input_grad(&y, x, w, p, Hout, Wout) != GAN_OK) return GAN_ERR;
    if (!b) { *out = y; return GAN_OK; }
    int64_t C = y->size[1];
    if (b->ndim != 1 || b->size[0] != C || b->dtype != y->dtype) {
        gan_tensor_release(y);
        return gan_error("conv_transpose2d: bias must be a %s vector of %lld entries, got %s",
                         gan_dtype_name(x->dtype), (long long)C, gan_shape_str(sx, sizeof sx, b->ndim, b->size));
    }
    gan_tensor *bv;
    int64_t bs[4] = {1, C, 1, 1};
    int rc = gan_ag_view(&bv, b, 4, bs);
    if (rc == GAN_OK) { rc = gan_ag_binary(out, GAN_ADD, y, bv); gan_tensor_release(bv); }
    gan_tensor_release(y);
    return rc;
}
