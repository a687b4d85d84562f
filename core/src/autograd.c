// The autograd engine: nodes, saved tensors, grad mode and the backward pass.
#include "gan/autograd.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

static _Thread_local bool grad_disabled = false;
static uint64_t next_seq = 1;
static uint64_t next_visit = 1;

bool gan_grad_enabled(void) { return !grad_disabled; }
void gan_set_grad_enabled(bool on) { grad_disabled = !on; }

// ---- nodes

// NULL when out of memory; the caller sets the message.
static gan_node *node_new(const char *name, gan_backward_fn fn, int n_next) {
    gan_node *n = gan_calloc(1, sizeof *n);
    if (!n) return NULL;
    n->next = n_next ? gan_calloc((size_t)n_next, sizeof *n->next) : NULL;
    if (n_next && !n->next) { free(n); return NULL; }
    n->refcount = 1;
    n->seq = __atomic_fetch_add(&next_seq, 1, __ATOMIC_RELAXED);
    n->name = name;
    n->backward = fn;
    n->n_next = n_next;
    n->needs = ~(uint64_t)0;
    return n;
}

gan_node *gan_node_retain(gan_node *n) {
    if (n) __atomic_add_fetch(&n->refcount, 1, __ATOMIC_RELAXED);
    return n;
}

static void release_saved(gan_node *n) {
    for (int k = 0; k < n->n_saved; k++) { gan_tensor_release(n->saved[k].t); n->saved[k].t = NULL; }
    gan_tensor_release(n->aux);
    n->aux = NULL;
}

void gan_node_release(gan_node *n) {
    // Iterative over chains so that a long graph cannot overflow the C stack.
    while (n && __atomic_sub_fetch(&n->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
        release_saved(n);
        gan_node *last = NULL;
        for (int i = 0; i < n->n_next; i++) {
            if (!n->next[i]) continue;
            if (last) gan_node_release(last);
            last = n->next[i];
        }
        free(n->next);
        free(n->hooks);
        free(n);
        n = last;
    }
}

void gan_autograd_clear(gan_tensor *t) {
    gan_tensor_release(t->grad);
    gan_node_release(t->grad_fn);
    if (t->grad_acc) {
        t->grad_acc->leaf = NULL;
        gan_node_release(t->grad_acc);
    }
    t->grad = NULL;
    t->grad_fn = NULL;
    t->grad_acc = NULL;
}

bool gan_is_leaf(const gan_tensor *t) { return t->grad_fn == NULL; }

int gan_set_requires_grad(gan_tensor *t, bool on) {
    if (t->grad_fn) {
        if (on) return GAN_OK;
        return gan_error("requires_grad_: only leaf tensors can change requires_grad; "
                         "use detach() to get a tensor without history");
    }
    if (on && !gan_dtype_is_float(t->dtype))
        return gan_error("requires_grad_: only float tensors can require gradients, got %s",
                         gan_dtype_name(t->dtype));
    t->requires_grad = on;
    return GAN_OK;
}

int gan_detach(gan_tensor **out, const gan_tensor *t) {
    return gan_view(out, t, t->ndim, t->size);   // a view carries no autograd state
}

gan_node *gan_grad_target(gan_tensor *t) {
    if (t->grad_fn) return t->grad_fn;
    if (!t->requires_grad) return NULL;
    if (!t->grad_acc) {
        gan_node *n = node_new("accumulate_grad", NULL, 0);
        if (!n) { gan_error("accumulate_grad: out of memory"); return NULL; }
        n->leaf = t;
        n->out_dtype = t->dtype;
        n->out_ndim = t->ndim;
        memcpy(n->out_size, t->size, sizeof n->out_size);
        t->grad_acc = n;
    }
    return t->grad_acc;
}

int gan_register_hook(gan_tensor *t, int id) {
    if (!t->requires_grad)
        return gan_error("register_hook: the tensor does not require grad");
    gan_node *n = gan_grad_target(t);
    if (!n) return gan_error("register_hook: out of memory");
    int *h = gan_realloc(n->hooks, sizeof *h * (size_t)(n->n_hooks + 1));
    if (!h) return gan_error("register_hook: out of memory");
    h[n->n_hooks++] = id;
    n->hooks = h;
    return GAN_OK;
}

// ---- recording

int gan_record(gan_node **node, gan_tensor **out, const char *name, gan_backward_fn fn, int n,
               const gan_tensor *const *inputs) {
    *node = NULL;
    if (grad_disabled) return GAN_OK;
    bool any = false;
    for (int i = 0; i < n; i++) any = any || (inputs[i] && inputs[i]->requires_grad);
    if (!any) return GAN_OK;
    // Targets first: a leaf's accumulate node must be older than its consumers.
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad && !gan_grad_target((gan_tensor *)inputs[i])) goto oom;
    gan_node *nd = node_new(name, fn, n);
    if (!nd) goto oom;
    for (int i = 0; i < n; i++) {
        gan_tensor *in = (gan_tensor *)inputs[i];
        if (in && in->requires_grad) nd->next[i] = gan_node_retain(gan_grad_target(in));
    }
    gan_tensor *o = *out;
    nd->out_dtype = o->dtype;
    nd->out_ndim = o->ndim;
    memcpy(nd->out_size, o->size, sizeof nd->out_size);
    gan_node_release(o->grad_fn);
    o->grad_fn = nd;
    o->requires_grad = true;
    *node = nd;
    return GAN_OK;
oom:
    gan_tensor_release(*out);
    *out = NULL;
    return gan_error("%s: out of memory recording the graph", name);
}

