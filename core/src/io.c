// safetensors reading and atomic writing (see io.h).
#include "gan/io.h"
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER ((int64_t)100 << 20)   // the safetensors limit

static int write_all(int fd, const void *buf, size_t n, const char *path) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return gan_error("save: writing %s failed: %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return GAN_OK;
}

int gan_save_safetensors(const char *path, const char *header, size_t header_len, int n,
                         const gan_tensor *const *tensors) {
    size_t padded = (header_len + 7) / 8 * 8;
    char *tmp = gan_malloc(strlen(path) + 32);
    char *dircopy = gan_strdup(path);
    if (!tmp || !dircopy) { free(tmp); free(dircopy); return gan_error("save: out of memory"); }
    sprintf(tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        int rc = gan_error("save: cannot create %s: %s", tmp, strerror(errno));
        free(tmp); free(dircopy);
        return rc;
    }
    int rc = GAN_OK;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    rc = write_all(fd, len8, 8, tmp);
    if (rc == GAN_OK) rc = write_all(fd, header, header_len, tmp);
    for (size_t i = header_len; rc == GAN_OK && i < padded; i++) rc = write_all(fd, " ", 1, tmp);
    for (int k = 0; rc == GAN_OK && k < n; k++) {
        gan_tensor *c;
        if (gan_contiguous(&c, tensors[k]) != GAN_OK) { rc = GAN_ERR; break; }
        rc = write_all(fd, gan_data(c), (size_t)gan_numel(c) * gan_dtype_size(c->dtype), tmp);
        gan_tensor_release(c);
    }
    if (rc == GAN_OK && fsync(fd) != 0) rc = gan_error("save: fsync of %s failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == GAN_OK) rc = gan_error("save: closing %s failed: %s", tmp, strerror(errno));
    if (rc == GAN_OK && rename(tmp, path) != 0)
        rc = gan_error("save: cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc != GAN_OK) {
        unlink(tmp);
    } else {
        // Make the rename itself durable.
        int dfd = open(dirname(dircopy), O_RDONLY);
        if (dfd >= 0) { fsync(dfd); close(dfd); }
    }
    free(tmp);
    free(dircopy);
    return rc;
}

int gan_read_safetensors_header(const char *path, char **header, size_t *header_len,
                                int64_t *data_start, int64_t *data_size) {
    FILE *f = fopen(path, "rb");
    if (!f) return gan_error("load: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return gan_error("load: %s is not a regular file", path);
    }
    unsigned char len8[8];
    if (fread(len8, 1, 8, f) != 8) {
        fclose(f);
        return gan_error("load: %s is too short to be a safetensors file (%lld bytes)", path,
                         (long long)st.st_size);
    }
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)len8[i] << (8 * i);
    if (n == 0 || n > (uint64_t)MAX_HEADER || (int64_t)n > (int64_t)st.st_size - 8) {
        fclose(f);
        return gan_error("load: %s is not a valid safetensors file (header length %llu, file "
                         "size %lld)", path, (unsigned long long)n, (long long)st.st_size);
    }
    char *h = gan_malloc(n + 1);
    if (!h) { fclose(f); return gan_error("load: out of memory reading %s", path); }
    if (fread(h, 1, n, f) != n) {
        free(h); fclose(f);
        return gan_error("load: %s is truncated inside its header", path);
    }
    h[n] = 0;
    fclose(f);
    if (h[0] != '{') {
        free(h);
        return gan_error("load: %s is not a valid safetensors file (header does not start "
                         "with '{')", path);
    }
    *header = h;
    *header_len = n;
    *data_start = 8 + (int64_t)n;
    *data_size = (int64_t)st.st_size - *data_start;
    return GAN_OK;
}

int gan_read_tensor_bytes(gan_tensor **out, const char *path, int64_t offset, gan_dtype dt,
                          int ndim, const int64_t *size) {
    gan_tensor *t;
    if (gan_empty(&t, dt, ndim, size) != GAN_OK) return GAN_ERR;
    size_t nbytes = (size_t)gan_numel(t) * gan_dtype_size(dt);
    FILE *f = fopen(path, "rb");
    if (!f) { gan_tensor_release(t); return gan_error("load: cannot open %s: %s", path, strerror(errno)); }
    int rc = GAN_OK;
    if (fseeko(f, offset, SEEK_SET) != 0 || fread(gan_data(t), 1, nbytes, f) != nbytes)
        rc = gan_error("load: %s is truncated (tensor data at offset %lld, %zu bytes)", path,
                       (long long)offset, nbytes);
    fclose(f);
    if (rc != GAN_OK) { gan_tensor_release(t); return GAN_ERR; }
    *out = t;
    return GAN_OK;
}
