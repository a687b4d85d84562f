#include "internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dtype_names[GAN_NUM_DTYPES] = {"float32", "float64", "int64"};
static const size_t dtype_sizes[GAN_NUM_DTYPES] = {4, 8, 8};

const char *gan_dtype_name(gan_dtype dt) { return dtype_names[dt]; }
size_t gan_dtype_size(gan_dtype dt) { return dtype_sizes[dt]; }

int gan_dtype_from_name(gan_dtype *out, const char *name) {
    for (int i = 0; i < GAN_NUM_DTYPES; i++)
        if (strcmp(name, dtype_names[i]) == 0) { *out = (gan_dtype)i; return GAN_OK; }
    if (strcmp(name, "float") == 0) { *out = GAN_FLOAT32; return GAN_OK; }
    if (strcmp(name, "double") == 0) { *out = GAN_FLOAT64; return GAN_OK; }
    if (strcmp(name, "long") == 0) { *out = GAN_INT64; return GAN_OK; }
    return gan_error("unknown dtype '%s' (expected float32, float64 or int64)", name);
}

// ---- lifetime

static void storage_release(gan_storage *s) {
    if (s && __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
        gan_free(s->data, s->nbytes);
        free(s);
    }
}

gan_tensor *gan_tensor_retain(gan_tensor *t) {
    if (t) __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
    return t;
}

void gan_tensor_release(gan_tensor *t) {
    if (t && __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
        gan_autograd_clear(t);
        storage_release(t->storage);
        free(t);
    }
}

// A tensor header sharing t's storage (retained), with t's dtype and offset.
static gan_tensor *new_view(const gan_tensor *t) {
    gan_tensor *v = gan_malloc(sizeof *v);
    if (!v) { gan_error("out of memory"); return NULL; }
    *v = *t;
    v->refcount = 1;
    v->requires_grad = false;
    v->grad = NULL;
    v->grad_fn = NULL;
    v->grad_acc = NULL;
    __atomic_add_fetch(&v->storage->refcount, 1, __ATOMIC_RELAXED);
    return v;
}

// ---- introspection

int64_t gan_numel(const gan_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->size[i];
    return n;
}

void gan_contiguous_strides(int64_t *stride, int ndim, const int64_t *size) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) { stride[i] = s; s *= size[i] > 0 ? size[i] : 1; }
}

bool gan_is_contiguous(const gan_tensor *t) {
    if (gan_numel(t) == 0) return true;   // no element to misplace (as PyTorch)
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->size[i] != 1 && t->stride[i] != s) return false;
        s *= t->size[i];
    }
    return true;
}

int gan_wrap_dim(int *out, int dim, int ndim, const char *op) {
    int n = ndim > 0 ? ndim : 1;   // a 0-d tensor accepts dim 0 / -1
    if (dim < -n || dim >= n)
        return gan_error("%s: dim %d out of range for a %d-d tensor", op, dim, ndim);
    *out = dim < 0 ? dim + n : dim;
    return GAN_OK;
}

bool gan_same_shape(const gan_tensor *a, const gan_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++) if (a->size[i] != b->size[i]) return false;
    return true;
}

char *gan_shape_str(char *buf, size_t n, int ndim, const int64_t *size) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)size[i]);
    if (k < n) snprintf(buf + k, n - k, ndim == 1 ? ",)" : ")");
    return buf;
}

bool gan_may_overlap(const gan_tensor *a, const gan_tensor *b) {
    return a->storage == b->storage;
}

int gan_check_dims(int *out, int ndims, const int *dims, int ndim, const char *op,
                   bool *mask) {
    for (int i = 0; i < GAN_MAX_DIMS; i++) mask[i] = false;
    for (int i = 0; i < ndims; i++) {
        int d;
        if (gan_wrap_dim(&d, dims[i], ndim, op) != GAN_OK) return GAN_ERR;
        if (mask[d]) return gan_error("%s: dim %d given twice", op, dims[i]);
        mask[d] = true;
        if (out) out[i] = d;
    }
    return GAN_OK;
}

// ---- creation

