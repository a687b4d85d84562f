// Lua glue for gan/tensor.h: tensor literals and creation, introspection, element access,
// views and copies, and the tensor type itself (indexing x[i], properties, __gc).
#include "bindings.h"

/***
@module gan.core
*/

/*** Creating tensors.
@section creation
*/
#include <string.h>

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

/*** A tensor from nested tables of numbers (booleans become 0 and 1).
Every table at one depth must have the same length.
@function tensor
@tparam number|table data a number (a 0-d tensor) or nested tables, e.g. {{1, 2}, {3, 4}}
@tparam[opt] table opts `dtype` ("float32")
@treturn Tensor
@raise on ragged nesting or a value that is not a number
*/
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
    gan_dtype dt = gl_opt_dtype(L, 2, GAN_FLOAT32);
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
    gan_dtype dt = gl_opt_dtype(L, o, GAN_FLOAT32);
    gan_tensor *t;
    int rc = empty ? gan_empty(&t, dt, ndim, size)
           : zero ? gan_zeros(&t, dt, ndim, size) : gan_full(&t, dt, ndim, size, fill);
    if (rc != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}
/*** An uninitialised tensor (its values are whatever the memory held).
@function empty
@tparam int|{int,...} ... the sizes, as integers or one table: empty(2, 3) or empty{2, 3}
@tparam[opt] table opts `dtype` ("float32")
@treturn Tensor
*/
static int f_empty(lua_State *L) { return create(L, 0, false, true); }
/*** A tensor of zeros.
@function zeros
@tparam int|{int,...} ... the sizes, as integers or one table
@tparam[opt] table opts `dtype` ("float32")
@treturn Tensor
*/
static int f_zeros(lua_State *L) { return create(L, 0, true, false); }
/*** A tensor of ones.
@function ones
@tparam int|{int,...} ... the sizes, as integers or one table
@tparam[opt] table opts `dtype` ("float32")
@treturn Tensor
*/
static int f_ones(lua_State *L) { return create(L, 1, false, false); }

