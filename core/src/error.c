#include "gan/error.h"
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

int gan_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return GAN_ERR;
}

const char *gan_last_error(void) { return last_error; }
