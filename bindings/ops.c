// Lua glue for gan/ops.h: elementwise ops (also as the arithmetic metamethods), reductions,
// matmul and the decompositions, joins and indexing. The differentiable versions
// (gan_ag_*) are the ones bound, so everything here records for autograd.
#include "bindings.h"
#include <math.h>

// ---- elementwise

static int unary(lua_State *L) {
    gan_unop op = (gan_unop)lua_tointeger(L, lua_upvalueindex(1));
    GL_RETURN_TENSOR(gan_ag_unary(GL_OUT, op, gl_check_tensor(L, 1)));
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
    if (a && b) GL_RETURN_TENSOR(gan_ag_binary(GL_OUT, op, a, b));
    if (a) GL_RETURN_TENSOR(gan_ag_binary_scalar(GL_OUT, op, a, lua_tonumber(L, 2), false));
    if (b) GL_RETURN_TENSOR(gan_ag_binary_scalar(GL_OUT, op, b, lua_tonumber(L, 1), true));
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
    GL_RETURN_TENSOR(gan_ag_clamp(GL_OUT, t, opt_bound(L, 2), opt_bound(L, 3)));
}
static int m_clamp_(lua_State *L) {
    if (gan_clamp_(gl_inplace(L, 1, "clamp_"), opt_bound(L, 2), opt_bound(L, 3)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int f_where(lua_State *L) {
    gan_tensor *c = gl_check_tensor(L, 1), *a = gl_check_tensor(L, 2), *b = gl_check_tensor(L, 3);
    GL_RETURN_TENSOR(gan_ag_where(GL_OUT, c, a, b));
}

static int m_masked_fill(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1), *m = gl_check_tensor(L, 2);
    GL_RETURN_TENSOR(gan_ag_masked_fill(GL_OUT, t, m, luaL_checknumber(L, 3)));
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
    GL_RETURN_TENSOR(gan_ag_reduce(GL_OUT, op, t, n, dims, lua_toboolean(L, 3)));
}

// var/std(dims, [unbiased = true], [keepdim = false])
static int m_varstd(lua_State *L) {
    bool is_std = lua_tointeger(L, lua_upvalueindex(1)) != 0;   // upvalue is the integer 0 or 1
    gan_tensor *t = gl_check_tensor(L, 1);
    int dims[GAN_MAX_DIMS];
    int n = read_dims(L, 2, t, is_std ? "std" : "var", dims);
    bool unbiased = lua_isnoneornil(L, 3) ? true : lua_toboolean(L, 3);
    bool keep = lua_toboolean(L, 4);
    GL_RETURN_TENSOR((is_std ? gan_ag_std : gan_ag_var)(GL_OUT, t, n, dims, unbiased, keep));
}

// norm([p = 2], [dims], [keepdim]); p may be math.huge.
static int m_norm(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    double p = lua_isnoneornil(L, 2) ? 2 : luaL_checknumber(L, 2);
    int dims[GAN_MAX_DIMS];
    int n = read_dims(L, 3, t, "norm", dims);
    GL_RETURN_TENSOR(gan_ag_norm(GL_OUT, t, p, n, dims, lua_toboolean(L, 4)));
}

// max()/min(): the value as a tensor; max(dim, [keepdim]): values, indices (0-based).
static int m_maxmin(lua_State *L) {
    bool is_min = lua_tointeger(L, lua_upvalueindex(1)) != 0;   // upvalue is the integer 0 or 1
    gan_tensor *t = gl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) GL_RETURN_TENSOR(gan_ag_max_all(GL_OUT, t, is_min));
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
    if (lua_isnoneornil(L, 2)) GL_RETURN_TENSOR(gan_argmax(GL_OUT, t, 0, true, false, is_min));
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, is_min ? "argmin" : "argmax");
    GL_RETURN_TENSOR(gan_argmax(GL_OUT, t, d, false, lua_toboolean(L, 3), is_min));
}

// ---- linear algebra, joins, indexing

static int f_matmul(lua_State *L) {
    gan_tensor *a = gl_check_tensor(L, 1), *b = gl_check_tensor(L, 2);
    GL_RETURN_TENSOR(gan_ag_matmul(GL_OUT, a, b));
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
    GL_RETURN_TENSOR(gan_ag_cat(GL_OUT, n, ts, dim - nd));
}

