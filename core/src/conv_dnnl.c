// The oneDNN path of the three float32 convolution kernels (conv.c decides when it runs),
// for 1 to 3 spatial dims.
//
// Each direction maps onto one oneDNN convolution primitive: forward (src, weights, bias ->
// dst), backward data (diff_dst, weights -> diff_src) and backward weights (src, diff_dst ->
// diff_weights). The primitive picks its own memory layouts (format "any", usually
// channel-blocked nChw16c / OIhw16i16o on AVX-512); our tensors stay plain (NCHW / OIHW in
// 2-d) and are reordered in and out around the call through scratch buffers from gan_alloc.
// Primitives, reorders and their descriptors are built once per shape and kept in a small
// cache (most-recently-used first), so a training step only executes them.
#include "conv_dnnl.h"
#include "gan/alloc.h"
#include "gan/error.h"
#include "internal.h"

#ifdef GAN_HAVE_DNNL
#include <dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { A_IN0, A_IN1, A_OUT, N_ARGS };   // the three tensors of a direction (bias aside)

// dir, nsp, N, Ci, Co, groups, bias, bf16, then in, k, stride, pad, dil (3 entries each,
// unused ones 0): the output size follows from these.
#define KEY_LEN 23

typedef struct entry {
    int64_t key[KEY_LEN];
    dnnl_primitive_t prim;
    dnnl_primitive_desc_t pd;
    // Per tensor: the plain (user) descriptor, the primitive's, and the reorder between
    // them (NULL when the layouts agree).
    dnnl_memory_desc_t user_md[N_ARGS], prim_md[N_ARGS];
    dnnl_primitive_t reorder[N_ARGS];
    int arg_id[N_ARGS];
    size_t scratch_size;
    char impl[64];
    struct entry *next;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static entry *cache;
static int n_cached;
static char last_impl[64];   // implementation name of the last primitive run
static uint64_t n_runs;       // primitives run so far
#define CACHE_MAX 128

static int dnnl_fail(dnnl_status_t st, const char *what) {
    return gan_error("convolution (oneDNN): %s failed with status %d", what, (int)st);
}

// oneDNN's plain (row-major) layout of an n-d tensor: NCHW, OIHW, GOIHW in 2-d.
static dnnl_format_tag_t plain_tag(int n) {
    static const dnnl_format_tag_t tags[] = {dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    return tags[n - 1];
}

static void entry_free(entry *e) {
    if (!e) return;
    for (int i = 0; i < N_ARGS; i++)
        if (e->reorder[i]) dnnl_primitive_destroy(e->reorder[i]);
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->pd) dnnl_primitive_desc_destroy(e->pd);
    free(e);
}

// A reorder primitive from one layout to another.
static dnnl_status_t make_reorder(dnnl_primitive_t *r, const dnnl_memory_desc_t *from,
                                  const dnnl_memory_desc_t *to) {
    dnnl_primitive_desc_t rpd;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, NULL);
    if (st != dnnl_success) return st;
    st = dnnl_primitive_create(r, rpd);
    dnnl_primitive_desc_destroy(rpd);
    return st;
}

