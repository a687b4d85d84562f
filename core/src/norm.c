// Batch and instance normalisation as one fused op each way.
//
// x is (N, C, *) with S values per (sample, channel) plane. Batch norm keeps C statistics,
// each over the N*S values of a channel; instance norm keeps N*C, each over one plane.
// Forward: one pass for the mean, one for the variance (both accumulated in double), one
// writing y = x * scale + shift with the affine weight folded in. Backward (the plain
// case): one pass for sum(g) and sum(g (x - mean)) per statistic, one writing
//     dx = w invstd (g - sum(g)/M - (x - mean) invstd^2 sum(g (x - mean))/M).
// When the backward itself is recorded (create_graph), the same gradient is built from
// differentiable ops instead, so gradients of gradients flow through the normalisation.
#include "gan/autograd.h"
#include "internal.h"
#include <math.h>
#include <omp.h>
#include <string.h>

typedef struct {
    int64_t N, C, S, R, M;   // R statistics of M values each
    bool per_sample;
} layout;

static layout layout_of(const gan_tensor *x, bool per_sample) {
    layout l = {x->size[0], x->size[1], 1, 0, 0, per_sample};
    for (int d = 2; d < x->ndim; d++) l.S *= x->size[d];
    l.R = per_sample ? l.N * l.C : l.C;
    l.M = per_sample ? l.S : l.N * l.S;
    return l;
}

// The planes of statistic r: count, first plane, distance between planes (elements).
static inline void planes(const layout *l, int64_t r, int64_t *n, int64_t *first, int64_t *step) {
    if (l->per_sample) { *n = 1; *first = r * l->S; *step = 0; }
    else { *n = l->N; *first = r * l->S; *step = l->C * l->S; }
}

