// Convolutions. Two paths compute the same three kernels: oneDNN (conv_dnnl.c) for float32
// when gan is built with it and the backend is "dnnl" (the default), and the portable
// GEMM lowering below for float64, for shapes oneDNN declines, and when the backend is
// set to "gemm" (gan_set_conv_backend). Both are tested against the same references.
//
// The GEMM lowering: a chunk of samples is unrolled by im2col into one matrix
// (Ci*kh*kw, nb*Ho*Wo), samples side by side, so each direction is one large GEMM per
// group: forward W @ cols, input gradient W^T @ gy then col2im, weight gradient
// gy @ cols^T accumulated over chunks. BLAS runs the GEMMs on all threads; im2col and
// col2im run in parallel over the chunk's samples.
#include "gan/conv.h"
#include "internal.h"
#include "conv_dnnl.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static _Atomic gan_conv_backend backend =
#ifdef GAN_HAVE_DNNL
    GAN_CONV_DNNL;
#else
    GAN_CONV_GEMM;
#endif

int gan_set_conv_backend(gan_conv_backend b) {
    if (b == GAN_CONV_DNNL && !gan_dnnl_available())
        return gan_error("conv backend: this build of gan has no oneDNN (libdnnl-dev was missing "
                         "when it was configured); only \"gemm\" is available");
    if (b != GAN_CONV_DNNL && b != GAN_CONV_GEMM) return gan_error("conv backend: unknown backend %d", (int)b);
    backend = b;
    return GAN_OK;
}
gan_conv_backend gan_get_conv_backend(void) { return backend; }
const char *gan_conv_last_dnnl_impl(void) { return gan_dnnl_last_impl(); }
uint64_t gan_conv_dnnl_runs(void) { return gan_dnnl_runs(); }

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

// The output columns ow whose input column ow*stride + off lies inside [0, W): [lo, hi).
static inline void ow_range(const geom *g, int64_t off, int64_t *lo, int64_t *hi) {
    int64_t s = g->p->stride[1];
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;          // first ow with iw >= 0
    int64_t b = g->W - 1 - off < 0 ? 0 : (g->W - 1 - off) / s + 1;   // past the last with iw < W
    *lo = a < g->Wo ? a : g->Wo;
    *hi = b < g->Wo ? b : g->Wo;
    if (*hi < *lo) *hi = *lo;
}

