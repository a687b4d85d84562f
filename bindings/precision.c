// Lua glue for gan/precision.h: the arithmetic of float32 convolutions and matrix
// products (gan.autocast sets and restores it).
#include "bindings.h"

/***
@module gan.core
*/

/*** Precision.
@section precision
*/

/*** Sets the arithmetic of float32 convolutions and matrix products: "float32", or
"bfloat16" inputs with float32 accumulation and outputs (on oneDNN; what it has no
bfloat16 kernel for runs in float32). Use it through gan.autocast, which restores it.
@function set_precision
@tparam string name "float32" or "bfloat16"
*/
static int f_set_precision(lua_State *L) {
    static const char *const names[] = {"float32", "bfloat16", NULL};
    gan_set_precision((gan_precision)luaL_checkoption(L, 1, NULL, names));
    return 0;
}

/*** The arithmetic of float32 convolutions and matrix products: "float32" or "bfloat16".
@function precision
@treturn string
*/
static int f_precision(lua_State *L) {
    lua_pushstring(L, gan_get_precision() == GAN_PREC_BF16 ? "bfloat16" : "float32");
    return 1;
}

static const luaL_Reg functions[] = {{"set_precision", f_set_precision}, {"precision", f_precision}, {NULL, NULL}};

void gl_register_precision(lua_State *L, const gl_tables *t) { gl_set_funcs(L, t->module, functions); }
