// The Lua module gan.core: thin glue over gancore. Converts Lua's 1-based dims and
// positions to core's 0-based ones, turns failed statuses into Lua errors, and boxes
// tensors in userdata. No arithmetic here.
#include "bindings.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int gan_lua_open_readline(lua_State *L);   // readline.c

// ---- boxing and memory accounting

// Bytes of fresh storage handed to Lua since the last full collection. Lua cannot see
// the memory behind a userdata, so we collect when that exceeds what was live after the
// last collection (or 64 MiB). Comparing with what is live now would never trigger: the
// new bytes are part of it.
static int64_t bytes_since_gc = 0, live_after_gc = 0;
#define GC_MIN_BYTES ((int64_t)64 << 20)

void gl_push_tensor(lua_State *L, gan_tensor *t) {
    if (t->storage->refcount == 1) {
        bytes_since_gc += (int64_t)t->storage->nbytes;
        if (bytes_since_gc > (live_after_gc > GC_MIN_BYTES ? live_after_gc : GC_MIN_BYTES)) {
            bytes_since_gc = 0;
            lua_gc(L, LUA_GCCOLLECT);
            live_after_gc = gan_alloc_get_stats().live_bytes;
        }
    }
    gan_tensor **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = t;
    luaL_setmetatable(L, GL_TENSOR);
}

int gl_fail(lua_State *L) { return luaL_error(L, "%s", gan_last_error()); }

