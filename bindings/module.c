// The Lua module gan.core: luaopen_gan_core makes the tables the binding files share
// (bindings.h) and lets every file register its part of core into them.
#include "bindings.h"

// In the order of bindings.h. No two files register the same name, so the order is free.
static void (*const registers[])(lua_State *, const gl_tables *) = {
    gl_register_tensor, gl_register_ops, gl_register_autograd, gl_register_conv,
    gl_register_random, gl_register_optim, gl_register_io, gl_register_image,
    gl_register_draw, gl_register_parallel, gl_register_alloc, gl_register_readline, gl_register_dist};

int luaopen_gan_core(lua_State *L) {
    gan_set_dim_base(1);   // core's messages then name dims as Lua users write them
    gl_tables t;
    int *tables[] = {&t.module, &t.methods, &t.getters, &t.setters};
    for (int i = 0; i < 4; i++) {
        lua_newtable(L);
        *tables[i] = lua_gettop(L);
    }
    luaL_newmetatable(L, GL_TENSOR);
    t.meta = lua_gettop(L);

    for (size_t i = 0; i < sizeof registers / sizeof *registers; i++) registers[i](L, &t);

    lua_pushvalue(L, t.methods);
    lua_setfield(L, t.module, "Tensor");
    lua_settop(L, t.module);
    return 1;
}