int gan_check_shape(int ndim, const int64_t *size, const char *op, int64_t *numel) {
    if (ndim < 0 || ndim > GAN_MAX_DIMS)
        return gan_error("%s: %d dims requested, at most %d supported", op, ndim, GAN_MAX_DIMS);
    // span: the product with zero sizes counted as 1, which bounds every stride of the
    // contiguous layout (a zero-element tensor still has strides).
    int64_t n = 1, span = 1;
    for (int i = 0; i < ndim; i++) {
        if (size[i] < 0)
            return gan_error("%s: negative size %lld in dim %d", op, (long long)size[i],
                             i + gan_dim_base());
        int64_t s = size[i] > 0 ? size[i] : 1;
        if (__builtin_mul_overflow(span, s, &span) || span > GAN_MAX_NUMEL) {
            char b[GAN_SHAPE_BUF];
            return gan_error("%s: a tensor of shape %s would overflow (its sizes multiply to 2^59 or more)",
                             op, gan_shape_str(b, sizeof b, ndim, size));
        }
        n *= size[i];
    }
    if (numel) *numel = n;
    return GAN_OK;
}

// A new uninitialised tensor; errors name `op`.
static int new_tensor(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size, const char *op) {
    int64_t n = 0;
    if ((unsigned)dt >= GAN_NUM_DTYPES) return gan_error("%s: invalid dtype %d", op, (int)dt);
    if (gan_check_shape(ndim, size, op, &n) != GAN_OK) return GAN_ERR;
    gan_tensor *t = gan_malloc(sizeof *t);
    gan_storage *s = gan_malloc(sizeof *s);
    size_t nbytes = (size_t)n * gan_dtype_size(dt);
    void *data = gan_alloc(nbytes);
    if (!t || !s || !data) {
        free(t); free(s); gan_free(data, nbytes);
        return gan_error("%s: out of memory for %lld elements", op, (long long)n);
    }
    s->data = data; s->nbytes = nbytes; s->refcount = 1; s->version = 0;
    memset(t, 0, sizeof *t);
    t->refcount = 1; t->dtype = dt; t->ndim = ndim; t->storage = s;
    for (int i = 0; i < ndim; i++) t->size[i] = size[i];
    gan_contiguous_strides(t->stride, ndim, size);
    *out = t;
    return GAN_OK;
}

int gan_empty(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size) {
    return new_tensor(out, dt, ndim, size, "empty");
}

int gan_full(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size, double value) {
    if (new_tensor(out, dt, ndim, size, "full") != GAN_OK) return GAN_ERR;
    if (gan_fill_(*out, value) == GAN_OK) return GAN_OK;
    gan_tensor_release(*out);
    return GAN_ERR;
}

int gan_zeros(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size) {
    if (new_tensor(out, dt, ndim, size, "zeros") != GAN_OK) return GAN_ERR;
    memset((*out)->storage->data, 0, (*out)->storage->nbytes);
    return GAN_OK;
}

static void set_linear(gan_tensor *t, int64_t i, double v) {
    void *d = t->storage->data;   // contiguous, offset 0
    switch (t->dtype) {
    case GAN_FLOAT32: ((float *)d)[i] = (float)v; break;
    case GAN_FLOAT64: ((double *)d)[i] = v; break;
    case GAN_INT64: ((int64_t *)d)[i] = (int64_t)v; break;
    }
}

int gan_arange(gan_tensor **out, gan_dtype dt, double start, double end, double step) {
    if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(end))
        return gan_error("arange: need finite start, end and a non-zero step (got %g, %g, %g)",
                         start, end, step);
    if ((end - start) / step < 0)
        return gan_error("arange: step %g goes away from end %g (start %g)", step, end, start);
    double count = ceil((end - start) / step);
    if (!(count < 0x1p62))   // also catches an infinite quotient; keeps the cast defined
        return gan_error("arange: %g to %g by %g gives too many elements", start, end, step);
    int64_t n = (int64_t)count;
    if (gan_empty(out, dt, 1, &n) != GAN_OK) return GAN_ERR;
    for (int64_t i = 0; i < n; i++) set_linear(*out, i, start + (double)i * step);
    return GAN_OK;
}

int gan_linspace(gan_tensor **out, gan_dtype dt, double start, double end, int64_t steps) {
    if (steps < 0) return gan_error("linspace: steps must be >= 0, got %lld", (long long)steps);
    if (gan_empty(out, dt, 1, &steps) != GAN_OK) return GAN_ERR;
    double d = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
    // Fill from both ends so the last value is exactly `end` (one step gives `start`).
    for (int64_t i = 0; i < steps; i++)
        set_linear(*out, i, (i < steps / 2 || steps == 1) ? start + d * (double)i
                                          : end - d * (double)(steps - 1 - i));
    return GAN_OK;
}

