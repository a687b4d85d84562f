// The gated activation of gated PixelCNN (van den Oord et al. 2016): y = tanh(a) sigmoid(b)
// with a and b the first and second halves of x's channels (dimension 2), as one fused op
// each way: x (N, 2C, ...) -> y (N, C, ...).
//
// x is seen as N images of 2C rows of S values (S the product of the dims after the
// channels): row c of image n pairs with row C + c. Forward: one pass. Backward (the plain
// case): one pass that recomputes t = tanh(a) and s = sigmoid(b) from x (nothing but x is
// saved) and writes da = g (1 - t^2) s and db = g t s (1 - s). The composed form
// (narrow, tanh, sigmoid, mul) takes six passes, copies both halves and fills zeros for the
// narrows' gradients. When the backward is itself recorded (create_graph), the same
// gradients are built from differentiable ops.
//
// float32 computes exp by its own polynomial, which the compiler vectorises (AVX-512: 16
// lanes) where libm's tanhf and expf run one value at a time: exp(x) for x <= 0 as
// 2^n p(r), n = round(x / ln 2), r = x - n ln 2 in two parts (Cody and Waite), p the
// degree-7 Taylor polynomial (relative error below 1e-8 on |r| <= ln 2 / 2); tanh(a) =
// (1 - e) / (1 + e) with e = exp(-2|a|) and a's sign (below |a| = 0.25, where 1 - e
// cancels, the odd series to a^11), sigmoid(b) = 1 / (1 + e) or e / (1 + e) with
// e = exp(-|b|). Both within a few float32 roundings of the exact values (spec); float64
// uses libm's tanh and exp.
#include "gan/autograd.h"
#include "internal.h"
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#define TRY(call) do { if ((call) != GAN_OK) goto fail; } while (0)

typedef struct { int64_t N, C, S; } layout;   // y's rows: N * C, each of S values

// exp(x) for x <= 0 (the smallest results, below exp(-87), are exp(-87): never 0).
static inline float exp_nonpos(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = nearbyintf(x * 1.44269504f);
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1 + r * (1 + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120
              + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    int32_t bits = ((int32_t)(n > -126.0f ? n : -126.0f) + 127) << 23;   // 2^n (a NaN x: p is NaN)
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float tanh_f(float a) {
    float m = fabsf(a), e = exp_nonpos(-2 * m), a2 = a * a;
    float big = (1 - e) / (1 + e);
    float small = m * (1 - a2 * (1.0f / 3 - a2 * (2.0f / 15 - a2 * (17.0f / 315 - a2 * (62.0f / 2835
                  - a2 * (1382.0f / 155925))))));
    return copysignf(m < 0.25f ? small : big, a);
}

static inline float sigmoid_f(float b) {
    float e = exp_nonpos(-fabsf(b));
    return b >= 0 ? 1 / (1 + e) : e / (1 + e);
}

static inline double sigmoid_d(double b) { return b >= 0 ? 1 / (1 + exp(-b)) : exp(b) / (1 + exp(b)); }

#define TANH_float tanh_f
#define SIGMOID_float sigmoid_f
#define TANH_double tanh
#define SIGMOID_double sigmoid_d

#define GATE_KERNELS(T)                                                                      \
    static void fwd_##T(const layout *l, const T *x, T *y) {                                 \
        _Pragma("omp parallel for schedule(static) if (l->N * l->C * l->S > GAN_PARALLEL_GRAIN)") \
        for (int64_t r = 0; r < l->N * l->C; r++) {                                          \
            int64_t n = r / l->C, c = r % l->C;                                              \
            const T *a = x + (n * 2 * l->C + c) * l->S, *b = a + l->C * l->S;                \
            T *yr = y + r * l->S;                                                            \
            _Pragma("omp simd")                                                              \
            for (int64_t i = 0; i < l->S; i++) yr[i] = TANH_##T(a[i]) * SIGMOID_##T(b[i]);   \
        }                                                                                    \
    }                                                                                        \
    static void bwd_##T(const layout *l, const T *x, const T *g, T *gx) {                    \
        _Pragma("omp parallel for schedule(static) if (l->N * l->C * l->S > GAN_PARALLEL_GRAIN)") \
        for (int64_t r = 0; r < l->N * l->C; r++) {                                          \
            int64_t n = r / l->C, c = r % l->C, off = (n * 2 * l->C + c) * l->S;             \
            const T *a = x + off, *b = a + l->C * l->S, *gr = g + r * l->S;                  \
            T *ga = gx + off, *gb = ga + l->C * l->S;                                        \
            _Pragma("omp simd")                                                              \
            for (int64_t i = 0; i < l->S; i++) {                                             \
                T t = TANH_##T(a[i]), s = SIGMOID_##T(b[i]), gs = gr[i] * s;                 \
                ga[i] = gs * (1 - t * t);                                                    \
                gb[i] = gs * t * (1 - s);                                                    \
            }                                                                                \
        }                                                                                    \
    }
