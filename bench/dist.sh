#!/usr/bin/env bash
# Data parallelism on this machine: the DCGAN-32 and CycleGAN-64 training steps as
# 1 process x 2 threads against 2 processes x 1 thread (mpirun), alternating in
# $BENCH_ROUNDS rounds, and the all-reduce time and bandwidth against the message size.
#
#   bash bench/dist.sh          # ~3 minutes on an idle 2-vCPU machine; needs mpirun
#
# Prints per round and the median over rounds of each configuration's median step time
# and images per second, and the ratio (2 processes / 1 process: > 1 means the two
# processes train faster). Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_ROUNDS:-3}
ITERS=${BENCH_ITERS:-10}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
command -v mpirun >/dev/null || { echo "dist.sh: mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)"; exit 1; }
echo "info $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $(mpirun --version | head -1)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for case in dcgan32 cyclegan64; do
   warm=3; [ "$case" = cyclegan64 ] && warm=2
   for r in $(seq "$ROUNDS"); do
      if [ $((r % 2)) -eq 1 ]; then order="one two"; else order="two one"; fi
      for o in $order; do
         if [ "$o" = one ]; then
            BENCH_THREADS=2 lua5.4 bench/dist_bench.lua step "$case" "$ITERS" "$warm" | tee -a "$tmp/$case.one"
         else
            BENCH_THREADS=1 mpirun -np 2 lua5.4 bench/dist_bench.lua step "$case" "$ITERS" "$warm" | tee -a "$tmp/$case.two"
         fi
      done
   done
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "case        1 x 2 threads (img/s)   2 x 1 thread (img/s)   ratio"
for case in dcgan32 cyclegan64; do
   one=$(awk '{for (i = 1; i < NF; i++) if ($i == "images_per_s") print $(i + 1)}' "$tmp/$case.one" | median)
   two=$(awk '{for (i = 1; i < NF; i++) if ($i == "images_per_s") print $(i + 1)}' "$tmp/$case.two" | median)
   awk -v c="$case" -v a="$one" -v b="$two" 'BEGIN { printf "%-11s %-23s %-22s %.2f\n", c, a, b, b / a }'
done
echo
mpirun -np 2 env BENCH_THREADS=1 lua5.4 bench/dist_bench.lua allreduce
