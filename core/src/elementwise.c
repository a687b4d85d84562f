// Elementwise kernels: one inner loop per (op, dtype), generated from an expression in
// `x` (and `y`), run by the strided iterator with fast paths for contiguous rows and
// scalar operands.
#include "internal.h"
#include <math.h>
#include <stdlib.h>
#include <tgmath.h>

#define UNARY_LOOP(NAME, T, EXPR)                                                       \
    static void NAME(void **p, const int64_t *s, int64_t n, const void *ctx) {         \
        (void)ctx;                                                                      \
        T *o = p[0];                                                                    \
        const T *a = p[1];                                                              \
        if (s[0] == 1 && s[1] == 1) {                                                   \
            for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (T)(EXPR); }           \
        } else {                                                                        \
            for (int64_t i = 0; i < n; i++) { T x = a[i * s[1]]; o[i * s[0]] = (T)(EXPR); } \
        }                                                                               \
    }

#define BINARY_LOOP(NAME, T, EXPR)                                                      \
    static void NAME(void **p, const int64_t *s, int64_t n, const void *ctx) {         \
        (void)ctx;                                                                      \
        T *o = p[0];                                                                    \
        const T *a = p[1], *b = p[2];                                                   \
        if (s[0] == 1 && s[1] == 1 && s[2] == 1) {                                      \
            for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (T)(EXPR); } \
        } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {                               \
            T y = b[0];                                                                 \
            for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (T)(EXPR); }           \
        } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {                               \
            T x = a[0];                                                                 \
            for (int64_t i = 0; i < n; i++) { T y = b[i]; o[i] = (T)(EXPR); }           \
        } else {                                                                        \
            for (int64_t i = 0; i < n; i++) {                                           \
                T x = a[i * s[1]], y = b[i * s[2]];                                     \
                o[i * s[0]] = (T)(EXPR);                                                \
            }                                                                           \
        }                                                                               \
    }

#define SIGMOID(x) ((x) >= 0 ? 1 / (1 + exp(-(x))) : exp(x) / (1 + exp(x)))
#define SIGN(x) ((x) > 0 ? 1 : (x) < 0 ? -1 : (x))
// pow with its two common exponents as exact shortcuts (x ^ 2 in losses and penalties,
// and x ^ 1 in its own backward): the same values as pow, an order of magnitude faster.
#define POW(x, y) ((y) == 2 ? (x) * (x) : (y) == 1 ? (x) : pow(x, y))

// (enum, name, expression) for every float unary op.
#define FLOAT_UNOPS(X, T)                          \
    X(GAN_NEG, neg, T, -x)                         \
    X(GAN_ABS, abs, T, fabs(x))                    \
    X(GAN_EXP, exp, T, exp(x))                     \
    X(GAN_LOG, log, T, log(x))                     \
    X(GAN_SQRT, sqrt, T, sqrt(x))                  \
    X(GAN_RSQRT, rsqrt, T, 1 / sqrt(x))            \
    X(GAN_TANH, tanh, T, tanh(x))                  \
    X(GAN_SIGMOID, sigmoid, T, SIGMOID(x))         \
    X(GAN_RELU, relu, T, x > 0 ? x : (x == x ? 0 : x)) \
    X(GAN_SIGN, sign, T, SIGN(x))                  \
    X(GAN_RECIPROCAL, reciprocal, T, 1 / x)        \
    X(GAN_SQUARE, square, T, x * x)                \
    X(GAN_FLOOR, floor, T, floor(x))               \
    X(GAN_CEIL, ceil, T, ceil(x))                  \
    X(GAN_ROUND, round, T, nearbyint(x))           \
    X(GAN_LOG1P, log1p, T, log1p(x))               \
    X(GAN_EXPM1, expm1, T, expm1(x))               \
    X(GAN_SIN, sin, T, sin(x))                     \
    X(GAN_COS, cos, T, cos(x))                     \
    X(GAN_ERF, erf, T, erf(x))