// im2col of one sample (Ci, H, W): row (c, ki, kj) holds the Ho*Wo inputs that kernel tap
// meets; rows are `ld` apart, so a chunk of samples sits side by side in one matrix.
#define IM2COL(T)                                                                        \
    static void im2col_##T(const geom *g, const T *x, T *cols, int64_t ld) {             \
        const gan_conv_params *p = g->p;                                                 \
        for (int64_t c = 0; c < g->Ci; c++)                                              \
            for (int ki = 0; ki < g->kh; ki++)                                           \
                for (int kj = 0; kj < g->kw; kj++) {                                     \
                    T *row = cols + ((c * g->kh + ki) * g->kw + kj) * ld;                \
                    const T *xc = x + c * g->H * g->W;                                   \
                    int64_t off = kj * p->dilation[1] - p->pad[1], lo, hi;               \
                    ow_range(g, off, &lo, &hi);                                          \
                    for (int64_t oh = 0; oh < g->Ho; oh++) {                             \
                        int64_t ih = oh * p->stride[0] - p->pad[0] + ki * p->dilation[0]; \
                        T *r = row + oh * g->Wo;                                         \
                        if (ih < 0 || ih >= g->H) { memset(r, 0, sizeof(T) * (size_t)g->Wo); continue; } \
                        const T *xr = xc + ih * g->W;                                    \
                        for (int64_t ow = 0; ow < lo; ow++) r[ow] = 0;                   \
                        if (p->stride[1] == 1) {                                         \
                            if (hi > lo) memcpy(r + lo, xr + lo + off, sizeof(T) * (size_t)(hi - lo)); \
                        } else {                                                         \
                            const T *xs = xr + off;                                      \
                            int64_t s1 = p->stride[1];                                   \
                            for (int64_t ow = lo; ow < hi; ow++) r[ow] = xs[ow * s1];    \
                        }                                                                \
                        for (int64_t ow = hi > lo ? hi : lo; ow < g->Wo; ow++) r[ow] = 0; \
                    }                                                                    \
                }                                                                        \
    }                                                                                    \
    static void col2im_##T(const geom *g, const T *cols, T *x, int64_t ld) {             \
        const gan_conv_params *p = g->p;                                                 \
        memset(x, 0, sizeof(T) * (size_t)(g->Ci * g->H * g->W));                         \
        for (int64_t c = 0; c < g->Ci; c++)                                              \
            for (int ki = 0; ki < g->kh; ki++)                                           \
                for (int kj = 0; kj < g->kw; kj++) {                                     \
                    const T *row = cols + ((c * g->kh + ki) * g->kw + kj) * ld;          \
                    T *xc = x + c * g->H * g->W;                                         \
                    int64_t off = kj * p->dilation[1] - p->pad[1], lo, hi;               \
                    ow_range(g, off, &lo, &hi);                                          \
                    for (int64_t oh = 0; oh < g->Ho; oh++) {                             \
                        int64_t ih = oh * p->stride[0] - p->pad[0] + ki * p->dilation[0]; \
                        if (ih < 0 || ih >= g->H) continue;                              \
                        const T *r = row + oh * g->Wo;                                   \
                        T *xs = xc + ih * g->W + off;                                    \
                        int64_t s1 = p->stride[1];                                       \
                        for (int64_t ow = lo; ow < hi; ow++) xs[ow * s1] += r[ow];       \
                    }                                                                    \
                }                                                                        \
    }
IM2COL(float)
IM2COL(double)

static void im2col(gan_dtype dt, const geom *g, const void *x, void *cols, int64_t ld) {
    if (dt == GAN_FLOAT32) im2col_float(g, x, cols, ld); else im2col_double(g, x, cols, ld);
}
static void col2im(gan_dtype dt, const geom *g, const void *cols, void *x, int64_t ld) {
    if (dt == GAN_FLOAT32) col2im_float(g, cols, x, ld); else col2im_double(g, cols, x, ld);
}

// Runs a direction through oneDNN when the backend and dtype allow: GAN_OK (done),
// GAN_ERR, or GAN_DNNL_UNSUPPORTED (take the GEMM path).
static int try_dnnl(gan_dnnl_dir dir, gan_dtype dt, const geom *g, void *x, void *w, const void *b,
                    void *y) {
    if (dt != GAN_FLOAT32 || backend != GAN_CONV_DNNL || g->N == 0) return GAN_DNNL_UNSUPPORTED;
    const gan_conv_params *p = g->p;
    gan_dnnl_shape s = {dir, g->N, g->Ci, g->H, g->W, g->Co, g->Ho, g->Wo, g->kh, g->kw, g->groups,
                        {p->stride[0], p->stride[1]}, {p->pad[0], p->pad[1]},
                        {p->dilation[0], p->dilation[1]}, {0, 0}, b != NULL};
    return gan_dnnl_conv(&s, x, w, b, y);
}

// C (m, n) = op(A) op(B) + beta C, row-major, contiguous operands.
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

// Samples per chunk: the column matrix (Ci*kh*kw, nb*L) stays under ~32 MiB.
static int64_t chunk_size(const geom *g, size_t es) {
    int64_t per = g->Ci * g->kh * g->kw * g->L * (int64_t)es;
    int64_t nb = ((int64_t)32 << 20) / (per > 0 ? per : 1);
    return nb < 1 ? 1 : nb > g->N ? g->N : nb;
}

