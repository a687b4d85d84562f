// Operations against naive double-precision loops: elementwise (all dtypes, contiguous and
// strided operands, broadcasting, in place, aliasing), clamp/where/masked_fill,
// reductions, matmul, cat/index_select/gather/scatter_add, and the error for each bad
// input.
#include "testutil.h"

// ---- references

static double ref_unary(gan_unop op, double x) {
    switch (op) {
    case GAN_NEG: return -x;
    case GAN_ABS: return fabs(x);
    case GAN_EXP: return exp(x);
    case GAN_LOG: return log(x);
    case GAN_SQRT: return sqrt(x);
    case GAN_RSQRT: return 1 / sqrt(x);
    case GAN_TANH: return tanh(x);
    case GAN_SIGMOID: return 1 / (1 + exp(-x));
    case GAN_RELU: return x > 0 ? x : 0;
    case GAN_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case GAN_RECIPROCAL: return 1 / x;
    case GAN_SQUARE: return x * x;
    case GAN_FLOOR: return floor(x);
    case GAN_CEIL: return ceil(x);
    case GAN_ROUND: return nearbyint(x);   // half to even, as PyTorch
    case GAN_LOG1P: return log1p(x);
    case GAN_EXPM1: return expm1(x);
    case GAN_SIN: return sin(x);
    case GAN_COS: return cos(x);
    case GAN_ERF: return erf(x);
    default: return NAN;
    }
}

// Ops this file has a reference for: a new op must be added above, not skipped.
static bool have_ref_unary(int op) { return op >= 0 && op <= GAN_ERF; }

static double ref_binary(gan_binop op, double x, double y) {
    switch (op) {
    case GAN_ADD: return x + y;
    case GAN_SUB: return x - y;
    case GAN_MUL: return x * y;
    case GAN_DIV: return x / y;
    case GAN_POW: return pow(x, y);
    case GAN_MINIMUM: return isnan(x) || isnan(y) ? NAN : x < y ? x : y;
    case GAN_MAXIMUM: return isnan(x) || isnan(y) ? NAN : x > y ? x : y;
    case GAN_EQ: return x == y;
    case GAN_NE: return x != y;
    case GAN_LT: return x < y;
    case GAN_LE: return x <= y;
    case GAN_GT: return x > y;
    case GAN_GE: return x >= y;
    default: return NAN;
    }
}

static bool int_unop(gan_unop op) {
    return op == GAN_NEG || op == GAN_ABS || op == GAN_RELU || op == GAN_SIGN ||
           op == GAN_SQUARE || op == GAN_FLOOR || op == GAN_CEIL || op == GAN_ROUND;
}
static bool int_binop(gan_binop op) { return op != GAN_DIV && op != GAN_POW; }

// Operand values: quarters in [-3, 3] (exact in every dtype, with ties for the
// comparisons and .5 cases for round), kept inside each op's domain.
enum { DOM_ANY, DOM_POS, DOM_NONZERO, DOM_SMALL };
static void fill_dom(gan_tensor *t, uint64_t seed, int dom) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 7;
    int64_t idx[GAN_MAX_DIMS] = {0};
    if (gan_numel(t) == 0) return;
    do {
        int k = (int)(tu_rand01(&s) * 25) - 12;   // -12..12
        if (dom == DOM_POS) k = k < 0 ? -k : k == 0 ? 3 : k;
        if (dom == DOM_NONZERO && k == 0) k = 5;
        if (dom == DOM_SMALL) k = k / 2;
        double v = t->dtype == GAN_INT64 ? k : k / 4.0;
        gan_set(t, idx, v);
    } while (tu_next(idx, t->ndim, t->size));
}

static int unop_domain(gan_unop op) {
    return (op == GAN_LOG || op == GAN_SQRT || op == GAN_RSQRT || op == GAN_LOG1P) ? DOM_POS
           : op == GAN_RECIPROCAL ? DOM_NONZERO : DOM_ANY;
}

static double atol_for(gan_dtype dt) { return dt == GAN_FLOAT32 ? 1e-6 : dt == GAN_FLOAT64 ? 1e-14 : 0; }

// out == f(a, b) elementwise with broadcasting, against ref_binary on the operands' values
// (av/bv: row-major values of a and b captured before any in-place write; may be NULL to
// read a and b directly).
static int64_t binary_mismatches(const gan_tensor *out, gan_binop op, const gan_tensor *a,
                                 const gan_tensor *b, gan_dtype dt, const char *what) {
    int64_t idx[GAN_MAX_DIMS] = {0}, bad = 0;
    if (gan_numel(out) == 0) return 0;
    do {
        double want = ref_binary(op, tu_get_bc(a, idx, out->ndim), tu_get_bc(b, idx, out->ndim));
        if (dt == GAN_FLOAT32) want = (double)(float)want;
        double got = gan_get(out, idx);
        if (!tu_close(got, want, tu_rtol(dt), atol_for(dt))) {
            if (bad++ < 3)
                fprintf(stderr, "    %s %s %s: got %.9g, want %.9g\n", what, gan_binop_name(op),
                        gan_dtype_name(dt), got, want);
        }
    } while (tu_next(idx, out->ndim, out->size));
    return bad;
}

// ---- operand layouts for elementwise tests

typedef struct {
    const char *name;
    gan_tensor *a, *b;   // views; a is never expanded when in_place is set
    bool in_place;       // b broadcasts to a's shape and a has no self-overlap
} layout;

#define N_LAYOUTS 11

static gan_tensor *mk(gan_dtype dt, int ndim, const int64_t *size) {
    gan_tensor *t;
    if (gan_empty(&t, dt, ndim, size) != GAN_OK) abort();
    return t;
}
// Returns the view made by the call that returned rc and releases `base` (the view keeps
// its storage). The view is read through a pointer: argument evaluation order is unspecified.
static gan_tensor *own(gan_tensor *base, int rc, gan_tensor *const *view) {
    gan_tensor_release(base);
    if (rc != GAN_OK) { fprintf(stderr, "layout: %s\n", gan_last_error()); abort(); }
    return *view;
}

static void make_layouts(layout *L, gan_dtype dt) {
    gan_tensor *v, *base;
    int i = 0;
    L[i++] = (layout){"contiguous", mk(dt, 3, I64(3, 4, 5)), mk(dt, 3, I64(3, 4, 5)), true};
    L[i++] = (layout){"broadcast", mk(dt, 3, I64(3, 1, 5)), mk(dt, 2, I64(4, 1)), false};
    base = mk(dt, 2, I64(5, 4));
    L[i++] = (layout){"transposed", own(base, gan_transpose(&v, base, 0, 1), &v), mk(dt, 2, I64(4, 5)), true};
    gan_tensor *a, *b;
    base = mk(dt, 2, I64(6, 9));
    a = own(base, gan_narrow(&v, base, 1, 2, 5), &v);
    base = mk(dt, 2, I64(8, 5));
    b = own(base, gan_narrow(&v, base, 0, 1, 6), &v);
    L[i++] = (layout){"narrowed", a, b, true};
    base = mk(dt, 2, I64(1, 5));
    a = own(base, gan_expand(&v, base, 2, I64(4, 5)), &v);
    base = mk(dt, 2, I64(5, 4));
    b = own(base, gan_transpose(&v, base, 0, 1), &v);
    L[i++] = (layout){"expanded", a, b, false};
    base = mk(dt, 2, I64(1, 5));                        // b expanded, a transposed
    b = own(base, gan_expand(&v, base, 2, I64(4, 5)), &v);
    base = mk(dt, 2, I64(5, 4));
    a = own(base, gan_transpose(&v, base, 0, 1), &v);
    L[i++] = (layout){"transposed+expanded", a, b, true};
    L[i++] = (layout){"scalar", mk(dt, 2, I64(3, 4)), mk(dt, 0, NULL), true};
    base = mk(dt, 2, I64(3, 4));
    L[i++] = (layout){"scalar-first", mk(dt, 0, NULL), own(base, gan_transpose(&v, base, 0, 1), &v), false};
    base = mk(dt, 2, I64(1024, 40));                    // parallel path, strided rows
    L[i++] = (layout){"large", own(base, gan_transpose(&v, base, 0, 1), &v), mk(dt, 1, I64(1024)), true};
    base = mk(dt, 3, I64(4, 3, 5));
    a = own(base, gan_permute(&v, base, 3, INTS(2, 0, 1)), &v);   // (5, 4, 3)
    base = mk(dt, 3, I64(5, 4, 6));
    b = own(base, gan_narrow(&v, base, 2, 1, 3), &v);
    L[i++] = (layout){"permuted", a, b, true};
    L[i++] = (layout){"empty", mk(dt, 2, I64(0, 3)), mk(dt, 2, I64(1, 3)), true};
    if (i != N_LAYOUTS) abort();
}

static void free_layouts(layout *L) {
    for (int i = 0; i < N_LAYOUTS; i++) {
        gan_tensor_release(L[i].a);
        gan_tensor_release(L[i].b);
    }
}

// ---- elementwise