// core.collect_garbage(min_bytes): a full collection if more than min_bytes of tensor
// storage were created since the last one; true if it ran. Called at iteration
// boundaries (Optimizer:zero_grad) so that the last iteration's intermediates go back to
// the allocator's cache before the next one allocates the same sizes again.
static int f_collect_garbage(lua_State *L) {
    lua_Integer min = luaL_optinteger(L, 1, 0);
    bool run = bytes_since_gc > min;
    if (run) {
        bytes_since_gc = 0;
        lua_gc(L, LUA_GCCOLLECT);
        live_after_gc = gan_alloc_get_stats().live_bytes;
    }
    lua_pushboolean(L, run);
    return 1;
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

static int t_gc(lua_State *L) {
    gan_tensor **box = luaL_checkudata(L, 1, GL_TENSOR);
    gan_tensor_release(*box);
    *box = NULL;
    return 0;
}

// ---- argument helpers

int gl_dim(lua_State *L, int idx) {
    lua_Integer d = luaL_checkinteger(L, idx);
    if (d == 0) luaL_argerror(L, idx, "dim 0 is invalid: dims are 1-based (1 = first, -1 = last)");
    if (d > GAN_MAX_DIMS || d < -GAN_MAX_DIMS) luaL_argerror(L, idx, "dim out of range");
    return d > 0 ? (int)d - 1 : (int)d;
}

// A Lua dim (1-based, negative from the end) checked against `ndim` dims; returns core's
// 0-based dim. Checked here so that messages name the dim as the user wrote it.
static int gl_tdim(lua_State *L, int idx, int ndim, const char *op) {
    lua_Integer d = luaL_checkinteger(L, idx);
    if (d == 0) luaL_error(L, "%s: dim 0 is invalid: dims are 1-based (1 = first, -1 = last)", op);
    if (d > ndim || d < -(lua_Integer)ndim)
        luaL_error(L, "%s: dim %I out of range for a %d-d tensor (1-based; -1 is the last)", op,
                   d, ndim);
    return d > 0 ? (int)d - 1 : (int)d + ndim;
}

// Dims as a table {1, 3} (or one number) at idx, each checked by gl_tdim; no repeats.
static int gl_tdims(lua_State *L, int idx, int ndim, const char *op, int *dims) {
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

// 1-based position (negative counts from the end) to a 0-based index into `size`.
static int64_t gl_pos(lua_State *L, int idx, int64_t size, const char *what) {
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

// Reads a shape given as a table {2, 3} or as integers from `idx` on. Returns the index
// of the first argument after the shape (an options table, if any).
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

// Field `key` of an options table at idx (which may be absent); pushes it (or nil).
int gl_opt(lua_State *L, int idx, const char *key) {
    if (lua_type(L, idx) != LUA_TTABLE || luaL_testudata(L, idx, GL_TENSOR)) { lua_pushnil(L); return LUA_TNIL; }
    return lua_getfield(L, idx, key);
}

static gan_dtype opt_dtype(lua_State *L, int idx, gan_dtype def) {
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

// ---- tensor literals: gan.tensor({{1, 2}, {3, 4}}, {dtype=})

static void literal_shape(lua_State *L, int idx, int depth, int *ndim, int64_t *size) {
    if (lua_type(L, idx) == LUA_TNUMBER || lua_type(L, idx) == LUA_TBOOLEAN) { *ndim = depth; return; }
    if (!lua_istable(L, idx)) luaL_error(L, "tensor: expected numbers or nested tables, got %s", luaL_typename(L, idx));
    if (depth >= GAN_MAX_DIMS) luaL_error(L, "tensor: nesting deeper than %d", GAN_MAX_DIMS);
    size[depth] = (int64_t)luaL_len(L, idx);
    if (size[depth] == 0) { *ndim = depth + 1; return; }
    lua_geti(L, idx, 1);
    literal_shape(L, lua_gettop(L), depth + 1, ndim, size);
    lua_pop(L, 1);
}

static void literal_fill(lua_State *L, int idx, int depth, int ndim, const int64_t *size,
                         double *out, int64_t *k, bool *all_int) {
    if (depth == ndim) {
        int t = lua_type(L, idx);
        if (t == LUA_TBOOLEAN) { out[(*k)++] = lua_toboolean(L, idx); return; }
        if (t != LUA_TNUMBER) luaL_error(L, "tensor: ragged nesting (expected a number at depth %d, got %s)", depth, luaL_typename(L, idx));
        if (!lua_isinteger(L, idx)) *all_int = false;
        out[(*k)++] = lua_tonumber(L, idx);
        return;
    }
    if (!lua_istable(L, idx) || (int64_t)luaL_len(L, idx) != size[depth])
        luaL_error(L, "tensor: ragged nesting (expected a table of %d entries at depth %d)", (int)size[depth], depth + 1);
    for (int64_t i = 1; i <= size[depth]; i++) {
        lua_geti(L, idx, i);
        literal_fill(L, lua_gettop(L), depth + 1, ndim, size, out, k, all_int);
        lua_pop(L, 1);
    }
}

static int f_tensor(lua_State *L) {
    static const char *const known[] = {"dtype", NULL};
    gl_check_opts(L, 2, known, "tensor");
    int ndim = 0;
    int64_t size[GAN_MAX_DIMS];
    literal_shape(L, 1, 0, &ndim, size);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= size[i];
    double *vals = lua_newuserdatauv(L, sizeof(double) * (size_t)(n ? n : 1), 0);  // freed by GC
    int64_t k = 0;
    bool all_int = true;
    literal_fill(L, 1, 0, ndim, size, vals, &k, &all_int);
    gan_dtype dt = opt_dtype(L, 2, GAN_FLOAT32);
    gan_tensor *t;
    if (gan_from_doubles(&t, dt, ndim, size, vals) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

// ---- creation

static const char *const create_opts[] = {"dtype", "generator", NULL};

static int create(lua_State *L, double fill, bool zero, bool empty) {
    int ndim;
    int64_t size[GAN_MAX_DIMS];
    int o = gl_shape(L, 1, &ndim, size);
    gl_check_opts(L, o, create_opts, empty ? "empty" : zero ? "zeros" : "ones");
    gan_dtype dt = opt_dtype(L, o, GAN_FLOAT32);
    gan_tensor *t;
    int rc = empty ? gan_empty(&t, dt, ndim, size)
           : zero ? gan_zeros(&t, dt, ndim, size) : gan_full(&t, dt, ndim, size, fill);
    if (rc != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}
static int f_empty(lua_State *L) { return create(L, 0, false, true); }
static int f_zeros(lua_State *L) { return create(L, 0, true, false); }
static int f_ones(lua_State *L) { return create(L, 1, false, false); }

static int f_full(lua_State *L) {
    int ndim;
    int64_t size[GAN_MAX_DIMS];
    int o;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        // full(2, 3, value): sizes as arguments, the last number is the value.
        int n = 0;
        while (lua_type(L, n + 1) == LUA_TNUMBER) n++;
        if (n < 2) return luaL_error(L, "full: expected (size..., value) or ({size}, value)");
        if (n - 1 > GAN_MAX_DIMS) return luaL_error(L, "at most %d dims supported", GAN_MAX_DIMS);
        ndim = 0;
        for (int i = 1; i < n; i++) {
            int isnum;
            lua_Integer s = lua_tointegerx(L, i, &isnum);
            if (!isnum) luaL_argerror(L, i, "size must be an integer");
            if (s < 0) luaL_argerror(L, i, "size must be >= 0");
            size[ndim++] = s;
        }
        o = n;
    } else {
        o = gl_shape(L, 1, &ndim, size);
    }
    double v = luaL_checknumber(L, o);
    gl_check_opts(L, o + 1, create_opts, "full");
    gan_dtype dt = opt_dtype(L, o + 1, GAN_FLOAT32);
    gan_tensor *t;
    if (gan_full(&t, dt, ndim, size, v) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

// zeros_like / ones_like / empty_like / full_like(x, [value], [opts])
static int f_like(lua_State *L) {
    const char *kind = lua_tostring(L, lua_upvalueindex(1));
    gan_tensor *x = gl_check_tensor(L, 1);
    int o = 2;
    double v = 0;
    if (kind[0] == 'f') { v = luaL_checknumber(L, 2); o = 3; }
    else if (kind[0] == 'o') v = 1;
    gl_check_opts(L, o, create_opts, kind);
    gan_dtype dt = opt_dtype(L, o, x->dtype);
    gan_tensor *t;
    int rc = kind[0] == 'e' ? gan_empty(&t, dt, x->ndim, x->size) : gan_full(&t, dt, x->ndim, x->size, v);
    if (rc != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

// arange(end) / arange(start, end, [step]); integer arguments give int64, as in PyTorch.
static int f_arange(lua_State *L) {
    int n = 0;
    double a[3];
    bool ints = true;
    while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) {
        ints = ints && lua_isinteger(L, n + 1);
        a[n] = lua_tonumber(L, n + 1);
        n++;
    }
    if (n == 0) return luaL_error(L, "arange: expected (end) or (start, end, [step])");
    static const char *const known[] = {"dtype", NULL};
    gl_check_opts(L, n + 1, known, "arange");
    double start = n == 1 ? 0 : a[0], end = n == 1 ? a[0] : a[1], step = n == 3 ? a[2] : 1;
    gan_dtype dt = opt_dtype(L, n + 1, ints ? GAN_INT64 : GAN_FLOAT32);
    gan_tensor *t;
    if (gan_arange(&t, dt, start, end, step) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

static int f_linspace(lua_State *L) {
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    lua_Integer steps = luaL_checkinteger(L, 3);
    static const char *const known[] = {"dtype", NULL};
    gl_check_opts(L, 4, known, "linspace");
    gan_tensor *t;
    if (gan_linspace(&t, opt_dtype(L, 4, GAN_FLOAT32), a, b, steps) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

static int f_eye(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    int o = 2;
    lua_Integer m = n;
    if (lua_type(L, 2) == LUA_TNUMBER) { m = luaL_checkinteger(L, 2); o = 3; }
    static const char *const known[] = {"dtype", NULL};
    gl_check_opts(L, o, known, "eye");
    if (n < 0 || m < 0) return luaL_error(L, "eye: sizes must be >= 0, got %d x %d", (int)n, (int)m);
    gan_tensor *t;
    if (gan_eye(&t, opt_dtype(L, o, GAN_FLOAT32), n, m) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

// ---- introspection

static int m_size(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        lua_pushinteger(L, t->size[gl_tdim(L, 2, t->ndim, "size")]);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) { lua_pushinteger(L, t->size[i]); lua_rawseti(L, -2, i + 1); }
    return 1;
}

static int m_stride(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        lua_pushinteger(L, t->stride[gl_tdim(L, 2, t->ndim, "stride")]);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) { lua_pushinteger(L, t->stride[i]); lua_rawseti(L, -2, i + 1); }
    return 1;
}

static int m_dim(lua_State *L) { lua_pushinteger(L, gl_check_tensor(L, 1)->ndim); return 1; }
static int m_numel(lua_State *L) { lua_pushinteger(L, gan_numel(gl_check_tensor(L, 1))); return 1; }
static int m_is_contiguous(lua_State *L) { lua_pushboolean(L, gan_is_contiguous(gl_check_tensor(L, 1))); return 1; }
static int m_storage_offset(lua_State *L) { lua_pushinteger(L, gl_check_tensor(L, 1)->offset); return 1; }
static int m_data_ptr(lua_State *L) { lua_pushlightuserdata(L, gan_data(gl_check_tensor(L, 1))); return 1; }

static void push_scalar(lua_State *L, gan_dtype dt, double v, int64_t iv) {
    if (dt == GAN_INT64) lua_pushinteger(L, iv);
    else lua_pushnumber(L, v);
}

static int m_item(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    double v;
    if (gan_item(&v, t) != GAN_OK) return gl_fail(L);
    int64_t zero[GAN_MAX_DIMS] = {0};
    push_scalar(L, t->dtype, v, t->dtype == GAN_INT64 ? gan_get_i64(t, zero) : 0);
    return 1;
}

static void totable_rec(lua_State *L, gan_tensor *t, int d, int64_t *idx) {
    if (d == t->ndim) {
        push_scalar(L, t->dtype, gan_get(t, idx), t->dtype == GAN_INT64 ? gan_get_i64(t, idx) : 0);
        return;
    }
    lua_createtable(L, (int)t->size[d], 0);
    for (int64_t i = 0; i < t->size[d]; i++) {
        idx[d] = i;
        totable_rec(L, t, d + 1, idx);
        lua_rawseti(L, -2, i + 1);
    }
}

static int m_totable(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int64_t idx[GAN_MAX_DIMS] = {0};
    luaL_checkstack(L, t->ndim + 10, "tensor too deep");
    totable_rec(L, t, 0, idx);
    return 1;
}

// ---- views

#define RET_TENSOR(call)                               \
    do {                                               \
        gan_tensor *r_;                                \
        if ((call) != GAN_OK) return gl_fail(L);       \
        gl_push_tensor(L, r_);                         \
        return 1;                                      \
    } while (0)
#define OUT (&r_)

static int shape_method(lua_State *L, int (*fn)(gan_tensor **, gan_tensor *, int, const int64_t *), bool allow_neg) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int ndim = 0;
    int64_t size[GAN_MAX_DIMS];
    if (lua_istable(L, 2)) {
        ndim = (int)luaL_len(L, 2);
        if (ndim > GAN_MAX_DIMS) return luaL_error(L, "at most %d dims", GAN_MAX_DIMS);
        for (int i = 0; i < ndim; i++) {
            lua_geti(L, 2, i + 1);
            int ok;
            size[i] = lua_tointegerx(L, -1, &ok);
            if (!ok) return luaL_error(L, "shape entry %d is not an integer", i + 1);
            lua_pop(L, 1);
        }
    } else {
        int top = lua_gettop(L);
        if (top - 1 > GAN_MAX_DIMS) return luaL_error(L, "at most %d dims", GAN_MAX_DIMS);
        for (int i = 2; i <= top; i++) size[ndim++] = luaL_checkinteger(L, i);
    }
    (void)allow_neg;
    RET_TENSOR(fn(OUT, t, ndim, size));
}
static int m_view(lua_State *L) { return shape_method(L, gan_ag_view, true); }
static int m_reshape(lua_State *L) { return shape_method(L, gan_ag_reshape, true); }
static int m_expand(lua_State *L) { return shape_method(L, gan_ag_expand, true); }

static int m_expand_as(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1), *o = gl_check_tensor(L, 2);
    RET_TENSOR(gan_ag_expand(OUT, t, o->ndim, o->size));
}
static int m_view_as(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1), *o = gl_check_tensor(L, 2);
    RET_TENSOR(gan_ag_view(OUT, t, o->ndim, o->size));
}

static int m_transpose(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int n = t->ndim ? t->ndim : 1;
    RET_TENSOR(gan_ag_transpose(OUT, t, gl_tdim(L, 2, n, "transpose"), gl_tdim(L, 3, n, "transpose")));
}

static int m_t(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (t->ndim > 2) return luaL_error(L, "t: expects a tensor with <= 2 dims, got %d (use transpose)", t->ndim);
    if (t->ndim < 2) { gan_tensor_retain(t); gl_push_tensor(L, t); return 1; }
    RET_TENSOR(gan_ag_transpose(OUT, t, 0, 1));
}

static int m_permute(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int dims[GAN_MAX_DIMS], n = 0;
    if (lua_istable(L, 2)) {
        n = (int)luaL_len(L, 2);
        if (n > GAN_MAX_DIMS) return luaL_error(L, "permute: too many dims");
        for (int i = 0; i < n; i++) { lua_geti(L, 2, i + 1); dims[i] = gl_tdim(L, -1, t->ndim, "permute"); lua_pop(L, 1); }
    } else {
        int top = lua_gettop(L);
        if (top - 1 > GAN_MAX_DIMS) return luaL_error(L, "permute: too many dims");
        for (int i = 2; i <= top; i++) dims[n++] = gl_tdim(L, i, t->ndim, "permute");
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (dims[i] == dims[j]) return luaL_error(L, "permute: dim %d given twice", dims[i] + 1);
    RET_TENSOR(gan_ag_permute(OUT, t, n, dims));
}

static int m_narrow(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int d;
    if (t->ndim == 0) return luaL_error(L, "narrow: cannot narrow a 0-d tensor");
    d = gl_tdim(L, 2, t->ndim, "narrow");
    lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
    if (start == 0) return luaL_argerror(L, 3, "start 0 is invalid: positions are 1-based");
    int64_t s0 = start > 0 ? start - 1 : t->size[d] + start;
    if (s0 < 0 || len < 0 || s0 > t->size[d] - len)
        return luaL_error(L, "narrow: start %I with length %I is out of range for dim %d of size %I "
                          "(positions are 1-based; -1 is the last)", start, len, d + 1, (lua_Integer)t->size[d]);
    RET_TENSOR(gan_ag_narrow(OUT, t, d, s0, len));
}

static int m_select(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int d;
    if (t->ndim == 0) return luaL_error(L, "select: cannot index a 0-d tensor");
    d = gl_tdim(L, 2, t->ndim, "select");
    RET_TENSOR(gan_ag_select(OUT, t, d, gl_pos(L, 3, t->size[d], "select: index")));
}

static int m_squeeze(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) RET_TENSOR(gan_ag_squeeze(OUT, t, 0, true));
    RET_TENSOR(gan_ag_squeeze(OUT, t, gl_tdim(L, 2, t->ndim ? t->ndim : 1, "squeeze"), false));
}

static int m_unsqueeze(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    RET_TENSOR(gan_ag_unsqueeze(OUT, t, gl_tdim(L, 2, t->ndim + 1, "unsqueeze")));
}

static int m_flatten(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int n = t->ndim ? t->ndim : 1;
    int s = lua_isnoneornil(L, 2) ? 0 : gl_tdim(L, 2, n, "flatten");
    int e = lua_isnoneornil(L, 3) ? n - 1 : gl_tdim(L, 3, n, "flatten");
    RET_TENSOR(gan_ag_flatten(OUT, t, s, e));
}

static int m_contiguous(lua_State *L) { RET_TENSOR(gan_ag_contiguous(OUT, gl_check_tensor(L, 1))); }
static int m_clone(lua_State *L) { RET_TENSOR(gan_ag_clone(OUT, gl_check_tensor(L, 1))); }

static int m_to(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    RET_TENSOR(gan_ag_to_dtype(OUT, t, gl_dtype(L, 2, t->dtype)));
}
static int m_float(lua_State *L) { RET_TENSOR(gan_ag_to_dtype(OUT, gl_check_tensor(L, 1), GAN_FLOAT32)); }
static int m_double(lua_State *L) { RET_TENSOR(gan_ag_to_dtype(OUT, gl_check_tensor(L, 1), GAN_FLOAT64)); }
static int m_long(lua_State *L) { RET_TENSOR(gan_to_dtype(OUT, gl_check_tensor(L, 1), GAN_INT64)); }

static int m_copy_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "copy_"), *s = gl_check_tensor(L, 2);
    if (gan_copy_(t, s) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int m_fill_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "fill_");
    if (gan_fill_(t, luaL_checknumber(L, 2)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int m_zero_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "zero_");
    if (gan_fill_(t, 0) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

// ---- elementwise

static int unary(lua_State *L) {
    gan_unop op = (gan_unop)lua_tointeger(L, lua_upvalueindex(1));
    RET_TENSOR(gan_ag_unary(OUT, op, gl_check_tensor(L, 1)));
}
static int unary_(lua_State *L) {
    gan_unop op = (gan_unop)lua_tointeger(L, lua_upvalueindex(1));
    gan_tensor *t = gl_inplace(L, 1, gan_unop_name(op));
    if (gan_unary_(t, op) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

static void check_operand(lua_State *L, int idx, const char *op) {
    if (lua_type(L, idx) != LUA_TNUMBER && !gl_test_tensor(L, idx))
        luaL_error(L, "%s: expected a tensor or a number as operand %d, got %s", op, idx, luaL_typename(L, idx));
}

// Tensor op tensor, tensor op number, or number op tensor (metamethods).
static int binary(lua_State *L) {
    gan_binop op = (gan_binop)lua_tointeger(L, lua_upvalueindex(1));
    check_operand(L, 1, gan_binop_name(op));
    check_operand(L, 2, gan_binop_name(op));
    gan_tensor *a = gl_test_tensor(L, 1), *b = gl_test_tensor(L, 2);
    if (a && b) RET_TENSOR(gan_ag_binary(OUT, op, a, b));
    if (a) RET_TENSOR(gan_ag_binary_scalar(OUT, op, a, lua_tonumber(L, 2), false));
    if (b) RET_TENSOR(gan_ag_binary_scalar(OUT, op, b, lua_tonumber(L, 1), true));
    return luaL_error(L, "%s: needs at least one tensor operand", gan_binop_name(op));
}

static int binary_(lua_State *L) {
    gan_binop op = (gan_binop)lua_tointeger(L, lua_upvalueindex(1));
    gan_tensor *a = gl_inplace(L, 1, gan_binop_name(op));
    check_operand(L, 2, gan_binop_name(op));
    gan_tensor *b = gl_test_tensor(L, 2);
    int rc = b ? gan_binary_(a, op, b) : gan_binary_scalar_(a, op, lua_tonumber(L, 2));
    if (rc != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

static double opt_bound(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? NAN : luaL_checknumber(L, idx);
}
static int m_clamp(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    RET_TENSOR(gan_ag_clamp(OUT, t, opt_bound(L, 2), opt_bound(L, 3)));
}
static int m_clamp_(lua_State *L) {
    if (gan_clamp_(gl_inplace(L, 1, "clamp_"), opt_bound(L, 2), opt_bound(L, 3)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int f_where(lua_State *L) {
    gan_tensor *c = gl_check_tensor(L, 1), *a = gl_check_tensor(L, 2), *b = gl_check_tensor(L, 3);
    RET_TENSOR(gan_ag_where(OUT, c, a, b));
}

static int m_masked_fill(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1), *m = gl_check_tensor(L, 2);
    RET_TENSOR(gan_ag_masked_fill(OUT, t, m, luaL_checknumber(L, 3)));
}
static int m_masked_fill_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "masked_fill_"), *m = gl_check_tensor(L, 2);
    if (gan_masked_fill_(t, m, luaL_checknumber(L, 3)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

// ---- reductions: x:sum(), x:sum(dim), x:sum({d1, d2}), x:sum(dim, keepdim)

// A 0-d tensor accepts dim 1 / -1, as in PyTorch.
static int read_dims(lua_State *L, int idx, const gan_tensor *t, const char *op, int *dims) {
    if (lua_isnoneornil(L, idx)) return 0;
    return gl_tdims(L, idx, t->ndim ? t->ndim : 1, op, dims);
}

static int reduce(lua_State *L) {
    static const char *const names[] = {"sum", "mean", "prod", "max", "min"};
    gan_redop op = (gan_redop)lua_tointeger(L, lua_upvalueindex(1));
    gan_tensor *t = gl_check_tensor(L, 1);
    int dims[GAN_MAX_DIMS];
    int n = read_dims(L, 2, t, names[op], dims);
    RET_TENSOR(gan_ag_reduce(OUT, op, t, n, dims, lua_toboolean(L, 3)));
}

// var/std(dims, [unbiased = true], [keepdim = false])
static int m_varstd(lua_State *L) {
    bool is_std = lua_tointeger(L, lua_upvalueindex(1)) != 0;   // upvalue is the integer 0 or 1
    gan_tensor *t = gl_check_tensor(L, 1);
    int dims[GAN_MAX_DIMS];
    int n = read_dims(L, 2, t, is_std ? "std" : "var", dims);
    bool unbiased = lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3);
    bool keep = lua_toboolean(L, 4);
    RET_TENSOR((is_std ? gan_ag_std : gan_ag_var)(OUT, t, n, dims, unbiased, keep));
}

// norm([p = 2], [dims], [keepdim]); p may be math.huge.
static int m_norm(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    double p = lua_isnoneornil(L, 2) ? 2 : luaL_checknumber(L, 2);
    int dims[GAN_MAX_DIMS];
    int n = read_dims(L, 3, t, "norm", dims);
    RET_TENSOR(gan_ag_norm(OUT, t, p, n, dims, lua_toboolean(L, 4)));
}

// max()/min(): the value as a tensor; max(dim, [keepdim]): values, indices (0-based).
static int m_maxmin(lua_State *L) {
    bool is_min = lua_tointeger(L, lua_upvalueindex(1)) != 0;   // upvalue is the integer 0 or 1
    gan_tensor *t = gl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) RET_TENSOR(gan_ag_max_all(OUT, t, is_min));
    gan_tensor *v, *i;
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, is_min ? "min" : "max");
    if (gan_ag_max_dim(&v, &i, t, d, lua_toboolean(L, 3), is_min) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, v);
    gl_push_tensor(L, i);
    return 2;
}

static int m_argmax(lua_State *L) {
    bool is_min = lua_tointeger(L, lua_upvalueindex(1)) != 0;   // upvalue is the integer 0 or 1
    gan_tensor *t = gl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) RET_TENSOR(gan_argmax(OUT, t, 0, true, false, is_min));
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, is_min ? "argmin" : "argmax");
    RET_TENSOR(gan_argmax(OUT, t, d, false, lua_toboolean(L, 3), is_min));
}

// ---- linear algebra, joins, indexing

static int f_matmul(lua_State *L) {
    gan_tensor *a = gl_check_tensor(L, 1), *b = gl_check_tensor(L, 2);
    RET_TENSOR(gan_ag_matmul(OUT, a, b));
}

static int f_cat(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);   // the dim, or nil; scratch space goes above it
    int n = (int)luaL_len(L, 1);
    if (n < 1) return luaL_error(L, "cat: needs at least one tensor");
    gan_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)n, 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        gan_tensor *t = gl_test_tensor(L, -1);
        if (!t) return luaL_error(L, "cat: entry %d is not a tensor (got %s)", i + 1, luaL_typename(L, -1));
        ts[i] = t;
        lua_pop(L, 1);   // still referenced by the table
    }
    // Passed on counted from the end, so core's messages name it in a form Lua users read.
    int nd = ts[0]->ndim ? ts[0]->ndim : 1;
    int dim = lua_isnoneornil(L, 2) ? 0 : gl_tdim(L, 2, nd, "cat");
    RET_TENSOR(gan_ag_cat(OUT, n, ts, dim - nd));
}

static int m_index_select(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, "index_select");
    RET_TENSOR(gan_ag_index_select(OUT, t, d, gl_check_tensor(L, 3)));
}

static int m_gather(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, "gather");
    RET_TENSOR(gan_ag_gather(OUT, t, d, gl_check_tensor(L, 3)));
}

static int m_scatter_add(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, "scatter_add");
    RET_TENSOR(gan_ag_scatter_add(OUT, t, d, gl_check_tensor(L, 3), gl_check_tensor(L, 4)));
}

static int m_scatter_add_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "scatter_add_");
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, "scatter_add_");
    if (gan_scatter_add_(t, d, gl_check_tensor(L, 3), gl_check_tensor(L, 4)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

// ---- __index / __newindex: x[i] (1-based), methods, properties

static int t_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TNUMBER) {
        gan_tensor *t = gl_check_tensor(L, 1);
        if (!lua_isinteger(L, 2)) return luaL_error(L, "tensor index must be an integer, got %f", lua_tonumber(L, 2));
        if (t->ndim == 0) return luaL_error(L, "cannot index a 0-d tensor (use :item())");
        int64_t i = gl_pos(L, 2, t->size[0], "index");
        if (t->ndim == 1) {
            push_scalar(L, t->dtype, gan_get(t, &i), t->dtype == GAN_INT64 ? gan_get_i64(t, &i) : 0);
            return 1;
        }
        RET_TENSOR(gan_ag_select(OUT, t, 0, i));
    }
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, 2);
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;   // a method
        lua_pop(L, 1);
        gan_tensor *t = gl_check_tensor(L, 1);
        if (strcmp(k, "dtype") == 0) { lua_pushstring(L, gan_dtype_name(t->dtype)); return 1; }
        if (strcmp(k, "shape") == 0) { lua_settop(L, 1); return m_size(L); }
        if (strcmp(k, "ndim") == 0) { lua_pushinteger(L, t->ndim); return 1; }
        if (gl_autograd_index(L, t, k)) return 1;
    }
    lua_pushnil(L);
    return 1;
}

static int t_newindex(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING && gl_autograd_newindex(L, t, lua_tostring(L, 2))) return 0;
    if (lua_type(L, 2) != LUA_TNUMBER || !lua_isinteger(L, 2))
        return luaL_error(L, "cannot set field '%s' of a tensor", luaL_tolstring(L, 2, NULL));
    gl_inplace(L, 1, "index assignment");
    if (t->ndim == 0) return luaL_error(L, "cannot index a 0-d tensor (use :fill_())");
    int64_t i = gl_pos(L, 2, t->size[0], "index");
    gan_tensor *s;
    if (gan_select(&s, t, 0, i) != GAN_OK) return gl_fail(L);
    gan_tensor *v = gl_test_tensor(L, 3);
    int rc;
    if (v) rc = gan_copy_(s, v);
    else if (lua_type(L, 3) == LUA_TNUMBER) rc = gan_fill_(s, lua_tonumber(L, 3));
    else rc = gan_error("tensor element assignment needs a number or a tensor, got %s", luaL_typename(L, 3));
    gan_tensor_release(s);
    if (rc != GAN_OK) return gl_fail(L);
    return 0;
}

static int t_len(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    lua_pushinteger(L, t->ndim ? t->size[0] : 0);
    return 1;
}

// ---- threads and memory

static int f_set_num_threads(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 1) return luaL_argerror(L, 1, "thread count must be >= 1");
    gan_set_num_threads((int)n);
    return 0;
}
static int f_get_num_threads(lua_State *L) { lua_pushinteger(L, gan_get_num_threads()); return 1; }
static int f_blas_core(lua_State *L) { lua_pushstring(L, gan_blas_core_name()); return 1; }

static int f_memory_stats(lua_State *L) {
    gan_alloc_stats s = gan_alloc_get_stats();
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, s.live_bytes); lua_setfield(L, -2, "live_bytes");
    lua_pushinteger(L, s.cached_bytes); lua_setfield(L, -2, "cached_bytes");
    lua_pushinteger(L, s.peak_live_bytes); lua_setfield(L, -2, "peak_live_bytes");
    lua_pushinteger(L, s.system_allocs); lua_setfield(L, -2, "system_allocs");
    lua_pushinteger(L, s.cache_hits); lua_setfield(L, -2, "cache_hits");
    return 1;
}
static int f_empty_cache(lua_State *L) { gan_alloc_trim(); return 0; }