// (nb, C, L) samples <-> (C, nb*L) columns, the layout of a chunk's GEMM.
static void to_columns(const char *src, char *dst, int64_t nb, int64_t C, int64_t L, size_t es) {
    #pragma omp parallel for schedule(static) if (nb * C * L > GAN_PARALLEL_GRAIN)
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < nb; i++)
            memcpy(dst + (size_t)(c * nb * L + i * L) * es, src + (size_t)((i * C + c) * L) * es, (size_t)L * es);
}
static void from_columns(const char *src, char *dst, int64_t nb, int64_t C, int64_t L, size_t es) {
    #pragma omp parallel for schedule(static) if (nb * C * L > GAN_PARALLEL_GRAIN)
    for (int64_t i = 0; i < nb; i++)
        for (int64_t c = 0; c < C; c++)
            memcpy(dst + (size_t)((i * C + c) * L) * es, src + (size_t)(c * nb * L + i * L) * es, (size_t)L * es);
}

// Two scratch buffers from the caching allocator.
typedef struct { char *a, *b; size_t na, nb; } scratch;
static int scratch_get(scratch *s, size_t na, size_t nb) {
    s->na = na; s->nb = nb;
    s->a = gan_alloc(na ? na : 1);
    s->b = gan_alloc(nb ? nb : 1);
    if (!s->a || !s->b) { gan_free(s->a, na ? na : 1); gan_free(s->b, nb ? nb : 1); return GAN_ERR; }
    return GAN_OK;
}
static void scratch_put(scratch *s) { gan_free(s->a, s->na ? s->na : 1); gan_free(s->b, s->nb ? s->nb : 1); }

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
    gan_tensor *bc = NULL;
    if (b && x->dtype == GAN_FLOAT32 && gan_contiguous(&bc, b) != GAN_OK) {
        gan_tensor_release(xc); gan_tensor_release(wc); gan_tensor_release(y);
        return GAN_ERR;
    }
    int rc = try_dnnl(GAN_DNNL_FWD, x->dtype, &g, gan_data(xc), gan_data(wc), bc ? gan_data(bc) : NULL,
                      gan_data(y));
    gan_tensor_release(bc);
    if (rc != GAN_DNNL_UNSUPPORTED) {
        gan_tensor_release(xc); gan_tensor_release(wc);
        if (rc != GAN_OK) { gan_tensor_release(y); return GAN_ERR; }
        *out = y;
        return GAN_OK;
    }
    size_t es = gan_dtype_size(x->dtype);
    int64_t nbmax = chunk_size(&g, es), Kt = Ci * kh * kw;
    scratch sc;
    if (scratch_get(&sc, (size_t)(Kt * nbmax * g.L) * es, (size_t)(Co * nbmax * g.L) * es) != GAN_OK) {
        gan_tensor_release(xc); gan_tensor_release(wc); gan_tensor_release(y);
        return GAN_ERR;
    }
    const char *X = gan_data(xc), *Wt = gan_data(wc);
    char *Y = gan_data(y);
    for (int64_t n0 = 0; n0 < g.N; n0 += nbmax) {
        int64_t nb = g.N - n0 < nbmax ? g.N - n0 : nbmax, ld = nb * g.L;
        #pragma omp parallel for schedule(static) if (nb > 1)
        for (int64_t i = 0; i < nb; i++)
            im2col(x->dtype, &g, X + (size_t)((n0 + i) * Ci * g.H * g.W) * es, sc.a + (size_t)(i * g.L) * es, ld);
        for (int gr = 0; gr < g.groups; gr++)   // (Cog, K) @ (K, nb*L)
            gemm(x->dtype, false, false, g.Cog, ld, g.K, Wt + (size_t)(gr * g.Cog * g.K) * es, g.K,
                 sc.a + (size_t)(gr * g.K * ld) * es, ld, 0.0, sc.b + (size_t)(gr * g.Cog * ld) * es, ld);
        from_columns(sc.b, Y + (size_t)(n0 * Co * g.L) * es, nb, Co, g.L, es);
    }
    scratch_put(&sc);
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
    int rc = try_dnnl(GAN_DNNL_BWD_DATA, gy->dtype, &g, gan_data(gx), gan_data(wc), NULL, gan_data(gc));
    if (rc != GAN_DNNL_UNSUPPORTED) {
        gan_tensor_release(gc); gan_tensor_release(wc);
        if (rc != GAN_OK) { gan_tensor_release(gx); return GAN_ERR; }
        *out = gx;
        return GAN_OK;
    }
    size_t es = gan_dtype_size(gy->dtype);
    int64_t nbmax = chunk_size(&g, es), Kt = Ci * kh * kw;
    scratch sc;
    if (scratch_get(&sc, (size_t)(Kt * nbmax * g.L) * es, (size_t)(Co * nbmax * g.L) * es) != GAN_OK) {
        gan_tensor_release(gc); gan_tensor_release(wc); gan_tensor_release(gx);
        return GAN_ERR;
    }
    const char *G = gan_data(gc), *Wt = gan_data(wc);
    char *X = gan_data(gx);
    for (int64_t n0 = 0; n0 < g.N; n0 += nbmax) {
        int64_t nb = g.N - n0 < nbmax ? g.N - n0 : nbmax, ld = nb * g.L;
        to_columns(G + (size_t)(n0 * Co * g.L) * es, sc.b, nb, Co, g.L, es);
        for (int gr = 0; gr < g.groups; gr++)   // (K, Cog) @ (Cog, nb*L)
            gemm(gy->dtype, true, false, g.K, ld, g.Cog, Wt + (size_t)(gr * g.Cog * g.K) * es, g.K,
                 sc.b + (size_t)(gr * g.Cog * ld) * es, ld, 0.0, sc.a + (size_t)(gr * g.K * ld) * es, ld);
        #pragma omp parallel for schedule(static) if (nb > 1)
        for (int64_t i = 0; i < nb; i++)
            col2im(gy->dtype, &g, sc.a + (size_t)(i * g.L) * es, X + (size_t)((n0 + i) * Ci * H * W) * es, ld);
    }
    scratch_put(&sc);
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
    int rc = try_dnnl(GAN_DNNL_BWD_WEIGHTS, x->dtype, &g, gan_data(xc), gan_data(gw), NULL, gan_data(gc));
    if (rc != GAN_DNNL_UNSUPPORTED) {
        gan_tensor_release(xc); gan_tensor_release(gc);
        if (rc != GAN_OK) { gan_tensor_release(gw); return GAN_ERR; }
        *out = gw;
        return GAN_OK;
    }
    size_t es = gan_dtype_size(x->dtype);
    int64_t nbmax = chunk_size(&g, es), Kt = g.Ci * kh * kw;
    scratch sc;
    if (scratch_get(&sc, (size_t)(Kt * nbmax * g.L) * es, (size_t)(g.Co * nbmax * g.L) * es) != GAN_OK) {
        gan_tensor_release(xc); gan_tensor_release(gc); gan_tensor_release(gw);
        return GAN_ERR;
    }
    const char *X = gan_data(xc), *G = gan_data(gc);
    char *Wg = gan_data(gw);
    for (int64_t n0 = 0; n0 < g.N; n0 += nbmax) {
        int64_t nb = g.N - n0 < nbmax ? g.N - n0 : nbmax, ld = nb * g.L;
        #pragma omp parallel for schedule(static) if (nb > 1)
        for (int64_t i = 0; i < nb; i++)
            im2col(x->dtype, &g, X + (size_t)((n0 + i) * g.Ci * g.H * g.W) * es, sc.a + (size_t)(i * g.L) * es, ld);
        to_columns(G + (size_t)(n0 * g.Co * g.L) * es, sc.b, nb, g.Co, g.L, es);
        for (int gr = 0; gr < g.groups; gr++)   // gw_g (Cog, K) += (Cog, nb*L) @ (nb*L, K)
            gemm(x->dtype, false, true, g.Cog, g.K, ld, sc.b + (size_t)(gr * g.Cog * ld) * es, ld,
                 sc.a + (size_t)(gr * g.K * ld) * es, ld, 1.0, Wg + (size_t)(gr * g.Cog * g.K) * es, g.K);
    }
    scratch_put(&sc);
    gan_tensor_release(xc);
    gan_tensor_release(gc);
    *out = gw;
    return GAN_OK;
}

