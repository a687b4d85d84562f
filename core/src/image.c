// Image decoding, encoding and resizing with stb, and batch decoding in a background
// thread (see image.h).
#include "gan/image.h"
#include "gan/ops.h"
#include "internal.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>
#include <zlib.h>

static int read_file(const char *path, unsigned char **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return gan_error("image: cannot open %s: %s", path, strerror(errno));
    // fopen succeeds on a directory, whose "size" from ftell can be LONG_MAX.
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return gan_error("image: cannot read %s: not a regular file", path);
    }
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return gan_error("image: cannot read %s", path); }
    long n = ftell(f);
    rewind(f);
    if (n < 0) { fclose(f); return gan_error("image: cannot read %s", path); }
    unsigned char *b = gan_malloc((size_t)n + 1);
    if (!b) { fclose(f); return gan_error("image: out of memory reading %s", path); }
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b); fclose(f);
        return gan_error("image: cannot read %s", path);
    }
    fclose(f);
    *buf = b;
    *len = (size_t)n;
    return GAN_OK;
}

static int64_t max_pixels = GAN_IMAGE_MAX_PIXELS;

int gan_image_set_max_pixels(int64_t n) {
    if (n < 1) return gan_error("image: the pixel limit must be >= 1, got %lld", (long long)n);
    __atomic_store_n(&max_pixels, n, __ATOMIC_RELAXED);
    return GAN_OK;
}

int64_t gan_image_max_pixels(void) { return __atomic_load_n(&max_pixels, __ATOMIC_RELAXED); }

static int check_pixels(int64_t w, int64_t h, const char *name) {
    int64_t limit = gan_image_max_pixels();
    if (w > limit / h)   // w * h > limit, without overflow (h >= 1)
        return gan_error("image: %s is %lldx%lld pixels, more than the limit of %lld "
                         "(gan.image.set_max_pixels)", name, (long long)w, (long long)h, (long long)limit);
    return GAN_OK;
}

