#include "gan/error.h"
#include "internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

int gan_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return GAN_ERR;
}

const char *gan_last_error(void) { return last_error; }

static int dim_base = 0;
void gan_set_dim_base(int base) { dim_base = base; }
int gan_dim_base(void) { return dim_base; }

int gan_error_context(const char *op) {
    size_t n = strlen(op);
    if (strncmp(last_error, op, n) == 0 && last_error[n] == ':') return GAN_ERR;
    char prev[sizeof last_error];
    memcpy(prev, last_error, sizeof prev);
    return gan_error("%s: %s", op, prev);
}