/*** A tensor filled with value: full({2, 3}, 7) or full(2, 3, 7).
@function full
@tparam int|{int,...} ... the sizes, as integers or one table
@tparam number value
@tparam[opt] table opts `dtype` ("float32")
@treturn Tensor
*/
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
    gan_dtype dt = gl_opt_dtype(L, o + 1, GAN_FLOAT32);
    gan_tensor *t;
    if (gan_full(&t, dt, ndim, size, v) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

/*** A tensor of zeros with x's shape and dtype.
@function zeros_like
@tparam Tensor x
@tparam[opt] table opts `dtype` (x's)
@treturn Tensor
*/

/*** A tensor of ones with x's shape and dtype.
@function ones_like
@tparam Tensor x
@tparam[opt] table opts `dtype` (x's)
@treturn Tensor
*/

/*** An uninitialised tensor with x's shape and dtype.
@function empty_like
@tparam Tensor x
@tparam[opt] table opts `dtype` (x's)
@treturn Tensor
*/

/*** A tensor with x's shape and dtype filled with value.
@function full_like
@tparam Tensor x
@tparam number value
@tparam[opt] table opts `dtype` (x's)
@treturn Tensor
*/
// zeros_like / ones_like / empty_like / full_like(x, [value], [opts])
static int f_like(lua_State *L) {
    const char *kind = lua_tostring(L, lua_upvalueindex(1));
    gan_tensor *x = gl_check_tensor(L, 1);
    int o = 2;
    double v = 0;
    if (kind[0] == 'f') { v = luaL_checknumber(L, 2); o = 3; }
    else if (kind[0] == 'o') v = 1;
    gl_check_opts(L, o, create_opts, kind);
    gan_dtype dt = gl_opt_dtype(L, o, x->dtype);
    gan_tensor *t;
    int rc = kind[0] == 'e' ? gan_empty(&t, dt, x->ndim, x->size) : gan_full(&t, dt, x->ndim, x->size, v);
    if (rc != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

/*** The numbers from start up to end (excluded) by step: arange(5) is 0, 1, 2, 3, 4.
Integer arguments give an int64 tensor, as in PyTorch; any float gives float32.
@function arange
@tparam[opt=0] number start (arange(end) is arange(0, end))
@tparam number end excluded
@tparam[opt=1] number step
@tparam[opt] table opts `dtype` (int64 for integer arguments, else float32)
@treturn Tensor 1-d
*/
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
    gan_dtype dt = gl_opt_dtype(L, n + 1, ints ? GAN_INT64 : GAN_FLOAT32);
    gan_tensor *t;
    if (gan_arange(&t, dt, start, end, step) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

/*** steps numbers evenly spaced from a to b, both ends exact.
@function linspace
@tparam number a
@tparam number b
@tparam int steps
@tparam[opt] table opts `dtype` ("float32")
@treturn Tensor 1-d
*/
static int f_linspace(lua_State *L) {
    double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
    lua_Integer steps = luaL_checkinteger(L, 3);
    static const char *const known[] = {"dtype", NULL};
    gl_check_opts(L, 4, known, "linspace");
    gan_tensor *t;
    if (gan_linspace(&t, gl_opt_dtype(L, 4, GAN_FLOAT32), a, b, steps) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

/*** The identity matrix (n, m): ones on the diagonal.
@function eye
@tparam int n rows
@tparam[opt=n] int m columns
@tparam[opt] table opts `dtype` ("float32")
@treturn Tensor
@raise when a size is negative
*/
static int f_eye(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    int o = 2;
    lua_Integer m = n;
    if (lua_type(L, 2) == LUA_TNUMBER) { m = luaL_checkinteger(L, 2); o = 3; }
    static const char *const known[] = {"dtype", NULL};
    gl_check_opts(L, o, known, "eye");
    if (n < 0 || m < 0) return luaL_error(L, "eye: sizes must be >= 0, got %d x %d", (int)n, (int)m);
    gan_tensor *t;
    if (gan_eye(&t, gl_opt_dtype(L, o, GAN_FLOAT32), n, m) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

// ---- introspection

/*** Tensor methods, properties and operators (the tensor type is gan.Tensor).
Methods are called as x:name(...); properties are fields (x.dtype, x.grad). The
operators +, -, *, /, ^ and unary - broadcast (a Lua number may stand on either side);
x[i] indexes dim 1 (1-based); #x is the size of dim 1.
@type Tensor
*/
// x:size() / x:stride(): all dims as a table, or one dim's entry.
static int per_dim(lua_State *L, bool strides) {
    gan_tensor *t = gl_check_tensor(L, 1);
    const int64_t *v = strides ? t->stride : t->size;
    if (!lua_isnoneornil(L, 2)) {
        lua_pushinteger(L, v[gl_tdim(L, 2, t->ndim, strides ? "stride" : "size")]);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) { lua_pushinteger(L, v[i]); lua_rawseti(L, -2, i + 1); }
    return 1;
}
/*** The sizes of all dims as a table, or the size of one dim.
@function size
@tparam[opt] int dim 1-based, negative from the end
@treturn table|int
*/
static int m_size(lua_State *L) { return per_dim(L, false); }
/*** The strides (in elements) of all dims as a table, or of one dim.
@function stride
@tparam[opt] int dim
@treturn table|int
*/
static int m_stride(lua_State *L) { return per_dim(L, true); }

/*** The number of dims (0 for a scalar tensor).
@function dim
@treturn int
*/
static int m_dim(lua_State *L) { lua_pushinteger(L, gl_check_tensor(L, 1)->ndim); return 1; }
/*** The number of elements.
@function numel
@treturn int
*/
static int m_numel(lua_State *L) { lua_pushinteger(L, gan_numel(gl_check_tensor(L, 1))); return 1; }
/*** Whether the elements lie in row-major order without gaps.
@function is_contiguous
@treturn boolean
*/
static int m_is_contiguous(lua_State *L) { lua_pushboolean(L, gan_is_contiguous(gl_check_tensor(L, 1))); return 1; }
/*** The offset of the first element in the storage, in elements (0-based).
@function storage_offset
@treturn int
*/
static int m_storage_offset(lua_State *L) { lua_pushinteger(L, gl_check_tensor(L, 1)->offset); return 1; }
/*** The address of the first element, as a light userdata (for comparing storages).
@function data_ptr
@treturn userdata
*/
static int m_data_ptr(lua_State *L) { lua_pushlightuserdata(L, gan_data(gl_check_tensor(L, 1))); return 1; }

static void push_scalar(lua_State *L, gan_dtype dt, double v, int64_t iv) {
    if (dt == GAN_INT64) lua_pushinteger(L, iv);
    else lua_pushnumber(L, v);
}

/*** The value of a one-element tensor, as a Lua number (an integer for int64).
@function item
@treturn number
@raise when the tensor has more than one element
*/
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

/*** The values as nested Lua tables (a number for a 0-d tensor).
@function totable
@treturn table|number
*/
static int m_totable(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int64_t idx[GAN_MAX_DIMS] = {0};
    luaL_checkstack(L, t->ndim + 10, "tensor too deep");
    totable_rec(L, t, 0, idx);
    return 1;
}

// ---- views and copies

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
    GL_RETURN_TENSOR(fn(GL_OUT, t, ndim, size));
}
/*** A view with another shape over the same storage: x:view(2, -1) or x:view{2, -1}.
One size may be -1 (inferred).
@function view
@tparam int|{int,...} ... the new sizes
@treturn Tensor
@raise when the element count differs or the strides do not allow a view (use reshape)
*/
static int m_view(lua_State *L) { return shape_method(L, gan_ag_view, true); }
/*** The tensor with another shape: a view when the strides allow it, else a copy.
@function reshape
@tparam int|{int,...} ... the new sizes (one may be -1)
@treturn Tensor
*/
static int m_reshape(lua_State *L) { return shape_method(L, gan_ag_reshape, true); }
/*** A view with size-1 dims repeated (stride 0) to the given sizes; -1 keeps a size.
@function expand
@tparam int|{int,...} ... the new sizes; new leading dims may be added
@treturn Tensor
@raise when a dim of size other than 1 would change
*/

/*** The same as expand: a view broadcast to the given sizes.
@function broadcast_to
@tparam int|{int,...} ... the new sizes
@treturn Tensor
*/
static int m_expand(lua_State *L) { return shape_method(L, gan_ag_expand, true); }

/*** x:expand to other's shape.
@function expand_as
@tparam Tensor other
@treturn Tensor
*/
static int m_expand_as(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1), *o = gl_check_tensor(L, 2);
    GL_RETURN_TENSOR(gan_ag_expand(GL_OUT, t, o->ndim, o->size));
}
/*** x:view with other's shape.
@function view_as
@tparam Tensor other
@treturn Tensor
*/
static int m_view_as(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1), *o = gl_check_tensor(L, 2);
    GL_RETURN_TENSOR(gan_ag_view(GL_OUT, t, o->ndim, o->size));
}

/*** A view with two dims swapped.
@function transpose
@tparam int dim0
@tparam int dim1
@treturn Tensor
*/
static int m_transpose(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int n = t->ndim ? t->ndim : 1;
    GL_RETURN_TENSOR(gan_ag_transpose(GL_OUT, t, gl_tdim(L, 2, n, "transpose"), gl_tdim(L, 3, n, "transpose")));
}

/*** The transpose of a matrix (a 0-d or 1-d tensor is returned as is).
@function t
@treturn Tensor
@raise for more than 2 dims (use transpose)
*/
static int m_t(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (t->ndim > 2) return luaL_error(L, "t: expects a tensor with <= 2 dims, got %d (use transpose)", t->ndim);
    if (t->ndim < 2) { gan_tensor_retain(t); gl_push_tensor(L, t); return 1; }
    GL_RETURN_TENSOR(gan_ag_transpose(GL_OUT, t, 0, 1));
}

/*** A view with the dims reordered: x:permute(3, 1, 2) or x:permute{3, 1, 2}.
@function permute
@tparam int|{int,...} ... every dim once, in the new order
@treturn Tensor
@raise when a dim is given twice
*/
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
    GL_RETURN_TENSOR(gan_ag_permute(GL_OUT, t, n, dims));
}

/*** A view of length elements of dim starting at start (1-based; negative from the end).
@function narrow
@tparam int dim
@tparam int start
@tparam int length
@treturn Tensor
@raise when the range does not fit in the dim
*/
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
    GL_RETURN_TENSOR(gan_ag_narrow(GL_OUT, t, d, s0, len));
}

/*** The view at position index of dim, without that dim (x[i] is x:select(1, i)).
@function select
@tparam int dim
@tparam int index 1-based, negative from the end
@treturn Tensor
*/
static int m_select(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int d;
    if (t->ndim == 0) return luaL_error(L, "select: cannot index a 0-d tensor");
    d = gl_tdim(L, 2, t->ndim, "select");
    GL_RETURN_TENSOR(gan_ag_select(GL_OUT, t, d, gl_pos(L, 3, t->size[d], "select: index")));
}

/*** A view without size-1 dims: all of them, or only dim.
@function squeeze
@tparam[opt] int dim
@treturn Tensor
*/
static int m_squeeze(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) GL_RETURN_TENSOR(gan_ag_squeeze(GL_OUT, t, 0, true));
    GL_RETURN_TENSOR(gan_ag_squeeze(GL_OUT, t, gl_tdim(L, 2, t->ndim ? t->ndim : 1, "squeeze"), false));
}

/*** A view with a new size-1 dim at position dim (from 1 to x:dim() + 1 in the result).
@function unsqueeze
@tparam int dim
@treturn Tensor
*/
static int m_unsqueeze(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    GL_RETURN_TENSOR(gan_ag_unsqueeze(GL_OUT, t, gl_tdim(L, 2, t->ndim + 1, "unsqueeze")));
}

/*** Dims start..stop merged into one (a view when possible).
@function flatten
@tparam[opt=1] int start
@tparam[opt=-1] int stop
@treturn Tensor
*/
static int m_flatten(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int n = t->ndim ? t->ndim : 1;
    int s = lua_isnoneornil(L, 2) ? 0 : gl_tdim(L, 2, n, "flatten");
    int e = lua_isnoneornil(L, 3) ? n - 1 : gl_tdim(L, 3, n, "flatten");
    GL_RETURN_TENSOR(gan_ag_flatten(GL_OUT, t, s, e));
}

/*** The tensor itself when contiguous, else a contiguous copy.
@function contiguous
@treturn Tensor
*/
static int m_contiguous(lua_State *L) { GL_RETURN_TENSOR(gan_ag_contiguous(GL_OUT, gl_check_tensor(L, 1))); }
/*** A copy with its own storage.
@function clone
@treturn Tensor
*/
static int m_clone(lua_State *L) { GL_RETURN_TENSOR(gan_ag_clone(GL_OUT, gl_check_tensor(L, 1))); }

/*** The tensor converted to dtype: x itself when it has that dtype, else a converted copy
(differentiable between float dtypes).
@function to
@tparam[opt] string dtype "float32", "float64" or "int64" (default: x's own)
@treturn Tensor
*/
static int m_to(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    GL_RETURN_TENSOR(gan_ag_to_dtype(GL_OUT, t, gl_dtype(L, 2, t->dtype)));
}
/*** x:to("float32").
@function float
@treturn Tensor
*/
static int m_float(lua_State *L) { GL_RETURN_TENSOR(gan_ag_to_dtype(GL_OUT, gl_check_tensor(L, 1), GAN_FLOAT32)); }
/*** x:to("float64").
@function double
@treturn Tensor
*/
static int m_double(lua_State *L) { GL_RETURN_TENSOR(gan_ag_to_dtype(GL_OUT, gl_check_tensor(L, 1), GAN_FLOAT64)); }
/*** x:to("int64"), not recorded by autograd.
@function long
@treturn Tensor
*/
static int m_long(lua_State *L) { GL_RETURN_TENSOR(gan_to_dtype(GL_OUT, gl_check_tensor(L, 1), GAN_INT64)); }

/*** Copies src into x, in place, broadcasting src and converting its dtype.
@function copy_
@tparam Tensor src
@treturn Tensor x
*/
static int m_copy_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "copy_"), *s = gl_check_tensor(L, 2);
    if (gan_copy_(t, s) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

/*** Sets every element of x to value, in place.
@function fill_
@tparam number value
@treturn Tensor x
*/
static int m_fill_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "fill_");
    if (gan_fill_(t, luaL_checknumber(L, 2)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

/*** Sets every element of x to 0, in place.
@function zero_
@treturn Tensor x
*/
static int m_zero_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "zero_");
    if (gan_fill_(t, 0) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

// ---- the type: x[i] (1-based), methods, properties

/*** x[i], x.name: an integer indexes dim 1 (1-based; negative from the end), giving a
number for a 1-d tensor and the view x:select(1, i) otherwise; a string gives a method
or a property.
@function __index
@static
@tparam Tensor x
@tparam int|string key
@return a number, a Tensor, a method or a property's value (nil for an unknown name)
@raise when an integer index is out of range or x is 0-d
*/
// __index, with upvalues the methods and the property getters (gl_tables).
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
        GL_RETURN_TENSOR(gan_ag_select(GL_OUT, t, 0, i));
    }
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;   // a method
        lua_pop(L, 1);
        gl_check_tensor(L, 1);
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(2)) == LUA_TFUNCTION) {      // a property
            lua_CFunction get = lua_tocfunction(L, -1);
            lua_settop(L, 1);
            return get(L);
        }
    }
    lua_pushnil(L);
    return 1;
}