// int64 arithmetic wraps around (two's complement) instead of being undefined on overflow.
#define INT_UNOPS(X, T)                            \
    X(GAN_NEG, neg, T, (T)(0 - (uint64_t)x))       \
    X(GAN_ABS, abs, T, x < 0 ? (T)(0 - (uint64_t)x) : x) \
    X(GAN_RELU, relu, T, x > 0 ? x : 0)            \
    X(GAN_SIGN, sign, T, SIGN(x))                  \
    X(GAN_SQUARE, square, T, (T)((uint64_t)x * (uint64_t)x)) \
    X(GAN_FLOOR, floor, T, x)                      \
    X(GAN_CEIL, ceil, T, x)                        \
    X(GAN_ROUND, round, T, x)

#define COMPARE_BINOPS(X, T)                       \
    X(GAN_EQ, eq, T, x == y)                       \
    X(GAN_NE, ne, T, x != y)                       \
    X(GAN_LT, lt, T, x < y)                        \
    X(GAN_LE, le, T, x <= y)                       \
    X(GAN_GT, gt, T, x > y)                        \
    X(GAN_GE, ge, T, x >= y)

// minimum/maximum propagate NaN, like PyTorch.
#define FLOAT_BINOPS(X, T)                         \
    X(GAN_ADD, add, T, x + y)                      \
    X(GAN_SUB, sub, T, x - y)                      \
    X(GAN_MUL, mul, T, x * y)                      \
    X(GAN_DIV, div, T, x / y)                      \
    X(GAN_POW, pow, T, POW(x, y))                  \
    X(GAN_MINIMUM, minimum, T, (x != x || x < y) ? x : y) \
    X(GAN_MAXIMUM, maximum, T, (x != x || x > y) ? x : y) \
    COMPARE_BINOPS(X, T)

#define INT_BINOPS(X, T)                           \
    X(GAN_ADD, add, T, (T)((uint64_t)x + (uint64_t)y)) \
    X(GAN_SUB, sub, T, (T)((uint64_t)x - (uint64_t)y)) \
    X(GAN_MUL, mul, T, (T)((uint64_t)x * (uint64_t)y)) \
    X(GAN_MINIMUM, minimum, T, x < y ? x : y)      \
    X(GAN_MAXIMUM, maximum, T, x > y ? x : y)      \
    COMPARE_BINOPS(X, T)

#define DEF_UNARY(E, NAME, T, EXPR) UNARY_LOOP(unary_##NAME##_##T, T, EXPR)
#define DEF_BINARY(E, NAME, T, EXPR) BINARY_LOOP(binary_##NAME##_##T, T, EXPR)
FLOAT_UNOPS(DEF_UNARY, float)
FLOAT_UNOPS(DEF_UNARY, double)
INT_UNOPS(DEF_UNARY, int64_t)
FLOAT_BINOPS(DEF_BINARY, float)
FLOAT_BINOPS(DEF_BINARY, double)
INT_BINOPS(DEF_BINARY, int64_t)

static gan_loop_fn unary_loops[GAN_NUM_UNOPS][GAN_NUM_DTYPES];
static gan_loop_fn binary_loops[GAN_NUM_BINOPS][GAN_NUM_DTYPES];
static const char *unop_names[GAN_NUM_UNOPS];
static const char *binop_names[GAN_NUM_BINOPS];

#define REG_UNARY(E, NAME, T, EXPR) unary_loops[E][DT] = unary_##NAME##_##T; unop_names[E] = #NAME;
#define REG_BINARY(E, NAME, T, EXPR) binary_loops[E][DT] = binary_##NAME##_##T; binop_names[E] = #NAME;

__attribute__((constructor)) static void register_loops(void) {
    enum { DT_F = GAN_FLOAT32, DT_D = GAN_FLOAT64, DT_I = GAN_INT64 };
#define DT DT_F
    FLOAT_UNOPS(REG_UNARY, float) FLOAT_BINOPS(REG_BINARY, float)
#undef DT
#define DT DT_D
    FLOAT_UNOPS(REG_UNARY, double) FLOAT_BINOPS(REG_BINARY, double)
#undef DT
#define DT DT_I
    INT_UNOPS(REG_UNARY, int64_t) INT_BINOPS(REG_BINARY, int64_t)
#undef DT
}

