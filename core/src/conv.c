// Convolutions with 1 to 3 spatial dims, in three directions, through one driver:
//
//     forward            y  = conv(x, w)       x (N, Ci, *in), w (Co, Ci/groups, *k) -> (N, Co, *out)
//     backward data      gx = conv^T(gy, w)    the input gradient (transposed convolution)
//     backward weights   gw = conv_w(x, gy)    (Co, Ci/groups, *k)
//
// Each direction's entry point checks its shapes, describes the geometry (geom) and calls
// run(), which makes the operands contiguous, allocates the result and computes it on one
// of two paths: oneDNN (conv_dnnl.c) for float32 when gan is built with it and the backend
// is "dnnl" (the default), or the portable GEMM lowering below for float64, for shapes
// oneDNN declines, and when the backend is set to "gemm" (gan_set_conv_backend). Both are
// tested against the same references. One shape always takes the GEMM lowering, in its
// transposed form: few output channels from many (narrow_output, below).
//
// The geometry always has three spatial dims: a 2-d convolution is a 3-d one of depth 1
// (a leading dim of size 1, kernel 1, stride 1, no padding), so the loops below serve 1-,
// 2- and 3-d alike and only the entry points know how many dims the tensors have. Only
// 2-d is exposed (conv.h); conv3d is conv_forward & co. with nsp = 3.
//
// The GEMM lowering: a chunk of samples is unrolled by im2col into one matrix
// (Ci*kvol, nb*L) (kvol: kernel volume, L: output positions per sample), samples side by
// side, so each direction is one large GEMM per group: forward W @ cols, input gradient
// W^T @ gy then col2im, weight gradient gy @ cols^T accumulated over chunks. BLAS runs the
// GEMMs on all threads; im2col and col2im run in parallel over the chunk's samples.
#include "gan/conv.h"
#include "gan/flops.h"
#include "internal.h"
#include "conv_dnnl.h"
#include "gan/precision.h"
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP GAN_CONV_MAX_SPATIAL

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
    return (in + 2 * (int64_t)pad - (int64_t)dil * (k - 1) - 1) / stride + 1;
}

typedef struct {
    int nsp;                           // spatial dims of the tensors (1 to SP)
    int64_t N, Ci, Co, groups;
    // Spatial dims, outermost first, padded at the front to SP dims of size 1: the
    // tensors' own are the last nsp entries (OWN).
    int64_t in[SP], out[SP], k[SP], stride[SP], pad[SP], dil[SP];
    int64_t Cg, Cog, kvol, K;          // channels per group (in, out), kernel volume, Cg*kvol
    int64_t Lin, L;                    // input and output positions per sample
} geom;

#define OWN(g, field) ((g)->field + SP - (g)->nsp)

