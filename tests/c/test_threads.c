// Large sizes on several threads: 16M-element elementwise ops and a 1024^3 matmul,
// checked against naive references on sampled entries (and 1 thread against 2 in full).
// Correctness only: nothing here asserts a timing.
#include "testutil.h"
#include <dirent.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BIG (16 * 1024 * 1024)
#define SIDE 4096   // SIDE * SIDE == BIG

static void fill_fast(gan_tensor *t, uint64_t seed) {   // contiguous float32
    float *p = gan_data(t);
    uint64_t s = seed;
    int64_t n = gan_numel(t);
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = (float)((double)(s >> 40) * 0x1.0p-24 * 4 - 2);
    }
}

// Indices to check: both ends, around every split a 2-thread run might make, and random.
static int make_samples(int64_t *idx, int64_t n, uint64_t seed) {
    int k = 0;
    const int64_t fixed[] = {0, 1, n / 2 - 1, n / 2, n / 2 + 1, n - 2, n - 1, n / 3, 2 * n / 3};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) idx[k++] = fixed[i];
    uint64_t s = seed;
    while (k < 4096) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        idx[k++] = (int64_t)((s >> 20) % (uint64_t)n);
    }
    return k;
}

static void *fail_on_thread(void *arg) {
    (void)arg;
    gan_tensor *s, *v;
    if (gan_zeros(&s, GAN_FLOAT32, 0, NULL) != GAN_OK) return NULL;
    int rc = gan_select(&v, s, 0, 0);
    gan_tensor_release(s);
    if (rc != GAN_ERR) return NULL;
    char *copy = malloc(strlen(gan_last_error()) + 1);
    if (copy) strcpy(copy, gan_last_error());
    return copy;
}

static void test_add_16m(void) {
    int saved = gan_get_num_threads();
    gan_tensor *a, *b, *o1, *o2;
    CHECK_OK(gan_empty(&a, GAN_FLOAT32, 1, I64(BIG)));
    CHECK_OK(gan_empty(&b, GAN_FLOAT32, 1, I64(BIG)));
    fill_fast(a, 1);
    fill_fast(b, 2);
    gan_set_num_threads(1);
    CHECK_OK(gan_binary(&o1, GAN_ADD, a, b));
    gan_set_num_threads(2);
    CHECK_OK(gan_binary(&o2, GAN_ADD, a, b));
    static int64_t idx[4096];
    int ns = make_samples(idx, BIG, 3);
    const float *pa = gan_data(a), *pb = gan_data(b), *p1 = gan_data(o1), *p2 = gan_data(o2);
    int bad = 0;
    for (int i = 0; i < ns; i++) {
        float want = pa[idx[i]] + pb[idx[i]];
        bad += p1[idx[i]] != want || p2[idx[i]] != want;
    }
    CHECK_MSG(bad == 0, "%d sampled sums wrong", bad);
    CHECK(memcmp(p1, p2, sizeof(float) * BIG) == 0);
    // In place on 2 threads.
    CHECK_OK(gan_binary_(a, GAN_ADD, b));
    CHECK(memcmp(gan_data(a), p1, sizeof(float) * BIG) == 0);
    gan_tensor_release(o1);
    gan_tensor_release(o2);
    // Strided: (4096, 4096) transposed plus contiguous, and a broadcast row.
    gan_tensor *am, *at, *bm, *row, *o3, *o4;
    CHECK_OK(gan_view(&am, a, 2, I64(SIDE, SIDE)));
    CHECK_OK(gan_transpose(&at, am, 0, 1));
    CHECK_OK(gan_view(&bm, b, 2, I64(SIDE, SIDE)));
    CHECK_OK(gan_binary(&o3, GAN_SUB, at, bm));
    CHECK_OK(gan_narrow(&row, b, 0, 12345, SIDE));
    CHECK_OK(gan_binary(&o4, GAN_MUL, at, row));
    pa = gan_data(a);
    const float *p3 = gan_data(o3), *p4 = gan_data(o4);
    bad = 0;
    for (int i = 0; i < ns; i++) {
        int64_t r = idx[i] / SIDE, c = idx[i] % SIDE;
        float x = pa[c * SIDE + r];
        bad += p3[idx[i]] != x - pb[idx[i]];
        bad += p4[idx[i]] != x * pb[12345 + c];
    }
    CHECK_MSG(bad == 0, "%d sampled strided results wrong", bad);
    gan_set_num_threads(saved);
    gan_tensor_release(o3); gan_tensor_release(o4); gan_tensor_release(row);
    gan_tensor_release(bm); gan_tensor_release(at); gan_tensor_release(am);
    gan_tensor_release(a);
    gan_tensor_release(b);
}

