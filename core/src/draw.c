// Drawing primitives on float32 (3, H, W) images (see gan/draw.h): lines, rectangles
// and stb_easy_font text. Plain loops: plots are small and drawn once.
#include "gan/draw.h"
#include "internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#include "stb_easy_font.h"
#pragma GCC diagnostic pop

typedef struct canvas {
    float *data;
    int64_t h, w;
} canvas;

static int get_canvas(canvas *c, gan_tensor *img, const char *op) {
    if (img->dtype != GAN_FLOAT32 || img->ndim != 3 || img->size[0] != 3 ||
        !gan_is_contiguous(img)) {
        char shape[GAN_SHAPE_BUF];
        return gan_error("%s: expected a contiguous float32 (3, H, W) image, got %s %s%s", op,
                         gan_dtype_name(img->dtype),
                         gan_shape_str(shape, sizeof shape, img->ndim, img->size),
                         gan_is_contiguous(img) ? "" : " (not contiguous)");
    }
    c->data = gan_data(img);
    c->h = img->size[1];
    c->w = img->size[2];
    return GAN_OK;
}

// Fills the rectangle [x0, x1) x [y0, y1), clipped.
static void fill(const canvas *c, int64_t x0, int64_t y0, int64_t x1, int64_t y1,
                 const float rgb[3]) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > c->w) x1 = c->w;
    if (y1 > c->h) y1 = c->h;
    for (int ch = 0; ch < 3; ch++) {
        float *plane = c->data + ch * c->h * c->w;
        for (int64_t y = y0; y < y1; y++)
            for (int64_t x = x0; x < x1; x++) plane[y * c->w + x] = rgb[ch];
    }
}

int gan_fill_rect(gan_tensor *img, int64_t x, int64_t y, int64_t w, int64_t h,
                  const float rgb[3]) {
    canvas c;
    if (get_canvas(&c, img, "fill_rect") != GAN_OK) return GAN_ERR;
    if (w > 0 && h > 0) fill(&c, x, y, x + w, y + h, rgb);
    return GAN_OK;
}

// Liang-Barsky: clips the segment to [lo, hi] in both axes; false if nothing is left.
static bool clip(double *x0, double *y0, double *x1, double *y1, double xlo, double xhi,
                 double ylo, double yhi) {
    double t0 = 0, t1 = 1, dx = *x1 - *x0, dy = *y1 - *y0;
    double p[4] = {-dx, dx, -dy, dy};
    double q[4] = {*x0 - xlo, xhi - *x0, *y0 - ylo, yhi - *y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return false;
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0) { if (t > t1) return false; if (t > t0) t0 = t; }
        else          { if (t < t0) return false; if (t < t1) t1 = t; }
    }
    double ax = *x0, ay = *y0;
    *x0 = ax + t0 * dx; *y0 = ay + t0 * dy;
    *x1 = ax + t1 * dx; *y1 = ay + t1 * dy;
    return true;
}

int gan_draw_line(gan_tensor *img, double x0, double y0, double x1, double y1,
                  const float rgb[3], int width) {
    canvas c;
    if (get_canvas(&c, img, "draw_line") != GAN_OK) return GAN_ERR;
    if (width < 1) return gan_error("draw_line: width must be at least 1, got %d", width);
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1))
        return gan_error("draw_line: coordinates must be finite");
    double m = width;
    if (!clip(&x0, &y0, &x1, &y1, -m, (double)c.w + m, -m, (double)c.h + m)) return GAN_OK;

    // Bresenham; each step paints a span across the major axis, lengthened by the
    // slope so that diagonal lines look as thick as straight ones.
    int64_t ax = llround(x0), ay = llround(y0), bx = llround(x1), by = llround(y1);
    int64_t dx = llabs(bx - ax), dy = -llabs(by - ay);
    int64_t sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1;
    bool x_major = dx >= -dy;
    double major = x_major ? (double)dx : (double)-dy;
    int64_t span = width;
    if (major > 0) span = llround(width * hypot((double)dx, (double)dy) / major);
    if (span < 1) span = 1;
    int64_t lo = -(span - 1) / 2, hi = lo + span;
    int64_t err = dx + dy;
    for (;;) {
        if (x_major) fill(&c, ax, ay + lo, ax + 1, ay + hi, rgb);
        else fill(&c, ax + lo, ay, ax + hi, ay + 1, rgb);
        if (ax == bx && ay == by) break;
        int64_t e2 = 2 * err;
        if (e2 >= dy) { err += dy; ax += sx; }
        if (e2 <= dx) { err += dx; ay += sy; }
    }
    return GAN_OK;
}

// Copy of text with the bytes stb_easy_font cannot index replaced by '?'.
static char *printable(const char *text) {
    size_t n = strlen(text);
    char *s = gan_malloc(n + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)text[i];
        s[i] = (ch == '\n' || (ch >= 32 && ch < 127)) ? (char)ch : '?';
    }
    s[n] = 0;
    return s;
}

void gan_text_size(const char *text, int scale, int64_t *w, int64_t *h) {
    char *s = printable(text);
    if (scale < 1) scale = 1;
    *w = s ? (int64_t)stb_easy_font_width(s) * scale : 0;
    *h = s ? (int64_t)stb_easy_font_height(s) * scale : 0;
    free(s);
}

int gan_draw_text(gan_tensor *img, int64_t x, int64_t y, const char *text,
                  const float rgb[3], int scale) {
    canvas c;
    if (get_canvas(&c, img, "draw_text") != GAN_OK) return GAN_ERR;
    if (scale < 1) return gan_error("draw_text: scale must be at least 1, got %d", scale);
    char *s = printable(text);
    if (!s) return gan_error("draw_text: out of memory");
    // Exact buffer size: 64 bytes (4 vertices) per segment of every character.
    size_t segs = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\n') continue;
        int i = *p - 32;
        segs += (size_t)(stb_easy_font_charinfo[i + 1].h_seg - stb_easy_font_charinfo[i].h_seg);
        segs += (size_t)(stb_easy_font_charinfo[i + 1].v_seg - stb_easy_font_charinfo[i].v_seg);
    }
    size_t bytes = segs * 64 + 64;
    float *quads = gan_malloc(bytes);
    if (!quads) {
        free(s);
        return gan_error("draw_text: out of memory");
    }
    int n = stb_easy_font_print(0, 0, s, NULL, quads, (int)bytes);
    for (int q = 0; q < n; q++) {
        // Each vertex is x, y, z, rgba (16 bytes); vertices 0 and 2 are opposite corners.
        const float *v0 = quads + q * 16, *v2 = v0 + 8;
        fill(&c, x + (int64_t)v0[0] * scale, y + (int64_t)v0[1] * scale,
             x + (int64_t)v2[0] * scale, y + (int64_t)v2[1] * scale, rgb);
    }
    free(quads);
    free(s);
    return GAN_OK;
}
