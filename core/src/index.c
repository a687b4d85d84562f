// Joins and indexing: cat, index_select, gather, scatter_add.
#include "internal.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int gan_cat(gan_tensor **out, int n, const gan_tensor *const *ts, int dim) {
    if (n < 1) return gan_error("cat: needs at least one tensor");
    const gan_tensor *t0 = ts[0];
    if (t0->ndim == 0) return gan_error("cat: tensor 1 is 0-d; cannot concatenate scalars");
    int d;
    if (gan_wrap_dim(&d, dim, t0->ndim, "cat") != GAN_OK) return GAN_ERR;
    int64_t size[GAN_MAX_DIMS];
    memcpy(size, t0->size, sizeof size);
    size[d] = 0;
    for (int k = 0; k < n; k++) {
        const gan_tensor *t = ts[k];
        char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
        if (t->dtype != t0->dtype)
            return gan_error("cat: tensor %d has dtype %s, tensor 1 has %s", k + 1,
                             gan_dtype_name(t->dtype), gan_dtype_name(t0->dtype));
        bool ok = t->ndim == t0->ndim;
        for (int i = 0; ok && i < t->ndim; i++) ok = i == d || t->size[i] == t0->size[i];
        if (!ok)
            return gan_error("cat: tensor %d has shape %s, incompatible with %s along dim %d",
                             k + 1, gan_shape_str(a, sizeof a, t->ndim, t->size),
                             gan_shape_str(b, sizeof b, t0->ndim, t0->size), d + gan_dim_base());
        if (__builtin_add_overflow(size[d], t->size[d], &size[d]))
            return gan_error("cat: the joined size along dim %d overflows", d + gan_dim_base());
    }
    gan_tensor *o;
    if (gan_empty(&o, t0->dtype, t0->ndim, size) != GAN_OK) return GAN_ERR;
    int64_t at = 0;
    for (int k = 0; k < n; k++) {
        gan_tensor *slot;
        if (gan_narrow(&slot, o, d, at, ts[k]->size[d]) != GAN_OK ||
            gan_copy_(slot, ts[k]) != GAN_OK) {
            gan_tensor_release(o);
            return GAN_ERR;
        }
        gan_tensor_release(slot);
        at += ts[k]->size[d];
    }
    *out = o;
    return GAN_OK;
}

static int check_index_tensor(const gan_tensor *index, const char *op) {
    if (index->dtype != GAN_INT64)
        return gan_error("%s: index must be an int64 tensor, got %s", op,
                         gan_dtype_name(index->dtype));
    return GAN_OK;
}

// index_select and index_add see a contiguous tensor along dim d as (outer, size[d], inner)
// rows of `inner` elements; the indices are read once into a plain array (checked in range).
typedef struct { int64_t outer, len, inner, n; int64_t *ix; } rows;

static int rows_of(rows *r, const gan_tensor *a, int d, const gan_tensor *index, const char *op) {
    r->outer = r->inner = 1;
    for (int k = 0; k < d; k++) r->outer *= a->size[k];
    for (int k = d + 1; k < a->ndim; k++) r->inner *= a->size[k];
    r->len = a->size[d];
    r->n = gan_numel(index);
    r->ix = gan_malloc(sizeof(int64_t) * (size_t)(r->n ? r->n : 1));
    if (!r->ix) return GAN_ERR;
    for (int64_t i = 0; i < r->n; i++) {
        int64_t ix = r->ix[i] = gan_get_i64(index, &i);
        if (ix < 0 || ix >= r->len) {
            free(r->ix);
            return gan_error("%s: index %lld out of range for dim %d of size %lld", op, (long long)ix,
                             d + gan_dim_base(), (long long)r->len);
        }
    }
    return GAN_OK;
}

int gan_index_select(gan_tensor **out, const gan_tensor *a, int dim, const gan_tensor *index) {
    if (check_index_tensor(index, "index_select") != GAN_OK) return GAN_ERR;
    if (index->ndim > 1)
        return gan_error("index_select: index must be 1-d, got %d dims", index->ndim);
    if (a->ndim == 0) return gan_error("index_select: cannot index a 0-d tensor");
    int d;
    if (gan_wrap_dim(&d, dim, a->ndim, "index_select") != GAN_OK) return GAN_ERR;
    rows r;
    if (rows_of(&r, a, d, index, "index_select") != GAN_OK) return GAN_ERR;
    int64_t size[GAN_MAX_DIMS];
    memcpy(size, a->size, sizeof size);
    size[d] = r.n;
    gan_tensor *o = NULL, *ac = NULL;
    if (gan_empty(&o, a->dtype, a->ndim, size) != GAN_OK || gan_contiguous(&ac, a) != GAN_OK) {
        gan_tensor_release(o);
        free(r.ix);
        return GAN_ERR;
    }
    // out[q, i, :] = a[q, ix[i], :]
    size_t es = gan_dtype_size(a->dtype), row = (size_t)r.inner * es;
    const char *src = gan_data(ac);
    char *dst = gan_data(o);
    #pragma omp parallel for schedule(static) if (r.outer * r.n * r.inner > GAN_PARALLEL_GRAIN)
    for (int64_t q = 0; q < r.outer; q++) {
        char *to = dst + (size_t)(q * r.n) * row;
        const char *from = src + (size_t)(q * r.len) * row;
        if (r.inner == 1 && es == 4)
            for (int64_t i = 0; i < r.n; i++) ((uint32_t *)to)[i] = ((const uint32_t *)from)[r.ix[i]];
        else if (r.inner == 1 && es == 8)
            for (int64_t i = 0; i < r.n; i++) ((uint64_t *)to)[i] = ((const uint64_t *)from)[r.ix[i]];
        else
            for (int64_t i = 0; i < r.n; i++) memcpy(to + (size_t)i * row, from + (size_t)r.ix[i] * row, row);
    }
    gan_tensor_release(ac);
    free(r.ix);
    *out = o;
    return GAN_OK;
}

