// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
// Draw number j of a call uses counter (offset + j) under key (seed), so every element
// is a pure function of (seed, offset, index): any thread count gives the same tensor.
#include "internal.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SEED 0x9e3779b97f4a7c15ULL

typedef struct { uint32_t v[4]; } block4;

static block4 philox(uint64_t seed, uint64_t counter) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1; c3 = (uint32_t)p0; c0 = n0; c2 = n2;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    return (block4){{c0, c1, c2, c3}};
}

static gan_generator default_gen = {DEFAULT_SEED, 0};

void gan_generator_init(gan_generator *g, uint64_t seed) { g->seed = seed; g->offset = 0; }
gan_generator *gan_default_generator(void) { return &default_gen; }

static inline double u53(uint32_t hi, uint32_t lo) {   // [0, 1)
    return (double)(((uint64_t)hi << 21) ^ (lo >> 11)) * 0x1.0p-53;
}
static inline uint64_t u64(uint32_t hi, uint32_t lo) { return ((uint64_t)hi << 32) | lo; }

// Two doubles in [0, 1) for draw j (both lanes pairs of its block).
static inline void draw2(const gan_generator *g, uint64_t j, double *a, double *b) {
    block4 x = philox(g->seed, g->offset + j);
    *a = u53(x.v[0], x.v[1]);
    *b = u53(x.v[2], x.v[3]);
}

typedef enum { D_UNIFORM, D_NORMAL, D_TRUNC, D_RANDINT, D_BERNOULLI } dist;
typedef struct { dist kind; double a, b, c, d; } dparams;