GATE_KERNELS(float)
GATE_KERNELS(double)

static int check(const gan_tensor *x) {
    if (!gan_dtype_is_float(x->dtype))
        return gan_error("gate: input must be float32 or float64, got %s", gan_dtype_name(x->dtype));
    if (x->ndim < 2 || x->size[1] % 2 != 0) {
        char s[GAN_SHAPE_BUF];
        return gan_error("gate: input must be (N, 2C, ...) with an even number of channels, got %s",
                         gan_shape_str(s, sizeof s, x->ndim, x->size));
    }
    return GAN_OK;
}

static layout layout_of(const gan_tensor *x) {
    int64_t S = 1;
    for (int d = 2; d < x->ndim; d++) S *= x->size[d];
    return (layout){x->size[0], x->size[1] / 2, S};
}

// The create_graph path: t = tanh(a), s = sigmoid(b), gx = cat(g (1 - t^2) s, g t s (1 - s)),
// all recorded.
static int backward_graph(gan_tensor *x, gan_tensor *g, gan_tensor **gx) {
    int64_t C = x->size[1] / 2;
    gan_tensor *a = NULL, *b = NULL, *t = NULL, *s = NULL, *u = NULL, *v = NULL;
    gan_tensor *ga = NULL, *gb = NULL, *gs = NULL;
    int rc = GAN_ERR;
    TRY(gan_ag_narrow(&a, x, 1, 0, C));
    TRY(gan_ag_narrow(&b, x, 1, C, C));
    TRY(gan_ag_unary(&t, GAN_TANH, a));
    TRY(gan_ag_unary(&s, GAN_SIGMOID, b));
    TRY(gan_ag_binary(&gs, GAN_MUL, g, s));                 // g s
    TRY(gan_ag_binary(&u, GAN_MUL, t, t));
    TRY(gan_ag_binary_scalar(&v, GAN_SUB, u, 1, true));     // 1 - t^2
    TRY(gan_ag_binary(&ga, GAN_MUL, gs, v));
    gan_tensor_release(u);
    gan_tensor_release(v);
    u = v = NULL;
    TRY(gan_ag_binary_scalar(&u, GAN_SUB, s, 1, true));     // 1 - s
    TRY(gan_ag_binary(&v, GAN_MUL, gs, t));
    TRY(gan_ag_binary(&gb, GAN_MUL, v, u));
    gan_tensor *parts[2] = {ga, gb};
    TRY(gan_ag_cat(gx, 2, parts, 1));
    rc = GAN_OK;
fail:;
    gan_tensor *tmp[] = {a, b, t, s, u, v, ga, gb, gs};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) gan_tensor_release(tmp[i]);
    return rc;
}

static int gate_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    gan_tensor *x = NULL, *xc = NULL, *gc = NULL;
    int rc = GAN_ERR;
    TRY(gan_node_unpack(n, 0, &x));
    if (gan_grad_enabled()) {
        rc = backward_graph(x, g, &gin[0]);
        goto fail;
    }
    TRY(gan_contiguous(&xc, x));
    TRY(gan_contiguous(&gc, g));
    TRY(gan_empty(&gin[0], x->dtype, x->ndim, x->size));
    layout l = layout_of(x);
    if (x->dtype == GAN_FLOAT32) bwd_float(&l, gan_data(xc), gan_data(gc), gan_data(gin[0]));
    else bwd_double(&l, gan_data(xc), gan_data(gc), gan_data(gin[0]));
    rc = GAN_OK;
fail:
    gan_tensor_release(x);
    gan_tensor_release(xc);
    gan_tensor_release(gc);
    return rc;
}

int gan_ag_gate(gan_tensor **out, gan_tensor *x) {
    if (check(x) != GAN_OK) return GAN_ERR;
    gan_tensor *xc = NULL, *y = NULL;
    int rc = GAN_ERR;
    int64_t size[GAN_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) size[d] = d == 1 ? x->size[1] / 2 : x->size[d];
    TRY(gan_contiguous(&xc, x));
    TRY(gan_empty(&y, x->dtype, x->ndim, size));
    layout l = layout_of(x);
    if (x->dtype == GAN_FLOAT32) fwd_float(&l, gan_data(xc), gan_data(y));
    else fwd_double(&l, gan_data(xc), gan_data(y));
    const gan_tensor *ins[1] = {x};
    gan_node *n;
    TRY(gan_record(&n, &y, "gate", gate_backward, 1, ins));
    if (n) TRY(gan_record_done(&y, gan_node_save(n, x, false)));
    *out = y;
    y = NULL;
    rc = GAN_OK;
fail:
    gan_tensor_release(xc);
    gan_tensor_release(y);
    return rc;
}