// ---- PNG integrity (stb_image checks neither CRCs nor the zlib stream)

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// The bytes of the filtered scanlines of a (w x h) image of `bpp` bits per pixel: one
// filter byte per row, each of the seven Adam7 passes on its own when interlaced.
static int64_t png_raw_size(int64_t w, int64_t h, int64_t bpp, bool interlaced) {
    static const int pass[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                   {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};   // x0, y0, dx, dy
    if (!interlaced) return h * (1 + (w * bpp + 7) / 8);
    int64_t total = 0;
    for (int i = 0; i < 7; i++) {
        int64_t pw = (w - pass[i][0] + pass[i][2] - 1) / pass[i][2];
        int64_t ph = (h - pass[i][1] + pass[i][3] - 1) / pass[i][3];
        if (pw > 0 && ph > 0) total += ph * (1 + (pw * bpp + 7) / 8);
    }
    return total;
}

// The channels of a PNG colour type with a valid bit depth, or 0.
static int png_channels(int color, int depth) {
    switch (color) {
    case 0: return (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16) ? 1 : 0;
    case 3: return (depth == 1 || depth == 2 || depth == 4 || depth == 8) ? 1 : 0;
    case 2: return (depth == 8 || depth == 16) ? 3 : 0;
    case 4: return (depth == 8 || depth == 16) ? 2 : 0;
    case 6: return (depth == 8 || depth == 16) ? 4 : 0;
    }
    return 0;
}

// Walks every chunk (length, CRC-32), checks IHDR and the pixel limit, then inflates the
// IDAT stream into a small scratch buffer, counting bytes: zlib verifies the stream and
// its Adler-32, and the count must be what the dimensions need (no more: a bomb stops at
// that size; no less: a short image is corrupt).
static int check_png(const unsigned char *b, size_t len, const char *name) {
    size_t pos = 8;
    int64_t w = 0, h = 0, raw = 0, got = 0;
    bool seen_idat = false, idat_done = false, stream_end = false, iend = false;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return gan_error("image: cannot check %s: zlib failed to start", name);
    unsigned char scratch[1 << 14];
    int rc = GAN_OK;
    for (int k = 0; !iend; k++) {
        if (len - pos < 12) {
            rc = gan_error("image: %s is truncated: %s at byte %zu", name,
                           k == 0 ? "no IHDR chunk" : "no IEND chunk", pos);
            break;
        }
        uint32_t n = be32(b + pos);
        const unsigned char *type = b + pos + 4, *data = b + pos + 8;
        char tname[5] = {0};
        for (int i = 0; i < 4; i++) tname[i] = (type[i] >= 32 && type[i] < 127) ? (char)type[i] : '?';
        if (n > 0x7fffffffu || n > len - pos - 12) {
            rc = gan_error("image: %s is truncated or corrupt: chunk '%s' at byte %zu claims %u bytes, "
                           "%zu remain", name, tname, pos, n, len - pos - 12);
            break;
        }
        uint32_t crc = (uint32_t)crc32_z(crc32_z(0, type, 4), data, n);
        if (crc != be32(data + n)) {
            rc = gan_error("image: %s is corrupt: CRC mismatch in chunk '%s' at byte %zu", name, tname, pos);
            break;
        }
        bool is_idat = memcmp(type, "IDAT", 4) == 0;
        if (k == 0) {
            if (memcmp(type, "IHDR", 4) != 0 || n != 13) {
                rc = gan_error("image: %s is corrupt: the first chunk is not a 13-byte IHDR", name);
                break;
            }
            w = be32(data);
            h = be32(data + 4);
            int depth = data[8], color = data[9], interlace = data[12];
            int ch = png_channels(color, depth);
            if (w < 1 || h < 1 || w > 0x7fffffff || h > 0x7fffffff || !ch || data[10] || data[11] || interlace > 1) {
                rc = gan_error("image: %s is corrupt: invalid IHDR (%lldx%lld, bit depth %d, colour type %d, "
                               "compression %d, filter %d, interlace %d)", name, (long long)w, (long long)h,
                               depth, color, data[10], data[11], interlace);
                break;
            }
            if ((rc = check_pixels(w, h, name)) != GAN_OK) break;
            raw = png_raw_size(w, h, (int64_t)ch * depth, interlace == 1);
        } else if (is_idat) {
            if (idat_done) {
                rc = gan_error("image: %s is corrupt: its IDAT chunks are not consecutive", name);
                break;
            }
            seen_idat = true;
            z.next_in = (unsigned char *)data;
            z.avail_in = n;
            while (z.avail_in > 0 && !stream_end) {
                z.next_out = scratch;
                z.avail_out = sizeof scratch;
                int zr = inflate(&z, Z_NO_FLUSH);
                got += (int64_t)(sizeof scratch - z.avail_out);
                if (got > raw) {
                    rc = gan_error("image: %s is corrupt: its pixel data inflates past the %lld bytes a "
                                   "%lldx%lld image needs", name, (long long)raw, (long long)w, (long long)h);
                    break;
                }
                if (zr == Z_STREAM_END) stream_end = true;
                else if (zr != Z_OK) {
                    rc = gan_error("image: %s is corrupt: its compressed pixel data is invalid (zlib: %s)",
                                   name, z.msg ? z.msg : "error");
                    break;
                }
            }
            if (rc != GAN_OK) break;
            if (stream_end && z.avail_in > 0) {
                rc = gan_error("image: %s is corrupt: bytes after the end of its compressed pixel data", name);
                break;
            }
        } else {
            if (seen_idat) idat_done = true;
            iend = memcmp(type, "IEND", 4) == 0;
        }
        pos += 12 + (size_t)n;
    }
    // the stream may still hold output when its input ended exactly at a chunk boundary
    while (rc == GAN_OK && !stream_end && seen_idat) {
        z.next_out = scratch;
        z.avail_out = sizeof scratch;
        int zr = inflate(&z, Z_NO_FLUSH);
        got += (int64_t)(sizeof scratch - z.avail_out);
        if (got > raw)
            rc = gan_error("image: %s is corrupt: its pixel data inflates past the %lld bytes a %lldx%lld "
                           "image needs", name, (long long)raw, (long long)w, (long long)h);
        else if (zr == Z_STREAM_END) stream_end = true;
        else if (zr == Z_BUF_ERROR && z.avail_out > 0)
            rc = gan_error("image: %s is truncated: its compressed pixel data ends early", name);
        else if (zr != Z_OK)
            rc = gan_error("image: %s is corrupt: its compressed pixel data is invalid (zlib: %s)", name,
                           z.msg ? z.msg : "error");
    }
    inflateEnd(&z);
    if (rc != GAN_OK) return GAN_ERR;
    if (!seen_idat) return gan_error("image: %s is corrupt: it has no IDAT chunk", name);
    if (got != raw)
        return gan_error("image: %s is corrupt: its pixel data is %lld bytes, a %lldx%lld image needs %lld", name,
                         (long long)got, (long long)w, (long long)h, (long long)raw);
    return GAN_OK;
}

static const unsigned char PNG_SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

int gan_image_decode(gan_tensor **out, const unsigned char *bytes, size_t len, int channels,
                     const char *name) {
    if (channels < 0 || channels > 4) return gan_error("image: channels must be 0-4, got %d", channels);
    if (len > (size_t)INT32_MAX) return gan_error("image: %s is too large", name);
    if (len >= 8 && memcmp(bytes, PNG_SIGNATURE, 8) == 0) {
        if (check_png(bytes, len, name) != GAN_OK) return GAN_ERR;
    } else {
        int iw, ih, ic;
        if (!stbi_info_from_memory(bytes, (int)len, &iw, &ih, &ic)) {
            const char *why = stbi_failure_reason();
            return gan_error("image: cannot decode %s: %s", name, why && *why ? why : "not an image stb_image reads");
        }
        if (iw < 1 || ih < 1) return gan_error("image: cannot decode %s: it is %dx%d pixels", name, iw, ih);
        if (check_pixels(iw, ih, name) != GAN_OK) return GAN_ERR;
    }
    int w, h, c;
    unsigned char *px = stbi_load_from_memory(bytes, (int)len, &w, &h, &c, channels);
    if (!px) {
        const char *why = stbi_failure_reason();
        return gan_error("image: cannot decode %s: %s", name, why && *why ? why : "stb_image gave no reason");
    }
    if (channels) c = channels;
    int64_t size[3] = {c, h, w};
    gan_tensor *t;
    if (gan_empty(&t, GAN_FLOAT32, 3, size) != GAN_OK) { stbi_image_free(px); return GAN_ERR; }
    float *d = gan_data(t);
    int64_t hw = (int64_t)h * w;
    for (int64_t i = 0; i < hw; i++)
        for (int k = 0; k < c; k++) d[k * hw + i] = px[i * c + k] / 255.0f;   // correctly rounded k/255: save/load round-trips exactly
    stbi_image_free(px);
    *out = t;
    return GAN_OK;
}

int gan_image_load(gan_tensor **out, const char *path, int channels) {
    unsigned char *b = NULL;
    size_t n = 0;
    if (read_file(path, &b, &n) != GAN_OK) return GAN_ERR;
    int rc = gan_image_decode(out, b, n, channels, path);
    free(b);
    return rc;
}

int gan_image_save_png(const char *path, const gan_tensor *img) {
    char s[GAN_SHAPE_BUF];
    int64_t c, h, w;
    if (img->ndim == 2) { c = 1; h = img->size[0]; w = img->size[1]; }
    else if (img->ndim == 3) { c = img->size[0]; h = img->size[1]; w = img->size[2]; }
    else return gan_error("save_png: expected an image (C, H, W) or (H, W), got %s",
                          gan_shape_str(s, sizeof s, img->ndim, img->size));
    if (c < 1 || c > 4 || h < 1 || w < 1 || h > 32768 || w > 32768)
        return gan_error("save_png: cannot write an image of shape %s (1-4 channels)",
                         gan_shape_str(s, sizeof s, img->ndim, img->size));
    gan_tensor *f, *fc;
    if (gan_to_dtype(&f, img, GAN_FLOAT64) != GAN_OK) return GAN_ERR;
    int rc = gan_contiguous(&fc, f);
    gan_tensor_release(f);
    if (rc != GAN_OK) return GAN_ERR;
    const double *d = gan_data(fc);
    unsigned char *px = gan_malloc((size_t)(c * h * w));
    if (!px) { gan_tensor_release(fc); return gan_error("save_png: out of memory"); }
    int64_t hw = h * w;
    for (int64_t i = 0; i < hw; i++)
        for (int64_t k = 0; k < c; k++) {
            double v = d[k * hw + i];
            v = v != v ? 0 : v < 0 ? 0 : v > 1 ? 1 : v;   // NaN writes as 0
            px[i * c + k] = (unsigned char)lrint(v * 255.0);
        }
    gan_tensor_release(fc);
    char *tmp = gan_atomic_temp(path);
    if (!tmp) { free(px); return gan_error("save_png: out of memory"); }
    int ok = stbi_write_png(tmp, (int)w, (int)h, (int)c, px, (int)(w * c));
    free(px);
    if (!ok) { unlink(tmp); free(tmp); return gan_error("save_png: cannot write %s", path); }
    if (rename(tmp, path) != 0) {
        rc = gan_error("save_png: cannot rename to %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    return GAN_OK;
}

int gan_from_u8(gan_tensor **out, const unsigned char *bytes, gan_dtype dt, int ndim,
                const int64_t *size, double scale) {
    gan_tensor *t;
    if (gan_empty(&t, dt, ndim, size) != GAN_OK) return GAN_ERR;
    int64_t n = gan_numel(t);
    void *d = gan_data(t);
    for (int64_t i = 0; i < n; i++) {
        double v = bytes[i] * scale;
        if (dt == GAN_FLOAT32) ((float *)d)[i] = (float)v;
        else if (dt == GAN_FLOAT64) ((double *)d)[i] = v;
        else ((int64_t *)d)[i] = (int64_t)v;
    }
    *out = t;
    return GAN_OK;
}

// Resizes one contiguous float32 (C, H, W) plane set into o (C, h, w).
static int resize_one(const float *in, int64_t C, int64_t H, int64_t W, float *o, int64_t h,
                      int64_t w, gan_resize_filter filter) {
    stbir_filter f = filter == GAN_RESIZE_AREA ? STBIR_FILTER_BOX
                   : filter == GAN_RESIZE_BILINEAR ? STBIR_FILTER_TRIANGLE : STBIR_FILTER_CATMULLROM;
    // stb works on one channel at a time here (stride = row), so planes stay separate.
    for (int64_t c = 0; c < C; c++) {
        if (!stbir_resize_float_generic(in + c * H * W, (int)W, (int)H, (int)(W * 4), o + c * h * w,
                                        (int)w, (int)h, (int)(w * 4), 1, STBIR_ALPHA_CHANNEL_NONE, 0,
                                        STBIR_EDGE_CLAMP, f, STBIR_COLORSPACE_LINEAR, NULL))
            return gan_error("resize: stb_image_resize failed");
    }
    return GAN_OK;
}

int gan_image_resize(gan_tensor **out, const gan_tensor *img, int64_t h, int64_t w,
                     gan_resize_filter filter) {
    char s[GAN_SHAPE_BUF];
    if (img->ndim != 3 && img->ndim != 4)
        return gan_error("resize: expected (C, H, W) or (N, C, H, W), got %s",
                         gan_shape_str(s, sizeof s, img->ndim, img->size));
    if (h < 1 || w < 1 || h > 32768 || w > 32768)
        return gan_error("resize: invalid target size %lldx%lld", (long long)h, (long long)w);
    if (!gan_dtype_is_float(img->dtype)) return gan_error("resize: expected a float image");
    int nd = img->ndim;
    int64_t N = nd == 4 ? img->size[0] : 1, C = img->size[nd - 3], H = img->size[nd - 2], W = img->size[nd - 1];
    if (H < 1 || W < 1) return gan_error("resize: empty input image");
    gan_tensor *f, *fc, *o;
    if (gan_to_dtype(&f, img, GAN_FLOAT32) != GAN_OK) return GAN_ERR;
    int rc = gan_contiguous(&fc, f);
    gan_tensor_release(f);
    if (rc != GAN_OK) return GAN_ERR;
    int64_t osize[4] = {N, C, h, w};
    if (gan_empty(&o, GAN_FLOAT32, nd, nd == 4 ? osize : osize + 1) != GAN_OK) { gan_tensor_release(fc); return GAN_ERR; }
    for (int64_t n = 0; n < N && rc == GAN_OK; n++)
        rc = resize_one((const float *)gan_data(fc) + n * C * H * W, C, H, W,
                        (float *)gan_data(o) + n * C * h * w, h, w, filter);
    gan_tensor_release(fc);
    if (rc != GAN_OK) { gan_tensor_release(o); return GAN_ERR; }
    if (img->dtype != GAN_FLOAT32) {
        gan_tensor *c2;
        rc = gan_to_dtype(&c2, o, img->dtype);
        gan_tensor_release(o);
        if (rc != GAN_OK) return GAN_ERR;
        o = c2;
    }
    *out = o;
    return GAN_OK;
}

// ---- background batches

struct gan_image_job {
    pthread_t thread;
    int n, channels;
    char **paths;
    gan_image_spec *specs;
    bool composite;
    double bg[3];
    int64_t h, w;
    gan_resize_filter filter;
    gan_tensor *batch;
    int status;
    char error[512];
    bool joined;
};

// One image into slot (C, h, w) of the batch.
static int decode_into(gan_image_job *j, int k, float *slot, int C) {
    gan_tensor *img = NULL, *cur = NULL;
    int want = j->composite ? 4 : C;
    if (gan_image_load(&img, j->paths[k], want) != GAN_OK) return GAN_ERR;
    int64_t H = img->size[1], W = img->size[2];
    const gan_image_spec *s = &j->specs[k];
    float *src = gan_data(img);
    // Composite (RGBA over bg) into a C-channel image.
    int64_t x0 = 0, y0 = 0, cw = W, ch = H;
    if (s->crop[2] > 0) {
        x0 = s->crop[0]; y0 = s->crop[1]; cw = s->crop[2]; ch = s->crop[3];
        if (x0 < 0 || y0 < 0 || ch <= 0 || x0 + cw > W || y0 + ch > H) {
            gan_tensor_release(img);
            return gan_error("image: crop %lld,%lld %lldx%lld is outside %s (%lldx%lld)", (long long)x0,
                             (long long)y0, (long long)cw, (long long)ch, j->paths[k], (long long)W, (long long)H);
        }
    }
    int64_t size[3] = {C, ch, cw};
    if (gan_empty(&cur, GAN_FLOAT32, 3, size) != GAN_OK) { gan_tensor_release(img); return GAN_ERR; }
    float *d = gan_data(cur);
    for (int64_t y = 0; y < ch; y++)
        for (int64_t x = 0; x < cw; x++) {
            int64_t si = (y + y0) * W + (x + x0), di = y * cw + (s->flip ? cw - 1 - x : x);
            if (j->composite) {
                float a = src[3 * H * W + si];
                for (int c = 0; c < 3; c++)
                    d[c * ch * cw + di] = src[c * H * W + si] * a + (float)j->bg[c] * (1 - a);
            } else {
                for (int c = 0; c < C; c++) d[c * ch * cw + di] = src[c * H * W + si];
            }
        }
    gan_tensor_release(img);
    int rc = GAN_OK;
    if (ch == j->h && cw == j->w) {
        memcpy(slot, d, sizeof(float) * (size_t)(C * ch * cw));
    } else {
        rc = resize_one(d, C, ch, cw, slot, j->h, j->w, j->filter);
    }
    gan_tensor_release(cur);
    return rc;
}

static void *job_main(void *arg) {
    gan_image_job *j = arg;
    int C = j->composite ? 3 : (j->channels ? j->channels : 3);
    int64_t size[4] = {j->n, C, j->h, j->w};
    if (gan_empty(&j->batch, GAN_FLOAT32, 4, size) != GAN_OK) {
        j->status = GAN_ERR;
        snprintf(j->error, sizeof j->error, "%s", gan_last_error());
        return NULL;
    }
    float *base = gan_data(j->batch);
    for (int k = 0; k < j->n; k++) {
        if (decode_into(j, k, base + (size_t)k * C * j->h * j->w, C) != GAN_OK) {
            j->status = GAN_ERR;
            snprintf(j->error, sizeof j->error, "%s", gan_last_error());
            gan_tensor_release(j->batch);
            j->batch = NULL;
            return NULL;
        }
    }
    j->status = GAN_OK;
    return NULL;
}

void gan_image_job_free(gan_image_job *j) {
    if (!j) return;
    if (!j->joined) pthread_join(j->thread, NULL);
    for (int k = 0; k < j->n; k++) free(j->paths ? j->paths[k] : NULL);
    free(j->paths);
    free(j->specs);
    gan_tensor_release(j->batch);
    free(j);
}

int gan_image_job_start(gan_image_job **job, int n, const char *const *paths,
                        const gan_image_spec *specs, int channels, bool composite,
                        const double *bg, int64_t h, int64_t w, gan_resize_filter filter) {
    if (n < 1) return gan_error("image batch: needs at least one file");
    if (h < 1 || w < 1) return gan_error("image batch: invalid size %lldx%lld", (long long)h, (long long)w);
    if (channels < 0 || channels > 4) return gan_error("image batch: channels must be 0-4");
    gan_image_job *j = gan_calloc(1, sizeof *j);
    if (!j) return gan_error("image batch: out of memory");
    j->joined = true;   // nothing to join until the thread starts
    j->n = n;
    j->paths = gan_calloc((size_t)n, sizeof *j->paths);
    j->specs = gan_malloc(sizeof *j->specs * (size_t)n);
    if (!j->paths || !j->specs) { gan_image_job_free(j); return gan_error("image batch: out of memory"); }
    for (int k = 0; k < n; k++) {
        j->paths[k] = gan_strdup(paths[k]);
        if (!j->paths[k]) { gan_image_job_free(j); return gan_error("image batch: out of memory"); }
        j->specs[k] = specs[k];
    }
    j->channels = channels;
    j->composite = composite;
    for (int c = 0; c < 3; c++) j->bg[c] = bg ? bg[c] : 1.0;
    j->h = h; j->w = w; j->filter = filter;
    if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
        gan_image_job_free(j);
        return gan_error("image batch: cannot start a thread");
    }
    j->joined = false;
    *job = j;
    return GAN_OK;
}

int gan_image_job_wait(gan_image_job *j, gan_tensor **out) {
    if (!j->joined) { pthread_join(j->thread, NULL); j->joined = true; }
    if (j->status != GAN_OK) return gan_error("%s", j->error);
    *out = gan_tensor_retain(j->batch);
    return GAN_OK;
}
