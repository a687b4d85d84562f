// Optimizer update kernels (see optim.h). Each is one parallel loop over the elements;
// the arithmetic is done in double and stored in the parameter's dtype.
#include "gan/optim.h"
#include "gan/autograd.h"
#include "internal.h"
#include <math.h>

static int check(const char *op, const gan_tensor *p, const gan_tensor *const *ts, int n) {
    char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
    if (!gan_dtype_is_float(p->dtype))
        return gan_error("%s: parameters must be float tensors, got %s", op, gan_dtype_name(p->dtype));
    if (!gan_is_contiguous(p))
        return gan_error("%s: parameter of shape %s is not contiguous", op,
                         gan_shape_str(a, sizeof a, p->ndim, p->size));
    for (int i = 0; i < n; i++) {
        const gan_tensor *t = ts[i];
        if (!t) continue;
        if (!gan_same_shape(t, p) || t->dtype != p->dtype || !gan_is_contiguous(t))
            return gan_error("%s: tensor %s (%s) does not match the parameter %s (%s)", op,
                             gan_shape_str(a, sizeof a, t->ndim, t->size), gan_dtype_name(t->dtype),
                             gan_shape_str(b, sizeof b, p->ndim, p->size), gan_dtype_name(p->dtype));
    }
    return GAN_OK;
}

// Element i of a float32 or float64 contiguous tensor's data.
#define GET(T, d, i) ((T) == GAN_FLOAT32 ? (double)((float *)(d))[i] : ((double *)(d))[i])
#define PUT(T, d, i, v) do { if ((T) == GAN_FLOAT32) ((float *)(d))[i] = (float)(v); else ((double *)(d))[i] = (v); } while (0)

int gan_sgd_step(gan_tensor *p, const gan_tensor *g, gan_tensor *buf, const gan_sgd_opts *o,
                 bool first) {
    const gan_tensor *ts[2] = {g, buf};
    if (check("sgd", p, ts, 2) != GAN_OK) return GAN_ERR;
    gan_dtype dt = p->dtype;
    int64_t n = gan_numel(p);
    void *P = gan_data(p), *B = buf ? gan_data(buf) : NULL;
    const void *G = gan_data(g);
    #pragma omp parallel for schedule(static) if (n > GAN_PARALLEL_GRAIN)
    for (int64_t i = 0; i < n; i++) {
        double pi = GET(dt, P, i), d = GET(dt, G, i) + o->weight_decay * pi;
        if (B) {
            double b = first ? d : o->momentum * GET(dt, B, i) + (1 - o->dampening) * d;
            PUT(dt, B, i, b);
            d = o->nesterov ? d + o->momentum * b : b;
        }
        PUT(dt, P, i, pi - o->lr * d);
    }
    gan_bump_version(p);
    return GAN_OK;
}

// The Adam update of n contiguous elements, arithmetic in double. The flags are
// compile-time constants at each call site, so every combination is its own branch-free
// (vectorisable) loop.
#define ADAM_LOOP(T)                                                                     \
    static inline __attribute__((always_inline)) void adam_##T(                          \
        int64_t n, T *restrict P, const T *restrict G, T *restrict M, T *restrict V,     \
        T *restrict X, const gan_adam_opts *o,                                          \
        double step_size, double sqrt_bc2, bool decoupled, bool amsgrad) {              \
        const double b1 = o->beta1, b2 = o->beta2, wd = o->weight_decay, eps = o->eps;  \
        const double shrink = 1 - o->lr * o->weight_decay;                              \
        _Pragma("omp parallel for schedule(static) if (n > GAN_PARALLEL_GRAIN)")        \
        for (int64_t i = 0; i < n; i++) {                                               \
            double pi = P[i], gi = G[i];                                                \
            if (decoupled) pi *= shrink;                                                \
            else gi += wd * pi;                                                         \
            double mi = b1 * M[i] + (1 - b1) * gi;                                      \
            double vi = b2 * V[i] + (1 - b2) * gi * gi;                                 \
            M[i] = (T)mi;                                                               \
            V[i] = (T)vi;                                                               \
            double dv = vi;                                                             \
            if (amsgrad) {                                                              \
                double x = X[i] > vi ? X[i] : vi;                                       \
                X[i] = (T)x;                                                            \
                dv = x;                                                                 \
            }                                                                           \
            P[i] = (T)(pi - step_size * mi / (sqrt(dv) / sqrt_bc2 + eps));              \
        }                                                                               \
    }                                                                                   \
    static void adam_dispatch_##T(int64_t n, T *P, const T *G, T *M, T *V, T *X,        \
                                  const gan_adam_opts *o, double ss, double sb) {       \
        if (o->decoupled) {                                                             \
            if (X) adam_##T(n, P, G, M, V, X, o, ss, sb, true, true);                   \
            else adam_##T(n, P, G, M, V, X, o, ss, sb, true, false);                    \
        } else {                                                                        \
            if (X) adam_##T(n, P, G, M, V, X, o, ss, sb, false, true);                  \
            else adam_##T(n, P, G, M, V, X, o, ss, sb, false, false);                   \
        }                                                                               \
    }
