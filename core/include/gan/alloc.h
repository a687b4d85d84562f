// One allocator for all storages: size-bucketed cache so that training loops reuse
// their big buffers instead of mapping and unmapping them every step.
#ifndef GAN_ALLOC_H
#define GAN_ALLOC_H
#include <stddef.h>
#include <stdint.h>

// 64-byte aligned block of at least `nbytes`; NULL (with the error set) on failure.
void *gan_alloc(size_t nbytes);
// Returns a block from gan_alloc; `nbytes` is the size that was requested.
void gan_free(void *p, size_t nbytes);
// Releases every cached block to the system.
void gan_alloc_trim(void);

typedef struct gan_alloc_stats {
    int64_t live_bytes;      // requested bytes currently held by storages
    int64_t cached_bytes;    // bytes kept in the cache for reuse
    int64_t peak_live_bytes;
    int64_t system_allocs;   // blocks obtained from the system (cache misses)
    int64_t cache_hits;
} gan_alloc_stats;
gan_alloc_stats gan_alloc_get_stats(void);
// Upper bound of the cache: to stay under it, the least recently freed blocks go back to
// the system (a block larger than the bound itself goes back at once).
void gan_alloc_set_cache_limit(int64_t nbytes);

#endif
