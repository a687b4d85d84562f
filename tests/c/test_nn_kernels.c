// The kernels behind the nn layers: convolution on both float32 backends against a naive
// double-precision convolution, the fused batch / instance norm against its definition,
// leaky_relu. Under the sanitizer build this is also the leak check of those paths
// (oneDNN's scratch and reorder buffers come from gan's allocator, whose live bytes
// check_main compares before and after each test).
#include "testutil.h"

// Naive y = conv2d(x, w) in double: x (N, C, H, W), w (O, C/g, kh, kw).
static double *naive_conv(const gan_tensor *x, const gan_tensor *w, const gan_conv_params *p,
                          int64_t Ho, int64_t Wo) {
    int64_t N = x->size[0], C = x->size[1], H = x->size[2], W = x->size[3];
    int64_t O = w->size[0], Cg = w->size[1], kh = w->size[2], kw = w->size[3];
    int64_t Og = O / p->groups;
    double *y = calloc((size_t)(N * O * Ho * Wo), sizeof(double));
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < Ho; i++)
                for (int64_t j = 0; j < Wo; j++) {
                    double acc = 0;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t a = 0; a < kh; a++)
                            for (int64_t b = 0; b < kw; b++) {
                                int64_t ih = i * p->stride[0] - p->pad[0] + a * p->dilation[0];
                                int64_t iw = j * p->stride[1] - p->pad[1] + b * p->dilation[1];
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += gan_get(x, I64(n, (o / Og) * Cg + c, ih, iw)) * gan_get(w, I64(o, c, a, b));
                            }
                    y[((n * O + o) * Ho + i) * Wo + j] = acc;
                }
    (void)C;
    return y;
}

// <a, b> over all elements, in double.
static double dot(const gan_tensor *a, const gan_tensor *b) {
    double s = 0;
    for (int64_t i = 0; i < gan_numel(a); i++) s += tu_flat(a, i) * tu_flat(b, i);
    return s;
}

static void conv_case(gan_conv_backend be, const int64_t *xs, const int64_t *ws, gan_conv_params p) {
    CHECK_OK(gan_set_conv_backend(be));
    gan_tensor *x = tu_rand(GAN_FLOAT32, 4, xs, 1, -1, 1), *w = tu_rand(GAN_FLOAT32, 4, ws, 2, -1, 1);
    gan_tensor *y = NULL, *gx = NULL, *gw = NULL, *r = NULL;
    CHECK_OK(gan_conv2d(&y, x, w, NULL, &p));
    if (!y) goto out;
    double *want = naive_conv(x, w, &p, y->size[2], y->size[3]);
    CHECK_VALUES(y, want, 1e-5, 1e-5, be == GAN_CONV_DNNL ? "dnnl forward" : "gemm forward");
    free(want);
    // The gradients through the adjoint identities <conv(x, w), r> = <x, conv^T(r, w)>
    // = <w, weight_grad(x, r)>, with the left side from the naive forward in double.
    r = tu_rand(GAN_FLOAT32, 4, y->size, 3, -1, 1);
    double lhs = dot(y, r);
    CHECK_OK(gan_conv2d_input_grad(&gx, r, w, &p, xs[2], xs[3]));
    CHECK_OK(gan_conv2d_weight_grad(&gw, x, r, &p, (int)ws[2], (int)ws[3]));
    if (gx && gw) {
        double tol = 1e-4 * (1 + fabs(lhs));
        CHECK_MSG(fabs(dot(x, gx) - lhs) < tol, "input gradient: %g vs %g", dot(x, gx), lhs);
        CHECK_MSG(fabs(dot(w, gw) - lhs) < tol, "weight gradient: %g vs %g", dot(w, gw), lhs);
    }
out:
    gan_tensor_release(x); gan_tensor_release(w); gan_tensor_release(y);
    gan_tensor_release(gx); gan_tensor_release(gw); gan_tensor_release(r);
}

