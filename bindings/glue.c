// The glue shared by every binding file (declared in bindings.h): boxing tensors in
// userdata with the garbage collector told about their storage, argument conversion from
// Lua's conventions to core's, options tables and errors. Depends on core alone.
#include "bindings.h"
#include <stdlib.h>
#include <string.h>

// ---- boxing and memory accounting

// Bytes of fresh storage handed to Lua since the last full collection. Lua cannot see
// the memory behind a userdata, so we collect when that exceeds what was live after the
// last collection (or 64 MiB). Comparing with what is live now would never trigger: the
// new bytes are part of it.
static int64_t bytes_since_gc = 0, live_after_gc = 0;
#define GC_MIN_BYTES ((int64_t)64 << 20)

static void full_collection(lua_State *L) {
    bytes_since_gc = 0;
    lua_gc(L, LUA_GCCOLLECT);
    live_after_gc = gan_alloc_get_stats().live_bytes;
}

void gl_push_tensor(lua_State *L, gan_tensor *t) {
    if (t->storage->refcount == 1) {
        bytes_since_gc += (int64_t)t->storage->nbytes;
        if (bytes_since_gc > (live_after_gc > GC_MIN_BYTES ? live_after_gc : GC_MIN_BYTES))
            full_collection(L);
    }
    gan_tensor **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = t;
    luaL_setmetatable(L, GL_TENSOR);
}

bool gl_collect_garbage(lua_State *L, int64_t min_bytes) {
    if (bytes_since_gc <= min_bytes) return false;
    full_collection(L);
    return true;
}

void gl_push_borrowed(lua_State *L, gan_tensor *t) {
    if (t) gl_push_tensor(L, gan_tensor_retain(t));
    else lua_pushnil(L);
}

gan_tensor *gl_check_tensor(lua_State *L, int idx) {
    gan_tensor **box = luaL_testudata(L, idx, GL_TENSOR);
    if (!box) luaL_typeerror(L, idx, "tensor");
    if (!*box) luaL_argerror(L, idx, "tensor was closed");
    return *box;
}

