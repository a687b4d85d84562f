// Lua glue for gan/parallel.h and gan/flops.h: the thread count of OpenMP and OpenBLAS, a
// monotonic clock for timing parallel code, and the kernels' flop counter.
#include "bindings.h"

/***
@module gan.core
*/

/*** Threads and time.
@section threads
*/
#include <time.h>

/*** Sets the thread count of both gan's OpenMP loops and OpenBLAS (one shared pool;
BLAS runs single-threaded inside gan's parallel regions). Results do not depend on it.
@function set_num_threads
@tparam int n 1 to 1024
*/
static int f_set_num_threads(lua_State *L) {
    gan_set_num_threads((int)gl_int_in(L, 1, 1, 1024, "set_num_threads", "the thread count"));
    return 0;
}
/*** The thread count set_num_threads set (at start, OpenMP's default).
@function get_num_threads
@treturn int
*/
static int f_get_num_threads(lua_State *L) { lua_pushinteger(L, gan_get_num_threads()); return 1; }
/*** The name of the OpenBLAS kernel in use (e.g., "Haswell").
@function blas_core
@treturn string
*/
static int f_blas_core(lua_State *L) { lua_pushstring(L, gan_blas_core_name()); return 1; }

/*** Monotonic wall-clock seconds, for timing (os.clock is CPU time, summed over threads).
@function clock
@treturn number
*/
// Monotonic wall-clock seconds, for timing (os.clock is CPU time).
static int f_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/*** The floating-point work of every convolution direction and matrix product run so far
in this process: 2 per multiply-add, as the shapes define it (not counting what an
implementation pads them to, nor elementwise work). A step's count divided by its time
is its GFLOP/s.
@function flop_count
@treturn int
*/
static int f_flop_count(lua_State *L) { lua_pushinteger(L, (lua_Integer)gan_flops()); return 1; }

static const luaL_Reg functions[] = {
    {"set_num_threads", f_set_num_threads}, {"get_num_threads", f_get_num_threads},
    {"blas_core", f_blas_core}, {"clock", f_clock}, {"flop_count", f_flop_count}, {NULL, NULL}};

void gl_register_parallel(lua_State *L, const gl_tables *t) { gl_set_funcs(L, t->module, functions); }