// Builds the primitive of one direction for the geometry in `key` (see gan_dnnl_conv);
// pad_r: the right paddings. Returns GAN_OK, GAN_ERR, or GAN_DNNL_UNSUPPORTED when oneDNN
// has no implementation.
static int entry_build(entry **out, const int64_t *key, const gan_dnnl_shape *s, const int64_t *pad_r) {
    dnnl_status_t st;
    entry *e = gan_calloc(1, sizeof *e);
    if (!e) return gan_error("convolution (oneDNN): out of memory");
    memcpy(e->key, key, sizeof e->key);
    int64_t G = s->groups;
    int nd = 2 + s->nsp;   // wg has one more: the group
    dnnl_dims_t xd = {s->N, s->Ci}, yd = {s->N, s->Co}, wg = {G, s->Co / G, s->Ci / G},
                w1 = {s->Co, s->Ci / G}, bd = {s->Co}, strides, dil, pl, pr;
    for (int i = 0; i < s->nsp; i++) {
        xd[2 + i] = s->in[i];
        yd[2 + i] = s->out[i];
        w1[2 + i] = wg[3 + i] = s->k[i];
        strides[i] = s->stride[i];
        dil[i] = s->dil[i] - 1;
        pl[i] = s->pad[i];
        pr[i] = pad_r[i];
    }
    int wnd = G > 1 ? nd + 1 : nd;
    const int64_t *wdims = G > 1 ? wg : w1;
    // In bfloat16 the direction's two inputs are bf16 and its output f32: the forward
    // primitive (also the backward ones' hint) reads x and w, backward data reads gy and
    // w, backward weights x and gy.
    dnnl_data_type_t in_t = s->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_data_type_t x_t = s->dir == GAN_DNNL_BWD_DATA ? dnnl_f32 : in_t;
    dnnl_data_type_t y_t = s->dir == GAN_DNNL_FWD ? dnnl_f32 : in_t;
    dnnl_data_type_t w_t = s->dir == GAN_DNNL_BWD_WEIGHTS ? dnnl_f32 : in_t;
    dnnl_memory_desc_t x_any, w_any, y_any, b_md, x_plain, w_plain, y_plain, xf_any, wf_any, yf_any;
    dnnl_memory_desc_init_by_tag(&x_any, nd, xd, x_t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&y_any, nd, yd, y_t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w_any, wnd, wdims, w_t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&xf_any, nd, xd, in_t, dnnl_format_tag_any);   // the forward hint's
    dnnl_memory_desc_init_by_tag(&wf_any, wnd, wdims, in_t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&yf_any, nd, yd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&x_plain, nd, xd, dnnl_f32, plain_tag(nd));
    dnnl_memory_desc_init_by_tag(&y_plain, nd, yd, dnnl_f32, plain_tag(nd));
    dnnl_memory_desc_init_by_tag(&w_plain, wnd, wdims, dnnl_f32, plain_tag(wnd));
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);

    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fwd_pd = NULL;
    int rc = GAN_DNNL_UNSUPPORTED;
    if ((st = dnnl_primitive_attr_create(&attr)) != dnnl_success ||
        (st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) != dnnl_success) {
        rc = dnnl_fail(st, "attributes");
        goto fail;
    }
    dnnl_convolution_desc_t fd;
    bool bias = s->dir == GAN_DNNL_FWD && s->bias;
    if (dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
            &xf_any, &wf_any, bias ? &b_md : NULL, &yf_any, strides, dil, pl, pr) != dnnl_success ||
        dnnl_primitive_desc_create(&fwd_pd, &fd, attr, engine, NULL) != dnnl_success)
        goto fail;
    if (s->dir == GAN_DNNL_FWD) {
        e->pd = fwd_pd;
        fwd_pd = NULL;
        e->user_md[A_IN0] = x_plain; e->arg_id[A_IN0] = DNNL_ARG_SRC;
        e->user_md[A_IN1] = w_plain; e->arg_id[A_IN1] = DNNL_ARG_WEIGHTS;
        e->user_md[A_OUT] = y_plain; e->arg_id[A_OUT] = DNNL_ARG_DST;
    } else if (s->dir == GAN_DNNL_BWD_DATA) {
        dnnl_convolution_desc_t bd_;
        if (dnnl_dilated_convolution_backward_data_desc_init(&bd_, dnnl_convolution_direct, &x_any,
                &w_any, &y_any, strides, dil, pl, pr) != dnnl_success ||
            dnnl_primitive_desc_create(&e->pd, &bd_, attr, engine, fwd_pd) != dnnl_success)
            goto fail;
        e->user_md[A_IN0] = y_plain; e->arg_id[A_IN0] = DNNL_ARG_DIFF_DST;
        e->user_md[A_IN1] = w_plain; e->arg_id[A_IN1] = DNNL_ARG_WEIGHTS;
        e->user_md[A_OUT] = x_plain; e->arg_id[A_OUT] = DNNL_ARG_DIFF_SRC;
    } else {
        dnnl_convolution_desc_t bw;
        if (dnnl_dilated_convolution_backward_weights_desc_init(&bw, dnnl_convolution_direct, &x_any,
                &w_any, NULL, &y_any, strides, dil, pl, pr) != dnnl_success ||
            dnnl_primitive_desc_create(&e->pd, &bw, attr, engine, fwd_pd) != dnnl_success)
            goto fail;
        e->user_md[A_IN0] = x_plain; e->arg_id[A_IN0] = DNNL_ARG_SRC;
        e->user_md[A_IN1] = y_plain; e->arg_id[A_IN1] = DNNL_ARG_DIFF_DST;
        e->user_md[A_OUT] = w_plain; e->arg_id[A_OUT] = DNNL_ARG_DIFF_WEIGHTS;
    }
    rc = GAN_ERR;
    for (int i = 0; i < N_ARGS; i++) {
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(e->pd, dnnl_query_exec_arg_md, e->arg_id[i]);
        if (!md) { rc = gan_error("convolution (oneDNN): no layout for argument %d", e->arg_id[i]); goto fail; }
        e->prim_md[i] = *md;
        if (!dnnl_memory_desc_equal(&e->prim_md[i], &e->user_md[i])) {
            st = i == A_OUT ? make_reorder(&e->reorder[i], &e->prim_md[i], &e->user_md[i])
                            : make_reorder(&e->reorder[i], &e->user_md[i], &e->prim_md[i]);
            if (st != dnnl_success) { rc = dnnl_fail(st, "reorder"); goto fail; }
        }
    }
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(e->pd, dnnl_query_scratchpad_md, 0);
    e->scratch_size = smd ? dnnl_memory_desc_get_size(smd) : 0;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(e->pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(e->impl, sizeof e->impl, "%s", impl);
    if ((st = dnnl_primitive_create(&e->prim, e->pd)) != dnnl_success) {
        rc = dnnl_fail(st, "primitive creation");
        goto fail;
    }
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    dnnl_primitive_attr_destroy(attr);
    *out = e;
    return GAN_OK;
fail:
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    entry_free(e);
    return rc;
}

