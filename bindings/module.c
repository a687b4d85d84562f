/***
The C half of gan: tensors, their operations, autograd, randomness, images, files and
threads, bound from core/ by the files of bindings/.

require("gan") copies the functions a user needs into gan (gan.zeros, gan.rand,
gan.grad, gan.set_num_threads, ...); the rest (optimizer kernels, file and image I/O,
drawing, grad-mode switching) is used by lua/gan and stays here. Tensor methods are
called on tensors: x:sum(2), x:view(4, -1); class Tensor below lists them with the
properties (x.dtype, x.grad, ...) and the operators.

Conventions (docs/tensor.md): dims and positions are 1-based and negative ones count
from the end; the numbers inside int64 index tensors (argmax, gather, randperm, ...)
are 0-based offsets; options tables are strict (an unknown key is an error); errors
name the op and the offending shapes or values. Operations that return a new tensor
are recorded by autograd (differentiable) unless their entry says otherwise; in-place
ones (names ending in _) raise an error on a tensor that requires grad, except inside
gan.no_grad.
@module gan.core
*/
// The Lua module gan.core: luaopen_gan_core makes the tables the binding files share
// (bindings.h) and lets every file register its part of core into them.
#include "bindings.h"

// In the order of bindings.h. No two files register the same name, so the order is free.
static void (*const registers[])(lua_State *, const gl_tables *) = {
    gl_register_tensor, gl_register_ops, gl_register_autograd, gl_register_conv,
    gl_register_random, gl_register_optim, gl_register_io, gl_register_image,
    gl_register_draw, gl_register_parallel, gl_register_alloc, gl_register_readline, gl_register_dist,
    gl_register_precision};

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
