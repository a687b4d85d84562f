// The caching allocator: bucket reuse, alignment, accounting, trim, cache limit, threads.
#include "check.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define DEFAULT_CACHE_LIMIT ((int64_t)2 << 30)

static void test_alignment(void) {
    const size_t sizes[] = {0, 1, 7, 63, 64, 65, 100, 255, 256, 257, 1000, 4096, 12345,
                            100000, (size_t)1 << 20, ((size_t)3 << 20) + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = gan_alloc(sizes[i]);
        CHECK_MSG(p != NULL, "gan_alloc(%zu) failed: %s", sizes[i], gan_last_error());
        CHECK_MSG((uintptr_t)p % 64 == 0, "gan_alloc(%zu) = %p is not 64-byte aligned", sizes[i], p);
        if (p && sizes[i]) {   // the whole request is usable
            memset(p, 0xab, sizes[i]);
            CHECK(((unsigned char *)p)[sizes[i] - 1] == 0xab);
        }
        gan_free(p, sizes[i]);
    }
    // A block that came back from the cache is aligned too.
    void *p = gan_alloc(5000);
    gan_free(p, 5000);
    p = gan_alloc(4999);
    CHECK((uintptr_t)p % 64 == 0);
    gan_free(p, 4999);
    // Tensor data: offset 0 of a fresh storage is aligned.
    gan_tensor *t;
    CHECK_OK(gan_empty(&t, GAN_FLOAT32, 2, (int64_t[]){3, 5}));
    CHECK((uintptr_t)gan_data(t) % 64 == 0);
    gan_tensor_release(t);
    gan_free(NULL, 100);   // freeing NULL is a no-op
}

static void test_bucket_reuse(void) {
    gan_alloc_trim();
    gan_alloc_stats s0 = gan_alloc_get_stats();
    CHECK(s0.cached_bytes == 0);
    void *p = gan_alloc(10000);
    CHECK(p != NULL);
    gan_alloc_stats s1 = gan_alloc_get_stats();
    CHECK(s1.system_allocs == s0.system_allocs + 1);   // cold cache: a miss
    CHECK(s1.cache_hits == s0.cache_hits);
    gan_free(p, 10000);
    gan_alloc_stats s2 = gan_alloc_get_stats();
    CHECK(s2.cached_bytes >= 10000);                    // the block waits in its bucket
    CHECK(s2.cached_bytes <= 10000 * 5 / 4 + 256);      // bucket waste below 25%
    // A similar size lands in the same bucket: a cache hit, no system allocation.
    void *q = gan_alloc(9990);
    gan_alloc_stats s3 = gan_alloc_get_stats();
    CHECK(q != NULL);
    CHECK(s3.cache_hits == s2.cache_hits + 1);
    CHECK(s3.system_allocs == s2.system_allocs);
    CHECK(s3.cached_bytes == 0);
    CHECK(q == p);
    // A much larger size is a different bucket: a miss.
    void *r = gan_alloc(40000);
    gan_alloc_stats s4 = gan_alloc_get_stats();
    CHECK(s4.system_allocs == s3.system_allocs + 1);
    CHECK(s4.cache_hits == s3.cache_hits);
    gan_free(q, 9990);
    gan_free(r, 40000);
    // Tensors go through the same cache: release then re-create is a hit.
    gan_tensor *t;
    CHECK_OK(gan_zeros(&t, GAN_FLOAT64, 2, (int64_t[]){100, 100}));
    gan_tensor_release(t);
    gan_alloc_stats s5 = gan_alloc_get_stats();
    CHECK_OK(gan_zeros(&t, GAN_FLOAT64, 2, (int64_t[]){100, 100}));
    gan_alloc_stats s6 = gan_alloc_get_stats();
    CHECK(s6.cache_hits == s5.cache_hits + 1);
    CHECK(s6.system_allocs == s5.system_allocs);
    gan_tensor_release(t);
    // Small requests share the smallest bucket.
    void *a = gan_alloc(1);
    gan_free(a, 1);
    gan_alloc_stats s7 = gan_alloc_get_stats();
    void *b = gan_alloc(200);
    CHECK(gan_alloc_get_stats().cache_hits == s7.cache_hits + 1);
    gan_free(b, 200);
    gan_alloc_trim();
}