int gan_eye(gan_tensor **out, gan_dtype dt, int64_t n, int64_t m) {
    int64_t size[2] = {n, m};
    if (gan_zeros(out, dt, 2, size) != GAN_OK) return GAN_ERR;
    for (int64_t i = 0; i < n && i < m; i++) set_linear(*out, i * m + i, 1.0);
    return GAN_OK;
}

int gan_from_doubles(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size,
                     const double *values) {
    if (gan_empty(out, dt, ndim, size) != GAN_OK) return GAN_ERR;
    int64_t n = gan_numel(*out);
    for (int64_t i = 0; i < n; i++) set_linear(*out, i, values[i]);
    return GAN_OK;
}

// ---- element access

static int64_t elem_offset(const gan_tensor *t, const int64_t *index) {
    int64_t off = t->offset;
    for (int i = 0; i < t->ndim; i++) off += index[i] * t->stride[i];
    return off;
}

double gan_get(const gan_tensor *t, const int64_t *index) {
    int64_t o = elem_offset(t, index);
    switch (t->dtype) {
    case GAN_FLOAT32: return ((float *)t->storage->data)[o];
    case GAN_FLOAT64: return ((double *)t->storage->data)[o];
    case GAN_INT64: return (double)((int64_t *)t->storage->data)[o];
    }
    return 0;
}

int64_t gan_get_i64(const gan_tensor *t, const int64_t *index) {
    int64_t o = elem_offset(t, index);
    if (t->dtype == GAN_INT64) return ((int64_t *)t->storage->data)[o];
    return (int64_t)gan_get(t, index);
}

void gan_set(gan_tensor *t, const int64_t *index, double v) {
    int64_t o = elem_offset(t, index);
    switch (t->dtype) {
    case GAN_FLOAT32: ((float *)t->storage->data)[o] = (float)v; break;
    case GAN_FLOAT64: ((double *)t->storage->data)[o] = v; break;
    case GAN_INT64: ((int64_t *)t->storage->data)[o] = (int64_t)v; break;
    }
}

int gan_item(double *out, const gan_tensor *t) {
    if (gan_numel(t) != 1) {
        char s[GAN_SHAPE_BUF];
        return gan_error("item: tensor of shape %s has %lld elements, expected exactly 1",
                         gan_shape_str(s, sizeof s, t->ndim, t->size), (long long)gan_numel(t));
    }
    int64_t zero[GAN_MAX_DIMS] = {0};
    *out = gan_get(t, zero);
    return GAN_OK;
}

// ---- views