static void test_reduce_16m(void) {
    gan_tensor *a, *s, *rows;
    CHECK_OK(gan_empty(&a, GAN_FLOAT32, 2, I64(SIDE, SIDE)));
    fill_fast(a, 4);
    const float *p = gan_data(a);
    double total = 0;
    for (int64_t i = 0; i < BIG; i++) total += p[i];
    CHECK_OK(gan_reduce(&s, GAN_SUM, a, 0, NULL, false));
    CHECK_CLOSE(gan_get(s, NULL), total, 1e-6 * fabs(total) + 1e-2);
    gan_tensor *at;
    CHECK_OK(gan_transpose(&at, a, 0, 1));
    CHECK_OK(gan_reduce(&rows, GAN_MAX, at, 1, INTS(1), false));   // column maxima of a
    int bad = 0;
    for (int64_t c = 0; c < SIDE; c += 97) {
        float m = p[c];
        for (int64_t r = 1; r < SIDE; r++) m = p[r * SIDE + c] > m ? p[r * SIDE + c] : m;
        bad += gan_get(rows, &c) != m;
    }
    CHECK(bad == 0);
    gan_tensor_release(rows);
    gan_tensor_release(at);
    gan_tensor_release(s);
    gan_tensor_release(a);
}

static void check_sampled_matmul(const gan_tensor *a, const gan_tensor *b, const gan_tensor *o,
                                 const char *what) {
    int64_t n = a->size[0], k = a->size[1], m = b->size[1];
    uint64_t s = 99;
    int bad = 0;
    for (int t = 0; t < 96; t++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t i = (int64_t)((s >> 20) % (uint64_t)n), j = (int64_t)((s >> 42) % (uint64_t)m);
        if (t == 0) i = j = 0;
        if (t == 1) { i = n - 1; j = m - 1; }
        double want = 0, mag = 0;
        for (int64_t kk = 0; kk < k; kk++) {
            double x = gan_get(a, I64(i, kk)) * gan_get(b, I64(kk, j));
            want += x;
            mag += fabs(x);
        }
        double got = gan_get(o, I64(i, j));
        if (!(fabs(got - want) <= 2.0 * (double)(k + 1) * FLT_EPSILON * mag)) {
            if (bad++ < 3) fprintf(stderr, "    %s [%lld, %lld]: %.9g vs %.9g\n", what,
                                   (long long)i, (long long)j, got, want);
        }
    }
    CHECK_MSG(bad == 0, "%s: %d sampled entries wrong", what, bad);
}

