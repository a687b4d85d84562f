// Reductions. The input is brought to a contiguous (O, R) matrix (kept dims first,
// reduced dims last; a permuted copy only when the reduced dims are not already the
// contiguous tail), then each of the O rows is reduced. Every row is summed in fixed
// blocks whose partials are added in order, so results do not depend on thread count.
#include "internal.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 4096

typedef struct {
    gan_tensor *rows;          // contiguous (O, R)
    int64_t O, R;
    int out_ndim;
    int64_t out_size[GAN_MAX_DIMS];
} rowview;

// dims given (ndims > 0) or all dims (ndims == 0).
static int make_rows(rowview *rv, const gan_tensor *a, int ndims, const int *dims,
                     bool keepdim, const char *op) {
    bool mask[GAN_MAX_DIMS];
    if (ndims == 0) {
        for (int i = 0; i < GAN_MAX_DIMS; i++) mask[i] = i < a->ndim;
    } else if (gan_check_dims(NULL, ndims, dims, a->ndim, op, mask) != GAN_OK) {
        return GAN_ERR;
    }
    int perm[GAN_MAX_DIMS], k = 0;
    rv->O = 1; rv->R = 1; rv->out_ndim = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (!mask[i]) { perm[k++] = i; rv->O *= a->size[i]; rv->out_size[rv->out_ndim++] = a->size[i]; }
        else if (keepdim) rv->out_size[rv->out_ndim++] = 1;
    }
    for (int i = 0; i < a->ndim; i++) if (mask[i]) { perm[k++] = i; rv->R *= a->size[i]; }
    gan_tensor *p, *c;
    if (gan_permute(&p, a, a->ndim, perm) != GAN_OK) return GAN_ERR;
    int rc = gan_contiguous(&c, p);
    gan_tensor_release(p);
    if (rc != GAN_OK) return GAN_ERR;
    rv->rows = c;
    return GAN_OK;
}

// ---- row kernels (double accumulation for float32)

typedef struct { gan_redop op; double p; bool unbiased; } redctx;

// Eight interleaved partials per block (element i goes to partial i % 8), combined in a
// fixed tree: the adds vectorise, and the result still depends only on n.
#define ROW_SUM(T, ACC)                                                                 \
    static ACC row_sum_##T(const T *x, int64_t n) {                                     \
        ACC total = 0;                                                                  \
        for (int64_t b = 0; b < n; b += BLOCK) {                                        \
            int64_t e = b + BLOCK < n ? b + BLOCK : n, i = b;                           \
            ACC p[8] = {0};                                                             \
            for (; i + 8 <= e; i += 8)                                                  \
                for (int j = 0; j < 8; j++) p[j] += (ACC)x[i + j];                      \
            for (int j = 0; i < e; i++, j++) p[j] += (ACC)x[i];                         \
            total += ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])); \
        }                                                                               \
        return total;                                                                   \
    }
ROW_SUM(float, double)
ROW_SUM(double, double)
ROW_SUM(int64_t, uint64_t)   // int64 sums and products wrap around instead of overflowing

#define ROW_REDUCE(T, ACC)                                                              \
    static void row_reduce_##T(const T *x, int64_t n, T *out, const redctx *c) {        \
        switch (c->op) {                                                                \
        case GAN_SUM: *out = (T)row_sum_##T(x, n); break;                               \
        case GAN_MEAN: *out = (T)((double)row_sum_##T(x, n) / (double)n); break;         \
        case GAN_PROD: { ACC p = 1; for (int64_t i = 0; i < n; i++) p *= (ACC)x[i];      \
                         *out = (T)p; break; }                                          \
        case GAN_MAX: case GAN_MIN: {                                                   \
            T m = x[0];                                                                 \
            bool is_max = c->op == GAN_MAX;                                             \
            for (int64_t i = 1; i < n; i++) {                                           \
                T v = x[i];                                                             \
                if (v != v) { m = v; break; }                                           \
                if (is_max ? v > m : v < m) m = v;                                      \
            }                                                                           \
            *out = m; break; }                                                          \
        default: break;                                                                 \
        }                                                                               \
    }
ROW_REDUCE(float, double)
ROW_REDUCE(double, double)
ROW_REDUCE(int64_t, uint64_t)

