// Differentiable ops: a raw kernel for the forward, a rule for the backward written with
// differentiable ops (so gradients of gradients work), in the order of autograd.h.
#include "gan/autograd.h"
#include "internal.h"
#include <math.h>
#include <string.h>

// Releases a list of temporaries (NULL-terminated) and returns rc.
static int done(int rc, gan_tensor *a, gan_tensor *b, gan_tensor *c, gan_tensor *d) {
    gan_tensor_release(a); gan_tensor_release(b); gan_tensor_release(c); gan_tensor_release(d);
    return rc;
}
#define TRY(call) do { if ((call) != GAN_OK) goto fail; } while (0)

// Each op's parameters are a struct defined next to its rule and kept in the node
// (GAN_NODE_PARAMS). Rules that only need the input's shape share this one.
struct shape_params { gan_shape in; };

static int zeros_of(gan_tensor **out, gan_dtype dt, int ndim, const int64_t *size) {
    return gan_zeros(out, dt, ndim, size);
}

// ---- sum_to: undo broadcasting

int gan_ag_sum_to(gan_tensor **out, gan_tensor *g, int ndim, const int64_t *size) {
    if (g->ndim == ndim && memcmp(g->size, size, sizeof(int64_t) * (size_t)ndim) == 0) {
        *out = gan_tensor_retain(g);
        return GAN_OK;
    }
    int dims[GAN_MAX_DIMS], nd = 0, lead = g->ndim - ndim;
    for (int i = 0; i < g->ndim; i++)
        if (i < lead || (size[i - lead] == 1 && g->size[i] != 1)) dims[nd++] = i;
    if (nd == 0) return gan_ag_reshape(out, g, ndim, size);
    gan_tensor *s;
    if (gan_ag_reduce(&s, GAN_SUM, g, nd, dims, true) != GAN_OK) return GAN_ERR;
    int rc = gan_ag_reshape(out, s, ndim, size);
    gan_tensor_release(s);
    return rc;
}

// ---- unary

struct unary_params { gan_unop op; };

static int unary_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    gan_unop op = GAN_NODE_PARAMS(n, struct unary_params)->op;
    gan_tensor *s = NULL, *t = NULL, *u = NULL;
    int rc = GAN_ERR;
    if (n->n_saved && gan_node_unpack(n, 0, &s) != GAN_OK) return GAN_ERR;   // x or y
    switch (op) {
    case GAN_NEG: rc = gan_ag_unary(&gin[0], GAN_NEG, g); break;
    case GAN_ABS:                                           // g * sign(x)
        TRY(gan_unary(&t, GAN_SIGN, s));
        rc = gan_ag_binary(&gin[0], GAN_MUL, g, t); break;
    case GAN_EXP: rc = gan_ag_binary(&gin[0], GAN_MUL, g, s); break;   // g * y
    case GAN_LOG: rc = gan_ag_binary(&gin[0], GAN_DIV, g, s); break;   // g / x
    case GAN_SQRT:                                          // g * 0.5 / y
        TRY(gan_ag_binary(&t, GAN_DIV, g, s));
        rc = gan_ag_binary_scalar(&gin[0], GAN_MUL, t, 0.5, false); break;
    case GAN_RSQRT:                                         // -0.5 g y^3
        TRY(gan_ag_binary_scalar(&t, GAN_POW, s, 3, false));
        TRY(gan_ag_binary(&u, GAN_MUL, g, t));
        rc = gan_ag_binary_scalar(&gin[0], GAN_MUL, u, -0.5, false); break;
    case GAN_TANH:                                          // g (1 - y^2)
        if (!gan_grad_enabled()) { rc = gan_activation_grad(&gin[0], op, g, s, 0); break; }
        TRY(gan_ag_binary(&t, GAN_MUL, s, s));
        TRY(gan_ag_binary_scalar(&u, GAN_SUB, t, 1, true));
        rc = gan_ag_binary(&gin[0], GAN_MUL, g, u); break;
    case GAN_SIGMOID:                                       // g y (1 - y)
        if (!gan_grad_enabled()) { rc = gan_activation_grad(&gin[0], op, g, s, 0); break; }
        TRY(gan_ag_binary_scalar(&t, GAN_SUB, s, 1, true));
        TRY(gan_ag_binary(&u, GAN_MUL, s, t));
        rc = gan_ag_binary(&gin[0], GAN_MUL, g, u); break;
    case GAN_RELU:                                          // g * (x > 0)
        if (!gan_grad_enabled()) { rc = gan_activation_grad(&gin[0], op, g, s, 0); break; }
        TRY(gan_binary_scalar(&t, GAN_GT, s, 0, false));
        rc = gan_ag_binary(&gin[0], GAN_MUL, g, t); break;
    case GAN_RECIPROCAL:                                    // -g y^2
        TRY(gan_ag_binary(&t, GAN_MUL, s, s));
        TRY(gan_ag_binary(&u, GAN_MUL, g, t));
        rc = gan_ag_unary(&gin[0], GAN_NEG, u); break;
    case GAN_SQUARE:                                        // 2 g x
        TRY(gan_ag_binary(&t, GAN_MUL, g, s));
        rc = gan_ag_binary_scalar(&gin[0], GAN_MUL, t, 2, false); break;
    case GAN_LOG1P:                                         // g / (1 + x)
        TRY(gan_ag_binary_scalar(&t, GAN_ADD, s, 1, false));
        rc = gan_ag_binary(&gin[0], GAN_DIV, g, t); break;
    case GAN_EXPM1:                                         // g (y + 1)
        TRY(gan_ag_binary_scalar(&t, GAN_ADD, s, 1, false));
        rc = gan_ag_binary(&gin[0], GAN_MUL, g, t); break;
    case GAN_SIN:                                           // g cos x
        TRY(gan_ag_unary(&t, GAN_COS, s));
        rc = gan_ag_binary(&gin[0], GAN_MUL, g, t); break;
    case GAN_COS:                                           // -g sin x
        TRY(gan_ag_unary(&t, GAN_SIN, s));
        TRY(gan_ag_binary(&u, GAN_MUL, g, t));
        rc = gan_ag_unary(&gin[0], GAN_NEG, u); break;
    case GAN_ERF:                                           // g 2/sqrt(pi) exp(-x^2)
        TRY(gan_ag_binary(&t, GAN_MUL, s, s));
        TRY(gan_ag_binary_scalar(&u, GAN_MUL, t, -1, false));
        gan_tensor_release(t); t = NULL;
        TRY(gan_ag_unary(&t, GAN_EXP, u));
        gan_tensor_release(u); u = NULL;
        TRY(gan_ag_binary(&u, GAN_MUL, g, t));
        rc = gan_ag_binary_scalar(&gin[0], GAN_MUL, u, M_2_SQRTPI, false); break;
    default:                                                // sign, floor, ceil, round: 0
        rc = zeros_of(&gin[0], g->dtype, g->ndim, g->size); break;
    }