static void test_unary_all(void) {
    CHECK_MSG(have_ref_unary(GAN_NUM_UNOPS - 1), "unary op %s has no reference in test_ops.c",
              gan_unop_name((gan_unop)(GAN_NUM_UNOPS - 1)));
    for (int dt = 0; dt < GAN_NUM_DTYPES; dt++) {
        for (int op = 0; op < GAN_NUM_UNOPS; op++) {
            layout L[N_LAYOUTS];
            make_layouts(L, (gan_dtype)dt);
            bool supported = dt != GAN_INT64 || int_unop((gan_unop)op);
            for (int l = 0; l < N_LAYOUTS; l++) {
                gan_tensor *a = L[l].a, *o = NULL;
                fill_dom(a, 100 + (uint64_t)l, unop_domain((gan_unop)op));
                if (!supported) {
                    CHECK_ERR(gan_unary(&o, (gan_unop)op, a), "not supported for dtype int64");
                    CHECK_ERR(gan_unary_(a, (gan_unop)op), "(convert with :float() first)");
                    continue;
                }
                CHECK_OK(gan_unary(&o, (gan_unop)op, a));
                if (!o) continue;
                CHECK(gan_same_shape(o, a) && o->dtype == a->dtype && gan_is_contiguous(o));
                double *x = tu_values(a), *want = tu_values(a);
                int64_t n = gan_numel(a);
                for (int64_t i = 0; i < n; i++) {
                    want[i] = ref_unary((gan_unop)op, x[i]);
                    if (dt == GAN_FLOAT32) want[i] = (double)(float)want[i];
                }
                char what[96];
                snprintf(what, sizeof what, "%s %s %s", gan_unop_name((gan_unop)op),
                         gan_dtype_name((gan_dtype)dt), L[l].name);
                CHECK_VALUES(o, want, tu_rtol((gan_dtype)dt), atol_for((gan_dtype)dt), what);
                gan_tensor_release(o);
                bool self_overlap = false;   // expanded: in place would be ill-defined
                for (int d = 0; d < a->ndim; d++) self_overlap |= a->stride[d] == 0 && a->size[d] > 1;
                if (!self_overlap) {   // in place on the (strided) view
                    CHECK_OK(gan_unary_(a, (gan_unop)op));
                    CHECK_VALUES(a, want, tu_rtol((gan_dtype)dt), atol_for((gan_dtype)dt), what);
                }
                free(x);
                free(want);
            }
            free_layouts(L);
        }
    }
    // Special values.
    gan_tensor *x, *o;
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT64, 1, I64(8),
                              (double[]){0.5, 1.5, 2.5, -0.5, -2.5, NAN, -0.0, -INFINITY}));
    CHECK_OK(gan_unary(&o, GAN_ROUND, x));
    CHECK_EQ_LIST(o, 0, 2, 2, -0.0, -2, NAN, 0, -INFINITY);
    gan_tensor_release(o);
    CHECK_OK(gan_unary(&o, GAN_RELU, x));
    CHECK_EQ_LIST(o, 0.5, 1.5, 2.5, 0, 0, NAN, 0, 0);   // NaN propagates
    gan_tensor_release(o);
    CHECK_OK(gan_unary(&o, GAN_SIGN, x));
    CHECK_EQ_LIST(o, 1, 1, 1, -1, -1, NAN, 0, -1);
    gan_tensor_release(o);
    CHECK_OK(gan_unary(&o, GAN_SIGMOID, x));   // stable for large |x|
    CHECK(gan_get(o, I64(7)) == 0);
    gan_tensor_release(o);
    gan_tensor_release(x);
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT32, 1, I64(4), (double[]){-100, 100, -1e30, 88}));
    CHECK_OK(gan_unary(&o, GAN_SIGMOID, x));
    CHECK(gan_get(o, I64(0)) >= 0 && gan_get(o, I64(0)) < 1e-40);
    CHECK(gan_get(o, I64(1)) == 1 && gan_get(o, I64(2)) == 0);
    CHECK_CLOSE(gan_get(o, I64(3)), 1, 1e-7);
    gan_tensor_release(o);
    gan_tensor_release(x);
    CHECK_OK(gan_zeros(&x, GAN_FLOAT32, 1, I64(2)));
    CHECK_ERR(gan_unary(&o, (gan_unop)99, x), "unary: invalid op 99");
    CHECK_ERR(gan_unary_(x, (gan_unop)-1), "unary: invalid op -1");
    gan_tensor_release(x);
    CHECK(strcmp(gan_unop_name(GAN_SIGMOID), "sigmoid") == 0);
    CHECK(strcmp(gan_binop_name(GAN_MAXIMUM), "maximum") == 0);
    CHECK(strcmp(gan_binop_name((gan_binop)77), "?") == 0);
}

static void test_binary_all(void) {
    CHECK_MSG(GAN_NUM_BINOPS - 1 == GAN_GE, "binary op %s has no reference in test_ops.c",
              gan_binop_name((gan_binop)(GAN_NUM_BINOPS - 1)));
    for (int dt = 0; dt < GAN_NUM_DTYPES; dt++) {
        for (int op = 0; op < GAN_NUM_BINOPS; op++) {
            layout L[N_LAYOUTS];
            make_layouts(L, (gan_dtype)dt);
            bool supported = dt != GAN_INT64 || int_binop((gan_binop)op);
            for (int l = 0; l < N_LAYOUTS; l++) {
                gan_tensor *a = L[l].a, *b = L[l].b, *o = NULL;
                fill_dom(a, 200 + (uint64_t)l, op == GAN_POW ? DOM_POS : DOM_ANY);
                fill_dom(b, 300 + (uint64_t)l,
                         op == GAN_DIV ? DOM_NONZERO : op == GAN_POW ? DOM_SMALL : DOM_ANY);
                char what[96];
                snprintf(what, sizeof what, "%s", L[l].name);
                if (!supported) {
                    CHECK_ERR(gan_binary(&o, (gan_binop)op, a, b), "not supported for dtype int64");
                    continue;
                }
                CHECK_OK(gan_binary(&o, (gan_binop)op, a, b));
                if (!o) continue;
                int nd;
                int64_t size[GAN_MAX_DIMS];
                const gan_tensor *ab[2] = {a, b};
                CHECK_OK(gan_broadcast_shape(&nd, size, 2, ab, "test"));
                CHECK(tu_shape_is(o, nd, size) && o->dtype == a->dtype);
                CHECK_MSG(binary_mismatches(o, (gan_binop)op, a, b, (gan_dtype)dt, what) == 0,
                          "%s %s %s", gan_binop_name((gan_binop)op), gan_dtype_name((gan_dtype)dt), what);
                if (L[l].in_place) {   // a <- a op b: compare with the out-of-place result
                    CHECK_OK(gan_binary_(a, (gan_binop)op, b));
                    double *want = tu_values(o);
                    snprintf(what, sizeof what, "%s_ %s %s", gan_binop_name((gan_binop)op),
                             gan_dtype_name((gan_dtype)dt), L[l].name);
                    CHECK_VALUES(a, want, 0, 0, what);
                    free(want);
                }
                gan_tensor_release(o);
            }
            free_layouts(L);
        }
    }
}

// A tensor of shape `size` whose strides are scrambled: made by permuting a base of the
// permuted shape back, narrowing a larger base, or expanding size-1 dims.
static gan_tensor *scrambled(gan_dtype dt, int nd, const int64_t *size, uint64_t *s) {
    gan_tensor *t = NULL, *base = NULL;
    double u = tu_rand01(s);
    if (nd >= 2 && u < 0.35) {   // permuted
        int perm[GAN_MAX_DIMS], inv[GAN_MAX_DIMS];
        int64_t bsize[GAN_MAX_DIMS];
        for (int i = 0; i < nd; i++) perm[i] = i;
        for (int i = nd - 1; i > 0; i--) {
            int j = (int)(tu_rand01(s) * (i + 1));
            int x = perm[i]; perm[i] = perm[j]; perm[j] = x;
        }
        for (int i = 0; i < nd; i++) { bsize[i] = size[perm[i]]; inv[perm[i]] = i; }
        base = tu_rand(dt, nd, bsize, *s += 7, -4, 4);
        if (gan_permute(&t, base, nd, inv) != GAN_OK) abort();
    } else if (nd >= 1 && u < 0.7) {   // narrowed in every dim
        int64_t bsize[GAN_MAX_DIMS];
        for (int i = 0; i < nd; i++) bsize[i] = size[i] + (int64_t)(tu_rand01(s) * 3);
        base = tu_rand(dt, nd, bsize, *s += 7, -4, 4);
        gan_tensor *v = gan_tensor_retain(base);
        for (int i = 0; i < nd; i++) {
            gan_tensor *w;
            if (gan_narrow(&w, v, i, bsize[i] - size[i], size[i]) != GAN_OK) abort();
            gan_tensor_release(v);
            v = w;
        }
        t = v;
    } else if (nd >= 1 && u < 0.85) {   // expanded from size 1 where possible
        int64_t bsize[GAN_MAX_DIMS];
        for (int i = 0; i < nd; i++) bsize[i] = tu_rand01(s) < 0.5 ? 1 : size[i];
        base = tu_rand(dt, nd, bsize, *s += 7, -4, 4);
        if (gan_expand(&t, base, nd, size) != GAN_OK) abort();
    } else {
        return tu_rand(dt, nd, size, *s += 7, -4, 4);
    }
    gan_tensor_release(base);
    return t;
}

static bool has_stride0(const gan_tensor *t) {
    for (int d = 0; d < t->ndim; d++) if (t->stride[d] == 0 && t->size[d] > 1) return true;
    return false;
}

// Random broadcasting shapes and strides through the iterator (dim merging, parallel
// split), for add/mul/maximum and the in-place form.
static void test_elementwise_fuzz(void) {
    uint64_t s = 77;
    static const gan_binop ops[] = {GAN_ADD, GAN_MUL, GAN_MAXIMUM, GAN_GE};
    for (int it = 0; it < 300; it++) {
        gan_dtype dt = (gan_dtype)(it % 3);
        int nd = (int)(tu_rand01(&s) * 5);   // 0..4
        int64_t out[GAN_MAX_DIMS], sa[GAN_MAX_DIMS], sb[GAN_MAX_DIMS];
        bool big = it % 25 == 0;
        for (int i = 0; i < nd; i++) out[i] = 1 + (int64_t)(tu_rand01(&s) * (big ? 60 : 5));
        int na = nd - (int)(tu_rand01(&s) * (nd + 1) * 0.5), nb = nd - (int)(tu_rand01(&s) * (nd + 1) * 0.5);
        for (int i = 0; i < na; i++) sa[i] = tu_rand01(&s) < 0.25 ? 1 : out[nd - na + i];
        for (int i = 0; i < nb; i++) sb[i] = tu_rand01(&s) < 0.25 ? 1 : out[nd - nb + i];
        gan_tensor *a = scrambled(dt, na, sa, &s), *b = scrambled(dt, nb, sb, &s);
        gan_binop op = ops[it % 4];
        gan_tensor *o = NULL;
        CHECK_OK(gan_binary(&o, op, a, b));
        if (o) {
            char what[64];
            snprintf(what, sizeof what, "fuzz %d", it);
            CHECK_MSG(binary_mismatches(o, op, a, b, dt, what) == 0, "fuzz case %d (%s, %s)", it,
                      gan_binop_name(op), gan_dtype_name(dt));
            if (gan_same_shape(o, a) && !has_stride0(a)) {
                CHECK_OK(gan_binary_(a, op, b));
                double *want = tu_values(o);
                CHECK_VALUES(a, want, 0, 0, "fuzz in place");
                free(want);
            }
            gan_tensor_release(o);
        }
        gan_tensor_release(a);
        gan_tensor_release(b);
    }
}

static void test_binary_scalar(void) {
    gan_tensor *x, *o, *t;
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT32, 2, I64(2, 3), (double[]){1, 2, 3, 4, 5, 6}));
    CHECK_OK(gan_transpose(&t, x, 0, 1));
    CHECK_OK(gan_binary_scalar(&o, GAN_SUB, t, 10, false));
    CHECK_SHAPE(o, 2, 3, 2);
    CHECK_EQ_LIST(o, -9, -6, -8, -5, -7, -4);
    gan_tensor_release(o);
    CHECK_OK(gan_binary_scalar(&o, GAN_SUB, t, 10, true));      // 10 - t
    CHECK_EQ_LIST(o, 9, 6, 8, 5, 7, 4);
    gan_tensor_release(o);
    CHECK_OK(gan_binary_scalar(&o, GAN_DIV, t, 2, true));        // 2 / t
    CHECK_EQ_LIST(o, 2, 0.5, 1, 0.4f, 2 / 3.0f, 1 / 3.0f);
    gan_tensor_release(o);
    CHECK_OK(gan_binary_scalar(&o, GAN_POW, x, 2, false));
    CHECK_EQ_LIST(o, 1, 4, 9, 16, 25, 36);
    gan_tensor_release(o);
    CHECK_OK(gan_binary_scalar(&o, GAN_GT, x, 3, false));
    CHECK_EQ_LIST(o, 0, 0, 0, 1, 1, 1);
    gan_tensor_release(o);
    CHECK_OK(gan_binary_scalar_(t, GAN_MUL, 0.5));               // in place through the view
    CHECK_EQ_LIST(x, 0.5, 1, 1.5, 2, 2.5, 3);
    gan_tensor_release(t);
    gan_tensor_release(x);
    CHECK_OK(gan_arange(&x, GAN_INT64, 0, 4, 1));
    CHECK_OK(gan_binary_scalar(&o, GAN_MUL, x, -3, false));
    CHECK(o->dtype == GAN_INT64);
    CHECK_EQ_LIST(o, 0, -3, -6, -9);
    gan_tensor_release(o);
    CHECK_ERR(gan_binary_scalar(&o, GAN_ADD, x, 2.5, false),
              "add: scalar 2.5 is not an integer but the tensor is int64");
    CHECK_ERR(gan_binary_scalar_(x, GAN_DIV, 2), "div: not supported for dtype int64");
    CHECK_ERR(gan_binary_scalar(&o, (gan_binop)40, x, 1, false), "binary: invalid op 40");
    gan_tensor_release(x);
}

