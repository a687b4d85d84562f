// Lua glue for gan/autograd.h: x:backward(), gan.grad, hooks, grad mode, the autograd
// properties of tensors (x.grad, x.requires_grad, ...), and the fused differentiable ops
// declared there (batch norm, leaky relu).
#include "bindings.h"
#include <string.h>

// Registry table: hook id -> Lua function.
static const char *HOOKS = "gan.hooks";

// ---- properties (gl_tables getters and setters)

static int p_requires_grad(lua_State *L) { lua_pushboolean(L, gl_check_tensor(L, 1)->requires_grad); return 1; }
static int p_grad(lua_State *L) { gl_push_borrowed(L, gl_check_tensor(L, 1)->grad); return 1; }
static int p_is_leaf(lua_State *L) { lua_pushboolean(L, gl_check_tensor(L, 1)->grad_fn == NULL); return 1; }
static int p_grad_fn(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (t->grad_fn) lua_pushstring(L, t->grad_fn->name); else lua_pushnil(L);
    return 1;
}

// x.grad = g (a tensor of x's shape and dtype, or nil)
static int s_grad(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    gan_tensor *g = lua_isnil(L, 3) ? NULL : gl_check_tensor(L, 3);
    if (g && (!gan_same_shape(g, t) || g->dtype != t->dtype)) {
        char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
        luaL_error(L, "grad: assigned gradient %s (%s) does not match the tensor %s (%s)",
                   gan_shape_str(a, sizeof a, g->ndim, g->size), gan_dtype_name(g->dtype),
                   gan_shape_str(b, sizeof b, t->ndim, t->size), gan_dtype_name(t->dtype));
    }
    gan_tensor_release(t->grad);
    t->grad = gan_tensor_retain(g);
    return 0;
}

static int s_requires_grad(lua_State *L) {
    if (gan_set_requires_grad(gl_check_tensor(L, 1), lua_toboolean(L, 3)) != GAN_OK) gl_fail(L);
    return 0;
}

// ---- methods

static int m_requires_grad_(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (gan_set_requires_grad(t, lua_isnoneornil(L, 2) ? true : lua_toboolean(L, 2)) != GAN_OK)
        return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int m_detach(lua_State *L) {
    gan_tensor *r;
    if (gan_detach(&r, gl_check_tensor(L, 1)) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, r);
    return 1;
}

static int m_zero_grad(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    gan_tensor_release(t->grad);
    t->grad = NULL;
    return 0;
}

static bool opt_bool(lua_State *L, int idx, const char *key, bool def) {
    if (lua_type(L, idx) != LUA_TTABLE || gl_test_tensor(L, idx)) return def;
    lua_getfield(L, idx, key);
    bool v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}


// Runs a backward pass to its end, calling Lua hooks as the engine asks for them.
// On a Lua error inside a hook the run is freed and the error re-raised.
static void drive(lua_State *L, gan_backward_run *run) {
    for (;;) {
        int id;
        gan_tensor *g;
        int st = gan_backward_step(run, &id, &g);
        if (st == GAN_RUN_DONE) return;
        if (st != GAN_RUN_HOOK) { gan_backward_free(run); gl_fail(L); }
        lua_getfield(L, LUA_REGISTRYINDEX, HOOKS);
        lua_rawgeti(L, -1, id);
        gl_push_borrowed(L, g);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) { gan_backward_free(run); lua_error(L); }
        gan_tensor *r = gl_test_tensor(L, -1);
        if (!r && !lua_isnil(L, -1)) {
            gan_backward_free(run);
            luaL_error(L, "hook: must return nil or a tensor, got %s", luaL_typename(L, -1));
        }
        if (r && gan_backward_replace(run, r) != GAN_OK) { gan_backward_free(run); gl_fail(L); }
        lua_pop(L, 2);
    }
}

