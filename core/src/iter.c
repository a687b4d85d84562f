#include "internal.h"
#include <omp.h>
#include <stdint.h>
#include <string.h>

void gan_iter_init(gan_iter *it, int nops, const gan_tensor *const *ts, int ndim,
                   const int64_t *size) {
    it->nops = nops;
    it->numel = 1;
    for (int i = 0; i < ndim; i++) it->numel *= size[i];
    // Broadcast every operand to `size`, dropping dims of size 1 on the way.
    int nd = 0;
    for (int i = 0; i < ndim; i++) {
        if (size[i] == 1) continue;
        it->size[nd] = size[i];
        for (int k = 0; k < nops; k++) {
            const gan_tensor *t = ts[k];
            int j = i - (ndim - t->ndim);
            it->stride[k][nd] = (j >= 0 && t->size[j] != 1) ? t->stride[j] : 0;
        }
        nd++;
    }
    // Merge dim d into d+1 when every operand steps through both as one run.
    int m = 0;
    for (int d = 0; d < nd; d++) {
        if (m > 0) {
            bool ok = true;
            for (int k = 0; k < nops && ok; k++)
                ok = it->stride[k][m - 1] == it->stride[k][d] * it->size[d];
            if (ok) {
                it->size[m - 1] *= it->size[d];
                for (int k = 0; k < nops; k++) it->stride[k][m - 1] = it->stride[k][d];
                continue;
            }
        }
        it->size[m] = it->size[d];
        for (int k = 0; k < nops; k++) it->stride[k][m] = it->stride[k][d];
        m++;
    }
    if (m == 0) {   // scalar: one row of one element
        it->size[0] = 1;
        for (int k = 0; k < nops; k++) it->stride[k][0] = 0;
        m = 1;
    }
    // A short innermost dim (a permuted copy ending in a dim of 2 or 3, as pixel shuffle
    // makes) would cost a loop call per few elements: swap in the long dim whose strides
    // are smallest. The loops are elementwise, so the order of the rows is free.
    if (m > 1 && it->size[m - 1] < 16) {
        int best = -1;
        int64_t best_cost = INT64_MAX;
        for (int d = 0; d < m - 1; d++) {
            int64_t cost = 0;
            for (int k = 0; k < nops; k++) cost += it->stride[k][d] < 0 ? -it->stride[k][d] : it->stride[k][d];
            if (it->size[d] >= 16 && cost < best_cost) { best = d; best_cost = cost; }
        }
        if (best >= 0) {
            int64_t t = it->size[best]; it->size[best] = it->size[m - 1]; it->size[m - 1] = t;
            for (int k = 0; k < nops; k++) {
                t = it->stride[k][best]; it->stride[k][best] = it->stride[k][m - 1]; it->stride[k][m - 1] = t;
            }
        }
    }
    it->ndim = m;
    for (int k = 0; k < nops; k++) {
        it->elsize[k] = (int64_t)gan_dtype_size(ts[k]->dtype);
        it->data[k] = (char *)gan_data(ts[k]);
    }
}

// Runs elements [begin, end) in row order.
static void run_range(const gan_iter *it, gan_loop_fn fn, const void *ctx, int64_t begin,
                      int64_t end) {
    int nd = it->ndim, inner = nd - 1;
    int64_t idx[GAN_MAX_DIMS];
    int64_t rem = begin;
    for (int d = nd - 1; d >= 0; d--) { idx[d] = rem % it->size[d]; rem /= it->size[d]; }
    int64_t s[GAN_ITER_MAX_OPS];
    for (int k = 0; k < it->nops; k++) s[k] = it->stride[k][inner];
    while (begin < end) {
        void *p[GAN_ITER_MAX_OPS];
        for (int k = 0; k < it->nops; k++) {
            int64_t off = 0;
            for (int d = 0; d < nd; d++) off += idx[d] * it->stride[k][d];
            p[k] = it->data[k] + off * it->elsize[k];
        }
        int64_t n = it->size[inner] - idx[inner];
        if (n > end - begin) n = end - begin;
        fn(p, s, n, ctx);
        begin += n;
        idx[inner] += n;
        for (int d = inner; d > 0 && idx[d] == it->size[d]; d--) { idx[d] = 0; idx[d - 1]++; }
    }
}

void gan_iter_run(const gan_iter *it, gan_loop_fn fn, const void *ctx) {
    int64_t n = it->numel;
    if (n == 0) return;
    int nt = omp_get_max_threads();
    if (n < GAN_PARALLEL_GRAIN || nt == 1 || omp_in_parallel()) {
        run_range(it, fn, ctx, 0, n);
        return;
    }
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t chunk = (n + T - 1) / T;
        int64_t b = t * chunk, e = b + chunk < n ? b + chunk : n;
        if (b < e) run_range(it, fn, ctx, b, e);
    }
}