// a * b, or INT64_MAX when it overflows (channel counts times groups, products of spatial
// sizes: checks then fail cleanly instead of wrapping around).
static int64_t mul_sat(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

// in, out, k: the nsp spatial sizes of x, y and the kernel.
static void set_geom(geom *g, int nsp, int64_t N, int64_t Ci, int64_t Co, const int64_t *in,
                     const int64_t *out, const int64_t *k, const gan_conv_params *p) {
    g->nsp = nsp; g->N = N; g->Ci = Ci; g->Co = Co; g->groups = p->groups;
    g->kvol = g->Lin = g->L = 1;
    for (int i = 0; i < SP; i++) {
        int j = i - (SP - nsp);   // the tensors' spatial dim; < 0 for a padding dim
        g->in[i] = j < 0 ? 1 : in[j];
        g->out[i] = j < 0 ? 1 : out[j];
        g->k[i] = j < 0 ? 1 : k[j];
        g->stride[i] = j < 0 ? 1 : p->stride[j];
        g->pad[i] = j < 0 ? 0 : p->pad[j];
        g->dil[i] = j < 0 ? 1 : p->dilation[j];
        g->kvol = mul_sat(g->kvol, g->k[i]);
        g->Lin = mul_sat(g->Lin, g->in[i]);
        g->L = mul_sat(g->L, g->out[i]);
    }
    g->Cg = Ci / p->groups;
    g->Cog = Co / p->groups;
    g->K = mul_sat(g->Cg, g->kvol);
}

// The input, the output and the weight, flattened to (N, C, positions), within
// gan_check_shape's bound: so are all the products the kernels form from them (a
// transposed convolution with a huge stride asks for an output no tensor can hold).
static int check_geom(const geom *g, const char *op) {
    int64_t x[3] = {g->N, g->Ci, g->Lin}, y[3] = {g->N, g->Co, g->L}, w[3] = {g->Co, g->Cg, g->kvol};
    if (gan_check_shape(3, x, op, NULL) != GAN_OK || gan_check_shape(3, y, op, NULL) != GAN_OK ||
        gan_check_shape(3, w, op, NULL) != GAN_OK)
        return GAN_ERR;
    return GAN_OK;
}

// The output positions ow (innermost dim) whose input position ow*stride + off lies
// inside [0, W): [lo, hi).
static inline void ow_range(const geom *g, int64_t off, int64_t *lo, int64_t *hi) {
    int64_t s = g->stride[SP - 1], W = g->in[SP - 1], Wo = g->out[SP - 1];
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;              // first ow with iw >= 0
    int64_t b = W - 1 - off < 0 ? 0 : (W - 1 - off) / s + 1;    // past the last with iw < W
    *lo = a < Wo ? a : Wo;
    *hi = b < Wo ? b : Wo;
    if (*hi < *lo) *hi = *lo;
}

// im2col of one sample (Ci, D, H, W): row (c, kd, kh, kw) holds the Do*Ho*Wo inputs that
// kernel tap meets, one output row (od, oh) after another; rows are `ld` apart, so a chunk
// of samples sits side by side in one matrix. col2im is its adjoint (sums into x).
#define IM2COL(T)                                                                        \
    static void im2col_##T(const geom *g, const T *x, T *cols, int64_t ld) {             \
        const int64_t D = g->in[0], H = g->in[1], W = g->in[2];                          \
        const int64_t Do = g->out[0], Ho = g->out[1], Wo = g->out[2], s2 = g->stride[2]; \
        T *row = cols;                                                                   \
        for (int64_t c = 0; c < g->Ci; c++)                                              \
            for (int64_t kd = 0; kd < g->k[0]; kd++)                                     \
                for (int64_t kh = 0; kh < g->k[1]; kh++)                                 \
                    for (int64_t kw = 0; kw < g->k[2]; kw++, row += ld) {                \
                        int64_t off = kw * g->dil[2] - g->pad[2], lo, hi;                \
                        ow_range(g, off, &lo, &hi);                                      \
                        for (int64_t od = 0; od < Do; od++) {                            \
                            int64_t id = od * g->stride[0] - g->pad[0] + kd * g->dil[0]; \
                            T *rd = row + od * Ho * Wo;                                  \
                            if (id < 0 || id >= D) {                                     \
                                memset(rd, 0, sizeof(T) * (size_t)(Ho * Wo));            \
                                continue;                                                \
                            }                                                            \
                            const T *xd = x + (c * D + id) * H * W;                      \
                            for (int64_t oh = 0; oh < Ho; oh++) {                        \
                                int64_t ih = oh * g->stride[1] - g->pad[1] + kh * g->dil[1]; \
                                T *r = rd + oh * Wo;                                     \
                                if (ih < 0 || ih >= H) {                                 \
                                    memset(r, 0, sizeof(T) * (size_t)Wo);                \
                                    continue;                                            \
                                }                                                        \
                                const T *xr = xd + ih * W;                               \
                                for (int64_t ow = 0; ow < lo; ow++) r[ow] = 0;           \
                                if (s2 == 1) {                                           \
                                    if (hi > lo) memcpy(r + lo, xr + lo + off, sizeof(T) * (size_t)(hi - lo)); \
                                } else {                                                 \
                                    const T *xs = xr + off;                              \
                                    for (int64_t ow = lo; ow < hi; ow++) r[ow] = xs[ow * s2]; \
                                }                                                        \
                                for (int64_t ow = hi > lo ? hi : lo; ow < Wo; ow++) r[ow] = 0; \
                            }                                                            \
                        }                                                                \
                    }                                                                    \
    }                                                                                    \
    static void col2im_##T(const geom *g, const T *cols, T *x, int64_t ld) {             \
        const int64_t D = g->in[0], H = g->in[1], W = g->in[2];                          \
        const int64_t Do = g->out[0], Ho = g->out[1], Wo = g->out[2], s2 = g->stride[2]; \
        const T *row = cols;                                                             \
        memset(x, 0, sizeof(T) * (size_t)(g->Ci * g->Lin));                              \
        for (int64_t c = 0; c < g->Ci; c++)                                              \
            for (int64_t kd = 0; kd < g->k[0]; kd++)                                     \
                for (int64_t kh = 0; kh < g->k[1]; kh++)                                 \
                    for (int64_t kw = 0; kw < g->k[2]; kw++, row += ld) {                \
                        int64_t off = kw * g->dil[2] - g->pad[2], lo, hi;                \
                        ow_range(g, off, &lo, &hi);                                      \
                        for (int64_t od = 0; od < Do; od++) {                            \
                            int64_t id = od * g->stride[0] - g->pad[0] + kd * g->dil[0]; \
                            if (id < 0 || id >= D) continue;                             \
                            const T *rd = row + od * Ho * Wo;                            \
                            T *xd = x + (c * D + id) * H * W + off;                      \
                            for (int64_t oh = 0; oh < Ho; oh++) {                        \
                                int64_t ih = oh * g->stride[1] - g->pad[1] + kh * g->dil[1]; \
                                if (ih < 0 || ih >= H) continue;                         \
                                const T *r = rd + oh * Wo;                               \
                                T *xs = xd + ih * W;                                     \
                                for (int64_t ow = lo; ow < hi; ow++) xs[ow * s2] += r[ow]; \
                            }                                                            \
                        }                                                                \
                    }                                                                    \
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
    gan_dnnl_shape s = {.dir = dir, .nsp = g->nsp, .N = g->N, .Ci = g->Ci, .Co = g->Co,
                        .groups = g->groups, .bias = b != NULL, .bf16 = gan_get_precision() == GAN_PREC_BF16};
    for (int i = 0; i < g->nsp; i++) {
        s.in[i] = OWN(g, in)[i];
        s.out[i] = OWN(g, out)[i];
        s.k[i] = OWN(g, k)[i];
        s.stride[i] = OWN(g, stride)[i];
        s.pad[i] = OWN(g, pad)[i];
        s.dil[i] = OWN(g, dil)[i];
    }
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

