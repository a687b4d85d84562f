// Hooks for testing core's failure paths. Not part of gan.h and not for programs: nothing
// here is needed to use the library.
#ifndef GAN_TESTING_H
#define GAN_TESTING_H
#include <stdbool.h>
#include <stddef.h>

// Called before every allocation core makes (storages and scratch buffers, tensor headers,
// graph nodes, edge and saved-tensor arrays, ...) with its size; returning true makes that
// allocation fail as if memory were exhausted. fn NULL (the default) removes the hook.
// Set it only while no other thread is inside core.
//
//     static int countdown;   // fail the k-th allocation from now
//     static bool kth(size_t n, void *ctx) { (void)n; (void)ctx; return --countdown == 0; }
//     countdown = k; gan_alloc_set_fail_hook(kth, NULL); ...; gan_alloc_set_fail_hook(NULL, NULL);
typedef bool (*gan_alloc_fail_fn)(size_t nbytes, void *ctx);
void gan_alloc_set_fail_hook(gan_alloc_fail_fn fn, void *ctx);

#endif
