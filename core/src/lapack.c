// Linear algebra that needs LAPACK (from OpenBLAS): the QR decomposition, used by the
// orthogonal initialiser.
#include "internal.h"
#include <stdlib.h>
#include <string.h>

// Fortran LAPACK, column-major.
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
             const double *tau, double *work, const int *lwork, int *info);

int gan_qr(gan_tensor **q_out, gan_tensor **r_out, const gan_tensor *a) {
    char s[GAN_SHAPE_BUF];
    if (a->ndim != 2 || !gan_dtype_is_float(a->dtype))
        return gan_error("qr: expected a 2-d float matrix, got %s %s", gan_dtype_name(a->dtype),
                         gan_shape_str(s, sizeof s, a->ndim, a->size));
    int m = (int)a->size[0], n = (int)a->size[1], k = m < n ? m : n;
    if (m == 0 || n == 0) return gan_error("qr: empty matrix %s", gan_shape_str(s, sizeof s, 2, a->size));
    // Column-major copy of a in double: the transpose of a, contiguous.
    gan_tensor *at = NULL, *ac = NULL, *q = NULL, *r = NULL;
    int rc = GAN_ERR;
    double *tau = gan_malloc(sizeof(double) * (size_t)k), *work = NULL;
    if (!tau) return gan_error("qr: out of memory");
    if (gan_transpose(&at, a, 0, 1) != GAN_OK) goto done;
    if (gan_to_dtype(&ac, at, GAN_FLOAT64) != GAN_OK) goto done;
    gan_tensor *acc;
    if (gan_clone(&acc, ac) != GAN_OK) goto done;
    gan_tensor_release(ac);
    ac = acc;
    double *A = gan_data(ac);   // A[j * m + i] = a[i][j]
    int info, lwork = -1;
    double wq;
    dgeqrf_(&m, &n, A, &m, tau, &wq, &lwork, &info);
    lwork = (int)wq > n ? (int)wq : n;
    work = gan_malloc(sizeof(double) * (size_t)lwork);
    if (!work) { gan_error("qr: out of memory"); goto done; }
    dgeqrf_(&m, &n, A, &m, tau, work, &lwork, &info);
    if (info != 0) { gan_error("qr: LAPACK dgeqrf failed (info %d)", info); goto done; }
    // R (k, n): upper triangle of the first k rows.
    int64_t rs[2] = {k, n}, qs[2] = {m, k};
    if (gan_zeros(&r, GAN_FLOAT64, 2, rs) != GAN_OK || gan_empty(&q, GAN_FLOAT64, 2, qs) != GAN_OK) goto done;
    double *R = gan_data(r), *Q = gan_data(q);
    for (int i = 0; i < k; i++)
        for (int j = i; j < n; j++) R[i * n + j] = A[j * m + i];
    dorgqr_(&m, &k, &k, A, &m, tau, work, &lwork, &info);
    if (info != 0) { gan_error("qr: LAPACK dorgqr failed (info %d)", info); goto done; }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < k; j++) Q[i * k + j] = A[j * m + i];
    gan_tensor *qo, *ro;
    if (gan_to_dtype(&qo, q, a->dtype) != GAN_OK) goto done;
    if (gan_to_dtype(&ro, r, a->dtype) != GAN_OK) { gan_tensor_release(qo); goto done; }
    *q_out = qo;
    *r_out = ro;
    rc = GAN_OK;
done:
    free(tau);
    free(work);
    gan_tensor_release(at); gan_tensor_release(ac); gan_tensor_release(q); gan_tensor_release(r);
    return rc;
}

void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork, int *info);

int gan_eigh(gan_tensor **values, gan_tensor **vectors, const gan_tensor *a) {
    char s[GAN_SHAPE_BUF];
    if (a->ndim != 2 || a->size[0] != a->size[1] || !gan_dtype_is_float(a->dtype) || a->size[0] < 1)
        return gan_error("eigh: expected a square float matrix, got %s %s", gan_dtype_name(a->dtype),
                         gan_shape_str(s, sizeof s, a->ndim, a->size));
    int n = (int)a->size[0];
    gan_tensor *d = NULL, *v = NULL, *w = NULL;
    int rc = GAN_ERR;
    double *work = NULL;
    int *iwork = NULL;
    if (gan_to_dtype(&d, a, GAN_FLOAT64) != GAN_OK) return GAN_ERR;
    if (gan_clone(&v, d) != GAN_OK) goto done;   // symmetric: row-major = column-major
    int64_t nn = n;
    if (gan_empty(&w, GAN_FLOAT64, 1, &nn) != GAN_OK) goto done;
    int info, lwork = -1, liwork = -1, iq;
    double wq;
    dsyevd_("V", "L", &n, gan_data(v), &n, gan_data(w), &wq, &lwork, &iq, &liwork, &info);
    lwork = (int)wq; liwork = iq;
    work = gan_malloc(sizeof(double) * (size_t)lwork);
    iwork = gan_malloc(sizeof(int) * (size_t)liwork);
    if (!work || !iwork) { gan_error("eigh: out of memory"); goto done; }
    dsyevd_("V", "L", &n, gan_data(v), &n, gan_data(w), work, &lwork, iwork, &liwork, &info);
    if (info != 0) { gan_error("eigh: LAPACK dsyevd failed (info %d)", info); goto done; }
    // LAPACK wrote eigenvectors as columns of a column-major matrix: rows here.
    gan_tensor *vt;
    if (gan_transpose(&vt, v, 0, 1) != GAN_OK) goto done;
    gan_tensor *vc;
    rc = gan_contiguous(&vc, vt);
    gan_tensor_release(vt);
    if (rc != GAN_OK) goto done;
    *values = gan_tensor_retain(w);
    *vectors = vc;
    rc = GAN_OK;
done:
    free(work); free(iwork);
    gan_tensor_release(d); gan_tensor_release(v); gan_tensor_release(w);
    return rc;
}
