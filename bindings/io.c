// Lua glue for gan/io.h: safetensors files, the low-level entry points of
// lua/gan/serialize, which composes and parses the JSON headers.
#include "bindings.h"
#include <stdlib.h>

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

static const luaL_Reg functions[] = {
    {"save_safetensors", f_save_safetensors}, {"read_safetensors_header", f_read_safetensors_header},
    {"read_tensor_bytes", f_read_tensor_bytes}, {NULL, NULL}};

void gl_register_io(lua_State *L, const gl_tables *t) { gl_set_funcs(L, t->module, functions); }