static void test_binary_errors(void) {
    gan_tensor *a, *b, *c, *o;
    CHECK_OK(gan_zeros(&a, GAN_FLOAT32, 2, I64(2, 3)));
    CHECK_OK(gan_zeros(&b, GAN_FLOAT32, 1, I64(4)));
    CHECK_OK(gan_zeros(&c, GAN_FLOAT64, 2, I64(2, 3)));
    CHECK_ERR(gan_binary(&o, GAN_MUL, a, b), "mul: shapes (2, 3) and (4,) do not broadcast (dim -1: 3 vs 4)");
    CHECK_ERR(gan_binary(&o, GAN_ADD, a, c), "add: dtypes differ (float32 and float64)");
    CHECK_ERR(gan_binary_(a, GAN_SUB, b), "sub: shapes (2, 3) and (4,)");
    CHECK_ERR(gan_binary(&o, (gan_binop)GAN_NUM_BINOPS, a, a), "binary: invalid op");
    gan_tensor *row, *big;
    CHECK_OK(gan_zeros(&row, GAN_FLOAT32, 1, I64(3)));
    CHECK_OK(gan_zeros(&big, GAN_FLOAT32, 3, I64(5, 2, 3)));
    // In place cannot grow the destination.
    CHECK_ERR(gan_binary_(row, GAN_ADD, a), "add: in-place result of shape (3,) cannot take an operand of shape (2, 3)");
    CHECK_ERR(gan_binary_(a, GAN_ADD, big), "in-place result of shape (2, 3) cannot take an operand of shape (5, 2, 3)");
    gan_tensor_release(big);
    gan_tensor_release(row);
    gan_tensor_release(a);
    gan_tensor_release(b);
    gan_tensor_release(c);
}

static void test_minmax_nan(void) {
    gan_tensor *a, *b, *o;
    CHECK_OK(gan_from_doubles(&a, GAN_FLOAT32, 1, I64(4), (double[]){NAN, 1, 2, NAN}));
    CHECK_OK(gan_from_doubles(&b, GAN_FLOAT32, 1, I64(4), (double[]){0, NAN, 1, NAN}));
    CHECK_OK(gan_binary(&o, GAN_MAXIMUM, a, b));
    CHECK_EQ_LIST(o, NAN, NAN, 2, NAN);
    gan_tensor_release(o);
    CHECK_OK(gan_binary(&o, GAN_MINIMUM, a, b));
    CHECK_EQ_LIST(o, NAN, NAN, 1, NAN);
    gan_tensor_release(o);
    CHECK_OK(gan_binary(&o, GAN_EQ, a, a));            // NaN != NaN
    CHECK_EQ_LIST(o, 0, 1, 1, 0);
    gan_tensor_release(o);
    CHECK_OK(gan_binary(&o, GAN_NE, a, a));
    CHECK_EQ_LIST(o, 1, 0, 0, 1);
    gan_tensor_release(o);
    gan_tensor_release(a);
    gan_tensor_release(b);
}

// In-place ops whose operand shares memory with the destination read the original values.
static void test_inplace_aliasing(void) {
    for (int dt = 0; dt < 2; dt++) {
        const int64_t N = 200;   // 40000 elements: the parallel path
        gan_tensor *a, *at;
        CHECK_OK(gan_empty(&a, (gan_dtype)dt, 2, I64(N, N)));
        tu_fill(a, 5, -10, 10);
        double *orig = tu_values(a), *want = tu_values(a);
        CHECK_OK(gan_transpose(&at, a, 0, 1));
        CHECK_OK(gan_binary_(a, GAN_ADD, at));          // a:add_(a:t())
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < N; j++) want[i * N + j] = orig[i * N + j] + orig[j * N + i];
        if (dt == GAN_FLOAT32)
            for (int64_t i = 0; i < N * N; i++) want[i] = (double)(float)want[i];
        CHECK_VALUES(a, want, 0, 0, "a:add_(a:t())");
        // a:sub_(a) with the very same tensor.
        CHECK_OK(gan_binary_(a, GAN_SUB, a));
        for (int64_t i = 0; i < N * N; i++) want[i] = 0;
        CHECK_VALUES(a, want, 0, 0, "a:sub_(a)");
        // Overlapping shifted rows: rows 1.. += rows ..N-2 (a naive loop reads rows it
        // already wrote).
        tu_fill(a, 6, -10, 10);
        free(orig);
        orig = tu_values(a);
        gan_tensor *lo, *hi;
        CHECK_OK(gan_narrow(&lo, a, 0, 0, N - 1));
        CHECK_OK(gan_narrow(&hi, a, 0, 1, N - 1));
        CHECK_OK(gan_binary_(hi, GAN_MUL, lo));
        for (int64_t i = 0; i < N * N; i++) want[i] = orig[i];
        for (int64_t i = 1; i < N; i++)
            for (int64_t j = 0; j < N; j++) want[i * N + j] = orig[i * N + j] * orig[(i - 1) * N + j];
        if (dt == GAN_FLOAT32)
            for (int64_t i = 0; i < N * N; i++) want[i] = (double)(float)want[i];
        CHECK_VALUES(a, want, 0, 0, "rows[1:] *= rows[:-1]");
        // copy_ between overlapping shifted views.
        free(orig);
        orig = tu_values(a);
        CHECK_OK(gan_copy_(hi, lo));
        for (int64_t i = 1; i < N; i++)
            for (int64_t j = 0; j < N; j++) want[i * N + j] = orig[(i - 1) * N + j];
        for (int64_t j = 0; j < N; j++) want[j] = orig[j];
        CHECK_VALUES(a, want, 0, 0, "rows[1:] = rows[:-1]");
        // masked_fill_ with a mask that is a's own transpose.
        tu_fill(a, 7, -1, 2);
        CHECK_OK(gan_unary_(a, GAN_FLOOR));            // values -1, 0, 1
        free(orig);
        orig = tu_values(a);
        CHECK_OK(gan_masked_fill_(a, at, 9));
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < N; j++) want[i * N + j] = orig[j * N + i] != 0 ? 9 : orig[i * N + j];
        CHECK_VALUES(a, want, 0, 0, "a:masked_fill_(a:t(), 9)");
        // unary_ on a narrowed view leaves the rest alone.
        free(orig);
        orig = tu_values(a);
        gan_tensor *mid;
        CHECK_OK(gan_narrow(&mid, at, 1, 10, 20));      // columns of at = rows of a
        CHECK_OK(gan_unary_(mid, GAN_NEG));
        for (int64_t i = 0; i < N * N; i++) want[i] = (i / N >= 10 && i / N < 30) ? -orig[i] : orig[i];
        CHECK_VALUES(a, want, 0, 0, "neg_ on a view");
        gan_tensor_release(mid);
        gan_tensor_release(lo);
        gan_tensor_release(hi);
        gan_tensor_release(at);
        gan_tensor_release(a);
        free(orig);
        free(want);
    }
}

static void test_clamp(void) {
    gan_tensor *x, *o, *t;
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT32, 2, I64(2, 3), (double[]){-2, -0.5, 0.5, 1.5, NAN, 3}));
    CHECK_OK(gan_clamp(&o, x, -1, 1));
    CHECK_EQ_LIST(o, -1, -0.5, 0.5, 1, NAN, 1);
    gan_tensor_release(o);
    CHECK_OK(gan_clamp(&o, x, 0, NAN));            // lower bound only
    CHECK_EQ_LIST(o, 0, 0, 0.5, 1.5, NAN, 3);
    gan_tensor_release(o);
    CHECK_OK(gan_clamp(&o, x, NAN, 0));            // upper bound only
    CHECK_EQ_LIST(o, -2, -0.5, 0, 0, NAN, 0);
    gan_tensor_release(o);
    CHECK_OK(gan_clamp(&o, x, NAN, NAN));
    CHECK_EQ_LIST(o, -2, -0.5, 0.5, 1.5, NAN, 3);
    gan_tensor_release(o);
    CHECK_ERR(gan_clamp(&o, x, 2, 1), "clamp: min 2 is greater than max 1");
    CHECK_ERR(gan_clamp_(x, 2, 1), "clamp: min 2 is greater than max 1");
    CHECK_OK(gan_transpose(&t, x, 0, 1));
    CHECK_OK(gan_clamp_(t, -0.25, 0.25));           // in place through a view
    CHECK_EQ_LIST(x, -0.25, -0.25, 0.25, 0.25, NAN, 0.25);
    gan_tensor_release(t);
    gan_tensor_release(x);
    CHECK_OK(gan_arange(&x, GAN_INT64, -3, 4, 1));
    CHECK_OK(gan_clamp(&o, x, -1, 2));
    CHECK(o->dtype == GAN_INT64);
    CHECK_EQ_LIST(o, -1, -1, -1, 0, 1, 2, 2);
    gan_tensor_release(o);
    gan_tensor_release(x);
    // A large strided input (parallel path).
    gan_tensor *big, *bt;
    CHECK_OK(gan_empty(&big, GAN_FLOAT64, 2, I64(300, 200)));
    tu_fill(big, 3, -2, 2);
    CHECK_OK(gan_transpose(&bt, big, 0, 1));
    CHECK_OK(gan_clamp(&o, bt, -1, 1));
    double *v = tu_values(bt);
    for (int64_t i = 0; i < 60000; i++) v[i] = v[i] < -1 ? -1 : v[i] > 1 ? 1 : v[i];
    CHECK_VALUES(o, v, 0, 0, "clamp large");
    free(v);
    gan_tensor_release(o);
    gan_tensor_release(bt);
    gan_tensor_release(big);
}

