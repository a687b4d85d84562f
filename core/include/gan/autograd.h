// Reverse-mode autograd over a dynamic graph.
//
// The raw kernels (ops.h) never record anything. The gan_ag_* functions here compute with
// them and, when grad mode is on and an input requires grad, record a node on the result:
// the edges to the inputs' nodes, the tensors the backward rule needs (saved with their
// storage version) and the op's parameters. Every node has exactly one output.
//
// Backward rules are written with gan_ag_* ops. Without create_graph the engine turns
// grad mode off while they run, so they are plain kernels and record nothing; with
// create_graph they record, and the gradients can be differentiated again.
//
//     x->requires_grad = true;                           // a leaf
//     gan_ag_unary(&y, GAN_TANH, x);                     // y->grad_fn records tanh
//     gan_ag_reduce(&s, GAN_SUM, y, 0, NULL, false);
//     gan_backward(s, NULL, false, false);               // x->grad = 1 - tanh(x)^2
#ifndef GAN_AUTOGRAD_H
#define GAN_AUTOGRAD_H
#include "gan/ops.h"

#define GAN_NODE_MAX_SAVED 4
#define GAN_NODE_PARAMS_SIZE 288   // the largest op's: binary ops keep two shapes
#define GAN_NODE_PARAMS_ALIGN 16

typedef struct gan_node gan_node;
// Computes the gradients of the node's inputs from the gradient of its output. A rule
// leaves grad_in[i] NULL for an input whose gradient is not needed (gan_node_needs).
typedef int (*gan_backward_fn)(gan_node *n, gan_tensor *grad_out, gan_tensor **grad_in);

typedef struct gan_saved {
    gan_tensor *t;       // input: the tensor itself; output: a detached header
    uint32_t version;    // storage version when saved
    bool is_output;
} gan_saved;

struct gan_node {
    int refcount;
    uint64_t seq;                 // creation order: a valid reverse topological order
    const char *name;
    gan_backward_fn backward;
    int n_next;                   // one edge per input
    gan_node **next;              // node receiving input i's gradient (NULL: none needed)
    uint64_t needs;               // bit i: input i's gradient is wanted in this pass
    uint64_t visit;               // the last backward pass that reached this node
    gan_saved saved[GAN_NODE_MAX_SAVED];
    int n_saved;
    bool released;                // saved tensors freed by a backward pass
    gan_tensor *aux;              // extra tensor a rule needs (indices, a weight, ...)
    gan_dtype out_dtype;          // the output's metadata, for checks
    int out_ndim;
    int64_t out_size[GAN_MAX_DIMS];
    gan_tensor *leaf;             // accumulate nodes: the leaf (weak pointer)
    int n_hooks;
    int *hooks;                   // hook ids, run by the caller of gan_backward_step
    // The op's parameters: one struct per op, reached through GAN_NODE_PARAMS.
    _Alignas(GAN_NODE_PARAMS_ALIGN) unsigned char params[GAN_NODE_PARAMS_SIZE];
};

// The parameters of node n as the op's own struct T (a pointer into the node, zeroed when
// the node is made). Each op defines T next to its rule and uses only that type for its
// nodes; the size and alignment are checked at compile time:
//
//     struct clamp_params { double lo, hi; };
//     struct clamp_params *p = GAN_NODE_PARAMS(n, struct clamp_params);
#define GAN_NODE_PARAMS(n, T)                                                            \
    ((void)sizeof(struct {                                                               \
        _Static_assert(sizeof(T) <= GAN_NODE_PARAMS_SIZE, "op parameters too large");    \
        _Static_assert(_Alignof(T) <= GAN_NODE_PARAMS_ALIGN, "op parameters misaligned"); \
        int check_;                                                                      \
    }),                                                                                  \
     (T *)(void *)(n)->params)

// ---- grad mode (thread-local)
bool gan_grad_enabled(void);
void gan_set_grad_enabled(bool on);

// ---- tensors and nodes
int gan_set_requires_grad(gan_tensor *t, bool on);
bool gan_is_leaf(const gan_tensor *t);
// A new header sharing t's storage, with no grad history.
int gan_detach(gan_tensor **out, const gan_tensor *t);
gan_node *gan_node_retain(gan_node *n);
void gan_node_release(gan_node *n);
// The node a gradient for t flows into: t->grad_fn, or the leaf's accumulate node (made
// on first use). NULL if t does not require grad, or with the error set if out of memory.
gan_node *gan_grad_target(gan_tensor *t);
// Registers hook `id` to run on the gradient of t (see gan_backward_step).
int gan_register_hook(gan_tensor *t, int id);

