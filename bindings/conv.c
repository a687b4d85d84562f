// Lua glue for gan/conv.h: F.conv2d, F.conv_transpose2d, F.conv3d and F.conv_transpose3d
// (differentiable), max
// pooling's argmax, and the choice of convolution backend.

/***
@module gan.core
*/

/*** Convolutions.
@section convolutions
*/
#include "bindings.h"

// ---- F.conv2d(x, w, [b], {stride =, padding =, dilation =, groups =})

static const char *const tuple_words[4] = {NULL, "an integer", "an integer or a pair of integers",
                                           "an integer or a list of 3 integers"};

// Option `key`: an integer or a list of n integers (one per spatial dim, outermost
// first), each in [lo, INT_MAX].
static void tuple_opt(lua_State *L, int idx, const char *fn, const char *key, int n, int def, int lo, int *out) {
    for (int i = 0; i < n; i++) out[i] = def;
    if (lua_type(L, idx) != LUA_TTABLE) return;
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNUMBER) {
        int v = (int)gl_int_in(L, -1, lo, INT32_MAX, fn, key);
        for (int i = 0; i < n; i++) out[i] = v;
    } else if (t == LUA_TTABLE) {
        if (luaL_len(L, -1) != n)
            luaL_error(L, "%s: %s must be %s", fn, key, tuple_words[n]);
        for (int i = 0; i < n; i++) {
            lua_geti(L, -1, i + 1);
            out[i] = (int)gl_int_in(L, -1, lo, INT32_MAX, fn, key);
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s: %s must be %s, got %s", fn, key, tuple_words[n], luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

static const char *const conv_names[2][4] = {{NULL, NULL, "conv2d", "conv3d"},
                                             {NULL, NULL, "conv_transpose2d", "conv_transpose3d"}};

static gan_conv_params conv_params(lua_State *L, int idx, int nsp, bool transposed) {
    static const char *const known[] = {"stride", "padding", "dilation", "groups", "output_padding", NULL};
    static const char *const known2[] = {"stride", "padding", "dilation", "groups", NULL};
    const char *fn = conv_names[transposed][nsp];
    gl_check_opts(L, idx, transposed ? known : known2, fn);
    gan_conv_params p = {0};   // the options fill the first nsp entries
    tuple_opt(L, idx, fn, "stride", nsp, 1, 1, p.stride);
    tuple_opt(L, idx, fn, "padding", nsp, 0, 0, p.pad);
    tuple_opt(L, idx, fn, "dilation", nsp, 1, 1, p.dilation);
    tuple_opt(L, idx, fn, "output_padding", nsp, 0, 0, p.output_padding);
    int g[GAN_CONV_MAX_SPATIAL];
    tuple_opt(L, idx, fn, "groups", 1, 1, 1, g);
    p.groups = g[0];
    return p;
}

static int conv(lua_State *L, int nsp, bool transposed) {
    gan_tensor *x = gl_check_tensor(L, 1), *w = gl_check_tensor(L, 2);
    gan_tensor *b = gl_test_tensor(L, 3);
    int o = 3;
    if (b || lua_isnil(L, 3)) o = 4;
    else if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
        return luaL_error(L, "%s: argument 3 must be a bias tensor, nil or an options table",
                          conv_names[transposed][nsp]);
    gan_conv_params p = conv_params(L, o, nsp, transposed);
    gan_tensor *r;
    int rc = nsp == 2 ? (transposed ? gan_ag_conv_transpose2d(&r, x, w, b, &p) : gan_ag_conv2d(&r, x, w, b, &p))
                      : (transposed ? gan_ag_conv_transpose3d(&r, x, w, b, &p) : gan_ag_conv3d(&r, x, w, b, &p));
    if (rc != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, r);
    return 1;
}
/*** 2-d convolution (cross-correlation, as PyTorch) of x with w, plus an optional bias.
@function conv2d
@tparam Tensor x (N, C, H, W)
@tparam Tensor w (O, C / groups, kh, kw)
@tparam[opt] Tensor b (O), or nil
@tparam[opt] table opts `stride` (1), `padding` (0), `dilation` (1) (each an integer or
 {h, w}), `groups` (1)
@treturn Tensor (N, O, H', W'), H' = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1
*/
static int f_conv2d(lua_State *L) { return conv(L, 2, false); }
/*** Transposed 2-d convolution (conv2d's gradient with respect to its input), plus an
optional bias.
@function conv_transpose2d
@tparam Tensor x (N, C, H, W)
@tparam Tensor w (C, O / groups, kh, kw)
@tparam[opt] Tensor b (O), or nil
@tparam[opt] table opts `stride` (1), `padding` (0), `output_padding` (0), `dilation` (1)
 (each an integer or {h, w}), `groups` (1)
@treturn Tensor (N, O, H', W'), H' = (H - 1) stride - 2 padding + dilation (kh - 1)
 + output_padding + 1
*/
static int f_conv_transpose2d(lua_State *L) { return conv(L, 2, true); }
/*** 3-d convolution of x with w, plus an optional bias: conv2d with a depth dim.
@function conv3d
@tparam Tensor x (N, C, D, H, W)
@tparam Tensor w (O, C / groups, kd, kh, kw)
@tparam[opt] Tensor b (O), or nil
@tparam[opt] table opts `stride` (1), `padding` (0), `dilation` (1) (each an integer or
 {d, h, w}), `groups` (1)
@treturn Tensor (N, O, D', H', W')
*/
static int f_conv3d(lua_State *L) { return conv(L, 3, false); }
/*** Transposed 3-d convolution (conv3d's gradient with respect to its input), plus an
optional bias.
@function conv_transpose3d
@tparam Tensor x (N, C, D, H, W)
@tparam Tensor w (C, O / groups, kd, kh, kw)
@tparam[opt] Tensor b (O), or nil
@tparam[opt] table opts `stride` (1), `padding` (0), `output_padding` (0), `dilation` (1)
 (each an integer or {d, h, w}), `groups` (1)
@treturn Tensor (N, O, D', H', W'), D' = (D - 1) stride - 2 padding + dilation (kd - 1)
 + output_padding + 1
*/
static int f_conv_transpose3d(lua_State *L) { return conv(L, 3, true); }

/*** For max pooling: the position of each window's maximum, as a flat 0-based index into
its H * W plane (what F.max_pool2d gathers with). Not recorded.
@function max_pool2d_indices
@tparam Tensor x (N, C, H, W)
@tparam {int,int} kernel_size
@tparam {int,int} stride
@tparam {int,int} padding
@tparam {int,int} dilation
@tparam boolean ceil_mode round the output size up
@treturn Tensor int64 (N, C, H', W')
*/
// F.max_pool2d_indices(x, {kh, kw}, {sh, sw}, {ph, pw}, {dh, dw}, ceil_mode)
static int f_max_pool2d_indices(lua_State *L) {
    gan_tensor *x = gl_check_tensor(L, 1);
    static const char *const names[4] = {"kernel_size", "stride", "padding", "dilation"};
    static const int lo[4] = {1, 1, 0, 1};
    int v[4][2];
    for (int a = 0; a < 4; a++) {
        luaL_checktype(L, 2 + a, LUA_TTABLE);
        for (int i = 0; i < 2; i++) {
            lua_geti(L, 2 + a, i + 1);
            v[a][i] = (int)gl_int_in(L, -1, lo[a], INT32_MAX, "max_pool2d", names[a]);
            lua_pop(L, 1);
        }
    }
    gan_tensor *r;
    if (gan_max_pool2d_indices(&r, x, v[0], v[1], v[2], v[3], lua_toboolean(L, 6)) != GAN_OK)
        return gl_fail(L);
    gl_push_tensor(L, r);
    return 1;
}

/*** Chooses how convolutions run: "gemm" (im2col and OpenBLAS) or "dnnl" (oneDNN, when
the build has it).
@function set_conv_backend
@tparam string name "gemm" or "dnnl"
@raise when the backend is not available in this build
*/

/*** The convolution backend in use, with what oneDNN last ran.
@function conv_backend
@treturn string "gemm" or "dnnl"
@treturn string|nil the name of oneDNN's last implementation, nil before any
@treturn int how many convolutions oneDNN has run
*/
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

static const luaL_Reg functions[] = {
    {"conv2d", f_conv2d}, {"conv_transpose2d", f_conv_transpose2d},
    {"conv3d", f_conv3d}, {"conv_transpose3d", f_conv_transpose3d},
    {"max_pool2d_indices", f_max_pool2d_indices}, {"set_conv_backend", f_set_conv_backend},
    {"conv_backend", f_conv_backend}, {NULL, NULL}};

void gl_register_conv(lua_State *L, const gl_tables *t) { gl_set_funcs(L, t->module, functions); }
