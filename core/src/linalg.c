// matmul on cblas_sgemm/dgemm. Strided matrices are passed to BLAS as they are when one
// of their dims is unit-stride (a transposed view costs no copy); batches broadcast.
// Under GAN_PREC_BF16 (gan/precision.h) float32 products run on oneDNN instead, from
// dense bfloat16 copies of the operands (dnnl_matmul.c).
#include "internal.h"
#include "gan/flops.h"
#include "conv_dnnl.h"
#include "gan/alloc.h"
#include "gan/precision.h"
#include <cblas.h>
#include <omp.h>

// How to hand one (rows, cols) matrix with strides (s0, s1) to BLAS without a copy.
static bool blas_layout(int64_t rows, int64_t cols, int64_t s0, int64_t s1, bool *trans,
                        int64_t *ld) {
    if (s1 == 1 && (s0 >= cols || rows == 1) && s0 >= 1) { *trans = false; *ld = s0 > cols ? s0 : cols; return true; }
    if (s0 == 1 && (s1 >= rows || cols == 1) && s1 >= 1) { *trans = true; *ld = s1 > rows ? s1 : rows; return true; }
    // A single column or row steps by one stride only; a stride of 0 (expanded) needs a copy.
    if (cols == 1 && s0 >= 1) { *trans = false; *ld = s0; return true; }
    if (rows == 1 && s1 >= 1) { *trans = true; *ld = s1; return true; }
    return false;
}

// Makes the last two dims of t usable by BLAS (copy only if they are not).
static int blas_ready(gan_tensor **out, const gan_tensor *t, bool *trans, int64_t *ld) {
    int nd = t->ndim;
    if (blas_layout(t->size[nd - 2], t->size[nd - 1], t->stride[nd - 2], t->stride[nd - 1],
                    trans, ld)) {
        *out = gan_tensor_retain((gan_tensor *)t);
        return GAN_OK;
    }
    if (gan_clone(out, t) != GAN_OK) return GAN_ERR;
    *trans = false;
    *ld = t->size[nd - 1];
    return GAN_OK;
}

static void gemm(gan_dtype dt, bool ta, bool tb, int64_t n, int64_t m, int64_t k,
                 const void *A, int64_t lda, const void *B, int64_t ldb, void *C, int64_t ldc) {
    if (dt == GAN_FLOAT32)
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)n, (int)m, (int)k, 1.0f, A, (int)lda, B, (int)ldb, 0.0f, C, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)n, (int)m, (int)k, 1.0, A, (int)lda, B, (int)ldb, 0.0, C, (int)ldc);
}

// Copies `rows` x `cols` matrices, one per batch, into dense bfloat16 (nb, rows, cols).
static void to_bf16(uint16_t *dst, const gan_tensor *t, int bnd, const int64_t *bsize, int64_t nb, bool trans,
                    int64_t ld, int64_t rows, int64_t cols) {
    #pragma omp parallel for schedule(static) if (nb * rows * cols > 65536)
    for (int64_t r = 0; r < nb * rows; r++) {
        int64_t bi = r / rows, i = r % rows, rem = bi, off = t->offset;
        for (int d = bnd - 1; d >= 0; d--) {
            off += (rem % bsize[d]) * t->stride[d];
            rem /= bsize[d];
        }
        // row i of the BLAS-ready matrix (leading dim ld): contiguous, or a column of the
        // stored transpose
        const float *p = (const float *)t->storage->data + off + (trans ? i : i * ld);
        gan_f32_to_bf16(dst + r * cols, p, cols, trans ? ld : 1);
    }
}

// C = A B in bfloat16 with float32 accumulation through oneDNN: GAN_OK, GAN_ERR, or
// GAN_DNNL_UNSUPPORTED (then the caller runs the float32 GEMM).
static int matmul_bf16(gan_tensor *C, const gan_tensor *A, const gan_tensor *B, int bnd, const int64_t *bsize,
                       int64_t nb, int64_t n, int64_t m, int64_t k, bool ta, int64_t lda, bool tb, int64_t ldb) {
    size_t na = (size_t)(nb * n * k) * 2, nbb = (size_t)(nb * k * m) * 2;
    uint16_t *a16 = gan_alloc(na), *b16 = gan_alloc(nbb);
    int rc = GAN_ERR;
    if (!a16 || !b16) {
        gan_error("matmul: out of memory for the bfloat16 operands");
    } else {
        to_bf16(a16, A, bnd, bsize, nb, ta, lda, n, k);
        to_bf16(b16, B, bnd, bsize, nb, tb, ldb, k, m);
        rc = gan_dnnl_matmul_bf16(nb, n, m, k, a16, b16, gan_data(C));
    }
    if (a16) gan_free(a16, na);
    if (b16) gan_free(b16, nbb);
    return rc;
}