int gan_record_done(gan_tensor **out, int rc) {
    if (rc == GAN_OK) return GAN_OK;
    if ((*out)->grad_fn) gan_error_context((*out)->grad_fn->name);
    gan_tensor_release(*out);
    *out = NULL;
    return GAN_ERR;
}

int gan_node_save(gan_node *n, const gan_tensor *t, bool is_output) {
    if (n->n_saved >= GAN_NODE_MAX_SAVED)
        return gan_error("%s: too many saved tensors (internal error)", n->name);
    gan_saved *s = &n->saved[n->n_saved];
    if (is_output) {
        // A detached header: the output holds this node, so holding the output back
        // would be a reference cycle.
        if (gan_detach(&s->t, t) != GAN_OK)
            return gan_error("%s: out of memory saving a tensor for backward", n->name);
    } else {
        s->t = gan_tensor_retain((gan_tensor *)t);
    }
    s->version = t->storage->version;
    s->is_output = is_output;
    n->n_saved++;
    return GAN_OK;
}

int gan_node_unpack(gan_node *n, int k, gan_tensor **out) {
    if (n->released)
        return gan_error("%s: backward through a graph a second time, but its saved tensors "
                         "were freed after the first backward; pass retain_graph=true the "
                         "first time", n->name);
    gan_saved *s = &n->saved[k];
    if (s->t->storage->version != s->version)
        return gan_error("%s: a tensor needed for backward was modified by an in-place "
                         "operation (its version is %u, expected %u); clone it before "
                         "changing it", n->name, s->t->storage->version, s->version);
    if (!s->is_output) { *out = gan_tensor_retain(s->t); return GAN_OK; }
    gan_tensor *v;
    if (gan_detach(&v, s->t) != GAN_OK) return GAN_ERR;
    v->grad_fn = gan_node_retain(n);   // differentiable again when create_graph is on
    v->requires_grad = true;
    *out = v;
    return GAN_OK;
}

// ---- the engine

struct gan_backward_run {
    int count;                 // reachable nodes, sorted by seq descending
    gan_node **nodes;
    gan_tensor **buf;          // gradient flowing into nodes[k]
    int pos;                   // next node to run
    int hook_at;               // hooks of nodes[pos] already run
    int n_inputs;
    gan_node **targets;        // gan.grad: capture the gradient into these
    gan_tensor **captured;
    bool create_graph, retain_graph, accumulate;
    bool prev_grad_mode;
};

