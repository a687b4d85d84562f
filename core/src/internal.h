// Private to core/: the strided N-d iterator every elementwise kernel runs on, shape checks,
// error context and small-object allocation.
#ifndef GAN_INTERNAL_H
#define GAN_INTERNAL_H
#include "gan/gan.h"

#define GAN_ITER_MAX_OPS 4

// Operands viewed at one common shape (broadcast operands get stride 0), with adjacent
// dims merged where every operand allows it, so most loops become one long row.
typedef struct gan_iter {
    int nops, ndim;
    int64_t numel;
    int64_t size[GAN_MAX_DIMS];
    int64_t stride[GAN_ITER_MAX_OPS][GAN_MAX_DIMS];  // elements
    char *data[GAN_ITER_MAX_OPS];
    int64_t elsize[GAN_ITER_MAX_OPS];
} gan_iter;

// Inner loop over n elements of one row: p[k] points at operand k's first element,
// s[k] is its stride in elements.
typedef void (*gan_loop_fn)(void **p, const int64_t *s, int64_t n, const void *ctx);

// Operand k must have ndim <= `ndim` and broadcast to `size`.
void gan_iter_init(gan_iter *it, int nops, const gan_tensor *const *ts, int ndim,
                   const int64_t *size);
// Runs fn over every row; in parallel when the work is large enough.
void gan_iter_run(const gan_iter *it, gan_loop_fn fn, const void *ctx);

// A shape held by value (nodes keep their inputs' shapes for the backward rules).
typedef struct gan_shape {
    int ndim;
    int64_t size[GAN_MAX_DIMS];
} gan_shape;
static inline gan_shape gan_shape_of(const gan_tensor *t) {
    gan_shape s = {t->ndim, {0}};
    for (int d = 0; d < t->ndim; d++) s.size[d] = t->size[d];
    return s;
}

// The bound on a shape's sizes: their product, zero sizes counted as 1, is at most
// GAN_MAX_NUMEL (2^59 - 1). It bounds the element count and every contiguous stride, so that
// element and byte offsets computed from them cannot overflow int64.
#define GAN_MAX_NUMEL (INT64_MAX / 16)
// Checks a shape against GAN_MAX_DIMS, negative sizes and GAN_MAX_NUMEL (errors name op);
// *numel (if not NULL) is its element count.
int gan_check_shape(int ndim, const int64_t *size, const char *op, int64_t *numel);
// Strides of a contiguous tensor of this shape (one that passed gan_check_shape).
void gan_contiguous_strides(int64_t *stride, int ndim, const int64_t *size);
// True if a and b may reference the same memory.
bool gan_may_overlap(const gan_tensor *a, const gan_tensor *b);
// Shape checks shared by ops; messages name `op`.
int gan_check_dims(int *out, int ndims, const int *dims, int ndim, const char *op,
                   bool *mask);

// The temporary `<path>.tmp.<pid>` an atomic write goes through (malloc'd; NULL when out of
// memory), after removing the temporaries of that path that dead processes left (io.c).
char *gan_atomic_temp(const char *path);

// Prefixes the thread's error message with "op: " (unless it already starts so), for a
// failure deep inside an op; returns GAN_ERR.
int gan_error_context(const char *op);

// Small objects (tensor headers, graph nodes, arrays): the system heap behind the
// failure hook of gan/testing.h (alloc.c). NULL with the error set on failure; release
// with free(). Storages use gan_alloc (alloc.h).
void *gan_malloc(size_t nbytes);
void *gan_calloc(size_t n, size_t size);
void *gan_realloc(void *p, size_t nbytes);
char *gan_strdup(const char *s);

// Drops a tensor's autograd state (grad, grad_fn, accumulate node); autograd.c.
void gan_autograd_clear(gan_tensor *t);

#endif