// Samples per chunk: the column matrix (Ci*kvol, nb*L) stays under ~32 MiB.
static int64_t chunk_size(const geom *g, size_t es) {
    int64_t per = g->Ci * g->kvol * g->L * (int64_t)es;
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

// The GEMM lowering of one direction on contiguous data: x (N, Ci, *in), w (Co, Cg, *k),
// y (N, Co, *out). Forward writes y, backward data writes x, backward weights adds into w.
static int gemm_lowering(gan_dnnl_dir dir, gan_dtype dt, const geom *g, char *x, char *w, char *y) {
    size_t es = gan_dtype_size(dt);
    int64_t nbmax = chunk_size(g, es);
    scratch sc;   // a: columns of x (Ci*kvol, nb*L); b: columns of y (Co, nb*L)
    if (scratch_get(&sc, (size_t)(g->Ci * g->kvol * nbmax * g->L) * es,
                    (size_t)(g->Co * nbmax * g->L) * es) != GAN_OK)
        return GAN_ERR;
    for (int64_t n0 = 0; n0 < g->N; n0 += nbmax) {
        int64_t nb = g->N - n0 < nbmax ? g->N - n0 : nbmax, ld = nb * g->L;
        char *xn = x + (size_t)(n0 * g->Ci * g->Lin) * es, *yn = y + (size_t)(n0 * g->Co * g->L) * es;
        if (dir != GAN_DNNL_BWD_DATA) {
            #pragma omp parallel for schedule(static) if (nb > 1)
            for (int64_t i = 0; i < nb; i++)
                im2col(dt, g, xn + (size_t)(i * g->Ci * g->Lin) * es, sc.a + (size_t)(i * g->L) * es, ld);
        }
        if (dir != GAN_DNNL_FWD) to_columns(yn, sc.b, nb, g->Co, g->L, es);
        for (int gr = 0; gr < g->groups; gr++) {
            char *wg = w + (size_t)(gr * g->Cog * g->K) * es;
            char *ag = sc.a + (size_t)(gr * g->K * ld) * es, *bg = sc.b + (size_t)(gr * g->Cog * ld) * es;
            if (dir == GAN_DNNL_FWD)              // (Cog, K) @ (K, nb*L)
                gemm(dt, false, false, g->Cog, ld, g->K, wg, g->K, ag, ld, 0.0, bg, ld);
            else if (dir == GAN_DNNL_BWD_DATA)    // (K, Cog) @ (Cog, nb*L)
                gemm(dt, true, false, g->K, ld, g->Cog, wg, g->K, bg, ld, 0.0, ag, ld);
            else                                  // gw_g (Cog, K) += (Cog, nb*L) @ (nb*L, K)
                gemm(dt, false, true, g->Cog, g->K, ld, bg, ld, ag, ld, 1.0, wg, g->K);
        }
        if (dir == GAN_DNNL_FWD) from_columns(sc.b, yn, nb, g->Co, g->L, es);
        if (dir == GAN_DNNL_BWD_DATA) {
            #pragma omp parallel for schedule(static) if (nb > 1)
            for (int64_t i = 0; i < nb; i++)
                col2im(dt, g, sc.a + (size_t)(i * g->L) * es, xn + (size_t)(i * g->Ci * g->Lin) * es, ld);
        }
    }
    scratch_put(&sc);
    return GAN_OK;
}

// ---- few output channels from many (the last layer of an image generator: 3 from 64)
//
// oneDNN pads the output channels to its 16-wide blocks, so 3 channels cost the work of 16,
// and the GEMM lowering would unroll all Ci*kvol input rows. With stride 1 the same
// convolution is the transposed convolution from y back to x (kernel flipped, channels
// swapped, padding dil*(k-1) - pad), whose lowering unrolls the few channels of y instead:
// each direction becomes one GEMM with Ci rows and Co*kvol inner terms, on every dtype and
// backend. Measured (2 threads, forward and both gradients): 3 channels from 64 at 64x64,
// 9x9 kernel, batch 16: 89 -> 56 ms; 7x7, batch 8: 33 -> 20 ms; 3x3 at 32x32: 4.8 -> 4.4 ms;
// but slower than oneDNN for 1x1 kernels and small outputs (a discriminator's last 4x4
// layer to 1x1: 1.0 -> 1.3 ms), which stay on oneDNN.
static bool narrow_output(const geom *g) {
    if (g->groups != 1 || g->Co > 4 || g->Ci < 16 || g->kvol < 9 || g->L < 1024) return false;
    for (int i = 0; i < SP; i++)
        if (g->stride[i] != 1 || g->pad[i] > g->dil[i] * (g->k[i] - 1)) return false;
    return true;
}

// The input gradient of a convolution from few channels (conv_transpose2d to an image:
// a generator's last layer) has the same problem in oneDNN, whose backward-data kernel pads
// the 3 channels it writes to 16, while the GEMM lowering unrolls just those 3 channels
// (W^T gy, then col2im). Measured: DCGAN-64's last layer, 64 -> 3 channels to 64x64, batch
// 64: 12.9 -> 4.9 ms. Its forward and weight gradient stay on oneDNN (faster there).
static bool narrow_input_grad(gan_dnnl_dir dir, const geom *g) {
    return dir == GAN_DNNL_BWD_DATA && g->groups == 1 && g->Ci <= 4 && g->Co >= 16;
}

// w (A, B, kvol) -> t (B, A, kvol) with the taps reversed (every spatial dim flipped).
static void flip_weights(const char *w, char *t, int64_t A, int64_t B, int64_t kvol, size_t es) {
    for (int64_t a = 0; a < A; a++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < kvol; k++)
                memcpy(t + (size_t)((b * A + a) * kvol + kvol - 1 - k) * es, w + (size_t)((a * B + b) * kvol + k) * es, es);
}

// One direction of a narrow_output convolution as the other direction of its transposed
// geometry: forward is its backward data, backward data its forward, backward weights its
// backward weights (written into w, which the caller zeroed).
static int narrow_lowering(gan_dnnl_dir dir, gan_dtype dt, const geom *g, char *x, char *w, char *y) {
    geom t = *g;
    t.Ci = t.Cg = g->Co;
    t.Co = t.Cog = g->Ci;
    for (int i = 0; i < SP; i++) {
        t.in[i] = g->out[i];
        t.out[i] = g->in[i];
        t.pad[i] = g->dil[i] * (g->k[i] - 1) - g->pad[i];
    }
    t.Lin = g->L;
    t.L = g->Lin;
    t.K = t.Cg * t.kvol;
    size_t es = gan_dtype_size(dt), bytes = (size_t)(g->Co * g->Ci * g->kvol) * es;
    char *wt = gan_alloc(bytes ? bytes : 1);
    if (!wt) return GAN_ERR;
    if (dir == GAN_DNNL_BWD_WEIGHTS) memset(wt, 0, bytes);
    else flip_weights(w, wt, g->Co, g->Ci, g->kvol, es);
    gan_dnnl_dir td = dir == GAN_DNNL_FWD ? GAN_DNNL_BWD_DATA : dir == GAN_DNNL_BWD_DATA ? GAN_DNNL_FWD : dir;
    int rc = gemm_lowering(td, dt, &t, y, wt, x);
    if (rc == GAN_OK && dir == GAN_DNNL_BWD_WEIGHTS) flip_weights(wt, w, g->Ci, g->Co, g->kvol, es);
    gan_free(wt, bytes ? bytes : 1);
    return rc;
}

// The driver of all three directions. Operands a and b, result *out:
//     forward           a = x, b = w   ->  y (N, Co, *out), plus the bias if given
//     backward data     a = gy, b = w  ->  gx (N, Ci, *in)
//     backward weights  a = x, b = gy  ->  gw (Co, Cg, *k)
static int run(gan_tensor **out, gan_dnnl_dir dir, const geom *g, const gan_tensor *a,
               const gan_tensor *b, const gan_tensor *bias) {
    int64_t size[2 + SP];
    const int64_t *spatial = dir == GAN_DNNL_FWD ? OWN(g, out) : dir == GAN_DNNL_BWD_DATA ? OWN(g, in) : OWN(g, k);
    size[0] = dir == GAN_DNNL_BWD_WEIGHTS ? g->Co : g->N;
    size[1] = dir == GAN_DNNL_FWD ? g->Co : dir == GAN_DNNL_BWD_DATA ? g->Ci : g->Cg;
    memcpy(size + 2, spatial, sizeof(int64_t) * (size_t)g->nsp);
    gan_tensor *ac = NULL, *bc = NULL, *biasc = NULL, *r = NULL;
    int rc = gan_contiguous(&ac, a);
    if (rc == GAN_OK) rc = gan_contiguous(&bc, b);
    if (rc == GAN_OK && bias) rc = gan_contiguous(&biasc, bias);
    // The GEMM path accumulates the weight gradient over chunks of samples.
    if (rc == GAN_OK) rc = (dir == GAN_DNNL_BWD_WEIGHTS ? gan_zeros : gan_empty)(&r, a->dtype, 2 + g->nsp, size);
    if (rc == GAN_OK) {
        char *pa = gan_data(ac), *pb = gan_data(bc), *pr = gan_data(r);
        char *x = dir == GAN_DNNL_BWD_DATA ? pr : pa;
        char *w = dir == GAN_DNNL_BWD_WEIGHTS ? pr : pb;
        char *y = dir == GAN_DNNL_FWD ? pr : dir == GAN_DNNL_BWD_DATA ? pa : pb;
        bool lowered = true;   // (oneDNN adds the bias itself)
        if (narrow_output(g)) rc = narrow_lowering(dir, a->dtype, g, x, w, y);
        else if (narrow_input_grad(dir, g)) rc = gemm_lowering(dir, a->dtype, g, x, w, y);
        else if ((rc = try_dnnl(dir, a->dtype, g, x, w, biasc ? gan_data(biasc) : NULL, y)) == GAN_DNNL_UNSUPPORTED)
            rc = gemm_lowering(dir, a->dtype, g, x, w, y);
        else lowered = false;
        if (lowered && rc == GAN_OK && biasc) {   // y += b (1, Co, 1, ...)
            int64_t bs[2 + SP] = {1, g->Co, 1, 1, 1};
            gan_tensor *bv = NULL;
            rc = gan_view(&bv, biasc, 2 + g->nsp, bs);
            if (rc == GAN_OK) rc = gan_binary_(r, GAN_ADD, bv);
            gan_tensor_release(bv);
        }
    }
    gan_tensor_release(ac);
    gan_tensor_release(bc);
    gan_tensor_release(biasc);
    if (rc != GAN_OK) { gan_tensor_release(r); return GAN_ERR; }
    gan_flops_add(2.0 * (double)g->N * (double)g->Co * (double)g->L * (double)g->Cg * (double)g->kvol);
    *out = r;
    return GAN_OK;
}

// ---- checks and messages

static const char *const forward_name[SP + 1] = {NULL, "conv1d", "conv2d", "conv3d"};
static const char *const transpose_name[SP + 1] = {NULL, "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"};
static const char *const weight_grad_name[SP + 1] = {NULL, "conv1d_weight_grad", "conv2d_weight_grad", "conv3d_weight_grad"};
static const char *const spatial_names[SP + 1] = {NULL, "L", "H, W", "D, H, W"};

// n values joined by sep ("3x3", "1,1"), for messages.
static const char *join(char *buf, size_t cap, const int64_t *v, int n, const char *sep) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? sep : "", (long long)v[i]);
    return buf;
}
#define JOIN_BUF 64