// var (two-pass in double) and p-norms, float types only.
#define ROW_STAT(T)                                                                     \
    static T row_var_##T(const T *x, int64_t n, bool unbiased) {                        \
        double mean = row_sum_##T(x, n) / (double)n, ss = 0;                            \
        for (int64_t b = 0; b < n; b += BLOCK) {                                        \
            int64_t e = b + BLOCK < n ? b + BLOCK : n;                                  \
            double part = 0;                                                            \
            for (int64_t i = b; i < e; i++) { double d = x[i] - mean; part += d * d; }  \
            ss += part;                                                                 \
        }                                                                               \
        int64_t dof = unbiased ? n - 1 : n;                                             \
        return (T)(dof > 0 ? ss / (double)dof : NAN);                                   \
    }                                                                                   \
    static T row_norm_##T(const T *x, int64_t n, double p) {                            \
        double acc = 0;                                                                 \
        if (isinf(p)) {                                                                 \
            for (int64_t i = 0; i < n; i++) {                                           \
                double v = fabs((double)x[i]);                                          \
                if (v != v) return (T)v;                                                \
                if (v > acc) acc = v;                                                   \
            }                                                                           \
            return (T)acc;                                                              \
        }                                                                               \
        for (int64_t b = 0; b < n; b += BLOCK) {                                        \
            int64_t e = b + BLOCK < n ? b + BLOCK : n;                                  \
            double part = 0;                                                            \
            if (p == 2) for (int64_t i = b; i < e; i++) part += (double)x[i] * x[i];    \
            else if (p == 1) for (int64_t i = b; i < e; i++) part += fabs((double)x[i]); \
            else if (p == 0) for (int64_t i = b; i < e; i++) part += x[i] != 0;         \
            else for (int64_t i = b; i < e; i++) part += pow(fabs((double)x[i]), p);    \
            acc += part;                                                                \
        }                                                                               \
        return (T)(p == 2 ? sqrt(acc) : p == 1 || p == 0 ? acc : pow(acc, 1 / p));      \
    }
ROW_STAT(float)
ROW_STAT(double)

enum { K_REDUCE, K_VAR, K_NORM };

static void reduce_row(int kind, gan_dtype dt, const void *rows, int64_t r, int64_t R,
                       void *out, const redctx *c) {
    switch (dt) {
    case GAN_FLOAT32: {
        const float *x = (const float *)rows + r * R;
        float *o = (float *)out + r;
        if (kind == K_REDUCE) row_reduce_float(x, R, o, c);
        else if (kind == K_VAR) *o = row_var_float(x, R, c->unbiased);
        else *o = row_norm_float(x, R, c->p);
        break;
    }
    case GAN_FLOAT64: {
        const double *x = (const double *)rows + r * R;
        double *o = (double *)out + r;
        if (kind == K_REDUCE) row_reduce_double(x, R, o, c);
        else if (kind == K_VAR) *o = row_var_double(x, R, c->unbiased);
        else *o = row_norm_double(x, R, c->p);
        break;
    }
    case GAN_INT64:
        row_reduce_int64_t((const int64_t *)rows + r * R, R, (int64_t *)out + r, c);
        break;
    }
}

static int run_reduce(gan_tensor **out, int kind, const gan_tensor *a, int ndims,
                      const int *dims, bool keepdim, const redctx *c, const char *op) {
    rowview rv;
    if (make_rows(&rv, a, ndims, dims, keepdim, op) != GAN_OK) return GAN_ERR;
    gan_tensor *o;
    if (gan_empty(&o, a->dtype, rv.out_ndim, rv.out_size) != GAN_OK) {
        gan_tensor_release(rv.rows);
        return GAN_ERR;
    }
    if (rv.R == 0) {
        // Empty reductions: sum 0, prod 1, mean/var NaN; max/min have no identity.
        double v = c->op == GAN_PROD ? 1 : (kind == K_REDUCE && c->op == GAN_SUM) || kind == K_NORM ? 0 : NAN;
        if (kind == K_REDUCE && (c->op == GAN_MAX || c->op == GAN_MIN) && rv.O > 0) {
            gan_tensor_release(rv.rows); gan_tensor_release(o);
            return gan_error("%s: cannot reduce over an empty dimension (no identity)", op);
        }
        if (rv.O > 0) gan_fill_(o, v);   // O == 0: nothing to fill (and NaN has no int64)
    } else {
        const void *x = gan_data(rv.rows);
        void *y = gan_data(o);
        int64_t O = rv.O, R = rv.R;
        #pragma omp parallel for schedule(static) if (O * R >= GAN_PARALLEL_GRAIN && O > 1)
        for (int64_t r = 0; r < O; r++) reduce_row(kind, a->dtype, x, r, R, y, c);
    }
    gan_tensor_release(rv.rows);
    *out = o;
    return GAN_OK;
}

static const char *redop_names[GAN_NUM_REDOPS] = {"sum", "mean", "prod", "max", "min"};

int gan_reduce(gan_tensor **out, gan_redop op, const gan_tensor *a, int ndims,
               const int *dims, bool keepdim) {
    if ((unsigned)op >= GAN_NUM_REDOPS) return gan_error("reduce: invalid op %d", (int)op);
    if (op == GAN_MEAN && a->dtype == GAN_INT64)
        return gan_error("mean: not supported for dtype int64 (convert with :float() first)");
    redctx c = {op, 0, false};
    return run_reduce(out, K_REDUCE, a, ndims, dims, keepdim, &c, redop_names[op]);
}