// The cached entry for key (moved to the front), or a new one.
static int entry_get(entry **out, const int64_t *key, const gan_dnnl_shape *s, const int64_t *pad_r) {
    entry **pp = &cache;
    for (entry *e = cache; e; pp = &e->next, e = e->next)
        if (!memcmp(e->key, key, sizeof e->key)) {
            *pp = e->next;
            e->next = cache;
            cache = e;
            *out = e;
            return GAN_OK;
        }
    entry *e;
    int rc = entry_build(&e, key, s, pad_r);
    if (rc != GAN_OK) return rc;
    e->next = cache;
    cache = e;
    if (++n_cached > CACHE_MAX) {   // drop the least recently used
        entry *p = cache;
        while (p->next->next) p = p->next;
        entry_free(p->next);
        p->next = NULL;
        n_cached--;
    }
    *out = e;
    return GAN_OK;
}

static int init_engine(void) {
    if (engine) return GAN_OK;
    dnnl_status_t st = dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (st != dnnl_success) { engine = NULL; return dnnl_fail(st, "engine creation"); }
    st = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        dnnl_engine_destroy(engine);
        engine = NULL;
        return dnnl_fail(st, "stream creation");
    }
    return GAN_OK;
}

static int run(entry *e, void *const *user, const void *bias) {
    dnnl_memory_t mem[2 * N_ARGS + 2] = {0};
    void *buf[N_ARGS + 1] = {0};
    size_t bufsize[N_ARGS + 1] = {0};
    dnnl_exec_arg_t args[N_ARGS + 2];
    int nargs = 0, rc = GAN_ERR;
    dnnl_status_t st = dnnl_success;
    // user[i]: the plain tensor; mem[i] wraps it, mem[N_ARGS + i] the primitive's layout.
    for (int i = 0; i < N_ARGS; i++) {
        if ((st = dnnl_memory_create(&mem[i], &e->user_md[i], engine, user[i])) != dnnl_success) goto out;
        dnnl_memory_t pm = mem[i];
        if (e->reorder[i]) {
            bufsize[i] = dnnl_memory_desc_get_size(&e->prim_md[i]);
            if (!(buf[i] = gan_alloc(bufsize[i]))) goto out;
            if ((st = dnnl_memory_create(&mem[N_ARGS + i], &e->prim_md[i], engine, buf[i])) != dnnl_success)
                goto out;
            pm = mem[N_ARGS + i];
            if (i != A_OUT) {
                dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, mem[i]}, {DNNL_ARG_TO, pm}};
                if ((st = dnnl_primitive_execute(e->reorder[i], stream, 2, ra)) != dnnl_success) goto out;
            }
        }
        args[nargs++] = (dnnl_exec_arg_t){e->arg_id[i], pm};
    }
    if (bias) {
        dnnl_dims_t bd;
        dnnl_memory_desc_t bmd;
        bd[0] = e->user_md[A_OUT].dims[1];
        dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a);
        if ((st = dnnl_memory_create(&mem[2 * N_ARGS], &bmd, engine, (void *)bias)) != dnnl_success) goto out;
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mem[2 * N_ARGS]};
    }
    if (e->scratch_size) {
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(e->pd, dnnl_query_scratchpad_md, 0);
        bufsize[N_ARGS] = e->scratch_size;
        if (!(buf[N_ARGS] = gan_alloc(e->scratch_size))) goto out;
        if ((st = dnnl_memory_create(&mem[2 * N_ARGS + 1], smd, engine, buf[N_ARGS])) != dnnl_success) goto out;
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[2 * N_ARGS + 1]};
    }
    if ((st = dnnl_primitive_execute(e->prim, stream, nargs, args)) != dnnl_success) goto out;
    if (e->reorder[A_OUT]) {
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, mem[N_ARGS + A_OUT]}, {DNNL_ARG_TO, mem[A_OUT]}};
        if ((st = dnnl_primitive_execute(e->reorder[A_OUT], stream, 2, ra)) != dnnl_success) goto out;
    }
    st = dnnl_stream_wait(stream);
    if (st == dnnl_success) rc = GAN_OK;
