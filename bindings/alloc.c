// Lua glue for gan/alloc.h: the storage allocator's statistics and cache, and the
// collections that hand a loop's dead tensors back to it.
#include "bindings.h"

/***
@module gan.core
*/

/*** Memory.
The storage allocator keeps freed buffers in size buckets and hands them out
again, so a training loop stops asking the system for memory after its first steps.
@section memory
*/

/*** The allocator's statistics, in bytes and counts.
@function memory_stats
@treturn table `live_bytes` (held by tensors), `cached_bytes` (kept for reuse),
 `peak_live_bytes`, `system_allocs` (buffers asked of the system), `cache_hits`
*/
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
/*** Returns the cached buffers to the system.
@function empty_cache
*/
static int f_empty_cache(lua_State *L) { gan_alloc_trim(); return 0; }

/*** A full Lua garbage collection if more than min_bytes of tensor storage were handed to
Lua since the last one, so that dead tensors' buffers return to the cache (run at
iteration boundaries by Optimizer:zero_grad).
@function collect_garbage
@tparam[opt=0] int min_bytes
@treturn boolean whether a collection ran
*/
static int f_collect_garbage(lua_State *L) {
    lua_pushboolean(L, gl_collect_garbage(L, luaL_optinteger(L, 1, 0)));
    return 1;
}

static const luaL_Reg functions[] = {
    {"memory_stats", f_memory_stats}, {"empty_cache", f_empty_cache},
    {"collect_garbage", f_collect_garbage}, {NULL, NULL}};

void gl_register_alloc(lua_State *L, const gl_tables *t) { gl_set_funcs(L, t->module, functions); }
