// Out of memory anywhere in a small training step. The failure hook of gan/testing.h makes
// the k-th allocation fail, for k = 1, 2, ... until the step runs through without reaching
// it; at every k the step must either fail with GAN_ERR and an "out of memory" message, or
// succeed with every result carrying its grad_fn and gradients equal to those of a run
// without failures. Nothing may leak: storages are checked here after every k (live
// bytes), tensor headers and graph nodes by LeakSanitizer in the sanitizer build.
#include "gan/testing.h"
#include "testutil.h"

// ---- the hook: fail the k-th allocation after arming (0: count only, never fail)

static int64_t countdown, seen;

static bool fail_kth(size_t nbytes, void *ctx) {
    (void)nbytes; (void)ctx;
    __atomic_add_fetch(&seen, 1, __ATOMIC_RELAXED);
    return __atomic_sub_fetch(&countdown, 1, __ATOMIC_RELAXED) == 0;
}
static void arm(int64_t k) {
    countdown = k;
    seen = 0;
    gan_alloc_set_fail_hook(fail_kth, NULL);
}
// Disarms; true if the k-th allocation was reached (so one allocation failed).
static bool disarm(int64_t k) {
    gan_alloc_set_fail_hook(NULL, NULL);
    return k > 0 && seen >= k;
}

// ---- the step: loss = sum(tanh(batch_norm(conv2d(x, w, b), gamma, beta)) * z)

enum { X, W, B, GAMMA, BETA, Z, NLEAF };
static const char *leaf_names[NLEAF] = {"x", "w", "b", "gamma", "beta", "z"};

static void make_leaves(gan_tensor **t, gan_dtype dt) {
    t[X] = tu_rand(dt, 4, I64(2, 3, 6, 6), 1, -1, 1);
    t[W] = tu_rand(dt, 4, I64(4, 3, 3, 3), 2, -0.5, 0.5);
    t[B] = tu_rand(dt, 1, I64(4), 3, -0.5, 0.5);
    t[GAMMA] = tu_rand(dt, 1, I64(4), 4, 0.5, 1.5);
    t[BETA] = tu_rand(dt, 1, I64(4), 5, -0.5, 0.5);
    t[Z] = tu_rand(dt, 4, I64(2, 4, 6, 6), 6, -1, 1);
    for (int i = 0; i < NLEAF; i++) CHECK_OK(gan_set_requires_grad(t[i], true));
}

static void clear_grads(gan_tensor **t) {
    for (int i = 0; i < NLEAF; i++) { gan_tensor_release(t[i]->grad); t[i]->grad = NULL; }
}

// Messages seen over a sweep: each recording failure must name its op.
static const char *expected_msgs[] = {
    "conv2d: out of memory recording the graph",
    "batch_norm: out of memory recording the graph",
    "tanh: out of memory recording the graph",
    "tanh: out of memory saving a tensor for backward",
    "mul: out of memory recording the graph",
    "sum: out of memory recording the graph",
    "backward: out of memory",
};
#define N_EXPECTED ((int)(sizeof expected_msgs / sizeof *expected_msgs))

// A failed call: GAN_ERR with an out-of-memory message; a recording failure names the op.
static void check_failure(const char *op, int64_t k, bool *seen_msgs) {
    const char *msg = gan_last_error();
    CHECK_MSG(strstr(msg, "out of memory") != NULL, "k = %lld, %s failed with \"%s\"",
              (long long)k, op, msg);
    if (strstr(msg, "recording the graph") || strstr(msg, "saving a tensor"))
        CHECK_MSG(strncmp(msg, op, strlen(op)) == 0 && msg[strlen(op)] == ':',
                  "k = %lld: \"%s\" does not name %s", (long long)k, msg, op);
    for (int i = 0; seen_msgs && i < N_EXPECTED; i++)
        if (strstr(msg, expected_msgs[i])) seen_msgs[i] = true;
}

// A successful differentiable op: its result has the node of that op.
static bool recorded(const gan_tensor *t, const char *op, int64_t k) {
    bool ok = t && t->grad_fn && strcmp(t->grad_fn->name, op) == 0;
    CHECK_MSG(ok, "k = %lld: %s returned a result without its grad_fn", (long long)k, op);
    return ok;
}