// Strides for viewing t (any strides) with a new shape without copying, if possible.
static bool view_strides(const gan_tensor *t, int ndim, const int64_t *size, int64_t *stride) {
    // Walk t's dims in chunks that are contiguous among themselves, matching new dims
    // whose product equals each chunk's element count.
    int64_t numel = gan_numel(t);
    if (numel == 0 || t->ndim == 0) { gan_contiguous_strides(stride, ndim, size); return true; }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = t->ndim ? t->stride[t->ndim - 1] : 1;
    int64_t tensor_numel = 1, view_numel = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        tensor_numel *= t->size[d];
        if (d == 0 || (t->size[d - 1] != 1 && t->stride[d - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || size[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= size[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (d > 0) {
                chunk_base_stride = t->stride[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

static int infer_size(int64_t *size, int ndim, const int64_t *in, int64_t numel, const char *op) {
    int infer = -1;
    int64_t prod = 1;
    if (ndim > GAN_MAX_DIMS) return gan_error("%s: at most %d dims", op, GAN_MAX_DIMS);
    for (int i = 0; i < ndim; i++) {
        size[i] = in[i];
        if (in[i] == -1) {
            if (infer >= 0) return gan_error("%s: only one dim can be -1", op);
            infer = i;
        } else if (in[i] < 0) {
            return gan_error("%s: invalid size %lld in dim %d", op, (long long)in[i],
                             i + gan_dim_base());
        } else if (__builtin_mul_overflow(prod, in[i], &prod)) {
            char b[GAN_SHAPE_BUF];
            return gan_error("%s: a tensor of shape %s would overflow (its sizes multiply to 2^59 or "
                             "more)", op, gan_shape_str(b, sizeof b, ndim, in));
        }
    }
    if (infer >= 0) {
        if (prod == 0 || numel % prod != 0) goto bad;
        size[infer] = numel / prod;
    } else if (prod != numel) {
        goto bad;
    }
    // The element count matches, but a zero-element shape may still have huge strides.
    return gan_check_shape(ndim, size, op, NULL);
bad:;
    char s[GAN_SHAPE_BUF];
    return gan_error("%s: shape %s is invalid for %lld elements", op,
                     gan_shape_str(s, sizeof s, ndim, in), (long long)numel);
}

int gan_view(gan_tensor **out, const gan_tensor *t, int ndim, const int64_t *size) {
    int64_t sz[GAN_MAX_DIMS], st[GAN_MAX_DIMS];
    if (infer_size(sz, ndim, size, gan_numel(t), "view") != GAN_OK) return GAN_ERR;
    if (!view_strides(t, ndim, sz, st)) {
        char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
        return gan_error("view: a tensor of shape %s with these strides cannot be viewed as %s "
                         "without a copy; use reshape or contiguous()",
                         gan_shape_str(a, sizeof a, t->ndim, t->size),
                         gan_shape_str(b, sizeof b, ndim, sz));
    }
    gan_tensor *v = new_view(t);
    if (!v) return GAN_ERR;
    v->ndim = ndim;
    memcpy(v->size, sz, sizeof(int64_t) * (size_t)ndim);
    memcpy(v->stride, st, sizeof(int64_t) * (size_t)ndim);
    *out = v;
    return GAN_OK;
}

int gan_reshape(gan_tensor **out, const gan_tensor *t, int ndim, const int64_t *size) {
    int64_t sz[GAN_MAX_DIMS], st[GAN_MAX_DIMS];
    if (infer_size(sz, ndim, size, gan_numel(t), "reshape") != GAN_OK) return GAN_ERR;
    if (view_strides(t, ndim, sz, st)) return gan_view(out, t, ndim, sz);
    gan_tensor *c;
    if (gan_contiguous(&c, t) != GAN_OK) return GAN_ERR;
    int rc = gan_view(out, c, ndim, sz);
    gan_tensor_release(c);
    return rc;
}

int gan_transpose(gan_tensor **out, const gan_tensor *t, int d0, int d1) {
    if (gan_wrap_dim(&d0, d0, t->ndim, "transpose") || gan_wrap_dim(&d1, d1, t->ndim, "transpose"))
        return GAN_ERR;
    gan_tensor *v = new_view(t);
    if (!v) return GAN_ERR;
    if (t->ndim > 0) {
        v->size[d0] = t->size[d1]; v->size[d1] = t->size[d0];
        v->stride[d0] = t->stride[d1]; v->stride[d1] = t->stride[d0];
    }
    *out = v;
    return GAN_OK;
}

int gan_permute(gan_tensor **out, const gan_tensor *t, int ndim, const int *dims) {
    if (ndim != t->ndim)
        return gan_error("permute: %d dims given for a %d-d tensor", ndim, t->ndim);
    int d[GAN_MAX_DIMS];
    bool seen[GAN_MAX_DIMS];
    if (gan_check_dims(d, ndim, dims, t->ndim, "permute", seen) != GAN_OK) return GAN_ERR;
    gan_tensor *v = new_view(t);
    if (!v) return GAN_ERR;
    for (int i = 0; i < ndim; i++) { v->size[i] = t->size[d[i]]; v->stride[i] = t->stride[d[i]]; }
    *out = v;
    return GAN_OK;
}

int gan_narrow(gan_tensor **out, const gan_tensor *t, int dim, int64_t start, int64_t length) {
    if (t->ndim == 0) return gan_error("narrow: cannot narrow a 0-d tensor");
    if (gan_wrap_dim(&dim, dim, t->ndim, "narrow") != GAN_OK) return GAN_ERR;
    if (start < 0 || length < 0 || start > t->size[dim] || length > t->size[dim] - start) {
        int64_t end;
        if (__builtin_add_overflow(start, length, &end)) end = INT64_MAX;
        return gan_error("narrow: range [%lld, %lld) out of bounds for dim %d of size %lld",
                         (long long)start, (long long)end, dim + gan_dim_base(), (long long)t->size[dim]);
    }
    gan_tensor *v = new_view(t);
    if (!v) return GAN_ERR;
    v->offset += start * t->stride[dim];
    v->size[dim] = length;
    *out = v;
    return GAN_OK;
}

int gan_select(gan_tensor **out, const gan_tensor *t, int dim, int64_t index) {
    if (t->ndim == 0) return gan_error("select: cannot index a 0-d tensor");
    if (gan_wrap_dim(&dim, dim, t->ndim, "select") != GAN_OK) return GAN_ERR;
    if (index < 0 || index >= t->size[dim])
        return gan_error("select: index %lld out of range for dim %d of size %lld",
                         (long long)index, dim + gan_dim_base(), (long long)t->size[dim]);
    gan_tensor *v = new_view(t);
    if (!v) return GAN_ERR;
    v->offset += index * t->stride[dim];
    for (int i = dim; i < t->ndim - 1; i++) {
        v->size[i] = t->size[i + 1];
        v->stride[i] = t->stride[i + 1];
    }
    v->ndim--;
    *out = v;
    return GAN_OK;
}

int gan_expand(gan_tensor **out, const gan_tensor *t, int ndim, const int64_t *size) {
    char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
    if (ndim < t->ndim || ndim > GAN_MAX_DIMS)
        return gan_error("expand: cannot expand shape %s to %s",
                         gan_shape_str(a, sizeof a, t->ndim, t->size),
                         gan_shape_str(b, sizeof b, ndim, size));
    gan_tensor *v = new_view(t);
    if (!v) return GAN_ERR;
    v->ndim = ndim;
    int lead = ndim - t->ndim;
    for (int i = ndim - 1; i >= 0; i--) {
        int j = i - lead;
        int64_t want = size[i];
        if (j >= 0) {
            if (want == -1) want = t->size[j];
            if (t->size[j] == want) { v->size[i] = want; v->stride[i] = t->stride[j]; continue; }
            if (t->size[j] == 1 && want >= 0) { v->size[i] = want; v->stride[i] = 0; continue; }
        } else if (want >= 0) {
            v->size[i] = want; v->stride[i] = 0; continue;
        }
        gan_tensor_release(v);
        return gan_error("expand: cannot expand shape %s to %s (dim %d)",
                         gan_shape_str(a, sizeof a, t->ndim, t->size),
                         gan_shape_str(b, sizeof b, ndim, size), i + gan_dim_base());
    }
    if (gan_check_shape(ndim, v->size, "expand", NULL) != GAN_OK) {
        gan_tensor_release(v);
        return GAN_ERR;
    }
    *out = v;
    return GAN_OK;
}

int gan_squeeze(gan_tensor **out, const gan_tensor *t, int dim, bool all) {
    if (!all && gan_wrap_dim(&dim, dim, t->ndim, "squeeze") != GAN_OK) return GAN_ERR;
    gan_tensor *v = new_view(t);
    if (!v) return GAN_ERR;
    int k = 0;
    for (int i = 0; i < t->ndim; i++) {
        bool drop = t->size[i] == 1 && (all || i == dim);
        if (!drop) { v->size[k] = t->size[i]; v->stride[k] = t->stride[i]; k++; }
    }
    v->ndim = k;
    *out = v;
    return GAN_OK;
}

int gan_unsqueeze(gan_tensor **out, const gan_tensor *t, int dim) {
    if (t->ndim >= GAN_MAX_DIMS) return gan_error("unsqueeze: at most %d dims", GAN_MAX_DIMS);
    if (gan_wrap_dim(&dim, dim, t->ndim + 1, "unsqueeze") != GAN_OK) return GAN_ERR;
    gan_tensor *v = new_view(t);
    if (!v) return GAN_ERR;
    for (int i = t->ndim; i > dim; i--) { v->size[i] = t->size[i - 1]; v->stride[i] = t->stride[i - 1]; }
    v->size[dim] = 1;
    // Any stride serves a size-1 dim; this one keeps a contiguous tensor contiguous (and
    // 1 where the product would overflow: zero-element views may have huge strides).
    if (dim == t->ndim || __builtin_mul_overflow(t->size[dim], t->stride[dim], &v->stride[dim]))
        v->stride[dim] = 1;
    v->ndim = t->ndim + 1;
    *out = v;
    return GAN_OK;
}

int gan_flatten(gan_tensor **out, const gan_tensor *t, int start_dim, int end_dim) {
    if (t->ndim == 0) return gan_reshape(out, t, 1, (int64_t[]){1});
    if (gan_wrap_dim(&start_dim, start_dim, t->ndim, "flatten") ||
        gan_wrap_dim(&end_dim, end_dim, t->ndim, "flatten"))
        return GAN_ERR;
    if (start_dim > end_dim)
        return gan_error("flatten: start_dim %d comes after end_dim %d", start_dim, end_dim);
    int64_t size[GAN_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < start_dim; i++) size[k++] = t->size[i];
    int64_t p = 1;
    for (int i = start_dim; i <= end_dim; i++) p *= t->size[i];
    size[k++] = p;
    for (int i = end_dim + 1; i < t->ndim; i++) size[k++] = t->size[i];
    return gan_reshape(out, t, k, size);
}

int gan_as_strided(gan_tensor **out, const gan_tensor *t, int ndim, const int64_t *size,
                   const int64_t *stride, int64_t offset) {
    if (ndim < 0 || ndim > GAN_MAX_DIMS) return gan_error("as_strided: bad ndim %d", ndim);
    // Last element reached, in bytes past the storage start; overflow means out of bounds.
    int64_t hi = offset, esz = (int64_t)gan_dtype_size(t->dtype), step, end = 0;
    bool empty = false, overflow = false;
    for (int i = 0; i < ndim; i++) {
        if (size[i] < 0 || stride[i] < 0)
            return gan_error("as_strided: negative size or stride in dim %d", i + gan_dim_base());
        if (size[i] == 0) empty = true;
        else if (__builtin_mul_overflow(size[i] - 1, stride[i], &step) ||
                 __builtin_add_overflow(hi, step, &hi))
            overflow = true;
    }
    if (!empty && !overflow)
        overflow = __builtin_add_overflow(hi, 1, &end) || __builtin_mul_overflow(end, esz, &end);
    if (offset < 0 || (!empty && (overflow || end > (int64_t)t->storage->nbytes)))
        return gan_error("as_strided: view reaches outside the storage of %zu bytes",
                         t->storage->nbytes);
    // Stride-0 dims reach no further, but the element count must still be bounded.
    if (gan_check_shape(ndim, size, "as_strided", NULL) != GAN_OK) return GAN_ERR;
    gan_tensor *v = new_view(t);
    if (!v) return GAN_ERR;
    v->ndim = ndim;
    v->offset = offset;
    for (int i = 0; i < ndim; i++) { v->size[i] = size[i]; v->stride[i] = stride[i]; }
    *out = v;
    return GAN_OK;
}

// ---- broadcasting

int gan_broadcast_shape(int *ndim, int64_t *size, int n, const gan_tensor *const *ts,
                        const char *op) {
    int nd = 0;
    for (int k = 0; k < n; k++) if (ts[k]->ndim > nd) nd = ts[k]->ndim;
    for (int i = 0; i < nd; i++) size[i] = 1;
    for (int k = 0; k < n; k++) {
        const gan_tensor *t = ts[k];
        for (int j = 0; j < t->ndim; j++) {
            int i = nd - t->ndim + j;
            if (size[i] == t->size[j] || t->size[j] == 1) continue;
            if (size[i] == 1) { size[i] = t->size[j]; continue; }
            // Name the earlier operand that set this dim, not always the first one.
            const gan_tensor *u = ts[0];
            for (int q = 0; q < k; q++) {
                int jq = i - (nd - ts[q]->ndim);
                if (jq >= 0 && ts[q]->size[jq] == size[i]) { u = ts[q]; break; }
            }
            char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
            return gan_error("%s: shapes %s and %s do not broadcast (dim %d: %lld vs %lld)", op,
                             gan_shape_str(a, sizeof a, u->ndim, u->size),
                             gan_shape_str(b, sizeof b, t->ndim, t->size), j - t->ndim,
                             (long long)size[i], (long long)t->size[j]);
        }
    }
    *ndim = nd;
    return GAN_OK;
}
