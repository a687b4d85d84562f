// Data parallelism over MPI: the processes of one job (ranks 0 .. world - 1, launched by
// mpirun) and collectives on tensors. Built on MPI when CMake finds it (GAN_HAVE_MPI);
// otherwise every function but the queries fails with a message saying that this build
// has no MPI, and the queries answer "rank 0 of 1".
//
//     gan_dist_init();                               // once, on the main thread
//     gan_dist_all_reduce(grads, GAN_DIST_MEAN);     // in place, on every rank
//     if (gan_dist_rank() == 0) ... write the checkpoint ...
//
// Collectives must be called by every rank in the same order with tensors of the same
// dtype and element count; a mismatch is detected and reported as an error on every rank
// (never a hang). Tensors are taken as contiguous float32, float64 or int64.
#ifndef GAN_DIST_H
#define GAN_DIST_H
#include "gan/autograd.h"

typedef enum { GAN_DIST_SUM = 0, GAN_DIST_MEAN = 1 } gan_dist_op;

// Whether this build has MPI.
bool gan_dist_available(void);
// The number of processes the launcher started (Open MPI's OMPI_COMM_WORLD_SIZE, MPICH's
// PMI_SIZE, PMIx's PMIX_SIZE), 1 when not launched by one: known before gan_dist_init.
int gan_dist_launched_size(void);
// Initialises MPI (thread level "funneled": only the main thread calls MPI) unless it is
// already; MPI is finalised at exit. Fails when this build has no MPI.
int gan_dist_init(void);
bool gan_dist_initialized(void);
int gan_dist_rank(void);          // 0 before init
int gan_dist_world_size(void);    // 1 before init
// Ends every process of the job with `code` (after an error on one rank).
void gan_dist_abort(int code);

// In place, every rank gets the sum (or the mean: float dtypes only) over ranks.
int gan_dist_all_reduce(gan_tensor *t, gan_dist_op op);
// In place, every rank gets root's values.
int gan_dist_broadcast(gan_tensor *t, int root);
// out = the ranks' tensors concatenated along dim 0 in rank order (same shape on all).
int gan_dist_all_gather(gan_tensor **out, const gan_tensor *t);
int gan_dist_barrier(void);

// Differentiable sum over ranks: out = sum of t over ranks; the gradient of every rank's
// t is the sum over ranks of the gradients of out (synchronised batch norm).
int gan_ag_dist_all_reduce(gan_tensor **out, gan_tensor *t);

#endif