// Monotonic wall-clock seconds, for timing (os.clock is CPU time).
static int f_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

// ---- registration

static void reg_closure(lua_State *L, const char *name, lua_CFunction fn, lua_Integer up) {
    lua_pushinteger(L, up);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
}

static const luaL_Reg methods[] = {
    {"size", m_size}, {"stride", m_stride}, {"dim", m_dim}, {"numel", m_numel},
    {"is_contiguous", m_is_contiguous}, {"storage_offset", m_storage_offset},
    {"data_ptr", m_data_ptr}, {"item", m_item}, {"totable", m_totable},
    {"view", m_view}, {"reshape", m_reshape}, {"expand", m_expand}, {"expand_as", m_expand_as},
    {"broadcast_to", m_expand}, {"view_as", m_view_as},
    {"transpose", m_transpose}, {"t", m_t}, {"permute", m_permute}, {"narrow", m_narrow},
    {"select", m_select}, {"squeeze", m_squeeze}, {"unsqueeze", m_unsqueeze},
    {"flatten", m_flatten}, {"contiguous", m_contiguous}, {"clone", m_clone},
    {"to", m_to}, {"float", m_float}, {"double", m_double}, {"long", m_long},
    {"copy_", m_copy_}, {"fill_", m_fill_}, {"zero_", m_zero_},
    {"clamp", m_clamp}, {"clamp_", m_clamp_}, {"masked_fill", m_masked_fill},
    {"masked_fill_", m_masked_fill_}, {"norm", m_norm},
    {"matmul", f_matmul}, {"index_select", m_index_select}, {"gather", m_gather},
    {"scatter_add", m_scatter_add}, {"scatter_add_", m_scatter_add_},
    {NULL, NULL}};

