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
