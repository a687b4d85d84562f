// Lua glue for gan/alloc.h: the storage allocator's statistics and cache, and the
// collections that hand a loop's dead tensors back to it.
#include "bindings.h"

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

// core.collect_garbage(min_bytes): a full collection if more than min_bytes of tensor
// storage were created since the last one; true if it ran. Called at iteration
// boundaries (Optimizer:zero_grad) so that the last iteration's intermediates go back to
// the allocator's cache before the next one allocates the same sizes again.
static int f_collect_garbage(lua_State *L) {
    lua_pushboolean(L, gl_collect_garbage(L, luaL_optinteger(L, 1, 0)));
    return 1;
}

static const luaL_Reg functions[] = {
    {"memory_stats", f_memory_stats}, {"empty_cache", f_empty_cache},
    {"collect_garbage", f_collect_garbage}, {NULL, NULL}};

void gl_register_alloc(lua_State *L, const gl_tables *t) { gl_set_funcs(L, t->module, functions); }
