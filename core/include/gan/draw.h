// Drawing on images, for plots and annotated sample grids. The image is a contiguous
// float32 (3, H, W) tensor with values in [0, 1]; coordinates are pixels with (0, 0) the
// top-left pixel, x rightwards, y downwards. Everything is clipped to the image, so
// shapes may lie partly (or wholly) outside it. Colours are {r, g, b} in [0, 1].
//
//     gan_fill_rect(img, 0, 0, 640, 480, white);              // background
//     gan_draw_line(img, 40, 400, 600, 80, blue, 2);          // a 2-pixel line
//     gan_draw_text(img, 40, 20, "loss_d", black, 2);         // text at twice the size
#ifndef GAN_DRAW_H
#define GAN_DRAW_H
#include "gan/tensor.h"

// A line from (x0, y0) to (x1, y1) (both ends drawn), `width` pixels thick (>= 1).
int gan_draw_line(gan_tensor *img, double x0, double y0, double x1, double y1,
                  const float rgb[3], int width);
// The w x h rectangle whose top-left pixel is (x, y).
int gan_fill_rect(gan_tensor *img, int64_t x, int64_t y, int64_t w, int64_t h,
                  const float rgb[3]);
// ASCII text (stb_easy_font: 6 x 12 cells, '\n' starts a new line; other bytes outside
// 32..126 draw as '?') with its top-left corner at (x, y), magnified `scale` times.
int gan_draw_text(gan_tensor *img, int64_t x, int64_t y, const char *text,
                  const float rgb[3], int scale);
// The size in pixels of what gan_draw_text draws for `text` at `scale`.
void gan_text_size(const char *text, int scale, int64_t *w, int64_t *h);

#endif