static void test_matmul_1024(void) {
    int saved = gan_get_num_threads();
    gan_set_num_threads(2);
    const int64_t N = 1024;
    gan_tensor *a, *b, *o;
    CHECK_OK(gan_empty(&a, GAN_FLOAT32, 2, I64(N, N)));
    CHECK_OK(gan_empty(&b, GAN_FLOAT32, 2, I64(N, N)));
    fill_fast(a, 5);
    fill_fast(b, 6);
    CHECK_OK(gan_matmul(&o, a, b));
    CHECK_SHAPE(o, 2, N, N);
    check_sampled_matmul(a, b, o, "1024^3");
    gan_tensor_release(o);
    // Transposed operands at full size, and one thread.
    gan_tensor *at, *bt;
    CHECK_OK(gan_transpose(&at, a, 0, 1));
    CHECK_OK(gan_transpose(&bt, b, 0, 1));
    gan_set_num_threads(1);
    CHECK_OK(gan_matmul(&o, at, bt));
    check_sampled_matmul(at, bt, o, "1024^3 transposed, 1 thread");
    gan_tensor_release(o);
    gan_set_num_threads(saved);
    gan_tensor_release(bt);
    gan_tensor_release(at);
    gan_tensor_release(a);
    gan_tensor_release(b);
}

// CPU ticks (utime + stime) of this process's threads: [0] the calling thread, [1] the
// sum over the others. False if /proc is not there.
static bool thread_ticks(long long ticks[2]) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return false;
    char self[32];
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    ticks[0] = ticks[1] = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *p = strrchr(buf, ')');   // fields after the command name; utime is field 14
        long long ut = 0, st = 0;
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut, &st) != 2)
            continue;
        ticks[strcmp(e->d_name, self) == 0 ? 0 : 1] += ut + st;
    }
    closedir(d);
    return true;
}

// A single large product must use every thread: BLAS runs single-threaded when called
// inside an OpenMP region, even an inactive one, so gan_matmul must not open one.
static void test_matmul_uses_threads(void) {
    int saved = gan_get_num_threads();
    gan_set_num_threads(2);
    gan_tensor *a, *b, *o;
    CHECK_OK(gan_empty(&a, GAN_FLOAT32, 2, I64(1024, 1024)));
    CHECK_OK(gan_empty(&b, GAN_FLOAT32, 2, I64(1024, 1024)));
    fill_fast(a, 7);
    fill_fast(b, 8);
    CHECK_OK(gan_matmul(&o, a, b));   // warm up the thread pool
    gan_tensor_release(o);
    long long t0[2], t1[2];
    if (thread_ticks(t0)) {
        for (int r = 0; r < 25; r++) {
            CHECK_OK(gan_matmul(&o, a, b));
            gan_tensor_release(o);
        }
        thread_ticks(t1);
        long long main_ticks = t1[0] - t0[0], other_ticks = t1[1] - t0[1];
        CHECK_MSG(other_ticks * 4 >= main_ticks,
                  "gan_matmul ran on one thread: %lld ticks on the caller, %lld on the others",
                  main_ticks, other_ticks);
    }
    gan_set_num_threads(saved);
    gan_tensor_release(a);
    gan_tensor_release(b);
}

static void test_settings_and_errors(void) {
    int saved = gan_get_num_threads();
    gan_set_num_threads(0);                  // clamped to one
    CHECK(gan_get_num_threads() == 1);
    gan_set_num_threads(2);
    CHECK(gan_get_num_threads() == 2);
    gan_set_num_threads(saved);
    const char *core = gan_blas_core_name();
    CHECK(core != NULL && core[0] != '\0');
    // Error messages are per thread: a failure on another thread leaves ours alone.
    gan_tensor *t;
    CHECK_ERR(gan_zeros(&t, GAN_FLOAT32, 1, I64(-7)), "negative size -7");
    pthread_t th;
    CHECK(pthread_create(&th, NULL, fail_on_thread, NULL) == 0);
    char *other = NULL;
    CHECK(pthread_join(th, (void **)&other) == 0);
    CHECK(other && strstr(other, "select: cannot index a 0-d tensor") != NULL);
    free(other);
    CHECK(strstr(gan_last_error(), "negative size -7") != NULL);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_add_16m),
        CHECK_TEST(test_reduce_16m),
        CHECK_TEST(test_matmul_1024),
        CHECK_TEST(test_matmul_uses_threads),
        CHECK_TEST(test_settings_and_errors),
    };
    return check_main(argc, argv, tests, CHECK_COUNT(tests));
}