// ---- recording (used by gan_ag_* ops)
//
// Every differentiable op records the same way, after its forward kernel made *out:
//
//     gan_node *n;
//     const gan_tensor *ins[1] = {a};
//     if (gan_record(&n, out, "clamp", clamp_backward, 1, ins) != GAN_OK) return GAN_ERR;
//     if (!n) return GAN_OK;                      // nothing to record
//     ...                                         // the op's parameters
//     return gan_record_done(out, gan_node_save(n, a, false));
//
// gan_record creates the node of *out when grad mode is on and an input requires grad;
// *node is NULL when nothing needs recording. On failure it releases *out (and sets it to
// NULL) and returns GAN_ERR with a message naming the op, so the caller only returns.
int gan_record(gan_node **node, gan_tensor **out, const char *name, gan_backward_fn fn, int n,
               const gan_tensor *const *inputs);
// Ends a recording with the status of the op's own steps after gan_record (saving
// tensors, making n->aux): on failure releases *out, and its node with it, and makes the
// message name the op. Returns rc.
int gan_record_done(gan_tensor **out, int rc);
// Saves t for the backward rule (at most GAN_NODE_MAX_SAVED per node); is_output for the
// op's own result, which is kept as a detached header (see gan_node_unpack).
int gan_node_save(gan_node *n, const gan_tensor *t, bool is_output);
// A saved tensor for the rule to use (new reference). Fails if it was modified in place
// since it was saved or the graph was freed.
int gan_node_unpack(gan_node *n, int k, gan_tensor **out);
static inline bool gan_node_needs(const gan_node *n, int i) {
    return i >= 64 || ((n->needs >> i) & 1);
}
// The storage version counter: every in-place kernel bumps it.
static inline void gan_bump_version(gan_tensor *t) {
    __atomic_add_fetch(&t->storage->version, 1, __ATOMIC_RELAXED);
}

// ---- the engine
typedef struct gan_backward_run gan_backward_run;
typedef enum { GAN_RUN_DONE = 0, GAN_RUN_HOOK = 1 } gan_run_status;
// Starts a backward pass from outputs[k] with gradients grad_outputs[k] (NULL entries: a
// one-element output gets 1). With n_inputs > 0 the gradients of those inputs are
// captured (gan.grad) and leaves' .grad is left alone; with n_inputs == 0 they are
// accumulated into the leaves' .grad.
int gan_backward_start(gan_backward_run **run, int n, gan_tensor *const *outputs,
                       gan_tensor *const *grad_outputs, int n_inputs,
                       gan_tensor *const *inputs, bool create_graph, bool retain_graph);
// Runs until finished (GAN_RUN_DONE) or until a hooked gradient is ready (GAN_RUN_HOOK:
// *hook_id and *grad, a borrowed reference, tell which; call gan_backward_replace to
// substitute a new gradient, then step again). GAN_ERR on failure.
int gan_backward_step(gan_backward_run *run, int *hook_id, gan_tensor **grad);
int gan_backward_replace(gan_backward_run *run, gan_tensor *grad);
// The captured gradients (new references; NULL where none reached the input).
void gan_backward_results(gan_backward_run *run, gan_tensor **grads);
void gan_backward_free(gan_backward_run *run);
// Convenience without hooks: loss->backward().
int gan_backward(gan_tensor *output, gan_tensor *grad_output, bool create_graph,
                 bool retain_graph);