// Checks index against a (and src): same ndim, index no larger outside `dim`, values in
// range of a's dim.
static int check_gather_like(const gan_tensor *a, int d, const gan_tensor *index,
                             const gan_tensor *src, const char *op) {
    char sa[GAN_SHAPE_BUF], si[GAN_SHAPE_BUF];
    if (check_index_tensor(index, op) != GAN_OK) return GAN_ERR;
    if (index->ndim != a->ndim || (src && src->ndim != a->ndim))
        return gan_error("%s: index has shape %s but the tensor has shape %s (ndim must match)",
                         op, gan_shape_str(si, sizeof si, index->ndim, index->size),
                         gan_shape_str(sa, sizeof sa, a->ndim, a->size));
    for (int i = 0; i < a->ndim; i++) {
        if ((i != d && index->size[i] > a->size[i]) || (src && index->size[i] > src->size[i]))
            return gan_error("%s: index of shape %s is larger than the tensor %s in dim %d", op,
                             gan_shape_str(si, sizeof si, index->ndim, index->size),
                             gan_shape_str(sa, sizeof sa, (src && index->size[i] > src->size[i]) ? src->ndim : a->ndim,
                                           (src && index->size[i] > src->size[i]) ? src->size : a->size),
                             i + gan_dim_base());
    }
    if (src && src->dtype != a->dtype)
        return gan_error("%s: src has dtype %s, the tensor has %s", op,
                         gan_dtype_name(src->dtype), gan_dtype_name(a->dtype));
    return GAN_OK;
}

// Visits every element of index in row order; pos[] is its multi-index.
#define FOR_EACH_INDEX(index, pos, ...)                                               \
    do {                                                                               \
        int64_t pos[GAN_MAX_DIMS] = {0};                                               \
        int64_t total_ = gan_numel(index);                                             \
        for (int64_t e_ = 0; e_ < total_; e_++) {                                      \
            __VA_ARGS__;                                                               \
            for (int i_ = (index)->ndim - 1; i_ >= 0; i_--) {                          \
                if (++pos[i_] < (index)->size[i_]) break;                              \
                pos[i_] = 0;                                                           \
            }                                                                          \
        }                                                                              \
    } while (0)

static int64_t offset_of(const gan_tensor *t, const int64_t *pos) {
    int64_t o = t->offset;
    for (int i = 0; i < t->ndim; i++) o += pos[i] * t->stride[i];
    return o;
}

int gan_gather(gan_tensor **out, const gan_tensor *a, int dim, const gan_tensor *index) {
    int d;
    if (a->ndim == 0) return gan_error("gather: cannot index a 0-d tensor");
    if (gan_wrap_dim(&d, dim, a->ndim, "gather") != GAN_OK) return GAN_ERR;
    if (check_gather_like(a, d, index, NULL, "gather") != GAN_OK) return GAN_ERR;
    int status = GAN_OK;
    FOR_EACH_INDEX(index, pos, {
        int64_t ix = gan_get_i64(index, pos);
        if (ix < 0 || ix >= a->size[d]) {
            status = gan_error("gather: index %lld out of range for dim %d of size %lld",
                               (long long)ix, d + gan_dim_base(), (long long)a->size[d]);
            break;
        }
    });
    if (status != GAN_OK) return GAN_ERR;
    gan_tensor *o;
    if (gan_empty(&o, a->dtype, index->ndim, index->size) != GAN_OK) return GAN_ERR;
    size_t es = gan_dtype_size(a->dtype);
    char *src = a->storage->data, *dst = gan_data(o);
    int64_t k = 0;
    FOR_EACH_INDEX(index, pos, {
        int64_t p2[GAN_MAX_DIMS];
        memcpy(p2, pos, sizeof p2);
        p2[d] = gan_get_i64(index, pos);
        memcpy(dst + (size_t)k++ * es, src + (size_t)offset_of(a, p2) * es, es);
    });
    *out = o;
    return GAN_OK;
}