static void test_live_and_peak(void) {
    gan_alloc_stats s0 = gan_alloc_get_stats();
    void *a = gan_alloc(1000);
    CHECK(gan_alloc_get_stats().live_bytes == s0.live_bytes + 1000);   // requested bytes
    void *b = gan_alloc(3000);
    gan_alloc_stats s1 = gan_alloc_get_stats();
    CHECK(s1.live_bytes == s0.live_bytes + 4000);
    CHECK(s1.peak_live_bytes >= s0.live_bytes + 4000);
    CHECK(s1.peak_live_bytes >= s0.peak_live_bytes);
    gan_free(a, 1000);
    CHECK(gan_alloc_get_stats().live_bytes == s0.live_bytes + 3000);
    gan_free(b, 3000);
    gan_alloc_stats s2 = gan_alloc_get_stats();
    CHECK(s2.live_bytes == s0.live_bytes);
    CHECK(s2.peak_live_bytes == s1.peak_live_bytes);   // the peak stays
    // A new high raises the peak to exactly the new live total.
    int64_t big = s2.peak_live_bytes - s2.live_bytes + 12345;
    void *c = gan_alloc((size_t)big);
    gan_alloc_stats s3 = gan_alloc_get_stats();
    CHECK(s3.live_bytes == s2.live_bytes + big);
    CHECK(s3.peak_live_bytes == s3.live_bytes);
    gan_free(c, (size_t)big);
    // Tensor storages count their bytes; views add nothing.
    gan_tensor *t, *v;
    int64_t before = gan_alloc_get_stats().live_bytes;
    CHECK_OK(gan_empty(&t, GAN_FLOAT32, 2, (int64_t[]){10, 20}));
    CHECK(gan_alloc_get_stats().live_bytes == before + 800);
    CHECK_OK(gan_transpose(&v, t, 0, 1));
    CHECK(gan_alloc_get_stats().live_bytes == before + 800);
    gan_tensor_release(t);
    CHECK(gan_alloc_get_stats().live_bytes == before + 800);   // the view holds it
    gan_tensor_release(v);
    CHECK(gan_alloc_get_stats().live_bytes == before);
    gan_alloc_trim();
}

static void test_trim(void) {
    void *p[4];
    for (int i = 0; i < 4; i++) p[i] = gan_alloc(50000 + 1000 * (size_t)i);
    for (int i = 0; i < 4; i++) gan_free(p[i], 50000 + 1000 * (size_t)i);
    gan_alloc_stats s0 = gan_alloc_get_stats();
    CHECK(s0.cached_bytes >= 4 * 50000);
    gan_alloc_trim();
    gan_alloc_stats s1 = gan_alloc_get_stats();
    CHECK(s1.cached_bytes == 0);
    CHECK(s1.live_bytes == s0.live_bytes);
    // After a trim the next allocation has to come from the system.
    void *q = gan_alloc(50000);
    gan_alloc_stats s2 = gan_alloc_get_stats();
    CHECK(s2.system_allocs == s1.system_allocs + 1);
    CHECK(s2.cache_hits == s1.cache_hits);
    gan_free(q, 50000);
    gan_alloc_trim();
    gan_alloc_trim();   // idempotent
    CHECK(gan_alloc_get_stats().cached_bytes == 0);
}

static void test_cache_limit(void) {
    gan_alloc_trim();
    // Limit 0: nothing is cached, every allocation is a system allocation.
    gan_alloc_set_cache_limit(0);
    void *p = gan_alloc(10000);
    gan_free(p, 10000);
    gan_alloc_stats s0 = gan_alloc_get_stats();
    CHECK(s0.cached_bytes == 0);
    p = gan_alloc(10000);
    gan_alloc_stats s1 = gan_alloc_get_stats();
    CHECK(s1.system_allocs == s0.system_allocs + 1);
    CHECK(s1.cache_hits == s0.cache_hits);
    gan_free(p, 10000);
    // A limit that holds one 10 KB block (bucket of 10240 bytes) but not two.
    gan_alloc_set_cache_limit(15000);
    void *a = gan_alloc(10000), *b = gan_alloc(10000);
    gan_free(a, 10000);
    gan_free(b, 10000);   // beyond the limit: back to the system
    gan_alloc_stats s2 = gan_alloc_get_stats();
    CHECK(s2.cached_bytes > 0 && s2.cached_bytes <= 15000);
    // Lowering the limit below what is cached releases the cache.
    gan_alloc_set_cache_limit(1000);
    CHECK(gan_alloc_get_stats().cached_bytes <= 1000);
    // A negative limit means zero.
    gan_alloc_set_cache_limit(-5);
    p = gan_alloc(300);
    gan_free(p, 300);
    CHECK(gan_alloc_get_stats().cached_bytes == 0);
    gan_alloc_set_cache_limit(DEFAULT_CACHE_LIMIT);
    p = gan_alloc(300);
    gan_free(p, 300);
    CHECK(gan_alloc_get_stats().cached_bytes > 0);
    gan_alloc_trim();
}