// ---- differentiable ops (same arguments as the raw kernels in ops.h / tensor.h)
int gan_ag_unary(gan_tensor **out, gan_unop op, gan_tensor *a);
int gan_ag_binary(gan_tensor **out, gan_binop op, gan_tensor *a, gan_tensor *b);
int gan_ag_binary_scalar(gan_tensor **out, gan_binop op, gan_tensor *a, double s, bool reversed);
int gan_ag_clamp(gan_tensor **out, gan_tensor *a, double lo, double hi);
// x > 0 ? x : slope x; the gradient at 0 is slope (as PyTorch).
int gan_ag_leaky_relu(gan_tensor **out, gan_tensor *a, double slope);
// x > 0 ? x : a x, a (C) per channel (dim 1 of x) or (1) shared; fused both ways (prelu.c).
int gan_ag_prelu(gan_tensor **out, gan_tensor *x, gan_tensor *a);
// tanh(a) sigmoid(b), a and b the halves of x's channels (dim 1): (N, 2C, ...) -> (N, C, ...);
// fused both ways (gate.c).
int gan_ag_gate(gan_tensor **out, gan_tensor *x);
int gan_ag_where(gan_tensor **out, gan_tensor *cond, gan_tensor *a, gan_tensor *b);
int gan_ag_masked_fill(gan_tensor **out, gan_tensor *a, gan_tensor *mask, double v);
int gan_ag_reduce(gan_tensor **out, gan_redop op, gan_tensor *a, int ndims, const int *dims,
                  bool keepdim);
int gan_ag_var(gan_tensor **out, gan_tensor *a, int ndims, const int *dims, bool unbiased,
               bool keepdim);
int gan_ag_std(gan_tensor **out, gan_tensor *a, int ndims, const int *dims, bool unbiased,
               bool keepdim);
int gan_ag_norm(gan_tensor **out, gan_tensor *a, double p, int ndims, const int *dims,
                bool keepdim);
int gan_ag_max_dim(gan_tensor **values, gan_tensor **indices, gan_tensor *a, int dim,
                   bool keepdim, bool is_min);
int gan_ag_max_all(gan_tensor **out, gan_tensor *a, bool is_min);
int gan_ag_matmul(gan_tensor **out, gan_tensor *a, gan_tensor *b);
int gan_ag_view(gan_tensor **out, gan_tensor *t, int ndim, const int64_t *size);
int gan_ag_reshape(gan_tensor **out, gan_tensor *t, int ndim, const int64_t *size);
int gan_ag_transpose(gan_tensor **out, gan_tensor *t, int d0, int d1);
int gan_ag_permute(gan_tensor **out, gan_tensor *t, int ndim, const int *dims);
int gan_ag_narrow(gan_tensor **out, gan_tensor *t, int dim, int64_t start, int64_t len);
int gan_ag_select(gan_tensor **out, gan_tensor *t, int dim, int64_t index);
int gan_ag_expand(gan_tensor **out, gan_tensor *t, int ndim, const int64_t *size);
int gan_ag_squeeze(gan_tensor **out, gan_tensor *t, int dim, bool all);
int gan_ag_unsqueeze(gan_tensor **out, gan_tensor *t, int dim);
int gan_ag_flatten(gan_tensor **out, gan_tensor *t, int start_dim, int end_dim);
int gan_ag_contiguous(gan_tensor **out, gan_tensor *t);
int gan_ag_clone(gan_tensor **out, gan_tensor *t);
int gan_ag_to_dtype(gan_tensor **out, gan_tensor *t, gan_dtype dt);
int gan_ag_cat(gan_tensor **out, int n, gan_tensor *const *ts, int dim);
int gan_ag_index_select(gan_tensor **out, gan_tensor *a, int dim, gan_tensor *index);
// out = a with src's slices added at rows index along dim (index_select's adjoint).
int gan_ag_index_add(gan_tensor **out, gan_tensor *a, int dim, gan_tensor *index,
                     gan_tensor *src);
int gan_ag_gather(gan_tensor **out, gan_tensor *a, int dim, gan_tensor *index);
int gan_ag_scatter_add(gan_tensor **out, gan_tensor *a, int dim, gan_tensor *index,
                       gan_tensor *src);
// Normalisation of x (N, C, *) with its own statistics (biased variance), then the optional
// affine weight and bias (C): batch norm (per_sample false: one statistic per channel over
// N and the spatial dims) or instance norm (per_sample true: one per sample and channel).
// mean_out / var_out (either may be NULL) receive the statistics, (C) or (N, C), untracked,
// for running averages. One fused kernel each way; double backward supported.
int gan_ag_batch_norm(gan_tensor **y, gan_tensor **mean_out, gan_tensor **var_out, gan_tensor *x,
                      gan_tensor *w, gan_tensor *b, bool per_sample, double eps);
// Sums g down to `size` (undoes broadcasting).
int gan_ag_sum_to(gan_tensor **out, gan_tensor *g, int ndim, const int64_t *size);

#endif