static void test_where_masked_fill(void) {
    gan_tensor *c, *a, *b, *o;
    CHECK_OK(gan_from_doubles(&c, GAN_INT64, 2, I64(3, 1), (double[]){1, 0, 2}));
    CHECK_OK(gan_from_doubles(&a, GAN_FLOAT32, 2, I64(1, 4), (double[]){1, 2, 3, 4}));
    CHECK_OK(gan_full(&b, GAN_FLOAT32, 0, NULL, -1));
    CHECK_OK(gan_where(&o, c, a, b));
    CHECK_SHAPE(o, 2, 3, 4);
    CHECK_EQ_LIST(o, 1, 2, 3, 4, -1, -1, -1, -1, 1, 2, 3, 4);
    gan_tensor_release(o);
    // Non-contiguous condition (a transposed float mask) and operands.
    gan_tensor *cf, *ct, *a2, *at;
    CHECK_OK(gan_from_doubles(&cf, GAN_FLOAT64, 2, I64(2, 3), (double[]){0, 1, 0, 1, 0, NAN}));
    CHECK_OK(gan_transpose(&ct, cf, 0, 1));           // (3, 2)
    CHECK_OK(gan_from_doubles(&a2, GAN_FLOAT32, 2, I64(2, 3), (double[]){10, 20, 30, 40, 50, 60}));
    CHECK_OK(gan_transpose(&at, a2, 0, 1));           // (3, 2)
    CHECK_OK(gan_where(&o, ct, at, b));
    CHECK_EQ_LIST(o, -1, 40, 20, -1, -1, 60);          // NaN counts as true
    gan_tensor_release(o);
    gan_tensor *bd, *big;
    CHECK_OK(gan_full(&bd, GAN_FLOAT64, 0, NULL, 0));
    CHECK_ERR(gan_where(&o, c, a, bd), "where: dtypes differ (float32 and float64)");
    CHECK_OK(gan_zeros(&big, GAN_FLOAT32, 2, I64(2, 4)));
    CHECK_ERR(gan_where(&o, c, a, big), "where: shapes");
    CHECK_ERR(gan_where(&o, c, a, big), "do not broadcast");
    // The message names the two shapes that conflict, even when cond is fine.
    gan_tensor *c11, *a34;
    CHECK_OK(gan_zeros(&c11, GAN_INT64, 2, I64(1, 1)));
    CHECK_OK(gan_zeros(&a34, GAN_FLOAT32, 2, I64(3, 4)));
    CHECK_ERR(gan_where(&o, c11, a34, big), "where: shapes (3, 4) and (2, 4) do not broadcast (dim -2: 3 vs 2)");
    gan_tensor_release(a34);
    gan_tensor_release(c11);
    gan_tensor_release(bd);

    // masked_fill: mask broadcasts to a.
    gan_tensor *x, *m;
    CHECK_OK(gan_arange(&x, GAN_FLOAT64, 0, 12, 1));
    gan_tensor *x2;
    CHECK_OK(gan_view(&x2, x, 2, I64(3, 4)));
    CHECK_OK(gan_from_doubles(&m, GAN_INT64, 2, I64(1, 4), (double[]){1, 0, 0, 1}));
    CHECK_OK(gan_masked_fill(&o, x2, m, -5));
    CHECK_EQ_LIST(o, -5, 1, 2, -5, -5, 5, 6, -5, -5, 9, 10, -5);
    CHECK_EQ_LIST(x2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);   // untouched
    gan_tensor_release(o);
    gan_tensor *xt, *mt;
    CHECK_OK(gan_transpose(&xt, x2, 0, 1));             // (4, 3)
    CHECK_OK(gan_transpose(&mt, m, 0, 1));              // (4, 1)
    CHECK_OK(gan_masked_fill_(xt, mt, 100));             // rows 0 and 3 of xt = columns of x2
    CHECK_EQ_LIST(x2, 100, 1, 2, 100, 100, 5, 6, 100, 100, 9, 10, 100);
    gan_tensor *m3;
    CHECK_OK(gan_zeros(&m3, GAN_INT64, 3, I64(2, 3, 4)));
    CHECK_ERR(gan_masked_fill_(x2, m3, 0), "masked_fill: in-place result of shape (3, 4) cannot take an operand of shape (2, 3, 4)");
    CHECK_ERR(gan_masked_fill(&o, x2, m3, 0), "masked_fill: in-place result of shape (3, 4)");
    gan_tensor_release(m3);
    gan_tensor *xi;
    CHECK_OK(gan_zeros(&xi, GAN_INT64, 2, I64(3, 4)));
    CHECK_ERR(gan_masked_fill_(xi, m, 0.5), "masked_fill: scalar 0.5 is not an integer");
    CHECK_OK(gan_masked_fill_(xi, m, 7));
    CHECK_EQ_LIST(xi, 7, 0, 0, 7, 7, 0, 0, 7, 7, 0, 0, 7);
    gan_tensor_release(xi);
    gan_tensor_release(mt);
    gan_tensor_release(xt);
    gan_tensor_release(m);
    gan_tensor_release(x2);
    gan_tensor_release(x);
    gan_tensor_release(big);
    gan_tensor_release(at);
    gan_tensor_release(a2);
    gan_tensor_release(ct);
    gan_tensor_release(cf);
    gan_tensor_release(b);
    gan_tensor_release(a);
    gan_tensor_release(c);
}

// ---- reductions

enum { R_SUM, R_MEAN, R_PROD, R_MAX, R_MIN, R_VAR, R_VAR_BIASED, R_STD, R_NORM1, R_NORM2,
       R_NORM3, R_NORMINF, R_NORM0, R_COUNT };
static const char *rname[R_COUNT] = {"sum", "mean", "prod", "max", "min", "var", "var(biased)",
                                     "std", "norm1", "norm2", "norm3", "norminf", "norm0"};

static double ref_row(int kind, const double *x, int64_t n) {
    double s = 0, p = 1, m = n ? x[0] : NAN;
    bool nan = false;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        p *= x[i];
        nan |= isnan(x[i]);
        if (kind == R_MAX && x[i] > m) m = x[i];
        if (kind == R_MIN && x[i] < m) m = x[i];
    }
    double mean = s / (double)n, ss = 0, acc = 0;
    for (int64_t i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    switch (kind) {
    case R_SUM: return s;
    case R_MEAN: return mean;
    case R_PROD: return p;
    case R_MAX: case R_MIN: return nan ? NAN : m;
    case R_VAR: return ss / (double)(n - 1);
    case R_VAR_BIASED: return ss / (double)n;
    case R_STD: return sqrt(ss / (double)(n - 1));
    case R_NORM1: for (int64_t i = 0; i < n; i++) acc += fabs(x[i]); return acc;
    case R_NORM2: for (int64_t i = 0; i < n; i++) acc += x[i] * x[i]; return sqrt(acc);
    case R_NORM3: for (int64_t i = 0; i < n; i++) acc += pow(fabs(x[i]), 3); return cbrt(acc);
    case R_NORMINF: for (int64_t i = 0; i < n; i++) acc = fmax(acc, fabs(x[i])); return acc;
    case R_NORM0: for (int64_t i = 0; i < n; i++) acc += x[i] != 0; return acc;
    }
    return NAN;
}

static int run_reduction(gan_tensor **o, int kind, const gan_tensor *a, int nd, const int *dims,
                         bool keepdim) {
    switch (kind) {
    case R_SUM: return gan_reduce(o, GAN_SUM, a, nd, dims, keepdim);
    case R_MEAN: return gan_reduce(o, GAN_MEAN, a, nd, dims, keepdim);
    case R_PROD: return gan_reduce(o, GAN_PROD, a, nd, dims, keepdim);
    case R_MAX: return gan_reduce(o, GAN_MAX, a, nd, dims, keepdim);
    case R_MIN: return gan_reduce(o, GAN_MIN, a, nd, dims, keepdim);
    case R_VAR: return gan_var(o, a, nd, dims, true, keepdim);
    case R_VAR_BIASED: return gan_var(o, a, nd, dims, false, keepdim);
    case R_STD: return gan_std(o, a, nd, dims, true, keepdim);
    case R_NORM1: return gan_norm(o, a, 1, nd, dims, keepdim);
    case R_NORM2: return gan_norm(o, a, 2, nd, dims, keepdim);
    case R_NORM3: return gan_norm(o, a, 3, nd, dims, keepdim);
    case R_NORMINF: return gan_norm(o, a, INFINITY, nd, dims, keepdim);
    case R_NORM0: return gan_norm(o, a, 0, nd, dims, keepdim);
    }
    return GAN_ERR;
}

// Reference reduction of a over the dims in mask: rows[o] gets the values of output o.
// Fills want (row-major over kept dims) and the expected output shape.
static void ref_reduce(double *want, int *out_nd, int64_t *out_size, int kind, const gan_tensor *a,
                       const bool *mask, bool keepdim) {
    int64_t O = 1, R = 1;
    int nd = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (!mask[d]) { O *= a->size[d]; out_size[nd++] = a->size[d]; }
        else { R *= a->size[d]; if (keepdim) out_size[nd++] = 1; }
    }
    *out_nd = nd;
    double *rows = malloc(sizeof(double) * (size_t)(O * R + 1));
    int64_t *cnt = calloc((size_t)O + 1, sizeof(int64_t));
    int64_t idx[GAN_MAX_DIMS] = {0};
    do {
        int64_t o = 0;
        for (int d = 0; d < a->ndim; d++) if (!mask[d]) o = o * a->size[d] + idx[d];
        rows[o * R + cnt[o]++] = gan_get(a, idx);
    } while (tu_next(idx, a->ndim, a->size));
    for (int64_t o = 0; o < O; o++) want[o] = ref_row(kind, rows + o * R, R);
    free(rows);
    free(cnt);
}

