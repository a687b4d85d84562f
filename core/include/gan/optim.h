// Fused optimizer updates: one pass over a parameter per step, reading its gradient and
// state. Weight decay is folded into the update and never written into the gradient.
// All tensors of one call are contiguous with the parameter's shape and dtype.
#ifndef GAN_OPTIM_H
#define GAN_OPTIM_H
#include "gan/tensor.h"

typedef struct gan_sgd_opts {
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
} gan_sgd_opts;
// buf: momentum buffer (NULL without momentum); first: the buffer is not initialised yet.
int gan_sgd_step(gan_tensor *p, const gan_tensor *g, gan_tensor *buf, const gan_sgd_opts *o,
                 bool first);

typedef struct gan_adam_opts {
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad;
    bool decoupled;          // AdamW: p -= lr * wd * p instead of g += wd * p
} gan_adam_opts;
// m, v: first and second moments; vmax: running max of v (amsgrad only, else NULL);
// step: the step number after this update (1 for the first).
int gan_adam_step(gan_tensor *p, const gan_tensor *g, gan_tensor *m, gan_tensor *v,
                  gan_tensor *vmax, const gan_adam_opts *o, int64_t step);

typedef struct gan_rmsprop_opts {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered;
} gan_rmsprop_opts;
// sq: running mean of g^2; buf: momentum buffer (momentum > 0); gavg: running mean of g
// (centered).
int gan_rmsprop_step(gan_tensor *p, const gan_tensor *g, gan_tensor *sq, gan_tensor *buf,
                     gan_tensor *gavg, const gan_rmsprop_opts *o);

#endif