static int m_index_select(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, "index_select");
    GL_RETURN_TENSOR(gan_ag_index_select(GL_OUT, t, d, gl_check_tensor(L, 3)));
}

static int m_gather(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, "gather");
    GL_RETURN_TENSOR(gan_ag_gather(GL_OUT, t, d, gl_check_tensor(L, 3)));
}

static int m_scatter_add(lua_State *L) {
    gan_tensor *t = gl_check_tensor(L, 1);
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, "scatter_add");
    GL_RETURN_TENSOR(gan_ag_scatter_add(GL_OUT, t, d, gl_check_tensor(L, 3), gl_check_tensor(L, 4)));
}

static int m_scatter_add_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "scatter_add_");
    int d = gl_tdim(L, 2, t->ndim ? t->ndim : 1, "scatter_add_");
    if (gan_scatter_add_(t, d, gl_check_tensor(L, 3), gl_check_tensor(L, 4)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

// Decompositions with two results: q, r = qr(a); values, vectors = eigh(a).
static int two_results(lua_State *L, int (*fn)(gan_tensor **, gan_tensor **, const gan_tensor *)) {
    gan_tensor *a, *b;
    if (fn(&a, &b, gl_check_tensor(L, 1)) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, a);
    gl_push_tensor(L, b);
    return 2;
}
static int f_qr(lua_State *L) { return two_results(L, gan_qr); }
static int f_eigh(lua_State *L) { return two_results(L, gan_eigh); }

/***
@module gan.core
*/

/*** Operations on several tensors.
@section operations
*/

/*** Elementwise choice: a where cond is non-zero, else b (the three broadcast together).
@function where
@tparam Tensor cond
@tparam Tensor a
@tparam Tensor b of a's dtype
@treturn Tensor
*/

/*** The matrix product: 1-d with 1-d (dot), matrix-vector, matrix-matrix, and batched
with broadcast batch dims; float32 and float64 on OpenBLAS.
@function matmul
@tparam Tensor a
@tparam Tensor b
@treturn Tensor
@raise when the inner sizes differ or the dtypes are not float
*/

/*** Concatenates tensors along dim; every other dim must match.
@function cat
@tparam {Tensor,...} tensors at least one
@tparam[opt=1] int dim
@treturn Tensor
*/

/*** The QR decomposition of a matrix (m, n): a = q r (not recorded by autograd).
@function qr
@tparam Tensor a
@treturn Tensor q (m, k), k = min(m, n), orthonormal columns
@treturn Tensor r (k, n), upper triangular
*/

/*** The eigen-decomposition of a symmetric matrix (not recorded by autograd).
@function eigh
@tparam Tensor a (n, n), symmetric
@treturn Tensor the eigenvalues (n), ascending
@treturn Tensor the eigenvectors, as the columns of an (n, n) tensor
*/

/*** Tensor methods from gan/ops.h.
@type Tensor
*/

/*** -x, elementwise (also the operator -x).
@function neg
@treturn Tensor
*/

/*** x:neg() written into x, in place.
@function neg_
@treturn Tensor x
*/

/*** |x|, elementwise.
@function abs
@treturn Tensor
*/

/*** x:abs() written into x, in place.
@function abs_
@treturn Tensor x
*/

/*** e^x, elementwise.
@function exp
@treturn Tensor
*/

/*** x:exp() written into x, in place.
@function exp_
@treturn Tensor x
*/

/*** The natural logarithm, elementwise (-inf at 0, NaN below).
@function log
@treturn Tensor
*/

/*** x:log() written into x, in place.
@function log_
@treturn Tensor x
*/

/*** The square root, elementwise.
@function sqrt
@treturn Tensor
*/

/*** x:sqrt() written into x, in place.
@function sqrt_
@treturn Tensor x
*/

/*** 1 / sqrt(x), elementwise.
@function rsqrt
@treturn Tensor
*/

/*** x:rsqrt() written into x, in place.
@function rsqrt_
@treturn Tensor x
*/

/*** The hyperbolic tangent, elementwise.
@function tanh
@treturn Tensor
*/

/*** x:tanh() written into x, in place.
@function tanh_
@treturn Tensor x
*/

/*** 1 / (1 + e^-x), elementwise.
@function sigmoid
@treturn Tensor
*/

/*** x:sigmoid() written into x, in place.
@function sigmoid_
@treturn Tensor x
*/

/*** max(x, 0), elementwise.
@function relu
@treturn Tensor
*/

/*** x:relu() written into x, in place.
@function relu_
@treturn Tensor x
*/

/*** -1, 0 or 1 by the sign of x (gradient 0).
@function sign
@treturn Tensor
*/

/*** x:sign() written into x, in place.
@function sign_
@treturn Tensor x
*/

/*** 1 / x, elementwise.
@function reciprocal
@treturn Tensor
*/

/*** x:reciprocal() written into x, in place.
@function reciprocal_
@treturn Tensor x
*/

/*** x^2, elementwise.
@function square
@treturn Tensor
*/

/*** x:square() written into x, in place.
@function square_
@treturn Tensor x
*/

/*** The largest integer <= x, elementwise (gradient 0).
@function floor
@treturn Tensor
*/

/*** x:floor() written into x, in place.
@function floor_
@treturn Tensor x
*/

/*** The smallest integer >= x, elementwise (gradient 0).
@function ceil
@treturn Tensor
*/

/*** x:ceil() written into x, in place.
@function ceil_
@treturn Tensor x
*/

/*** The nearest integer, halves to even as PyTorch (gradient 0).
@function round
@treturn Tensor
*/

/*** x:round() written into x, in place.
@function round_
@treturn Tensor x
*/

/*** log(1 + x), accurate for small x.
@function log1p
@treturn Tensor
*/

/*** x:log1p() written into x, in place.
@function log1p_
@treturn Tensor x
*/

/*** e^x - 1, accurate for small x.
@function expm1
@treturn Tensor
*/

/*** x:expm1() written into x, in place.
@function expm1_
@treturn Tensor x
*/

/*** The sine, elementwise.
@function sin
@treturn Tensor
*/

/*** x:sin() written into x, in place.
@function sin_
@treturn Tensor x
*/

/*** The cosine, elementwise.
@function cos
@treturn Tensor
*/

/*** x:cos() written into x, in place.
@function cos_
@treturn Tensor x
*/

/*** The error function, elementwise.
@function erf
@treturn Tensor
*/

/*** x:erf() written into x, in place.
@function erf_
@treturn Tensor x
*/

/*** x + other, broadcasting (also the operator +).
Both tensor operands must have one dtype; a Lua number takes x's.
@function add
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:add(other) written into x, in place (other broadcasts to x's shape).
@function add_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** x - other, broadcasting (also the operator -).
Both tensor operands must have one dtype; a Lua number takes x's.
@function sub
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:sub(other) written into x, in place (other broadcasts to x's shape).
@function sub_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** x * other, broadcasting (also the operator *).
Both tensor operands must have one dtype; a Lua number takes x's.
@function mul
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:mul(other) written into x, in place (other broadcasts to x's shape).
@function mul_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** x / other, broadcasting (also the operator /); float dtypes only.
Both tensor operands must have one dtype; a Lua number takes x's.
@function div
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:div(other) written into x, in place (other broadcasts to x's shape).
@function div_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** x ^ other, broadcasting (also the operator ^); float dtypes only.
Both tensor operands must have one dtype; a Lua number takes x's.
@function pow
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:pow(other) written into x, in place (other broadcasts to x's shape).
@function pow_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** The smaller of x and other, elementwise, broadcasting.
Both tensor operands must have one dtype; a Lua number takes x's.
@function minimum
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:minimum(other) written into x, in place (other broadcasts to x's shape).
@function minimum_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** The larger of x and other, elementwise, broadcasting.
Both tensor operands must have one dtype; a Lua number takes x's.
@function maximum
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:maximum(other) written into x, in place (other broadcasts to x's shape).
@function maximum_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** 1 where x == other, else 0, in the operands' dtype (a mask; not recorded).
Both tensor operands must have one dtype; a Lua number takes x's.
@function eq
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:eq(other) written into x, in place (other broadcasts to x's shape).
@function eq_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** 1 where x ~= other, else 0, in the operands' dtype (a mask; not recorded).
Both tensor operands must have one dtype; a Lua number takes x's.
@function ne
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:ne(other) written into x, in place (other broadcasts to x's shape).
@function ne_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** 1 where x < other, else 0, in the operands' dtype (a mask; not recorded).
Both tensor operands must have one dtype; a Lua number takes x's.
@function lt
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:lt(other) written into x, in place (other broadcasts to x's shape).
@function lt_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** 1 where x <= other, else 0, in the operands' dtype (a mask; not recorded).
Both tensor operands must have one dtype; a Lua number takes x's.
@function le
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:le(other) written into x, in place (other broadcasts to x's shape).
@function le_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** 1 where x > other, else 0, in the operands' dtype (a mask; not recorded).
Both tensor operands must have one dtype; a Lua number takes x's.
@function gt
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:gt(other) written into x, in place (other broadcasts to x's shape).
@function gt_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** 1 where x >= other, else 0, in the operands' dtype (a mask; not recorded).
Both tensor operands must have one dtype; a Lua number takes x's.
@function ge
@tparam Tensor|number other
@treturn Tensor
*/

/*** x:ge(other) written into x, in place (other broadcasts to x's shape).
@function ge_
@tparam Tensor|number other
@treturn Tensor x
*/

/*** The sum of all elements, or over dims (removed unless keepdim).
float32 sums accumulate in double, in a fixed order: the result does not depend on the
thread count.
@function sum
@tparam[opt] int|{int,...} dims one dim or a table of dims (default all)
@tparam[opt=false] boolean keepdim keep the reduced dims with size 1
@treturn Tensor
*/

/*** The mean of all elements, or over dims; float dtypes only.
@function mean
@tparam[opt] int|{int,...} dims
@tparam[opt=false] boolean keepdim
@treturn Tensor
*/

/*** The product of all elements, or over dims.
@function prod
@tparam[opt] int|{int,...} dims
@tparam[opt=false] boolean keepdim
@treturn Tensor
*/

/*** The largest element as a 0-d tensor, or, along dim, the values and their indices.
NaN propagates.
@function max
@tparam[opt] int dim
@tparam[opt=false] boolean keepdim
@treturn Tensor the maximum (without dim), or the values along dim
@treturn[opt] Tensor with dim: int64 indices, 0-based, of the first occurrence (not recorded)
*/

/*** The smallest element as a 0-d tensor, or, along dim, the values and their indices.
NaN propagates.
@function min
@tparam[opt] int dim
@tparam[opt=false] boolean keepdim
@treturn Tensor the minimum (without dim), or the values along dim
@treturn[opt] Tensor with dim: int64 indices, 0-based, of the first occurrence (not recorded)
*/

/*** The index of the largest element (of the flattened tensor, or along dim), 0-based.
Not recorded by autograd.
@function argmax
@tparam[opt] int dim
@tparam[opt=false] boolean keepdim
@treturn Tensor int64
*/

/*** The index of the smallest element (of the flattened tensor, or along dim), 0-based.
Not recorded by autograd.
@function argmin
@tparam[opt] int dim
@tparam[opt=false] boolean keepdim
@treturn Tensor int64
*/

/*** The variance of all elements, or over dims.
@function var
@tparam[opt] int|{int,...} dims
@tparam[opt=true] boolean unbiased divide by n - 1 (else n)
@tparam[opt=false] boolean keepdim
@treturn Tensor
*/

/*** The standard deviation of all elements, or over dims.
@function std
@tparam[opt] int|{int,...} dims
@tparam[opt=true] boolean unbiased divide by n - 1 (else n)
@tparam[opt=false] boolean keepdim
@treturn Tensor
*/

/*** The p-norm of all elements, or over dims; p = math.huge gives the largest |x|, p = 0
the count of non-zeros.
@function norm
@tparam[opt=2] number p
@tparam[opt] int|{int,...} dims
@tparam[opt=false] boolean keepdim
@treturn Tensor
*/

/*** x limited to [lo, hi]; either bound may be nil.
@function clamp
@tparam[opt] number lo
@tparam[opt] number hi
@treturn Tensor
*/

/*** x:clamp(lo, hi) written into x, in place.
@function clamp_
@tparam[opt] number lo
@tparam[opt] number hi
@treturn Tensor x
*/

/*** x with value where mask is non-zero (mask broadcasts to x's shape).
@function masked_fill
@tparam Tensor mask
@tparam number value
@treturn Tensor
*/

/*** x:masked_fill(mask, value) written into x, in place.
@function masked_fill_
@tparam Tensor mask
@tparam number value
@treturn Tensor x
*/

/*** The matrix product x @ other, as gan.core.matmul(x, other).
@function matmul
@tparam Tensor other
@treturn Tensor
*/

/*** The entries of x at positions idx along dim.
@function index_select
@tparam int dim
@tparam Tensor idx int64 (1-d), 0-based
@treturn Tensor x's shape with dim resized to #idx
*/

/*** Entries picked along dim: out[i][j] = x[i][idx[i][j]] for dim 2 (idx 0-based).
@function gather
@tparam int dim
@tparam Tensor idx int64, of x's rank
@treturn Tensor of idx's shape
*/

/*** A copy of x with src added at positions idx along dim: out[i][idx[i][j]] += src[i][j]
for dim 2 (idx 0-based; repeated indices add up).
@function scatter_add
@tparam int dim
@tparam Tensor idx int64, of src's shape
@tparam Tensor src
@treturn Tensor
*/

/*** x:scatter_add(dim, idx, src) written into x, in place.
@function scatter_add_
@tparam int dim
@tparam Tensor idx
@tparam Tensor src
@treturn Tensor x
*/

/*** a + b: tensor + tensor, tensor + number or number + tensor, broadcasting.
@function __add
@static
@tparam Tensor|number a
@tparam Tensor|number b
@treturn Tensor
*/

/*** a - b, as __add.
@function __sub
@static
@tparam Tensor|number a
@tparam Tensor|number b
@treturn Tensor
*/

/*** a * b (elementwise), as __add.
@function __mul
@static
@tparam Tensor|number a
@tparam Tensor|number b
@treturn Tensor
*/

/*** a / b, as __add.
@function __div
@static
@tparam Tensor|number a
@tparam Tensor|number b
@treturn Tensor
*/

/*** a ^ b (elementwise power), as __add.
@function __pow
@static
@tparam Tensor|number a
@tparam Tensor|number b
@treturn Tensor
*/

/*** -x.
@function __unm
@static
@tparam Tensor x
@treturn Tensor
*/

// ---- registration

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

static const luaL_Reg methods[] = {
    {"clamp", m_clamp}, {"clamp_", m_clamp_}, {"masked_fill", m_masked_fill},
    {"masked_fill_", m_masked_fill_}, {"norm", m_norm},
    {"matmul", f_matmul}, {"index_select", m_index_select}, {"gather", m_gather},
    {"scatter_add", m_scatter_add}, {"scatter_add_", m_scatter_add_},
    {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"where", f_where}, {"matmul", f_matmul}, {"cat", f_cat}, {"qr", f_qr}, {"eigh", f_eigh},
    {NULL, NULL}};

void gl_register_ops(lua_State *L, const gl_tables *t) {
    gl_set_funcs(L, t->module, functions);
    gl_set_funcs(L, t->methods, methods);
    for (size_t i = 0; i < sizeof unops / sizeof *unops; i++) {
        char name[32];
        gl_set_closure(L, t->methods, unops[i].name, unary, unops[i].op);
        snprintf(name, sizeof name, "%s_", unops[i].name);
        gl_set_closure(L, t->methods, name, unary_, unops[i].op);
    }
    for (size_t i = 0; i < sizeof binops / sizeof *binops; i++) {
        char name[32];
        gl_set_closure(L, t->methods, binops[i].name, binary, binops[i].op);
        snprintf(name, sizeof name, "%s_", binops[i].name);
        gl_set_closure(L, t->methods, name, binary_, binops[i].op);
    }
    for (size_t i = 0; i < sizeof redops / sizeof *redops; i++)
        gl_set_closure(L, t->methods, redops[i].name, reduce, redops[i].op);
    gl_set_closure(L, t->methods, "max", m_maxmin, 0);
    gl_set_closure(L, t->methods, "min", m_maxmin, 1);
    gl_set_closure(L, t->methods, "argmax", m_argmax, 0);
    gl_set_closure(L, t->methods, "argmin", m_argmax, 1);
    gl_set_closure(L, t->methods, "var", m_varstd, 0);
    gl_set_closure(L, t->methods, "std", m_varstd, 1);
    static const struct { const char *mm; gan_binop op; } arith[] = {
        {"__add", GAN_ADD}, {"__sub", GAN_SUB}, {"__mul", GAN_MUL}, {"__div", GAN_DIV}, {"__pow", GAN_POW}};
    for (size_t i = 0; i < sizeof arith / sizeof *arith; i++) gl_set_closure(L, t->meta, arith[i].mm, binary, arith[i].op);
    gl_set_closure(L, t->meta, "__unm", unary, GAN_NEG);
}