static void test_reductions(void) {
    static const struct { int nd; int dims[3]; } dimsets[] = {
        {0, {0}}, {1, {1}}, {1, {-1}}, {1, {0}}, {2, {0, 2}}, {2, {2, 1}}, {3, {0, 1, 2}},
    };
    for (int dt = 0; dt < 2; dt++) {
        gan_tensor *base, *a;
        CHECK_OK(gan_empty(&base, (gan_dtype)dt, 3, I64(5, 3, 4)));
        tu_fill(base, 11, -1.5, 1.5);
        CHECK_OK(gan_permute(&a, base, 3, INTS(1, 2, 0)));   // (3, 4, 5), non-contiguous
        for (size_t s = 0; s < sizeof dimsets / sizeof dimsets[0]; s++) {
            bool mask[GAN_MAX_DIMS] = {false};
            if (dimsets[s].nd == 0) for (int d = 0; d < 3; d++) mask[d] = true;
            for (int i = 0; i < dimsets[s].nd; i++) mask[(dimsets[s].dims[i] + 3) % 3] = true;
            for (int keep = 0; keep < 2; keep++) {
                for (int kind = 0; kind < R_COUNT; kind++) {
                    gan_tensor *o = NULL;
                    CHECK_OK(run_reduction(&o, kind, a, dimsets[s].nd, dimsets[s].dims, keep));
                    if (!o) continue;
                    double want[64];
                    int nd;
                    int64_t size[GAN_MAX_DIMS];
                    ref_reduce(want, &nd, size, kind, a, mask, keep);
                    CHECK(tu_shape_is(o, nd, size) && o->dtype == a->dtype);
                    char what[96];
                    snprintf(what, sizeof what, "%s %s dimset %zu keepdim %d", rname[kind],
                             gan_dtype_name((gan_dtype)dt), s, keep);
                    CHECK_VALUES(o, want, dt == GAN_FLOAT32 ? 2e-6 : 1e-12,
                                 dt == GAN_FLOAT32 ? 1e-6 : 1e-13, what);
                    gan_tensor_release(o);
                }
            }
        }
        gan_tensor_release(a);
        gan_tensor_release(base);
    }
    // int64: sum, prod, max, min exactly; the rest refuse.
    gan_tensor *x, *o, *t;
    CHECK_OK(gan_from_doubles(&x, GAN_INT64, 2, I64(2, 3), (double[]){1, -2, 3, 4, 5, -6}));
    CHECK_OK(gan_transpose(&t, x, 0, 1));
    CHECK_OK(gan_reduce(&o, GAN_SUM, t, 1, INTS(1), false));
    CHECK(o->dtype == GAN_INT64);
    CHECK_EQ_LIST(o, 5, 3, -3);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_PROD, x, 0, NULL, false));
    CHECK_EQ_LIST(o, 720);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_MAX, t, 1, INTS(0), true));
    CHECK_SHAPE(o, 2, 1, 2);
    CHECK_EQ_LIST(o, 3, 5);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_MIN, x, 0, NULL, true));
    CHECK_SHAPE(o, 2, 1, 1);
    CHECK_EQ_LIST(o, -6);
    gan_tensor_release(o);
    CHECK_ERR(gan_reduce(&o, GAN_MEAN, x, 0, NULL, false), "mean: not supported for dtype int64");
    CHECK_ERR(gan_var(&o, x, 0, NULL, true, false), "var: not supported for dtype int64");
    CHECK_ERR(gan_std(&o, x, 0, NULL, true, false), "std: not supported for dtype int64");
    CHECK_ERR(gan_norm(&o, x, 2, 0, NULL, false), "norm: not supported for dtype int64");
    gan_tensor_release(t);
    gan_tensor_release(x);
    // 0-d input.
    CHECK_OK(gan_full(&x, GAN_FLOAT64, 0, NULL, 4));
    CHECK_OK(gan_reduce(&o, GAN_SUM, x, 0, NULL, false));
    CHECK(o->ndim == 0 && gan_get(o, NULL) == 4);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_SUM, x, 1, INTS(0), true));
    CHECK(o->ndim == 0 && gan_get(o, NULL) == 4);
    gan_tensor_release(o);
    gan_tensor_release(x);
}

static void test_reduction_special(void) {
    gan_tensor *x, *o;
    // NaN propagates through sum, max and min.
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT32, 2, I64(2, 3), (double[]){1, NAN, 3, 4, 5, 6}));
    CHECK_OK(gan_reduce(&o, GAN_MAX, x, 1, INTS(1), false));
    CHECK_EQ_LIST(o, NAN, 6);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_MIN, x, 0, NULL, false));
    CHECK_EQ_LIST(o, NAN);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_SUM, x, 1, INTS(0), false));
    CHECK_EQ_LIST(o, 5, NAN, 9);
    gan_tensor_release(o);
    CHECK_OK(gan_norm(&o, x, INFINITY, 1, INTS(1), false));
    CHECK_EQ_LIST(o, NAN, 6);
    gan_tensor_release(o);
    gan_tensor_release(x);
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT64, 1, I64(3), (double[]){NAN, 1, 2}));   // NaN first
    CHECK_OK(gan_reduce(&o, GAN_MAX, x, 0, NULL, false));
    CHECK_EQ_LIST(o, NAN);
    gan_tensor_release(o);
    gan_tensor_release(x);
    // Empty reductions: sum 0, prod 1, mean NaN; max/min have no identity.
    CHECK_OK(gan_zeros(&x, GAN_FLOAT32, 2, I64(2, 0)));
    CHECK_OK(gan_reduce(&o, GAN_SUM, x, 1, INTS(1), false));
    CHECK_EQ_LIST(o, 0, 0);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_PROD, x, 1, INTS(1), false));
    CHECK_EQ_LIST(o, 1, 1);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_MEAN, x, 0, NULL, false));
    CHECK_EQ_LIST(o, NAN);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_SUM, x, 1, INTS(0), false));    // reduce the non-empty dim
    CHECK_SHAPE(o, 1, 0);
    gan_tensor_release(o);
    CHECK_ERR(gan_reduce(&o, GAN_MAX, x, 1, INTS(1), false),
              "max: cannot reduce over an empty dimension (no identity)");
    gan_tensor *xi;
    CHECK_OK(gan_zeros(&xi, GAN_INT64, 2, I64(0, 0)));
    CHECK_OK(gan_reduce(&o, GAN_SUM, xi, 0, NULL, false));
    CHECK_EQ_LIST(o, 0);
    gan_tensor_release(o);
    CHECK_OK(gan_reduce(&o, GAN_MAX, xi, 1, INTS(0), false));   // no output elements
    CHECK_SHAPE(o, 1, 0);
    gan_tensor_release(o);
    gan_tensor_release(xi);
    // Errors name the op.
    CHECK_ERR(gan_reduce(&o, GAN_SUM, x, 1, INTS(2), false), "sum: dim 2 out of range for a 2-d tensor");
    CHECK_ERR(gan_reduce(&o, GAN_PROD, x, 2, INTS(1, -1), false), "prod: dim -1 given twice");
    CHECK_ERR(gan_var(&o, x, 1, INTS(-3), true, false), "var: dim -3 out of range");
    CHECK_ERR(gan_norm(&o, x, -1, 0, NULL, false), "norm: p must be >= 0, got -1");
    CHECK_ERR(gan_norm(&o, x, NAN, 0, NULL, false), "norm: p must be >= 0");
    CHECK_ERR(gan_reduce(&o, (gan_redop)9, x, 0, NULL, false), "reduce: invalid op 9");
    gan_tensor_release(x);
    // var with one element: unbiased is NaN, biased 0.
    CHECK_OK(gan_full(&x, GAN_FLOAT64, 1, I64(1), 3));
    CHECK_OK(gan_var(&o, x, 0, NULL, true, false));
    CHECK_EQ_LIST(o, NAN);
    gan_tensor_release(o);
    CHECK_OK(gan_var(&o, x, 0, NULL, false, false));
    CHECK_EQ_LIST(o, 0);
    gan_tensor_release(o);
    gan_tensor_release(x);
}

// Large sums: accuracy, and the same bits with 1 and 2 threads.
static void test_reduction_large(void) {
    const int64_t R = 16, C = 65536;
    gan_tensor *x, *o1, *o2, *a1, *a2;
    CHECK_OK(gan_empty(&x, GAN_FLOAT32, 2, I64(R, C)));
    tu_fill(x, 9, -1, 1);
    double want[16], total = 0;
    for (int64_t r = 0; r < R; r++) {
        want[r] = 0;
        for (int64_t c = 0; c < C; c++) want[r] += gan_get(x, I64(r, c));
        total += want[r];
    }
    int saved = gan_get_num_threads();
    gan_set_num_threads(1);
    CHECK_OK(gan_reduce(&o1, GAN_SUM, x, 1, INTS(1), false));
    CHECK_OK(gan_reduce(&a1, GAN_SUM, x, 0, NULL, false));
    gan_set_num_threads(2);
    CHECK_OK(gan_reduce(&o2, GAN_SUM, x, 1, INTS(1), false));
    CHECK_OK(gan_reduce(&a2, GAN_SUM, x, 0, NULL, false));
    gan_set_num_threads(saved);
    CHECK_VALUES(o1, want, 1e-6, 1e-4, "row sums");
    CHECK(memcmp(gan_data(o1), gan_data(o2), sizeof(float) * (size_t)R) == 0);
    CHECK_CLOSE(gan_get(a1, NULL), total, 1e-3);
    CHECK(memcmp(gan_data(a1), gan_data(a2), sizeof(float)) == 0);
    gan_tensor_release(o1);
    gan_tensor_release(o2);
    gan_tensor_release(a1);
    gan_tensor_release(a2);
    // Sum of 0..2^20-1 in float32 input, exact with double accumulation.
    gan_tensor *r;
    CHECK_OK(gan_arange(&r, GAN_FLOAT64, 0, 1 << 20, 1));
    CHECK_OK(gan_reduce(&o1, GAN_SUM, r, 0, NULL, false));
    CHECK(gan_get(o1, NULL) == (double)(1 << 20) * ((1 << 20) - 1) / 2);
    gan_tensor_release(o1);
    CHECK_OK(gan_reduce(&o1, GAN_MEAN, r, 0, NULL, false));
    CHECK(gan_get(o1, NULL) == ((1 << 20) - 1) / 2.0);
    gan_tensor_release(o1);
    gan_tensor_release(r);
    gan_tensor_release(x);
}

