// Lua glue for the optimizer kernels, safetensors files and QR. These are the low-level
// entry points of lua/gan/optim and lua/gan/serialize, which validate and document them.
#include "bindings.h"
#include <stdlib.h>

static gan_tensor *opt_tensor(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? NULL : gl_check_tensor(L, idx);
}

// sgd_step(p, g, buf|nil, lr, momentum, dampening, weight_decay, nesterov, first)
static int f_sgd_step(lua_State *L) {
    gan_tensor *p = gl_check_tensor(L, 1), *g = gl_check_tensor(L, 2), *b = opt_tensor(L, 3);
    gan_sgd_opts o = {luaL_checknumber(L, 4), luaL_checknumber(L, 5), luaL_checknumber(L, 6),
                      luaL_checknumber(L, 7), lua_toboolean(L, 8)};
    if (gan_sgd_step(p, g, b, &o, lua_toboolean(L, 9)) != GAN_OK) return gl_fail(L);
    return 0;
}

// adam_step(p, g, m, v, vmax|nil, lr, beta1, beta2, eps, weight_decay, decoupled, step)
static int f_adam_step(lua_State *L) {
    gan_tensor *p = gl_check_tensor(L, 1), *g = gl_check_tensor(L, 2);
    gan_tensor *m = gl_check_tensor(L, 3), *v = gl_check_tensor(L, 4), *x = opt_tensor(L, 5);
    gan_adam_opts o = {luaL_checknumber(L, 6), luaL_checknumber(L, 7), luaL_checknumber(L, 8),
                       luaL_checknumber(L, 9), luaL_checknumber(L, 10), x != NULL, lua_toboolean(L, 11)};
    if (gan_adam_step(p, g, m, v, x, &o, luaL_checkinteger(L, 12)) != GAN_OK) return gl_fail(L);
    return 0;
}

// rmsprop_step(p, g, sq, buf|nil, gavg|nil, lr, alpha, eps, weight_decay, momentum)
static int f_rmsprop_step(lua_State *L) {
    gan_tensor *p = gl_check_tensor(L, 1), *g = gl_check_tensor(L, 2), *s = gl_check_tensor(L, 3);
    gan_tensor *b = opt_tensor(L, 4), *a = opt_tensor(L, 5);
    gan_rmsprop_opts o = {luaL_checknumber(L, 6), luaL_checknumber(L, 7), luaL_checknumber(L, 8),
                          luaL_checknumber(L, 9), luaL_checknumber(L, 10), a != NULL};
    if (gan_rmsprop_step(p, g, s, b, a, &o) != GAN_OK) return gl_fail(L);
    return 0;
}

// save_safetensors(path, header, {tensors...})
static int f_save_safetensors(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    size_t hl;
    const char *h = luaL_checklstring(L, 2, &hl);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = (int)luaL_len(L, 3);
    const gan_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)(n + 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 3, i + 1);
        ts[i] = gl_check_tensor(L, -1);
        lua_pop(L, 1);
    }
    if (gan_save_safetensors(path, h, hl, n, ts) != GAN_OK) return gl_fail(L);
    return 0;
}

// read_safetensors_header(path) -> header, data_start, data_size
static int f_read_safetensors_header(lua_State *L) {
    char *h;
    size_t hl;
    int64_t start, size;
    if (gan_read_safetensors_header(luaL_checkstring(L, 1), &h, &hl, &start, &size) != GAN_OK)
        return gl_fail(L);
    lua_pushlstring(L, h, hl);
    free(h);
    lua_pushinteger(L, start);
    lua_pushinteger(L, size);
    return 3;
}

// read_tensor_bytes(path, offset, dtype, {shape})
static int f_read_tensor_bytes(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer off = luaL_checkinteger(L, 2);
    gan_dtype dt = gl_dtype(L, 3, GAN_FLOAT32);
    int ndim;
    int64_t size[GAN_MAX_DIMS];
    gl_shape(L, 4, &ndim, size);
    gan_tensor *t;
    if (gan_read_tensor_bytes(&t, path, off, dt, ndim, size) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

static int f_qr(lua_State *L) {
    gan_tensor *q, *r;
    if (gan_qr(&q, &r, gl_check_tensor(L, 1)) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, q);
    gl_push_tensor(L, r);
    return 2;
}

static int f_eigh(lua_State *L) {
    gan_tensor *w, *v;
    if (gan_eigh(&w, &v, gl_check_tensor(L, 1)) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, w);
    gl_push_tensor(L, v);
    return 2;
}

static const luaL_Reg functions[] = {
    {"eigh", f_eigh},
    {"sgd_step", f_sgd_step}, {"adam_step", f_adam_step}, {"rmsprop_step", f_rmsprop_step},
    {"save_safetensors", f_save_safetensors}, {"read_safetensors_header", f_read_safetensors_header},
    {"read_tensor_bytes", f_read_tensor_bytes}, {"qr", f_qr}, {NULL, NULL}};

void gl_register_optim_io(lua_State *L) { luaL_setfuncs(L, functions, 0); }
