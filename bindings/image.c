// Lua glue for images (core/include/gan/image.h): the low-level entry points that
// lua/gan/image.lua and lua/gan/data build on.
#include "bindings.h"
#include <string.h>

#define GL_IMAGE_JOB "gan.ImageJob"

static int f_image_load(lua_State *L) {
    gan_tensor *t;
    const char *path = luaL_checkstring(L, 1);
    int channels = lua_isnoneornil(L, 2) ? 0 : (int)gl_int_in(L, 2, 0, 4, "image.load", "channels");
    if (gan_image_load(&t, path, channels) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

static int f_image_decode(lua_State *L) {
    size_t n;
    const char *b = luaL_checklstring(L, 1, &n);
    gan_tensor *t;
    int channels = lua_isnoneornil(L, 2) ? 0 : (int)gl_int_in(L, 2, 0, 4, "image.decode", "channels");
    if (gan_image_decode(&t, (const unsigned char *)b, n, channels, luaL_optstring(L, 3, "<bytes>")) != GAN_OK)
        return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

static int f_image_save_png(lua_State *L) {
    if (gan_image_save_png(luaL_checkstring(L, 1), gl_check_tensor(L, 2)) != GAN_OK) return gl_fail(L);
    return 0;
}

static gan_resize_filter check_filter(lua_State *L, int idx) {
    static const char *const names[] = {"area", "bilinear", "bicubic", NULL};
    return (gan_resize_filter)luaL_checkoption(L, idx, "bilinear", names);
}

static int f_image_resize(lua_State *L) {
    gan_tensor *t;
    if (gan_image_resize(&t, gl_check_tensor(L, 1), luaL_checkinteger(L, 2), luaL_checkinteger(L, 3),
                         check_filter(L, 4)) != GAN_OK)
        return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

// image_job(paths, specs, {channels =, composite =, bg = {r, g, b}, size = {h, w}, filter =})
// specs[i] = {flip = bool, crop = {x, y, w, h}} (crop positions 0-based pixels).
static int f_image_job(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = (int)luaL_len(L, 1);
    if (n < 1) return luaL_error(L, "image_job: no files");
    if ((int)luaL_len(L, 2) != n) return luaL_error(L, "image_job: %d files but %d specs", n, (int)luaL_len(L, 2));
    const char **paths = lua_newuserdatauv(L, sizeof *paths * (size_t)n, 0);
    gan_image_spec *specs = lua_newuserdatauv(L, sizeof *specs * (size_t)n, 0);
    for (int i = 0; i < n; i++) {
        // Only real strings: a number converted by lua_tostring would live on the stack
        // alone and could be collected before the job copies it.
        if (lua_geti(L, 1, i + 1) != LUA_TSTRING)
            return luaL_error(L, "image_job: file %d is not a string", i + 1);
        paths[i] = lua_tostring(L, -1);   // kept alive by table 1
        lua_pop(L, 1);
        lua_geti(L, 2, i + 1);
        memset(&specs[i], 0, sizeof specs[i]);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "flip");
            specs[i].flip = lua_toboolean(L, -1);
            lua_pop(L, 1);
            if (lua_getfield(L, -1, "crop") == LUA_TTABLE) {
                for (int k = 0; k < 4; k++) {
                    lua_geti(L, -1, k + 1);
                    specs[i].crop[k] = luaL_checkinteger(L, -1);
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_getfield(L, 3, "channels");
    int channels = lua_isnil(L, -1) ? 0 : (int)gl_int_in(L, -1, 0, 4, "image_job", "channels");
    lua_getfield(L, 3, "composite");
    bool composite = lua_toboolean(L, -1);
    double bg[3] = {1, 1, 1};
    if (lua_getfield(L, 3, "bg") == LUA_TTABLE) {
        for (int k = 0; k < 3; k++) { lua_geti(L, -1, k + 1); bg[k] = luaL_checknumber(L, -1); lua_pop(L, 1); }
    }
    int64_t hw[2];
    if (lua_getfield(L, 3, "size") != LUA_TTABLE) return luaL_error(L, "image_job: size = {h, w} is required");
    for (int k = 0; k < 2; k++) { lua_geti(L, -1, k + 1); hw[k] = luaL_checkinteger(L, -1); lua_pop(L, 1); }
    lua_getfield(L, 3, "filter");
    gan_resize_filter filter = lua_isnil(L, -1) ? GAN_RESIZE_AREA : check_filter(L, lua_gettop(L));
    gan_image_job **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, GL_IMAGE_JOB);
    if (gan_image_job_start(box, n, paths, specs, channels, composite, bg, hw[0], hw[1], filter) != GAN_OK)
        return gl_fail(L);
    return 1;
}

static int job_wait(lua_State *L) {
    gan_image_job **box = luaL_checkudata(L, 1, GL_IMAGE_JOB);
    if (!*box) return luaL_error(L, "image job: already collected");
    gan_tensor *t;
    int rc = gan_image_job_wait(*box, &t);
    gan_image_job_free(*box);
    *box = NULL;
    if (rc != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

static int job_gc(lua_State *L) {
    gan_image_job **box = luaL_checkudata(L, 1, GL_IMAGE_JOB);
    gan_image_job_free(*box);
    *box = NULL;
    return 0;
}

// tensor_from_bytes(str, offset, {shape}, [scale = 1], [dtype = "float32"]); offset 0-based.
static int f_tensor_from_bytes(lua_State *L) {
    size_t n;
    const char *b = luaL_checklstring(L, 1, &n);
    lua_Integer off = luaL_checkinteger(L, 2);
    int ndim;
    int64_t size[GAN_MAX_DIMS];
    gl_shape(L, 3, &ndim, size);
    double scale = luaL_optnumber(L, 4, 1.0);
    gan_dtype dt = gl_dtype(L, 5, GAN_FLOAT32);
    // Elements needed, in 128 bits so that no shape overflows (sizes are non-negative).
    unsigned __int128 need128 = 1;
    for (int i = 0; i < ndim; i++) {
        need128 *= (uint64_t)size[i];
        if (need128 > (unsigned __int128)INT64_MAX) need128 = (unsigned __int128)INT64_MAX + 1;
    }
    if (need128 > (unsigned __int128)INT64_MAX)
        return luaL_error(L, "tensor_from_bytes: the shape has more than 2^63 elements");
    int64_t need = (int64_t)need128;
    if (off < 0 || (size_t)off > n || (int64_t)(n - (size_t)off) < need)
        return luaL_error(L, "tensor_from_bytes: %I bytes needed at offset %I, the string has %I",
                          (lua_Integer)need, off, (lua_Integer)n);
    gan_tensor *t;
    if (gan_from_u8(&t, (const unsigned char *)b + off, dt, ndim, size, scale) != GAN_OK) return gl_fail(L);
    gl_push_tensor(L, t);
    return 1;
}

// image_max_pixels([n]) -> the limit (before setting n)
static int f_image_max_pixels(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)gan_image_max_pixels());
    if (!lua_isnoneornil(L, 1) &&
        gan_image_set_max_pixels(gl_int_in(L, 1, 1, (lua_Integer)1 << 40, "image.set_max_pixels", "the limit")) != GAN_OK)
        return gl_fail(L);
    return 1;
}

/***
@module gan.core
*/

/*** Images.
The low-level entry points of gan.image and gan.data, which check arguments and pick
defaults; use those. Images are float tensors (C, H, W) in [0, 1], C 1 (gray),
2 (gray and alpha), 3 (RGB) or 4 (RGBA).
@section images
*/

/*** Decodes an image file (PNG, JPEG, BMP, TGA, GIF's first frame, ...).
A PNG is checked in full first, and an image larger than image_max_pixels is refused
before anything is allocated.
@function image_load
@tparam string path
@tparam[opt=0] int channels 1 to 4, or 0 for the file's own
@treturn Tensor (C, H, W) in [0, 1]
@raise naming the file and the reason
*/

/*** Decodes an image held in a string, as image_load.
@function image_decode
@tparam string bytes
@tparam[opt=0] int channels
@tparam[opt="<bytes>"] string name what errors call it
@treturn Tensor (C, H, W) in [0, 1]
*/

/*** Writes a (C, H, W) or (H, W) image in [0, 1] as PNG (clamped, rounded), atomically.
@function image_save_png
@tparam string path
@tparam Tensor img
*/

/*** Resizes (C, H, W) or (N, C, H, W) images to (..., h, w).
@function image_resize
@tparam Tensor img
@tparam int h
@tparam int w
@tparam[opt="bilinear"] string filter "area" (box: exact averages for integer
 downscales), "bilinear" or "bicubic" (Catmull-Rom)
@treturn Tensor
*/

/*** Starts decoding a batch of files on a background thread; job:wait() gives the batch.
Each image is cropped, resized (when its size differs) and flipped as its spec says.
@function image_job
@tparam {string,...} paths
@tparam {table,...} specs one per path: `flip` (false), `crop` ({x, y, w, h}, 0-based
 source pixels; default the whole image)
@tparam table opts `size` ({h, w}, required), `channels` (0: 3), `composite` (false: true
 composites the alpha channel onto `bg`, giving 3 channels), `bg` ({1, 1, 1}), `filter`
 ("area")
@treturn ImageJob
@raise when there are no files, the specs do not match the paths, or size is missing
*/

/*** A tensor from a string's raw unsigned bytes times scale (IDX files, pixel buffers).
@function tensor_from_bytes
@tparam string bytes
@tparam int offset 0-based byte offset of the first element
@tparam {int,...} shape
@tparam[opt=1] number scale
@tparam[opt="float32"] string dtype
@treturn Tensor
@raise when the string is too short
*/

/*** The largest image (width x height) decoding accepts, and optionally a new limit.
@function image_max_pixels
@tparam[opt] int n the new limit (>= 1), for the whole process
@treturn int the limit before n was set
*/

/*** A batch being decoded in the background (gan.core.image_job).
@type ImageJob
*/

/*** Waits for the batch. A job can be waited for once.
@function wait
@treturn Tensor (n, C, h, w) in [0, 1]
@raise naming the first file that failed, or when already waited for
*/

/*** Waits for the thread and frees the job (run by the garbage collector).
@function __gc
@static
@tparam ImageJob job
*/

static const luaL_Reg functions[] = {
    {"tensor_from_bytes", f_tensor_from_bytes}, {"image_max_pixels", f_image_max_pixels},
    {"image_load", f_image_load}, {"image_decode", f_image_decode},
    {"image_save_png", f_image_save_png}, {"image_resize", f_image_resize},
    {"image_job", f_image_job}, {NULL, NULL}};

void gl_register_image(lua_State *L, const gl_tables *t) {
    gl_set_funcs(L, t->module, functions);
    if (luaL_newmetatable(L, GL_IMAGE_JOB)) {
        lua_pushcfunction(L, job_gc);
        lua_setfield(L, -2, "__gc");
        lua_newtable(L);
        lua_pushcfunction(L, job_wait);
        lua_setfield(L, -2, "wait");
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}
