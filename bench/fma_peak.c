// The machine's floating-point peak as measured, not assumed: independent chains of
// fused multiply-adds in the widest vectors the compiler targets (AVX-512: 16 floats,
// AVX2: 8), in registers only, on 1 thread and on all of OpenMP's, in GFLOP/s (an FMA is
// 2 flops). bench/run.sh builds it with -march=native and divides each step's GFLOP/s by
// the all-threads figure.
//
//     fma_peak [seconds]   ->  "fma_peak threads 1 gflops 217.3" and the same for all threads
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define SUM _mm512_reduce_add_ps
#elif defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float SUM(__m256 v) { float t[8]; _mm256_storeu_ps(t, v); return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7]; }
#else
#error "fma_peak needs FMA (build with -march=native on an x86-64 CPU that has it)"
#endif

#define CHAINS 12   // enough to cover the FMA latency on both ports

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// iters rounds of CHAINS FMAs, each chain in its own register; the result is returned so
// the loop is not removed.
static float chains(long iters, float seed) {
    vec b = SET1(0.999999f), c = SET1(seed * 1e-7f);
    vec a0 = SET1(seed), a1 = SET1(seed + 1), a2 = SET1(seed + 2), a3 = SET1(seed + 3);
    vec a4 = SET1(seed + 4), a5 = SET1(seed + 5), a6 = SET1(seed + 6), a7 = SET1(seed + 7);
    vec a8 = SET1(seed + 8), a9 = SET1(seed + 9), a10 = SET1(seed + 10), a11 = SET1(seed + 11);
    for (long i = 0; i < iters; i++) {
        a0 = FMA(a0, b, c); a1 = FMA(a1, b, c); a2 = FMA(a2, b, c); a3 = FMA(a3, b, c);
        a4 = FMA(a4, b, c); a5 = FMA(a5, b, c); a6 = FMA(a6, b, c); a7 = FMA(a7, b, c);
        a8 = FMA(a8, b, c); a9 = FMA(a9, b, c); a10 = FMA(a10, b, c); a11 = FMA(a11, b, c);
    }
    vec s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
    return SUM(ADD(s, ADD(ADD(a8, a9), ADD(a10, a11))));
}

// GFLOP/s of `threads` threads each running chains() for about `seconds`.
static double measure(int threads, double seconds, float *sink) {
    long iters = 1000000;
    double t0 = now();
    *sink += chains(iters, 1.0f);
    double t = now() - t0;
    iters = (long)((double)iters * seconds / (t > 1e-6 ? t : 1e-6));
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        float acc = 0;
        t0 = now();
        #pragma omp parallel num_threads(threads) reduction(+ : acc)
        acc += chains(iters, 1.0f + (float)omp_get_thread_num());
        t = now() - t0;
        *sink += acc;
        double g = (double)threads * (double)iters * CHAINS * LANES * 2 / t / 1e9;
        if (g > best) best = g;
    }
    return best;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.3;
    int all = omp_get_max_threads();
    float sink = 0;
    printf("fma_peak threads 1 gflops %.1f\n", measure(1, seconds, &sink));
    if (all > 1) printf("fma_peak threads %d gflops %.1f\n", all, measure(all, seconds, &sink));
    return sink == 12345.0f;   // never: keeps the results alive
}
