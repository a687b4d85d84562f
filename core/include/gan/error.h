// Error model: every core function returns GAN_OK or GAN_ERR. On failure it has freed
// its temporaries and left a thread-local message naming the op and what was wrong.
#ifndef GAN_ERROR_H
#define GAN_ERROR_H

#define GAN_OK 0
#define GAN_ERR (-1)

// Sets the thread-local message (printf-style) and returns GAN_ERR.
int gan_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// The last message set on this thread ("" when none).
const char *gan_last_error(void);

// Messages that name a dim (or a position in a shape) count from this base: 0 by default,
// as C does; the Lua module sets 1, so its users read the dims they wrote. Process-wide.
void gan_set_dim_base(int base);
int gan_dim_base(void);

#endif
