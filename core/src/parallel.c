#include "gan/parallel.h"
#include <omp.h>

// Provided by OpenBLAS.
void openblas_set_num_threads(int n);
char *openblas_get_corename(void);

void gan_set_num_threads(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int gan_get_num_threads(void) { return omp_get_max_threads(); }

const char *gan_blas_core_name(void) { return openblas_get_corename(); }