static int check_params(const gan_conv_params *p, int nsp, const char *op) {
    for (int i = 0; i < nsp; i++) {
        if (p->stride[i] < 1) return gan_error("%s: stride must be >= 1, got %d", op, p->stride[i]);
        if (p->pad[i] < 0) return gan_error("%s: padding must be >= 0, got %d", op, p->pad[i]);
        if (p->dilation[i] < 1) return gan_error("%s: dilation must be >= 1, got %d", op, p->dilation[i]);
        if (p->output_padding[i] < 0) return gan_error("%s: output_padding must be >= 0", op);
    }
    if (p->groups < 1) return gan_error("%s: groups must be >= 1, got %d", op, p->groups);
    return GAN_OK;
}

// An input (N, C, *spatial) and a weight of the same rank.
static int check_ranks(const gan_tensor *x, const gan_tensor *w, int nsp, const char *op) {
    char sx[GAN_SHAPE_BUF], sw[GAN_SHAPE_BUF];
    if (x->ndim == 2 + nsp && w->ndim == 2 + nsp) {
        // Spatial extents fit an int (the kernel sizes are passed as ints), which also
        // keeps the output-size arithmetic of every direction inside int64.
        for (int i = 2; i < 2 + nsp; i++)
            if (x->size[i] > INT32_MAX || w->size[i] > INT32_MAX)
                return gan_error("%s: spatial sizes above 2^31 - 1 are not supported (input %s, "
                                 "weight %s)", op, gan_shape_str(sx, sizeof sx, x->ndim, x->size),
                                 gan_shape_str(sw, sizeof sw, w->ndim, w->size));
        return GAN_OK;
    }
    return gan_error("%s: expected a %d-d input (N, C, %s) and a %d-d weight, got %s and %s", op,
                     2 + nsp, spatial_names[nsp], 2 + nsp, gan_shape_str(sx, sizeof sx, x->ndim, x->size),
                     gan_shape_str(sw, sizeof sw, w->ndim, w->size));
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

// ---- the three directions (nsp spatial dims)

static int conv_forward(gan_tensor **out, int nsp, const gan_tensor *x, const gan_tensor *w,
                        const gan_tensor *b, const gan_conv_params *p) {
    const char *op = forward_name[nsp];
    char sx[GAN_SHAPE_BUF], sw[GAN_SHAPE_BUF];
    if (check_params(p, nsp, op) != GAN_OK || check_ranks(x, w, nsp, op) != GAN_OK ||
        check_float_same(x, w, op, "input", "weight") != GAN_OK)
        return GAN_ERR;
    int64_t Co = w->size[0], Ci = x->size[1];
    if (Ci != mul_sat(w->size[1], p->groups) || Co % p->groups)
        return gan_error("%s: input %s has %lld channels, weight %s expects %lld (groups %d)", op,
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size), (long long)Ci,
                         gan_shape_str(sw, sizeof sw, w->ndim, w->size),
                         (long long)mul_sat(w->size[1], p->groups), p->groups);
    if (b && (b->ndim != 1 || b->size[0] != Co || b->dtype != x->dtype))
        return gan_error("%s: bias must be a %s vector of %lld entries, got %s", op,
                         gan_dtype_name(x->dtype), (long long)Co, gan_shape_str(sx, sizeof sx, b->ndim, b->size));
    int64_t o[SP] = {0};
    bool empty = false;
    for (int i = 0; i < nsp; i++) {
        o[i] = gan_conv_out_size(x->size[2 + i], (int)w->size[2 + i], p->stride[i], p->pad[i], p->dilation[i]);
        empty = empty || o[i] < 1;
    }
    geom g;
    set_geom(&g, nsp, x->size[0], Ci, Co, x->size + 2, o, w->size + 2, p);
    if (empty) {
        char k[JOIN_BUF], pad[JOIN_BUF], dil[JOIN_BUF];
        return gan_error("%s: input %s is too small for kernel %s with padding %s and dilation %s", op,
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size), join(k, sizeof k, OWN(&g, k), nsp, "x"),
                         join(pad, sizeof pad, OWN(&g, pad), nsp, ","), join(dil, sizeof dil, OWN(&g, dil), nsp, ","));
    }
    if (check_geom(&g, op) != GAN_OK) return GAN_ERR;
    return run(out, GAN_DNNL_FWD, &g, x, w, b);
}