int gan_scatter_add_(gan_tensor *a, int dim, const gan_tensor *index, const gan_tensor *src) {
    int d;
    if (a->ndim == 0) return gan_error("scatter_add: cannot index a 0-d tensor");
    if (gan_wrap_dim(&d, dim, a->ndim, "scatter_add") != GAN_OK) return GAN_ERR;
    if (check_gather_like(a, d, index, src, "scatter_add") != GAN_OK) return GAN_ERR;
    int status = GAN_OK;
    FOR_EACH_INDEX(index, pos, {
        int64_t ix = gan_get_i64(index, pos);
        if (ix < 0 || ix >= a->size[d]) {
            status = gan_error("scatter_add: index %lld out of range for dim %d of size %lld",
                               (long long)ix, d + gan_dim_base(), (long long)a->size[d]);
            break;
        }
    });
    if (status != GAN_OK) return GAN_ERR;
    FOR_EACH_INDEX(index, pos, {
        int64_t p2[GAN_MAX_DIMS];
        memcpy(p2, pos, sizeof p2);
        p2[d] = gan_get_i64(index, pos);
        int64_t oa = offset_of(a, p2), os = offset_of(src, pos);
        switch (a->dtype) {
        case GAN_FLOAT32: ((float *)a->storage->data)[oa] += ((float *)src->storage->data)[os]; break;
        case GAN_FLOAT64: ((double *)a->storage->data)[oa] += ((double *)src->storage->data)[os]; break;
        case GAN_INT64: ((int64_t *)a->storage->data)[oa] += ((int64_t *)src->storage->data)[os]; break;
        }
    });
    return GAN_OK;
}

int gan_scatter_add(gan_tensor **out, const gan_tensor *a, int dim, const gan_tensor *index,
                    const gan_tensor *src) {
    gan_tensor *o;
    if (gan_clone(&o, a) != GAN_OK) return GAN_ERR;
    if (gan_scatter_add_(o, dim, index, src) != GAN_OK) { gan_tensor_release(o); return GAN_ERR; }
    *out = o;
    return GAN_OK;
}

// index_add's loop for element type T (a row of one element is a plain scatter-add).
#define ADD_ROWS(T, o, sc, rp)                                                           \
    do {                                                                                 \
        const rows *r_ = (rp);                                                           \
        T *y_ = gan_data(o);                                                             \
        const T *x_ = gan_data(sc);                                                      \
        const int64_t *ix_ = r_->ix, n_ = r_->n, len_ = r_->len, inner_ = r_->inner;      \
        _Pragma("omp parallel for schedule(static) if (r_->outer * n_ * inner_ > GAN_PARALLEL_GRAIN)") \
        for (int64_t q = 0; q < r_->outer; q++) {                                        \
            T *yq = y_ + q * len_ * inner_;                                              \
            const T *xq = x_ + q * n_ * inner_;                                          \
            if (inner_ == 1)                                                             \
                for (int64_t i = 0; i < n_; i++) yq[ix_[i]] += xq[i];                    \
            else                                                                         \
                for (int64_t i = 0; i < n_; i++)                                         \
                    for (int64_t k = 0; k < inner_; k++) yq[ix_[i] * inner_ + k] += xq[i * inner_ + k]; \
        }                                                                                \
    } while (0)

int gan_index_add(gan_tensor **out, const gan_tensor *a, int dim, const gan_tensor *index,
                  const gan_tensor *src) {
    if (check_index_tensor(index, "index_add") != GAN_OK) return GAN_ERR;
    if (a->ndim == 0) return gan_error("index_add: cannot index a 0-d tensor");
    int d;
    if (gan_wrap_dim(&d, dim, a->ndim, "index_add") != GAN_OK) return GAN_ERR;
    int64_t n = gan_numel(index);
    char sa[GAN_SHAPE_BUF], ss[GAN_SHAPE_BUF];
    bool ok = index->ndim <= 1 && src->ndim == a->ndim && src->dtype == a->dtype;
    for (int i = 0; ok && i < a->ndim; i++) ok = src->size[i] == (i == d ? n : a->size[i]);
    if (!ok)
        return gan_error("index_add: source %s (%s) does not fit tensor %s (%s) with %lld indices "
                         "along dim %d", gan_shape_str(ss, sizeof ss, src->ndim, src->size),
                         gan_dtype_name(src->dtype), gan_shape_str(sa, sizeof sa, a->ndim, a->size),
                         gan_dtype_name(a->dtype), (long long)n, d + gan_dim_base());
    rows r;
    if (rows_of(&r, a, d, index, "index_add") != GAN_OK) return GAN_ERR;
    gan_tensor *o = NULL, *sc = NULL;
    if (gan_clone(&o, a) != GAN_OK || gan_contiguous(&sc, src) != GAN_OK) {
        gan_tensor_release(o);
        free(r.ix);
        return GAN_ERR;
    }
    // out[q, ix[i], :] += src[q, i, :], i in order (repeated indices add up); q in parallel
    if (a->dtype == GAN_FLOAT32) ADD_ROWS(float, o, sc, &r);
    else if (a->dtype == GAN_FLOAT64) ADD_ROWS(double, o, sc, &r);
    else ADD_ROWS(uint64_t, o, sc, &r);   // int64 wraps around, as its other sums do
    gan_tensor_release(sc);
    free(r.ix);
    *out = o;
    return GAN_OK;
}