const char *gan_unop_name(gan_unop op) {
    return (unsigned)op < GAN_NUM_UNOPS ? unop_names[op] : "?";
}
const char *gan_binop_name(gan_binop op) {
    return (unsigned)op < GAN_NUM_BINOPS ? binop_names[op] : "?";
}

static int unsupported(const char *op, gan_dtype dt) {
    return gan_error("%s: not supported for dtype %s%s", op, gan_dtype_name(dt),
                     dt == GAN_INT64 ? " (convert with :float() first)" : "");
}

// ---- unary

int gan_unary_(gan_tensor *a, gan_unop op) {
    if ((unsigned)op >= GAN_NUM_UNOPS) return gan_error("unary: invalid op %d", (int)op);
    gan_loop_fn fn = unary_loops[op][a->dtype];
    if (!fn) return unsupported(unop_names[op], a->dtype);
    gan_iter it;
    const gan_tensor *ts[2] = {a, a};
    gan_iter_init(&it, 2, ts, a->ndim, a->size);
    gan_iter_run(&it, fn, NULL);
    return GAN_OK;
}

int gan_unary(gan_tensor **out, gan_unop op, const gan_tensor *a) {
    if ((unsigned)op >= GAN_NUM_UNOPS) return gan_error("unary: invalid op %d", (int)op);
    gan_loop_fn fn = unary_loops[op][a->dtype];
    if (!fn) return unsupported(unop_names[op], a->dtype);
    gan_tensor *o;
    if (gan_empty(&o, a->dtype, a->ndim, a->size) != GAN_OK) return GAN_ERR;
    gan_iter it;
    const gan_tensor *ts[2] = {o, a};
    gan_iter_init(&it, 2, ts, a->ndim, a->size);
    gan_iter_run(&it, fn, NULL);
    *out = o;
    return GAN_OK;
}

// ---- binary

static int check_binary(gan_binop op, const gan_tensor *a, const gan_tensor *b) {
    if ((unsigned)op >= GAN_NUM_BINOPS) return gan_error("binary: invalid op %d", (int)op);
    if (a->dtype != b->dtype)
        return gan_error("%s: dtypes differ (%s and %s); convert one with :to()",
                         binop_names[op], gan_dtype_name(a->dtype), gan_dtype_name(b->dtype));
    if (!binary_loops[op][a->dtype]) return unsupported(binop_names[op], a->dtype);
    return GAN_OK;
}

int gan_binary(gan_tensor **out, gan_binop op, const gan_tensor *a, const gan_tensor *b) {
    if (check_binary(op, a, b) != GAN_OK) return GAN_ERR;
    int nd;
    int64_t size[GAN_MAX_DIMS];
    const gan_tensor *in[2] = {a, b};
    if (gan_broadcast_shape(&nd, size, 2, in, binop_names[op]) != GAN_OK) return GAN_ERR;
    gan_tensor *o;
    if (gan_empty(&o, a->dtype, nd, size) != GAN_OK) return GAN_ERR;
    gan_iter it;
    const gan_tensor *ts[3] = {o, a, b};
    gan_iter_init(&it, 3, ts, nd, size);
    gan_iter_run(&it, binary_loops[op][a->dtype], NULL);
    *out = o;
    return GAN_OK;
}

// Checks that `src` broadcasts to dst's shape exactly (in-place ops cannot grow dst).
static int check_broadcast_to(const gan_tensor *dst, const gan_tensor *src, const char *op) {
    int nd;
    int64_t size[GAN_MAX_DIMS];
    const gan_tensor *in[2] = {dst, src};
    if (gan_broadcast_shape(&nd, size, 2, in, op) != GAN_OK) return GAN_ERR;
    bool same = nd == dst->ndim;
    for (int i = 0; same && i < nd; i++) same = size[i] == dst->size[i];
    if (!same) {
        char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
        return gan_error("%s: in-place result of shape %s cannot take an operand of shape %s",
                         op, gan_shape_str(a, sizeof a, dst->ndim, dst->size),
                         gan_shape_str(b, sizeof b, src->ndim, src->size));
    }
    return GAN_OK;
}