// The input gradient of a convolution whose input had spatial sizes in[nsp].
static int conv_input_grad(gan_tensor **out, int nsp, const gan_tensor *gy, const gan_tensor *w,
                           const gan_conv_params *p, const int64_t *in) {
    const char *op = transpose_name[nsp];
    char sg[GAN_SHAPE_BUF], sw[GAN_SHAPE_BUF];
    if (check_params(p, nsp, op) != GAN_OK || check_ranks(gy, w, nsp, op) != GAN_OK ||
        check_float_same(gy, w, op, "input", "weight") != GAN_OK)
        return GAN_ERR;
    int64_t Co = w->size[0], Ci = mul_sat(w->size[1], p->groups);
    if (gy->size[1] != Co || Co % p->groups)
        return gan_error("%s: input %s has %lld channels, weight %s expects %lld (groups %d)", op,
                         gan_shape_str(sg, sizeof sg, gy->ndim, gy->size), (long long)gy->size[1],
                         gan_shape_str(sw, sizeof sw, w->ndim, w->size), (long long)Co, p->groups);
    geom g;
    set_geom(&g, nsp, gy->size[0], Ci, Co, in, gy->size + 2, w->size + 2, p);
    bool match = true;
    for (int i = 0; i < nsp; i++)
        match = match && in[i] >= 1 &&
                gan_conv_out_size(in[i], (int)w->size[2 + i], p->stride[i], p->pad[i], p->dilation[i]) == gy->size[2 + i];
    if (!match) {
        char a[JOIN_BUF], b[JOIN_BUF], k[JOIN_BUF], s[JOIN_BUF], pad[JOIN_BUF];
        return gan_error("%s: an output of %s does not match an input of %s with kernel %s, stride %s, "
                         "padding %s", op, join(a, sizeof a, in, nsp, "x"), join(b, sizeof b, gy->size + 2, nsp, "x"),
                         join(k, sizeof k, OWN(&g, k), nsp, "x"), join(s, sizeof s, OWN(&g, stride), nsp, ","),
                         join(pad, sizeof pad, OWN(&g, pad), nsp, ","));
    }
    if (check_geom(&g, op) != GAN_OK) return GAN_ERR;
    return run(out, GAN_DNNL_BWD_DATA, &g, gy, w, NULL);
}

