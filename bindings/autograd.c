// Lua side of autograd: x:backward(), gan.grad, hooks, grad mode, x.grad and friends,
// and the convolutions of gan.nn.functional.
#include "bindings.h"
#include <string.h>

// Registry table: hook id -> Lua function.
static const char *HOOKS = "gan.hooks";

static void push_borrowed(lua_State *L, gan_tensor *t) {
    if (t) gl_push_tensor(L, gan_tensor_retain(t));
    else lua_pushnil(L);
}

gan_tensor *gl_inplace(lua_State *L, int idx, const char *op) {
    gan_tensor *t = gl_check_tensor(L, idx);
    if (t->requires_grad && gan_grad_enabled())
        luaL_error(L, "%s: in-place operation on a tensor that requires grad (%s); run it "
                   "inside gan.no_grad or work on a clone", op,
                   t->grad_fn ? "it has autograd history" : "a leaf");
    gan_bump_version(t);
    return t;
}

// ---- properties

int gl_autograd_index(lua_State *L, gan_tensor *t, const char *k) {
    if (strcmp(k, "requires_grad") == 0) { lua_pushboolean(L, t->requires_grad); return 1; }
    if (strcmp(k, "grad") == 0) { push_borrowed(L, t->grad); return 1; }
    if (strcmp(k, "is_leaf") == 0) { lua_pushboolean(L, t->grad_fn == NULL); return 1; }
    if (strcmp(k, "grad_fn") == 0) {
        if (t->grad_fn) lua_pushstring(L, t->grad_fn->name); else lua_pushnil(L);
        return 1;
    }
    return 0;
}

