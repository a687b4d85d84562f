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

#endif