static void test_max_dim_argmax(void) {
    gan_tensor *x, *v, *ix, *t;
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT32, 2, I64(3, 4),
                              (double[]){1, 3, 3, 2, 5, -1, 5, -1, 0, 0, 0, 0}));
    CHECK_OK(gan_max_dim(&v, &ix, x, 1, false, false));
    CHECK(ix->dtype == GAN_INT64 && v->dtype == GAN_FLOAT32);
    CHECK_SHAPE(v, 1, 3);
    CHECK_EQ_LIST(v, 3, 5, 0);
    CHECK_EQ_LIST(ix, 1, 0, 0);                         // first occurrence of ties
    gan_tensor_release(v);
    gan_tensor_release(ix);
    CHECK_OK(gan_max_dim(&v, &ix, x, -1, true, true));  // min, keepdim
    CHECK_SHAPE(v, 2, 3, 1);
    CHECK_SHAPE(ix, 2, 3, 1);
    CHECK_EQ_LIST(v, 1, -1, 0);
    CHECK_EQ_LIST(ix, 0, 1, 0);
    gan_tensor_release(v);
    gan_tensor_release(ix);
    CHECK_OK(gan_transpose(&t, x, 0, 1));               // (4, 3): along dim 1 of t
    CHECK_OK(gan_max_dim(&v, &ix, t, 1, false, false));
    CHECK_EQ_LIST(v, 5, 3, 5, 2);
    CHECK_EQ_LIST(ix, 1, 0, 1, 0);
    gan_tensor_release(v);
    gan_tensor_release(ix);
    CHECK_OK(gan_argmax(&ix, t, 0, true, false, false)); // over all: flat index into t
    CHECK(ix->ndim == 0);
    CHECK_EQ_LIST(ix, 1);                               // t[0][1] = 5 comes first
    gan_tensor_release(ix);
    CHECK_OK(gan_argmax(&ix, t, 0, true, false, true));  // argmin over all
    CHECK_EQ_LIST(ix, 4);                               // t[1][1] = -1
    gan_tensor_release(ix);
    CHECK_OK(gan_argmax(&ix, x, 0, false, true, false));
    CHECK_SHAPE(ix, 2, 1, 4);
    CHECK_EQ_LIST(ix, 1, 0, 1, 0);
    gan_tensor_release(ix);
    gan_tensor_release(t);
    gan_tensor_release(x);
    // NaN wins and reports its position, for max and min.
    CHECK_OK(gan_from_doubles(&x, GAN_FLOAT64, 2, I64(2, 4), (double[]){1, NAN, 9, NAN, NAN, 2, 3, 4}));
    CHECK_OK(gan_max_dim(&v, &ix, x, 1, false, false));
    CHECK_EQ_LIST(v, NAN, NAN);
    CHECK_EQ_LIST(ix, 1, 0);
    gan_tensor_release(v);
    gan_tensor_release(ix);
    CHECK_OK(gan_max_dim(&v, &ix, x, 1, false, true));
    CHECK_EQ_LIST(ix, 1, 0);
    gan_tensor_release(v);
    gan_tensor_release(ix);
    CHECK_OK(gan_argmax(&ix, x, 0, true, false, false));
    CHECK_EQ_LIST(ix, 1);
    gan_tensor_release(ix);
    gan_tensor_release(x);
    // int64 and a large strided input on the parallel path.
    gan_tensor *big, *bt;
    CHECK_OK(gan_empty(&big, GAN_INT64, 2, I64(300, 400)));
    tu_fill(big, 4, -1000, 1000);
    CHECK_OK(gan_transpose(&bt, big, 0, 1));            // (400, 300)
    CHECK_OK(gan_max_dim(&v, &ix, bt, 1, false, false));
    bool ok = true;
    for (int64_t i = 0; i < 400; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < 300; j++)
            if (gan_get(bt, I64(i, j)) > gan_get(bt, I64(i, best))) best = j;
        ok &= gan_get(ix, &i) == (double)best && gan_get(v, &i) == gan_get(bt, I64(i, best));
    }
    CHECK(ok);
    gan_tensor_release(v);
    gan_tensor_release(ix);
    gan_tensor_release(bt);
    gan_tensor_release(big);
    // Errors.
    gan_tensor *s, *e;
    CHECK_OK(gan_full(&s, GAN_FLOAT32, 0, NULL, 1));
    CHECK_ERR(gan_max_dim(&v, &ix, s, 0, false, false), "max: needs at least 1 dim");
    CHECK_ERR(gan_max_dim(&v, &ix, s, 0, false, true), "min: needs at least 1 dim");
    CHECK_ERR(gan_argmax(&ix, s, 0, false, false, false), "argmax: needs at least 1 dim");
    CHECK_OK(gan_argmax(&ix, s, 0, true, false, false));   // all dims of a 0-d: index 0
    CHECK_EQ_LIST(ix, 0);
    gan_tensor_release(ix);
    CHECK_OK(gan_zeros(&e, GAN_FLOAT32, 2, I64(3, 0)));
    CHECK_ERR(gan_max_dim(&v, &ix, e, 1, false, false), "max: cannot reduce over an empty dimension");
    CHECK_ERR(gan_argmax(&ix, e, 0, true, false, true), "argmin: cannot reduce over an empty dimension");
    CHECK_ERR(gan_max_dim(&v, &ix, e, 2, false, false), "max: dim 2 out of range for a 2-d tensor");
    gan_tensor_release(e);
    gan_tensor_release(s);
}

// ---- matmul

// Naive matmul of the logical shapes (1-D promotion, broadcast batch dims); returns the
// expected shape in nd/size, values in want, and per-element sums of |a||b| in mag.
static void ref_matmul(double *want, double *mag, int *nd_out, int64_t *size_out,
                       const gan_tensor *a, const gan_tensor *b) {
    bool av = a->ndim == 1, bv = b->ndim == 1;
    int an = av ? 0 : a->ndim - 2, bn = bv ? 0 : b->ndim - 2;
    int64_t n = av ? 1 : a->size[a->ndim - 2], k = a->size[a->ndim - 1];
    int64_t m = bv ? 1 : b->size[b->ndim - 1];
    int bnd = an > bn ? an : bn;
    int64_t bsize[GAN_MAX_DIMS];
    for (int d = 0; d < bnd; d++) {
        int ia = d - (bnd - an), ib = d - (bnd - bn);
        int64_t sa = ia >= 0 ? a->size[ia] : 1, sb = ib >= 0 ? b->size[ib] : 1;
        bsize[d] = sa == 1 ? sb : sa;
    }
    int nd = 0;
    for (int d = 0; d < bnd; d++) size_out[nd++] = bsize[d];
    if (!av) size_out[nd++] = n;
    if (!bv) size_out[nd++] = m;
    *nd_out = nd;
    int64_t nb = 1;
    for (int d = 0; d < bnd; d++) nb *= bsize[d];
    int64_t o = 0;
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t bidx[GAN_MAX_DIMS], rem = bi;
        for (int d = bnd - 1; d >= 0; d--) { bidx[d] = rem % bsize[d]; rem /= bsize[d]; }
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = 0; j < m; j++) {
                double s = 0, g = 0;
                for (int64_t kk = 0; kk < k; kk++) {
                    int64_t ia[GAN_MAX_DIMS], ib[GAN_MAX_DIMS];
                    for (int d = 0; d < an; d++) ia[d] = a->size[d] == 1 ? 0 : bidx[bnd - an + d];
                    for (int d = 0; d < bn; d++) ib[d] = b->size[d] == 1 ? 0 : bidx[bnd - bn + d];
                    if (av) ia[0] = kk; else { ia[an] = i; ia[an + 1] = kk; }
                    if (bv) ib[0] = kk; else { ib[bn] = kk; ib[bn + 1] = j; }
                    double x = gan_get(a, ia), y = gan_get(b, ib);
                    s += x * y;
                    g += fabs(x * y);
                }
                want[o] = s;
                mag[o] = g;
                o++;
            }
        }
    }
}

static void check_matmul(const gan_tensor *a, const gan_tensor *b, const char *what) {
    gan_tensor *o = NULL;
    CHECK_OK(gan_matmul(&o, a, b));
    if (!o) { fprintf(stderr, "    case %s\n", what); return; }
    int nd;
    int64_t size[GAN_MAX_DIMS];
    // Room for the result: (batch dims of a) x (batch dims of b) x n x m bounds its size.
    int64_t cap = 1;
    for (int d = 0; d < a->ndim - 1; d++) cap *= a->size[d] > 0 ? a->size[d] : 1;
    for (int d = 0; d < b->ndim; d++)
        if (d != b->ndim - 2 || b->ndim == 1) cap *= b->size[d] > 0 ? b->size[d] : 1;
    double *want = malloc(sizeof(double) * (size_t)cap), *mag = malloc(sizeof(double) * (size_t)cap);
    ref_matmul(want, mag, &nd, size, a, b);
    CHECK_MSG(tu_shape_is(o, nd, size), "matmul %s: wrong result shape", what);
    CHECK(o->dtype == a->dtype);
    if (tu_shape_is(o, nd, size)) {
        int64_t n = gan_numel(o), bad = 0;
        int64_t k = a->size[a->ndim - 1];
        double eps = a->dtype == GAN_FLOAT32 ? FLT_EPSILON : DBL_EPSILON;
        for (int64_t i = 0; i < n; i++) {
            double got = tu_flat(o, i), tol = 2 * (double)(k + 1) * eps * mag[i];
            if (!(fabs(got - want[i]) <= tol)) {
                if (bad++ < 3)
                    fprintf(stderr, "    matmul %s %s: element %lld is %.9g, expected %.9g\n", what,
                            gan_dtype_name(a->dtype), (long long)i, got, want[i]);
            }
        }
        CHECK_MSG(bad == 0, "matmul %s %s", what, gan_dtype_name(a->dtype));
    }
    free(want);
    free(mag);
    gan_tensor_release(o);
}

static gan_tensor *rnd(gan_dtype dt, int ndim, const int64_t *size, uint64_t seed) {
    return tu_rand(dt, ndim, size, seed, -1, 1);
}