int gl_autograd_newindex(lua_State *L, gan_tensor *t, const char *k) {
    if (strcmp(k, "grad") == 0) {
        gan_tensor *g = lua_isnil(L, 3) ? NULL : gl_check_tensor(L, 3);
        if (g && (!gan_same_shape(g, t) || g->dtype != t->dtype)) {
            char a[GAN_SHAPE_BUF], b[GAN_SHAPE_BUF];
            luaL_error(L, "grad: assigned gradient %s (%s) does not match the tensor %s (%s)",
                       gan_shape_str(a, sizeof a, g->ndim, g->size), gan_dtype_name(g->dtype),
                       gan_shape_str(b, sizeof b, t->ndim, t->size), gan_dtype_name(t->dtype));
        }
        gan_tensor_release(t->grad);
        t->grad = gan_tensor_retain(g);
        return 1;
    }
    if (strcmp(k, "requires_grad") == 0) {
        if (gan_set_requires_grad(t, lua_toboolean(L, 3)) != GAN_OK) gl_fail(L);
        return 1;
    }
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
        push_borrowed(L, g);
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

// ---- convolutions: F.conv2d(x, w, [b], {stride =, padding =, dilation =, groups =})

static void pair_opt(lua_State *L, int idx, const char *key, int def, int *out) {
    out[0] = out[1] = def;
    if (lua_type(L, idx) != LUA_TTABLE) return;
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNUMBER) {
        out[0] = out[1] = (int)luaL_checkinteger(L, -1);
    } else if (t == LUA_TTABLE) {
        for (int i = 0; i < 2; i++) {
            lua_geti(L, -1, i + 1);
            if (!lua_isinteger(L, -1)) luaL_error(L, "option '%s' must be an integer or a pair of integers", key);
            out[i] = (int)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        luaL_error(L, "option '%s' must be an integer or a pair of integers, got %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

static gan_conv_params conv_params(lua_State *L, int idx, bool transposed) {
    static const char *const known[] = {"stride", "padding", "dilation", "groups", "output_padding", NULL};
    static const char *const known2[] = {"stride", "padding", "dilation", "groups", NULL};
    gl_check_opts(L, idx, transposed ? known : known2, transposed ? "conv_transpose2d" : "conv2d");
    gan_conv_params p = {0};   // the 2-d options fill the first two entries
    pair_opt(L, idx, "stride", 1, p.stride);
    pair_opt(L, idx, "padding", 0, p.pad);
    pair_opt(L, idx, "dilation", 1, p.dilation);
    pair_opt(L, idx, "output_padding", 0, p.output_padding);
    int g[2];
    pair_opt(L, idx, "groups", 1, g);
    p.groups = g[0];
    return p;
}

static int conv(lua_State *L, bool transposed) {
    gan_tensor *x = gl_check_tensor(L, 1), *w = gl_check_tensor(L, 2);
    gan_tensor *b = gl_test_tensor(L, 3);
    int o = 3;
    if (b || lua_isnil(L, 3)) o = 4;
    else if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
        return luaL_error(L, "%s: argument 3 must be a bias tensor, nil or an options table",
                          transposed ? "conv_transpose2d" : "conv2d");
    gan_conv_params p = conv_params(L, o, transposed);
    gan_tensor *r;
    int rc = transposed ? gan_ag_conv_transpose2d(&r, x, w, b, &p) : gan_ag_conv2d(&r, x, w, b, &p);
    if (rc != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, r);
    return 1;
}
static int f_conv2d(lua_State *L) { return conv(L, false); }
static int f_conv_transpose2d(lua_State *L) { return conv(L, true); }

// F.max_pool2d_indices(x, {kh, kw}, {sh, sw}, {ph, pw}, {dh, dw}, ceil_mode)
static int f_max_pool2d_indices(lua_State *L) {
    gan_tensor *x = gl_check_tensor(L, 1);
    int v[4][2];
    for (int a = 0; a < 4; a++) {
        luaL_checktype(L, 2 + a, LUA_TTABLE);
        for (int i = 0; i < 2; i++) {
            lua_geti(L, 2 + a, i + 1);
            v[a][i] = (int)luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    }
    gan_tensor *r;
    if (gan_max_pool2d_indices(&r, x, v[0], v[1], v[2], v[3], lua_toboolean(L, 6)) != GAN_OK)
        return gl_fail(L);
    gl_push_tensor(L, r);
    return 1;
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

// core.set_conv_backend("dnnl" | "gemm");
// core.conv_backend() -> name, oneDNN's last implementation name, oneDNN kernel runs
static int f_set_conv_backend(lua_State *L) {
    static const char *const names[] = {"gemm", "dnnl", NULL};
    if (gan_set_conv_backend((gan_conv_backend)luaL_checkoption(L, 1, NULL, names)) != GAN_OK)
        return gl_fail(L);
    return 0;
}
static int f_conv_backend(lua_State *L) {
    lua_pushstring(L, gan_get_conv_backend() == GAN_CONV_DNNL ? "dnnl" : "gemm");
    const char *impl = gan_conv_last_dnnl_impl();
    if (impl) lua_pushstring(L, impl); else lua_pushnil(L);
    lua_pushinteger(L, (lua_Integer)gan_conv_dnnl_runs());
    return 3;
}

static const luaL_Reg methods[] = {
    {"requires_grad_", m_requires_grad_}, {"detach", m_detach}, {"zero_grad", m_zero_grad},
    {"backward", m_backward}, {"register_hook", m_register_hook}, {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"grad", f_grad}, {"is_grad_enabled", f_is_grad_enabled},
    {"set_grad_enabled", f_set_grad_enabled}, {"conv2d", f_conv2d},
    {"conv_transpose2d", f_conv_transpose2d}, {"max_pool2d_indices", f_max_pool2d_indices},
    {"batch_norm", f_batch_norm}, {"leaky_relu", f_leaky_relu}, {"set_conv_backend", f_set_conv_backend},
    {"conv_backend", f_conv_backend}, {NULL, NULL}};

void gl_register_autograd_methods(lua_State *L) { luaL_setfuncs(L, methods, 0); }

void gl_register_autograd(lua_State *L) {
    luaL_setfuncs(L, functions, 0);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, HOOKS);
}