static void test_conv_backends(void) {
    gan_conv_backend was = gan_get_conv_backend();
    gan_conv_params dcgan = {{2, 2}, {1, 1}, {1, 1}, 1, {0, 0}};
    gan_conv_params odd = {{2, 1}, {0, 2}, {1, 2}, 2, {0, 0}};
    gan_conv_backend bes[2] = {GAN_CONV_GEMM, GAN_CONV_DNNL};
    uint64_t runs0 = gan_conv_dnnl_runs();
    bool have_dnnl = gan_set_conv_backend(GAN_CONV_DNNL) == GAN_OK;
    for (int k = 0; k < (have_dnnl ? 2 : 1); k++) {
        conv_case(bes[k], I64(3, 4, 8, 8), I64(6, 4, 4, 4), dcgan);
        conv_case(bes[k], I64(2, 4, 7, 6), I64(6, 2, 3, 3), odd);
    }
    if (have_dnnl) CHECK(gan_conv_dnnl_runs() - runs0 == 6);   // 2 cases x 3 directions
    else CHECK_ERR(gan_set_conv_backend(GAN_CONV_DNNL), "no oneDNN");
    CHECK_OK(gan_set_conv_backend(was));
}

static void test_batch_norm(void) {
    for (int per_sample = 0; per_sample <= 1; per_sample++) {
        gan_tensor *x = tu_rand(GAN_FLOAT64, 4, I64(3, 2, 2, 3), 7, -2, 2);
        gan_tensor *w = tu_rand(GAN_FLOAT64, 1, I64(2), 8, 0.5, 1.5);
        gan_tensor *b = tu_rand(GAN_FLOAT64, 1, I64(2), 9, -1, 1);
        gan_tensor *y = NULL, *m = NULL, *v = NULL;
        CHECK_OK(gan_ag_batch_norm(&y, &m, &v, x, w, b, per_sample, 1e-5));
        if (!y) continue;
        // statistics and output by definition
        double want[36], mw[6], vw[6];
        int R = per_sample ? 6 : 2;
        for (int r = 0; r < R; r++) {
            double s = 0, q = 0, cnt = 0;
            for (int64_t i = 0; i < 36; i++) {
                int64_t n = i / 12, c = (i / 6) % 2;
                if ((per_sample ? n * 2 + c : c) != r) continue;
                s += tu_flat(x, i); cnt++;
            }
            mw[r] = s / cnt;
            for (int64_t i = 0; i < 36; i++) {
                int64_t n = i / 12, c = (i / 6) % 2;
                if ((per_sample ? n * 2 + c : c) != r) continue;
                q += (tu_flat(x, i) - mw[r]) * (tu_flat(x, i) - mw[r]);
            }
            vw[r] = q / cnt;
        }
        for (int64_t i = 0; i < 36; i++) {
            int64_t n = i / 12, c = (i / 6) % 2, r = per_sample ? n * 2 + c : c;
            want[i] = (tu_flat(x, i) - mw[r]) / sqrt(vw[r] + 1e-5) * tu_flat(w, c) + tu_flat(b, c);
        }
        CHECK_VALUES(y, want, 1e-12, 1e-12, per_sample ? "instance_norm" : "batch_norm");
        CHECK_VALUES(m, mw, 1e-12, 1e-12, "mean");
        CHECK_VALUES(v, vw, 1e-12, 1e-12, "biased variance");
        CHECK(m->ndim == (per_sample ? 2 : 1));
        gan_tensor_release(x); gan_tensor_release(w); gan_tensor_release(b);
        gan_tensor_release(y); gan_tensor_release(m); gan_tensor_release(v);
    }
    gan_tensor *x = tu_rand(GAN_FLOAT32, 2, I64(4, 3), 1, 0, 1), *y = NULL;
    CHECK_ERR(gan_ag_batch_norm(&y, NULL, NULL, x, x, NULL, false, 1e-5), "weight must be a float32 vector of 3");
    CHECK_ERR(gan_ag_batch_norm(&y, NULL, NULL, x, NULL, NULL, true, 1e-5), "instance_norm");
    gan_tensor_release(x);
}