int gan_binary_(gan_tensor *a, gan_binop op, const gan_tensor *b) {
    if (check_binary(op, a, b) != GAN_OK) return GAN_ERR;
    if (check_broadcast_to(a, b, binop_names[op]) != GAN_OK) return GAN_ERR;
    // An operand that aliases the destination at other positions is read from a copy.
    gan_tensor *bc = NULL;
    if (b != a && gan_may_overlap(a, b)) {
        if (gan_clone(&bc, b) != GAN_OK) return GAN_ERR;
        b = bc;
    }
    gan_iter it;
    const gan_tensor *ts[3] = {a, a, b};
    gan_iter_init(&it, 3, ts, a->ndim, a->size);
    gan_iter_run(&it, binary_loops[op][a->dtype], NULL);
    gan_tensor_release(bc);
    return GAN_OK;
}

// A 0-d tensor of a's dtype holding s.
static int scalar_like(gan_tensor **out, const gan_tensor *a, double s, const char *op) {
    if (a->dtype == GAN_INT64 && s != floor(s))
        return gan_error("%s: scalar %g is not an integer but the tensor is int64", op, s);
    return gan_full(out, a->dtype, 0, NULL, s);
}

int gan_binary_scalar(gan_tensor **out, gan_binop op, const gan_tensor *a, double s,
                      bool reversed) {
    if ((unsigned)op >= GAN_NUM_BINOPS) return gan_error("binary: invalid op %d", (int)op);
    gan_tensor *st;
    if (scalar_like(&st, a, s, binop_names[op]) != GAN_OK) return GAN_ERR;
    int rc = reversed ? gan_binary(out, op, st, a) : gan_binary(out, op, a, st);
    gan_tensor_release(st);
    return rc;
}

int gan_binary_scalar_(gan_tensor *a, gan_binop op, double s) {
    if ((unsigned)op >= GAN_NUM_BINOPS) return gan_error("binary: invalid op %d", (int)op);
    gan_tensor *st;
    if (scalar_like(&st, a, s, binop_names[op]) != GAN_OK) return GAN_ERR;
    int rc = gan_binary_(a, op, st);
    gan_tensor_release(st);
    return rc;
}

// ---- leaky_relu: x > 0 ? x : slope x, and its derivative x > 0 ? 1 : slope

typedef struct { double slope; bool deriv; } leaky;

#define LEAKY_LOOP(T)                                                                   \
    static void leaky_##T(void **p, const int64_t *s, int64_t n, const void *ctx) {     \
        const leaky *c = ctx;                                                           \
        T *o = p[0];                                                                    \
        const T *a = p[1];                                                              \
        T slope = (T)c->slope;                                                          \
        if (c->deriv)                                                                   \
            for (int64_t i = 0; i < n; i++) o[i * s[0]] = a[i * s[1]] > 0 ? (T)1 : slope; \
        else                                                                            \
            for (int64_t i = 0; i < n; i++) {                                           \
                T x = a[i * s[1]];                                                      \
                o[i * s[0]] = x > 0 ? x : x * slope;                                    \
            }                                                                           \
    }
LEAKY_LOOP(float)
LEAKY_LOOP(double)

int gan_leaky_relu(gan_tensor **out, const gan_tensor *a, double slope, bool derivative) {
    if (!gan_dtype_is_float(a->dtype))
        return gan_error("leaky_relu: input must be float32 or float64, got %s", gan_dtype_name(a->dtype));
    gan_tensor *o;
    if (gan_empty(&o, a->dtype, a->ndim, a->size) != GAN_OK) return GAN_ERR;
    leaky c = {slope, derivative};
    gan_iter it;
    const gan_tensor *ts[2] = {o, a};
    gan_iter_init(&it, 2, ts, a->ndim, a->size);
    gan_iter_run(&it, a->dtype == GAN_FLOAT32 ? leaky_float : leaky_double, &c);
    *out = o;
    return GAN_OK;
}

// ---- g times an activation's derivative, in one pass (their plain backward)