// Inverse of the standard normal CDF: Acklam's rational approximation refined by one
// Halley step on erfc, accurate to about 1e-15.
static double norm_ppf(double p) {
    static const double A[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double B[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double C[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double D[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (p <= 0) return -INFINITY;
    if (p >= 1) return INFINITY;
    double x, q, r;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
            ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
    } else if (p <= 1 - 0.02425) {
        q = p - 0.5; r = q * q;
        x = (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q /
            (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
    } else {
        q = sqrt(-2 * log(1 - p));
        x = -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
            ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
    }
    double e = 0.5 * erfc(-x / M_SQRT2) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

// Philox blocks of counters base + j, j < LANES, word w of block j in out[w][j]; written
// so that the compiler runs the lanes side by side in vector registers.
#define LANES 16
static void philox_lanes(uint64_t seed, uint64_t base, uint32_t out[4][LANES]) {
    for (int j = 0; j < LANES; j++) {
        block4 x = philox(seed, base + (uint64_t)j);
        out[0][j] = x.v[0]; out[1][j] = x.v[1]; out[2][j] = x.v[2]; out[3][j] = x.v[3];
    }
}

// log(x) for a normal x > 0, to a few ulp, in arithmetic that vectorises: x = m 2^e with
// m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by
// its series to s^21 (the next term is below 1e-17 of the sum).
static inline double log_vec(double x) {
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    double e = (double)((int64_t)(b >> 52) - 1023);
    uint64_t mb = (b & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;
    double m;
    memcpy(&m, &mb, sizeof m);
    if (m > M_SQRT2) { m *= 0.5; e += 1; }
    double s = (m - 1) / (m + 1), z = s * s;
    double p = 1.0 / 21;
    static const double inv_odd[] = {1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11,
                                      1.0 / 9,  1.0 / 7,  1.0 / 5,  1.0 / 3,  1.0};
    for (int k = 0; k < 10; k++) p = p * z + inv_odd[k];
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    return e * ln2_hi + (e * ln2_lo + 2 * s * p);
}

// cos(2 pi v[j]) and sin(2 pi v[j]) for v[j] in [0, 1), to about an ulp: 4v = k + r
// exactly, k an integer quadrant and |r| <= 1/2, so the angle is k pi/2 + x with
// |x| = |r| pi/2 <= pi/4, where the Taylor series to x^16 (cos) and x^17 (sin) are exact
// to 1e-17.
static void sincos_turn(const double *v, double *c_out, double *s_out) {
    for (int j = 0; j < LANES; j++) {
        double t = 4 * v[j];
        int64_t k = (int64_t)(t + 0.5);   // round(t); floor would not vectorise
        double x = (t - (double)k) * M_PI_2, z = x * x;
        double s = 1.0 / 355687428096000.0, c = 1.0 / 20922789888000.0;   // 1/17!, 1/16!
        s = s * z - 1.0 / 1307674368000.0;  c = c * z - 1.0 / 87178291200.0;
        s = s * z + 1.0 / 6227020800.0;     c = c * z + 1.0 / 479001600.0;
        s = s * z - 1.0 / 39916800.0;       c = c * z - 1.0 / 3628800.0;
        s = s * z + 1.0 / 362880.0;         c = c * z + 1.0 / 40320.0;
        s = s * z - 1.0 / 5040.0;           c = c * z - 1.0 / 720.0;
        s = s * z + 1.0 / 120.0;            c = c * z + 1.0 / 24.0;
        s = s * z - 1.0 / 6.0;              c = c * z - 1.0 / 2.0;
        s = (s * z + 1.0) * x;              c = c * z + 1.0;
        // cos, sin of k pi/2 + x, k in 0..4: (c, s), (-s, c), (-c, -s), (s, -c), (c, s)
        double a = (k & 1) ? s : c, b = (k & 1) ? c : s;
        c_out[j] = ((k + 1) & 2) ? -a : a;
        s_out[j] = (k & 2) ? -b : b;
    }
}

// The values of elements i0 .. i0 + per * LANES - 1 of a draw into x, i0 a multiple of
// per * LANES. Element i takes block offset + i, except normal: elements 2k and 2k + 1 are
// the two Box-Muller values of block offset + k (u from its first two words, v from the
// last two: sqrt(-2 log(1 - u)) times cos and sin of 2 pi v).
static void draw_lanes(const gan_generator *g, const dparams *P, int64_t i0, double *x) {
    uint32_t w[4][LANES];
    double u[LANES], v[LANES];
    bool pair = P->kind == D_NORMAL;
    philox_lanes(g->seed, g->offset + (uint64_t)(pair ? i0 / 2 : i0), w);
    for (int j = 0; j < LANES; j++) { u[j] = u53(w[0][j], w[1][j]); v[j] = u53(w[2][j], w[3][j]); }
    switch (P->kind) {
    case D_UNIFORM:
        for (int j = 0; j < LANES; j++) x[j] = P->a + (P->b - P->a) * u[j];
        break;
    case D_NORMAL: {
        double r[LANES], c[LANES], s[LANES];
        for (int j = 0; j < LANES; j++) r[j] = P->b * sqrt(-2 * log_vec(1 - u[j]));
        sincos_turn(v, c, s);
        for (int j = 0; j < LANES; j++) { x[2 * j] = P->a + r[j] * c[j]; x[2 * j + 1] = P->a + r[j] * s[j]; }
        break;
    }
    case D_TRUNC:   // P: mean, std, cdf(lo), cdf(hi)
        for (int j = 0; j < LANES; j++) x[j] = P->a + P->b * norm_ppf(P->c + (P->d - P->c) * u[j]);
        break;
    case D_RANDINT:
        for (int j = 0; j < LANES; j++) {
            unsigned __int128 r = (unsigned __int128)u64(w[0][j], w[1][j]) * (uint64_t)(P->b - P->a);
            x[j] = P->a + (double)(uint64_t)(r >> 64);
        }
        break;
    case D_BERNOULLI:
        for (int j = 0; j < LANES; j++) x[j] = u[j] < P->a ? 1 : 0;
        break;
    }
}

// Fills t with draws 0..n-1 in row-major order, then advances the generator by n.
static int fill_dist(gan_tensor *t, gan_generator *g, const dparams *P) {
    if (!g) g = &default_gen;
    gan_tensor *c;
    bool direct = gan_is_contiguous(t);
    if (direct) c = t;
    else if (gan_empty(&c, t->dtype, t->ndim, t->size) != GAN_OK) return GAN_ERR;
    int64_t n = gan_numel(c), per = P->kind == D_NORMAL ? 2 : 1, chunk = per * LANES;
    int64_t chunks = (n + chunk - 1) / chunk;
    void *d = gan_data(c);
    gan_dtype dt = c->dtype;
    #pragma omp parallel for schedule(static) if (n >= GAN_PARALLEL_GRAIN / 8)
    for (int64_t ci = 0; ci < chunks; ci++) {
        double x[2 * LANES] = {0};
        int64_t i0 = ci * chunk, m = n - i0 < chunk ? n - i0 : chunk;
        draw_lanes(g, P, i0, x);
        if (dt == GAN_FLOAT32) {
            float *o = (float *)d + i0;
            for (int64_t j = 0; j < m; j++) o[j] = (float)x[j];
            // Rounding to float must not reach the open upper bound of uniform.
            if (P->kind == D_UNIFORM && P->b > P->a)
                for (int64_t j = 0; j < m; j++)
                    if (o[j] >= (float)P->b) o[j] = nextafterf((float)P->b, -INFINITY);
        } else if (dt == GAN_FLOAT64) {
            memcpy((double *)d + i0, x, sizeof(double) * (size_t)m);
        } else {
            int64_t *o = (int64_t *)d + i0;
            for (int64_t j = 0; j < m; j++)
                o[j] = P->kind == D_RANDINT ? (int64_t)P->a + (int64_t)(x[j] - P->a) : (int64_t)x[j];
        }
    }
    g->offset += (uint64_t)n;
    int rc = GAN_OK;
    if (!direct) { rc = gan_copy_(t, c); gan_tensor_release(c); }
    return rc;
}

static int need_float(const gan_tensor *t, const char *op) {
    if (!gan_dtype_is_float(t->dtype))
        return gan_error("%s: needs a float tensor, got %s", op, gan_dtype_name(t->dtype));
    return GAN_OK;
}

int gan_uniform_(gan_tensor *t, gan_generator *g, double lo, double hi) {
    if (need_float(t, "uniform_") != GAN_OK) return GAN_ERR;
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        return gan_error("uniform_: need finite low <= high, got [%g, %g)", lo, hi);
    dparams P = {D_UNIFORM, lo, hi, 0, 0};
    return fill_dist(t, g, &P);
}

int gan_normal_(gan_tensor *t, gan_generator *g, double mean, double std) {
    if (need_float(t, "normal_") != GAN_OK) return GAN_ERR;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return gan_error("normal_: need a finite mean and std >= 0, got mean %g, std %g", mean, std);
    dparams P = {D_NORMAL, mean, std, 0, 0};
    return fill_dist(t, g, &P);
}

int gan_trunc_normal_(gan_tensor *t, gan_generator *g, double mean, double std, double a,
                      double b) {
    if (need_float(t, "trunc_normal_") != GAN_OK) return GAN_ERR;
    if (!(std > 0) || !(a < b) || isnan(mean))
        return gan_error("trunc_normal_: need std > 0 and a < b, got std %g, [%g, %g]", std, a, b);
    double lo = 0.5 * erfc(-((a - mean) / std) / M_SQRT2);
    double hi = 0.5 * erfc(-((b - mean) / std) / M_SQRT2);
    if (!(hi > lo))
        return gan_error("trunc_normal_: [%g, %g] holds no probability mass of N(%g, %g)", a, b,
                         mean, std);
    dparams P = {D_TRUNC, mean, std, lo, hi};
    int rc = fill_dist(t, g, &P);
    if (rc == GAN_OK) gan_clamp_(t, a, b);   // guard the ends against rounding
    return rc;
}

int gan_randint_(gan_tensor *t, gan_generator *g, int64_t low, int64_t high) {
    if (high <= low)
        return gan_error("randint: high (%lld) must be greater than low (%lld)", (long long)high,
                         (long long)low);
    dparams P = {D_RANDINT, (double)low, (double)high, 0, 0};
    return fill_dist(t, g, &P);
}

int gan_bernoulli_(gan_tensor *t, gan_generator *g, double p, const gan_tensor *probs) {
    if (!probs) {
        if (!(p >= 0 && p <= 1)) return gan_error("bernoulli: p must be in [0, 1], got %g", p);
        dparams P = {D_BERNOULLI, p, 0, 0, 0};
        return fill_dist(t, g, &P);
    }
    // Tensor of probabilities: uniform draws compared elementwise.
    gan_tensor *u = NULL, *pe = NULL, *pc = NULL, *m = NULL;
    int rc = GAN_ERR;
    if (need_float(probs, "bernoulli") != GAN_OK) return GAN_ERR;
    if (gan_expand(&pe, probs, t->ndim, t->size) != GAN_OK) goto done;
    if (gan_to_dtype(&pc, pe, GAN_FLOAT64) != GAN_OK) goto done;
    gan_tensor *mn = NULL, *mx = NULL;
    if (gan_reduce(&mn, GAN_MIN, pc, 0, NULL, false) == GAN_OK &&
        gan_reduce(&mx, GAN_MAX, pc, 0, NULL, false) == GAN_OK) {
        double lo, hi;
        gan_item(&lo, mn); gan_item(&hi, mx);
        if (gan_numel(pc) > 0 && !(lo >= 0 && hi <= 1)) {
            gan_error("bernoulli: probabilities must be in [0, 1], got values in [%g, %g]", lo, hi);
            gan_tensor_release(mn); gan_tensor_release(mx);
            goto done;
        }
    }
    gan_tensor_release(mn); gan_tensor_release(mx);
    if (gan_empty(&u, GAN_FLOAT64, t->ndim, t->size) != GAN_OK) goto done;
    if (gan_uniform_(u, g, 0, 1) != GAN_OK) goto done;
    if (gan_binary(&m, GAN_LT, u, pc) != GAN_OK) goto done;
    rc = gan_copy_(t, m);
done:
    gan_tensor_release(u); gan_tensor_release(pe); gan_tensor_release(pc); gan_tensor_release(m);
    return rc;
}

int gan_multinomial(gan_tensor **out, const gan_tensor *probs, int64_t num_samples,
                    bool replacement, gan_generator *g) {
    if (!g) g = &default_gen;
    if (need_float(probs, "multinomial") != GAN_OK) return GAN_ERR;
    if (probs->ndim < 1 || probs->ndim > 2)
        return gan_error("multinomial: probs must be 1-d or 2-d, got %d dims", probs->ndim);
    if (num_samples < 1) return gan_error("multinomial: num_samples must be >= 1");
    int64_t rows = probs->ndim == 2 ? probs->size[0] : 1, k = probs->size[probs->ndim - 1];
    if (k == 0) return gan_error("multinomial: no categories");
    gan_tensor *p2, *pc;
    int64_t shape2[2] = {rows, k};
    if (gan_reshape(&p2, probs, 2, shape2) != GAN_OK) return GAN_ERR;
    int rc = gan_to_dtype(&pc, p2, GAN_FLOAT64);
    gan_tensor_release(p2);
    if (rc != GAN_OK) return GAN_ERR;
    gan_tensor *pcc;
    rc = gan_contiguous(&pcc, pc);
    gan_tensor_release(pc);
    if (rc != GAN_OK) return GAN_ERR;
    const double *w = gan_data(pcc);
    double *cum = gan_malloc(sizeof(double) * (size_t)k);
    double *wr = gan_malloc(sizeof(double) * (size_t)k);
    gan_tensor *o = NULL;
    int64_t oshape[2] = {rows, num_samples};
    if (!cum || !wr) { gan_error("multinomial: out of memory"); goto fail; }
    for (int64_t r = 0; r < rows; r++) {
        int64_t nonzero = 0;
        for (int64_t j = 0; j < k; j++) {
            double v = w[r * k + j];
            if (!(v >= 0) || isinf(v)) {
                gan_error("multinomial: row %lld has an invalid weight %g (need finite, >= 0)",
                          (long long)r + 1, v);
                goto fail;
            }
            nonzero += v > 0;
        }
        if (nonzero == 0) { gan_error("multinomial: row %lld sums to zero", (long long)r + 1); goto fail; }
        if (!replacement && num_samples > nonzero) {
            gan_error("multinomial: cannot draw %lld samples without replacement from %lld "
                      "categories with non-zero weight", (long long)num_samples, (long long)nonzero);
            goto fail;
        }
    }
    if (gan_empty(&o, GAN_INT64, probs->ndim == 2 ? 2 : 1, probs->ndim == 2 ? oshape : &num_samples) != GAN_OK)
        goto fail;
    int64_t *res = gan_data(o);
    for (int64_t r = 0; r < rows; r++) {
        memcpy(wr, w + r * k, sizeof(double) * (size_t)k);
        for (int64_t s = 0; s < num_samples; s++) {
            double total = 0;
            for (int64_t j = 0; j < k; j++) { total += wr[j]; cum[j] = total; }
            double u, unused;
            draw2(g, (uint64_t)(r * num_samples + s), &u, &unused);
            double x = u * total;
            int64_t lo = 0, hi = k - 1;   // first j with cum[j] > x
            while (lo < hi) { int64_t mid = (lo + hi) / 2; if (cum[mid] > x) hi = mid; else lo = mid + 1; }
            while (wr[lo] == 0 && lo > 0) lo--;   // x landed on a boundary of rounding
            res[r * num_samples + s] = lo;
            if (!replacement) wr[lo] = 0;
        }
    }
    g->offset += (uint64_t)(rows * num_samples);
    free(cum); free(wr);
    gan_tensor_release(pcc);
    *out = o;
    return GAN_OK;
fail:
    free(cum); free(wr);
    gan_tensor_release(pcc);
    gan_tensor_release(o);
    return GAN_ERR;
}

int gan_randperm(gan_tensor **out, int64_t n, gan_generator *g) {
    if (!g) g = &default_gen;
    if (n < 0) return gan_error("randperm: n must be >= 0, got %lld", (long long)n);
    gan_tensor *o;
    if (gan_empty(&o, GAN_INT64, 1, &n) != GAN_OK) return GAN_ERR;
    int64_t *p = gan_data(o);
    for (int64_t i = 0; i < n; i++) p[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {   // Fisher-Yates
        block4 x = philox(g->seed, g->offset + (uint64_t)i);
        unsigned __int128 r = (unsigned __int128)u64(x.v[0], x.v[1]) * (uint64_t)(i + 1);
        int64_t j = (int64_t)(uint64_t)(r >> 64);
        int64_t tmp = p[i]; p[i] = p[j]; p[j] = tmp;
    }
    g->offset += (uint64_t)n;
    *out = o;
    return GAN_OK;
}
