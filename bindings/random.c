// Lua side of the random generators: gan.manual_seed, gan.Generator, rand/randn/...,
// and the in-place x:uniform_() family. Every function takes {generator = g}.
#include "bindings.h"
#include <string.h>

#define GL_GENERATOR "gan.Generator"

static gan_generator *check_gen(lua_State *L, int idx) {
    return luaL_checkudata(L, idx, GL_GENERATOR);
}

// The generator named in the options table at idx, else the default one.
static gan_generator *opt_gen(lua_State *L, int idx) {
    gan_generator *g = gan_default_generator();
    if (gl_opt(L, idx, "generator") != LUA_TNIL) {
        g = luaL_testudata(L, -1, GL_GENERATOR);
        if (!g) luaL_error(L, "option 'generator' must be a gan.Generator, got %s", luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return g;
}

static uint64_t check_seed(lua_State *L, int idx) {
    int ok;
    lua_Integer s = lua_tointegerx(L, idx, &ok);
    if (!ok) luaL_argerror(L, idx, "seed must be an integer");
    return (uint64_t)s;
}

static int f_generator(lua_State *L) {
    uint64_t seed = lua_isnoneornil(L, 1) ? gan_default_generator()->seed : check_seed(L, 1);
    gan_generator *g = lua_newuserdatauv(L, sizeof *g, 0);
    gan_generator_init(g, seed);
    luaL_setmetatable(L, GL_GENERATOR);
    return 1;
}

static int g_manual_seed(lua_State *L) {
    gan_generator_init(check_gen(L, 1), check_seed(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int g_initial_seed(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)check_gen(L, 1)->seed);
    return 1;
}

static int push_state(lua_State *L, const gan_generator *g) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)g->seed); lua_setfield(L, -2, "seed");
    lua_pushinteger(L, (lua_Integer)g->offset); lua_setfield(L, -2, "offset");
    return 1;
}

static void read_state(lua_State *L, int idx, gan_generator *g) {
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "seed");
    lua_getfield(L, idx, "offset");
    int ok1, ok2;
    lua_Integer s = lua_tointegerx(L, -2, &ok1), o = lua_tointegerx(L, -1, &ok2);
    if (!ok1 || !ok2) luaL_error(L, "set_state: expected a table {seed = integer, offset = integer}");
    g->seed = (uint64_t)s;
    g->offset = (uint64_t)o;
    lua_pop(L, 2);
}

static int g_get_state(lua_State *L) { return push_state(L, check_gen(L, 1)); }
static int g_set_state(lua_State *L) {
    read_state(L, 2, check_gen(L, 1));
    lua_settop(L, 1);
    return 1;
}
static int g_tostring(lua_State *L) {
    gan_generator *g = check_gen(L, 1);
    lua_pushfstring(L, "gan.Generator(seed=%I, offset=%I)", (lua_Integer)g->seed, (lua_Integer)g->offset);
    return 1;
}

static int f_manual_seed(lua_State *L) {
    gan_generator_init(gan_default_generator(), check_seed(L, 1));
    return 0;
}
static int f_get_rng_state(lua_State *L) { return push_state(L, gan_default_generator()); }
static int f_set_rng_state(lua_State *L) { read_state(L, 1, gan_default_generator()); return 0; }

// ---- sampling into new tensors: rand(size..., opts), randn, randint(low, high, size, opts)

static const char *const gen_opts[] = {"generator", NULL};
static const char *const sample_opts[] = {"dtype", "generator", NULL};

static int fresh(lua_State *L, int first, gan_dtype def, gan_tensor **t, int *opts,
                 const char *fn, const char *const *known) {
    int ndim;
    int64_t size[GAN_MAX_DIMS];
    *opts = gl_shape(L, first, &ndim, size);
    gl_check_opts(L, *opts, known, fn);
    (void)opt_gen(L, *opts);   // a bad generator fails before anything is allocated
    gl_opt(L, *opts, "dtype");
    gan_dtype dt = gl_dtype(L, -1, def);
    lua_pop(L, 1);
    if (gan_empty(t, dt, ndim, size) != GAN_OK) return gl_fail(L);
    return 0;
}

static int finish(lua_State *L, gan_tensor *t, int rc) {
    if (rc != GAN_OK) { gan_tensor_release(t); return gl_fail(L); }
    gl_push_tensor(L, t);
    return 1;
}

static int f_rand(lua_State *L) {
    gan_tensor *t;
    int o;
    fresh(L, 1, GAN_FLOAT32, &t, &o, "rand", sample_opts);
    return finish(L, t, gan_uniform_(t, opt_gen(L, o), 0, 1));
}

static int f_randn(lua_State *L) {
    gan_tensor *t;
    int o;
    fresh(L, 1, GAN_FLOAT32, &t, &o, "randn", sample_opts);
    return finish(L, t, gan_normal_(t, opt_gen(L, o), 0, 1));
}

