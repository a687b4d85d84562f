// safetensors reading and atomic writing (see io.h).
#include "gan/io.h"
#include "internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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

// The pid of a temporary's name "<base>.tmp.<pid>" (any base when base is NULL), or 0.
static long temporary_pid(const char *name, const char *base) {
    const char *tail;
    if (base) {
        size_t n = strlen(base);
        if (strncmp(name, base, n) != 0 || strncmp(name + n, ".tmp.", 5) != 0) return 0;
        tail = name + n + 5;
    } else {
        const char *t = strstr(name, ".tmp.");
        if (!t || t == name) return 0;
        while (strstr(t + 1, ".tmp.")) t = strstr(t + 1, ".tmp.");
        tail = t + 5;
    }
    if (!*tail || strlen(tail) > 9) return 0;
    for (const char *c = tail; *c; c++) if (*c < '0' || *c > '9') return 0;
    return atol(tail);
}

int gan_remove_stale_temporaries(const char *dir, const char *base, int *removed) {
    if (removed) *removed = 0;
    DIR *d = opendir(dir);
    if (!d) return gan_error("save: cannot list %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = GAN_OK;
    while ((e = readdir(d)) != NULL) {
        long pid = temporary_pid(e->d_name, base);
        // kill(pid, 0) fails with ESRCH only when no such process exists; EPERM means a
        // live process of another user, whose file stays.
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *full = gan_malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (!full) { rc = GAN_ERR; break; }
        sprintf(full, "%s/%s", dir, e->d_name);
        if (unlink(full) == 0 && removed) (*removed)++;
        free(full);
    }
    closedir(d);
    return rc;
}

char *gan_atomic_temp(const char *path) {
    char *tmp = gan_malloc(strlen(path) + 32);
    char *dircopy = gan_strdup(path), *basecopy = gan_strdup(path);
    if (tmp && dircopy && basecopy) {
        (void)gan_remove_stale_temporaries(dirname(dircopy), basename(basecopy), NULL);
        sprintf(tmp, "%s.tmp.%d", path, (int)getpid());
    } else {
        free(tmp);
        tmp = NULL;
    }
    free(dircopy);
    free(basecopy);
    return tmp;
}

static uint32_t crc_update(uint32_t crc, const void *p, size_t n) {
    return (uint32_t)crc32_z(crc, p, n);
}

int gan_save_safetensors(const char *path, const char *header, size_t header_len, int n,
                         const gan_tensor *const *tensors, int64_t crc_at) {
    size_t padded = (header_len + 7) / 8 * 8;
    if (crc_at >= 0 && ((size_t)crc_at + 8 > header_len || memcmp(header + crc_at, "00000000", 8) != 0))
        return gan_error("save: the checksum field of the header must be 8 '0's at byte %lld",
                         (long long)crc_at);
    char *tmp = NULL, *dircopy = gan_strdup(path);
    char *h = gan_malloc(padded);
    gan_tensor **cs = gan_calloc((size_t)n + 1, sizeof *cs);
    int rc = GAN_OK, fd = -1;
    if (!dircopy || !h || !cs) { rc = gan_error("save: out of memory"); goto done; }
    memcpy(h, header, header_len);
    memset(h + header_len, ' ', padded - header_len);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    for (int k = 0; k < n; k++)
        if (gan_contiguous(&cs[k], tensors[k]) != GAN_OK) { rc = GAN_ERR; goto done; }
    if (crc_at >= 0) {
        uint32_t crc = crc_update(0, len8, 8);
        crc = crc_update(crc, h, padded);
        for (int k = 0; k < n; k++)
            crc = crc_update(crc, gan_data(cs[k]), (size_t)gan_numel(cs[k]) * gan_dtype_size(cs[k]->dtype));
        char hex[9];
        snprintf(hex, sizeof hex, "%08x", (unsigned)crc);
        memcpy(h + crc_at, hex, 8);
    }
    tmp = gan_atomic_temp(path);
    if (!tmp) { rc = gan_error("save: out of memory"); goto done; }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { rc = gan_error("save: cannot create %s: %s", tmp, strerror(errno)); goto done; }
    rc = write_all(fd, len8, 8, tmp);
    if (rc == GAN_OK) rc = write_all(fd, h, padded, tmp);
    for (int k = 0; rc == GAN_OK && k < n; k++)
        rc = write_all(fd, gan_data(cs[k]), (size_t)gan_numel(cs[k]) * gan_dtype_size(cs[k]->dtype), tmp);
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
done:
    for (int k = 0; cs && k < n; k++) gan_tensor_release(cs[k]);
    free(cs);
    free(h);
    free(tmp);
    free(dircopy);
    return rc;
}

int gan_file_crc32(uint32_t *out, const char *path, int64_t zero_at) {
    FILE *f = fopen(path, "rb");
    if (!f) return gan_error("load: cannot open %s: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = gan_malloc(CHUNK);
    if (!buf) { fclose(f); return gan_error("load: out of memory reading %s", path); }
    uint32_t crc = 0;
    int64_t pos = 0;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        // the part of [zero_at, zero_at + 8) inside this chunk reads as '0'
        for (int64_t i = zero_at; zero_at >= 0 && i < zero_at + 8; i++)
            if (i >= pos && i < pos + (int64_t)got) buf[i - pos] = '0';
        crc = crc_update(crc, buf, got);
        pos += (int64_t)got;
    }
    int err = ferror(f);
    free(buf);
    fclose(f);
    if (err) return gan_error("load: cannot read %s", path);
    *out = crc;
    return GAN_OK;
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