out:
    if (rc != GAN_OK) {
        if (st != dnnl_success) dnnl_fail(st, "execution");
        else gan_error("convolution (oneDNN): out of memory for a scratch buffer");
    }
    for (int i = 0; i < 2 * N_ARGS + 2; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    for (int i = 0; i <= N_ARGS; i++)
        if (buf[i]) gan_free(buf[i], bufsize[i]);
    return rc;
}

int gan_dnnl_conv(const gan_dnnl_shape *s, void *x, void *w, const void *b, void *y) {
    gan_dnnl_shape t = *s;
    t.bias = s->dir == GAN_DNNL_FWD && b != NULL;
    int64_t key[KEY_LEN] = {t.dir, t.nsp, t.N, t.Ci, t.Co, t.groups, t.bias, t.bf16}, pad_r[3];
    for (int i = 0; i < t.nsp; i++) {
        const int64_t *v[5] = {t.in, t.k, t.stride, t.pad, t.dil};
        for (int j = 0; j < 5; j++) key[8 + 3 * j + i] = v[j][i];
        // The right padding that makes oneDNN's output size formula give exactly out[i]
        // (negative when the last window stops short of the input's edge; oneDNN accepts
        // that).
        pad_r[i] = (t.out[i] - 1) * t.stride[i] + (t.k[i] - 1) * t.dil[i] + 1 - t.in[i] - t.pad[i];
    }
    pthread_mutex_lock(&lock);
    entry *e;
    int rc = init_engine();
    if (rc == GAN_OK) rc = entry_get(&e, key, &t, pad_r);
    if (rc == GAN_DNNL_UNSUPPORTED && t.bf16) {   // no bfloat16 kernel: float32 then
        t.bf16 = false;
        key[7] = 0;
        rc = entry_get(&e, key, &t, pad_r);
    }
    if (rc == GAN_OK) {
        void *user[N_ARGS];
        if (s->dir == GAN_DNNL_FWD) { user[A_IN0] = x; user[A_IN1] = w; user[A_OUT] = y; }
        else if (s->dir == GAN_DNNL_BWD_DATA) { user[A_IN0] = y; user[A_IN1] = w; user[A_OUT] = x; }
        else { user[A_IN0] = x; user[A_IN1] = y; user[A_OUT] = w; }
        rc = run(e, user, t.bias ? b : NULL);
        memcpy(last_impl, e->impl, sizeof last_impl);
        if (rc == GAN_OK) n_runs++;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int gan_dnnl_locked(int (*fn)(void *arg, void *engine, void *stream), void *arg) {
    pthread_mutex_lock(&lock);
    int rc = init_engine();
    if (rc == GAN_OK) rc = fn(arg, engine, stream);
    pthread_mutex_unlock(&lock);
    return rc;
}

const char *gan_dnnl_last_impl(void) { return last_impl[0] ? last_impl : NULL; }
uint64_t gan_dnnl_runs(void) { return n_runs; }

bool gan_dnnl_available(void) { return true; }

#else   // built without oneDNN

int gan_dnnl_conv(const gan_dnnl_shape *s, void *x, void *w, const void *b, void *y) {
    (void)s; (void)x; (void)w; (void)b; (void)y;
    return GAN_DNNL_UNSUPPORTED;
}
const char *gan_dnnl_last_impl(void) { return NULL; }
uint64_t gan_dnnl_runs(void) { return 0; }
int gan_dnnl_locked(int (*fn)(void *arg, void *engine, void *stream), void *arg) {
    (void)fn; (void)arg;
    return GAN_DNNL_UNSUPPORTED;
}
bool gan_dnnl_available(void) { return false; }

#endif