// The fused backward against the same gradient built from differentiable ops
// (create_graph), on float32 planes large enough to run in parallel.
static void test_batch_norm_backward_paths(void) {
    for (int per_sample = 0; per_sample <= 1; per_sample++) {
        gan_tensor *x = tu_rand(GAN_FLOAT32, 4, I64(8, 16, 32, 32), 11, -3, 3);
        gan_tensor *w = tu_rand(GAN_FLOAT32, 1, I64(16), 12, 0.5, 1.5);
        gan_tensor *b = tu_rand(GAN_FLOAT32, 1, I64(16), 13, -1, 1);
        gan_tensor *r = tu_rand(GAN_FLOAT32, 4, I64(8, 16, 32, 32), 14, -1, 1);
        gan_tensor *grads[2][3] = {{NULL}};
        CHECK_OK(gan_set_requires_grad(x, true));
        CHECK_OK(gan_set_requires_grad(w, true));
        CHECK_OK(gan_set_requires_grad(b, true));
        for (int graph = 0; graph <= 1; graph++) {
            gan_tensor *y = NULL, *yr = NULL, *s = NULL;
            CHECK_OK(gan_ag_batch_norm(&y, NULL, NULL, x, w, b, per_sample, 1e-5));
            CHECK_OK(gan_ag_binary(&yr, GAN_MUL, y, r));
            CHECK_OK(gan_ag_reduce(&s, GAN_SUM, yr, 0, NULL, false));
            gan_backward_run *run = NULL;
            gan_tensor *ins[3] = {x, w, b};
            CHECK_OK(gan_backward_start(&run, 1, &s, NULL, 3, ins, graph, false));
            int hook;
            gan_tensor *g;
            if (run) {
                CHECK(gan_backward_step(run, &hook, &g) == GAN_RUN_DONE);
                gan_backward_results(run, grads[graph]);
                gan_backward_free(run);
            }
            gan_tensor_release(y); gan_tensor_release(yr); gan_tensor_release(s);
        }
        const char *names[3] = {"dx", "dw", "db"};
        for (int k = 0; k < 3; k++) {
            if (!grads[0][k] || !grads[1][k]) { CHECK(false); continue; }
            double *want = tu_values(grads[1][k]);
            double scale = 0;
            for (int64_t i = 0; i < gan_numel(grads[1][k]); i++) scale = fmax(scale, fabs(want[i]));
            CHECK_VALUES(grads[0][k], want, 1e-3, 1e-4 * scale, names[k]);
            free(want);
            gan_tensor_release(grads[0][k]); gan_tensor_release(grads[1][k]);
        }
        gan_tensor_release(x); gan_tensor_release(w); gan_tensor_release(b); gan_tensor_release(r);
    }
}

static void test_leaky_relu(void) {
    gan_tensor *x = NULL, *y = NULL, *d = NULL;
    CHECK_OK(gan_empty(&x, GAN_FLOAT64, 1, I64(4)));
    const double xv[4] = {-2, 0, 0.5, 3};
    for (int64_t i = 0; i < 4; i++) gan_set(x, I64(i), xv[i]);
    CHECK_OK(gan_leaky_relu(&y, x, 0.2, false));
    CHECK_OK(gan_leaky_relu(&d, x, 0.2, true));
    if (y) CHECK_EQ_LIST(y, -0.4, 0, 0.5, 3);
    if (d) CHECK_EQ_LIST(d, 0.2, 0.2, 1, 1);   // slope at exactly 0, as PyTorch
    gan_tensor_release(y);
    gan_tensor *xi = NULL;
    CHECK_OK(gan_zeros(&xi, GAN_INT64, 1, I64(2)));
    CHECK_ERR(gan_leaky_relu(&y, xi, 0.2, false), "leaky_relu: input must be float32 or float64, got int64");
    gan_tensor_release(xi); gan_tensor_release(x); gan_tensor_release(d);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_conv_backends), CHECK_TEST(test_batch_norm),
        CHECK_TEST(test_batch_norm_backward_paths), CHECK_TEST(test_leaky_relu),
    };
    return check_main(argc, argv, tests, CHECK_COUNT(tests));
}
