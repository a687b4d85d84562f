// Lua glue for drawing (core/include/gan/draw.h): what lua/gan/plot.lua renders with.
// Coordinates are 0-based pixels (geometry, not tensor indices); colours {r, g, b}.
#include "bindings.h"

/***
@module gan.core
*/

/*** Drawing.
Lines, rectangles and text drawn into images: what gan.plot renders with. Coordinates are
0-based pixels (geometry, not tensor indices) and colours {r, g, b} in [0, 1]; the image is a contiguous
float32 (3, H, W) tensor written in place; shapes are clipped to it.
@section drawing
*/

static void check_rgb(lua_State *L, int idx, float rgb[3]) {
    luaL_checktype(L, idx, LUA_TTABLE);
    for (int i = 0; i < 3; i++) {
        lua_geti(L, idx, i + 1);
        int ok;
        rgb[i] = (float)lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_argerror(L, idx, "expected a colour {r, g, b} with numbers in [0, 1]");
        lua_pop(L, 1);
    }
}

static int check_int(lua_State *L, int idx, lua_Integer lo, const char *what) {
    lua_Integer v = luaL_checkinteger(L, idx);
    if (v < lo || v > 1 << 16) luaL_error(L, "%s must be in [%I, 65536], got %I", what, lo, v);
    return (int)v;
}

/*** Draws a line from (x0, y0) to (x1, y1), in place.
@function draw_line
@tparam Tensor img (3, H, W)
@tparam number x0
@tparam number y0
@tparam number x1
@tparam number y1
@tparam {number,number,number} rgb
@tparam[opt=1] int width in pixels, 1 to 65536
*/
static int f_draw_line(lua_State *L) {
    gan_tensor *img = gl_inplace(L, 1, "draw_line");
    float rgb[3];
    check_rgb(L, 6, rgb);
    int width = lua_isnoneornil(L, 7) ? 1 : check_int(L, 7, 1, "draw_line: width");
    if (gan_draw_line(img, luaL_checknumber(L, 2), luaL_checknumber(L, 3), luaL_checknumber(L, 4),
                      luaL_checknumber(L, 5), rgb, width) != GAN_OK)
        return gl_fail(L);
    return 0;
}

/*** Fills the rectangle of w x h pixels whose top-left corner is (x, y), in place.
@function fill_rect
@tparam Tensor img (3, H, W)
@tparam int x
@tparam int y
@tparam int w
@tparam int h
@tparam {number,number,number} rgb
*/
static int f_fill_rect(lua_State *L) {
    gan_tensor *img = gl_inplace(L, 1, "fill_rect");
    float rgb[3];
    check_rgb(L, 6, rgb);
    if (gan_fill_rect(img, luaL_checkinteger(L, 2), luaL_checkinteger(L, 3), luaL_checkinteger(L, 4),
                      luaL_checkinteger(L, 5), rgb) != GAN_OK)
        return gl_fail(L);
    return 0;
}

/*** Writes ASCII text (6 x 12 pixel cells, '\n' starts a new line, other bytes outside
32..126 draw as '?') with its top-left corner at (x, y), in place.
@function draw_text
@tparam Tensor img (3, H, W)
@tparam int x
@tparam int y
@tparam string text
@tparam {number,number,number} rgb
@tparam[opt=1] int scale each font pixel as scale x scale pixels
*/
static int f_draw_text(lua_State *L) {
    gan_tensor *img = gl_inplace(L, 1, "draw_text");
    float rgb[3];
    check_rgb(L, 5, rgb);
    int scale = lua_isnoneornil(L, 6) ? 1 : check_int(L, 6, 1, "draw_text: scale");
    if (gan_draw_text(img, luaL_checkinteger(L, 2), luaL_checkinteger(L, 3), luaL_checkstring(L, 4),
                      rgb, scale) != GAN_OK)
        return gl_fail(L);
    return 0;
}

/*** The size draw_text gives text.
@function text_size
@tparam string text
@tparam[opt=1] int scale
@treturn int width in pixels
@treturn int height in pixels
*/
static int f_text_size(lua_State *L) {
    int scale = lua_isnoneornil(L, 2) ? 1 : check_int(L, 2, 1, "text_size: scale");
    int64_t w, h;
    gan_text_size(luaL_checkstring(L, 1), scale, &w, &h);
    lua_pushinteger(L, w);
    lua_pushinteger(L, h);
    return 2;
}

static const luaL_Reg functions[] = {
    {"draw_line", f_draw_line}, {"fill_rect", f_fill_rect},
    {"draw_text", f_draw_text}, {"text_size", f_text_size}, {NULL, NULL}};

void gl_register_draw(lua_State *L, const gl_tables *t) { gl_set_funcs(L, t->module, functions); }
