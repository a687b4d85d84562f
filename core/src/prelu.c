// PReLU (He et al. 2015) as one fused op each way: y = x > 0 ? x : a x, with a learned slope
// per channel (dimension 2 of x) or one shared by all.
//
// x is seen as R = N*C rows of S values (S the product of the dims after the channel);
// row r uses slope a[r % C], or a[0] when shared. Forward: one pass. Backward (the plain
// case): one pass writing dx = g where x > 0 and a g elsewhere, and summing g x over the
// values <= 0 of each row (in double), which become da per channel. When the backward is
// itself recorded (create_graph), the same gradients are built from differentiable ops, so
// gradients of gradients flow through the slope.
#include "gan/autograd.h"
#include "internal.h"
#include <omp.h>

#define TRY(call) do { if ((call) != GAN_OK) goto fail; } while (0)

typedef struct { int64_t R, S, C; } layout;   // C: the slope's period over rows (1: shared)

static layout layout_of(const gan_tensor *x, const gan_tensor *a) {
    int64_t C = x->ndim >= 2 ? x->size[1] : 1, S = 1;
    for (int d = 2; d < x->ndim; d++) S *= x->size[d];
    int64_t n = gan_numel(x);
    return (layout){S ? n / S : 0, S, gan_numel(a) == 1 ? 1 : C};
}

#define PRELU_KERNELS(T)                                                                     \
    static void fwd_##T(const layout *l, const T *x, const T *a, T *y) {                     \
        _Pragma("omp parallel for schedule(static) if (l->R * l->S > GAN_PARALLEL_GRAIN)")   \
        for (int64_t r = 0; r < l->R; r++) {                                                 \
            const T s = a[r % l->C], *xr = x + r * l->S;                                     \
            T *yr = y + r * l->S;                                                            \
            for (int64_t i = 0; i < l->S; i++) yr[i] = xr[i] > 0 ? xr[i] : s * xr[i];        \
        }                                                                                    \
    }                                                                                        \
    static void bwd_##T(const layout *l, const T *x, const T *a, const T *g, T *gx, double *rows) { \
        _Pragma("omp parallel for schedule(static) if (l->R * l->S > GAN_PARALLEL_GRAIN)")   \
        for (int64_t r = 0; r < l->R; r++) {                                                 \
            const T s = a[r % l->C], *xr = x + r * l->S, *gr = g + r * l->S;                 \
            double acc = 0;                                                                  \
            for (int64_t i = 0; i < l->S; i++) {                                             \
                bool pos = xr[i] > 0;                                                        \
                if (gx) gx[r * l->S + i] = pos ? gr[i] : s * gr[i];                          \
                acc += pos ? 0 : (double)gr[i] * xr[i];                                      \
            }                                                                                \
            rows[r] = acc;                                                                   \
        }                                                                                    \
    }
PRELU_KERNELS(float)
PRELU_KERNELS(double)

static int check(const gan_tensor *x, const gan_tensor *a) {
    if (!gan_dtype_is_float(x->dtype))
        return gan_error("prelu: input must be float32 or float64, got %s", gan_dtype_name(x->dtype));
    if (a->dtype != x->dtype)
        return gan_error("prelu: the slopes are %s, the input %s", gan_dtype_name(a->dtype), gan_dtype_name(x->dtype));
    int64_t C = x->ndim >= 2 ? x->size[1] : 1;
    if (a->ndim != 1 || (a->size[0] != 1 && a->size[0] != C))
        return gan_error("prelu: %lld slopes for an input of %lld channels (1 or one per channel)",
                         (long long)gan_numel(a), (long long)C);
    return GAN_OK;
}