// The weight gradient for a kernel of spatial sizes k[nsp].
static int conv_weight_grad(gan_tensor **out, int nsp, const gan_tensor *x, const gan_tensor *gy,
                            const gan_conv_params *p, const int64_t *k) {
    const char *op = weight_grad_name[nsp];
    char sx[GAN_SHAPE_BUF], sg[GAN_SHAPE_BUF];
    if (check_params(p, nsp, op) != GAN_OK) return GAN_ERR;
    bool bad = x->ndim != 2 + nsp || gy->ndim != 2 + nsp || x->size[0] != gy->size[0] ||
               x->size[1] % p->groups || gy->size[1] % p->groups;
    for (int i = 0; i < nsp; i++) bad = bad || k[i] < 1;
    if (bad)
        return gan_error("%s: input %s and output gradient %s do not match (groups %d)", op,
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size),
                         gan_shape_str(sg, sizeof sg, gy->ndim, gy->size), p->groups);
    if (check_float_same(x, gy, op, "input", "gradient") != GAN_OK) return GAN_ERR;
    int64_t o[SP] = {0};
    bool match = true;
    for (int i = 0; i < nsp; i++) {
        o[i] = gan_conv_out_size(x->size[2 + i], (int)k[i], p->stride[i], p->pad[i], p->dilation[i]);
        match = match && o[i] == gy->size[2 + i];
    }
    if (!match) {
        char ks[JOIN_BUF];
        return gan_error("%s: gradient %s does not match input %s with kernel %s", op,
                         gan_shape_str(sg, sizeof sg, gy->ndim, gy->size),
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size), join(ks, sizeof ks, k, nsp, "x"));
    }
    geom g;
    set_geom(&g, nsp, x->size[0], x->size[1], gy->size[1], x->size + 2, o, k, p);
    if (check_geom(&g, op) != GAN_OK) return GAN_ERR;
    return run(out, GAN_DNNL_BWD_WEIGHTS, &g, x, gy, NULL);
}

