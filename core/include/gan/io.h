// Files: safetensors layout (8-byte little-endian header length, JSON header, raw
// little-endian data). The header is composed by the caller (the Lua library builds it
// with a JSON encoder); core writes and reads bytes, atomically and with checks.
#ifndef GAN_IO_H
#define GAN_IO_H
#include "gan/tensor.h"

// Writes header (padded with spaces to a multiple of 8 bytes) and then the data of the
// tensors in order, to a temporary file in the same directory, fsyncs it and renames it
// over `path`: a crash leaves either the old file or the new one, never a mix.
int gan_save_safetensors(const char *path, const char *header, size_t header_len, int n,
                         const gan_tensor *const *tensors);
// Reads and checks the header: *header is malloc'd (caller frees), *data_start is the file
// offset of the data section and *data_size its length.
int gan_read_safetensors_header(const char *path, char **header, size_t *header_len,
                                int64_t *data_start, int64_t *data_size);
// A new tensor of dtype and shape from `nbytes` bytes at file offset `offset`.
int gan_read_tensor_bytes(gan_tensor **out, const char *path, int64_t offset, gan_dtype dt,
                          int ndim, const int64_t *size);

#endif
