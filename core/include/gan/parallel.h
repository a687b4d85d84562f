// Threads: OpenMP for our loops, OpenBLAS (OpenMP build) for GEMM; one setting for both.
#ifndef GAN_PARALLEL_H
#define GAN_PARALLEL_H
#include <stdint.h>

void gan_set_num_threads(int n);
int gan_get_num_threads(void);
// Name of the OpenBLAS kernel core in use ("Haswell", "SkylakeX", ...).
const char *gan_blas_core_name(void);

// Below this many elements a loop runs on one thread (thread start-up costs more).
#define GAN_PARALLEL_GRAIN 32768

#endif