// ---- the 2-d kernels

int gan_conv2d(gan_tensor **out, const gan_tensor *x, const gan_tensor *w, const gan_tensor *b,
               const gan_conv_params *p) {
    return conv_forward(out, 2, x, w, b, p);
}

int gan_conv2d_input_grad(gan_tensor **out, const gan_tensor *gy, const gan_tensor *w,
                          const gan_conv_params *p, int64_t H, int64_t W) {
    int64_t in[2] = {H, W};
    return conv_input_grad(out, 2, gy, w, p, in);
}

int gan_conv2d_weight_grad(gan_tensor **out, const gan_tensor *x, const gan_tensor *gy,
                           const gan_conv_params *p, int kh, int kw) {
    int64_t k[2] = {kh, kw};
    return conv_weight_grad(out, 2, x, gy, p, k);
}

// ---- differentiable: each direction's backward is made of the other two

struct conv_node_params { int nsp; gan_conv_params p; };

static int ag_conv_forward(gan_tensor **out, int nsp, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                           const gan_conv_params *p);
static int ag_conv_input_grad(gan_tensor **out, int nsp, gan_tensor *gy, gan_tensor *w,
                              const gan_conv_params *p, const int64_t *in);
static int ag_conv_weight_grad(gan_tensor **out, int nsp, gan_tensor *x, gan_tensor *gy,
                               const gan_conv_params *p, const int64_t *k);

// Records a direction's node: its parameters and its two operands (a bias needs neither).
static int record_conv(gan_tensor **out, const char *name, gan_backward_fn fn, int nsp,
                       const gan_conv_params *p, int n_in, const gan_tensor *const *ins) {
    gan_node *n;
    if (gan_record(&n, out, name, fn, n_in, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    *GAN_NODE_PARAMS(n, struct conv_node_params) = (struct conv_node_params){nsp, *p};
    int rc = gan_node_save(n, ins[0], false);
    if (rc == GAN_OK) rc = gan_node_save(n, ins[1], false);
    return gan_record_done(out, rc);
}

static int conv_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct conv_node_params *c = GAN_NODE_PARAMS(n, struct conv_node_params);
    gan_tensor *x = NULL, *w = NULL;
    int rc = GAN_ERR;
    if (gan_node_unpack(n, 0, &x) != GAN_OK || gan_node_unpack(n, 1, &w) != GAN_OK) goto out;
    if (gan_node_needs(n, 0) && ag_conv_input_grad(&gin[0], c->nsp, g, w, &c->p, x->size + 2) != GAN_OK) goto out;
    if (gan_node_needs(n, 1) && ag_conv_weight_grad(&gin[1], c->nsp, x, g, &c->p, w->size + 2) != GAN_OK) goto out;
    if (n->n_next > 2 && gan_node_needs(n, 2)) {   // the bias: sum over N and the spatial dims
        int dims[1 + SP] = {0, 2, 3, 4};
        if (gan_ag_reduce(&gin[2], GAN_SUM, g, 1 + c->nsp, dims, false) != GAN_OK) goto out;
    }
    rc = GAN_OK;
out:
    gan_tensor_release(x);
    gan_tensor_release(w);
    return rc;
}

static int ag_conv_forward(gan_tensor **out, int nsp, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                           const gan_conv_params *p) {
    if (conv_forward(out, nsp, x, w, b, p) != GAN_OK) return GAN_ERR;
    const gan_tensor *ins[3] = {x, w, b};
    return record_conv(out, forward_name[nsp], conv_backward, nsp, p, b ? 3 : 2, ins);
}

static int input_grad_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    // y = conv_transpose(gy, w): d/dgy = conv(g, w); d/dw = weight_grad(g, gy).
    const struct conv_node_params *c = GAN_NODE_PARAMS(n, struct conv_node_params);
    gan_tensor *gy = NULL, *w = NULL;
    int rc = GAN_ERR;
    if (gan_node_unpack(n, 0, &gy) != GAN_OK || gan_node_unpack(n, 1, &w) != GAN_OK) goto out;
    if (gan_node_needs(n, 0) && ag_conv_forward(&gin[0], c->nsp, g, w, NULL, &c->p) != GAN_OK) goto out;
    if (gan_node_needs(n, 1) && ag_conv_weight_grad(&gin[1], c->nsp, g, gy, &c->p, w->size + 2) != GAN_OK) goto out;
    rc = GAN_OK;
out:
    gan_tensor_release(gy);
    gan_tensor_release(w);
    return rc;
}

static int ag_conv_input_grad(gan_tensor **out, int nsp, gan_tensor *gy, gan_tensor *w,
                              const gan_conv_params *p, const int64_t *in) {
    if (conv_input_grad(out, nsp, gy, w, p, in) != GAN_OK) return GAN_ERR;
    const gan_tensor *ins[2] = {gy, w};
    return record_conv(out, transpose_name[nsp], input_grad_backward, nsp, p, 2, ins);
}

