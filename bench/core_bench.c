/* Core micro-benchmarks: how close gancore's elementwise add and matmul come to the
 * hardware/BLAS baseline measured in the same run. Not a test; prints medians.
 *
 * Build (from the repository root, after `cmake --build build`):
 *
 *     cc -O3 -march=native -fopenmp bench/core_bench.c -Icore/include \
 *        -I/usr/include/x86_64-linux-gnu/openblas-openmp build/libgancore.a \
 *        -L/usr/lib/x86_64-linux-gnu/openblas-openmp \
 *        -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lm \
 *        -o build/core_bench
 *
 * Run: build/core_bench [runs]; OPENBLAS_CORETYPE=Haswell build/core_bench forces that
 * OpenBLAS kernel. Measures, for 1 and 2 threads:
 *   1. gan_binary(ADD) of two 16M-element float32 tensors, GB/s counting 3 x 64 MiB moved
 *      (two reads, one write), against memcpy of 64 MiB counting 2 x 64 MiB (split over the
 *      threads); also the in-place gan_binary_ for reference;
 *   2. gan_matmul of 1024 x 1024 x 1024 float32, GFLOP/s (2 n^3), against cblas_sgemm
 *      called directly on the same buffers.
 */
#include "gan/gan.h"
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *openblas_get_corename(void);

#define N_ELEMS (16 * 1024 * 1024)
#define MM 1024
#define MAX_RUNS 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void die(const char *what) {
    fprintf(stderr, "core_bench: %s: %s\n", what, gan_last_error());
    exit(1);
}

// memcpy split over the OpenMP threads (one plain memcpy with 1 thread).
static void par_memcpy(void *dst, const void *src, size_t n) {
    #pragma omp parallel
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        size_t chunk = (n / (size_t)T + 63) & ~(size_t)63;
        size_t b = (size_t)t * chunk, e = b + chunk < n ? b + chunk : n;
        if (b < e) memcpy((char *)dst + b, (const char *)src + b, e - b);
    }
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 9;
    if (runs < 1 || runs > MAX_RUNS) runs = 9;
    const char *forced = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS core: %s (OPENBLAS_CORETYPE=%s), omp max threads %d, runs %d (medians)\n",
           openblas_get_corename(), forced ? forced : "unset", omp_get_max_threads(), runs);

    gan_tensor *a, *b, *c, *o;
    int64_t n = N_ELEMS;
    if (gan_empty(&a, GAN_FLOAT32, 1, &n) || gan_empty(&b, GAN_FLOAT32, 1, &n) ||
        gan_empty(&c, GAN_FLOAT32, 1, &n))
        die("alloc");
    gan_generator g;
    gan_generator_init(&g, 1);
    if (gan_uniform_(a, &g, -1, 1) || gan_uniform_(b, &g, -1, 1) || gan_fill_(c, 0)) die("fill");
    const double mb = (double)N_ELEMS * sizeof(float);   // 64 MiB per tensor

    int64_t s2[2] = {MM, MM};
    gan_tensor *A, *B, *C;
    if (gan_empty(&A, GAN_FLOAT32, 2, s2) || gan_empty(&B, GAN_FLOAT32, 2, s2) ||
        gan_empty(&C, GAN_FLOAT32, 2, s2))
        die("alloc");
    if (gan_uniform_(A, &g, -1, 1) || gan_uniform_(B, &g, -1, 1) || gan_fill_(C, 0)) die("fill");
    const double flop = 2.0 * MM * MM * MM;

    for (int threads = 1; threads <= 2; threads++) {
        gan_set_num_threads(threads);
        double t_add[MAX_RUNS], t_add_[MAX_RUNS], t_cpy[MAX_RUNS], t_mm[MAX_RUNS], t_gemm[MAX_RUNS];
        // Warm up: first touch, the allocator's cache, OpenBLAS buffers.
        if (gan_binary(&o, GAN_ADD, a, b)) die("add");
        gan_tensor_release(o);
        par_memcpy(gan_data(c), gan_data(a), (size_t)mb);
        for (int r = 0; r < runs; r++) {
            double t0 = now();
            if (gan_binary(&o, GAN_ADD, a, b)) die("add");
            t_add[r] = now() - t0;
            gan_tensor_release(o);
            t0 = now();
            if (gan_binary_(c, GAN_ADD, b)) die("add_");
            t_add_[r] = now() - t0;
            t0 = now();
            par_memcpy(gan_data(c), gan_data(a), (size_t)mb);
            t_cpy[r] = now() - t0;
        }
        if (gan_matmul(&o, A, B)) die("matmul");
        gan_tensor_release(o);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, MM, MM, MM, 1.0f, gan_data(A), MM,
                    gan_data(B), MM, 0.0f, gan_data(C), MM);
        for (int r = 0; r < runs; r++) {
            double t0 = now();
            if (gan_matmul(&o, A, B)) die("matmul");
            t_mm[r] = now() - t0;
            gan_tensor_release(o);
            t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, MM, MM, MM, 1.0f, gan_data(A),
                        MM, gan_data(B), MM, 0.0f, gan_data(C), MM);
            t_gemm[r] = now() - t0;
        }
        double add = 3 * mb / median(t_add, runs) / 1e9, add_ = 3 * mb / median(t_add_, runs) / 1e9;
        double cpy = 2 * mb / median(t_cpy, runs) / 1e9;
        double mm = flop / median(t_mm, runs) / 1e9, gemm = flop / median(t_gemm, runs) / 1e9;
        printf("threads %d (gan_get_num_threads %d)\n", threads, gan_get_num_threads());
        printf("  add 16M f32  gan_binary   %7.2f GB/s  (%.2f of memcpy)\n", add, add / cpy);
        printf("  add 16M f32  gan_binary_  %7.2f GB/s  (%.2f of memcpy, in place)\n", add_, add_ / cpy);
        printf("  memcpy 64 MB              %7.2f GB/s\n", cpy);
        printf("  matmul 1024^3 gan_matmul  %7.2f GFLOP/s (%.3f of sgemm)\n", mm, mm / gemm);
        printf("  matmul 1024^3 cblas_sgemm %7.2f GFLOP/s\n", gemm);
    }
    gan_tensor_release(A); gan_tensor_release(B); gan_tensor_release(C);
    gan_tensor_release(a); gan_tensor_release(b); gan_tensor_release(c);
    return 0;
}