int gan_matmul(gan_tensor **out, const gan_tensor *a, const gan_tensor *b) {
    char sa[GAN_SHAPE_BUF], sb[GAN_SHAPE_BUF];
    if (a->dtype != b->dtype)
        return gan_error("matmul: dtypes differ (%s and %s)", gan_dtype_name(a->dtype),
                         gan_dtype_name(b->dtype));
    if (a->dtype == GAN_INT64)
        return gan_error("matmul: not supported for dtype int64 (convert with :float() first)");
    if (a->ndim == 0 || b->ndim == 0)
        return gan_error("matmul: both operands need at least 1 dim, got shapes %s and %s",
                         gan_shape_str(sa, sizeof sa, a->ndim, a->size),
                         gan_shape_str(sb, sizeof sb, b->ndim, b->size));
    // 1-D operands become matrices and the added dim is dropped from the result.
    gan_tensor *A = NULL, *B = NULL, *Ab = NULL, *Bb = NULL, *C = NULL;
    int rc = GAN_ERR;
    bool a_vec = a->ndim == 1, b_vec = b->ndim == 1;
    if ((a_vec ? gan_unsqueeze(&A, a, 0) : gan_view(&A, a, a->ndim, a->size)) != GAN_OK) goto done;
    if ((b_vec ? gan_unsqueeze(&B, b, 1) : gan_view(&B, b, b->ndim, b->size)) != GAN_OK) goto done;
    int64_t n = A->size[A->ndim - 2], k = A->size[A->ndim - 1];
    int64_t k2 = B->size[B->ndim - 2], m = B->size[B->ndim - 1];
    if (k != k2) {
        gan_error("matmul: shapes %s and %s are not aligned (%lld != %lld)",
                  gan_shape_str(sa, sizeof sa, a->ndim, a->size),
                  gan_shape_str(sb, sizeof sb, b->ndim, b->size), (long long)k, (long long)k2);
        goto done;
    }
    // Broadcast the batch dims.
    gan_tensor ah = *A, bh = *B;   // headers of the batch part only
    ah.ndim = A->ndim - 2; bh.ndim = B->ndim - 2;
    int bnd;
    int64_t bsize[GAN_MAX_DIMS + 2];
    const gan_tensor *hs[2] = {&ah, &bh};
    if (gan_broadcast_shape(&bnd, bsize, 2, hs, "matmul") != GAN_OK) {
        gan_error("matmul: batch dims of shapes %s and %s do not broadcast",
                  gan_shape_str(sa, sizeof sa, a->ndim, a->size),
                  gan_shape_str(sb, sizeof sb, b->ndim, b->size));
        goto done;
    }
    bsize[bnd] = n; bsize[bnd + 1] = k;
    if (gan_expand(&Ab, A, bnd + 2, bsize) != GAN_OK) goto done;
    bsize[bnd] = k; bsize[bnd + 1] = m;
    if (gan_expand(&Bb, B, bnd + 2, bsize) != GAN_OK) goto done;
    gan_tensor_release(A); gan_tensor_release(B);
    bool ta, tb;
    int64_t lda, ldb;
    if (blas_ready(&A, Ab, &ta, &lda) != GAN_OK) { A = B = NULL; goto done; }
    if (blas_ready(&B, Bb, &tb, &ldb) != GAN_OK) { B = NULL; goto done; }
    bsize[bnd] = n; bsize[bnd + 1] = m;
    if (gan_empty(&C, a->dtype, bnd + 2, bsize) != GAN_OK) goto done;
    int64_t nb = 1;
    for (int i = 0; i < bnd; i++) nb *= bsize[i];
    size_t es = gan_dtype_size(a->dtype);
    int bf = GAN_DNNL_UNSUPPORTED;
    if (k > 0 && n > 0 && m > 0 && a->dtype == GAN_FLOAT32 && gan_get_precision() == GAN_PREC_BF16) {
        bf = matmul_bf16(C, A, B, bnd, bsize, nb, n, m, k, ta, lda, tb, ldb);
        if (bf == GAN_ERR) goto done;
    }
    if (bf == GAN_OK) {
        // done in bfloat16
    } else if (k == 0) {
        gan_fill_(C, 0);
    } else if (n > 0 && m > 0) {
        // Parallel over batches (BLAS single-threaded inside) unless one big product. No
        // OpenMP region at all otherwise: inside one, even inactive (if (false)), OpenBLAS
        // runs its GEMM on a single thread.
        bool par = nb > 1 && (double)n * m * k < 2e7 * nb;
#define GAN_GEMM_BATCH(bi)                                                              \
        do {                                                                            \
            int64_t rem = (bi), oa = A->offset, ob = B->offset;                         \
            for (int d = bnd - 1; d >= 0; d--) {                                        \
                int64_t i = rem % bsize[d];                                             \
                rem /= bsize[d];                                                        \
                oa += i * A->stride[d];                                                 \
                ob += i * B->stride[d];                                                 \
            }                                                                           \
            gemm(a->dtype, ta, tb, n, m, k, (char *)A->storage->data + oa * es, lda,    \
                 (char *)B->storage->data + ob * es, ldb,                               \
                 (char *)gan_data(C) + (size_t)((bi) * n * m) * es, m);                 \
        } while (0)
        if (par) {
            #pragma omp parallel for schedule(static)
            for (int64_t bi = 0; bi < nb; bi++) GAN_GEMM_BATCH(bi);
        } else {
            for (int64_t bi = 0; bi < nb; bi++) GAN_GEMM_BATCH(bi);
        }
#undef GAN_GEMM_BATCH
    }
    gan_flops_add(2.0 * (double)nb * (double)n * (double)m * (double)k);
    // Drop the dims added for 1-D operands.
    gan_tensor *r = C;
    C = NULL;
    if (b_vec) { gan_tensor *s; if (gan_squeeze(&s, r, -1, false) != GAN_OK) { C = r; goto done; } gan_tensor_release(r); r = s; }
    if (a_vec) { gan_tensor *s; if (gan_squeeze(&s, r, b_vec ? -1 : -2, false) != GAN_OK) { C = r; goto done; } gan_tensor_release(r); r = s; }
    *out = r;
    rc = GAN_OK;
done:
    gan_tensor_release(A); gan_tensor_release(B);
    gan_tensor_release(Ab); gan_tensor_release(Bb);
    gan_tensor_release(C);
    return rc;
}
