// Random numbers: reproducibility, thread-count independence, Philox known answer,
// distribution shapes, and argument errors.
#include "testutil.h"

#define N_BIG 1000000

static int64_t count_where(const gan_tensor *t, bool (*pred)(double, const void *), const void *arg) {
    int64_t n = gan_numel(t), c = 0;
    for (int64_t i = 0; i < n; i++) c += pred(tu_flat(t, i), arg);
    return c;
}

typedef struct { double mean, var, min, max, skew, kurt; } moments;

static moments moments_of(const gan_tensor *t) {
    gan_tensor *c;
    moments m = {0, 0, INFINITY, -INFINITY, 0, 0};
    if (gan_to_dtype(&c, t, GAN_FLOAT64) != GAN_OK) abort();
    gan_tensor *cc;
    if (gan_contiguous(&cc, c) != GAN_OK) abort();
    gan_tensor_release(c);
    const double *x = gan_data(cc);
    int64_t n = gan_numel(cc);
    for (int64_t i = 0; i < n; i++) {
        m.mean += x[i];
        if (x[i] < m.min) m.min = x[i];
        if (x[i] > m.max) m.max = x[i];
    }
    m.mean /= (double)n;
    double m2 = 0, m3 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - m.mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    m2 /= (double)n; m3 /= (double)n; m4 /= (double)n;
    m.var = m2;
    m.skew = m3 / pow(m2, 1.5);
    m.kurt = m4 / (m2 * m2);
    gan_tensor_release(cc);
    return m;
}

static bool same_bits(const gan_tensor *a, const gan_tensor *b) {
    return gan_same_shape(a, b) && a->dtype == b->dtype && gan_is_contiguous(a) &&
           gan_is_contiguous(b) &&
           memcmp(gan_data(a), gan_data(b), (size_t)gan_numel(a) * gan_dtype_size(a->dtype)) == 0;
}

static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2)); }
static double phi(double x) { return exp(-x * x / 2) / sqrt(2 * M_PI); }

// ---- reproducibility

static void test_same_seed(void) {
    gan_generator g1, g2;
    gan_tensor *a, *b;
    gan_generator_init(&g1, 42);
    gan_generator_init(&g2, 42);
    CHECK(g1.seed == 42 && g1.offset == 0);
    CHECK_OK(gan_empty(&a, GAN_FLOAT32, 2, I64(10, 100)));
    CHECK_OK(gan_empty(&b, GAN_FLOAT32, 2, I64(10, 100)));
    CHECK_OK(gan_normal_(a, &g1, 0, 1));
    CHECK_OK(gan_normal_(b, &g2, 0, 1));
    CHECK(same_bits(a, b));
    CHECK(g1.offset == g2.offset);
    CHECK_OK(gan_uniform_(a, &g1, 0, 1));
    CHECK_OK(gan_uniform_(b, &g2, 0, 1));
    CHECK(same_bits(a, b));
    // A different seed gives different numbers.
    gan_generator_init(&g2, 43);
    CHECK_OK(gan_uniform_(b, &g2, 0, 1));
    int64_t equal = 0;
    for (int64_t i = 0; i < 1000; i++) equal += tu_flat(a, i) == tu_flat(b, i);
    CHECK(equal < 5);
    // Resetting replays.
    gan_generator_init(&g1, 7);
    CHECK_OK(gan_normal_(a, &g1, 0, 1));
    gan_generator saved = g1;
    CHECK_OK(gan_normal_(b, &g1, 0, 1));
    g1 = saved;
    gan_tensor *c;
    CHECK_OK(gan_empty(&c, GAN_FLOAT32, 2, I64(10, 100)));
    CHECK_OK(gan_normal_(c, &g1, 0, 1));
    CHECK(same_bits(b, c));
    gan_tensor_release(c);
    gan_tensor_release(a);
    gan_tensor_release(b);
}