static const struct { const char *name; gan_unop op; } unops[] = {
    {"neg", GAN_NEG}, {"abs", GAN_ABS}, {"exp", GAN_EXP}, {"log", GAN_LOG}, {"sqrt", GAN_SQRT},
    {"rsqrt", GAN_RSQRT}, {"tanh", GAN_TANH}, {"sigmoid", GAN_SIGMOID}, {"relu", GAN_RELU},
    {"sign", GAN_SIGN}, {"reciprocal", GAN_RECIPROCAL}, {"square", GAN_SQUARE},
    {"floor", GAN_FLOOR}, {"ceil", GAN_CEIL}, {"round", GAN_ROUND}, {"log1p", GAN_LOG1P},
    {"expm1", GAN_EXPM1}, {"sin", GAN_SIN}, {"cos", GAN_COS}, {"erf", GAN_ERF}};

static const struct { const char *name; gan_binop op; } binops[] = {
    {"add", GAN_ADD}, {"sub", GAN_SUB}, {"mul", GAN_MUL}, {"div", GAN_DIV}, {"pow", GAN_POW},
    {"minimum", GAN_MINIMUM}, {"maximum", GAN_MAXIMUM}, {"eq", GAN_EQ}, {"ne", GAN_NE},
    {"lt", GAN_LT}, {"le", GAN_LE}, {"gt", GAN_GT}, {"ge", GAN_GE}};