static void test_matmul(void) {
    for (int dt = 0; dt < 2; dt++) {
        gan_dtype D = (gan_dtype)dt;
        gan_tensor *a, *b, *base, *base2;
        a = rnd(D, 1, I64(13), 1); b = rnd(D, 1, I64(13), 2);
        check_matmul(a, b, "dot");
        gan_tensor *o;
        CHECK_OK(gan_matmul(&o, a, b));
        CHECK(o->ndim == 0);
        gan_tensor_release(o);
        gan_tensor_release(a); gan_tensor_release(b);
        a = rnd(D, 2, I64(7, 13), 3); b = rnd(D, 1, I64(13), 4);
        check_matmul(a, b, "matrix-vector");
        gan_tensor_release(a); gan_tensor_release(b);
        a = rnd(D, 1, I64(13), 5); b = rnd(D, 2, I64(13, 5), 6);
        check_matmul(a, b, "vector-matrix");
        gan_tensor_release(a); gan_tensor_release(b);
        a = rnd(D, 2, I64(7, 13), 7); b = rnd(D, 2, I64(13, 5), 8);
        check_matmul(a, b, "matrix-matrix");
        gan_tensor_release(a); gan_tensor_release(b);
        a = rnd(D, 4, I64(2, 1, 7, 13), 9); b = rnd(D, 3, I64(3, 13, 5), 10);
        check_matmul(a, b, "batched broadcast");
        gan_tensor_release(a); gan_tensor_release(b);
        a = rnd(D, 3, I64(4, 7, 13), 11); b = rnd(D, 1, I64(13), 12);
        check_matmul(a, b, "batched-vector");
        gan_tensor_release(a); gan_tensor_release(b);
        a = rnd(D, 1, I64(13), 13); b = rnd(D, 3, I64(3, 13, 5), 14);
        check_matmul(a, b, "vector-batched");
        gan_tensor_release(a); gan_tensor_release(b);
        // Transposed operands (handed to BLAS as transposes).
        base = rnd(D, 2, I64(13, 7), 15); base2 = rnd(D, 2, I64(5, 13), 16);
        CHECK_OK(gan_transpose(&a, base, 0, 1));
        CHECK_OK(gan_transpose(&b, base2, 0, 1));
        check_matmul(a, b, "transposed both");
        gan_tensor *bt2;
        CHECK_OK(gan_transpose(&bt2, a, 0, 1));             // a^T x ... = base x base^T
        check_matmul(bt2, a, "same storage");
        gan_tensor_release(bt2);
        gan_tensor_release(a); gan_tensor_release(b);
        gan_tensor_release(base); gan_tensor_release(base2);
        // Narrowed operands: leading dimension larger than the row.
        base = rnd(D, 2, I64(7, 20), 17); base2 = rnd(D, 2, I64(13, 9), 18);
        CHECK_OK(gan_narrow(&a, base, 1, 3, 13));
        CHECK_OK(gan_narrow(&b, base2, 1, 2, 5));
        check_matmul(a, b, "narrowed");
        gan_tensor *bcol;
        CHECK_OK(gan_select(&bcol, base2, 1, 4));           // a strided vector
        check_matmul(a, bcol, "strided vector");
        gan_tensor_release(bcol);
        gan_tensor_release(a); gan_tensor_release(b);
        gan_tensor_release(base); gan_tensor_release(base2);
        // Neither dim unit-stride: needs a copy.
        base = rnd(D, 3, I64(7, 13, 2), 19); b = rnd(D, 2, I64(13, 5), 20);
        CHECK_OK(gan_select(&a, base, 2, 1));
        check_matmul(a, b, "copied operand");
        gan_tensor_release(a); gan_tensor_release(b); gan_tensor_release(base);
        // Stride-0 (expanded) operands.
        base = rnd(D, 2, I64(1, 13), 21); b = rnd(D, 2, I64(13, 5), 22);
        CHECK_OK(gan_expand(&a, base, 2, I64(7, 13)));
        check_matmul(a, b, "expanded rows");
        gan_tensor_release(a); gan_tensor_release(b); gan_tensor_release(base);
        base = rnd(D, 1, I64(1), 23); a = rnd(D, 2, I64(7, 13), 24);
        CHECK_OK(gan_expand(&b, base, 1, I64(13)));
        check_matmul(a, b, "expanded vector");
        gan_tensor_release(a); gan_tensor_release(b); gan_tensor_release(base);
        base = rnd(D, 2, I64(1, 1), 25); b = rnd(D, 2, I64(1, 4), 26);
        CHECK_OK(gan_expand(&a, base, 2, I64(3, 1)));
        check_matmul(a, b, "expanded column");
        gan_tensor_release(a); gan_tensor_release(b); gan_tensor_release(base);
        base = rnd(D, 2, I64(13, 1), 27); a = rnd(D, 2, I64(7, 13), 28);
        CHECK_OK(gan_expand(&b, base, 2, I64(13, 6)));
        check_matmul(a, b, "expanded columns of b");
        gan_tensor_release(a); gan_tensor_release(b); gan_tensor_release(base);
        // Batch dims with odd strides: permuted, expanded.
        base = rnd(D, 3, I64(7, 2, 13), 29); b = rnd(D, 3, I64(2, 13, 5), 30);
        CHECK_OK(gan_permute(&a, base, 3, INTS(1, 0, 2)));
        check_matmul(a, b, "permuted batch");
        gan_tensor_release(a); gan_tensor_release(base);
        base = rnd(D, 3, I64(1, 7, 13), 31);
        CHECK_OK(gan_expand(&a, base, 3, I64(2, 7, 13)));
        check_matmul(a, b, "expanded batch");
        gan_tensor_release(a); gan_tensor_release(b); gan_tensor_release(base);
        // Many small products (parallel over batches) and one larger one.
        a = rnd(D, 3, I64(16, 12, 10), 32); b = rnd(D, 3, I64(16, 10, 9), 33);
        check_matmul(a, b, "many batches");
        gan_tensor_release(a); gan_tensor_release(b);
        a = rnd(D, 2, I64(120, 200), 34); b = rnd(D, 2, I64(200, 90), 35);
        check_matmul(a, b, "larger");
        gan_tensor_release(a); gan_tensor_release(b);
        // Empty dims.
        a = rnd(D, 2, I64(3, 0), 36); b = rnd(D, 2, I64(0, 4), 37);
        CHECK_OK(gan_matmul(&o, a, b));
        CHECK_SHAPE(o, 2, 3, 4);
        CHECK_EQ_LIST(o, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        gan_tensor_release(o);
        gan_tensor_release(a); gan_tensor_release(b);
        a = rnd(D, 2, I64(0, 5), 38); b = rnd(D, 2, I64(5, 3), 39);
        CHECK_OK(gan_matmul(&o, a, b));
        CHECK_SHAPE(o, 2, 0, 3);
        gan_tensor_release(o);
        gan_tensor_release(a); gan_tensor_release(b);
    }
}

static void test_matmul_errors(void) {
    gan_tensor *a, *b, *c, *i, *s, *o;
    CHECK_OK(gan_zeros(&a, GAN_FLOAT32, 2, I64(3, 4)));
    CHECK_OK(gan_zeros(&b, GAN_FLOAT32, 2, I64(5, 6)));
    CHECK_OK(gan_zeros(&c, GAN_FLOAT64, 2, I64(4, 2)));
    CHECK_OK(gan_zeros(&i, GAN_INT64, 2, I64(4, 2)));
    CHECK_OK(gan_zeros(&s, GAN_FLOAT32, 0, NULL));
    CHECK_ERR(gan_matmul(&o, a, b), "matmul: shapes (3, 4) and (5, 6) are not aligned (4 != 5)");
    CHECK_ERR(gan_matmul(&o, a, c), "matmul: dtypes differ (float32 and float64)");
    CHECK_ERR(gan_matmul(&o, i, i), "matmul: not supported for dtype int64");
    CHECK_ERR(gan_matmul(&o, s, a), "matmul: both operands need at least 1 dim, got shapes () and (3, 4)");
    gan_tensor *v3, *v4;
    CHECK_OK(gan_zeros(&v3, GAN_FLOAT32, 1, I64(3)));
    CHECK_OK(gan_zeros(&v4, GAN_FLOAT32, 1, I64(4)));
    CHECK_ERR(gan_matmul(&o, v3, v4), "matmul: shapes (3,) and (4,) are not aligned");
    CHECK_ERR(gan_matmul(&o, a, v3), "matmul: shapes (3, 4) and (3,) are not aligned");
    gan_tensor *x, *y;
    CHECK_OK(gan_zeros(&x, GAN_FLOAT32, 3, I64(2, 3, 4)));
    CHECK_OK(gan_zeros(&y, GAN_FLOAT32, 3, I64(3, 4, 5)));
    CHECK_ERR(gan_matmul(&o, x, y), "shapes (2, 3, 4) and (3, 4, 5) do not broadcast");   // batch dims
    gan_tensor_release(x); gan_tensor_release(y);
    gan_tensor_release(v3); gan_tensor_release(v4);
    gan_tensor_release(a); gan_tensor_release(b); gan_tensor_release(c);
    gan_tensor_release(i); gan_tensor_release(s);
}

// ---- joins and indexing

static void test_cat(void) {
    gan_tensor *base, *a, *b, *o;
    CHECK_OK(gan_from_doubles(&base, GAN_FLOAT32, 2, I64(3, 2), (double[]){1, 2, 3, 4, 5, 6}));
    CHECK_OK(gan_transpose(&a, base, 0, 1));            // (2, 3): 1 3 5 / 2 4 6
    gan_tensor *b0;
    CHECK_OK(gan_from_doubles(&b0, GAN_FLOAT32, 2, I64(2, 3), (double[]){7, 8, 9, 10, 11, 12}));
    CHECK_OK(gan_narrow(&b, b0, 0, 1, 1));              // (1, 3): 10 11 12
    const gan_tensor *ab[2] = {a, b};
    CHECK_OK(gan_cat(&o, 2, ab, 0));
    CHECK_SHAPE(o, 2, 3, 3);
    CHECK_EQ_LIST(o, 1, 3, 5, 2, 4, 6, 10, 11, 12);
    gan_tensor_release(o);
    const gan_tensor *aa[3] = {a, b0, a};
    CHECK_OK(gan_cat(&o, 3, aa, -1));
    CHECK_SHAPE(o, 2, 2, 9);
    CHECK_EQ_LIST(o, 1, 3, 5, 7, 8, 9, 1, 3, 5, 2, 4, 6, 10, 11, 12, 2, 4, 6);
    gan_tensor_release(o);
    const gan_tensor *one[1] = {a};
    CHECK_OK(gan_cat(&o, 1, one, 0));                   // a copy of a
    CHECK(o->storage != a->storage);
    CHECK_EQ_LIST(o, 1, 3, 5, 2, 4, 6);
    gan_tensor_release(o);
    gan_tensor *e;
    CHECK_OK(gan_zeros(&e, GAN_FLOAT32, 2, I64(0, 3)));
    const gan_tensor *ae[3] = {e, a, e};
    CHECK_OK(gan_cat(&o, 3, ae, 0));
    CHECK_SHAPE(o, 2, 2, 3);
    gan_tensor_release(o);
    // Errors.
    CHECK_ERR(gan_cat(&o, 0, ab, 0), "cat: needs at least one tensor");
    gan_tensor *s, *d, *w;
    CHECK_OK(gan_zeros(&s, GAN_FLOAT32, 0, NULL));
    const gan_tensor *ss[2] = {s, s};
    CHECK_ERR(gan_cat(&o, 2, ss, 0), "cat: tensor 1 is 0-d");
    CHECK_OK(gan_zeros(&d, GAN_FLOAT64, 2, I64(2, 3)));
    const gan_tensor *ad[2] = {a, d};
    CHECK_ERR(gan_cat(&o, 2, ad, 0), "cat: tensor 2 has dtype float64, tensor 1 has float32");
    CHECK_OK(gan_zeros(&w, GAN_FLOAT32, 2, I64(2, 4)));
    const gan_tensor *aw[2] = {a, w};
    CHECK_ERR(gan_cat(&o, 2, aw, 0), "cat: tensor 2 has shape (2, 4), incompatible with (2, 3) along dim 0");
    CHECK_OK(gan_cat(&o, 2, aw, 1));                    // fine along dim 1
    CHECK_SHAPE(o, 2, 2, 7);
    gan_tensor_release(o);
    const gan_tensor *as[2] = {a, s};
    CHECK_ERR(gan_cat(&o, 2, as, 0), "cat: tensor 2 has shape (), incompatible with (2, 3)");
    CHECK_ERR(gan_cat(&o, 2, ab, 2), "cat: dim 2 out of range for a 2-d tensor");
    gan_tensor_release(w); gan_tensor_release(d); gan_tensor_release(s); gan_tensor_release(e);
    gan_tensor_release(b); gan_tensor_release(b0); gan_tensor_release(a); gan_tensor_release(base);
}

static void test_index_select(void) {
    gan_tensor *base, *a, *idx, *o;
    CHECK_OK(gan_arange(&base, GAN_FLOAT64, 0, 20, 1));
    gan_tensor *m;
    CHECK_OK(gan_view(&m, base, 2, I64(5, 4)));
    CHECK_OK(gan_transpose(&a, m, 0, 1));               // (4, 5): a[i][j] = 4j + i
    CHECK_OK(gan_from_doubles(&idx, GAN_INT64, 1, I64(3), (double[]){3, 0, 3}));
    CHECK_OK(gan_index_select(&o, a, 0, idx));
    CHECK_SHAPE(o, 2, 3, 5);
    CHECK_EQ_LIST(o, 3, 7, 11, 15, 19, 0, 4, 8, 12, 16, 3, 7, 11, 15, 19);
    gan_tensor_release(o);
    gan_tensor *i2;
    CHECK_OK(gan_from_doubles(&i2, GAN_INT64, 1, I64(4), (double[]){9, 4, 9, 1}));
    gan_tensor *i3;
    CHECK_OK(gan_from_doubles(&i3, GAN_INT64, 2, I64(2, 2), (double[]){4, 0, 1, 9}));
    gan_tensor *col;
    CHECK_OK(gan_select(&col, i3, 1, 0));               // strided index: 4, 1
    CHECK_OK(gan_index_select(&o, a, -1, col));
    CHECK_SHAPE(o, 2, 4, 2);
    CHECK_EQ_LIST(o, 16, 4, 17, 5, 18, 6, 19, 7);
    gan_tensor_release(o);
    gan_tensor *empty;
    CHECK_OK(gan_zeros(&empty, GAN_INT64, 1, I64(0)));
    CHECK_OK(gan_index_select(&o, a, 1, empty));
    CHECK_SHAPE(o, 2, 4, 0);
    gan_tensor_release(o);
    // Errors.
    CHECK_ERR(gan_index_select(&o, a, 1, i2), "index_select: index 9 out of range for dim 1 of size 5");
    gan_tensor *neg, *fl;
    CHECK_OK(gan_from_doubles(&neg, GAN_INT64, 1, I64(1), (double[]){-1}));
    CHECK_ERR(gan_index_select(&o, a, 0, neg), "index_select: index -1 out of range for dim 0 of size 4");
    CHECK_OK(gan_zeros(&fl, GAN_FLOAT32, 1, I64(2)));
    CHECK_ERR(gan_index_select(&o, a, 0, fl), "index_select: index must be an int64 tensor, got float32");
    CHECK_ERR(gan_index_select(&o, a, 0, i3), "index_select: index must be 1-d, got 2 dims");
    CHECK_ERR(gan_index_select(&o, a, 2, idx), "index_select: dim 2 out of range");
    gan_tensor_release(fl); gan_tensor_release(neg); gan_tensor_release(empty);
    gan_tensor_release(col); gan_tensor_release(i3); gan_tensor_release(i2);
    gan_tensor_release(idx); gan_tensor_release(a); gan_tensor_release(m); gan_tensor_release(base);
}

// out[pos] = a[pos with pos[d] = index[pos]]
static void check_gather(const gan_tensor *a, int d, const gan_tensor *index, const char *what) {
    gan_tensor *o = NULL;
    CHECK_OK(gan_gather(&o, a, d, index));
    if (!o) return;
    if (d < 0) d += a->ndim;
    CHECK(gan_same_shape(o, index) && o->dtype == a->dtype);
    int64_t pos[GAN_MAX_DIMS] = {0}, bad = 0;
    if (gan_numel(index) > 0) {
        do {
            int64_t p2[GAN_MAX_DIMS];
            memcpy(p2, pos, sizeof p2);
            p2[d] = (int64_t)gan_get(index, pos);
            if (gan_get(o, pos) != gan_get(a, p2)) bad++;
        } while (tu_next(pos, index->ndim, index->size));
    }
    CHECK_MSG(bad == 0, "gather %s", what);
    gan_tensor_release(o);
}

static void test_gather(void) {
    gan_tensor *base, *a, *idx, *o;
    CHECK_OK(gan_empty(&base, GAN_FLOAT32, 2, I64(4, 3)));
    tu_fill(base, 21, -5, 5);
    CHECK_OK(gan_transpose(&a, base, 0, 1));            // (3, 4), strided
    CHECK_OK(gan_from_doubles(&idx, GAN_INT64, 2, I64(3, 2), (double[]){0, 3, 1, 1, 2, 0}));
    check_gather(a, 1, idx, "dim 1");
    gan_tensor_release(idx);
    CHECK_OK(gan_from_doubles(&idx, GAN_INT64, 2, I64(2, 4), (double[]){2, 1, 0, 2, 0, 0, 1, 1}));
    check_gather(a, 0, idx, "dim 0");
    check_gather(a, -2, idx, "dim -2");
    gan_tensor *it;
    CHECK_OK(gan_from_doubles(&it, GAN_INT64, 2, I64(2, 2), (double[]){3, 2, 1, 0}));
    gan_tensor *itt;
    CHECK_OK(gan_transpose(&itt, it, 0, 1));
    check_gather(a, 1, itt, "strided index");
    gan_tensor_release(itt);
    gan_tensor_release(it);
    // A known case.
    gan_tensor *k, *ki;
    CHECK_OK(gan_from_doubles(&k, GAN_INT64, 2, I64(2, 2), (double[]){1, 2, 3, 4}));
    CHECK_OK(gan_from_doubles(&ki, GAN_INT64, 2, I64(2, 2), (double[]){0, 0, 1, 0}));
    CHECK_OK(gan_gather(&o, k, 1, ki));
    CHECK_EQ_LIST(o, 1, 1, 4, 3);
    gan_tensor_release(o);
    gan_tensor_release(ki);
    gan_tensor_release(k);
    // Errors.
    gan_tensor *bad, *i1, *big;
    CHECK_OK(gan_from_doubles(&bad, GAN_INT64, 2, I64(1, 2), (double[]){0, 4}));
    CHECK_ERR(gan_gather(&o, a, 1, bad), "gather: index 4 out of range for dim 1 of size 4");
    CHECK_OK(gan_zeros(&i1, GAN_INT64, 1, I64(3)));
    CHECK_ERR(gan_gather(&o, a, 1, i1), "gather: index has shape (3,) but the tensor has shape (3, 4)");
    CHECK_OK(gan_zeros(&big, GAN_INT64, 2, I64(4, 2)));
    CHECK_ERR(gan_gather(&o, a, 1, big), "gather: index of shape (4, 2) is larger than the tensor (3, 4) in dim 0");
    CHECK_ERR(gan_gather(&o, a, 2, idx), "gather: dim 2 out of range");
    gan_tensor *fi;
    CHECK_OK(gan_zeros(&fi, GAN_FLOAT64, 2, I64(1, 1)));
    CHECK_ERR(gan_gather(&o, a, 1, fi), "gather: index must be an int64 tensor, got float64");
    gan_tensor_release(fi); gan_tensor_release(big); gan_tensor_release(i1); gan_tensor_release(bad);
    gan_tensor_release(idx); gan_tensor_release(a); gan_tensor_release(base);
}

static void test_scatter_add(void) {
    gan_tensor *a, *idx, *src, *o;
    CHECK_OK(gan_zeros(&a, GAN_FLOAT64, 2, I64(3, 5)));
    CHECK_OK(gan_from_doubles(&idx, GAN_INT64, 2, I64(3, 4), (double[]){0, 1, 0, 4, 2, 2, 2, 2, 3, 1, 0, 3}));
    CHECK_OK(gan_empty(&src, GAN_FLOAT64, 2, I64(3, 4)));
    tu_fill(src, 31, -2, 2);
    CHECK_OK(gan_scatter_add(&o, a, 1, idx, src));
    double want[15] = {0};
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 4; j++)
            want[i * 5 + (int64_t)gan_get(idx, I64(i, j))] += gan_get(src, I64(i, j));
    CHECK_VALUES(o, want, 1e-15, 1e-15, "scatter_add dim 1 (duplicates accumulate)");
    double zeros[15] = {0};
    CHECK_VALUES(a, zeros, 0, 0, "scatter_add leaves its input alone");
    gan_tensor_release(o);
    // In place, dim 0, on a transposed destination, with a smaller index than src.
    gan_tensor *base, *at, *i0;
    CHECK_OK(gan_zeros(&base, GAN_FLOAT32, 2, I64(4, 3)));
    CHECK_OK(gan_transpose(&at, base, 0, 1));           // (3, 4)
    CHECK_OK(gan_from_doubles(&i0, GAN_INT64, 2, I64(2, 3), (double[]){2, 0, 1, 2, 2, 0}));
    gan_tensor *s32;
    CHECK_OK(gan_from_doubles(&s32, GAN_FLOAT32, 2, I64(2, 4), (double[]){1, 2, 3, 4, 10, 20, 30, 40}));
    CHECK_OK(gan_scatter_add_(at, 0, i0, s32));
    // at[i0[i][j]][j] += s32[i][j] for i < 2, j < 3
    double w2[12] = {0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            w2[(int64_t)gan_get(i0, I64(i, j)) * 4 + j] += gan_get(s32, I64(i, j));
    CHECK_VALUES(at, w2, 0, 0, "scatter_add_ dim 0, strided destination");
    // int64 values.
    gan_tensor *ai, *si;
    CHECK_OK(gan_zeros(&ai, GAN_INT64, 1, I64(3)));
    CHECK_OK(gan_from_doubles(&si, GAN_INT64, 1, I64(4), (double[]){5, 6, 7, 8}));
    gan_tensor *ii;
    CHECK_OK(gan_from_doubles(&ii, GAN_INT64, 1, I64(4), (double[]){2, 2, 0, 2}));
    CHECK_OK(gan_scatter_add_(ai, 0, ii, si));
    CHECK_EQ_LIST(ai, 7, 0, 19);
    // Errors.
    CHECK_ERR(gan_scatter_add_(a, 1, idx, s32), "scatter_add: index of shape (3, 4) is larger than the tensor (2, 4) in dim 0");
    gan_tensor *s64;
    CHECK_OK(gan_zeros(&s64, GAN_FLOAT64, 2, I64(3, 4)));
    CHECK_ERR(gan_scatter_add_(at, 1, idx, s64), "scatter_add: src has dtype float64, the tensor has float32");
    gan_tensor *bad;
    CHECK_OK(gan_from_doubles(&bad, GAN_INT64, 2, I64(1, 1), (double[]){5}));
    CHECK_ERR(gan_scatter_add_(a, 1, bad, src), "scatter_add: index 5 out of range for dim 1 of size 5");
    CHECK_ERR(gan_scatter_add(&o, a, 1, bad, src), "scatter_add: index 5 out of range");
    CHECK_ERR(gan_scatter_add_(a, 1, ii, src), "scatter_add: index has shape (4,) but the tensor has shape (3, 5)");
    CHECK_VALUES(a, zeros, 0, 0, "a failed scatter_add_ writes nothing");
    gan_tensor_release(bad); gan_tensor_release(s64);
    gan_tensor_release(ii); gan_tensor_release(si); gan_tensor_release(ai);
    gan_tensor_release(s32); gan_tensor_release(i0); gan_tensor_release(at); gan_tensor_release(base);
    gan_tensor_release(src); gan_tensor_release(idx); gan_tensor_release(a);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_unary_all),        CHECK_TEST(test_binary_all),
        CHECK_TEST(test_elementwise_fuzz),
        CHECK_TEST(test_binary_scalar),    CHECK_TEST(test_binary_errors),
        CHECK_TEST(test_minmax_nan),       CHECK_TEST(test_inplace_aliasing),
        CHECK_TEST(test_clamp),            CHECK_TEST(test_where_masked_fill),
        CHECK_TEST(test_reductions),       CHECK_TEST(test_reduction_special),
        CHECK_TEST(test_reduction_large),  CHECK_TEST(test_max_dim_argmax),
        CHECK_TEST(test_matmul),           CHECK_TEST(test_matmul_errors),
        CHECK_TEST(test_cat),              CHECK_TEST(test_index_select),
        CHECK_TEST(test_gather),           CHECK_TEST(test_scatter_add),
    };
    return check_main(argc, argv, tests, CHECK_COUNT(tests));
}
