// Images over stb_image / stb_image_write / stb_image_resize. Images are float tensors
// (C, H, W) with values in [0, 1]; C is 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA).
#ifndef GAN_IMAGE_H
#define GAN_IMAGE_H
#include "gan/tensor.h"

// Decodes PNG, JPEG, BMP, TGA, GIF (first frame), ... `channels` 0 keeps the file's.
// Before anything is decoded or allocated, the image's width x height must be at most
// gan_image_max_pixels(); a PNG is checked in full first (signature, every chunk's
// length and CRC-32, IHDR, the zlib stream of its IDAT chunks with its Adler-32, and that
// stream's inflated size against the one its dimensions need), which stb_image does not.
// Errors name `name` and the reason.
int gan_image_decode(gan_tensor **out, const unsigned char *bytes, size_t len, int channels,
                     const char *name);
int gan_image_load(gan_tensor **out, const char *path, int channels);
// The largest image (width x height, in pixels) decoding accepts: a decompression bomb
// (a small file that inflates to gigabytes) is refused before anything is allocated.
// Process-wide; GAN_IMAGE_MAX_PIXELS (2^26 = 8192 x 8192) by default.
#define GAN_IMAGE_MAX_PIXELS ((int64_t)1 << 26)
int gan_image_set_max_pixels(int64_t n);   // n >= 1
int64_t gan_image_max_pixels(void);
// PNG of a (C, H, W) or (H, W) float image in [0, 1] (clamped, rounded), written atomically.
int gan_image_save_png(const char *path, const gan_tensor *img);

typedef enum { GAN_RESIZE_AREA, GAN_RESIZE_BILINEAR, GAN_RESIZE_BICUBIC } gan_resize_filter;
// Resizes (C, H, W) or (N, C, H, W) to (..., h, w); AREA is the box filter (exact
// averages for integer downscales), BILINEAR the triangle filter, BICUBIC Catmull-Rom.
int gan_image_resize(gan_tensor **out, const gan_tensor *img, int64_t h, int64_t w,
                     gan_resize_filter filter);

// A tensor from raw unsigned bytes times scale (IDX files, pixel buffers).
int gan_from_u8(gan_tensor **out, const unsigned char *bytes, gan_dtype dt, int ndim,
                const int64_t *size, double scale);

// ---- background decoding of batches
typedef struct gan_image_spec {
    bool flip;                  // horizontal flip
    int64_t crop[4];            // x, y, w, h in source pixels; w <= 0: whole image
} gan_image_spec;
typedef struct gan_image_job gan_image_job;
// Starts a thread that decodes n files into a (n, C, h, w) float batch: each image is
// cropped, resized (if its size differs) with `filter`, flipped; with composite, the alpha
// channel is composited onto bg (C = 3 out), else `channels` (0: 3).
int gan_image_job_start(gan_image_job **job, int n, const char *const *paths,
                        const gan_image_spec *specs, int channels, bool composite,
                        const double *bg, int64_t h, int64_t w, gan_resize_filter filter);
// Waits for the batch (new reference) or the error of the first failing file.
int gan_image_job_wait(gan_image_job *job, gan_tensor **out);
void gan_image_job_free(gan_image_job *job);

#endif