// x:backward([grad], [{retain_graph =, create_graph =}])
static int m_backward(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    gan_tensor *g = gl_test_tensor(L, 2);
    // backward(g, opts), backward(nil, opts) or backward(opts)
    int o = (g || (lua_isnil(L, 2) && !lua_isnone(L, 3))) ? 3 : 2;
    if (!g && !lua_isnoneornil(L, 2) && !lua_istable(L, 2))
        return luaL_error(L, "backward: expected a gradient tensor or an options table, got %s", luaL_typename(L, 2));
    static const char *const known[] = {"retain_graph", "create_graph", NULL};
    gl_check_opts(L, o, known, "backward");
    bool create = opt_bool(L, o, "create_graph", false);
    bool retain = opt_bool(L, o, "retain_graph", create);
    gan_backward_run *run;
    gan_tensor *gs[1] = {g};
    if (gan_backward_start(&run, 1, &t, gs, 0, NULL, create, retain) != GAN_OK) return gl_fail(L);
    drive(L, run);
    gan_backward_free(run);
    return 0;
}

static int m_register_hook(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_getfield(L, LUA_REGISTRYINDEX, HOOKS);
    int id = (int)luaL_len(L, -1) + 1;
    if (gan_register_hook(t, id) != GAN_OK) return gl_fail(L);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, id);
    return 0;
}

// A tensor or a list of tensors at idx, as an array (kept alive by the Lua values).
static int tensor_list(lua_State *L, int idx, gan_tensor **out, int max, const char *what) {
    gan_tensor *t = gl_test_tensor(L, idx);
    if (t) { out[0] = t; return 1; }
    if (!lua_istable(L, idx)) luaL_error(L, "grad: %s must be a tensor or a list of tensors", what);
    int n = (int)luaL_len(L, idx);
    if (n < 1 || n > max) luaL_error(L, "grad: %s must hold 1 to %d tensors, got %d", what, max, n);
    for (int i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        out[i] = gl_test_tensor(L, -1);
        if (!out[i]) luaL_error(L, "grad: %s[%d] is not a tensor", what, i + 1);
        lua_pop(L, 1);
    }
    return n;
}

#define MAX_GRAD_ARGS 256

// gan.grad(outputs, inputs, {grad_outputs =, create_graph =, retain_graph =, allow_unused =})
static int f_grad(lua_State *L) {
    static const char *const known[] = {"grad_outputs", "create_graph", "retain_graph", "allow_unused", NULL};
    gl_check_opts(L, 3, known, "grad");
    gan_tensor **outs = lua_newuserdatauv(L, sizeof(gan_tensor *) * MAX_GRAD_ARGS * 3, 0);
    gan_tensor **ins = outs + MAX_GRAD_ARGS, **gos = outs + 2 * MAX_GRAD_ARGS;
    int no = tensor_list(L, 1, outs, MAX_GRAD_ARGS, "outputs");
    int ni = tensor_list(L, 2, ins, MAX_GRAD_ARGS, "inputs");
    memset(gos, 0, sizeof(gan_tensor *) * MAX_GRAD_ARGS);
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "grad_outputs");
        if (!lua_isnil(L, -1)) {
            int ng = tensor_list(L, lua_gettop(L), gos, MAX_GRAD_ARGS, "grad_outputs");
            if (ng != no) return luaL_error(L, "grad: %d grad_outputs for %d outputs", ng, no);
        }
        lua_pop(L, 1);
    }
    bool create = opt_bool(L, 3, "create_graph", false);
    bool retain = opt_bool(L, 3, "retain_graph", create);
    bool allow_unused = opt_bool(L, 3, "allow_unused", false);
    gan_backward_run *run;
    if (gan_backward_start(&run, no, outs, gos, ni, ins, create, retain) != GAN_OK) return gl_fail(L);
    drive(L, run);
    gan_tensor *res[MAX_GRAD_ARGS];
    gan_backward_results(run, res);
    gan_backward_free(run);
    lua_createtable(L, ni, 0);
    for (int i = 0; i < ni; i++) {
        if (!res[i] && !allow_unused) {
            for (int j = i; j < ni; j++) gan_tensor_release(res[j]);
            return luaL_error(L, "grad: input %d was not used to compute the outputs (pass "
                              "allow_unused = true to get nil for it)", i + 1);
        }
        if (res[i]) { gl_push_tensor(L, res[i]); lua_rawseti(L, -2, i + 1); }
    }
    return 1;
}