static void test_offset_advances(void) {
    gan_generator g;
    gan_generator_init(&g, 5);
    gan_tensor *a, *b, *whole;
    CHECK_OK(gan_empty(&a, GAN_FLOAT64, 1, I64(100)));
    CHECK_OK(gan_empty(&b, GAN_FLOAT64, 1, I64(50)));
    CHECK_OK(gan_uniform_(a, &g, 0, 1));
    CHECK(g.offset == 100);
    CHECK_OK(gan_uniform_(b, &g, 0, 1));
    CHECK(g.offset == 150);
    // Consecutive draws differ...
    int64_t equal = 0;
    for (int64_t i = 0; i < 50; i++) equal += tu_flat(a, i) == tu_flat(b, i);
    CHECK(equal == 0);
    // ...and are the continuation of one long draw (element i depends on offset + i only).
    gan_generator_init(&g, 5);
    CHECK_OK(gan_empty(&whole, GAN_FLOAT64, 1, I64(150)));
    CHECK_OK(gan_uniform_(whole, &g, 0, 1));
    bool ok = true;
    for (int64_t i = 0; i < 100; i++) ok &= tu_flat(whole, i) == tu_flat(a, i);
    for (int64_t i = 0; i < 50; i++) ok &= tu_flat(whole, 100 + i) == tu_flat(b, i);
    CHECK(ok);
    // Setting the offset jumps ahead.
    g.seed = 5;
    g.offset = 100;
    CHECK_OK(gan_uniform_(b, &g, 0, 1));
    ok = true;
    for (int64_t i = 0; i < 50; i++) ok &= tu_flat(whole, 100 + i) == tu_flat(b, i);
    CHECK(ok);
    // Every sampler advances the offset.
    gan_tensor *ti;
    CHECK_OK(gan_empty(&ti, GAN_INT64, 1, I64(10)));
    uint64_t o = g.offset;
    CHECK_OK(gan_normal_(b, &g, 0, 1));
    CHECK(g.offset > o); o = g.offset;
    CHECK_OK(gan_trunc_normal_(b, &g, 0, 1, -1, 1));
    CHECK(g.offset > o); o = g.offset;
    CHECK_OK(gan_randint_(ti, &g, 0, 5));
    CHECK(g.offset > o); o = g.offset;
    CHECK_OK(gan_bernoulli_(b, &g, 0.5, NULL));
    CHECK(g.offset > o); o = g.offset;
    gan_tensor *p, *m, *perm;
    CHECK_OK(gan_full(&p, GAN_FLOAT32, 1, I64(4), 1));
    CHECK_OK(gan_multinomial(&m, p, 3, false, &g));
    CHECK(g.offset > o); o = g.offset;
    CHECK_OK(gan_randperm(&perm, 10, &g));
    CHECK(g.offset > o);
    gan_tensor_release(perm);
    gan_tensor_release(m);
    gan_tensor_release(p);
    gan_tensor_release(ti);
    gan_tensor_release(whole);
    gan_tensor_release(a);
    gan_tensor_release(b);
}

// Random123's published known answer for Philox4x32-10 with counter 0 and key 0 is
// 6627e8d5 e169c58d bc57ac4c 9b00dbd8 (tests/kat_vectors). Seed 0, offset 0 is that
// counter and key; the first draw's first word and the 53-bit double made of the first
// two words are visible through randint_ and uniform_.
static void test_philox_known_answer(void) {
    gan_generator g;
    gan_tensor *u, *r;
    CHECK_OK(gan_empty(&u, GAN_FLOAT64, 1, I64(3)));
    gan_generator_init(&g, 0);
    CHECK_OK(gan_uniform_(u, &g, 0, 1));
    uint64_t bits = ((uint64_t)0x6627e8d5u << 21) ^ (0xe169c58du >> 11);
    CHECK(gan_get(u, I64(0)) == (double)bits * 0x1.0p-53);
    CHECK_OK(gan_empty(&r, GAN_INT64, 1, I64(2)));
    gan_generator_init(&g, 0);
    CHECK_OK(gan_randint_(r, &g, 0, (int64_t)1 << 32));   // floor(u64 * 2^32 / 2^64): word 0
    CHECK(gan_get_i64(r, I64(0)) == 0x6627e8d5);
    // Seed 0 twice: identical; another seed: different.
    gan_tensor *u2;
    CHECK_OK(gan_empty(&u2, GAN_FLOAT64, 1, I64(3)));
    gan_generator_init(&g, 0);
    CHECK_OK(gan_uniform_(u2, &g, 0, 1));
    CHECK(same_bits(u, u2));
    gan_generator_init(&g, 1);
    CHECK_OK(gan_uniform_(u2, &g, 0, 1));
    CHECK(gan_get(u2, I64(0)) != gan_get(u, I64(0)) && gan_get(u2, I64(1)) != gan_get(u, I64(1)));
    gan_generator_init(&g, (uint64_t)1 << 32);           // the key's high word matters too
    CHECK_OK(gan_uniform_(u2, &g, 0, 1));
    CHECK(gan_get(u2, I64(0)) != gan_get(u, I64(0)));
    gan_tensor_release(u2);
    gan_tensor_release(r);
    gan_tensor_release(u);
}