// Runs the step with the k-th allocation failing (k = 0: none). Returns true if the
// step ran to its end; then the leaves' .grad hold the gradients.
static bool run_step(gan_tensor **t, int64_t k, bool *seen_msgs) {
    gan_conv_params p = {{1, 1}, {1, 1}, {1, 1}, 1, {0, 0}};
    gan_tensor *y = NULL, *n = NULL, *h = NULL, *m = NULL, *s = NULL;
    bool ok = false;
    clear_grads(t);
    if (k > 0) arm(k);
#define STEP(call, op, out)                                                             \
    do {                                                                                \
        if ((call) != GAN_OK) { check_failure(op, k, seen_msgs); goto out_; }           \
        if (!recorded(out, op, k)) goto out_;                                           \
    } while (0)
    STEP(gan_ag_conv2d(&y, t[X], t[W], t[B], &p), "conv2d", y);
    STEP(gan_ag_batch_norm(&n, NULL, NULL, y, t[GAMMA], t[BETA], false, 1e-5), "batch_norm", n);
    STEP(gan_ag_unary(&h, GAN_TANH, n), "tanh", h);
    STEP(gan_ag_binary(&m, GAN_MUL, h, t[Z]), "mul", m);
    STEP(gan_ag_reduce(&s, GAN_SUM, m, 0, NULL, false), "sum", s);
#undef STEP
    if (gan_backward(s, NULL, false, false) != GAN_OK) { check_failure("backward", k, seen_msgs); goto out_; }
    ok = true;
out_:
    if (k > 0 && !disarm(k)) CHECK_MSG(ok, "k = %lld: failed without a failing allocation", (long long)k);
    gan_tensor_release(y); gan_tensor_release(n); gan_tensor_release(h);
    gan_tensor_release(m); gan_tensor_release(s);
    return ok;
}

static void sweep(gan_dtype dt, gan_conv_backend backend) {
    gan_conv_backend was = gan_get_conv_backend();
    if (gan_set_conv_backend(backend) != GAN_OK) return;   // no oneDNN in this build
    gan_tensor *t[NLEAF], *want[NLEAF];
    make_leaves(t, dt);
    CHECK(run_step(t, 0, NULL) && run_step(t, 0, NULL));   // the second with warm caches
    for (int i = 0; i < NLEAF; i++) { want[i] = t[i]->grad; t[i]->grad = NULL; CHECK(want[i] != NULL); }
    bool seen_msgs[N_EXPECTED] = {false};
    clear_grads(t);
    int64_t live = gan_alloc_get_stats().live_bytes, k, failures = 0;
    for (k = 1; k < 100000; k++) {
        bool ok = run_step(t, k, seen_msgs);
        bool fired = seen >= k;
        if (ok) {
            for (int i = 0; i < NLEAF; i++) {
                CHECK_MSG(t[i]->grad != NULL, "k = %lld: no gradient for %s", (long long)k, leaf_names[i]);
                if (!t[i]->grad || !want[i]) continue;
                double *v = tu_values(want[i]);
                double rtol = dt == GAN_FLOAT32 ? 1e-4 : 1e-10;
                CHECK_VALUES(t[i]->grad, v, rtol, rtol, leaf_names[i]);
                free(v);
            }
        }
        clear_grads(t);
        CHECK_MSG(gan_alloc_get_stats().live_bytes == live, "k = %lld: %lld bytes of storage leaked",
                  (long long)k, (long long)(gan_alloc_get_stats().live_bytes - live));
        live = gan_alloc_get_stats().live_bytes;   // one report per leak
        if (!fired) break;   // the step needs fewer than k allocations: all were tried
        failures++;
        if (ok) CHECK_MSG(false, "k = %lld: an allocation failed but the step succeeded", (long long)k);
    }
    CHECK(failures > 20);   // the sweep really went through the step
    for (int i = 0; i < N_EXPECTED; i++)
        CHECK_MSG(seen_msgs[i], "%s: no failure said \"%s\"", gan_dtype_name(dt), expected_msgs[i]);
    clear_grads(t);
    for (int i = 0; i < NLEAF; i++) { gan_tensor_release(t[i]); gan_tensor_release(want[i]); }
    CHECK_OK(gan_set_conv_backend(was));
}

static void test_sweep_gemm_float64(void) { sweep(GAN_FLOAT64, GAN_CONV_GEMM); }
static void test_sweep_gemm_float32(void) { sweep(GAN_FLOAT32, GAN_CONV_GEMM); }
static void test_sweep_dnnl_float32(void) { sweep(GAN_FLOAT32, GAN_CONV_DNNL); }

// ---- double backward: the gradient penalty sum(dloss/dx ^ 2), differentiated to w