/*** x[i] = v writes a number or copies a tensor into position i of dim 1; x.grad = g and
x.requires_grad = b set those properties.
@function __newindex
@static
@tparam Tensor x
@tparam int|string key
@tparam number|Tensor|boolean value
@raise for any other field, an out-of-range index, or a tensor that requires grad
*/
// __newindex, with upvalue the property setters: x.grad = g, x[i] = v.
static int t_newindex(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TFUNCTION) {
            lua_CFunction set = lua_tocfunction(L, -1);
            lua_settop(L, 3);
            return set(L);
        }
        lua_pop(L, 1);
    }
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

/*** #x: the size of dim 1 (0 for a 0-d tensor).
@function __len
@static
@tparam Tensor x
@treturn int
*/
static int t_len(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    lua_pushinteger(L, t->ndim ? t->size[0] : 0);
    return 1;
}

/*** Releases the tensor's reference to its storage: run by the garbage collector, and by
`local x <close> = ...` at the end of the scope (using x afterwards is an error).
@function __gc
@static
@tparam Tensor x
*/

/*** The same as __gc, for to-be-closed variables: `local x <close> = gan.zeros(1000, 1000)`.
@function __close
@static
@tparam Tensor x
*/
static int t_gc(lua_State *L) {
    gan_tensor **box = luaL_checkudata(L, 1, GL_TENSOR);
    gan_tensor_release(*box);
    *box = NULL;
    return 0;
}