// The same numbers with 1 and 2 threads, on tensors big enough to run in parallel.
static void test_thread_independence(void) {
    int saved = gan_get_num_threads();
    gan_tensor *t1, *t2;
    CHECK_OK(gan_empty(&t1, GAN_FLOAT32, 1, I64(N_BIG)));
    CHECK_OK(gan_empty(&t2, GAN_FLOAT32, 1, I64(N_BIG)));
    gan_tensor *i1, *i2;
    CHECK_OK(gan_empty(&i1, GAN_INT64, 1, I64(N_BIG)));
    CHECK_OK(gan_empty(&i2, GAN_INT64, 1, I64(N_BIG)));
    for (int which = 0; which < 5; which++) {
        gan_generator g;
        gan_tensor *r[2] = {which == 3 ? i1 : t1, which == 3 ? i2 : t2};
        for (int k = 0; k < 2; k++) {
            gan_set_num_threads(k + 1);
            gan_generator_init(&g, 1234);
            g.offset = 77;
            switch (which) {
            case 0: CHECK_OK(gan_normal_(r[k], &g, 0, 1)); break;
            case 1: CHECK_OK(gan_uniform_(r[k], &g, -1, 1)); break;
            case 2: CHECK_OK(gan_trunc_normal_(r[k], &g, 0, 1, -2, 2)); break;
            case 3: CHECK_OK(gan_randint_(r[k], &g, 0, 1000)); break;
            case 4: CHECK_OK(gan_bernoulli_(r[k], &g, 0.3, NULL)); break;
            }
        }
        CHECK_MSG(same_bits(r[0], r[1]), "sampler %d differs between 1 and 2 threads", which);
    }
    gan_set_num_threads(saved);
    gan_tensor_release(i1); gan_tensor_release(i2);
    gan_tensor_release(t1); gan_tensor_release(t2);
}

// A non-contiguous target receives the draws in its own row-major order.
static void test_strided_target(void) {
    gan_generator g;
    gan_tensor *base, *t, *ref;
    CHECK_OK(gan_zeros(&base, GAN_FLOAT64, 2, I64(5, 7)));
    CHECK_OK(gan_transpose(&t, base, 0, 1));            // (7, 5)
    gan_generator_init(&g, 9);
    CHECK_OK(gan_normal_(t, &g, 0, 1));
    CHECK(g.offset == 35);
    CHECK_OK(gan_empty(&ref, GAN_FLOAT64, 2, I64(7, 5)));
    gan_generator_init(&g, 9);
    CHECK_OK(gan_normal_(ref, &g, 0, 1));
    double *want = tu_values(ref);
    CHECK_VALUES(t, want, 0, 0, "normal_ into a transposed view");
    free(want);
    // A narrowed view: the rest of the base is untouched.
    gan_tensor *col, *b2;
    gan_tensor_release(base);                            // t keeps the storage alive
    CHECK_OK(gan_zeros(&b2, GAN_FLOAT32, 2, I64(4, 4)));
    CHECK_OK(gan_select(&col, b2, 1, 2));
    CHECK_OK(gan_uniform_(col, &g, 5, 6));
    bool ok = true;
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 4; j++) {
            double v = gan_get(b2, I64(i, j));
            ok &= j == 2 ? (v >= 5 && v < 6) : v == 0;
        }
    CHECK(ok);
    gan_tensor_release(col);
    gan_tensor_release(b2);
    gan_tensor_release(ref);
    gan_tensor_release(t);
}

// ---- distributions

static void test_uniform(void) {
    gan_generator g;
    gan_generator_init(&g, 11);
    for (int dt = 0; dt < 2; dt++) {
        gan_tensor *t;
        CHECK_OK(gan_empty(&t, (gan_dtype)dt, 1, I64(N_BIG)));
        CHECK_OK(gan_uniform_(t, &g, -2, 3));
        moments m = moments_of(t);
        CHECK(m.min >= -2 && m.max < 3);
        CHECK(m.min < -1.99 && m.max > 2.99);
        CHECK_CLOSE(m.mean, 0.5, 0.008);
        CHECK_CLOSE(m.var, 25.0 / 12, 0.01);
        CHECK_OK(gan_uniform_(t, &g, 0, 1));             // float32: never rounds up to 1
        m = moments_of(t);
        CHECK(m.min >= 0 && m.max < 1);
        CHECK_OK(gan_uniform_(t, &g, 4, 4));             // empty interval: all low
        m = moments_of(t);
        CHECK(m.min == 4 && m.max == 4);
        gan_tensor_release(t);
    }
    // Histogram of 10 bins: each within 5 sigma of 1/10.
    gan_tensor *t;
    CHECK_OK(gan_empty(&t, GAN_FLOAT64, 1, I64(N_BIG)));
    CHECK_OK(gan_uniform_(t, &g, 0, 1));
    int64_t bins[10] = {0};
    for (int64_t i = 0; i < N_BIG; i++) bins[(int)(tu_flat(t, i) * 10)]++;
    bool ok = true;
    for (int b = 0; b < 10; b++) ok &= fabs(bins[b] / (double)N_BIG - 0.1) < 0.0015;
    CHECK(ok);
    gan_tensor_release(t);
    gan_tensor *ti;
    CHECK_OK(gan_empty(&ti, GAN_INT64, 1, I64(3)));
    CHECK_OK(gan_empty(&t, GAN_FLOAT32, 1, I64(3)));
    CHECK_ERR(gan_uniform_(ti, &g, 0, 1), "uniform_: needs a float tensor, got int64");
    CHECK_ERR(gan_uniform_(t, &g, 3, 2), "uniform_: need finite low <= high, got [3, 2)");
    CHECK_ERR(gan_uniform_(t, &g, 0, INFINITY), "need finite low <= high");
    CHECK_ERR(gan_uniform_(t, &g, NAN, 1), "need finite low <= high");
    gan_tensor_release(t);
    gan_tensor_release(ti);
}

