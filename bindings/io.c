// Lua glue for gan/io.h: safetensors files, the low-level entry points of
// lua/gan/serialize, which composes and parses the JSON headers.
#include "bindings.h"
#include <stdlib.h>

/***
@module gan.core
*/

/*** Files.
The safetensors layer under gan.serialize (gan.save, gan.load, checkpoints), which
composes and parses the JSON headers; use those.
@section files
*/

/*** Writes a safetensors file atomically: header, then the tensors' data in order, to
`<path>.tmp.<pid>`, synced and renamed over path (stale temporaries of dead processes
are removed first).
@function save_safetensors
@tparam string path
@tparam string header the JSON header (padded with spaces to a multiple of 8 bytes)
@tparam {Tensor,...} tensors
@tparam[opt] int crc_at the 0-based offset in header of 8 '0' characters that receive the
 file's CRC-32 in hex (see file_crc32)
@raise naming the path on any I/O error
*/
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

/*** The CRC-32 (zlib's) of a file, with the 8 bytes at zero_at read as '0' characters.
@function file_crc32
@tparam string path
@tparam[opt] int zero_at a 0-based file offset
@treturn int
*/
static int f_file_crc32(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer at = lua_isnoneornil(L, 2) ? -1 : gl_int_in(L, 2, 0, INT64_MAX, "file_crc32", "zero_at");
    uint32_t crc;
    if (gan_file_crc32(&crc, path, at) != GAN_OK) return gl_fail(L);
    lua_pushinteger(L, (lua_Integer)crc);
    return 1;
}

/*** Removes the files `<base>.tmp.<pid>` in dir whose process no longer exists (a live
process's temporary is never touched).
@function remove_stale_temporaries
@tparam string dir
@tparam[opt] string base default any base
@treturn int how many files were removed
*/
static int f_remove_stale_temporaries(lua_State *L) {
    int removed;
    if (gan_remove_stale_temporaries(luaL_checkstring(L, 1), luaL_optstring(L, 2, NULL), &removed) != GAN_OK)
        return gl_fail(L);
    lua_pushinteger(L, removed);
    return 1;
}

/*** Reads and checks a safetensors file's header.
@function read_safetensors_header
@tparam string path
@treturn string the JSON header
@treturn int the file offset of the data section
@treturn int the data section's length in bytes
@raise when the file is missing, truncated or not safetensors
*/
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

/*** A new tensor read from a file's raw little-endian bytes.
@function read_tensor_bytes
@tparam string path
@tparam int offset the file offset of the first byte
@tparam string dtype
@tparam {int,...} shape
@treturn Tensor
@raise when the file is shorter than the tensor
*/
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
