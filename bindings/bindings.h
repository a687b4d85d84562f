// Shared by the binding files; not part of core.
#ifndef GAN_BINDINGS_H
#define GAN_BINDINGS_H
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include "gan/gan.h"

#define GL_TENSOR "gan.Tensor"
#define GL_GENERATOR "gan.Generator"

// Pushes t as a Lua tensor, taking over the caller's reference.
void gl_push_tensor(lua_State *L, gan_tensor *t);
gan_tensor *gl_check_tensor(lua_State *L, int idx);
gan_tensor *gl_test_tensor(lua_State *L, int idx);   // NULL if not a tensor
// Raises the core's last error as a Lua error.
int gl_fail(lua_State *L);
// 1-based (negative from the end) Lua dim to core's convention.
int gl_dim(lua_State *L, int idx);
gan_dtype gl_dtype(lua_State *L, int idx, gan_dtype def);
int gl_shape(lua_State *L, int idx, int *ndim, int64_t *size);
int gl_opt(lua_State *L, int idx, const char *key);
// Raises an error for any key of the options table at idx not in `known` (NULL-ended):
// a typo is an error, not a silent default. Absent (none/nil) options are fine.
void gl_check_opts(lua_State *L, int idx, const char *const *known, const char *fn);

// A tensor about to be written in place: refuses one that autograd tracks and bumps
// its storage version so saved tensors notice the change.
gan_tensor *gl_inplace(lua_State *L, int idx, const char *op);

// autograd.c
void gl_register_autograd(lua_State *L);          // module functions
void gl_register_autograd_methods(lua_State *L);  // tensor methods
// Autograd properties of x.name / x.name = v; return 1 if handled.
int gl_autograd_index(lua_State *L, gan_tensor *t, const char *k);
int gl_autograd_newindex(lua_State *L, gan_tensor *t, const char *k);

// optim_io.c: optimizer steps, safetensors, qr (into the module table)
void gl_register_optim_io(lua_State *L);

// image.c: image decoding, PNG writing, resizing, background batches
void gl_register_image(lua_State *L);
void gl_register_draw(lua_State *L);   // draw.c: draw_line, fill_rect, draw_text, text_size

// random.c
void gl_register_random(lua_State *L);          // into the module table on the stack top
void gl_register_random_methods(lua_State *L);  // into the methods table on the stack top

#endif