static bool run_penalty(gan_tensor **t, int64_t k, gan_tensor **gw) {
    gan_conv_params p = {{1, 1}, {2, 2}, {2, 2}, 1, {0, 0}};
    gan_tensor *y = NULL, *n = NULL, *h = NULL, *m = NULL, *s = NULL, *gx = NULL, *sq = NULL,
               *pen = NULL;
    gan_backward_run *run = NULL;
    bool ok = false;
    *gw = NULL;
    if (k > 0) arm(k);
    if (gan_ag_conv2d(&y, t[X], t[W], t[B], &p) != GAN_OK ||
        gan_ag_batch_norm(&n, NULL, NULL, y, t[GAMMA], t[BETA], false, 1e-5) != GAN_OK ||
        gan_ag_unary(&h, GAN_TANH, n) != GAN_OK || gan_ag_binary(&m, GAN_MUL, h, t[Z]) != GAN_OK ||
        gan_ag_reduce(&s, GAN_SUM, m, 0, NULL, false) != GAN_OK)
        goto out;
    if (gan_backward_start(&run, 1, &s, NULL, 1, &t[X], true, true) != GAN_OK) goto out;
    int hook;
    gan_tensor *g;
    int st = gan_backward_step(run, &hook, &g);
    if (st == GAN_RUN_DONE) gan_backward_results(run, &gx);
    gan_backward_free(run);
    if (st != GAN_RUN_DONE) goto out;
    CHECK_MSG(gx && gx->grad_fn, "k = %lld: the gradient of x has no grad_fn", (long long)k);
    if (!gx || !gx->grad_fn) goto out;
    if (gan_ag_binary(&sq, GAN_MUL, gx, gx) != GAN_OK ||
        gan_ag_reduce(&pen, GAN_SUM, sq, 0, NULL, false) != GAN_OK)
        goto out;
    if (gan_backward_start(&run, 1, &pen, NULL, 1, &t[W], false, false) != GAN_OK) goto out;
    st = gan_backward_step(run, &hook, &g);
    if (st == GAN_RUN_DONE) gan_backward_results(run, gw);
    gan_backward_free(run);
    ok = st == GAN_RUN_DONE && *gw;
out:
    if (k > 0) {
        bool fired = disarm(k);
        if (!ok) {
            CHECK_MSG(fired, "k = %lld: failed without a failing allocation: %s", (long long)k, gan_last_error());
            CHECK_MSG(strstr(gan_last_error(), "out of memory") != NULL, "k = %lld: \"%s\"",
                      (long long)k, gan_last_error());
        }
    }
    gan_tensor *tmp[] = {y, n, h, m, s, gx, sq, pen};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) gan_tensor_release(tmp[i]);
    return ok;
}

static void test_sweep_double_backward(void) {
    gan_conv_backend was = gan_get_conv_backend();
    CHECK_OK(gan_set_conv_backend(GAN_CONV_GEMM));
    gan_tensor *t[NLEAF], *want = NULL;
    make_leaves(t, GAN_FLOAT64);
    CHECK(run_penalty(t, 0, &want));
    int64_t live = gan_alloc_get_stats().live_bytes, failures = 0;
    for (int64_t k = 1; k < 100000; k++) {
        gan_tensor *gw = NULL;
        bool ok = run_penalty(t, k, &gw);
        bool fired = seen >= k;
        if (ok && want) {
            double *v = tu_values(want);
            CHECK_VALUES(gw, v, 1e-10, 1e-10, "penalty gradient of w");
            free(v);
        }
        gan_tensor_release(gw);
        CHECK_MSG(gan_alloc_get_stats().live_bytes == live, "k = %lld: %lld bytes of storage leaked",
                  (long long)k, (long long)(gan_alloc_get_stats().live_bytes - live));
        live = gan_alloc_get_stats().live_bytes;
        if (!fired) break;
        failures++;
        CHECK_MSG(!ok, "k = %lld: an allocation failed but the penalty succeeded", (long long)k);
    }
    CHECK(failures > 50);
    gan_tensor_release(want);
    for (int i = 0; i < NLEAF; i++) gan_tensor_release(t[i]);
    CHECK_OK(gan_set_conv_backend(was));
}

// ---- saving a tensor for backward fails the op

static void test_save_failure_fails_the_op(void) {
    gan_tensor *x = tu_rand(GAN_FLOAT64, 1, I64(5), 7, -1, 1), *y = NULL;
    CHECK_OK(gan_set_requires_grad(x, true));
    CHECK_OK(gan_ag_unary(&y, GAN_TANH, x));   // makes x's accumulate node
    gan_tensor_release(y);
    arm(0);                                   // count the allocations of one tanh
    CHECK_OK(gan_ag_unary(&y, GAN_TANH, x));
    int64_t n = seen;
    disarm(0);
    gan_tensor_release(y);
    y = NULL;
    // Its last allocation is the header of the saved output (tanh keeps y for backward).
    arm(n);
    CHECK_ERR(gan_ag_unary(&y, GAN_TANH, x), "tanh: out of memory saving a tensor for backward");
    CHECK(disarm(n));
    CHECK(y == NULL);                         // no result, let alone one without grad_fn
    gan_tensor_release(x);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_save_failure_fails_the_op), CHECK_TEST(test_sweep_gemm_float64),
        CHECK_TEST(test_sweep_gemm_float32), CHECK_TEST(test_sweep_dnnl_float32),
        CHECK_TEST(test_sweep_double_backward),
    };
    return check_main(argc, argv, tests, CHECK_COUNT(tests));
}
