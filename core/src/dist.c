// Data parallelism over MPI (see gan/dist.h). Without MPI (GAN_HAVE_MPI undefined) the
// queries answer "rank 0 of 1" and everything else fails with one clear message.
#include "gan/dist.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

int gan_dist_launched_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 1;
}

#ifdef GAN_HAVE_MPI
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <time.h>

static int world_rank = 0, world_size = 1;

bool gan_dist_available(void) { return true; }

static int mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return gan_error("%s: MPI error: %.*s", what, len, msg);
}

static void finalize_at_exit(void) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Finalize();
}

int gan_dist_init(void) {
    int init = 0;
    MPI_Initialized(&init);
    if (!init) {
        int provided;
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "dist.init");
        atexit(finalize_at_exit);
    }
    // Errors come back as codes (and become gan errors) instead of aborting the job.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    return GAN_OK;
}

bool gan_dist_initialized(void) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

int gan_dist_rank(void) { return gan_dist_initialized() ? world_rank : 0; }
int gan_dist_world_size(void) { return gan_dist_initialized() ? world_size : 1; }

void gan_dist_abort(int code) {
    // The launcher forwards output asynchronously: give it a moment to pass on the error
    // this rank just printed before MPI_Abort ends every process.
    fflush(stdout);
    fflush(stderr);
    nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 300000000}, NULL);
    if (gan_dist_initialized()) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

static int check_ready(const char *op) {
    if (!gan_dist_initialized()) return gan_error("%s: gan.dist is not initialised (dist.init first)", op);
    return GAN_OK;
}

static int mpi_type(const gan_tensor *t, MPI_Datatype *type, const char *op) {
    switch (t->dtype) {
    case GAN_FLOAT32: *type = MPI_FLOAT; return GAN_OK;
    case GAN_FLOAT64: *type = MPI_DOUBLE; return GAN_OK;
    case GAN_INT64: *type = MPI_INT64_T; return GAN_OK;
    default: return gan_error("%s: unsupported dtype %s", op, gan_dtype_name(t->dtype));
    }
}

// Every rank must pass the same dtype and element count: checked with one small
// all-reduce (of the maximum of (n, -n, dtype, -dtype)) so that a mismatch is an error
// on every rank rather than a hang or a corrupt buffer.
static int check_same(const gan_tensor *t, const char *op) {
    int64_t v[4] = {gan_numel(t), -gan_numel(t), (int64_t)t->dtype, -(int64_t)t->dtype}, m[4];
    int rc = MPI_Allreduce(v, m, 4, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, op);
    if (m[0] != -m[1] || m[2] != -m[3])
        return gan_error("%s: the ranks passed different tensors (element counts %lld to %lld, dtypes differ: %s); "
                         "every rank must call collectives in the same order with the same shapes",
                         op, (long long)-m[1], (long long)m[0], m[2] != -m[3] ? "yes" : "no");
    return GAN_OK;
}

static int prepare(const gan_tensor *t, MPI_Datatype *type, const char *op) {
    if (check_ready(op) != GAN_OK || mpi_type(t, type, op) != GAN_OK) return GAN_ERR;
    if (!gan_is_contiguous(t)) return gan_error("%s: the tensor must be contiguous", op);
    return check_same(t, op);
}

// Large tensors go in chunks of 16 MB: MPI counts are ints, and on shared memory Open
// MPI's all-reduce of one message above 16 MB ran 10-40 times slower per byte here
// (docs/performance.md).
#define CHUNK_BYTES ((int64_t)16 << 20)

int gan_dist_all_reduce(gan_tensor *t, gan_dist_op op) {
    MPI_Datatype type;
    if (prepare(t, &type, "dist.all_reduce") != GAN_OK) return GAN_ERR;
    if (op == GAN_DIST_MEAN && !gan_dtype_is_float(t->dtype))
        return gan_error("dist.all_reduce: the mean needs a float tensor, got %s", gan_dtype_name(t->dtype));
    char *p = gan_data(t);
    int64_t es = (int64_t)gan_dtype_size(t->dtype), chunk = CHUNK_BYTES / es;
    for (int64_t at = 0, n = gan_numel(t); at < n; at += chunk) {
        int count = (int)(n - at < chunk ? n - at : chunk);
        int rc = MPI_Allreduce(MPI_IN_PLACE, p + at * es, count, type, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "dist.all_reduce");
    }
    gan_bump_version(t);
    if (op == GAN_DIST_MEAN && world_size > 1) return gan_binary_scalar_(t, GAN_DIV, (double)world_size);
    return GAN_OK;
}