static int cmp_seq_desc(const void *a, const void *b) {
    uint64_t x = (*(gan_node *const *)a)->seq, y = (*(gan_node *const *)b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int index_of(const gan_backward_run *r, const gan_node *n) {
    int lo = 0, hi = r->count - 1;   // binary search by seq (descending)
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (r->nodes[mid] == n) return mid;
        if (r->nodes[mid]->seq > n->seq) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

// Adds g into the buffer of node k (taking over the caller's reference to g).
static int add_to_buffer(gan_backward_run *r, int k, gan_tensor *g) {
    if (!r->buf[k]) { r->buf[k] = g; return GAN_OK; }
    gan_tensor *sum;
    int rc = gan_ag_binary(&sum, GAN_ADD, r->buf[k], g);
    gan_tensor_release(g);
    if (rc != GAN_OK) return GAN_ERR;
    gan_tensor_release(r->buf[k]);
    r->buf[k] = sum;
    return GAN_OK;
}

// Appends x to a growing array.
static int append(gan_node ***arr, int *len, int *cap, gan_node *x) {
    if (*len == *cap) {
        gan_node **a = gan_realloc(*arr, sizeof **arr * (size_t)*cap * 2);
        if (!a) return GAN_ERR;
        *arr = a;
        *cap *= 2;
    }
    (*arr)[(*len)++] = x;
    return GAN_OK;
}

// Every node reachable from the outputs, unordered (iterative DFS; `visit` marks the
// nodes this pass has seen). The caller frees *out.
static int collect(gan_node ***out, int *count, int n, gan_tensor *const *outputs) {
    uint64_t epoch = __atomic_fetch_add(&next_visit, 1, __ATOMIC_RELAXED);
    int cap = 64, len = 0, scap = 64, sp = 0;
    gan_node **nodes = gan_malloc(sizeof *nodes * (size_t)cap);
    gan_node **stack = gan_malloc(sizeof *stack * (size_t)scap);
    if (!nodes || !stack) goto oom;
    for (int k = 0; k < n; k++) {
        gan_tensor *o = outputs[k];
        if (!o->requires_grad) {
            gan_error("backward: output %d does not require grad and has no grad_fn "
                      "(did you compute it under no_grad or from detached tensors?)", k + 1);
            goto fail;
        }
        gan_node *root = gan_grad_target(o);
        if (!root) goto oom;
        if (root->visit == epoch) continue;
        root->visit = epoch;
        if (append(&stack, &sp, &scap, root) != GAN_OK) goto oom;
    }
    while (sp > 0) {
        gan_node *x = stack[--sp];
        if (append(&nodes, &len, &cap, x) != GAN_OK) goto oom;
        for (int i = 0; i < x->n_next; i++) {
            gan_node *y = x->next[i];
            if (!y || y->visit == epoch) continue;
            y->visit = epoch;
            if (append(&stack, &sp, &scap, y) != GAN_OK) goto oom;
        }
    }
    free(stack);
    *out = nodes;
    *count = len;
    return GAN_OK;
oom:
    gan_error("backward: out of memory");
fail:
    free(nodes);
    free(stack);
    return GAN_ERR;
}

void gan_backward_free(gan_backward_run *r) {
    if (!r) return;
    for (int k = 0; k < r->count; k++) {
        if (r->buf) gan_tensor_release(r->buf[k]);
        gan_node_release(r->nodes[k]);
    }
    for (int i = 0; r->captured && i < r->n_inputs; i++) gan_tensor_release(r->captured[i]);
    gan_set_grad_enabled(r->prev_grad_mode);
    free(r->nodes); free(r->buf); free(r->targets); free(r->captured);
    free(r);
}

int gan_backward_start(gan_backward_run **run, int n, gan_tensor *const *outputs,
                       gan_tensor *const *grad_outputs, int n_inputs,
                       gan_tensor *const *inputs, bool create_graph, bool retain_graph) {
    gan_backward_run *r = gan_calloc(1, sizeof *r);
    if (!r) return gan_error("backward: out of memory");
    r->create_graph = create_graph;
    r->retain_graph = retain_graph || create_graph;
    r->accumulate = n_inputs == 0;
    r->n_inputs = n_inputs;
    r->prev_grad_mode = gan_grad_enabled();
    r->targets = gan_calloc((size_t)(n_inputs + 1), sizeof *r->targets);
    r->captured = gan_calloc((size_t)(n_inputs + 1), sizeof *r->captured);
    if (!r->targets || !r->captured) { gan_backward_free(r); return gan_error("backward: out of memory"); }
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]->requires_grad) {
            gan_backward_free(r);
            return gan_error("grad: input %d does not require grad", i + 1);
        }
        r->targets[i] = gan_grad_target(inputs[i]);
        if (!r->targets[i]) { gan_backward_free(r); return gan_error("grad: out of memory"); }
    }
    gan_node **nodes;
    int count;
    if (collect(&nodes, &count, n, outputs) != GAN_OK) { gan_backward_free(r); return GAN_ERR; }
    qsort(nodes, (size_t)count, sizeof *nodes, cmp_seq_desc);
    for (int k = 0; k < count; k++) gan_node_retain(nodes[k]);
    r->nodes = nodes;
    r->count = count;
    r->buf = gan_calloc((size_t)count + 1, sizeof *r->buf);
    if (!r->buf) { gan_backward_free(r); return gan_error("backward: out of memory"); }

    // Which nodes lead somewhere useful: to a leaf to accumulate into, or to a target.
    // Nodes run in decreasing seq, so a reverse sweep sees every successor first.
    bool *useful = gan_calloc((size_t)count + 1, sizeof *useful);
    if (!useful) { gan_backward_free(r); return gan_error("backward: out of memory"); }
    for (int k = count - 1; k >= 0; k--) {
        gan_node *x = nodes[k];
        bool u = false;
        if (r->accumulate) u = x->leaf != NULL;
        for (int i = 0; i < n_inputs; i++) u = u || r->targets[i] == x;
        uint64_t needs = 0;
        for (int i = 0; i < x->n_next; i++) {
            if (!x->next[i]) continue;
            int j = index_of(r, x->next[i]);
            if (j >= 0 && useful[j]) { u = true; if (i < 64) needs |= (uint64_t)1 << i; }
        }
        x->needs = needs;
        useful[k] = u;
    }
    free(useful);

    // Seed the output gradients.
    for (int k = 0; k < n; k++) {
        gan_tensor *o = outputs[k], *g = grad_outputs ? grad_outputs[k] : NULL;
        char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
        if (!g) {
            if (gan_numel(o) != 1) {
                gan_backward_free(r);
                return gan_error("backward: output of shape %s is not a scalar; pass a "
                                 "gradient of the same shape", gan_shape_str(a, sizeof a, o->ndim, o->size));
            }
            if (gan_full(&g, o->dtype, o->ndim, o->size, 1.0) != GAN_OK) { gan_backward_free(r); return GAN_ERR; }
        } else {
            if (!gan_same_shape(g, o) || g->dtype != o->dtype) {
                gan_backward_free(r);
                return gan_error("backward: gradient of shape %s (%s) does not match output "
                                 "of shape %s (%s)", gan_shape_str(a, sizeof a, g->ndim, g->size),
                                 gan_dtype_name(g->dtype), gan_shape_str(b, sizeof b, o->ndim, o->size),
                                 gan_dtype_name(o->dtype));
            }
            gan_tensor_retain(g);
        }
        int j = index_of(r, gan_grad_target(o));
        if (add_to_buffer(r, j, g) != GAN_OK) { gan_backward_free(r); return GAN_ERR; }
    }
    gan_set_grad_enabled(create_graph);
    *run = r;
    return GAN_OK;
}

