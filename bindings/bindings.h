// The glue every binding file uses (glue.c) and the registration function of each file.
//
// bindings/ mirrors core's headers: one file per area (tensor.c for gan/tensor.h, ops.c
// for gan/ops.h, autograd.c, conv.c, random.c, optim.c, io.c, image.c, draw.c, parallel.c,
// alloc.c, dist.c; readline.c for the REPL), each depending only on this glue; module.c's
// luaopen_gan_core makes the shared tables and calls every gl_register_* in turn.
// Bindings convert arguments (Lua's 1-based dims and positions to core's 0-based ones),
// turn a failed status into a Lua error and box tensors in userdata; no arithmetic.
#ifndef GAN_BINDINGS_H
#define GAN_BINDINGS_H
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include "gan/gan.h"

#define GL_TENSOR "gan.Tensor"

// ---- boxing tensors

// Pushes t as a Lua tensor, taking over the caller's reference. Runs a full garbage
// collection when much storage was handed to Lua since the last one (Lua cannot see the
// memory behind a userdata).
void gl_push_tensor(lua_State *L, gan_tensor *t);
// Pushes a new reference to t, or nil for NULL.
void gl_push_borrowed(lua_State *L, gan_tensor *t);
gan_tensor *gl_check_tensor(lua_State *L, int idx);
gan_tensor *gl_test_tensor(lua_State *L, int idx);   // NULL if not a tensor
// A tensor about to be written in place: refuses one that autograd tracks and bumps
// its storage version so saved tensors notice the change.
gan_tensor *gl_inplace(lua_State *L, int idx, const char *op);
// A full collection if more than min_bytes of tensor storage were handed to Lua since the
// last one; true if it ran.
bool gl_collect_garbage(lua_State *L, int64_t min_bytes);

// Returns from a binding with the tensor that `call` wrote to GL_OUT, or raises its error:
//     static int m_clone(lua_State *L) { GL_RETURN_TENSOR(gan_ag_clone(GL_OUT, gl_check_tensor(L, 1))); }
#define GL_RETURN_TENSOR(call)                         \
    do {                                               \
        gan_tensor *r_;                                \
        if ((call) != GAN_OK) return gl_fail(L);       \
        gl_push_tensor(L, r_);                         \
        return 1;                                      \
    } while (0)
#define GL_OUT (&r_)

// ---- errors and arguments

// Raises the core's last error as a Lua error.
int gl_fail(lua_State *L);
// A Lua dim checked against `ndim` dims; core's 0-based dim. Messages name it as written.
int gl_tdim(lua_State *L, int idx, int ndim, const char *op);
// Dims as a table {1, 3} (or one number) at idx, each checked by gl_tdim; no repeats.
int gl_tdims(lua_State *L, int idx, int ndim, const char *op, int *dims);
// 1-based position (negative counts from the end) to a 0-based index into `size`.
int64_t gl_pos(lua_State *L, int idx, int64_t size, const char *what);
gan_dtype gl_dtype(lua_State *L, int idx, gan_dtype def);
// The integer at idx, which must lie in [lo, hi] (a float with an integral value counts);
// anything else raises "<fn>: <what> must be an integer in [lo, hi], got <value>". Every
// integer bound to a C int goes through it, so nothing is silently truncated.
lua_Integer gl_int_in(lua_State *L, int idx, lua_Integer lo, lua_Integer hi, const char *fn,
                      const char *what);
// Reads a shape given as a table {2, 3} or as integers from `idx` on. Returns the index
// of the first argument after the shape (an options table, if any).
int gl_shape(lua_State *L, int idx, int *ndim, int64_t *size);
// Field `key` of an options table at idx (which may be absent); pushes it (or nil).
int gl_opt(lua_State *L, int idx, const char *key);
// The dtype option of the options table at idx, or def.
gan_dtype gl_opt_dtype(lua_State *L, int idx, gan_dtype def);
// Raises an error for any key of the options table at idx not in `known` (NULL-ended):
// a typo is an error, not a silent default. Absent (none/nil) options are fine.
void gl_check_opts(lua_State *L, int idx, const char *const *known, const char *fn);

// ---- registration

// The tables luaopen_gan_core shares with every binding file (absolute stack indices).
typedef struct gl_tables {
    int module;    // gan.core
    int methods;   // tensor methods (gan.core.Tensor)
    int getters;   // tensor properties x.name: name -> C function (x) returning the value
    int setters;   // x.name = v: name -> C function (x, name, v)
    int meta;      // the tensor metatable (GL_TENSOR)
} gl_tables;

// Sets the functions fns into the table at idx.
void gl_set_funcs(lua_State *L, int idx, const luaL_Reg *fns);
// Sets fn, a closure over the integer `up` (an op code), as field `name` of the table at idx.
void gl_set_closure(lua_State *L, int idx, const char *name, lua_CFunction fn, lua_Integer up);

void gl_register_tensor(lua_State *L, const gl_tables *t);     // tensor.c: gan/tensor.h, the type
void gl_register_ops(lua_State *L, const gl_tables *t);        // ops.c: gan/ops.h
void gl_register_autograd(lua_State *L, const gl_tables *t);   // autograd.c: gan/autograd.h
void gl_register_conv(lua_State *L, const gl_tables *t);       // conv.c: gan/conv.h
void gl_register_random(lua_State *L, const gl_tables *t);     // random.c: gan/random.h
void gl_register_optim(lua_State *L, const gl_tables *t);      // optim.c: gan/optim.h
void gl_register_io(lua_State *L, const gl_tables *t);         // io.c: gan/io.h
void gl_register_image(lua_State *L, const gl_tables *t);      // image.c: gan/image.h
void gl_register_draw(lua_State *L, const gl_tables *t);       // draw.c: gan/draw.h
void gl_register_parallel(lua_State *L, const gl_tables *t);   // parallel.c: gan/parallel.h
void gl_register_alloc(lua_State *L, const gl_tables *t);      // alloc.c: gan/alloc.h
void gl_register_readline(lua_State *L, const gl_tables *t);   // readline.c: the REPL's line editor
void gl_register_dist(lua_State *L, const gl_tables *t);       // dist.c: gan/dist.h, as gan.core.dist
void gl_register_precision(lua_State *L, const gl_tables *t);  // precision.c: gan/precision.h

#endif
