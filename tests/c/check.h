// A tiny test harness for the C unit tests (no external framework).
//
//     static void test_add(void) {
//         gan_tensor *x;
//         CHECK_OK(gan_zeros(&x, GAN_FLOAT32, 1, (int64_t[]){3}));
//         CHECK(gan_numel(x) == 3);
//         CHECK_ERR(gan_narrow(&x, x, 0, 2, 5), "out of bounds");
//         gan_tensor_release(x);
//     }
//     int main(int argc, char **argv) {
//         static const check_test tests[] = {CHECK_TEST(test_add)};
//         return check_main(argc, argv, tests, CHECK_COUNT(tests));
//     }
//
// A failed check prints file:line and what failed, then the test carries on (so one run
// shows every failure). check_main prints one line per test and returns non-zero if any
// check failed. Running the binary with test names as arguments runs only those tests.
// After each test the allocator's live bytes must be back where they were: a tensor the
// test (or the library) forgot to release fails the test even without a leak checker.
#ifndef GAN_TESTS_CHECK_H
#define GAN_TESTS_CHECK_H
#include "gan/gan.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int check_n_checks;    // checks run by the current test
static int check_n_failed;    // of those, failed

static void check_fail_(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));
static void check_fail_(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    check_n_failed++;
    fprintf(stderr, "%s:%d: FAILED: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

// Clears the thread-local error message so CHECK_ERR sees only what the call set.
#define CHECK_CLEAR_ERROR() ((void)gan_error("%s", ""))

#define CHECK(cond)                                                                     \
    do {                                                                                \
        check_n_checks++;                                                               \
        if (!(cond)) check_fail_(__FILE__, __LINE__, "%s", #cond);                      \
    } while (0)

// Like CHECK with a printf-style explanation (printed only on failure).
#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        check_n_checks++;                                                               \
        if (!(cond)) {                                                                  \
            check_fail_(__FILE__, __LINE__, "%s", #cond);                               \
            fprintf(stderr, "    ");                                                    \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

// |a - b| <= tol; two NaNs count as close (so NaN propagation can be checked), equal
// infinities too.
#define CHECK_CLOSE(a, b, tol)                                                          \
    do {                                                                                \
        double check_a_ = (double)(a), check_b_ = (double)(b), check_t_ = (double)(tol); \
        check_n_checks++;                                                               \
        if (!check_close_(check_a_, check_b_, check_t_))                                \
            check_fail_(__FILE__, __LINE__, "%s = %.17g, %s = %.17g, differ by more than %g", \
                        #a, check_a_, #b, check_b_, check_t_);                          \
    } while (0)

static inline int check_close_(double a, double b, double tol) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (a == b) return 1;
    return fabs(a - b) <= tol;
}

// The call must return GAN_OK; otherwise prints the library's error message.
#define CHECK_OK(call)                                                                  \
    do {                                                                                \
        check_n_checks++;                                                               \
        CHECK_CLEAR_ERROR();                                                            \
        int check_rc_ = (call);                                                         \
        if (check_rc_ != GAN_OK)                                                        \
            check_fail_(__FILE__, __LINE__, "%s returned %d: %s", #call, check_rc_,     \
                        gan_last_error());                                              \
    } while (0)

// The call must return GAN_ERR and leave a message containing `fragment`.
#define CHECK_ERR(call, fragment)                                                       \
    do {                                                                                \
        check_n_checks++;                                                               \
        CHECK_CLEAR_ERROR();                                                            \
        int check_rc_ = (call);                                                         \
        const char *check_msg_ = gan_last_error();                                      \
        if (check_rc_ != GAN_ERR)                                                       \
            check_fail_(__FILE__, __LINE__, "%s returned %d, expected GAN_ERR (\"%s\")",  \
                        #call, check_rc_, fragment);                                    \
        else if (!strstr(check_msg_, fragment))                                         \
            check_fail_(__FILE__, __LINE__, "%s: error \"%s\" does not contain \"%s\"",  \
                        #call, check_msg_, fragment);                                   \
    } while (0)

typedef struct check_test {
    const char *name;
    void (*fn)(void);
} check_test;

#define CHECK_TEST(fn) {#fn, fn}
#define CHECK_COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

static inline double check_now_(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int check_main(int argc, char **argv, const check_test *tests, int n) {
    int failed_tests = 0, run = 0, total_checks = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < n; i++) {
        if (argc > 1) {   // only the tests named on the command line
            int wanted = 0;
            for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], tests[i].name) == 0;
            if (!wanted) continue;
        }
        check_n_checks = 0;
        check_n_failed = 0;
        int64_t live_before = gan_alloc_get_stats().live_bytes;
        double t0 = check_now_();
        tests[i].fn();
        double dt = check_now_() - t0;
        int64_t live_after = gan_alloc_get_stats().live_bytes;
        check_n_checks++;
        if (live_after != live_before)
            check_fail_(__FILE__, __LINE__, "%s: %lld bytes of tensor storage still live "
                        "after the test (leaked tensors?)", tests[i].name,
                        (long long)(live_after - live_before));
        run++;
        total_checks += check_n_checks;
        if (check_n_failed) failed_tests++;
        printf("%s %-40s %5d checks%s (%.2f s)\n", check_n_failed ? "FAIL" : "ok  ",
               tests[i].name, check_n_checks, check_n_failed ? ", some failed" : "", dt);
        if (check_n_failed)
            printf("     %d of %d checks failed\n", check_n_failed, check_n_checks);
    }
    printf("%d tests, %d checks, %d failed tests\n", run, total_checks, failed_tests);
    if (run == 0) {
        fprintf(stderr, "no test matched the names given\n");
        return 2;
    }
    return failed_tests ? 1 : 0;
}

#endif
