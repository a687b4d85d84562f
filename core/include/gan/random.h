// Randomness: Philox4x32-10, a counter-based generator. Element i of a draw depends only
// on (seed, offset, i), so results are the same whatever the thread count.
#ifndef GAN_RANDOM_H
#define GAN_RANDOM_H
#include "gan/tensor.h"

typedef struct gan_generator {
    uint64_t seed;
    uint64_t offset;   // 128-bit Philox blocks consumed so far
} gan_generator;

void gan_generator_init(gan_generator *g, uint64_t seed);
// The process-wide default generator (gan.manual_seed seeds it).
gan_generator *gan_default_generator(void);

// In place, on any float tensor (int64 for randint).
int gan_uniform_(gan_tensor *t, gan_generator *g, double lo, double hi);
int gan_normal_(gan_tensor *t, gan_generator *g, double mean, double std);
// Normal(mean, std) truncated to [a, b], by inverting the CDF.
int gan_trunc_normal_(gan_tensor *t, gan_generator *g, double mean, double std, double a,
                      double b);
int gan_randint_(gan_tensor *t, gan_generator *g, int64_t low, int64_t high); // [low, high)
// t <- 1 with probability p (p: scalar when probs == NULL, else a tensor broadcast to t).
int gan_bernoulli_(gan_tensor *t, gan_generator *g, double p, const gan_tensor *probs);
// Categorical draws from each row of probs (1-D or 2-D, non-negative weights).
int gan_multinomial(gan_tensor **out, const gan_tensor *probs, int64_t num_samples,
                    bool replacement, gan_generator *g);
int gan_randperm(gan_tensor **out, int64_t n, gan_generator *g);

#endif