// The create_graph path: m = [x <= 0], dx = g + g m (a - 1), da = sum over the rows of
// g m x, all recorded.
static int backward_graph(gan_node *n, gan_tensor *x, gan_tensor *a, gan_tensor *g, gan_tensor **gin) {
    int64_t vs[GAN_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) vs[d] = d == 1 && gan_numel(a) > 1 ? a->size[0] : 1;
    gan_tensor *m = NULL, *gm = NULL, *av = NULL, *t = NULL, *u = NULL, *s = NULL;
    int rc = GAN_ERR;
    TRY(gan_binary_scalar(&m, GAN_LE, x, 0, false));
    TRY(gan_ag_binary(&gm, GAN_MUL, g, m));
    TRY(gan_ag_view(&av, a, x->ndim, vs));
    if (gan_node_needs(n, 0)) {
        TRY(gan_ag_binary_scalar(&t, GAN_SUB, av, 1, false));
        TRY(gan_ag_binary(&u, GAN_MUL, gm, t));
        TRY(gan_ag_binary(&gin[0], GAN_ADD, g, u));
    }
    if (gan_node_needs(n, 1)) {
        gan_tensor_release(u);
        u = NULL;
        TRY(gan_ag_binary(&u, GAN_MUL, gm, x));
        TRY(gan_ag_sum_to(&s, u, x->ndim, vs));
        TRY(gan_ag_reshape(&gin[1], s, 1, a->size));
    }
    rc = GAN_OK;
fail:;
    gan_tensor *tmp[] = {m, gm, av, t, u, s};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) gan_tensor_release(tmp[i]);
    return rc;
}

static int prelu_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    gan_tensor *x = NULL, *a = NULL, *xc = NULL, *ac = NULL, *gc = NULL, *rows = NULL, *da = NULL;
    int rc = GAN_ERR;
    TRY(gan_node_unpack(n, 0, &x));
    TRY(gan_node_unpack(n, 1, &a));
    if (gan_grad_enabled()) {
        rc = backward_graph(n, x, a, g, gin);
        goto fail;
    }
    TRY(gan_contiguous(&xc, x));
    TRY(gan_contiguous(&ac, a));
    TRY(gan_contiguous(&gc, g));
    layout l = layout_of(x, a);
    int64_t R = l.R;
    TRY(gan_empty(&rows, GAN_FLOAT64, 1, &R));
    bool need_x = gan_node_needs(n, 0);
    if (need_x) TRY(gan_empty(&gin[0], x->dtype, x->ndim, x->size));
    if (x->dtype == GAN_FLOAT32)
        bwd_float(&l, gan_data(xc), gan_data(ac), gan_data(gc), need_x ? gan_data(gin[0]) : NULL, gan_data(rows));
    else
        bwd_double(&l, gan_data(xc), gan_data(ac), gan_data(gc), need_x ? gan_data(gin[0]) : NULL, gan_data(rows));
    if (gan_node_needs(n, 1)) {
        TRY(gan_zeros(&da, GAN_FLOAT64, 1, a->size));
        double *o = gan_data(da);
        const double *rs = gan_data(rows);
        for (int64_t r = 0; r < l.R; r++) o[r % l.C] += rs[r];
        TRY(gan_to_dtype(&gin[1], da, x->dtype));
    }
    rc = GAN_OK;
fail:;
    gan_tensor *tmp[] = {x, a, xc, ac, gc, rows, da};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++) gan_tensor_release(tmp[i]);
    return rc;
}

int gan_ag_prelu(gan_tensor **out, gan_tensor *x, gan_tensor *a) {
    if (check(x, a) != GAN_OK) return GAN_ERR;
    gan_tensor *xc = NULL, *ac = NULL, *y = NULL;
    int rc = GAN_ERR;
    TRY(gan_contiguous(&xc, x));
    TRY(gan_contiguous(&ac, a));
    TRY(gan_empty(&y, x->dtype, x->ndim, x->size));
    layout l = layout_of(x, a);
    if (x->dtype == GAN_FLOAT32) fwd_float(&l, gan_data(xc), gan_data(ac), gan_data(y));
    else fwd_double(&l, gan_data(xc), gan_data(ac), gan_data(y));
    const gan_tensor *ins[2] = {x, a};
    gan_node *n;
    TRY(gan_record(&n, &y, "prelu", prelu_backward, 2, ins));
    if (n) {
        int st = gan_node_save(n, x, false);
        if (st == GAN_OK) st = gan_node_save(n, a, false);
        TRY(gan_record_done(&y, st));
    }
    *out = y;
    y = NULL;
    rc = GAN_OK;
fail:
    gan_tensor_release(xc);
    gan_tensor_release(ac);
    gan_tensor_release(y);
    return rc;
}