// ---- differentiable wrappers

static int conv2d_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const gan_conv_params *p = GAN_NODE_PARAMS(n, gan_conv_params);
    gan_tensor *x = NULL, *w = NULL;
    int rc = GAN_ERR;
    if (gan_node_unpack(n, 0, &x) != GAN_OK || gan_node_unpack(n, 1, &w) != GAN_OK) goto out;
    if (gan_node_needs(n, 0) &&
        gan_ag_conv2d_input_grad(&gin[0], g, w, p, x->size[2], x->size[3]) != GAN_OK) goto out;
    if (gan_node_needs(n, 1) &&
        gan_ag_conv2d_weight_grad(&gin[1], x, g, p, (int)w->size[2], (int)w->size[3]) != GAN_OK) goto out;
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
    gan_node *n;
    if (gan_record(&n, out, "conv2d", conv2d_backward, b ? 3 : 2, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    *GAN_NODE_PARAMS(n, gan_conv_params) = *p;
    int rc = gan_node_save(n, x, false);
    if (rc == GAN_OK) rc = gan_node_save(n, w, false);
    return gan_record_done(out, rc);
}

static int input_grad_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    // y = conv_transpose(gy, w): d/dgy = conv2d(g, w); d/dw = weight_grad(g, gy).
    const gan_conv_params *p = GAN_NODE_PARAMS(n, gan_conv_params);
    gan_tensor *gy = NULL, *w = NULL;
    int rc = GAN_ERR;
    if (gan_node_unpack(n, 0, &gy) != GAN_OK || gan_node_unpack(n, 1, &w) != GAN_OK) goto out;
    if (gan_node_needs(n, 0) && gan_ag_conv2d(&gin[0], g, w, NULL, p) != GAN_OK) goto out;
    if (gan_node_needs(n, 1) &&
        gan_ag_conv2d_weight_grad(&gin[1], g, gy, p, (int)w->size[2], (int)w->size[3]) != GAN_OK) goto out;
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
    gan_node *n;
    if (gan_record(&n, out, "conv_transpose2d", input_grad_backward, 2, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    *GAN_NODE_PARAMS(n, gan_conv_params) = *p;
    int rc = gan_node_save(n, gy, false);
    if (rc == GAN_OK) rc = gan_node_save(n, w, false);
    return gan_record_done(out, rc);
}

static int weight_grad_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    // gw = sum gy (x) im2col(x): d/dx = input_grad(gy, g); d/dgy = conv2d(x, g).
    const gan_conv_params *p = GAN_NODE_PARAMS(n, gan_conv_params);
    gan_tensor *x = NULL, *gy = NULL;
    int rc = GAN_ERR;
    if (gan_node_unpack(n, 0, &x) != GAN_OK || gan_node_unpack(n, 1, &gy) != GAN_OK) goto out;
    if (gan_node_needs(n, 0) &&
        gan_ag_conv2d_input_grad(&gin[0], gy, g, p, x->size[2], x->size[3]) != GAN_OK) goto out;
    if (gan_node_needs(n, 1) && gan_ag_conv2d(&gin[1], x, g, NULL, p) != GAN_OK) goto out;
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
    gan_node *n;
    if (gan_record(&n, out, "conv2d_weight_grad", weight_grad_backward, 2, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    *GAN_NODE_PARAMS(n, gan_conv_params) = *p;
    int rc = gan_node_save(n, x, false);
    if (rc == GAN_OK) rc = gan_node_save(n, gy, false);
    return gan_record_done(out, rc);
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