// A Philox4x32-10 of the test's own, from Salmon et al.'s description (multipliers
// 0xD2511F53 and 0xCD9E8D57, key increments 0x9E3779B9 and 0xBB67AE85), checked against
// Random123's known answers; gan's draws must take the values it gives.
static void ref_philox(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]}, k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0], p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t d[4] = {(uint32_t)(p1 >> 32) ^ c[1] ^ k[0], (uint32_t)p1,
                         (uint32_t)(p0 >> 32) ^ c[3] ^ k[1], (uint32_t)p0};
        memcpy(c, d, sizeof c);
        k[0] += 0x9E3779B9u; k[1] += 0xBB67AE85u;
    }
    memcpy(out, c, sizeof c);
}

// Block `counter` of a generator with `seed`: counter and key are the 64-bit values' words.
static void ref_block(uint64_t seed, uint64_t counter, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    ref_philox(ctr, key, out);
}

static double ref_u53(uint32_t hi, uint32_t lo) {
    return (double)(((uint64_t)hi << 21) ^ (lo >> 11)) * 0x1.0p-53;
}

// uniform_ is u53 of the first two words of block offset + i; normal_ pairs elements 2k
// and 2k + 1 on block offset + k, Box-Muller with libm's log1p, cos and sin as the
// reference of gan's own vectorised log and sincos; float32 is the float64 value rounded.
static void test_draws_against_reference(void) {
    uint32_t out[4];
    static const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
    static const uint32_t c1[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    static const uint32_t k1[2] = {0xa4093822u, 0x299f31d0u};
    ref_philox(c0, k0, out);
    CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u);
    ref_philox(c1, k1, out);
    CHECK(out[0] == 0xd16cfe09u && out[1] == 0x94fdccebu && out[2] == 0x5001e420u && out[3] == 0x24126ea1u);

    const uint64_t seed = 0x0123456789abcdefULL;
    gan_generator g;
    gan_generator_init(&g, seed);
    gan_tensor *skip, *u, *x, *x32;
    CHECK_OK(gan_empty(&skip, GAN_FLOAT64, 1, I64(3)));
    CHECK_OK(gan_uniform_(skip, &g, 0, 1));            // odd offsets from here on
    int64_t nu = 37, n = 100001;                       // a partial last chunk, a half-used pair
    CHECK_OK(gan_empty(&u, GAN_FLOAT64, 1, &nu));
    uint64_t off = g.offset;
    CHECK_OK(gan_uniform_(u, &g, 0, 1));
    bool same = true;
    for (int64_t i = 0; i < nu; i++) {
        ref_block(seed, off + (uint64_t)i, out);
        same = same && gan_get(u, &i) == ref_u53(out[0], out[1]);
    }
    CHECK(same);
    CHECK_OK(gan_empty(&x, GAN_FLOAT64, 1, &n));
    CHECK_OK(gan_empty(&x32, GAN_FLOAT32, 1, &n));
    gan_generator g32 = g;
    off = g.offset;
    CHECK_OK(gan_normal_(x, &g, 2, 3));
    CHECK_OK(gan_normal_(x32, &g32, 2, 3));
    CHECK(g.offset == off + (uint64_t)n);
    double worst = 0;
    bool rounded = true;
    const double *xd = gan_data(x);
    const float *xf = gan_data(x32);
    for (int64_t i = 0; i < n; i++) {
        ref_block(seed, off + (uint64_t)(i / 2), out);
        double r = sqrt(-2 * log1p(-ref_u53(out[0], out[1]))), a = 2 * M_PI * ref_u53(out[2], out[3]);
        double want = 2 + 3 * r * (i % 2 ? sin(a) : cos(a));
        worst = fmax(worst, fabs(xd[i] - want));
        rounded = rounded && xf[i] == (float)xd[i];
    }
    CHECK(worst < 1e-13);
    CHECK(rounded);
    gan_tensor_release(skip);
    gan_tensor_release(u);
    gan_tensor_release(x);
    gan_tensor_release(x32);
}

static bool within_one_sd(double x, const void *arg) { return fabs(x - 2) < 3; (void)arg; }