static const struct { const char *name; gan_redop op; } redops[] = {
    {"sum", GAN_SUM}, {"mean", GAN_MEAN}, {"prod", GAN_PROD}};

static const luaL_Reg functions[] = {
    {"tensor", f_tensor}, {"empty", f_empty}, {"zeros", f_zeros}, {"ones", f_ones},
    {"full", f_full}, {"arange", f_arange}, {"linspace", f_linspace}, {"eye", f_eye},
    {"where", f_where}, {"matmul", f_matmul}, {"cat", f_cat},
    {"set_num_threads", f_set_num_threads}, {"get_num_threads", f_get_num_threads},
    {"blas_core", f_blas_core}, {"memory_stats", f_memory_stats}, {"empty_cache", f_empty_cache},
    {"collect_garbage", f_collect_garbage},
    {"clock", f_clock},
    {NULL, NULL}};

int luaopen_gan_core(lua_State *L) {
    lua_newtable(L);                 // the module
    luaL_setfuncs(L, functions, 0);
    static const char *likes[] = {"zeros_like", "ones_like", "empty_like", "full_like"};
    for (int i = 0; i < 4; i++) {
        lua_pushstring(L, likes[i]);
        lua_pushcclosure(L, f_like, 1);
        lua_setfield(L, -2, likes[i]);
    }

    lua_newtable(L);                 // tensor methods
    luaL_setfuncs(L, methods, 0);
    for (size_t i = 0; i < sizeof unops / sizeof *unops; i++) {
        char name[32];
        reg_closure(L, unops[i].name, unary, unops[i].op);
        snprintf(name, sizeof name, "%s_", unops[i].name);
        reg_closure(L, name, unary_, unops[i].op);
    }
    for (size_t i = 0; i < sizeof binops / sizeof *binops; i++) {
        char name[32];
        reg_closure(L, binops[i].name, binary, binops[i].op);
        snprintf(name, sizeof name, "%s_", binops[i].name);
        reg_closure(L, name, binary_, binops[i].op);
    }
    for (size_t i = 0; i < sizeof redops / sizeof *redops; i++)
        reg_closure(L, redops[i].name, reduce, redops[i].op);
    reg_closure(L, "max", m_maxmin, 0);
    reg_closure(L, "min", m_maxmin, 1);
    reg_closure(L, "argmax", m_argmax, 0);
    reg_closure(L, "argmin", m_argmax, 1);
    reg_closure(L, "var", m_varstd, 0);
    reg_closure(L, "std", m_varstd, 1);
    gl_register_random_methods(L);   // random.c: uniform_, normal_, ...
    gl_register_autograd_methods(L); // autograd.c: backward, requires_grad_, ...
    int methods_idx = lua_gettop(L);

    luaL_newmetatable(L, GL_TENSOR);
    lua_pushvalue(L, methods_idx);
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, t_newindex); lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, t_gc); lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, t_gc); lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, t_len); lua_setfield(L, -2, "__len");
    static const struct { const char *mm; gan_binop op; } arith[] = {
        {"__add", GAN_ADD}, {"__sub", GAN_SUB}, {"__mul", GAN_MUL}, {"__div", GAN_DIV}, {"__pow", GAN_POW}};
    for (size_t i = 0; i < sizeof arith / sizeof *arith; i++) reg_closure(L, arith[i].mm, binary, arith[i].op);
    reg_closure(L, "__unm", unary, GAN_NEG);
    lua_pushvalue(L, methods_idx);
    lua_setfield(L, -2, "__methods");     // for the REPL's completion and lua/gan
    lua_pushliteral(L, "gan.Tensor");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);                        // metatable

    lua_setfield(L, -2, "Tensor");        // module.Tensor = methods
    gl_register_random(L);                // random.c: manual_seed, rand, Generator, ...
    gl_register_autograd(L);              // autograd.c: grad, no_grad, conv2d, ...
    gl_register_optim_io(L);              // optim_io.c: optimizer steps, files, qr
    gl_register_image(L);                 // image.c: images and background decoding
    gl_register_draw(L);                  // draw.c: lines, rectangles, text on images
    gan_lua_open_readline(L);
    lua_setfield(L, -2, "readline");
    return 1;
}
