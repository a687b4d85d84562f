// Operations on tensors: elementwise (NumPy broadcasting), reductions, matmul, joins and
// indexing. Outputs first; every function accepts any strides.
#ifndef GAN_OPS_H
#define GAN_OPS_H
#include "gan/tensor.h"

// ---- elementwise
typedef enum gan_unop {
    GAN_NEG, GAN_ABS, GAN_EXP, GAN_LOG, GAN_SQRT, GAN_RSQRT, GAN_TANH, GAN_SIGMOID,
    GAN_RELU, GAN_SIGN, GAN_RECIPROCAL, GAN_SQUARE, GAN_FLOOR, GAN_CEIL, GAN_ROUND,
    GAN_LOG1P, GAN_EXPM1, GAN_SIN, GAN_COS, GAN_ERF, GAN_NUM_UNOPS
} gan_unop;
typedef enum gan_binop {
    GAN_ADD, GAN_SUB, GAN_MUL, GAN_DIV, GAN_POW, GAN_MINIMUM, GAN_MAXIMUM,
    GAN_EQ, GAN_NE, GAN_LT, GAN_LE, GAN_GT, GAN_GE, GAN_NUM_BINOPS
} gan_binop;
const char *gan_unop_name(gan_unop op);
const char *gan_binop_name(gan_binop op);

int gan_unary(gan_tensor **out, gan_unop op, const gan_tensor *a);
int gan_unary_(gan_tensor *a, gan_unop op);
// Both operands must have the same dtype; comparisons give 0/1 in that dtype.
int gan_binary(gan_tensor **out, gan_binop op, const gan_tensor *a, const gan_tensor *b);
// a <- a op b; b broadcasts to a's shape.
int gan_binary_(gan_tensor *a, gan_binop op, const gan_tensor *b);
// a op scalar (reversed: scalar op a). The scalar is converted to a's dtype.
int gan_binary_scalar(gan_tensor **out, gan_binop op, const gan_tensor *a, double s,
                      bool reversed);
int gan_binary_scalar_(gan_tensor *a, gan_binop op, double s);
// Bounds may be NaN for "none".
// x > 0 ? x : slope x (derivative false), or its derivative x > 0 ? 1 : slope (true).
int gan_leaky_relu(gan_tensor **out, const gan_tensor *a, double slope, bool derivative);
// g times the derivative of an activation, in one pass: op GAN_RELU (v its input; slope
// for leaky_relu, 0 for relu), GAN_TANH or GAN_SIGMOID (v its output).
int gan_activation_grad(gan_tensor **out, gan_unop op, const gan_tensor *g, const gan_tensor *v, double slope);
int gan_clamp(gan_tensor **out, const gan_tensor *a, double lo, double hi);
int gan_clamp_(gan_tensor *a, double lo, double hi);
// out = cond != 0 ? a : b, all three broadcast; a and b share a dtype.
int gan_where(gan_tensor **out, const gan_tensor *cond, const gan_tensor *a,
              const gan_tensor *b);
// out = mask != 0 ? value : a (mask broadcasts to a).
int gan_masked_fill(gan_tensor **out, const gan_tensor *a, const gan_tensor *mask,
                    double value);
int gan_masked_fill_(gan_tensor *a, const gan_tensor *mask, double value);

// ---- reductions over `dims` (ndims == 0: all dims)
typedef enum gan_redop {
    GAN_SUM, GAN_MEAN, GAN_PROD, GAN_MAX, GAN_MIN, GAN_NUM_REDOPS
} gan_redop;
int gan_reduce(gan_tensor **out, gan_redop op, const gan_tensor *a, int ndims,
               const int *dims, bool keepdim);
int gan_var(gan_tensor **out, const gan_tensor *a, int ndims, const int *dims,
            bool unbiased, bool keepdim);
int gan_std(gan_tensor **out, const gan_tensor *a, int ndims, const int *dims,
            bool unbiased, bool keepdim);
// p-norm (p = INFINITY for max-abs, p = 0 counts non-zeros).
int gan_norm(gan_tensor **out, const gan_tensor *a, double p, int ndims, const int *dims,
             bool keepdim);
// Max/min along one dim: values and int64 indices (first occurrence).
int gan_max_dim(gan_tensor **values, gan_tensor **indices, const gan_tensor *a, int dim,
                bool keepdim, bool is_min);
// Index into the flattened tensor when all == true.
int gan_argmax(gan_tensor **out, const gan_tensor *a, int dim, bool all, bool keepdim,
               bool is_min);

// ---- linear algebra (float32 / float64 on BLAS)
// 1-D x 1-D: dot; 2-D x 2-D; N-D: batched, batch dims broadcast.
int gan_matmul(gan_tensor **out, const gan_tensor *a, const gan_tensor *b);
// Reduced QR of a (m, n) matrix: q (m, k), r (k, n), k = min(m, n) (LAPACK, in double).
int gan_qr(gan_tensor **q, gan_tensor **r, const gan_tensor *a);
// Eigen-decomposition of a symmetric matrix (LAPACK dsyevd, in double): ascending
// eigenvalues (n) and eigenvectors as the columns of vectors (n, n).
int gan_eigh(gan_tensor **values, gan_tensor **vectors, const gan_tensor *a);

// ---- joins and indexing
int gan_cat(gan_tensor **out, int n, const gan_tensor *const *ts, int dim);
int gan_index_select(gan_tensor **out, const gan_tensor *a, int dim, const gan_tensor *index);
int gan_gather(gan_tensor **out, const gan_tensor *a, int dim, const gan_tensor *index);
// a[index[i][j]][j] += src[i][j] (dim 0 example); in place on a.
int gan_scatter_add_(gan_tensor *a, int dim, const gan_tensor *index, const gan_tensor *src);
int gan_scatter_add(gan_tensor **out, const gan_tensor *a, int dim, const gan_tensor *index,
                    const gan_tensor *src);
// out = a, then out[.., index[i], ..] += src[.., i, ..] along dim (index_select's adjoint).
int gan_index_add(gan_tensor **out, const gan_tensor *a, int dim, const gan_tensor *index,
                  const gan_tensor *src);

#endif
