// Every allocation core makes goes through this file: storages through the size-bucketed
// cache below, small objects (tensor headers, graph nodes and arrays) through gan_malloc
// and friends. Both pass the failure hook of gan/testing.h first, so tests can make any
// one of them fail.
//
// The cache: requests are rounded up to a bucket (powers of two split into 4 steps each,
// so waste is below 25%); freed blocks wait in their bucket's free list and are handed
// out again, which keeps a training step free of mmap/munmap. A freed block always
// enters the cache (if it alone fits under the limit): the least recently freed blocks
// go back to the system to make room. Buffers of sizes a process no longer uses (its
// data set's preparation, say) so leave the cache, instead of filling it so that every
// later buffer goes to the system and comes back as fresh pages (measured: a reference
// set's features ran 5x slower behind a cache full of such blocks).
#include "gan/alloc.h"
#include "gan/error.h"
#include "gan/testing.h"
#include "internal.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64
#define MIN_BUCKET_BYTES 256
#define NUM_BUCKETS 256

// A cached block's header, written into the block itself (every bucket holds 256 bytes
// or more): its place in its bucket's free list (next, prev) and in the list of all
// cached blocks from the most (newer = NULL) to the least recently freed (older = NULL).
typedef struct block {
    struct block *next, *prev, *older, *newer;
    size_t bytes;
    int bucket;
} block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static block *free_lists[NUM_BUCKETS];
static block *newest, *oldest;
static gan_alloc_stats stats;
static int64_t cache_limit = (int64_t)2 << 30;   // 2 GiB

// The test hook (gan/testing.h); NULL in programs, so the cost is one untaken branch.
static gan_alloc_fail_fn fail_hook;
static void *fail_ctx;

void gan_alloc_set_fail_hook(gan_alloc_fail_fn fn, void *ctx) {
    fail_ctx = ctx;
    fail_hook = fn;
}

static bool injected_failure(size_t nbytes) {
    if (__builtin_expect(fail_hook != NULL, 0) && fail_hook(nbytes, fail_ctx)) {
        gan_error("out of memory: could not allocate %zu bytes", nbytes);
        return true;
    }
    return false;
}

void *gan_malloc(size_t nbytes) {
    if (injected_failure(nbytes)) return NULL;
    void *p = malloc(nbytes ? nbytes : 1);
    if (!p) gan_error("out of memory: could not allocate %zu bytes", nbytes);
    return p;
}

void *gan_calloc(size_t n, size_t size) {
    if (injected_failure(n * size)) return NULL;
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) gan_error("out of memory: could not allocate %zu x %zu bytes", n, size);
    return p;
}

char *gan_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = gan_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void *gan_realloc(void *p, size_t nbytes) {
    if (injected_failure(nbytes)) return NULL;
    void *q = realloc(p, nbytes ? nbytes : 1);
    if (!q) gan_error("out of memory: could not allocate %zu bytes", nbytes);
    return q;
}

// Bucket index and its block size for a request of n bytes.
static int bucket_of(size_t n, size_t *bucket_bytes) {
    if (n < MIN_BUCKET_BYTES) n = MIN_BUCKET_BYTES;
    int hi = 63 - __builtin_clzll((unsigned long long)(n - 1));  // n-1 < 2^(hi+1)
    size_t base = (size_t)1 << hi;                                // base <= n-1
    size_t quarter = base / 4;
    size_t step = (n - 1 - base) / quarter + 1;                   // 1..4
    *bucket_bytes = base + step * quarter;
    return (hi - 7) * 4 + (int)step - 1;
}

// Takes cached block k out of both lists and the count (the caller holds the lock).
static void uncache(block *k) {
    if (k->prev) k->prev->next = k->next; else free_lists[k->bucket] = k->next;
    if (k->next) k->next->prev = k->prev;
    if (k->newer) k->newer->older = k->older; else newest = k->older;
    if (k->older) k->older->newer = k->newer; else oldest = k->newer;
    stats.cached_bytes -= (int64_t)k->bytes;
}

// Takes the least recently freed blocks out of the cache until `room` more bytes fit
// under the limit; returns them chained through next, to be freed once the lock is
// released (lock held).
static block *evict_for(int64_t room) {
    block *evicted = NULL;
    while (oldest && stats.cached_bytes + room > cache_limit) {
        block *k = oldest;
        uncache(k);
        k->next = evicted;
        evicted = k;
    }
    return evicted;
}

// Returns a chain of blocks (linked through next) to the system.
static void free_chain(block *k) {
    while (k) {
        block *next = k->next;
        free(k);
        k = next;
    }
}

void *gan_alloc(size_t nbytes) {
    if (injected_failure(nbytes)) return NULL;
    size_t bytes;
    int b = bucket_of(nbytes, &bytes);
    void *p = NULL;
    if (b >= 0 && b < NUM_BUCKETS) {
        pthread_mutex_lock(&lock);
        block *k = free_lists[b];
        if (k) {
            uncache(k);
            stats.cache_hits++;
            p = k;
        }
        pthread_mutex_unlock(&lock);
    }
    if (!p) {
        p = aligned_alloc(ALIGN, bytes);
        if (!p) {
            gan_alloc_trim();
            p = aligned_alloc(ALIGN, bytes);
        }
        if (!p) {
            gan_error("out of memory: could not allocate %zu bytes", nbytes);
            return NULL;
        }
        pthread_mutex_lock(&lock);
        stats.system_allocs++;
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    stats.live_bytes += (int64_t)nbytes;
    if (stats.live_bytes > stats.peak_live_bytes) stats.peak_live_bytes = stats.live_bytes;
    pthread_mutex_unlock(&lock);
    return p;
}

void gan_free(void *p, size_t nbytes) {
    if (!p) return;
    size_t bytes;
    int b = bucket_of(nbytes, &bytes);
    block *evicted = NULL;   // the blocks that make room, chained through next
    pthread_mutex_lock(&lock);
    stats.live_bytes -= (int64_t)nbytes;
    if (b >= 0 && b < NUM_BUCKETS && (int64_t)bytes <= cache_limit) {
        evicted = evict_for((int64_t)bytes);
        block *k = p;
        k->bucket = b;
        k->bytes = bytes;
        k->prev = NULL;
        k->next = free_lists[b];
        if (k->next) k->next->prev = k;
        free_lists[b] = k;
        k->newer = NULL;
        k->older = newest;
        if (newest) newest->newer = k; else oldest = k;
        newest = k;
        stats.cached_bytes += (int64_t)bytes;
        p = NULL;
    }
    pthread_mutex_unlock(&lock);
    free(p);
    free_chain(evicted);
}

void gan_alloc_trim(void) {
    pthread_mutex_lock(&lock);
    block *k = newest;   // every cached block, through older
    memset(free_lists, 0, sizeof free_lists);
    newest = oldest = NULL;
    stats.cached_bytes = 0;
    pthread_mutex_unlock(&lock);
    while (k) {
        block *older = k->older;
        free(k);
        k = older;
    }
}

gan_alloc_stats gan_alloc_get_stats(void) {
    pthread_mutex_lock(&lock);
    gan_alloc_stats s = stats;
    pthread_mutex_unlock(&lock);
    return s;
}

void gan_alloc_set_cache_limit(int64_t nbytes) {
    block *evicted;
    pthread_mutex_lock(&lock);
    cache_limit = nbytes < 0 ? 0 : nbytes;
    evicted = evict_for(0);
    pthread_mutex_unlock(&lock);
    free_chain(evicted);
}