// Adds g into a leaf's .grad.
static int accumulate(gan_backward_run *r, gan_tensor *leaf, gan_tensor *g) {
    if (!leaf->grad) {
        // Take the buffer if nothing else can see it; otherwise copy (with create_graph a
        // recorded copy: .grad must not alias the caller's grad_output or a saved tensor,
        // which a later in-place accumulation would change).
        if (g->refcount > 1 || g->storage->refcount > 1 || !gan_is_contiguous(g)) {
            gan_tensor *c;
            if ((r->create_graph ? gan_ag_clone(&c, g) : gan_clone(&c, g)) != GAN_OK) return GAN_ERR;
            leaf->grad = c;
        } else {
            leaf->grad = gan_tensor_retain(g);
        }
        return GAN_OK;
    }
    if (r->create_graph || leaf->grad->requires_grad) {
        gan_tensor *sum;
        if (gan_ag_binary(&sum, GAN_ADD, leaf->grad, g) != GAN_OK) return GAN_ERR;
        gan_tensor_release(leaf->grad);
        leaf->grad = sum;
        return GAN_OK;
    }
    gan_bump_version(leaf->grad);
    return gan_binary_(leaf->grad, GAN_ADD, g);
}

int gan_backward_step(gan_backward_run *r, int *hook_id, gan_tensor **grad) {
    for (; r->pos < r->count; r->pos++, r->hook_at = 0) {
        int k = r->pos;
        gan_node *x = r->nodes[k];
        gan_tensor *g = r->buf[k];
        if (!g) continue;
        if (r->hook_at < x->n_hooks) {
            *hook_id = x->hooks[r->hook_at++];
            *grad = g;
            return GAN_RUN_HOOK;
        }
        for (int i = 0; i < r->n_inputs; i++)
            if (r->targets[i] == x && !r->captured[i]) r->captured[i] = gan_tensor_retain(g);
        if (x->leaf) {
            if (r->accumulate && accumulate(r, x->leaf, g) != GAN_OK) return GAN_ERR;
        } else if (x->needs) {
            gan_tensor **gin = gan_calloc((size_t)x->n_next + 1, sizeof *gin);
            if (!gin) return gan_error("backward: out of memory");
            int rc = x->backward(x, g, gin);
            for (int i = 0; i < x->n_next; i++) {
                if (!gin[i]) continue;
                int j = (rc == GAN_OK && x->next[i] && gan_node_needs(x, i)) ? index_of(r, x->next[i]) : -1;
                if (j < 0) { gan_tensor_release(gin[i]); continue; }
                gan_node *y = x->next[i];
                if (gin[i]->ndim != y->out_ndim || memcmp(gin[i]->size, y->out_size, sizeof(int64_t) * (size_t)y->out_ndim) != 0) {
                    char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
                    rc = gan_error("backward of %s: gradient for input %d has shape %s, expected %s "
                                   "(internal error)", x->name, i + 1,
                                   gan_shape_str(a, sizeof a, gin[i]->ndim, gin[i]->size),
                                   gan_shape_str(b, sizeof b, y->out_ndim, y->out_size));
                    gan_tensor_release(gin[i]);
                    continue;
                }
                if (rc == GAN_OK) rc = add_to_buffer(r, j, gin[i]);
                else gan_tensor_release(gin[i]);
            }
            free(gin);
            if (rc != GAN_OK) return GAN_ERR;
        }
        if (!r->retain_graph && !x->leaf) { release_saved(x); x->released = true; }
        gan_tensor_release(r->buf[k]);
        r->buf[k] = NULL;
    }
    return GAN_RUN_DONE;
}