// trunc_normal(size..., {mean=0, std=1, a=-2, b=2})
static int f_trunc_normal(lua_State *L) {
    gan_tensor *t;
    int o;
    static const char *const known[] = {"dtype", "generator", "mean", "std", "a", "b", NULL};
    fresh(L, 1, GAN_FLOAT32, &t, &o, "trunc_normal", known);
    double v[4] = {0, 1, -2, 2};
    const char *keys[4] = {"mean", "std", "a", "b"};
    for (int i = 0; i < 4; i++) {
        gl_opt(L, o, keys[i]);
        if (!lua_isnil(L, -1)) {
            if (!lua_isnumber(L, -1)) { gan_tensor_release(t); return luaL_error(L, "trunc_normal: option '%s' must be a number", keys[i]); }
            v[i] = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
    return finish(L, t, gan_trunc_normal_(t, opt_gen(L, o), v[0], v[1], v[2], v[3]));
}

// randint(high, {size}) or randint(low, high, {size}), int64 by default. The size must be
// a table here: randint(10, 3, 4) would be ambiguous.
static int f_randint(lua_State *L) {
    lua_Integer low = 0, high;
    int first;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        low = luaL_checkinteger(L, 1);
        high = luaL_checkinteger(L, 2);
        first = 3;
    } else {
        high = luaL_checkinteger(L, 1);
        first = 2;
    }
    if (!lua_istable(L, first)) return luaL_argerror(L, first, "randint: size must be a table, e.g. {3, 4}");
    gan_tensor *t;
    int o;
    fresh(L, first, GAN_INT64, &t, &o, "randint", sample_opts);
    return finish(L, t, gan_randint_(t, opt_gen(L, o), low, high));
}

static int f_randperm(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    gan_tensor *t;
    gl_check_opts(L, 2, gen_opts, "randperm");
    if (gan_randperm(&t, n, opt_gen(L, 2)) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

// bernoulli(probs, [opts]): 0/1 draws with the given probabilities.
static int f_bernoulli(lua_State *L) {
    gan_tensor *p = gl_check_tensor(L, 1), *t;
    gl_check_opts(L, 2, gen_opts, "bernoulli");
    (void)opt_gen(L, 2);
    if (gan_empty(&t, p->dtype, p->ndim, p->size) != GAN_OK) return gl_fail(L);
    return finish(L, t, gan_bernoulli_(t, opt_gen(L, 2), 0, p));
}

// multinomial(probs, num_samples, [replacement = false], [opts]); indices are 0-based.
static int f_multinomial(lua_State *L) {
    gan_tensor *p = gl_check_tensor(L, 1), *t;
    lua_Integer n = luaL_checkinteger(L, 2);
    int o = 3;
    bool repl = false;
    if (lua_type(L, 3) == LUA_TBOOLEAN) { repl = lua_toboolean(L, 3); o = 4; }
    gl_check_opts(L, o, gen_opts, "multinomial");
    if (gan_multinomial(&t, p, n, repl, opt_gen(L, o)) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

// ---- in place: x:uniform_(lo, hi, [opts]), normal_, bernoulli_(p), random_(low, high)

static int m_uniform_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "uniform_");
    if (gan_uniform_(t, opt_gen(L, 4), luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 1)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}
static int m_normal_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "normal_");
    if (gan_normal_(t, opt_gen(L, 4), luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 1)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}
static int m_trunc_normal_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "trunc_normal_");
    if (gan_trunc_normal_(t, opt_gen(L, 6), luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 1),
                          luaL_optnumber(L, 4, -2), luaL_optnumber(L, 5, 2)) != GAN_OK)
        return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}
static int m_bernoulli_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "bernoulli_"), *p = gl_test_tensor(L, 2);
    int rc = p ? gan_bernoulli_(t, opt_gen(L, 3), 0, p)
               : gan_bernoulli_(t, opt_gen(L, 3), luaL_optnumber(L, 2, 0.5), NULL);
    if (rc != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}