typedef struct { gan_unop op; double slope; } act_grad;

#define ACT_GRAD_LOOP(T)                                                                \
    static void act_grad_##T(void **p, const int64_t *s, int64_t n, const void *ctx) {  \
        const act_grad *c = ctx;                                                        \
        T *o = p[0];                                                                    \
        const T *g = p[1], *v = p[2];                                                   \
        const T slope = (T)c->slope;                                                    \
        switch (c->op) {                                                                \
        case GAN_RELU:                                                                  \
            for (int64_t i = 0; i < n; i++) {                                           \
                T gi = g[i * s[1]];                                                     \
                o[i * s[0]] = v[i * s[2]] > 0 ? gi : slope * gi;                        \
            }                                                                           \
            break;                                                                      \
        case GAN_TANH:                                                                  \
            for (int64_t i = 0; i < n; i++) {                                           \
                T y = v[i * s[2]];                                                      \
                o[i * s[0]] = g[i * s[1]] * (1 - y * y);                                \
            }                                                                           \
            break;                                                                      \
        default:                                                                        \
            for (int64_t i = 0; i < n; i++) {                                           \
                T y = v[i * s[2]];                                                      \
                o[i * s[0]] = g[i * s[1]] * y * (1 - y);                                \
            }                                                                           \
        }                                                                               \
    }
ACT_GRAD_LOOP(float)
ACT_GRAD_LOOP(double)

int gan_activation_grad(gan_tensor **out, gan_unop op, const gan_tensor *g, const gan_tensor *v, double slope) {
    if (op != GAN_RELU && op != GAN_TANH && op != GAN_SIGMOID)
        return gan_error("activation_grad: op %s has no fused derivative", gan_unop_name(op));
    if (!gan_dtype_is_float(g->dtype) || g->dtype != v->dtype)
        return gan_error("activation_grad: float tensors of one dtype expected, got %s and %s",
                         gan_dtype_name(g->dtype), gan_dtype_name(v->dtype));
    int nd;
    int64_t size[GAN_MAX_DIMS];
    const gan_tensor *in[2] = {g, v};
    if (gan_broadcast_shape(&nd, size, 2, in, "activation_grad") != GAN_OK) return GAN_ERR;
    gan_tensor *o;
    if (gan_empty(&o, g->dtype, nd, size) != GAN_OK) return GAN_ERR;
    act_grad c = {op, op == GAN_RELU ? slope : 0};
    gan_iter it;
    const gan_tensor *ts[3] = {o, g, v};
    gan_iter_init(&it, 3, ts, nd, size);
    gan_iter_run(&it, g->dtype == GAN_FLOAT32 ? act_grad_float : act_grad_double, &c);
    *out = o;
    return GAN_OK;
}

// ---- clamp, where, masked_fill

typedef struct { double lo, hi; } bounds;

#define CLAMP_LOOP(T)                                                                   \
    static void clamp_##T(void **p, const int64_t *s, int64_t n, const void *ctx) {     \
        const bounds *b = ctx;                                                          \
        T *o = p[0];                                                                    \
        const T *a = p[1];                                                              \
        bool has_lo = !isnan(b->lo), has_hi = !isnan(b->hi);                            \
        T lo = has_lo ? (T)b->lo : 0, hi = has_hi ? (T)b->hi : 0;                       \
        for (int64_t i = 0; i < n; i++) {                                               \
            T x = a[i * s[1]];                                                          \
            if (has_lo && x < lo) x = lo;                                               \
            if (has_hi && x > hi) x = hi;                                               \
            o[i * s[0]] = x;                                                            \
        }                                                                               \
    }
CLAMP_LOOP(float)
CLAMP_LOOP(double)
CLAMP_LOOP(int64_t)
static const gan_loop_fn clamp_loops[GAN_NUM_DTYPES] = {clamp_float, clamp_double, clamp_int64_t};