int gan_var(gan_tensor **out, const gan_tensor *a, int ndims, const int *dims, bool unbiased,
            bool keepdim) {
    if (a->dtype == GAN_INT64)
        return gan_error("var: not supported for dtype int64 (convert with :float() first)");
    redctx c = {GAN_SUM, 0, unbiased};
    return run_reduce(out, K_VAR, a, ndims, dims, keepdim, &c, "var");
}

int gan_std(gan_tensor **out, const gan_tensor *a, int ndims, const int *dims, bool unbiased,
            bool keepdim) {
    if (a->dtype == GAN_INT64)
        return gan_error("std: not supported for dtype int64 (convert with :float() first)");
    if (gan_var(out, a, ndims, dims, unbiased, keepdim) != GAN_OK) return GAN_ERR;
    return gan_unary_(*out, GAN_SQRT);
}

int gan_norm(gan_tensor **out, const gan_tensor *a, double p, int ndims, const int *dims,
             bool keepdim) {
    if (a->dtype == GAN_INT64)
        return gan_error("norm: not supported for dtype int64 (convert with :float() first)");
    if (isnan(p) || p < 0) return gan_error("norm: p must be >= 0, got %g", p);
    redctx c = {GAN_SUM, p, false};
    return run_reduce(out, K_NORM, a, ndims, dims, keepdim, &c, "norm");
}

// ---- max/min with indices along one dim

#define ROW_ARG(T)                                                                      \
    static int64_t row_arg_##T(const T *x, int64_t n, bool is_min) {                    \
        int64_t best = 0;                                                               \
        T m = x[0];                                                                     \
        if (m != m) return 0;                                                           \
        for (int64_t i = 1; i < n; i++) {                                               \
            T v = x[i];                                                                 \
            if (v != v) return i;                                                       \
            if (is_min ? v < m : v > m) { m = v; best = i; }                            \
        }                                                                               \
        return best;                                                                    \
    }
ROW_ARG(float)
ROW_ARG(double)
ROW_ARG(int64_t)

static int arg_reduce(gan_tensor **values, gan_tensor **indices, const gan_tensor *a, int ndims,
                      const int *dims, bool keepdim, bool is_min, const char *op) {
    rowview rv;
    if (make_rows(&rv, a, ndims, dims, keepdim, op) != GAN_OK) return GAN_ERR;
    if (rv.R == 0) {
        gan_tensor_release(rv.rows);
        return gan_error("%s: cannot reduce over an empty dimension", op);
    }
    gan_tensor *v = NULL, *ix = NULL;
    if (gan_empty(&ix, GAN_INT64, rv.out_ndim, rv.out_size) != GAN_OK ||
        (values && gan_empty(&v, a->dtype, rv.out_ndim, rv.out_size) != GAN_OK)) {
        gan_tensor_release(rv.rows);
        gan_tensor_release(ix);
        return GAN_ERR;
    }
    int64_t O = rv.O, R = rv.R;
    const char *x = gan_data(rv.rows);
    int64_t *id = gan_data(ix);
    size_t es = gan_dtype_size(a->dtype);
    #pragma omp parallel for schedule(static) if (O * R >= GAN_PARALLEL_GRAIN && O > 1)
    for (int64_t r = 0; r < O; r++) {
        const void *row = x + (size_t)(r * R) * es;
        int64_t k = a->dtype == GAN_FLOAT32 ? row_arg_float(row, R, is_min)
                  : a->dtype == GAN_FLOAT64 ? row_arg_double(row, R, is_min)
                                            : row_arg_int64_t(row, R, is_min);
        id[r] = k;
        if (v) memcpy((char *)gan_data(v) + (size_t)r * es, (const char *)row + (size_t)k * es, es);
    }
    gan_tensor_release(rv.rows);
    if (values) *values = v;
    *indices = ix;
    return GAN_OK;
}

int gan_max_dim(gan_tensor **values, gan_tensor **indices, const gan_tensor *a, int dim,
                bool keepdim, bool is_min) {
    if (a->ndim == 0) return gan_error("%s: needs at least 1 dim", is_min ? "min" : "max");
    return arg_reduce(values, indices, a, 1, &dim, keepdim, is_min, is_min ? "min" : "max");
}

int gan_argmax(gan_tensor **out, const gan_tensor *a, int dim, bool all, bool keepdim,
               bool is_min) {
    const char *op = is_min ? "argmin" : "argmax";
    if (all) return arg_reduce(NULL, out, a, 0, NULL, false, is_min, op);
    if (a->ndim == 0) return gan_error("%s: needs at least 1 dim", op);
    return arg_reduce(NULL, out, a, 1, &dim, keepdim, is_min, op);
}