static int m_random_(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "random_");
    if (gan_randint_(t, opt_gen(L, 4), luaL_checkinteger(L, 2), luaL_checkinteger(L, 3)) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

/***
@module gan.core
*/

/*** Random numbers.
One counter-based generator (Philox4x32-10), so that element i of a draw depends only
on (seed, offset, i) and never on the thread count. Every function takes
`{generator = g}` in its options (default: the default generator, seeded with a fixed
seed at start).
@section random
*/

/*** A new independent generator.
@function Generator
@tparam[opt] int seed default the default generator's seed
@treturn Generator
*/

/*** Reseeds the default generator (offset back to 0).
@function manual_seed
@tparam int seed
*/

/*** The default generator's state, as Generator:get_state (checkpoints store it).
@function get_rng_state
@treturn table `{seed = int, offset = int}`
*/

/*** Restores the default generator's state.
@function set_rng_state
@tparam table state `{seed = int, offset = int}`
@raise when seed or offset is not an integer
*/

/*** A tensor of draws from U[0, 1).
@function rand
@tparam int|{int,...} ... the sizes, as integers or one table
@tparam[opt] table opts `dtype` ("float32"), `generator`
@treturn Tensor
*/

/*** A tensor of draws from N(0, 1).
@function randn
@tparam int|{int,...} ... the sizes, as integers or one table
@tparam[opt] table opts `dtype` ("float32"), `generator`
@treturn Tensor
*/

/*** A tensor of draws from N(mean, std) truncated to [a, b] (bounds in value, not in
standard deviations).
@function trunc_normal
@tparam int|{int,...} ... the sizes, as integers or one table
@tparam[opt] table opts `mean` (0), `std` (1), `a` (-2), `b` (2), `dtype` ("float32"),
 `generator`
@treturn Tensor
*/

/*** Integers drawn uniformly from [low, high): randint(high, {size}) or
randint(low, high, {size}). The size must be a table.
@function randint
@tparam[opt=0] int low
@tparam int high excluded
@tparam {int,...} size
@tparam[opt] table opts `dtype` ("int64"), `generator`
@treturn Tensor
*/

/*** A random permutation of 0 .. n - 1 (0-based, int64).
@function randperm
@tparam int n
@tparam[opt] table opts `generator`
@treturn Tensor
*/

/*** 0/1 draws, each 1 with the probability at the same position of probs.
@function bernoulli
@tparam Tensor probs values in [0, 1]
@tparam[opt] table opts `generator`
@treturn Tensor of probs' shape and dtype
*/

/*** Categorical draws: n indices per row of probs, each with probability proportional
to its weight (0-based, int64).
@function multinomial
@tparam Tensor probs non-negative weights, 1-d or (rows, categories)
@tparam int n draws per row
@tparam[opt=false] boolean replacement without it, n must not exceed the non-zero weights
@tparam[opt] table opts `generator`
@treturn Tensor (n) or (rows, n)
*/

/*** A random generator: an independent stream (gan.Generator(seed)).
@type Generator
*/

/*** Restarts the generator at seed (offset 0).
@function manual_seed
@tparam int seed
@treturn Generator g
*/

/*** The seed the generator was started with.
@function initial_seed
@treturn int
*/

/*** Where the generator is, to replay from there with set_state.
@function get_state
@treturn table `{seed = int, offset = int}`
*/

/*** Moves the generator to a state get_state returned.
@function set_state
@tparam table state `{seed = int, offset = int}`
@treturn Generator g
@raise when seed or offset is not an integer
*/

/*** "gan.Generator(seed=S, offset=O)".
@function __tostring
@static
@tparam Generator g
@treturn string
*/

/*** In-place random fills.
@type Tensor
*/

/*** Fills x with draws from U[lo, hi), in place.
@function uniform_
@tparam[opt=0] number lo
@tparam[opt=1] number hi
@tparam[opt] table opts `generator`
@treturn Tensor x
*/

/*** Fills x with draws from N(mean, std), in place.
@function normal_
@tparam[opt=0] number mean
@tparam[opt=1] number std
@tparam[opt] table opts `generator`
@treturn Tensor x
*/

/*** Fills x with draws from N(mean, std) truncated to [a, b], in place.
@function trunc_normal_
@tparam[opt=0] number mean
@tparam[opt=1] number std
@tparam[opt=-2] number a
@tparam[opt=2] number b
@tparam[opt] table opts `generator`
@treturn Tensor x
*/

/*** Fills x with 0/1 draws, in place: 1 with probability p (a number, or a tensor of
probabilities per element).
@function bernoulli_
@tparam[opt=0.5] number|Tensor p
@tparam[opt] table opts `generator`
@treturn Tensor x
*/

/*** Fills x with integers drawn uniformly from [low, high), in place.
@function random_
@tparam int low
@tparam int high excluded
@tparam[opt] table opts `generator`
@treturn Tensor x
*/

/*** gan.core.multinomial(x, n, replacement, opts): n category indices per row of weights x.
@function multinomial
@tparam int n
@tparam[opt=false] boolean replacement
@tparam[opt] table opts `generator`
@treturn Tensor int64, 0-based
*/

static const luaL_Reg gen_methods[] = {
    {"manual_seed", g_manual_seed}, {"initial_seed", g_initial_seed},
    {"get_state", g_get_state}, {"set_state", g_set_state}, {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"Generator", f_generator}, {"manual_seed", f_manual_seed},
    {"get_rng_state", f_get_rng_state}, {"set_rng_state", f_set_rng_state},
    {"rand", f_rand}, {"randn", f_randn}, {"trunc_normal", f_trunc_normal},
    {"randint", f_randint}, {"randperm", f_randperm}, {"bernoulli", f_bernoulli},
    {"multinomial", f_multinomial}, {NULL, NULL}};

static const luaL_Reg tensor_methods[] = {
    {"uniform_", m_uniform_}, {"normal_", m_normal_}, {"trunc_normal_", m_trunc_normal_},
    {"bernoulli_", m_bernoulli_}, {"random_", m_random_}, {"multinomial", f_multinomial},
    {NULL, NULL}};

void gl_register_random(lua_State *L, const gl_tables *t) {
    gl_set_funcs(L, t->module, functions);
    gl_set_funcs(L, t->methods, tensor_methods);
    if (luaL_newmetatable(L, GL_GENERATOR)) {
        lua_newtable(L);
        luaL_setfuncs(L, gen_methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, g_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
}
