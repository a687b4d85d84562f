// Files: safetensors layout (8-byte little-endian header length, JSON header, raw
// little-endian data). The header is composed by the caller (the Lua library builds it
// with a JSON encoder); core writes and reads bytes, atomically and with checks.
#ifndef GAN_IO_H
#define GAN_IO_H
#include "gan/tensor.h"

// Writes header (padded with spaces to a multiple of 8 bytes) and then the data of the
// tensors in order, to a temporary file `<path>.tmp.<pid>` in the same directory, fsyncs it
// and renames it over `path`: a crash leaves either the old file or the new one, never a
// mix. Temporaries `<path>.tmp.<pid>` that dead processes left behind are removed first
// (gan_remove_stale_temporaries). With crc_at >= 0, the 8 bytes of header at crc_at
// (which must be "00000000") receive the file's CRC-32 in lower-case hex: the CRC-32 of the
// whole file as written with those 8 bytes as they were ('0's), see gan_file_crc32.
int gan_save_safetensors(const char *path, const char *header, size_t header_len, int n,
                         const gan_tensor *const *tensors, int64_t crc_at);
// Reads and checks the header: *header is malloc'd (caller frees), *data_start is the file
// offset of the data section and *data_size its length.
int gan_read_safetensors_header(const char *path, char **header, size_t *header_len,
                                int64_t *data_start, int64_t *data_size);
// The CRC-32 (zlib's) of the file at path, with the 8 bytes at file offset zero_at (if
// >= 0) read as '0' characters.
int gan_file_crc32(uint32_t *crc, const char *path, int64_t zero_at);
// Removes the files `<base>.tmp.<pid>` in directory dir (any base when base is NULL) whose
// process pid no longer exists; a live process's temporary (its pid exists, even if owned
// by another user) is never touched. *removed (if not NULL) counts the files removed.
int gan_remove_stale_temporaries(const char *dir, const char *base, int *removed);
// A new tensor of dtype and shape from `nbytes` bytes at file offset `offset`.
int gan_read_tensor_bytes(gan_tensor **out, const char *path, int64_t offset, gan_dtype dt,
                          int ndim, const int64_t *size);

#endif