static int weight_grad_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    // gw = sum gy (x) im2col(x): d/dx = input_grad(gy, g); d/dgy = conv(x, g).
    const struct conv_node_params *c = GAN_NODE_PARAMS(n, struct conv_node_params);
    gan_tensor *x = NULL, *gy = NULL;
    int rc = GAN_ERR;
    if (gan_node_unpack(n, 0, &x) != GAN_OK || gan_node_unpack(n, 1, &gy) != GAN_OK) goto out;
    if (gan_node_needs(n, 0) && ag_conv_input_grad(&gin[0], c->nsp, gy, g, &c->p, x->size + 2) != GAN_OK) goto out;
    if (gan_node_needs(n, 1) && ag_conv_forward(&gin[1], c->nsp, x, g, NULL, &c->p) != GAN_OK) goto out;
    rc = GAN_OK;
out:
    gan_tensor_release(x);
    gan_tensor_release(gy);
    return rc;
}

static int ag_conv_weight_grad(gan_tensor **out, int nsp, gan_tensor *x, gan_tensor *gy,
                               const gan_conv_params *p, const int64_t *k) {
    if (conv_weight_grad(out, nsp, x, gy, p, k) != GAN_OK) return GAN_ERR;
    const gan_tensor *ins[2] = {x, gy};
    return record_conv(out, weight_grad_name[nsp], weight_grad_backward, nsp, p, 2, ins);
}

// x (N, Ci, *in), w (Ci, Co/groups, *k) -> (N, Co, *out), out = (in - 1) stride - 2 pad +
// dil (k - 1) + output_padding + 1: the input gradient of the convolution with that output.
static int ag_conv_transpose(gan_tensor **out, int nsp, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                             const gan_conv_params *p) {
    const char *op = transpose_name[nsp];
    char sx[GAN_SHAPE_BUF];
    if (check_params(p, nsp, op) != GAN_OK || check_ranks(x, w, nsp, op) != GAN_OK) return GAN_ERR;
    for (int i = 0; i < nsp; i++)
        if (p->output_padding[i] >= p->stride[i] && p->output_padding[i] >= p->dilation[i])
            return gan_error("%s: output_padding %d must be smaller than stride %d or dilation %d", op,
                             p->output_padding[i], p->stride[i], p->dilation[i]);
    int64_t o[SP] = {0};
    bool empty = false;
    for (int i = 0; i < nsp; i++) {
        o[i] = (x->size[2 + i] - 1) * p->stride[i] - 2 * (int64_t)p->pad[i] +
               (int64_t)p->dilation[i] * (w->size[2 + i] - 1) + p->output_padding[i] + 1;
        empty = empty || o[i] < 1;
    }
    if (empty) {
        int64_t pad[SP];
        for (int i = 0; i < nsp; i++) pad[i] = p->pad[i];
        char ks[JOIN_BUF], ps[JOIN_BUF];
        return gan_error("%s: input %s with kernel %s and padding %s gives an empty output", op,
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size), join(ks, sizeof ks, w->size + 2, nsp, "x"),
                         join(ps, sizeof ps, pad, nsp, ","));
    }
    gan_tensor *y;
    if (ag_conv_input_grad(&y, nsp, x, w, p, o) != GAN_OK) return GAN_ERR;
    if (!b) { *out = y; return GAN_OK; }
    int64_t C = y->size[1];
    if (b->ndim != 1 || b->size[0] != C || b->dtype != y->dtype) {
        gan_tensor_release(y);
        return gan_error("%s: bias must be a %s vector of %lld entries, got %s", op,
                         gan_dtype_name(x->dtype), (long long)C, gan_shape_str(sx, sizeof sx, b->ndim, b->size));
    }
    gan_tensor *bv;
    int64_t bs[2 + SP] = {1, C, 1, 1, 1};
    int rc = gan_ag_view(&bv, b, 2 + nsp, bs);
    if (rc == GAN_OK) { rc = gan_ag_binary(out, GAN_ADD, y, bv); gan_tensor_release(bv); }
    gan_tensor_release(y);
    return rc;
}

// ---- the 2-d differentiable ops

int gan_ag_conv2d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                  const gan_conv_params *p) {
    return ag_conv_forward(out, 2, x, w, b, p);
}

int gan_ag_conv2d_input_grad(gan_tensor **out, gan_tensor *gy, gan_tensor *w,
                             const gan_conv_params *p, int64_t H, int64_t W) {
    int64_t in[2] = {H, W};
    return ag_conv_input_grad(out, 2, gy, w, p, in);
}

int gan_ag_conv2d_weight_grad(gan_tensor **out, gan_tensor *x, gan_tensor *gy,
                              const gan_conv_params *p, int kh, int kw) {
    int64_t k[2] = {kh, kw};
    return ag_conv_weight_grad(out, 2, x, gy, p, k);
}

int gan_ag_conv_transpose2d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                            const gan_conv_params *p) {
    return ag_conv_transpose(out, 2, x, w, b, p);
}

// ---- the 3-d differentiable ops (their backward goes through the same nodes)

int gan_ag_conv3d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                  const gan_conv_params *p) {
    return ag_conv_forward(out, 3, x, w, b, p);
}

int gan_ag_conv_transpose3d(gan_tensor **out, gan_tensor *x, gan_tensor *w, gan_tensor *b,
                            const gan_conv_params *p) {
    return ag_conv_transpose(out, 3, x, w, b, p);
}