ADAM_LOOP(float)
ADAM_LOOP(double)

int gan_adam_step(gan_tensor *p, const gan_tensor *g, gan_tensor *m, gan_tensor *v,
                  gan_tensor *vmax, const gan_adam_opts *o, int64_t step) {
    const gan_tensor *ts[4] = {g, m, v, vmax};
    if (check(o->decoupled ? "adamw" : "adam", p, ts, 4) != GAN_OK) return GAN_ERR;
    if (step < 1) return gan_error("adam: step must be >= 1, got %lld", (long long)step);
    int64_t n = gan_numel(p);
    double bc1 = 1 - pow(o->beta1, (double)step), bc2 = 1 - pow(o->beta2, (double)step);
    double step_size = o->lr / bc1, sqrt_bc2 = sqrt(bc2);
    if (p->dtype == GAN_FLOAT32)
        adam_dispatch_float(n, gan_data(p), gan_data(g), gan_data(m), gan_data(v),
                            vmax ? gan_data(vmax) : NULL, o, step_size, sqrt_bc2);
    else
        adam_dispatch_double(n, gan_data(p), gan_data(g), gan_data(m), gan_data(v),
                             vmax ? gan_data(vmax) : NULL, o, step_size, sqrt_bc2);
    gan_bump_version(p);
    return GAN_OK;
}

int gan_rmsprop_step(gan_tensor *p, const gan_tensor *g, gan_tensor *sq, gan_tensor *buf,
                     gan_tensor *gavg, const gan_rmsprop_opts *o) {
    const gan_tensor *ts[4] = {g, sq, buf, gavg};
    if (check("rmsprop", p, ts, 4) != GAN_OK) return GAN_ERR;
    if (o->centered && !gavg) return gan_error("rmsprop: centered needs a gradient average buffer");
    if (o->momentum > 0 && !buf) return gan_error("rmsprop: momentum needs a buffer");
    gan_dtype dt = p->dtype;
    int64_t n = gan_numel(p);
    void *P = gan_data(p), *S = gan_data(sq), *B = buf ? gan_data(buf) : NULL;
    void *A = gavg ? gan_data(gavg) : NULL;
    const void *G = gan_data(g);
    #pragma omp parallel for schedule(static) if (n > GAN_PARALLEL_GRAIN)
    for (int64_t i = 0; i < n; i++) {
        double pi = GET(dt, P, i), gi = GET(dt, G, i) + o->weight_decay * pi;
        double s = o->alpha * GET(dt, S, i) + (1 - o->alpha) * gi * gi;
        PUT(dt, S, i, s);
        double avg = s;
        if (o->centered) {
            double a = o->alpha * GET(dt, A, i) + (1 - o->alpha) * gi;
            PUT(dt, A, i, a);
            avg = s - a * a;
        }
        double denom = sqrt(avg) + o->eps;
        if (o->momentum > 0) {
            double b = o->momentum * GET(dt, B, i) + gi / denom;
            PUT(dt, B, i, b);
            pi -= o->lr * b;
        } else {
            pi -= o->lr * gi / denom;
        }
        PUT(dt, P, i, pi);
    }
    gan_bump_version(p);
    return GAN_OK;
}