static void test_normal(void) {
    gan_generator g;
    gan_generator_init(&g, 12);
    for (int dt = 0; dt < 2; dt++) {
        gan_tensor *t;
        CHECK_OK(gan_empty(&t, (gan_dtype)dt, 1, I64(N_BIG)));
        CHECK_OK(gan_normal_(t, &g, 2, 3));
        moments m = moments_of(t);
        CHECK_CLOSE(m.mean, 2, 0.015);
        CHECK_CLOSE(sqrt(m.var), 3, 0.015);
        CHECK_CLOSE(m.skew, 0, 0.015);
        CHECK_CLOSE(m.kurt, 3, 0.03);
        CHECK(m.min > 2 - 3 * 6.5 && m.max < 2 + 3 * 6.5);
        CHECK(m.min < 2 - 3 * 4 && m.max > 2 + 3 * 4);       // tails are there
        double frac = (double)count_where(t, within_one_sd, NULL) / N_BIG;
        CHECK_CLOSE(frac, 0.682689, 0.0025);
        CHECK_OK(gan_normal_(t, &g, -1, 0));                 // std 0: the mean
        m = moments_of(t);
        CHECK(m.min == -1 && m.max == -1);
        gan_tensor_release(t);
    }
    gan_tensor *t, *ti;
    CHECK_OK(gan_empty(&t, GAN_FLOAT32, 1, I64(3)));
    CHECK_OK(gan_empty(&ti, GAN_INT64, 1, I64(3)));
    CHECK_ERR(gan_normal_(t, &g, 0, -1), "normal_: need a finite mean and std >= 0, got mean 0, std -1");
    CHECK_ERR(gan_normal_(t, &g, NAN, 1), "normal_: need a finite mean");
    CHECK_ERR(gan_normal_(ti, &g, 0, 1), "normal_: needs a float tensor, got int64");
    gan_tensor_release(ti);
    gan_tensor_release(t);
}

