// Tensors: a view (dtype, sizes, strides in elements, offset) over a refcounted storage.
//
//     gan_tensor *x, *t;
//     int64_t size[2] = {2, 3};
//     if (gan_zeros(&x, GAN_FLOAT32, 2, size) != GAN_OK) puts(gan_last_error());
//     gan_transpose(&t, x, 0, 1);      // (3, 2) view sharing x's storage
//     gan_tensor_release(t); gan_tensor_release(x);
//
// Every function returns GAN_OK or GAN_ERR (see error.h); outputs come first and are
// new references the caller releases. Dims are 0-based here; negative dims count from
// the end (-1 = last). Views share storage; kernels accept any strides.
#ifndef GAN_TENSOR_H
#define GAN_TENSOR_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "gan/error.h"

#define GAN_MAX_DIMS 16

typedef enum gan_dtype { GAN_FLOAT32 = 0, GAN_FLOAT64 = 1, GAN_INT64 = 2 } gan_dtype;
#define GAN_NUM_DTYPES 3

const char *gan_dtype_name(gan_dtype dt);        // "float32", "float64", "int64"
int gan_dtype_from_name(gan_dtype *out, const char *name);
size_t gan_dtype_size(gan_dtype dt);
static inline bool gan_dtype_is_float(gan_dtype dt) { return dt != GAN_INT64; }

typedef struct gan_storage {
    void *data;
    size_t nbytes;
    int refcount;            // atomic updates
    uint32_t version;        // bumped by every in-place write (autograd checks it)
} gan_storage;

struct gan_node;

typedef struct gan_tensor {
    int refcount;            // atomic updates
    gan_dtype dtype;
    int ndim;
    int64_t size[GAN_MAX_DIMS];
    int64_t stride[GAN_MAX_DIMS];   // in elements
    int64_t offset;                 // in elements, into storage
    gan_storage *storage;
    // autograd (autograd.h): a leaf has grad_fn == NULL
    bool requires_grad;
    struct gan_tensor *grad;        // accumulated gradient of a leaf
    struct gan_node *grad_fn;       // the node that produced this tensor
    struct gan_node *grad_acc;      // a leaf's accumulate node, made on first use
} gan_tensor;

// ---- lifetime
gan_tensor *gan_tensor_retain(gan_tensor *t);
void gan_tensor_release(gan_tensor *t);   // NULL is fine

// ---- introspection
int64_t gan_numel(const gan_tensor *t);
bool gan_is_contiguous(const gan_tensor *t);
static inline void *gan_data(const gan_tensor *t) {
    return (char *)t->storage->data + t->offset * (int64_t)gan_dtype_size(t->dtype);
}
// Normalises a possibly negative dim against ndim; errors name `op`.
int gan_wrap_dim(int *out, int dim, int ndim, const char *op);
bool gan_same_shape(const gan_tensor *a, const gan_tensor *b);
// "(2, 3, 4)" into buf; returns buf.
char *gan_shape_str(char *buf, size_t n, int ndim, const int64_t *size);
#define GAN_SHAPE_BUF 160

// ---- creation (contiguous, new storage)
int gan_empty(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size);
int gan_zeros(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size);
int gan_full(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size, double value);
int gan_arange(gan_tensor **out, gan_dtype dt, double start, double end, double step);
int gan_linspace(gan_tensor **out, gan_dtype dt, double start, double end, int64_t steps);
int gan_eye(gan_tensor **out, gan_dtype dt, int64_t n, int64_t m);
// From a flat buffer of doubles in row-major order (used for literal tensors).
int gan_from_doubles(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size,
                     const double *values);

// ---- element access (index has ndim entries, already bounds-checked by the caller)
double gan_get(const gan_tensor *t, const int64_t *index);
void gan_set(gan_tensor *t, const int64_t *index, double v);
int64_t gan_get_i64(const gan_tensor *t, const int64_t *index);
int gan_item(double *out, const gan_tensor *t);   // one-element tensors only

// ---- views: share storage, no copy
int gan_view(gan_tensor **out, const gan_tensor *t, int ndim, const int64_t *size); // -1 infers
int gan_reshape(gan_tensor **out, const gan_tensor *t, int ndim, const int64_t *size); // view or copy
int gan_transpose(gan_tensor **out, const gan_tensor *t, int d0, int d1);
int gan_permute(gan_tensor **out, const gan_tensor *t, int ndim, const int *dims);
int gan_narrow(gan_tensor **out, const gan_tensor *t, int dim, int64_t start, int64_t length);
int gan_select(gan_tensor **out, const gan_tensor *t, int dim, int64_t index);
int gan_expand(gan_tensor **out, const gan_tensor *t, int ndim, const int64_t *size); // -1 keeps
int gan_squeeze(gan_tensor **out, const gan_tensor *t, int dim, bool all);
int gan_unsqueeze(gan_tensor **out, const gan_tensor *t, int dim);
int gan_flatten(gan_tensor **out, const gan_tensor *t, int start_dim, int end_dim);
int gan_as_strided(gan_tensor **out, const gan_tensor *t, int ndim, const int64_t *size,
                   const int64_t *stride, int64_t offset);

// ---- copies
int gan_contiguous(gan_tensor **out, const gan_tensor *t);  // retains t when contiguous
int gan_clone(gan_tensor **out, const gan_tensor *t);
int gan_to_dtype(gan_tensor **out, const gan_tensor *t, gan_dtype dt); // retains when same
// dst <- src, broadcasting src to dst's shape and converting dtype.
int gan_copy_(gan_tensor *dst, const gan_tensor *src);
int gan_fill_(gan_tensor *t, double value);

// ---- broadcasting
int gan_broadcast_shape(int *ndim, int64_t *size, int n, const gan_tensor *const *ts,
                        const char *op);

#endif