int gan_backward_replace(gan_backward_run *r, gan_tensor *grad) {
    int k = r->pos;
    if (k >= r->count || !r->buf[k]) return gan_error("hook: no gradient to replace");
    gan_tensor *old = r->buf[k];
    char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
    if (!gan_same_shape(grad, old) || grad->dtype != old->dtype)
        return gan_error("hook: returned a gradient of shape %s (%s), expected %s (%s)",
                         gan_shape_str(a, sizeof a, grad->ndim, grad->size), gan_dtype_name(grad->dtype),
                         gan_shape_str(b, sizeof b, old->ndim, old->size), gan_dtype_name(old->dtype));
    r->buf[k] = gan_tensor_retain(grad);
    gan_tensor_release(old);
    return GAN_OK;
}

void gan_backward_results(gan_backward_run *r, gan_tensor **grads) {
    for (int i = 0; i < r->n_inputs; i++) grads[i] = gan_tensor_retain(r->captured[i]);
}

int gan_backward(gan_tensor *output, gan_tensor *grad_output, bool create_graph,
                 bool retain_graph) {
    gan_backward_run *r;
    gan_tensor *go[1] = {grad_output};
    if (gan_backward_start(&r, 1, &output, go, 0, NULL, create_graph, retain_graph) != GAN_OK)
        return GAN_ERR;
    int hook;
    gan_tensor *g;
    int rc;
    while ((rc = gan_backward_step(r, &hook, &g)) == GAN_RUN_HOOK) {}
    gan_backward_free(r);
    return rc == GAN_RUN_DONE ? GAN_OK : GAN_ERR;
}