gan_tensor *gl_test_tensor(lua_State *L, int idx) {
    gan_tensor **box = luaL_testudata(L, idx, GL_TENSOR);
    if (box && !*box) luaL_argerror(L, idx, "tensor was closed");   // not "not a tensor"
    return box ? *box : NULL;
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

int gl_fail(lua_State *L) { return luaL_error(L, "%s", gan_last_error()); }

// ---- arguments

int gl_tdim(lua_State *L, int idx, int ndim, const char *op) {
    lua_Integer d = luaL_checkinteger(L, idx);
    if (d == 0) luaL_error(L, "%s: dim 0 is invalid: dims are 1-based (1 = first, -1 = last)", op);
    if (d > ndim || d < -(lua_Integer)ndim)
        luaL_error(L, "%s: dim %I out of range for a %d-d tensor (1-based; -1 is the last)", op,
                   d, ndim);
    return d > 0 ? (int)d - 1 : (int)d + ndim;
}

int gl_tdims(lua_State *L, int idx, int ndim, const char *op, int *dims) {
    int n = 1;
    if (lua_istable(L, idx)) {
        n = (int)luaL_len(L, idx);
        if (n > GAN_MAX_DIMS) luaL_error(L, "%s: too many dims", op);
        if (n == 0) luaL_error(L, "%s: empty list of dims", op);
        for (int i = 0; i < n; i++) {
            lua_geti(L, idx, i + 1);
            dims[i] = gl_tdim(L, -1, ndim, op);
            lua_pop(L, 1);
        }
    } else {
        dims[0] = gl_tdim(L, idx, ndim, op);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (dims[i] == dims[j]) luaL_error(L, "%s: dim %d given twice", op, dims[i] + 1);
    return n;
}

int64_t gl_pos(lua_State *L, int idx, int64_t size, const char *what) {
    lua_Integer i = luaL_checkinteger(L, idx);
    int64_t r = i > 0 ? i - 1 : size + i;
    if (i == 0 || r < 0 || r >= size)
        luaL_error(L, "%s %I out of range for size %I (positions are 1-based; -1 is the last)",
                   what, i, (lua_Integer)size);
    return r;
}

gan_dtype gl_dtype(lua_State *L, int idx, gan_dtype def) {
    if (lua_isnoneornil(L, idx)) return def;
    gan_dtype dt;
    if (gan_dtype_from_name(&dt, luaL_checkstring(L, idx)) != GAN_OK) gl_fail(L);
    return dt;
}

lua_Integer gl_int_in(lua_State *L, int idx, lua_Integer lo, lua_Integer hi, const char *fn,
                      const char *what) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (lua_type(L, idx) == LUA_TNUMBER && isnum && v >= lo && v <= hi) return v;
    const char *got = lua_type(L, idx) == LUA_TNUMBER ? luaL_tolstring(L, idx, NULL) : luaL_typename(L, idx);
    return luaL_error(L, "%s: %s must be an integer in [%I, %I], got %s", fn, what, lo, hi, got);
}

int gl_shape(lua_State *L, int idx, int *ndim, int64_t *size) {
    *ndim = 0;
    if (lua_istable(L, idx) && !luaL_testudata(L, idx, GL_TENSOR)) {
        int n = (int)luaL_len(L, idx);
        if (n > GAN_MAX_DIMS) luaL_error(L, "shape has %d dims, at most %d supported", n, GAN_MAX_DIMS);
        for (int i = 1; i <= n; i++) {
            lua_geti(L, idx, i);
            int isnum;
            lua_Integer v = lua_tointegerx(L, -1, &isnum);
            if (!isnum) luaL_error(L, "shape entry %d is not an integer (got %s)", i, luaL_typename(L, -1));
            if (v < 0) luaL_error(L, "shape entry %d is negative (%d)", i, (int)v);
            size[(*ndim)++] = v;
            lua_pop(L, 1);
        }
        return idx + 1;
    }
    while (lua_type(L, idx) == LUA_TNUMBER) {
        if (*ndim >= GAN_MAX_DIMS) luaL_error(L, "at most %d dims supported", GAN_MAX_DIMS);
        int isnum;
        lua_Integer v = lua_tointegerx(L, idx, &isnum);
        if (!isnum) luaL_argerror(L, idx, "size must be an integer");
        if (v < 0) luaL_argerror(L, idx, "size must be >= 0");
        size[(*ndim)++] = v;
        idx++;
    }
    return idx;
}

int gl_opt(lua_State *L, int idx, const char *key) {
    if (lua_type(L, idx) != LUA_TTABLE || luaL_testudata(L, idx, GL_TENSOR)) { lua_pushnil(L); return LUA_TNIL; }
    return lua_getfield(L, idx, key);
}

gan_dtype gl_opt_dtype(lua_State *L, int idx, gan_dtype def) {
    gl_opt(L, idx, "dtype");
    gan_dtype dt = gl_dtype(L, -1, def);
    lua_pop(L, 1);
    return dt;
}

// Options tables may only hold known keys: a typo is an error, not a silent default.
void gl_check_opts(lua_State *L, int idx, const char *const *known, const char *fn) {
    if (lua_type(L, idx) != LUA_TTABLE || luaL_testudata(L, idx, GL_TENSOR)) {
        if (!lua_isnoneornil(L, idx)) luaL_error(L, "%s: expected an options table, got %s", fn, luaL_typename(L, idx));
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        bool ok = false;
        for (int i = 0; k && known[i]; i++) ok = ok || strcmp(k, known[i]) == 0;
        if (!ok) luaL_error(L, "%s: unknown option '%s'", fn, k ? k : luaL_typename(L, -1));
    }
}

// ---- registration

void gl_set_funcs(lua_State *L, int idx, const luaL_Reg *fns) {
    lua_pushvalue(L, idx);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}

void gl_set_closure(lua_State *L, int idx, const char *name, lua_CFunction fn, lua_Integer up) {
    lua_pushinteger(L, up);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, idx, name);
}