// A full cache makes room for a freed block by releasing the least recently freed ones,
// of any size: a block of a new size is cached, stale ones leave.
static void test_cache_evicts_least_recent(void) {
    gan_alloc_trim();
    gan_alloc_set_cache_limit(35000);   // room for 30720 bytes: three 10 KB buckets
    void *a = gan_alloc(10000), *b = gan_alloc(10000), *c = gan_alloc(20000);   // 10240, 10240, 20480
    gan_free(a, 10000);
    gan_free(b, 10000);
    CHECK(gan_alloc_get_stats().cached_bytes == 20480);
    gan_free(c, 20000);   // 40960 would not fit: a, the oldest, goes
    gan_alloc_stats s0 = gan_alloc_get_stats();
    CHECK(s0.cached_bytes == 30720);
    void *c2 = gan_alloc(20000), *b2 = gan_alloc(10000);
    CHECK(c2 == c && b2 == b);   // the two most recent were kept
    gan_alloc_stats s1 = gan_alloc_get_stats();
    CHECK(s1.cache_hits == s0.cache_hits + 2 && s1.cached_bytes == 0);
    void *a2 = gan_alloc(10000);   // a went back to the system
    CHECK(gan_alloc_get_stats().system_allocs == s1.system_allocs + 1);
    // Lowering the limit releases the least recently freed blocks first, too.
    gan_free(a2, 10000);
    gan_free(b2, 10000);
    gan_free(c2, 20000);   // evicts a2 (cached: b2, c2)
    gan_alloc_set_cache_limit(20480);   // lowering the limit evicts b2, keeps c2
    gan_alloc_stats s2 = gan_alloc_get_stats();
    CHECK(s2.cached_bytes == 20480);
    void *c3 = gan_alloc(20000);
    CHECK(c3 == c2);
    gan_free(c3, 20000);
    gan_alloc_set_cache_limit(DEFAULT_CACHE_LIMIT);
    gan_alloc_trim();
    CHECK(gan_alloc_get_stats().cached_bytes == 0);
}

// ---- threads: two threads allocate, write, verify and free concurrently.

#define THREAD_ITERS 20000
#define THREAD_SLOTS 16

typedef struct {
    int id;
    int corrupt;   // blocks whose contents changed under us (handed out twice?)
    int failed;    // allocations that returned NULL
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    static const size_t sizes[] = {16, 300, 1000, 4000, 5000, 10000, 70000, 250000};
    void *slot[THREAD_SLOTS] = {0};
    size_t slot_n[THREAD_SLOTS] = {0};
    uint64_t s = 12345 + (uint64_t)w->id * 777;
    unsigned char tag = (unsigned char)(0x40 + w->id);
    for (int it = 0; it < THREAD_ITERS; it++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int k = (int)((s >> 33) % THREAD_SLOTS);
        if (slot[k]) {   // verify then free
            unsigned char *c = slot[k];
            if (c[0] != tag || c[slot_n[k] - 1] != tag || c[slot_n[k] / 2] != tag) w->corrupt++;
            gan_free(slot[k], slot_n[k]);
            slot[k] = NULL;
        } else {
            size_t n = sizes[(s >> 40) % (sizeof sizes / sizeof sizes[0])] + (s >> 60);
            slot[k] = gan_alloc(n);
            slot_n[k] = n;
            if (!slot[k]) { w->failed++; continue; }
            memset(slot[k], tag, n);
        }
    }
    for (int k = 0; k < THREAD_SLOTS; k++) gan_free(slot[k], slot_n[k]);
    return NULL;
}

static void test_threads_smoke(void) {
    gan_alloc_stats s0 = gan_alloc_get_stats();
    pthread_t th[2];
    worker w[2] = {{0, 0, 0}, {1, 0, 0}};
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    for (int i = 0; i < 2; i++) CHECK(pthread_join(th[i], NULL) == 0);
    gan_alloc_stats s1 = gan_alloc_get_stats();
    for (int i = 0; i < 2; i++) {
        CHECK(w[i].corrupt == 0);
        CHECK(w[i].failed == 0);
    }
    CHECK(s1.live_bytes == s0.live_bytes);   // every byte came back
    // Every allocation is exactly one hit or one miss: the counters were not torn.
    int64_t allocs = (s1.cache_hits - s0.cache_hits) + (s1.system_allocs - s0.system_allocs);
    CHECK(allocs > THREAD_ITERS / 2);
    CHECK(allocs <= 2 * THREAD_ITERS);
    CHECK(s1.cache_hits - s0.cache_hits > allocs / 2);   // the cache does its job
    gan_alloc_trim();
    CHECK(gan_alloc_get_stats().cached_bytes == 0);
}

// Tensors released on another thread than the one that made them.
static void *release_main(void *arg) {
    gan_tensor **ts = arg;
    for (int i = 0; i < 100; i++) gan_tensor_release(ts[i]);
    return NULL;
}

static void test_cross_thread_release(void) {
    gan_tensor *ts[100], *keep[100];
    int64_t before = gan_alloc_get_stats().live_bytes;
    for (int i = 0; i < 100; i++) {
        CHECK_OK(gan_zeros(&ts[i], GAN_FLOAT32, 1, (int64_t[]){100 + i}));
        keep[i] = gan_tensor_retain(ts[i]);
    }
    pthread_t th;
    CHECK(pthread_create(&th, NULL, release_main, ts) == 0);
    for (int i = 0; i < 100; i++) gan_tensor_release(keep[i]);   // races with the thread
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(gan_alloc_get_stats().live_bytes == before);
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_alignment),   CHECK_TEST(test_bucket_reuse),
        CHECK_TEST(test_live_and_peak), CHECK_TEST(test_trim),
        CHECK_TEST(test_cache_limit), CHECK_TEST(test_cache_evicts_least_recent), CHECK_TEST(test_threads_smoke),
        CHECK_TEST(test_cross_thread_release),
    };
    return check_main(argc, argv, tests, CHECK_COUNT(tests));
}
