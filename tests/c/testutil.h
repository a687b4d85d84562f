// Helpers shared by the C tests: deterministic fills that do not use the library's RNG,
// multi-index iteration, broadcasting reads, and tensor comparisons against references
// computed element by element in double.
#ifndef GAN_TESTS_TESTUTIL_H
#define GAN_TESTS_TESTUTIL_H
#include "check.h"
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#define I64(...) ((int64_t[]){__VA_ARGS__})
#define INTS(...) ((int[]){__VA_ARGS__})

// A small 64-bit LCG, independent of the library.
static inline double tu_rand01(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) * 0x1.0p-53;
}

// Advances a row-major multi-index; false after the last one.
static inline bool tu_next(int64_t *idx, int ndim, const int64_t *size) {
    for (int d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) return true;
        idx[d] = 0;
    }
    return false;
}

// Sets every element of t (any strides) to a pseudo-random value in [lo, hi); integers in
// [lo, hi) for int64.
static inline void tu_fill(gan_tensor *t, uint64_t seed, double lo, double hi) {
    uint64_t s = seed * 2654435761u + 1;
    int64_t idx[GAN_MAX_DIMS] = {0};
    if (gan_numel(t) == 0) return;
    do {
        double u = tu_rand01(&s);
        double v = t->dtype == GAN_INT64 ? floor(lo + (hi - lo) * u) : lo + (hi - lo) * u;
        gan_set(t, idx, v);
    } while (tu_next(idx, t->ndim, t->size));
}

// A new contiguous tensor filled by tu_fill.
static inline gan_tensor *tu_rand(gan_dtype dt, int ndim, const int64_t *size, uint64_t seed,
                                  double lo, double hi) {
    gan_tensor *t = NULL;
    if (gan_empty(&t, dt, ndim, size) != GAN_OK) {
        fprintf(stderr, "tu_rand: %s\n", gan_last_error());
        abort();
    }
    tu_fill(t, seed, lo, hi);
    return t;
}

// Element of t at the index `idx` of a broadcast result with `ndim` dims.
static inline double tu_get_bc(const gan_tensor *t, const int64_t *idx, int ndim) {
    int64_t j[GAN_MAX_DIMS] = {0};
    for (int d = 0; d < t->ndim; d++) {
        int64_t i = idx[ndim - t->ndim + d];
        j[d] = t->size[d] == 1 ? 0 : i;
    }
    return gan_get(t, j);
}

// Element i of t in row-major order (any strides).
static inline double tu_flat(const gan_tensor *t, int64_t i) {
    int64_t idx[GAN_MAX_DIMS] = {0};
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = i % t->size[d];
        i /= t->size[d];
    }
    return gan_get(t, idx);
}

static inline bool tu_shape_is(const gan_tensor *t, int ndim, const int64_t *size) {
    if (!t || t->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (t->size[i] != size[i]) return false;
    return true;
}
#define CHECK_SHAPE(t, ndim, ...) CHECK(tu_shape_is((t), (ndim), I64(__VA_ARGS__)))
#define CHECK_SHAPE0(t) CHECK(tu_shape_is((t), 0, NULL))

// Relative tolerance for results computed in dtype dt from exactly representable inputs.
static inline double tu_rtol(gan_dtype dt) {
    return dt == GAN_FLOAT32 ? 2e-6 : dt == GAN_FLOAT64 ? 1e-13 : 0;
}

static inline bool tu_close(double got, double want, double rtol, double atol) {
    if (isnan(got) || isnan(want)) return isnan(got) && isnan(want);
    if (got == want) return true;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

// Number of elements of t that differ from want[] (row-major), printing the first few.
static inline int64_t tu_count_mismatch(const gan_tensor *t, const double *want, double rtol,
                                        double atol, const char *what) {
    int64_t n = gan_numel(t), bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = tu_flat(t, i);
        if (!tu_close(g, want[i], rtol, atol)) {
            if (bad < 5)
                fprintf(stderr, "    %s: element %lld is %.17g, expected %.17g\n", what,
                        (long long)i, g, want[i]);
            bad++;
        }
    }
    return bad;
}

// All elements of t (row-major) equal to want[] within tolerances.
#define CHECK_VALUES(t, want, rtol, atol, what)                                         \
    CHECK_MSG(tu_count_mismatch((t), (want), (rtol), (atol), (what)) == 0, "%s", (what))

// Checks t against a literal list of values exactly.
#define CHECK_EQ_LIST(t, ...)                                                           \
    do {                                                                                \
        const double tu_want_[] = {__VA_ARGS__};                                        \
        CHECK(gan_numel(t) == (int64_t)(sizeof tu_want_ / sizeof tu_want_[0]));         \
        if (gan_numel(t) == (int64_t)(sizeof tu_want_ / sizeof tu_want_[0]))            \
            CHECK_VALUES((t), tu_want_, 0, 0, #t);                                      \
    } while (0)

// Row-major contents of t as doubles (caller frees).
static inline double *tu_values(const gan_tensor *t) {
    int64_t n = gan_numel(t);
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!v) abort();
    for (int64_t i = 0; i < n; i++) v[i] = tu_flat(t, i);
    return v;
}

#endif
