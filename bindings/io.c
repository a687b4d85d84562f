// Lua glue for gan/io.h: safetensors files, the low-level entry points of
// lua/gan/serialize, which composes and parses the JSON headers.
#include "bindings.h"
#include <stdlib.h>

// save_safetensors(path, header, {tensors...}, [crc_at]): crc_at is the 0-based byte offset
// in header of the 8 '0's that receive the file's CRC-32.
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
    lua_Integer crc_at = lua_isnoneornil(L, 4) ? -1 : gl_int_in(L, 4, 0, (lua_Integer)hl, "save", "crc_at");
    if (gan_save_safetensors(path, h, hl, n, ts, crc_at) != GAN_OK) return gl_fail(L);
    return 0;
}

// file_crc32(path, [zero_at]) -> the CRC-32 of the file, the 8 bytes at zero_at read as '0'
static int f_file_crc32(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer at = lua_isnoneornil(L, 2) ? -1 : gl_int_in(L, 2, 0, INT64_MAX, "file_crc32", "zero_at");
    uint32_t crc;
    if (gan_file_crc32(&crc, path, at) != GAN_OK) return gl_fail(L);
    lua_pushinteger(L, (lua_Integer)crc);
    return 1;
}

// remove_stale_temporaries(dir, [base]) -> how many files `<base>.tmp.<pid>` of dead
// processes were removed
static int f_remove_stale_temporaries(lua_State *L) {
    int removed;
    if (gan_remove_stale_temporaries(luaL_checkstring(L, 1), luaL_optstring(L, 2, NULL), &removed) != GAN_OK)
        return gl_fail(L);
    lua_pushinteger(L, removed);
    return 1;
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
    {"read_tensor_bytes", f_read_tensor_bytes}, {"file_crc32", f_file_crc32},
    {"remove_stale_temporaries", f_remove_stale_temporaries}, {NULL, NULL}};

void gl_register_io(lua_State *L, const gl_tables *t) { gl_set_funcs(L, t->module, functions); }