/*** The element type: "float32", "float64" or "int64". Read-only.
@property dtype
@treturn string
*/

/*** The sizes as a table, as x:size(). Read-only.
@property shape
@treturn {int,...}
*/

/*** The number of dims, as x:dim(). Read-only.
@property ndim
@treturn int
*/
static int p_dtype(lua_State *L) { lua_pushstring(L, gan_dtype_name(gl_check_tensor(L, 1)->dtype)); return 1; }

// ---- registration

static const luaL_Reg functions[] = {
    {"tensor", f_tensor}, {"empty", f_empty}, {"zeros", f_zeros}, {"ones", f_ones},
    {"full", f_full}, {"arange", f_arange}, {"linspace", f_linspace}, {"eye", f_eye},
    {NULL, NULL}};

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
    {NULL, NULL}};

static const luaL_Reg getters[] = {{"dtype", p_dtype}, {"shape", m_size}, {"ndim", m_dim}, {NULL, NULL}};

void gl_register_tensor(lua_State *L, const gl_tables *t) {
    gl_set_funcs(L, t->module, functions);
    static const char *const likes[] = {"zeros_like", "ones_like", "empty_like", "full_like"};
    for (int i = 0; i < 4; i++) {
        lua_pushstring(L, likes[i]);
        lua_pushcclosure(L, f_like, 1);
        lua_setfield(L, t->module, likes[i]);
    }
    gl_set_funcs(L, t->methods, methods);
    gl_set_funcs(L, t->getters, getters);
    lua_pushvalue(L, t->methods);
    lua_pushvalue(L, t->getters);
    lua_pushcclosure(L, t_index, 2);
    lua_setfield(L, t->meta, "__index");
    lua_pushvalue(L, t->setters);
    lua_pushcclosure(L, t_newindex, 1);
    lua_setfield(L, t->meta, "__newindex");
    lua_pushcfunction(L, t_gc); lua_setfield(L, t->meta, "__gc");
    lua_pushcfunction(L, t_gc); lua_setfield(L, t->meta, "__close");
    lua_pushcfunction(L, t_len); lua_setfield(L, t->meta, "__len");
    lua_pushvalue(L, t->methods);
    lua_setfield(L, t->meta, "__methods");   // for the REPL's completion and lua/gan
}