int gan_dist_broadcast(gan_tensor *t, int root) {
    MPI_Datatype type;
    if (prepare(t, &type, "dist.broadcast") != GAN_OK) return GAN_ERR;
    if (root < 0 || root >= world_size)
        return gan_error("dist.broadcast: root %d is not a rank (0..%d)", root, world_size - 1);
    char *p = gan_data(t);
    int64_t es = (int64_t)gan_dtype_size(t->dtype), chunk = CHUNK_BYTES / es;
    for (int64_t at = 0, n = gan_numel(t); at < n; at += chunk) {
        int count = (int)(n - at < chunk ? n - at : chunk);
        int rc = MPI_Bcast(p + at * es, count, type, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "dist.broadcast");
    }
    gan_bump_version(t);
    return GAN_OK;
}

int gan_dist_all_gather(gan_tensor **out, const gan_tensor *t) {
    MPI_Datatype type;
    if (prepare(t, &type, "dist.all_gather") != GAN_OK) return GAN_ERR;
    if (t->ndim < 1) return gan_error("dist.all_gather: needs a tensor of at least 1 dim");
    if (gan_numel(t) * world_size > INT_MAX)
        return gan_error("dist.all_gather: %lld elements in all is more than one MPI call takes",
                         (long long)(gan_numel(t) * world_size));
    int64_t size[GAN_MAX_DIMS];
    memcpy(size, t->size, sizeof(int64_t) * (size_t)t->ndim);
    size[0] *= world_size;
    if (gan_empty(out, t->dtype, t->ndim, size) != GAN_OK) return GAN_ERR;
    int rc = MPI_Allgather(gan_data(t), (int)gan_numel(t), type, gan_data(*out), (int)gan_numel(t), type,
                           MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        gan_tensor_release(*out);
        *out = NULL;
        return mpi_fail(rc, "dist.all_gather");
    }
    return GAN_OK;
}

int gan_dist_barrier(void) {
    if (check_ready("dist.barrier") != GAN_OK) return GAN_ERR;
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? GAN_OK : mpi_fail(rc, "dist.barrier");
}

#else   // no MPI in this build

#define NO_MPI(op) gan_error("%s: this build of gan has no MPI (no MPI library was found when it was " \
                             "configured; install libopenmpi-dev or libmpich-dev and rebuild)", op)

bool gan_dist_available(void) { return false; }
int gan_dist_init(void) { return NO_MPI("dist.init"); }
bool gan_dist_initialized(void) { return false; }
int gan_dist_rank(void) { return 0; }
int gan_dist_world_size(void) { return 1; }
void gan_dist_abort(int code) { exit(code); }
int gan_dist_all_reduce(gan_tensor *t, gan_dist_op op) { return NO_MPI("dist.all_reduce"); }
int gan_dist_broadcast(gan_tensor *t, int root) { return NO_MPI("dist.broadcast"); }
int gan_dist_all_gather(gan_tensor **out, const gan_tensor *t) { return NO_MPI("dist.all_gather"); }
int gan_dist_barrier(void) { return NO_MPI("dist.barrier"); }

#endif

// ---- the differentiable sum over ranks

static int all_reduce_backward(gan_node *n, gan_tensor *g, gan_tensor **gin) {
    return gan_ag_dist_all_reduce(&gin[0], g);
}

int gan_ag_dist_all_reduce(gan_tensor **out, gan_tensor *t) {
    if (gan_clone(out, t) != GAN_OK) return GAN_ERR;
    if (gan_dist_all_reduce(*out, GAN_DIST_SUM) != GAN_OK) {
        gan_tensor_release(*out);
        *out = NULL;
        return GAN_ERR;
    }
    gan_node *n;
    const gan_tensor *ins[1] = {t};
    return gan_record(&n, out, "all_reduce", all_reduce_backward, 1, ins);
}