static int clamp_into(gan_tensor *o, const gan_tensor *a, double lo, double hi) {
    if (!isnan(lo) && !isnan(hi) && lo > hi)
        return gan_error("clamp: min %g is greater than max %g", lo, hi);
    bounds b = {lo, hi};
    gan_iter it;
    const gan_tensor *ts[2] = {o, a};
    gan_iter_init(&it, 2, ts, a->ndim, a->size);
    gan_iter_run(&it, clamp_loops[a->dtype], &b);
    return GAN_OK;
}

int gan_clamp(gan_tensor **out, const gan_tensor *a, double lo, double hi) {
    gan_tensor *o;
    if (gan_empty(&o, a->dtype, a->ndim, a->size) != GAN_OK) return GAN_ERR;
    if (clamp_into(o, a, lo, hi) != GAN_OK) { gan_tensor_release(o); return GAN_ERR; }
    *out = o;
    return GAN_OK;
}

int gan_clamp_(gan_tensor *a, double lo, double hi) { return clamp_into(a, a, lo, hi); }

#define WHERE_LOOP(T)                                                                   \
    static void where_##T(void **p, const int64_t *s, int64_t n, const void *ctx) {     \
        (void)ctx;                                                                      \
        T *o = p[0];                                                                    \
        const T *c = p[1], *a = p[2], *b = p[3];                                        \
        for (int64_t i = 0; i < n; i++)                                                 \
            o[i * s[0]] = c[i * s[1]] != 0 ? a[i * s[2]] : b[i * s[3]];                 \
    }
WHERE_LOOP(float)
WHERE_LOOP(double)
WHERE_LOOP(int64_t)
static const gan_loop_fn where_loops[GAN_NUM_DTYPES] = {where_float, where_double, where_int64_t};

int gan_where(gan_tensor **out, const gan_tensor *cond, const gan_tensor *a,
              const gan_tensor *b) {
    if (a->dtype != b->dtype)
        return gan_error("where: dtypes differ (%s and %s)", gan_dtype_name(a->dtype),
                         gan_dtype_name(b->dtype));
    int nd;
    int64_t size[GAN_MAX_DIMS];
    const gan_tensor *in[3] = {cond, a, b};
    if (gan_broadcast_shape(&nd, size, 3, in, "where") != GAN_OK) return GAN_ERR;
    gan_tensor *c, *o;
    if (gan_to_dtype(&c, cond, a->dtype) != GAN_OK) return GAN_ERR;
    if (gan_empty(&o, a->dtype, nd, size) != GAN_OK) { gan_tensor_release(c); return GAN_ERR; }
    gan_iter it;
    const gan_tensor *ts[4] = {o, c, a, b};
    gan_iter_init(&it, 4, ts, nd, size);
    gan_iter_run(&it, where_loops[a->dtype], NULL);
    gan_tensor_release(c);
    *out = o;
    return GAN_OK;
}

int gan_masked_fill_(gan_tensor *a, const gan_tensor *mask, double value) {
    if (check_broadcast_to(a, mask, "masked_fill") != GAN_OK) return GAN_ERR;
    gan_tensor *v;
    if (scalar_like(&v, a, value, "masked_fill") != GAN_OK) return GAN_ERR;
    gan_tensor *c;
    if (gan_to_dtype(&c, mask, a->dtype) != GAN_OK) { gan_tensor_release(v); return GAN_ERR; }
    if (c == mask && gan_may_overlap(a, c)) {   // the mask is read while a is written
        gan_tensor_release(c);
        if (gan_clone(&c, mask) != GAN_OK) { gan_tensor_release(v); return GAN_ERR; }
    }
    gan_iter it;
    const gan_tensor *ts[4] = {a, c, v, a};
    gan_iter_init(&it, 4, ts, a->ndim, a->size);
    gan_iter_run(&it, where_loops[a->dtype], NULL);
    gan_tensor_release(c);
    gan_tensor_release(v);
    return GAN_OK;
}

int gan_masked_fill(gan_tensor **out, const gan_tensor *a, const gan_tensor *mask,
                    double value) {
    if (check_broadcast_to(a, mask, "masked_fill") != GAN_OK) return GAN_ERR;
    gan_tensor *o;
    if (gan_clone(&o, a) != GAN_OK) return GAN_ERR;
    if (gan_masked_fill_(o, mask, value) != GAN_OK) { gan_tensor_release(o); return GAN_ERR; }
    *out = o;
    return GAN_OK;
}