#define NORM_KERNELS(T)                                                                  \
    static double sum_##T(const T *x, int64_t n) {                                      \
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                          \
        int64_t i = 0;                                                                  \
        for (; i + 4 <= n; i += 4) { a0 += x[i]; a1 += x[i + 1]; a2 += x[i + 2]; a3 += x[i + 3]; } \
        for (; i < n; i++) a0 += x[i];                                                  \
        return (a0 + a1) + (a2 + a3);                                                   \
    }                                                                                   \
    static double sqdev_##T(const T *x, int64_t n, double m) {                          \
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                          \
        int64_t i = 0;                                                                  \
        for (; i + 4 <= n; i += 4) {                                                    \
            double d0 = x[i] - m, d1 = x[i + 1] - m, d2 = x[i + 2] - m, d3 = x[i + 3] - m; \
            a0 += d0 * d0; a1 += d1 * d1; a2 += d2 * d2; a3 += d3 * d3;                 \
        }                                                                               \
        for (; i < n; i++) { double d = x[i] - m; a0 += d * d; }                        \
        return (a0 + a1) + (a2 + a3);                                                   \
    }                                                                                   \
    static void fwd_##T(const layout *l, const T *x, T *y, const T *w, const T *b,      \
                        double eps, double *mean, double *invstd, T *mo, T *vo) {       \
        _Pragma("omp parallel for schedule(static) if (l->R * l->M > GAN_PARALLEL_GRAIN)") \
        for (int64_t r = 0; r < l->R; r++) {                                            \
            int64_t n, f, st, c = r % l->C;                                             \
            planes(l, r, &n, &f, &st);                                                  \
            double s = 0, q = 0;                                                        \
            for (int64_t k = 0; k < n; k++) s += sum_##T(x + f + k * st, l->S);         \
            double m = s / (double)l->M;                                                \
            for (int64_t k = 0; k < n; k++) q += sqdev_##T(x + f + k * st, l->S, m);    \
            double var = q / (double)l->M, is = 1.0 / sqrt(var + eps);                  \
            mean[r] = m; invstd[r] = is; mo[r] = (T)m; vo[r] = (T)var;                  \
            T scale = (T)(is * (w ? (double)w[c] : 1.0));                               \
            T shift = (T)((b ? (double)b[c] : 0.0) - m * (double)scale);                \
            for (int64_t k = 0; k < n; k++) {                                           \
                const T *xs = x + f + k * st;                                           \
                T *ys = y + f + k * st;                                                 \
                for (int64_t i = 0; i < l->S; i++) ys[i] = xs[i] * scale + shift;       \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    /* sg[r] = sum g, sgx[r] = sum g (x - mean); then dx if wanted. */                  \
    static void bwd_##T(const layout *l, const T *x, const T *g, const T *w,           \
                        const double *mean, const double *invstd, double *sg,           \
                        double *sgx, T *dx) {                                           \
        _Pragma("omp parallel for schedule(static) if (l->R * l->M > GAN_PARALLEL_GRAIN)") \
        for (int64_t r = 0; r < l->R; r++) {                                            \
            int64_t n, f, st, c = r % l->C;                                             \
            planes(l, r, &n, &f, &st);                                                  \
            double m = mean[r], a = 0, bsum = 0;                                        \
            for (int64_t k = 0; k < n; k++) {                                           \
                const T *xs = x + f + k * st, *gs = g + f + k * st;                     \
                double a0 = 0, a1 = 0, b0 = 0, b1 = 0;                                  \
                int64_t i = 0;                                                          \
                for (; i + 2 <= l->S; i += 2) {                                         \
                    a0 += gs[i]; a1 += gs[i + 1];                                       \
                    b0 += gs[i] * (xs[i] - m); b1 += gs[i + 1] * (xs[i + 1] - m);       \
                }                                                                       \
                for (; i < l->S; i++) { a0 += gs[i]; b0 += gs[i] * (xs[i] - m); }       \
                a += a0 + a1; bsum += b0 + b1;                                          \
            }                                                                           \
            sg[r] = a; sgx[r] = bsum;                                                   \
            if (!dx) continue;                                                          \
            double is = invstd[r];                                                      \
            T k1 = (T)((w ? (double)w[c] : 1.0) * is);                                  \
            T mg = (T)(a / (double)l->M), mm = (T)m;                                    \
            T k2 = (T)(is * is * bsum / (double)l->M);                                  \
            for (int64_t k = 0; k < n; k++) {                                           \
                const T *xs = x + f + k * st, *gs = g + f + k * st;                     \
                T *ds = dx + f + k * st;                                                \
                for (int64_t i = 0; i < l->S; i++)                                      \
                    ds[i] = k1 * (gs[i] - mg - (xs[i] - mm) * k2);                      \
            }                                                                           \
        }                                                                               \
    }
NORM_KERNELS(float)
NORM_KERNELS(double)

static const char *op_name(bool per_sample) { return per_sample ? "instance_norm" : "batch_norm"; }

static int check(const gan_tensor *x, const gan_tensor *w, const gan_tensor *b, bool per_sample) {
    char sx[GAN_SHAPE_BUF], sv[GAN_SHAPE_BUF];
    const char *op = op_name(per_sample);
    if (!gan_dtype_is_float(x->dtype))
        return gan_error("%s: input must be float32 or float64, got %s", op, gan_dtype_name(x->dtype));
    if (x->ndim < (per_sample ? 3 : 2))
        return gan_error("%s: expected an input (N, C%s), got %s", op, per_sample ? ", *spatial" : ", ...",
                         gan_shape_str(sx, sizeof sx, x->ndim, x->size));
    const gan_tensor *v[2] = {w, b};
    for (int i = 0; i < 2; i++)
        if (v[i] && (v[i]->dtype != x->dtype || gan_numel(v[i]) != x->size[1] || v[i]->ndim != 1))
            return gan_error("%s: %s must be a %s vector of %lld entries for input %s, got %s %s", op,
                             i ? "bias" : "weight", gan_dtype_name(x->dtype), (long long)x->size[1],
                             gan_shape_str(sx, sizeof sx, x->ndim, x->size), gan_dtype_name(v[i]->dtype),
                             gan_shape_str(sv, sizeof sv, v[i]->ndim, v[i]->size));
    layout l = layout_of(x, per_sample);
    if (l.M < 1)
        return gan_error("%s: no values to normalise in input %s", op, gan_shape_str(sx, sizeof sx, x->ndim, x->size));
    return GAN_OK;
}

// ---- backward

struct norm_params { bool per_sample; double eps; };   // n->aux: mean and invstd, (2, R)

// Per-channel (C) vector as (1, C, 1, ...) for broadcasting against x.
static int channel_view(gan_tensor **out, gan_tensor *v, const gan_tensor *x) {
    int64_t size[GAN_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) size[d] = 1;
    size[1] = x->size[1];
    return gan_ag_reshape(out, v, x->ndim, size);
}

#define TRY(call) do { if ((call) != GAN_OK) goto fail; } while (0)

// The gradient built from differentiable ops (create_graph): statistics recomputed from x.
static int backward_graph(gan_node *n, gan_tensor *x, gan_tensor *w, gan_tensor *g, gan_tensor **gin,
                          const layout *l) {
    int dims[GAN_MAX_DIMS], nd = 0, cdims[GAN_MAX_DIMS], ncd = 0;
    if (!l->per_sample) dims[nd++] = 0;
    for (int d = 2; d < x->ndim; d++) dims[nd++] = d;
    cdims[ncd++] = 0;
    for (int d = 2; d < x->ndim; d++) cdims[ncd++] = d;
    gan_tensor *mu = NULL, *xc = NULL, *var = NULL, *ve = NULL, *is = NULL, *xh = NULL, *wv = NULL,
               *gw = NULL, *m1 = NULL, *t = NULL, *m2 = NULL, *u = NULL, *v = NULL, *s = NULL;
    int rc = GAN_ERR;
    TRY(gan_ag_reduce(&mu, GAN_MEAN, x, nd, dims, true));
    TRY(gan_ag_binary(&xc, GAN_SUB, x, mu));
    TRY(gan_ag_var(&var, x, nd, dims, false, true));
    TRY(gan_ag_binary_scalar(&ve, GAN_ADD, var, GAN_NODE_PARAMS(n, struct norm_params)->eps, false));
    TRY(gan_ag_unary(&is, GAN_RSQRT, ve));
    TRY(gan_ag_binary(&xh, GAN_MUL, xc, is));
    if (gan_node_needs(n, 1) && w) {   // dw = sum(g xhat)
        TRY(gan_ag_binary(&t, GAN_MUL, g, xh));
        TRY(gan_ag_reduce(&gin[1], GAN_SUM, t, ncd, cdims, false));
        gan_tensor_release(t); t = NULL;
    }
    if (n->n_next > 2 && gan_node_needs(n, 2))
        TRY(gan_ag_reduce(&gin[2], GAN_SUM, g, ncd, cdims, false));
    if (gan_node_needs(n, 0)) {        // dx = invstd (gw - mean(gw) - xhat mean(gw xhat))
        if (w) { TRY(channel_view(&wv, w, x)); TRY(gan_ag_binary(&gw, GAN_MUL, g, wv)); }
        else gw = gan_tensor_retain(g);
        TRY(gan_ag_reduce(&m1, GAN_MEAN, gw, nd, dims, true));
        TRY(gan_ag_binary(&t, GAN_MUL, gw, xh));
        TRY(gan_ag_reduce(&m2, GAN_MEAN, t, nd, dims, true));
        TRY(gan_ag_binary(&u, GAN_SUB, gw, m1));
        TRY(gan_ag_binary(&v, GAN_MUL, xh, m2));
        TRY(gan_ag_binary(&s, GAN_SUB, u, v));
        TRY(gan_ag_binary(&gin[0], GAN_MUL, s, is));
    }
    rc = GAN_OK;
fail:;
    gan_tensor *tmp[] = {mu, xc, var, ve, is, xh, wv, gw, m1, t, m2, u, v, s};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) gan_tensor_release(tmp[i]);
    return rc;
}

static int norm_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct norm_params *p = GAN_NODE_PARAMS(n, struct norm_params);
    gan_tensor *x = NULL, *w = NULL, *gc = NULL, *sums = NULL;
    int rc = GAN_ERR;
    TRY(gan_node_unpack(n, 0, &x));
    if (n->n_saved > 1) TRY(gan_node_unpack(n, 1, &w));
    layout l = layout_of(x, p->per_sample);
    if (gan_grad_enabled()) {
        rc = backward_graph(n, x, w, g, gin, &l);
        goto fail;
    }
    // The saved x and w are the op's inputs as given (the graph path needs them); the
    // kernels want them contiguous.
    gan_tensor *t;
    TRY(gan_contiguous(&t, x)); gan_tensor_release(x); x = t;
    if (w) { TRY(gan_contiguous(&t, w)); gan_tensor_release(w); w = t; }
    TRY(gan_contiguous(&gc, g));
    int64_t ssize[2] = {2, l.R};
    TRY(gan_empty(&sums, GAN_FLOAT64, 2, ssize));
    double *sg = gan_data(sums), *sgx = sg + l.R;
    const double *mean = gan_data(n->aux), *invstd = mean + l.R;
    bool need_x = gan_node_needs(n, 0);
    if (need_x) TRY(gan_empty(&gin[0], x->dtype, x->ndim, x->size));
    if (x->dtype == GAN_FLOAT32)
        bwd_float(&l, gan_data(x), gan_data(gc), w ? gan_data(w) : NULL, mean, invstd, sg, sgx,
                  need_x ? gan_data(gin[0]) : NULL);
    else
        bwd_double(&l, gan_data(x), gan_data(gc), w ? gan_data(w) : NULL, mean, invstd, sg, sgx,
                   need_x ? gan_data(gin[0]) : NULL);
    // dw[c] = sum over its statistics of sgx * invstd; db[c] = sum of sg.
    for (int k = 1; k <= 2; k++) {
        if (k >= n->n_next || !gan_node_needs(n, k) || (k == 1 && !w)) continue;
        int64_t cs[1] = {l.C};
        TRY(gan_zeros(&gin[k], GAN_FLOAT64, 1, cs));
        double *o = gan_data(gin[k]);
        for (int64_t r = 0; r < l.R; r++) o[r % l.C] += k == 1 ? sgx[r] * invstd[r] : sg[r];
        if (x->dtype != GAN_FLOAT64) {
            gan_tensor *f;
            TRY(gan_to_dtype(&f, gin[k], x->dtype));
            gan_tensor_release(gin[k]);
            gin[k] = f;
        }
    }
    rc = GAN_OK;
fail:
    gan_tensor_release(x);
    gan_tensor_release(w);
    gan_tensor_release(gc);
    gan_tensor_release(sums);
    return rc;
}