static int f_is_grad_enabled(lua_State *L) { lua_pushboolean(L, gan_grad_enabled()); return 1; }
static int f_set_grad_enabled(lua_State *L) {
    lua_pushboolean(L, gan_grad_enabled());
    gan_set_grad_enabled(lua_toboolean(L, 1));
    return 1;   // the previous mode
}

// core.batch_norm(x, weight|nil, bias|nil, per_sample, eps) -> y, mean, var (batch stats)
static int f_batch_norm(lua_State *L) {
    gan_tensor *x = gl_check_tensor(L, 1);
    gan_tensor *w = lua_isnil(L, 2) ? NULL : gl_check_tensor(L, 2);
    gan_tensor *b = lua_isnil(L, 3) ? NULL : gl_check_tensor(L, 3);
    bool per_sample = lua_toboolean(L, 4);
    double eps = luaL_checknumber(L, 5);
    gan_tensor *y, *m, *v;
    if (gan_ag_batch_norm(&y, &m, &v, x, w, b, per_sample, eps) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, y);
    gl_push_tensor(L, m);
    gl_push_tensor(L, v);
    return 3;
}

// core.leaky_relu(x, slope)
static int f_leaky_relu(lua_State *L) {
    gan_tensor *x = gl_check_tensor(L, 1), *r;
    if (gan_ag_leaky_relu(&r, x, luaL_checknumber(L, 2)) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, r);
    return 1;
}

// core.prelu(x, a)
static int f_prelu(lua_State *L) {
    gan_tensor *x = gl_check_tensor(L, 1), *a = gl_check_tensor(L, 2), *r;
    if (gan_ag_prelu(&r, x, a) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, r);
    return 1;
}

// core.gate(x)
static int f_gate(lua_State *L) {
    gan_tensor *x = gl_check_tensor(L, 1), *r;
    if (gan_ag_gate(&r, x) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, r);
    return 1;
}

/***
@module gan.core
*/

/*** Autograd.
@section autograd
*/

/*** Gradients of outputs with respect to inputs, returned instead of accumulated in .grad.
With create_graph the backward pass is itself recorded, so the result can be
differentiated again (gradient penalties).
@function grad
@tparam Tensor|{Tensor,...} outputs
@tparam Tensor|{Tensor,...} inputs
@tparam[opt] table opts `grad_outputs` (a tensor or list, one per output; default ones
 for scalar outputs), `create_graph` (false), `retain_graph` (default create_graph),
 `allow_unused` (false: an input the outputs do not depend on is an error; true: nil)
@treturn {Tensor,...} one gradient per input
@raise for an unused input without allow_unused, or a graph already freed
*/

/*** Whether autograd records operations now (false inside gan.no_grad).
@function is_grad_enabled
@treturn boolean
*/

/*** Turns recording on or off and returns the previous mode. Used by gan.no_grad and
gan.enable_grad (lua/gan/autograd.lua), which restore the mode; prefer those.
@function set_grad_enabled
@tparam boolean enabled
@treturn boolean the previous mode
*/

/*** Batch normalisation with the input's own statistics, fused and differentiable (twice):
what F.batch_norm and F.instance_norm compute with.
@function batch_norm
@tparam Tensor x (N, C, ...)
@tparam Tensor|nil weight (C), the affine gain
@tparam Tensor|nil bias (C)
@tparam boolean per_sample false: one statistic per channel over N and the spatial dims
 (batch norm); true: one per sample and channel (instance norm)
@tparam number eps
@treturn Tensor y, of x's shape
@treturn Tensor the means, (C) or (N, C), not recorded
@treturn Tensor the biased variances, (C) or (N, C), not recorded
*/

