#!/usr/bin/env bash
# Images per second of the DCGAN step against batch size and image size, gan and PyTorch
# CPU in the same run (bench/steps.lua / steps.py, case dcgan_s<S>_b<B>: 3 channels,
# ngf = ndf = 64), alternating the frameworks per cell; writes a CSV and a plot (one panel
# per image size, images/s against log2 of the batch) so a user sees where each
# framework's overhead dominates.
#
#   bash bench/scaling.sh                   # about 25 minutes on an idle 2-vCPU VM
#   SCALE_SIZES="32 64" SCALE_BATCHES="8 64" bash bench/scaling.sh
#
# Knobs: SCALE_SIZES (32 64 128), SCALE_BATCHES (8 16 32 64 128 256), SCALE_ITERS timed
# steps per process (3, after 1 warm-up), SCALE_ROUNDS (2; the median of the rounds'
# medians is reported), BENCH_THREADS (2), SCALE_OUT (build/scaling: scaling.csv and
# scaling.png). Run it on an otherwise idle machine (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_THREADS=${BENCH_THREADS:-2}
SIZES=${SCALE_SIZES:-32 64 128}
BATCHES=${SCALE_BATCHES:-8 16 32 64 128 256}
ITERS=${SCALE_ITERS:-3}
ROUNDS=${SCALE_ROUNDS:-2}
OUT=${SCALE_OUT:-build/scaling}
BUILD=${GAN_BUILD_DIR:-build}
mkdir -p "$OUT"
export LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./$BUILD/?.so;;"
cmake --build "$BUILD" -j2 --target gan_core_lua >/dev/null

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
csv="$OUT/scaling.csv"
echo "size,batch,gan_ms,torch_ms,gan_img_s,torch_img_s" > "$csv"
echo "== DCGAN step scaling, $BENCH_THREADS threads, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} ($(date -u '+%Y-%m-%d %H:%M UTC'))"
printf '%6s %6s %10s %10s %10s %10s %7s\n' size batch gan_ms torch_ms gan_img/s torch_img/s ratio
for s in $SIZES; do
   for b in $BATCHES; do
      case=dcgan_s${s}_b${b}
      g=() t=()
      for r in $(seq "$ROUNDS"); do
         if [ $((r % 2)) -eq 1 ]; then order="gan torch"; else order="torch gan"; fi
         for fw in $order; do
            if [ $fw = gan ]; then
               g+=("$(lua5.4 bench/steps.lua "$case" "$ITERS" 1 | awk '/^case/ { print $4 }')")
            else
               t+=("$(/usr/bin/python3 bench/steps.py "$case" "$ITERS" 1 | awk '/^case/ { print $4 }')")
            fi
         done
      done
      gm=$(printf '%s\n' "${g[@]}" | median)
      tm=$(printf '%s\n' "${t[@]}" | median)
      gi=$(awk -v b="$b" -v m="$gm" 'BEGIN { printf "%.1f", b * 1000 / m }')
      ti=$(awk -v b="$b" -v m="$tm" 'BEGIN { printf "%.1f", b * 1000 / m }')
      echo "$s,$b,$gm,$tm,$gi,$ti" >> "$csv"
      printf '%6s %6s %10.1f %10.1f %10s %10s %7.2f\n' "$s" "$b" "$gm" "$tm" "$gi" "$ti" \
         "$(awk -v a="$tm" -v b="$gm" 'BEGIN { print a / b }')"
   done
done
lua5.4 bench/scaling_plot.lua "$csv" "$OUT/scaling.png"
echo "wrote $csv and $OUT/scaling.png"