// ---- forward

int gan_ag_batch_norm(gan_tensor **y, gan_tensor **mean_out, gan_tensor **var_out, gan_tensor *x,
                      gan_tensor *w, gan_tensor *b, bool per_sample, double eps) {
    if (check(x, w, b, per_sample) != GAN_OK) return GAN_ERR;
    layout l = layout_of(x, per_sample);
    gan_tensor *xc = NULL, *wc = NULL, *bc = NULL, *out = NULL, *stats = NULL, *mo = NULL, *vo = NULL;
    int64_t ssize[2] = {2, l.R}, rsize[2] = {l.N, l.C};
    int rc = GAN_ERR;
    TRY(gan_contiguous(&xc, x));
    if (w) TRY(gan_contiguous(&wc, w));
    if (b) TRY(gan_contiguous(&bc, b));
    TRY(gan_empty(&out, x->dtype, x->ndim, x->size));
    TRY(gan_empty(&stats, GAN_FLOAT64, 2, ssize));
    TRY(gan_empty(&mo, x->dtype, per_sample ? 2 : 1, per_sample ? rsize : rsize + 1));
    TRY(gan_empty(&vo, x->dtype, per_sample ? 2 : 1, per_sample ? rsize : rsize + 1));
    double *mean = gan_data(stats), *invstd = mean + l.R;
    if (x->dtype == GAN_FLOAT32)
        fwd_float(&l, gan_data(xc), gan_data(out), wc ? gan_data(wc) : NULL, bc ? gan_data(bc) : NULL,
                  eps, mean, invstd, gan_data(mo), gan_data(vo));
    else
        fwd_double(&l, gan_data(xc), gan_data(out), wc ? gan_data(wc) : NULL, bc ? gan_data(bc) : NULL,
                   eps, mean, invstd, gan_data(mo), gan_data(vo));
    const gan_tensor *ins[3] = {x, w, b};
    gan_node *n;
    TRY(gan_record(&n, &out, op_name(per_sample), norm_backward, 3, ins));
    if (n) {
        *GAN_NODE_PARAMS(n, struct norm_params) = (struct norm_params){per_sample, eps};
        n->aux = gan_tensor_retain(stats);
        int st = gan_node_save(n, x, false);
        if (st == GAN_OK && w) st = gan_node_save(n, w, false);
        TRY(gan_record_done(&out, st));
    }
    *y = out; out = NULL;
    if (mean_out) { *mean_out = mo; mo = NULL; }
    if (var_out) { *var_out = vo; vo = NULL; }
    rc = GAN_OK;
fail:
    gan_tensor_release(xc); gan_tensor_release(wc); gan_tensor_release(bc);
    gan_tensor_release(out); gan_tensor_release(stats);
    gan_tensor_release(mo); gan_tensor_release(vo);
    return rc;
}
