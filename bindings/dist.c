/***
The collectives of MPI on tensors, as the table gan.core.dist; gan.dist wraps them for
users (and refuses them before init). Ranks are numbered from 0. Collectives must be
called by every rank in the same order with tensors of the same dtype and element count
(contiguous float32, float64 or int64); a mismatch is an error on every rank, not a hang.
Without MPI in the build, every function but the queries raises an error saying so.
@module gan.core.dist
*/
// Lua glue for gan/dist.h, as the table gan.core.dist. Ranks are MPI's, numbered from 0.
#include "bindings.h"
#include "gan/dist.h"
#include <string.h>

static int f_available(lua_State *L) { lua_pushboolean(L, gan_dist_available()); return 1; }
static int f_launched_size(lua_State *L) { lua_pushinteger(L, gan_dist_launched_size()); return 1; }
static int f_initialized(lua_State *L) { lua_pushboolean(L, gan_dist_initialized()); return 1; }
static int f_rank(lua_State *L) { lua_pushinteger(L, gan_dist_rank()); return 1; }
static int f_world_size(lua_State *L) { lua_pushinteger(L, gan_dist_world_size()); return 1; }

static int f_init(lua_State *L) {
    if (gan_dist_init() != GAN_OK) return gl_fail(L);
    return 0;
}

static int f_abort(lua_State *L) {
    gan_dist_abort((int)luaL_optinteger(L, 1, 1));
    return 0;
}

static int f_all_reduce(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "dist.all_reduce");
    static const char *const ops[] = {"sum", "mean", NULL};
    int op = luaL_checkoption(L, 2, "sum", ops);
    if (gan_dist_all_reduce(t, op == 1 ? GAN_DIST_MEAN : GAN_DIST_SUM) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int f_broadcast(lua_State *L) {
    gan_tensor *t = gl_inplace(L, 1, "dist.broadcast");
    lua_Integer root = luaL_optinteger(L, 2, 0);
    if (root < 0 || root > 1 << 30) return luaL_error(L, "dist.broadcast: root %d is not a rank", (int)root);
    if (gan_dist_broadcast(t, (int)root) != GAN_OK) return gl_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int f_all_gather(lua_State *L) {
    GL_RETURN_TENSOR(gan_dist_all_gather(GL_OUT, gl_check_tensor(L, 1)));
}

static int f_all_reduce_ag(lua_State *L) {
    GL_RETURN_TENSOR(gan_ag_dist_all_reduce(GL_OUT, gl_check_tensor(L, 1)));
}

static int f_barrier(lua_State *L) {
    if (gan_dist_barrier() != GAN_OK) return gl_fail(L);
    return 0;
}

/*** Whether this build has MPI.
@function available
@treturn boolean
*/

/*** The number of processes the launcher started (from mpirun's environment), 1 when not
launched by one; known before init.
@function launched_size
@treturn int
*/

/*** Initialises MPI (only the main thread calls MPI) unless it is already; MPI is finalised
at exit.
@function init
@raise when this build has no MPI
*/

/*** Whether MPI is initialised.
@function initialized
@treturn boolean
*/

/*** This process's rank (0 before init).
@function rank
@treturn int
*/

/*** The number of processes (1 before init).
@function world_size
@treturn int
*/

/*** Ends every process of the job (after an error on one rank).
@function abort
@tparam[opt=1] int code the exit status
*/

/*** Sums t over the ranks, in place: every rank gets the sum (or the mean).
@function all_reduce
@tparam Tensor t
@tparam[opt="sum"] string op "sum" or "mean" (float dtypes only)
@treturn Tensor t
*/

/*** Copies root's values into t on every rank, in place.
@function broadcast
@tparam Tensor t
@tparam[opt=0] int root
@treturn Tensor t
*/

/*** The ranks' tensors (of one shape) concatenated along dim 1 in rank order.
@function all_gather
@tparam Tensor t
@treturn Tensor
*/

/*** The sum of t over ranks as a new tensor, differentiable: the gradient of every
rank's t is the sum over ranks of the gradients of the result (synchronised batch norm).
@function all_reduce_ag
@tparam Tensor t
@treturn Tensor
*/

/*** Waits until every rank has reached it.
@function barrier
*/

static const luaL_Reg functions[] = {
    {"available", f_available}, {"launched_size", f_launched_size}, {"init", f_init},
    {"initialized", f_initialized}, {"rank", f_rank}, {"world_size", f_world_size},
    {"abort", f_abort}, {"all_reduce", f_all_reduce}, {"broadcast", f_broadcast},
    {"all_gather", f_all_gather}, {"all_reduce_ag", f_all_reduce_ag}, {"barrier", f_barrier},
    {NULL, NULL}};

void gl_register_dist(lua_State *L, const gl_tables *t) {
    lua_newtable(L);
    luaL_setfuncs(L, functions, 0);
    lua_setfield(L, t->module, "dist");
}
