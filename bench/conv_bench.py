"""PyTorch side of the kernel benchmark: convolution, linear, random numbers (bench/run.sh
runs it next to conv_bench.lua). Run with Debian's torch:

    /usr/bin/python3 bench/conv_bench.py [iters] [warmup] [case ...]

Same work as conv_bench.lua: float32, 2 threads ($BENCH_THREADS), inputs from randn,
forward-only cases under torch.no_grad(), forward+backward cases with loss = out.sum() and
input, weight and bias all requiring grad (grads reset to None before each iteration).
Every iteration is timed on its own with time.perf_counter() (monotonic wall clock).
Prints one line per case:
    case <name> median_ms <m> min_ms <a> max_ms <b> iters <n> samples <ms,ms,...>
plus `info` lines describing torch's build and threading.
"""
import ctypes
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

iters = int(sys.argv[1]) if len(sys.argv) > 1 else 15
warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 3
only = set(sys.argv[3:])

threads = int(os.environ.get("BENCH_THREADS", "2"))
torch.set_num_threads(threads)
torch.manual_seed(0)

# Debian's torch does its GEMMs (linear, and conv when oneDNN is not used) through the system
# OpenBLAS (pthread build, libblas.so.3 alternative). torch.set_num_threads does not reach it,
# so set it to the same count, and report which kernel it picked (OPENBLAS_CORETYPE applies
# here too).
blas_core = "unknown"
try:
    ob = ctypes.CDLL("libopenblas.so.0")
    ob.openblas_set_num_threads(threads)
    ob.openblas_get_corename.restype = ctypes.c_char_p
    ob.openblas_get_num_threads.restype = ctypes.c_int
    blas_core = "%s threads %d" % (ob.openblas_get_corename().decode(),
                                   ob.openblas_get_num_threads())
except (OSError, AttributeError) as e:  # not fatal: only the report loses a line
    blas_core = "unavailable (%s)" % e


def params(shape_x, shape_w, nbias, grad):
    x = torch.randn(shape_x)
    w = torch.randn(shape_w) * 0.05
    b = torch.randn(nbias) * 0.05
    if grad:
        for t in (x, w, b):
            t.requires_grad_()
    return x, w, b


def conv2d_fwd():
    x, w, b = params((16, 64, 64, 64), (64, 64, 3, 3), 64, False)

    def step():
        with torch.no_grad():
            F.conv2d(x, w, b, stride=1, padding=1)
    return step


def conv2d_fwd_bwd():
    x, w, b = params((16, 64, 64, 64), (64, 64, 3, 3), 64, True)

    def step():
        x.grad = w.grad = b.grad = None
        y = F.conv2d(x, w, b, stride=1, padding=1)
        y.sum().backward()
    return step


# Sub-steps, run only when named: forward+backward with only x (resp. only w) requiring grad.
def conv2d_bwd_x():
    x, w, b = params((16, 64, 64, 64), (64, 64, 3, 3), 64, False)
    x.requires_grad_()

    def step():
        x.grad = None
        F.conv2d(x, w, b, stride=1, padding=1).sum().backward()
    return step


def conv2d_bwd_w():
    x, w, b = params((16, 64, 64, 64), (64, 64, 3, 3), 64, False)
    w.requires_grad_()

    def step():
        w.grad = None
        F.conv2d(x, w, b, stride=1, padding=1).sum().backward()
    return step


def convT2d_fwd():
    x, w, b = params((64, 256, 8, 8), (256, 128, 4, 4), 128, False)

    def step():
        with torch.no_grad():
            F.conv_transpose2d(x, w, b, stride=2, padding=1)
    return step


def convT2d_fwd_bwd():
    x, w, b = params((64, 256, 8, 8), (256, 128, 4, 4), 128, True)

    def step():
        x.grad = w.grad = b.grad = None
        y = F.conv_transpose2d(x, w, b, stride=2, padding=1)
        y.sum().backward()
    return step


def conv3d_fwd_bwd():
    x, w, b = params((8, 64, 16, 16, 16), (128, 64, 4, 4, 4), 128, True)

    def step():
        x.grad = w.grad = b.grad = None
        y = F.conv3d(x, w, b, stride=2, padding=1)
        y.sum().backward()
    return step


def convT3d_fwd_bwd():
    x, w, b = params((8, 128, 8, 8, 8), (128, 64, 4, 4, 4), 64, True)

    def step():
        x.grad = w.grad = b.grad = None
        y = F.conv_transpose3d(x, w, b, stride=2, padding=1)
        y.sum().backward()
    return step


def linear_fwd_bwd():
    x, w, b = params((256, 1024), (1024, 1024), 1024, True)

    def step():
        x.grad = w.grad = b.grad = None
        y = F.linear(x, w, b)
        y.sum().backward()
    return step


# Random numbers: 4M float32 values in place, as conv_bench.lua.
def randn():
    x = torch.empty(64, 256, 256)

    def step():
        x.normal_(0, 1)
    return step


def rand():
    x = torch.empty(64, 256, 256)

    def step():
        x.uniform_(0, 1)
    return step


CASES = [("conv2d_fwd", conv2d_fwd), ("conv2d_fwd_bwd", conv2d_fwd_bwd),
         ("convT2d_fwd_bwd", convT2d_fwd_bwd), ("conv3d_fwd_bwd", conv3d_fwd_bwd),
         ("convT3d_fwd_bwd", convT3d_fwd_bwd), ("linear_fwd_bwd", linear_fwd_bwd),
         ("randn", randn), ("rand", rand)]
EXTRA = [("conv2d_bwd_x", conv2d_bwd_x), ("conv2d_bwd_w", conv2d_bwd_w),
         ("convT2d_fwd", convT2d_fwd)]


def summary_info():
    info = torch.__config__.parallel_info().splitlines()
    keep = [l.strip() for l in info if "get_num_threads" in l or "backend" in l
            or l.startswith("OpenMP") or "MKL" in l or "omp_get_max_threads" in l]
    print("info torch_version %s" % torch.__version__)
    print("info torch_threads %d (interop %d)"
          % (torch.get_num_threads(), torch.get_num_interop_threads()))
    print("info torch_parallel %s" % "; ".join(keep))
    print("info torch_mkldnn %s (oneDNN used for conv: %s), MKL %s" % (
        torch.backends.mkldnn.is_available(), torch.backends.mkldnn.enabled,
        torch.backends.mkl.is_available()))
    cfg = torch.__config__.show()
    blas = [p.strip() for p in cfg.replace("\n", ",").split(",")
            if "BLAS_INFO" in p or "CPU capability" in p]
    print("info torch_build %s" % "; ".join(blas))
    print("info torch_openblas %s" % blas_core)


def main():
    unknown = only - {name for name, _ in CASES + EXTRA}
    if unknown:
        sys.exit("conv_bench: unknown case(s) %s" % ", ".join(sorted(unknown)))
    summary_info()
    wanted = [c for c in CASES + EXTRA if c[0] in only] if only else CASES
    for name, setup in wanted:
        step = setup()
        for _ in range(warmup):
            step()
        ms = []
        for _ in range(iters):
            t0 = time.perf_counter()
            step()
            ms.append((time.perf_counter() - t0) * 1e3)
        print("case %s median_ms %.3f min_ms %.3f max_ms %.3f iters %d samples %s"
              % (name, statistics.median(ms), min(ms), max(ms), iters,
                 ",".join("%.3f" % v for v in ms)), flush=True)


if __name__ == "__main__":
    main()