/*** max(x, 0) + slope min(x, 0), fused (F.leaky_relu uses it); the gradient at 0 is slope.
@function leaky_relu
@tparam Tensor x
@tparam number slope
@treturn Tensor
*/

/*** x where x > 0, a x elsewhere, with a slope per channel (dimension 2) or one shared;
fused (nn.PReLU uses it); the gradient at 0 is a.
@function prelu
@tparam Tensor x (N, C, ...)
@tparam Tensor a (C) or (1), x's dtype
@treturn Tensor of x's shape
*/

/*** tanh(a) sigmoid(b), a and b the first and second halves of x's channels (dimension 2):
the gated activation of gated PixelCNN, fused both ways.
@function gate
@tparam Tensor x (N, 2C, ...)
@treturn Tensor (N, C, ...)
*/

/*** Tensor methods and properties of autograd.
@type Tensor
*/

/*** Whether autograd records operations on x (its gradient will be computed).
Settable on a leaf: x.requires_grad = true.
@property requires_grad
@treturn boolean
*/

/*** The gradient accumulated by backward (nil before the first one). Settable to a
tensor of x's shape and dtype, or nil.
@property grad
@treturn Tensor|nil
*/

/*** Whether x was created by the user rather than by a recorded operation.
@property is_leaf
@treturn boolean
*/

/*** The name of the operation that created x (nil for a leaf).
@property grad_fn
@treturn string|nil
*/

/*** Sets requires_grad on a leaf, in place.
@function requires_grad_
@tparam[opt=true] boolean on
@treturn Tensor x
*/

/*** A new tensor sharing x's storage, cut from the graph (requires_grad false).
@function detach
@treturn Tensor
*/

/*** Drops x.grad (sets it to nil).
@function zero_grad
*/

/*** Computes the gradients of x with respect to every leaf it depends on and adds them
to their .grad: x:backward(), x:backward(g), x:backward({create_graph = true}).
@function backward
@tparam[opt] Tensor grad d(something)/dx, of x's shape (default 1 for a scalar x)
@tparam[opt] table opts `retain_graph` (default create_graph: false frees the saved
 tensors), `create_graph` (false)
@raise for a non-scalar x without grad, or a graph already freed
*/

/*** Calls fn(g) with the gradient flowing into x during every backward pass; fn may
return a tensor to use instead (or nil to keep g).
@function register_hook
@tparam function fn
@raise from backward when fn returns something that is neither nil nor a tensor
*/

static const luaL_Reg methods[] = {
    {"requires_grad_", m_requires_grad_}, {"detach", m_detach}, {"zero_grad", m_zero_grad},
    {"backward", m_backward}, {"register_hook", m_register_hook}, {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"grad", f_grad}, {"is_grad_enabled", f_is_grad_enabled},
    {"set_grad_enabled", f_set_grad_enabled}, {"batch_norm", f_batch_norm},
    {"leaky_relu", f_leaky_relu}, {"prelu", f_prelu}, {"gate", f_gate}, {NULL, NULL}};

static const luaL_Reg getters[] = {
    {"requires_grad", p_requires_grad}, {"grad", p_grad}, {"is_leaf", p_is_leaf},
    {"grad_fn", p_grad_fn}, {NULL, NULL}};

static const luaL_Reg setters[] = {{"grad", s_grad}, {"requires_grad", s_requires_grad}, {NULL, NULL}};

void gl_register_autograd(lua_State *L, const gl_tables *t) {
    gl_set_funcs(L, t->module, functions);
    gl_set_funcs(L, t->methods, methods);
    gl_set_funcs(L, t->getters, getters);
    gl_set_funcs(L, t->setters, setters);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, HOOKS);
}
