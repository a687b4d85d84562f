// The bfloat16 matrix product of gan_matmul under GAN_PREC_BF16: one oneDNN matmul
// primitive per (batch, n, m, k), dense row-major bfloat16 operands (the caller converts
// them), float32 accumulation and result. Primitives are kept in a small cache (most
// recently used first), as the convolutions' are.
#include "conv_dnnl.h"
#include "gan/error.h"
#include "internal.h"

#ifdef GAN_HAVE_DNNL
#include <dnnl.h>
#include <stdlib.h>
#include <string.h>

typedef struct mm_entry {
    int64_t key[4];   // nb, n, m, k
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, b_md, c_md;
    struct mm_entry *next;
} mm_entry;

static mm_entry *cache;   // guarded by gan_dnnl_locked's lock
static int n_cached;
#define MM_CACHE_MAX 64

typedef struct {
    int64_t key[4];
    const uint16_t *A, *B;
    float *C;
} mm_call;

static void entry_free(mm_entry *e) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    free(e);
}

// Builds the primitive for key; GAN_DNNL_UNSUPPORTED when oneDNN has no implementation.
static int entry_build(mm_entry **out, const int64_t *key, dnnl_engine_t engine) {
    mm_entry *e = gan_calloc(1, sizeof *e);
    if (!e) return gan_error("matmul (oneDNN): out of memory");
    memcpy(e->key, key, sizeof e->key);
    dnnl_dims_t ad = {key[0], key[1], key[3]}, bd = {key[0], key[3], key[2]}, cd = {key[0], key[1], key[2]};
    dnnl_memory_desc_init_by_tag(&e->a_md, 3, ad, dnnl_bf16, dnnl_abc);
    dnnl_memory_desc_init_by_tag(&e->b_md, 3, bd, dnnl_bf16, dnnl_abc);
    dnnl_memory_desc_init_by_tag(&e->c_md, 3, cd, dnnl_f32, dnnl_abc);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_matmul_desc_init(&md, &e->a_md, &e->b_md, NULL, &e->c_md) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &md, NULL, engine, NULL) != dnnl_success) {
        entry_free(e);
        return GAN_DNNL_UNSUPPORTED;
    }
    dnnl_status_t st = dnnl_primitive_create(&e->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        e->prim = NULL;
        entry_free(e);
        return gan_error("matmul (oneDNN): primitive creation failed with status %d", (int)st);
    }
    *out = e;
    return GAN_OK;
}

static int entry_get(mm_entry **out, const int64_t *key, dnnl_engine_t engine) {
    mm_entry **pp = &cache;
    for (mm_entry *e = cache; e; pp = &e->next, e = e->next)
        if (!memcmp(e->key, key, sizeof e->key)) {
            *pp = e->next;
            e->next = cache;
            cache = e;
            *out = e;
            return GAN_OK;
        }
    mm_entry *e;
    int rc = entry_build(&e, key, engine);
    if (rc != GAN_OK) return rc;
    e->next = cache;
    cache = e;
    if (++n_cached > MM_CACHE_MAX) {   // drop the least recently used
        mm_entry *p = cache;
        while (p->next->next) p = p->next;
        entry_free(p->next);
        p->next = NULL;
        n_cached--;
    }
    *out = e;
    return GAN_OK;
}

static int run_locked(void *arg, void *engine_, void *stream_) {
    mm_call *c = arg;
    dnnl_engine_t engine = engine_;
    dnnl_stream_t stream = stream_;
    mm_entry *e;
    int rc = entry_get(&e, c->key, engine);
    if (rc != GAN_OK) return rc;
    dnnl_memory_t mem[3] = {0};
    dnnl_status_t st;
    if ((st = dnnl_memory_create(&mem[0], &e->a_md, engine, (void *)c->A)) == dnnl_success &&
        (st = dnnl_memory_create(&mem[1], &e->b_md, engine, (void *)c->B)) == dnnl_success &&
        (st = dnnl_memory_create(&mem[2], &e->c_md, engine, c->C)) == dnnl_success) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, mem[0]}, {DNNL_ARG_WEIGHTS, mem[1]}, {DNNL_ARG_DST, mem[2]}};
        st = dnnl_primitive_execute(e->prim, stream, 3, args);
        if (st == dnnl_success) st = dnnl_stream_wait(stream);
    }
    for (int i = 0; i < 3; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    return st == dnnl_success ? GAN_OK : gan_error("matmul (oneDNN): execution failed with status %d", (int)st);
}

int gan_dnnl_matmul_bf16(int64_t nb, int64_t n, int64_t m, int64_t k, const uint16_t *A, const uint16_t *B,
                         float *C) {
    mm_call c = {{nb, n, m, k}, A, B, C};
    return gan_dnnl_locked(run_locked, &c);
}

#else   // built without oneDNN

int gan_dnnl_matmul_bf16(int64_t nb, int64_t n, int64_t m, int64_t k, const uint16_t *A, const uint16_t *B,
                         float *C) {
    (void)nb; (void)n; (void)m; (void)k; (void)A; (void)B; (void)C;
    return GAN_DNNL_UNSUPPORTED;
}

#endif
