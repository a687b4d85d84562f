// Lua glue for gan/optim.h: the fused optimizer steps, the low-level entry points of
// lua/gan/optim, which validates and documents them.
#include "bindings.h"

static gan_tensor *opt_tensor(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? NULL : gl_check_tensor(L, idx);
}

/***
@module gan.core
*/

/*** Optimizer kernels.
The fused in-place steps behind gan.optim's SGD, Adam and RMSprop, which check the
options and keep the state; use those.
@section optim
*/

/*** One SGD step on parameter p with gradient g, in place (gan.optim.SGD).
@function sgd_step
@tparam Tensor p
@tparam Tensor g
@tparam Tensor|nil buf the momentum buffer (nil without momentum)
@tparam number lr
@tparam number momentum
@tparam number dampening
@tparam number weight_decay added to the step, g itself is left unchanged
@tparam boolean nesterov
@tparam boolean first the first step (the buffer starts as the gradient)
*/
static int f_sgd_step(lua_State *L) {
    gan_tensor *p = gl_check_tensor(L, 1), *g = gl_check_tensor(L, 2), *b = opt_tensor(L, 3);
    gan_sgd_opts o = {luaL_checknumber(L, 4), luaL_checknumber(L, 5), luaL_checknumber(L, 6),
                      luaL_checknumber(L, 7), lua_toboolean(L, 8)};
    if (gan_sgd_step(p, g, b, &o, lua_toboolean(L, 9)) != GAN_OK) return gl_fail(L);
    return 0;
}

/*** One Adam step on parameter p with gradient g, in place (gan.optim.Adam, AdamW).
@function adam_step
@tparam Tensor p
@tparam Tensor g
@tparam Tensor m the first moment
@tparam Tensor v the second moment
@tparam Tensor|nil vmax the running maximum of v (AMSGrad), or nil
@tparam number lr
@tparam number beta1
@tparam number beta2
@tparam number eps
@tparam number weight_decay
@tparam boolean decoupled weight decay applied to p directly (AdamW) instead of through g
@tparam int step the step number, from 1 (bias correction)
*/
static int f_adam_step(lua_State *L) {
    gan_tensor *p = gl_check_tensor(L, 1), *g = gl_check_tensor(L, 2);
    gan_tensor *m = gl_check_tensor(L, 3), *v = gl_check_tensor(L, 4), *x = opt_tensor(L, 5);
    gan_adam_opts o = {luaL_checknumber(L, 6), luaL_checknumber(L, 7), luaL_checknumber(L, 8),
                       luaL_checknumber(L, 9), luaL_checknumber(L, 10), x != NULL, lua_toboolean(L, 11)};
    if (gan_adam_step(p, g, m, v, x, &o, luaL_checkinteger(L, 12)) != GAN_OK) return gl_fail(L);
    return 0;
}

/*** One RMSprop step on parameter p with gradient g, in place (gan.optim.RMSprop).
@function rmsprop_step
@tparam Tensor p
@tparam Tensor g
@tparam Tensor sq the running average of g^2
@tparam Tensor|nil buf the momentum buffer, or nil
@tparam Tensor|nil gavg the running average of g (centered RMSprop), or nil
@tparam number lr
@tparam number alpha the smoothing constant
@tparam number eps
@tparam number weight_decay
@tparam number momentum
*/
static int f_rmsprop_step(lua_State *L) {
    gan_tensor *p = gl_check_tensor(L, 1), *g = gl_check_tensor(L, 2), *s = gl_check_tensor(L, 3);
    gan_tensor *b = opt_tensor(L, 4), *a = opt_tensor(L, 5);
    gan_rmsprop_opts o = {luaL_checknumber(L, 6), luaL_checknumber(L, 7), luaL_checknumber(L, 8),
                          luaL_checknumber(L, 9), luaL_checknumber(L, 10), a != NULL};
    if (gan_rmsprop_step(p, g, s, b, a, &o) != GAN_OK) return gl_fail(L);
    return 0;
}

static const luaL_Reg functions[] = {
    {"sgd_step", f_sgd_step}, {"adam_step", f_adam_step}, {"rmsprop_step", f_rmsprop_step},
    {NULL, NULL}};

void gl_register_optim(lua_State *L, const gl_tables *t) { gl_set_funcs(L, t->module, functions); }