static void test_trunc_normal(void) {
    gan_generator g;
    gan_generator_init(&g, 13);
    const struct { double mean, std, a, b; } cases[] = {
        {0, 1, -2, 2}, {1, 2, 0.5, 3}, {0, 1, 5, 6}, {0, 1, -6, -5}, {0, 1, -INFINITY, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double mu = cases[c].mean, s = cases[c].std, a = cases[c].a, b = cases[c].b;
        gan_tensor *t;
        CHECK_OK(gan_empty(&t, c % 2 ? GAN_FLOAT32 : GAN_FLOAT64, 1, I64(N_BIG / 4)));
        CHECK_OK(gan_trunc_normal_(t, &g, mu, s, a, b));
        moments m = moments_of(t);
        CHECK_MSG(m.min >= a && m.max <= b, "case %zu: [%g, %g] outside [%g, %g]", c, m.min, m.max, a, b);
        // Mean and variance of the truncated normal.
        double al = (a - mu) / s, be = (b - mu) / s, Z = Phi(be) - Phi(al);
        double pa = isinf(al) ? 0 : phi(al), pb = isinf(be) ? 0 : phi(be);
        double ala = isinf(al) ? 0 : al * pa, beb = isinf(be) ? 0 : be * pb;
        double mean = mu + s * (pa - pb) / Z;
        double var = s * s * (1 + (ala - beb) / Z - ((pa - pb) / Z) * ((pa - pb) / Z));
        double se = sqrt(var / (N_BIG / 4));
        CHECK_MSG(fabs(m.mean - mean) < 6 * se + 1e-6, "case %zu: mean %.6f, expected %.6f", c, m.mean, mean);
        CHECK_MSG(fabs(m.var - var) < 0.03 * var, "case %zu: var %.6f, expected %.6f", c, m.var, var);
        gan_tensor_release(t);
    }
    gan_tensor *t;
    CHECK_OK(gan_empty(&t, GAN_FLOAT32, 1, I64(3)));
    CHECK_ERR(gan_trunc_normal_(t, &g, 0, 0, -1, 1), "trunc_normal_: need std > 0 and a < b");
    CHECK_ERR(gan_trunc_normal_(t, &g, 0, 1, 1, 1), "need std > 0 and a < b, got std 1, [1, 1]");
    CHECK_ERR(gan_trunc_normal_(t, &g, 0, 1, 50, 60), "trunc_normal_: [50, 60] holds no probability mass of N(0, 1)");
    gan_tensor_release(t);
}

static void test_randint(void) {
    gan_generator g;
    gan_generator_init(&g, 14);
    gan_tensor *t;
    CHECK_OK(gan_empty(&t, GAN_INT64, 1, I64(120000)));
    CHECK_OK(gan_randint_(t, &g, -5, 7));
    int64_t counts[12] = {0};
    bool in_range = true;
    for (int64_t i = 0; i < 120000; i++) {
        int64_t v = gan_get_i64(t, &i);
        in_range &= v >= -5 && v < 7;
        if (v >= -5 && v < 7) counts[v + 5]++;
    }
    CHECK(in_range);
    bool flat = true;
    for (int k = 0; k < 12; k++) flat &= fabs(counts[k] / 120000.0 - 1 / 12.0) < 0.004;
    CHECK(flat);
    // A large range.
    CHECK_OK(gan_randint_(t, &g, 0, (int64_t)1 << 40));
    moments m = moments_of(t);
    CHECK(m.min >= 0 && m.max < 0x1p40 && m.max > 0x1p39);
    CHECK_CLOSE(m.mean / 0x1p40, 0.5, 0.01);
    gan_tensor_release(t);
    // Into a float tensor: integral values.
    CHECK_OK(gan_empty(&t, GAN_FLOAT32, 1, I64(10000)));
    CHECK_OK(gan_randint_(t, &g, 0, 10));
    bool integral = true;
    for (int64_t i = 0; i < 10000; i++) {
        double v = gan_get(t, &i);
        integral &= v == floor(v) && v >= 0 && v < 10;
    }
    CHECK(integral);
    CHECK_ERR(gan_randint_(t, &g, 3, 3), "randint: high (3) must be greater than low (3)");
    CHECK_ERR(gan_randint_(t, &g, 5, -5), "randint: high (-5) must be greater than low (5)");
    gan_tensor_release(t);
}

static bool is_one(double x, const void *arg) { return x == 1; (void)arg; }
static bool is_binary(double x, const void *arg) { return x == 0 || x == 1; (void)arg; }

static void test_bernoulli(void) {
    gan_generator g;
    gan_generator_init(&g, 15);
    gan_tensor *t;
    CHECK_OK(gan_empty(&t, GAN_FLOAT32, 1, I64(N_BIG)));
    CHECK_OK(gan_bernoulli_(t, &g, 0.3, NULL));
    CHECK(count_where(t, is_binary, NULL) == N_BIG);
    CHECK_CLOSE((double)count_where(t, is_one, NULL) / N_BIG, 0.3, 0.0025);
    CHECK_OK(gan_bernoulli_(t, &g, 0, NULL));
    CHECK(count_where(t, is_one, NULL) == 0);
    CHECK_OK(gan_bernoulli_(t, &g, 1, NULL));
    CHECK(count_where(t, is_one, NULL) == N_BIG);
    gan_tensor_release(t);
    // int64 target.
    gan_tensor *ti;
    CHECK_OK(gan_empty(&ti, GAN_INT64, 1, I64(10000)));
    CHECK_OK(gan_bernoulli_(ti, &g, 0.5, NULL));
    CHECK(count_where(ti, is_binary, NULL) == 10000);
    gan_tensor_release(ti);
    // Per-element probabilities broadcast along rows.
    gan_tensor *p;
    CHECK_OK(gan_from_doubles(&p, GAN_FLOAT32, 1, I64(4), (double[]){0, 0.25, 0.5, 1}));
    CHECK_OK(gan_empty(&t, GAN_FLOAT64, 2, I64(100000, 4)));
    CHECK_OK(gan_bernoulli_(t, &g, 0, p));
    gan_tensor *colsum;
    CHECK_OK(gan_reduce(&colsum, GAN_SUM, t, 1, INTS(0), false));
    CHECK(gan_get(colsum, I64(0)) == 0);
    CHECK_CLOSE(gan_get(colsum, I64(1)) / 100000, 0.25, 0.007);
    CHECK_CLOSE(gan_get(colsum, I64(2)) / 100000, 0.5, 0.008);
    CHECK(gan_get(colsum, I64(3)) == 100000);
    gan_tensor_release(colsum);
    // Errors.
    CHECK_ERR(gan_bernoulli_(t, &g, 1.5, NULL), "bernoulli: p must be in [0, 1], got 1.5");
    CHECK_ERR(gan_bernoulli_(t, &g, NAN, NULL), "bernoulli: p must be in [0, 1]");
    gan_tensor *bad;
    CHECK_OK(gan_from_doubles(&bad, GAN_FLOAT32, 1, I64(4), (double[]){0, 0.5, 1.2, 0.1}));
    CHECK_ERR(gan_bernoulli_(t, &g, 0, bad), "bernoulli: probabilities must be in [0, 1], got values in [0, 1.2]");
    gan_set(bad, I64(2), NAN);
    CHECK_ERR(gan_bernoulli_(t, &g, 0, bad), "bernoulli: probabilities must be in [0, 1]");
    gan_tensor *p5;
    CHECK_OK(gan_zeros(&p5, GAN_FLOAT32, 1, I64(5)));
    CHECK_ERR(gan_bernoulli_(t, &g, 0, p5), "cannot expand shape (5,) to (100000, 4)");
    gan_tensor *pi;
    CHECK_OK(gan_zeros(&pi, GAN_INT64, 1, I64(4)));
    CHECK_ERR(gan_bernoulli_(t, &g, 0, pi), "bernoulli: needs a float tensor, got int64");
    gan_tensor_release(pi);
    gan_tensor_release(p5);
    gan_tensor_release(bad);
    gan_tensor_release(p);
    gan_tensor_release(t);
}

static void test_multinomial(void) {
    gan_generator g;
    gan_generator_init(&g, 16);
    gan_tensor *p, *s;
    // With replacement: frequencies follow the weights.
    CHECK_OK(gan_from_doubles(&p, GAN_FLOAT32, 1, I64(4), (double[]){1, 2, 3, 4}));
    CHECK_OK(gan_multinomial(&s, p, 100000, true, &g));
    CHECK(s->dtype == GAN_INT64);
    CHECK_SHAPE(s, 1, 100000);
    int64_t counts[4] = {0};
    bool in_range = true;
    for (int64_t i = 0; i < 100000; i++) {
        int64_t v = gan_get_i64(s, &i);
        in_range &= v >= 0 && v < 4;
        if (v >= 0 && v < 4) counts[v]++;
    }
    CHECK(in_range);
    for (int k = 0; k < 4; k++) CHECK_CLOSE(counts[k] / 100000.0, (k + 1) / 10.0, 0.008);
    gan_tensor_release(s);
    gan_tensor_release(p);
    // Zero weights are never drawn.
    CHECK_OK(gan_from_doubles(&p, GAN_FLOAT64, 1, I64(5), (double[]){0, 1, 0, 3, 0}));
    CHECK_OK(gan_multinomial(&s, p, 20000, true, &g));
    bool only_nonzero = true;
    for (int64_t i = 0; i < 20000; i++) {
        int64_t v = gan_get_i64(s, &i);
        only_nonzero &= v == 1 || v == 3;
    }
    CHECK(only_nonzero);
    gan_tensor_release(s);
    // Without replacement: distinct, only non-zero categories; all of them when asked.
    CHECK_OK(gan_multinomial(&s, p, 2, false, &g));
    CHECK_SHAPE(s, 1, 2);
    int64_t a0 = gan_get_i64(s, I64(0)), a1 = gan_get_i64(s, I64(1));
    CHECK(a0 != a1 && (a0 == 1 || a0 == 3) && (a1 == 1 || a1 == 3));
    gan_tensor_release(s);
    CHECK_ERR(gan_multinomial(&s, p, 3, false, &g),
              "multinomial: cannot draw 3 samples without replacement from 2 categories with non-zero weight");
    gan_tensor_release(p);
    // 2-D probabilities, strided, without replacement: every row a permutation.
    gan_tensor *pb, *pt;
    CHECK_OK(gan_empty(&pb, GAN_FLOAT32, 2, I64(6, 50)));
    tu_fill(pb, 8, 0.1, 1);
    CHECK_OK(gan_transpose(&pt, pb, 0, 1));             // (50, 6)
    CHECK_OK(gan_multinomial(&s, pt, 6, false, &g));
    CHECK_SHAPE(s, 2, 50, 6);
    bool perms = true;
    for (int64_t r = 0; r < 50; r++) {
        int seen = 0;
        for (int64_t j = 0; j < 6; j++) {
            int64_t v = gan_get_i64(s, I64(r, j));
            if (v < 0 || v >= 6) { perms = false; continue; }
            seen |= 1 << v;
        }
        perms &= seen == 0x3f;
    }
    CHECK(perms);
    gan_tensor_release(s);
    gan_tensor_release(pt);
    gan_tensor_release(pb);
    // The first draw without replacement follows the weights: category 1 first 90% of rows.
    gan_tensor *w, *we;
    CHECK_OK(gan_from_doubles(&w, GAN_FLOAT32, 2, I64(1, 2), (double[]){1, 9}));
    CHECK_OK(gan_expand(&we, w, 2, I64(20000, 2)));
    CHECK_OK(gan_multinomial(&s, we, 2, false, &g));
    int64_t first1 = 0;
    bool both = true;
    for (int64_t r = 0; r < 20000; r++) {
        first1 += gan_get_i64(s, I64(r, 0)) == 1;
        both &= gan_get_i64(s, I64(r, 0)) + gan_get_i64(s, I64(r, 1)) == 1;
    }
    CHECK(both);
    CHECK_CLOSE(first1 / 20000.0, 0.9, 0.011);
    gan_tensor_release(s);
    gan_tensor_release(we);
    gan_tensor_release(w);
    // Errors.
    gan_tensor *bad, *p3, *pi, *z;
    CHECK_OK(gan_from_doubles(&bad, GAN_FLOAT32, 2, I64(2, 2), (double[]){1, 1, -1, 1}));
    CHECK_ERR(gan_multinomial(&s, bad, 1, true, &g), "multinomial: row 2 has an invalid weight -1");
    gan_set(bad, I64(1, 0), INFINITY);
    CHECK_ERR(gan_multinomial(&s, bad, 1, true, &g), "row 2 has an invalid weight inf");
    gan_set(bad, I64(1, 0), NAN);
    CHECK_ERR(gan_multinomial(&s, bad, 1, true, &g), "invalid weight");
    CHECK_OK(gan_zeros(&z, GAN_FLOAT64, 1, I64(3)));
    CHECK_ERR(gan_multinomial(&s, z, 1, true, &g), "multinomial: row 1 sums to zero");
    CHECK_ERR(gan_multinomial(&s, z, 0, true, &g), "multinomial: num_samples must be >= 1");
    CHECK_OK(gan_zeros(&p3, GAN_FLOAT32, 3, I64(2, 2, 2)));
    CHECK_ERR(gan_multinomial(&s, p3, 1, true, &g), "multinomial: probs must be 1-d or 2-d, got 3 dims");
    CHECK_OK(gan_zeros(&pi, GAN_INT64, 1, I64(3)));
    CHECK_ERR(gan_multinomial(&s, pi, 1, true, &g), "multinomial: needs a float tensor, got int64");
    gan_tensor *e;
    CHECK_OK(gan_zeros(&e, GAN_FLOAT32, 1, I64(0)));
    CHECK_ERR(gan_multinomial(&s, e, 1, true, &g), "multinomial: no categories");
    gan_tensor_release(e);
    gan_tensor_release(pi);
    gan_tensor_release(p3);
    gan_tensor_release(z);
    gan_tensor_release(bad);
}

static void test_randperm(void) {
    gan_generator g;
    gan_generator_init(&g, 17);
    gan_tensor *p, *q;
    CHECK_OK(gan_randperm(&p, 1000, &g));
    CHECK(p->dtype == GAN_INT64);
    CHECK_SHAPE(p, 1, 1000);
    static bool seen[1000];
    memset(seen, 0, sizeof seen);
    bool ok = true;
    int64_t fixed = 0;
    for (int64_t i = 0; i < 1000; i++) {
        int64_t v = gan_get_i64(p, &i);
        if (v < 0 || v >= 1000 || seen[v]) { ok = false; continue; }
        seen[v] = true;
        fixed += v == i;
    }
    CHECK(ok);
    CHECK(fixed < 10);   // not the identity
    gan_generator_init(&g, 17);
    CHECK_OK(gan_randperm(&q, 1000, &g));
    CHECK(same_bits(p, q));
    gan_tensor_release(q);
    gan_tensor_release(p);
    CHECK_OK(gan_randperm(&p, 0, &g));
    CHECK_SHAPE(p, 1, 0);
    gan_tensor_release(p);
    CHECK_OK(gan_randperm(&p, 1, &g));
    CHECK_EQ_LIST(p, 0);
    gan_tensor_release(p);
    // Uniform: where element 0 lands among 4 positions, over many draws.
    int64_t pos[4] = {0};
    for (int r = 0; r < 8000; r++) {
        CHECK_OK(gan_randperm(&p, 4, &g));
        for (int64_t i = 0; i < 4; i++)
            if (gan_get_i64(p, &i) == 0) pos[i]++;
        gan_tensor_release(p);
    }
    for (int i = 0; i < 4; i++) CHECK_CLOSE(pos[i] / 8000.0, 0.25, 0.025);
    CHECK_ERR(gan_randperm(&p, -1, &g), "randperm: n must be >= 0, got -1");
}

static void test_default_generator(void) {
    gan_generator *d = gan_default_generator();
    CHECK(d != NULL && d == gan_default_generator());
    gan_generator saved = *d;
    gan_generator_init(d, 99);
    gan_tensor *a, *b;
    CHECK_OK(gan_empty(&a, GAN_FLOAT32, 1, I64(100)));
    CHECK_OK(gan_empty(&b, GAN_FLOAT32, 1, I64(100)));
    CHECK_OK(gan_normal_(a, NULL, 0, 1));               // NULL: the default generator
    CHECK(d->offset == 100);
    gan_generator g;
    gan_generator_init(&g, 99);
    CHECK_OK(gan_normal_(b, &g, 0, 1));
    CHECK(same_bits(a, b));
    gan_tensor *perm, *m, *p;
    CHECK_OK(gan_randperm(&perm, 5, NULL));
    CHECK(d->offset == 105);
    CHECK_OK(gan_full(&p, GAN_FLOAT64, 1, I64(3), 1));
    CHECK_OK(gan_multinomial(&m, p, 2, true, NULL));
    CHECK(d->offset == 107);
    gan_tensor_release(m);
    gan_tensor_release(p);
    gan_tensor_release(perm);
    *d = saved;
    gan_tensor_release(a);
    gan_tensor_release(b);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_same_seed),          CHECK_TEST(test_offset_advances),
        CHECK_TEST(test_philox_known_answer), CHECK_TEST(test_thread_independence),
        CHECK_TEST(test_strided_target),     CHECK_TEST(test_uniform),
        CHECK_TEST(test_normal),             CHECK_TEST(test_trunc_normal),
        CHECK_TEST(test_randint),            CHECK_TEST(test_bernoulli),
        CHECK_TEST(test_multinomial),        CHECK_TEST(test_randperm),
        CHECK_TEST(test_default_generator),  CHECK_TEST(test_draws_against_reference),
    };
    return check_main(argc, argv, tests, CHECK_COUNT(tests));
}