// ---- copy, conversion, fill

#define COPY_LOOP(TO, TI)                                                               \
    static void copy_##TO##_##TI(void **p, const int64_t *s, int64_t n, const void *ctx) { \
        (void)ctx;                                                                      \
        TO *o = p[0];                                                                   \
        const TI *a = p[1];                                                             \
        if (s[0] == 1 && s[1] == 1) for (int64_t i = 0; i < n; i++) o[i] = (TO)a[i];    \
        else for (int64_t i = 0; i < n; i++) o[i * s[0]] = (TO)a[i * s[1]];             \
    }
#define COPY_FROM(TI) COPY_LOOP(float, TI) COPY_LOOP(double, TI) COPY_LOOP(int64_t, TI)
COPY_FROM(float)
COPY_FROM(double)
COPY_FROM(int64_t)
static const gan_loop_fn copy_loops[GAN_NUM_DTYPES][GAN_NUM_DTYPES] = {
    {copy_float_float, copy_float_double, copy_float_int64_t},
    {copy_double_float, copy_double_double, copy_double_int64_t},
    {copy_int64_t_float, copy_int64_t_double, copy_int64_t_int64_t},
};

int gan_copy_(gan_tensor *dst, const gan_tensor *src) {
    if (check_broadcast_to(dst, src, "copy_") != GAN_OK) return GAN_ERR;
    gan_tensor *sc = NULL;
    if (src != dst && gan_may_overlap(dst, src)) {
        if (gan_clone(&sc, src) != GAN_OK) return GAN_ERR;
        src = sc;
    }
    if (src != dst) {
        gan_iter it;
        const gan_tensor *ts[2] = {dst, src};
        gan_iter_init(&it, 2, ts, dst->ndim, dst->size);
        gan_iter_run(&it, copy_loops[dst->dtype][src->dtype], NULL);
    }
    gan_tensor_release(sc);
    return GAN_OK;
}

int gan_fill_(gan_tensor *t, double value) {
    gan_tensor *v;
    if (gan_empty(&v, t->dtype, 0, NULL) != GAN_OK) return GAN_ERR;
    int64_t none[1] = {0};
    gan_set(v, none, value);
    gan_iter it;
    const gan_tensor *ts[2] = {t, v};
    gan_iter_init(&it, 2, ts, t->ndim, t->size);
    gan_iter_run(&it, copy_loops[t->dtype][t->dtype], NULL);
    gan_tensor_release(v);
    return GAN_OK;
}

int gan_contiguous(gan_tensor **out, const gan_tensor *t) {
    if (gan_is_contiguous(t)) { *out = gan_tensor_retain((gan_tensor *)t); return GAN_OK; }
    return gan_clone(out, t);
}

int gan_clone(gan_tensor **out, const gan_tensor *t) {
    gan_tensor *o;
    if (gan_empty(&o, t->dtype, t->ndim, t->size) != GAN_OK) return GAN_ERR;
    gan_iter it;
    const gan_tensor *ts[2] = {o, t};
    gan_iter_init(&it, 2, ts, t->ndim, t->size);
    gan_iter_run(&it, copy_loops[t->dtype][t->dtype], NULL);
    *out = o;
    return GAN_OK;
}

int gan_to_dtype(gan_tensor **out, const gan_tensor *t, gan_dtype dt) {
    if ((unsigned)dt >= GAN_NUM_DTYPES) return gan_error("to: invalid dtype %d", (int)dt);
    if (t->dtype == dt) { *out = gan_tensor_retain((gan_tensor *)t); return GAN_OK; }
    gan_tensor *o;
    if (gan_empty(&o, dt, t->ndim, t->size) != GAN_OK) return GAN_ERR;
    gan_iter it;
    const gan_tensor *ts[2] = {o, t};
    gan_iter_init(&it, 2, ts, t->ndim, t->size);
    gan_iter_run(&it, copy_loops[dt][t->dtype], NULL);
    *out = o;
    return GAN_OK;
}