fail:
    return done(rc, s, t, u, NULL);
}

int gan_ag_unary(gan_tensor **out, gan_unop op, gan_tensor *a) {
    if (gan_unary(out, op, a) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {a};
    if (gan_record(&n, out, gan_unop_name(op), unary_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    GAN_NODE_PARAMS(n, struct unary_params)->op = op;
    bool uses_out = op == GAN_EXP || op == GAN_SQRT || op == GAN_RSQRT || op == GAN_TANH ||
                    op == GAN_SIGMOID || op == GAN_RECIPROCAL || op == GAN_EXPM1;
    bool uses_in = op == GAN_ABS || op == GAN_LOG || op == GAN_RELU || op == GAN_SQUARE ||
                   op == GAN_LOG1P || op == GAN_SIN || op == GAN_COS || op == GAN_ERF;
    int rc = GAN_OK;
    if (uses_out || uses_in) rc = gan_node_save(n, uses_out ? *out : a, uses_out);
    return gan_record_done(out, rc);
}

// ---- binary

// The shapes of a and b: the gradients are summed back to them (broadcasting).
struct binary_params { gan_binop op; gan_shape a, b; };

static int binary_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct binary_params *p = GAN_NODE_PARAMS(n, struct binary_params);
    gan_binop op = p->op;
    gan_tensor *a = NULL, *b = NULL, *t = NULL, *u = NULL, *ga = NULL, *gb = NULL;
    int rc = GAN_ERR;
    bool na = gan_node_needs(n, 0), nb = gan_node_needs(n, 1);
    if (n->n_saved >= 1) TRY(gan_node_unpack(n, 0, &a));
    if (n->n_saved >= 2) TRY(gan_node_unpack(n, 1, &b));
    switch (op) {
    case GAN_ADD:
        if (na) ga = gan_tensor_retain(g);
        if (nb) gb = gan_tensor_retain(g);
        break;
    case GAN_SUB:
        if (na) ga = gan_tensor_retain(g);
        if (nb) TRY(gan_ag_unary(&gb, GAN_NEG, g));
        break;
    case GAN_MUL:
        if (na) TRY(gan_ag_binary(&ga, GAN_MUL, g, b));
        if (nb) TRY(gan_ag_binary(&gb, GAN_MUL, g, a));
        break;
    case GAN_DIV:                                    // saved: a, b
        if (na) TRY(gan_ag_binary(&ga, GAN_DIV, g, b));
        if (nb) {                                    // -g a / b^2
            TRY(gan_ag_binary(&t, GAN_MUL, b, b));
            TRY(gan_ag_binary(&u, GAN_DIV, a, t));
            gan_tensor_release(t); t = NULL;
            TRY(gan_ag_binary(&t, GAN_MUL, g, u));
            TRY(gan_ag_unary(&gb, GAN_NEG, t));
        }
        break;
    case GAN_POW:                                    // saved: a, b
        if (na) {                                    // g b a^(b-1)
            TRY(gan_ag_binary_scalar(&t, GAN_SUB, b, 1, false));
            TRY(gan_ag_binary(&u, GAN_POW, a, t));
            gan_tensor_release(t); t = NULL;
            TRY(gan_ag_binary(&t, GAN_MUL, u, b));
            TRY(gan_ag_binary(&ga, GAN_MUL, g, t));
            gan_tensor_release(t); gan_tensor_release(u); t = u = NULL;
        }
        if (nb) {                                    // g a^b log(a), 0 where a == 0
            gan_tensor *p = NULL, *l = NULL, *z = NULL;
            rc = gan_ag_binary(&p, GAN_POW, a, b);
            if (rc == GAN_OK) rc = gan_ag_unary(&l, GAN_LOG, a);
            if (rc == GAN_OK) rc = gan_ag_binary(&t, GAN_MUL, p, l);
            if (rc == GAN_OK) rc = gan_binary_scalar(&z, GAN_EQ, a, 0, false);
            if (rc == GAN_OK) rc = gan_ag_masked_fill(&u, t, z, 0);
            if (rc == GAN_OK) rc = gan_ag_binary(&gb, GAN_MUL, g, u);
            done(GAN_OK, p, l, z, NULL);
            if (rc != GAN_OK) goto fail;
        }
        break;
    case GAN_MINIMUM: case GAN_MAXIMUM: {            // the winner takes g; ties split it
        gan_tensor *w = NULL, *e = NULL;
        rc = gan_binary(&w, op == GAN_MINIMUM ? GAN_LT : GAN_GT, a, b);
        if (rc == GAN_OK) rc = gan_binary(&e, GAN_EQ, a, b);
        if (rc == GAN_OK) rc = gan_binary_scalar_(e, GAN_MUL, 0.5);
        if (rc == GAN_OK) rc = gan_binary_(w, GAN_ADD, e);      // weight of a
        if (rc == GAN_OK && na) rc = gan_ag_binary(&ga, GAN_MUL, g, w);
        if (rc == GAN_OK && nb) {
            rc = gan_binary_scalar(&t, GAN_SUB, w, 1, true);
            if (rc == GAN_OK) rc = gan_ag_binary(&gb, GAN_MUL, g, t);
        }
        done(GAN_OK, w, e, NULL, NULL);
        if (rc != GAN_OK) goto fail;
        break;
    }
    default:
        goto fail;
    }
    if (ga) TRY(gan_ag_sum_to(&gin[0], ga, p->a.ndim, p->a.size));
    if (gb) TRY(gan_ag_sum_to(&gin[1], gb, p->b.ndim, p->b.size));
    rc = GAN_OK;
fail:
    done(rc, a, b, t, u);
    return done(rc, ga, gb, NULL, NULL);
}

int gan_ag_binary(gan_tensor **out, gan_binop op, gan_tensor *a, gan_tensor *b) {
    if (gan_binary(out, op, a, b) != GAN_OK) return GAN_ERR;
    if (op >= GAN_EQ) return GAN_OK;   // comparisons have no gradient
    gan_node *n;
    const gan_tensor *ins[2] = {a, b};
    if (gan_record(&n, out, gan_binop_name(op), binary_backward, 2, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    struct binary_params *p = GAN_NODE_PARAMS(n, struct binary_params);
    *p = (struct binary_params){op, gan_shape_of(a), gan_shape_of(b)};
    int rc = GAN_OK;
    if (op == GAN_MUL || op == GAN_DIV || op == GAN_POW || op == GAN_MINIMUM || op == GAN_MAXIMUM) {
        rc = gan_node_save(n, a, false);
        if (rc == GAN_OK) rc = gan_node_save(n, b, false);
    }
    return gan_record_done(out, rc);
}

int gan_ag_binary_scalar(gan_tensor **out, gan_binop op, gan_tensor *a, double s,
                         bool reversed) {
    if (a->dtype == GAN_INT64 && s != floor(s))
        return gan_error("%s: scalar %g is not an integer but the tensor is int64",
                         gan_binop_name(op), s);
    gan_tensor *c;
    if (gan_full(&c, a->dtype, 0, NULL, s) != GAN_OK) return GAN_ERR;
    int rc = reversed ? gan_ag_binary(out, op, c, a) : gan_ag_binary(out, op, a, c);
    gan_tensor_release(c);
    return rc;
}

// ---- clamp, where, masked_fill

struct clamp_params { double lo, hi; };   // NaN: no bound

static int clamp_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct clamp_params *p = GAN_NODE_PARAMS(n, struct clamp_params);
    gan_tensor *x = NULL, *m = NULL, *k = NULL;
    int rc = GAN_ERR;
    TRY(gan_node_unpack(n, 0, &x));
    TRY(gan_full(&m, x->dtype, x->ndim, x->size, 1));   // 1 where lo <= x <= hi
    if (!isnan(p->lo)) { TRY(gan_binary_scalar(&k, GAN_GE, x, p->lo, false)); TRY(gan_binary_(m, GAN_MUL, k)); gan_tensor_release(k); k = NULL; }
    if (!isnan(p->hi)) { TRY(gan_binary_scalar(&k, GAN_LE, x, p->hi, false)); TRY(gan_binary_(m, GAN_MUL, k)); }
    rc = gan_ag_binary(&gin[0], GAN_MUL, g, m);
fail:
    return done(rc, x, m, k, NULL);
}

struct leaky_relu_params { double slope; };

// g times the derivative (a constant mask of x: the second derivative is zero a.e.).
static int leaky_relu_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    gan_tensor *x = NULL, *d = NULL;
    int rc = GAN_ERR;
    double slope = GAN_NODE_PARAMS(n, struct leaky_relu_params)->slope;
    TRY(gan_node_unpack(n, 0, &x));
    if (!gan_grad_enabled()) {   // not recorded: in one pass
        rc = gan_activation_grad(&gin[0], GAN_RELU, g, x, slope);
        goto fail;
    }
    TRY(gan_leaky_relu(&d, x, slope, true));
    rc = gan_ag_binary(&gin[0], GAN_MUL, g, d);
fail:
    return done(rc, x, d, NULL, NULL);
}

int gan_ag_leaky_relu(gan_tensor **out, gan_tensor *a, double slope) {
    if (gan_leaky_relu(out, a, slope, false) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {a};
    if (gan_record(&n, out, "leaky_relu", leaky_relu_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    GAN_NODE_PARAMS(n, struct leaky_relu_params)->slope = slope;
    return gan_record_done(out, gan_node_save(n, a, false));
}

int gan_ag_clamp(gan_tensor **out, gan_tensor *a, double lo, double hi) {
    if (gan_clamp(out, a, lo, hi) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {a};
    if (gan_record(&n, out, "clamp", clamp_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    *GAN_NODE_PARAMS(n, struct clamp_params) = (struct clamp_params){lo, hi};
    return gan_record_done(out, gan_node_save(n, a, false));
}

struct where_params { gan_shape a, b; };

static int where_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct where_params *p = GAN_NODE_PARAMS(n, struct where_params);
    gan_tensor *c = n->aux, *nc = NULL, *t = NULL;
    int rc = GAN_ERR;
    TRY(gan_binary_scalar(&nc, GAN_EQ, c, 0, false));
    if (gan_node_needs(n, 1)) {
        TRY(gan_ag_masked_fill(&t, g, nc, 0));
        TRY(gan_ag_sum_to(&gin[1], t, p->a.ndim, p->a.size));
        gan_tensor_release(t); t = NULL;
    }
    if (gan_node_needs(n, 2)) {
        TRY(gan_ag_masked_fill(&t, g, c, 0));
        TRY(gan_ag_sum_to(&gin[2], t, p->b.ndim, p->b.size));
    }
    rc = GAN_OK;
fail:
    return done(rc, nc, t, NULL, NULL);
}

int gan_ag_where(gan_tensor **out, gan_tensor *cond, gan_tensor *a, gan_tensor *b) {
    if (gan_where(out, cond, a, b) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[3] = {NULL, a, b};
    if (gan_record(&n, out, "where", where_backward, 3, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    *GAN_NODE_PARAMS(n, struct where_params) = (struct where_params){gan_shape_of(a), gan_shape_of(b)};
    // The mask, broadcast to the output and converted to its dtype, is not saved through
    // the version check: conditions are comparisons made for this call.
    gan_tensor *ce = NULL;
    int rc = gan_expand(&ce, cond, (*out)->ndim, (*out)->size);
    if (rc == GAN_OK) rc = gan_to_dtype(&n->aux, ce, a->dtype);
    gan_tensor_release(ce);
    return gan_record_done(out, rc);
}

static int masked_fill_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    return gan_ag_masked_fill(&gin[0], g, n->aux, 0);
}

int gan_ag_masked_fill(gan_tensor **out, gan_tensor *a, gan_tensor *mask, double v) {
    if (gan_masked_fill(out, a, mask, v) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {a};
    if (gan_record(&n, out, "masked_fill", masked_fill_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    return gan_record_done(out, gan_clone(&n->aux, mask));
}

// ---- reductions

// A reduction (sum, mean, prod, max, min; var) of an input of shape `in` over the dims
// whose bit is set in `reduced`. scale: 1 / (values per result) for mean, 2 / dof for var.
struct reduce_params {
    gan_redop op;
    uint32_t reduced;
    double scale;
    gan_shape in;
};

static struct reduce_params reduce_params_of(gan_redop op, const gan_tensor *a, int ndims,
                                             const int *dims, double scale) {
    bool mask[GAN_MAX_DIMS];
    if (ndims == 0) for (int k = 0; k < GAN_MAX_DIMS; k++) mask[k] = true;
    else gan_check_dims(NULL, ndims, dims, a->ndim, "reduce", mask);
    struct reduce_params p = {op, 0, scale, gan_shape_of(a)};
    for (int k = 0; k < a->ndim; k++) if (mask[k]) p.reduced |= 1u << k;
    return p;
}

// The reduced dims, in order; returns their count.
static int reduced_dims(const struct reduce_params *p, int *dims) {
    int nd = 0;
    for (int k = 0; k < p->in.ndim; k++) if (p->reduced >> k & 1) dims[nd++] = k;
    return nd;
}

// g (reduced shape) -> g viewed with kept dims, expanded to the input shape.
static int expand_back(const struct reduce_params *p, gan_tensor *g, gan_tensor **out) {
    gan_shape kept = p->in;
    for (int k = 0; k < kept.ndim; k++) if (p->reduced >> k & 1) kept.size[k] = 1;
    gan_tensor *v;
    if (gan_ag_reshape(&v, g, kept.ndim, kept.size) != GAN_OK) return GAN_ERR;
    int rc = gan_ag_expand(out, v, p->in.ndim, p->in.size);
    gan_tensor_release(v);
    return rc;
}

static int reduce_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct reduce_params *p = GAN_NODE_PARAMS(n, struct reduce_params);
    gan_redop op = p->op;
    gan_tensor *e = NULL, *x = NULL, *y = NULL, *m = NULL;
    int rc = GAN_ERR;
    TRY(expand_back(p, g, &e));
    if (op == GAN_SUM) { gin[0] = e; return GAN_OK; }
    if (op == GAN_MEAN) { rc = gan_ag_binary_scalar(&gin[0], GAN_MUL, e, p->scale, false); goto fail; }
    TRY(gan_node_unpack(n, 0, &x));
    TRY(gan_node_unpack(n, 1, &y));
    gan_tensor *ye = NULL, *t = NULL;
    if (op == GAN_PROD) {                              // g * prod / x
        rc = expand_back(p, y, &ye);
        if (rc == GAN_OK) rc = gan_ag_binary(&t, GAN_DIV, ye, x);
        if (rc == GAN_OK) rc = gan_ag_binary(&gin[0], GAN_MUL, e, t);
    } else {                                           // max/min: g split among the ties
        gan_tensor *cnt = NULL, *yd = NULL;
        rc = gan_detach(&yd, y);
        if (rc == GAN_OK) rc = expand_back(p, yd, &ye);
        if (rc == GAN_OK) rc = gan_binary(&m, GAN_EQ, x, ye);
        if (rc == GAN_OK) {
            int dims[GAN_MAX_DIMS], nd = reduced_dims(p, dims);
            rc = gan_reduce(&cnt, GAN_SUM, m, nd, dims, true);
        }
        if (rc == GAN_OK) rc = gan_binary_(m, GAN_DIV, cnt);
        if (rc == GAN_OK) rc = gan_ag_binary(&gin[0], GAN_MUL, e, m);
        gan_tensor_release(cnt); gan_tensor_release(yd);
    }
    done(GAN_OK, ye, t, NULL, NULL);
fail:
    return done(rc, e, x, y, m);
}

int gan_ag_reduce(gan_tensor **out, gan_redop op, gan_tensor *a, int ndims, const int *dims,
                  bool keepdim) {
    if (gan_reduce(out, op, a, ndims, dims, keepdim) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {a};
    static const char *names[] = {"sum", "mean", "prod", "max", "min"};
    if (gan_record(&n, out, names[op], reduce_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    int64_t r = gan_numel(a) / (gan_numel(*out) ? gan_numel(*out) : 1);
    double scale = r ? 1.0 / (double)r : 0;
    *GAN_NODE_PARAMS(n, struct reduce_params) = reduce_params_of(op, a, ndims, dims, scale);
    int rc = GAN_OK;
    if (op != GAN_SUM && op != GAN_MEAN) {
        rc = gan_node_save(n, a, false);
        if (rc == GAN_OK) rc = gan_node_save(n, *out, true);
    }
    return gan_record_done(out, rc);
}

static int var_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    // d var / dx = 2 (x - mean) / dof
    gan_tensor *x = NULL, *e = NULL, *mu = NULL, *d = NULL, *t = NULL;
    int rc = GAN_ERR;
    const struct reduce_params *p = GAN_NODE_PARAMS(n, struct reduce_params);
    TRY(gan_node_unpack(n, 0, &x));
    TRY(expand_back(p, g, &e));
    int dims[GAN_MAX_DIMS], nd = reduced_dims(p, dims);
    TRY(gan_ag_reduce(&mu, GAN_MEAN, x, nd, dims, true));
    TRY(gan_ag_binary(&d, GAN_SUB, x, mu));
    TRY(gan_ag_binary(&t, GAN_MUL, e, d));
    rc = gan_ag_binary_scalar(&gin[0], GAN_MUL, t, p->scale, false);
fail:
    done(rc, x, e, mu, d);
    return done(rc, t, NULL, NULL, NULL);
}

int gan_ag_var(gan_tensor **out, gan_tensor *a, int ndims, const int *dims, bool unbiased,
               bool keepdim) {
    if (gan_var(out, a, ndims, dims, unbiased, keepdim) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {a};
    if (gan_record(&n, out, "var", var_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    int64_t r = gan_numel(a) / (gan_numel(*out) ? gan_numel(*out) : 1);
    int64_t dof = unbiased ? r - 1 : r;
    double scale = dof > 0 ? 2.0 / (double)dof : NAN;
    *GAN_NODE_PARAMS(n, struct reduce_params) = reduce_params_of(GAN_SUM, a, ndims, dims, scale);
    return gan_record_done(out, gan_node_save(n, a, false));
}

int gan_ag_std(gan_tensor **out, gan_tensor *a, int ndims, const int *dims, bool unbiased,
               bool keepdim) {
    if (a->dtype == GAN_INT64) return gan_std(out, a, ndims, dims, unbiased, keepdim);  // its error
    gan_tensor *v;
    if (gan_ag_var(&v, a, ndims, dims, unbiased, keepdim) != GAN_OK) return GAN_ERR;
    int rc = gan_ag_unary(out, GAN_SQRT, v);
    gan_tensor_release(v);
    return rc;
}

// s^(1/p) (sqrt for p == 2) with gradient 0 rather than NaN where s == 0: a zero vector
// has norm 0 and, as in PyTorch, a zero gradient (not 0 * inf).
static int safe_root(gan_tensor **out, gan_tensor *s, double p) {
    gan_tensor *z = NULL, *ss = NULL, *r = NULL;
    int rc = GAN_ERR;
    TRY(gan_binary_scalar(&z, GAN_EQ, s, 0, false));
    TRY(gan_ag_masked_fill(&ss, s, z, 1));
    TRY(p == 2 ? gan_ag_unary(&r, GAN_SQRT, ss) : gan_ag_binary_scalar(&r, GAN_POW, ss, 1 / p, false));
    rc = gan_ag_masked_fill(out, r, z, 0);
fail:
    return done(rc, z, ss, r, NULL);
}

int gan_ag_norm(gan_tensor **out, gan_tensor *a, double p, int ndims, const int *dims,
                bool keepdim) {
    if (a->dtype == GAN_INT64) return gan_norm(out, a, p, ndims, dims, keepdim);  // its error
    if (isnan(p) || p < 0) return gan_error("norm: p must be >= 0, got %g", p);
    if (!a->requires_grad || !gan_grad_enabled() || p == 0)
        return gan_norm(out, a, p, ndims, dims, keepdim);
    gan_tensor *t = NULL, *s = NULL;
    int rc = GAN_ERR;
    if (p == 2) {                     // sqrt(sum x^2)
        TRY(gan_ag_binary(&t, GAN_MUL, a, a));
        TRY(gan_ag_reduce(&s, GAN_SUM, t, ndims, dims, keepdim));
        rc = safe_root(out, s, 2);
    } else if (p == 1) {
        TRY(gan_ag_unary(&t, GAN_ABS, a));
        rc = gan_ag_reduce(out, GAN_SUM, t, ndims, dims, keepdim);
    } else if (isinf(p)) {
        TRY(gan_ag_unary(&t, GAN_ABS, a));
        rc = gan_ag_reduce(out, GAN_MAX, t, ndims, dims, keepdim);
    } else {                          // (sum |x|^p)^(1/p)
        gan_tensor *ab = NULL;
        TRY(gan_ag_unary(&ab, GAN_ABS, a));
        rc = gan_ag_binary_scalar(&t, GAN_POW, ab, p, false);
        gan_tensor_release(ab);
        TRY(rc);
        TRY(gan_ag_reduce(&s, GAN_SUM, t, ndims, dims, keepdim));
        rc = safe_root(out, s, p);
    }
fail:
    return done(rc, t, s, NULL, NULL);
}

struct max_dim_params { int dim; bool keepdim; gan_shape in; };

static int max_dim_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    // Scatter g into zeros at the winning indices (n->aux, keepdim form).
    const struct max_dim_params *p = GAN_NODE_PARAMS(n, struct max_dim_params);
    gan_tensor *z = NULL, *gk = NULL;
    int rc = GAN_ERR;
    TRY(zeros_of(&z, g->dtype, p->in.ndim, p->in.size));
    if (p->keepdim) gk = gan_tensor_retain(g);
    else TRY(gan_ag_unsqueeze(&gk, g, p->dim));
    rc = gan_ag_scatter_add(&gin[0], z, p->dim, n->aux, gk);
fail:
    return done(rc, z, gk, NULL, NULL);
}

int gan_ag_max_dim(gan_tensor **values, gan_tensor **indices, gan_tensor *a, int dim,
                   bool keepdim, bool is_min) {
    if (gan_max_dim(values, indices, a, dim, keepdim, is_min) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {a};
    int rc = gan_record(&n, values, is_min ? "min" : "max", max_dim_backward, 1, ins);
    if (rc == GAN_OK && n) {
        int d;
        gan_wrap_dim(&d, dim, a->ndim, "max");
        *GAN_NODE_PARAMS(n, struct max_dim_params) = (struct max_dim_params){d, keepdim, gan_shape_of(a)};
        rc = keepdim ? (n->aux = gan_tensor_retain(*indices), GAN_OK) : gan_unsqueeze(&n->aux, *indices, d);
        rc = gan_record_done(values, rc);
    }
    if (rc != GAN_OK) { gan_tensor_release(*indices); *indices = NULL; }
    return rc;
}

int gan_ag_max_all(gan_tensor **out, gan_tensor *a, bool is_min) {
    return gan_ag_reduce(out, is_min ? GAN_MIN : GAN_MAX, a, 0, NULL, false);
}

// ---- matmul

static int matmul_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    gan_tensor *a = NULL, *b = NULL, *t = NULL, *p = NULL;
    int rc = GAN_ERR;
    TRY(gan_node_unpack(n, 0, &a));
    TRY(gan_node_unpack(n, 1, &b));
    if (gan_node_needs(n, 0)) {                       // g b^T, summed over broadcast batches
        TRY(gan_ag_transpose(&t, b, -1, -2));
        TRY(gan_ag_matmul(&p, g, t));
        TRY(gan_ag_sum_to(&gin[0], p, a->ndim, a->size));
        gan_tensor_release(t); gan_tensor_release(p); t = p = NULL;
    }
    if (gan_node_needs(n, 1)) {                       // a^T g
        TRY(gan_ag_transpose(&t, a, -1, -2));
        TRY(gan_ag_matmul(&p, t, g));
        TRY(gan_ag_sum_to(&gin[1], p, b->ndim, b->size));
    }
    rc = GAN_OK;
fail:
    return done(rc, a, b, t, p);
}

int gan_ag_matmul(gan_tensor **out, gan_tensor *a, gan_tensor *b) {
    if (a->ndim == 1 || b->ndim == 1) {
        // Vectors become matrices here so the rule only sees >= 2-d operands.
        if (a->ndim == 0 || b->ndim == 0) return gan_matmul(out, a, b);   // its error
        if (a->size[a->ndim - 1] != b->size[b->ndim == 1 ? 0 : b->ndim - 2])
            return gan_matmul(out, a, b);   // its error names the caller's shapes
        gan_tensor *A = NULL, *B = NULL, *C = NULL;
        int rc = a->ndim == 1 ? gan_ag_unsqueeze(&A, a, 0) : (A = gan_tensor_retain(a), GAN_OK);
        if (rc == GAN_OK) rc = b->ndim == 1 ? gan_ag_unsqueeze(&B, b, 1) : (B = gan_tensor_retain(b), GAN_OK);
        if (rc == GAN_OK) rc = gan_ag_matmul(&C, A, B);
        if (rc == GAN_OK) {
            gan_tensor *D = NULL;
            if (b->ndim == 1) rc = gan_ag_squeeze(&D, C, -1, false);
            else D = gan_tensor_retain(C);
            if (rc == GAN_OK && a->ndim == 1) rc = gan_ag_squeeze(out, D, b->ndim == 1 ? -1 : -2, false);
            else if (rc == GAN_OK) *out = gan_tensor_retain(D);
            gan_tensor_release(D);
        }
        return done(rc, A, B, C, NULL);
    }
    if (gan_matmul(out, a, b) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[2] = {a, b};
    if (gan_record(&n, out, "matmul", matmul_backward, 2, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    int rc = gan_node_save(n, a, false);
    if (rc == GAN_OK) rc = gan_node_save(n, b, false);
    return gan_record_done(out, rc);
}

// ---- views and copies: the gradient goes back through the inverse view

static int reshape_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct shape_params *p = GAN_NODE_PARAMS(n, struct shape_params);
    return gan_ag_reshape(&gin[0], g, p->in.ndim, p->in.size);
}

static int record_reshape_like(gan_tensor **out, gan_tensor *in, const char *name) {
    gan_node *n;
    const gan_tensor *ins[1] = {in};
    if (gan_record(&n, out, name, reshape_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (n) GAN_NODE_PARAMS(n, struct shape_params)->in = gan_shape_of(in);
    return GAN_OK;
}

int gan_ag_view(gan_tensor **out, gan_tensor *t, int ndim, const int64_t *size) {
    if (gan_view(out, t, ndim, size) != GAN_OK) return GAN_ERR;
    return record_reshape_like(out, t, "view");
}
int gan_ag_reshape(gan_tensor **out, gan_tensor *t, int ndim, const int64_t *size) {
    if (gan_reshape(out, t, ndim, size) != GAN_OK) return GAN_ERR;
    return record_reshape_like(out, t, "reshape");
}
int gan_ag_squeeze(gan_tensor **out, gan_tensor *t, int dim, bool all) {
    if (gan_squeeze(out, t, dim, all) != GAN_OK) return GAN_ERR;
    return record_reshape_like(out, t, "squeeze");
}
int gan_ag_unsqueeze(gan_tensor **out, gan_tensor *t, int dim) {
    if (gan_unsqueeze(out, t, dim) != GAN_OK) return GAN_ERR;
    return record_reshape_like(out, t, "unsqueeze");
}
int gan_ag_flatten(gan_tensor **out, gan_tensor *t, int start_dim, int end_dim) {
    if (gan_flatten(out, t, start_dim, end_dim) != GAN_OK) return GAN_ERR;
    return record_reshape_like(out, t, "flatten");
}

struct transpose_params { int d0, d1; };

static int transpose_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct transpose_params *p = GAN_NODE_PARAMS(n, struct transpose_params);
    return gan_ag_transpose(&gin[0], g, p->d0, p->d1);
}

int gan_ag_transpose(gan_tensor **out, gan_tensor *t, int d0, int d1) {
    if (gan_transpose(out, t, d0, d1) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {t};
    if (gan_record(&n, out, "transpose", transpose_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (n) *GAN_NODE_PARAMS(n, struct transpose_params) = (struct transpose_params){d0, d1};
    return GAN_OK;
}

struct permute_params { int ndim; int dims[GAN_MAX_DIMS]; };   // dims wrapped

static int permute_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct permute_params *p = GAN_NODE_PARAMS(n, struct permute_params);
    int inv[GAN_MAX_DIMS];
    for (int k = 0; k < p->ndim; k++) inv[p->dims[k]] = k;
    return gan_ag_permute(&gin[0], g, p->ndim, inv);
}

int gan_ag_permute(gan_tensor **out, gan_tensor *t, int ndim, const int *dims) {
    if (gan_permute(out, t, ndim, dims) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {t};
    if (gan_record(&n, out, "permute", permute_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (n) {
        struct permute_params *p = GAN_NODE_PARAMS(n, struct permute_params);
        p->ndim = ndim;
        for (int k = 0; k < ndim; k++) gan_wrap_dim(&p->dims[k], dims[k], ndim, "permute");
    }
    return GAN_OK;
}

// narrow and select: the slice starts at `start` of the input's `full` extent along dim.
struct narrow_params { int dim; int64_t start, full; };

// The gradient of a narrow: g padded with zeros back to the input's extent along dim.
static int narrow_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct narrow_params *p = GAN_NODE_PARAMS(n, struct narrow_params);
    int d = p->dim;
    int64_t start = p->start, full = p->full;
    gan_tensor *parts[3] = {NULL, g, NULL}, *z0 = NULL, *z1 = NULL;
    int k = 0, rc;
    gan_tensor *list[3];
    int64_t size[GAN_MAX_DIMS];
    memcpy(size, g->size, sizeof size);
    if (start > 0) {
        size[d] = start;
        if (zeros_of(&z0, g->dtype, g->ndim, size) != GAN_OK) return GAN_ERR;
        list[k++] = z0;
    }
    list[k++] = parts[1];
    int64_t after = full - start - g->size[d];
    if (after > 0) {
        size[d] = after;
        if (zeros_of(&z1, g->dtype, g->ndim, size) != GAN_OK) { gan_tensor_release(z0); return GAN_ERR; }
        list[k++] = z1;
    }
    rc = k == 1 ? (gin[0] = gan_tensor_retain(g), GAN_OK) : gan_ag_cat(&gin[0], k, list, d);
    return done(rc, z0, z1, NULL, NULL);
}

int gan_ag_narrow(gan_tensor **out, gan_tensor *t, int dim, int64_t start, int64_t len) {
    if (gan_narrow(out, t, dim, start, len) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {t};
    if (gan_record(&n, out, "narrow", narrow_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (n) {
        int d;
        gan_wrap_dim(&d, dim, t->ndim, "narrow");
        *GAN_NODE_PARAMS(n, struct narrow_params) = (struct narrow_params){d, start, t->size[d]};
    }
    return GAN_OK;
}

static int select_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    gan_tensor *u;
    if (gan_ag_unsqueeze(&u, g, GAN_NODE_PARAMS(n, struct narrow_params)->dim) != GAN_OK) return GAN_ERR;
    int rc = narrow_backward(n, u, gin);
    gan_tensor_release(u);
    return rc;
}

int gan_ag_select(gan_tensor **out, gan_tensor *t, int dim, int64_t index) {
    if (gan_select(out, t, dim, index) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {t};
    if (gan_record(&n, out, "select", select_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (n) {
        int d;
        gan_wrap_dim(&d, dim, t->ndim, "select");
        *GAN_NODE_PARAMS(n, struct narrow_params) = (struct narrow_params){d, index, t->size[d]};
    }
    return GAN_OK;
}

static int expand_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct shape_params *p = GAN_NODE_PARAMS(n, struct shape_params);
    return gan_ag_sum_to(&gin[0], g, p->in.ndim, p->in.size);
}

int gan_ag_expand(gan_tensor **out, gan_tensor *t, int ndim, const int64_t *size) {
    if (gan_expand(out, t, ndim, size) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {t};
    if (gan_record(&n, out, "expand", expand_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (n) GAN_NODE_PARAMS(n, struct shape_params)->in = gan_shape_of(t);
    return GAN_OK;
}

static int identity_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    gin[0] = gan_tensor_retain(g);
    return GAN_OK;
}

int gan_ag_contiguous(gan_tensor **out, gan_tensor *t) {
    if (gan_is_contiguous(t)) { *out = gan_tensor_retain(t); return GAN_OK; }
    return gan_ag_clone(out, t);
}

int gan_ag_clone(gan_tensor **out, gan_tensor *t) {
    if (gan_clone(out, t) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {t};
    return gan_record(&n, out, "clone", identity_backward, 1, ins);
}

struct to_dtype_params { gan_dtype from; };

static int to_dtype_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    return gan_ag_to_dtype(&gin[0], g, GAN_NODE_PARAMS(n, struct to_dtype_params)->from);
}

int gan_ag_to_dtype(gan_tensor **out, gan_tensor *t, gan_dtype dt) {
    if (gan_to_dtype(out, t, dt) != GAN_OK) return GAN_ERR;
    if (*out == t || dt == GAN_INT64) return GAN_OK;
    gan_node *n;
    const gan_tensor *ins[1] = {t};
    if (gan_record(&n, out, "to", to_dtype_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (n) GAN_NODE_PARAMS(n, struct to_dtype_params)->from = t->dtype;
    return GAN_OK;
}

// ---- joins and indexing

struct cat_params { int dim; };   // wrapped; n->aux holds each input's length along it

static int cat_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    int d = GAN_NODE_PARAMS(n, struct cat_params)->dim;
    int64_t at = 0;
    for (int k = 0; k < n->n_next; k++) {
        int64_t len = n->aux ? ((int64_t *)gan_data(n->aux))[k] : 0;
        if (gan_node_needs(n, k) && n->next[k] && gan_ag_narrow(&gin[k], g, d, at, len) != GAN_OK)
            return GAN_ERR;
        at += len;
    }
    return GAN_OK;
}

int gan_ag_cat(gan_tensor **out, int n, gan_tensor *const *ts, int dim) {
    if (gan_cat(out, n, (const gan_tensor *const *)ts, dim) != GAN_OK) return GAN_ERR;
    gan_node *node;
    if (gan_record(&node, out, "cat", cat_backward, n, (const gan_tensor *const *)ts) != GAN_OK) return GAN_ERR;
    if (!node) return GAN_OK;
    int d;
    gan_wrap_dim(&d, dim, ts[0]->ndim, "cat");
    GAN_NODE_PARAMS(node, struct cat_params)->dim = d;
    int64_t nn = n;
    if (gan_empty(&node->aux, GAN_INT64, 1, &nn) != GAN_OK) return gan_record_done(out, GAN_ERR);
    for (int k = 0; k < n; k++) ((int64_t *)gan_data(node->aux))[k] = ts[k]->size[d];
    return GAN_OK;
}

// index_select, index_add, gather, scatter_add (n->aux: a copy of the index). shape: the
// input's (index_select, gather) or src's (scatter_add); index_add needs none.
struct index_params { int dim; gan_shape shape; };

static int index_select_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct index_params *p = GAN_NODE_PARAMS(n, struct index_params);
    gan_tensor *z;
    if (zeros_of(&z, g->dtype, p->shape.ndim, p->shape.size) != GAN_OK) return GAN_ERR;
    int rc = gan_ag_index_add(&gin[0], z, p->dim, n->aux, g);
    gan_tensor_release(z);
    return rc;
}

int gan_ag_index_select(gan_tensor **out, gan_tensor *a, int dim, gan_tensor *index) {
    if (gan_index_select(out, a, dim, index) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {a};
    if (gan_record(&n, out, "index_select", index_select_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    *GAN_NODE_PARAMS(n, struct index_params) = (struct index_params){dim, gan_shape_of(a)};
    return gan_record_done(out, gan_clone(&n->aux, index));
}

static int index_add_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    if (gan_node_needs(n, 0)) gin[0] = gan_tensor_retain(g);
    if (gan_node_needs(n, 1))
        return gan_ag_index_select(&gin[1], g, GAN_NODE_PARAMS(n, struct index_params)->dim, n->aux);
    return GAN_OK;
}

int gan_ag_index_add(gan_tensor **out, gan_tensor *a, int dim, gan_tensor *index,
                     gan_tensor *src) {
    if (gan_index_add(out, a, dim, index, src) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[2] = {a, src};
    if (gan_record(&n, out, "index_add", index_add_backward, 2, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    GAN_NODE_PARAMS(n, struct index_params)->dim = dim;
    return gan_record_done(out, gan_clone(&n->aux, index));
}

static int gather_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    const struct index_params *p = GAN_NODE_PARAMS(n, struct index_params);
    gan_tensor *z;
    if (zeros_of(&z, g->dtype, p->shape.ndim, p->shape.size) != GAN_OK) return GAN_ERR;
    int rc = gan_ag_scatter_add(&gin[0], z, p->dim, n->aux, g);
    gan_tensor_release(z);
    return rc;
}

int gan_ag_gather(gan_tensor **out, gan_tensor *a, int dim, gan_tensor *index) {
    if (gan_gather(out, a, dim, index) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[1] = {a};
    if (gan_record(&n, out, "gather", gather_backward, 1, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    *GAN_NODE_PARAMS(n, struct index_params) = (struct index_params){dim, gan_shape_of(a)};
    return gan_record_done(out, gan_clone(&n->aux, index));
}

static int scatter_add_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    if (gan_node_needs(n, 0)) gin[0] = gan_tensor_retain(g);
    if (gan_node_needs(n, 1)) {
        // src may be larger than index outside dim; its extra entries get no gradient.
        const struct index_params *p = GAN_NODE_PARAMS(n, struct index_params);
        gan_tensor *gg;
        if (gan_ag_gather(&gg, g, p->dim, n->aux) != GAN_OK) return GAN_ERR;
        int nd = p->shape.ndim;
        const int64_t *ss = p->shape.size;
        bool same = gg->ndim == nd && memcmp(gg->size, ss, sizeof(int64_t) * (size_t)nd) == 0;
        if (same) { gin[1] = gg; return GAN_OK; }
        gan_tensor *cur = gg;
        for (int k = 0; k < nd; k++) {
            if (cur->size[k] == ss[k]) continue;
            int64_t sz[GAN_MAX_DIMS];
            memcpy(sz, cur->size, sizeof sz);
            sz[k] = ss[k] - cur->size[k];
            gan_tensor *z, *nx, *list[2];
            if (zeros_of(&z, g->dtype, nd, sz) != GAN_OK) { gan_tensor_release(cur); return GAN_ERR; }
            list[0] = cur; list[1] = z;
            int rc = gan_ag_cat(&nx, 2, list, k);
            gan_tensor_release(z);
            gan_tensor_release(cur);
            if (rc != GAN_OK) return GAN_ERR;
            cur = nx;
        }
        gin[1] = cur;
    }
    return GAN_OK;
}

int gan_ag_scatter_add(gan_tensor **out, gan_tensor *a, int dim, gan_tensor *index,
                       gan_tensor *src) {
    if (gan_scatter_add(out, a, dim, index, src) != GAN_OK) return GAN_ERR;
    gan_node *n;
    const gan_tensor *ins[2] = {a, src};
    if (gan_record(&n, out, "scatter_add", scatter_add_backward, 2, ins) != GAN_OK) return GAN_ERR;
    if (!n) return GAN_OK;
    *GAN_NODE_PARAMS(n, struct index_params) = (struct index_params){dim, gan_shape_of(src)};
    return gan_record_done(out, gan_clone(&n->aux, index));
}
