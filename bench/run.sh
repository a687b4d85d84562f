#!/usr/bin/env bash
# gan vs PyTorch CPU, timed in the same run: full GAN training steps and the convolution /
# linear microbenchmarks, with each process's peak resident memory.
#
#   bash bench/run.sh            # from anywhere in the repo; ~10 minutes on an idle 2-vCPU VM
#
# Other processes competing for the CPUs make the numbers meaningless; the script names the
# busy ones at the start and says at the end how much CPU others took during the run. Run
# it on an otherwise idle machine (docs/performance.md has the numbers and what they mean).
#
# What it does:
#   1. builds gan if needed (Release, in $GAN_BUILD_DIR, default ./build);
#   2. runs the same work in gan (lua5.4) and in Debian's torch (/usr/bin/python3):
#      bench/steps.lua / steps.py, one process per training-step case (dcgan32, dcgan64,
#      cyclegan64, wgan_gp32 by default; the header of steps.lua says what each does), and
#      bench/conv_bench.lua / .py (conv2d, conv_transpose2d, linear); 2 threads, float32,
#      warm-up iterations first, each iteration timed on its own with a monotonic wall
#      clock; the two frameworks alternate in $BENCH_ROUNDS rounds (gan first in odd
#      rounds, torch first in even ones) so that a change in machine speed hits both alike;
#   3. prints, per case, the median and min-max of all timed iterations, the per-round
#      medians, the ratio torch ms / gan ms (> 1: gan is faster), and for the step cases
#      the peak resident memory of each process (largest over the rounds) and the ratio
#      gan MB / torch MB (< 1: gan uses less), and gan's step work (convolutions and matrix
#      products, gan.flop_count), its GFLOP/s at the median time and that rate's share of
#      the machine's float32 FMA peak, measured at the start by bench/fma_peak.c;
#   4. does all of that twice: with the environment as given, then with OPENBLAS_CORETYPE
#      unset (OpenBLAS picks its kernel from the CPU). If OPENBLAS_CORETYPE is not set to
#      begin with, the second table forces OPENBLAS_CORETYPE=Haswell instead, to show what
#      a machine that forces it gets. The setting applies to both frameworks.
#
# Knobs (environment):
#   BENCH_ITERS     timed iterations per round (4)       BENCH_WARMUP  per round (2)
#   BENCH_ROUNDS    rounds (4: 16 timed iterations per case in all)
#   BENCH_STEPS     step cases (dcgan32 dcgan64 cyclegan64 wgan_gp32; also, run only if
#                   named: biggan32 stylegan32 pix2pix64 srgan pixelcnn gated_pixelcnn gan3d; any with _bf16
#                   appended: in bfloat16, gan.autocast / torch.autocast; "none" for none)
#   BENCH_CASES     kernel cases: subset of conv2d_fwd conv2d_fwd_bwd convT2d_fwd_bwd conv3d_fwd_bwd convT3d_fwd_bwd
#                   linear_fwd_bwd randn rand, or the sub-steps conv2d_bwd_x conv2d_bwd_w convT2d_fwd
#                   (run only if named); "none" for none
#   BENCH_VARIANTS  "given other" (default); "given" alone; add "passive" for a third
#                   table with OMP_WAIT_POLICY=passive in both frameworks
#   BENCH_THREADS   2 (both frameworks)                  GAN_BUILD_DIR build
#   BENCH_TORCH_BLAS_THREADS  torch's OpenBLAS threads in the step cases (1: torch's
#                   faster setting next to its OpenMP pool; see bench/steps.py)
set -euo pipefail
cd "$(dirname "$0")/.."

export BENCH_THREADS=${BENCH_THREADS:-2}
ITERS=${BENCH_ITERS:-4}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-4}
CASES=${BENCH_CASES:-}
STEPS=${BENCH_STEPS:-dcgan32 dcgan64 cyclegan64 wgan_gp32}
[ "$STEPS" = none ] && STEPS=
VARIANTS=${BENCH_VARIANTS:-given other}
BUILD=${GAN_BUILD_DIR:-build}
PY=/usr/bin/python3          # Debian's python3-torch; the python3 on PATH has no torch

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$tmp/build.log" 2>&1 ||
        { cat "$tmp/build.log"; exit 1; }
fi
cmake --build "$BUILD" -j2 --target gan_core_lua >>"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; exit 1; }
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
if [ "$btype" != "Release" ]; then
    echo "warning: $BUILD is a '$btype' build, not Release; gan timings will be pessimistic" >&2
fi

export LUA_PATH="./lua/?.lua;./lua/?/init.lua;;"
case $BUILD in /*) export LUA_CPATH="$BUILD/?.so;;" ;; *) export LUA_CPATH="./$BUILD/?.so;;" ;; esac

show() { if [ -n "${!1+x}" ]; then echo "${!1}"; else echo "(unset)"; fi; }

echo "== gan vs PyTorch CPU benchmark  ($(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- core bindings lua 2>/dev/null || echo ' + uncommitted changes'))"
echo "cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(nproc) cpus;" \
     "avx512f: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)"
echo "threads: gan.set_num_threads($BENCH_THREADS), torch.set_num_threads($BENCH_THREADS);" \
     "torch's OpenBLAS: ${BENCH_TORCH_BLAS_THREADS:-1} thread(s) in the steps, $BENCH_THREADS in the conv cases"
echo "env as given: OMP_NUM_THREADS=$(show OMP_NUM_THREADS) OPENBLAS_NUM_THREADS=$(show OPENBLAS_NUM_THREADS)" \
     "OPENBLAS_CORETYPE=$(show OPENBLAS_CORETYPE) OMP_WAIT_POLICY=$(show OMP_WAIT_POLICY)" \
     "GOMP_SPINCOUNT=$(show GOMP_SPINCOUNT)"
echo "iterations: $WARMUP warm-up + $ITERS timed per round, $ROUNDS rounds (gan and torch alternate)"
# The machine's float32 FMA peak, measured (bench/fma_peak.c) on 1 and $BENCH_THREADS threads:
# each step's GFLOP/s is given as a share of the latter.
cc -O2 -march=native -fopenmp bench/fma_peak.c -o "$tmp/fma_peak" || exit 1
OMP_NUM_THREADS=$BENCH_THREADS "$tmp/fma_peak" >"$tmp/peak"
PEAK=$(awk -v t="$BENCH_THREADS" '$3 == t { print $5 }' "$tmp/peak")
echo "measured FMA peak (float32): $(awk '{ printf "%s%s threads %s GFLOP/s", (NR > 1 ? ", " : ""), $3, $5 }' "$tmp/peak")"

# Other processes eating CPU make a 2-thread benchmark meaningless: say so. At the start,
# a half-second top sample names busy processes; at the end, /proc/stat minus our own CPU
# time says how much CPU others took during the run.
busy_now() {
    top -bn2 -d 0.5 -w 200 |
        awk '/^top -/ { n++ } n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 > 20 { printf "  pid %s %s%% cpu %s\n", $1, $9, $12 }'
}
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 + $9 }' /proc/stat; }   # busy idle
hz=$(getconf CLK_TCK)
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
b=$(busy_now); [ -n "$b" ] && { echo "warning: other processes are using CPU now, timings will be inflated/noisy:"; echo "$b"; }
read -r busy0 idle0 < <(cpu_ticks)

run_variant() {   # $1 = label, rest = env command prefix
    local label=$1; shift
    local r c
    one() {   # framework round: every case, appending to one output file
        local fw=$1 r=$2; shift 2
        local out="$tmp/$label.$fw.$r"
        : >"$out"
        for c in $STEPS; do
            if [ "$fw" = gan ]; then "$@" lua5.4 bench/steps.lua "$c" "$ITERS" "$WARMUP" >>"$out"
            else "$@" "$PY" bench/steps.py "$c" "$ITERS" "$WARMUP" >>"$out"; fi
        done
        if [ "$CASES" != none ]; then
            if [ "$fw" = gan ]; then "$@" lua5.4 bench/conv_bench.lua "$ITERS" "$WARMUP" $CASES >>"$out"
            else "$@" "$PY" bench/conv_bench.py "$ITERS" "$WARMUP" $CASES >>"$out"; fi
        fi
    }
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2 == 1)); then one gan "$r" "$@"; one torch "$r" "$@"
        else one torch "$r" "$@"; one gan "$r" "$@"; fi
    done
    lua5.4 - "$tmp" "$label" "$ROUNDS" "$PEAK" <<'EOF'
local dir, label, rounds, peak = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local order, data, info, seen_info = {}, { gan = {}, torch = {} }, {}, {}
local mem, gflop = { gan = {}, torch = {} }, {}
for _, fw in ipairs({ "gan", "torch" }) do
   for r = 1, rounds do
      for line in io.lines(("%s/%s.%s.%d"):format(dir, label, fw, r)) do
         local key, rest = line:match("^info (%S+) (.*)$")
         if key and r == 1 and not seen_info[key] then
            seen_info[key] = true
            info[#info + 1] = ("  %s: %s"):format(key, rest)
         end
         local mname, mb = line:match("^mem (%S+) peak_rss_mb (%S+)$")
         if mname then mem[fw][mname] = math.max(mem[fw][mname] or 0, tonumber(mb)) end
         local fname, g = line:match("^flops (%S+) gflop_per_step (%S+)$")
         if fname and fw == "gan" then gflop[fname] = tonumber(g) end
         local name, med, samples = line:match("^case (%S+) median_ms (%S+) .* samples (%S+)$")
         if name then
            if not data.gan[name] and not data.torch[name] then order[#order + 1] = name end
            local d = data[fw][name] or { all = {}, rounds = {} }
            data[fw][name] = d
            for v in samples:gmatch("[^,]+") do d.all[#d.all + 1] = tonumber(v) end
            d.rounds[#d.rounds + 1] = ("%.0f"):format(tonumber(med))
         end
      end
   end
end
local function median(t)
   local s = { table.unpack(t) }; table.sort(s)
   local n = #s
   return n % 2 == 1 and s[(n + 1) // 2] or 0.5 * (s[n // 2] + s[n // 2 + 1])
end
local function cell(d)
   if not d then return "-", "-", "-" end
   local lo, hi = math.huge, -math.huge
   for _, v in ipairs(d.all) do lo = math.min(lo, v); hi = math.max(hi, v) end
   return median(d.all), ("%.0f-%.0f"):format(lo, hi), table.concat(d.rounds, "/")
end
for _, l in ipairs(info) do print(l) end
print(("%-16s | %9s %-11s %-15s | %9s %-11s %-15s | %9s | %7s %8s %7s | %7s %7s %6s"):format("case", "gan ms", "(min-max)",
   "round meds", "torch ms", "(min-max)", "round meds", "torch/gan", "gan MB", "torch MB", "gan/tor",
   "GFLOP", "GFLOP/s", "%peak"))
print(("-"):rep(16) .. "-+-" .. ("-"):rep(37) .. "-+-" .. ("-"):rep(37) .. "-+-" .. ("-"):rep(9) .. "-+-" .. ("-"):rep(24)
   .. "-+-" .. ("-"):rep(22))
for _, name in ipairs(order) do
   local gm, gs, gr = cell(data.gan[name])
   local tm, ts, tr = cell(data.torch[name])
   local ratio = (type(gm) == "number" and type(tm) == "number") and ("%.2f"):format(tm / gm) or "-"
   local mg, mt = mem.gan[name], mem.torch[name]
   -- the step's convolution and matmul work at gan's median time, and its share of the peak
   local g = gflop[name]
   local rate = (g and g > 0 and type(gm) == "number") and g / (gm / 1000) or nil
   print(("%-16s | %9s %-11s %-15s | %9s %-11s %-15s | %9s | %7s %8s %7s | %7s %7s %6s"):format(name,
      type(gm) == "number" and ("%.1f"):format(gm) or gm, gs, gr,
      type(tm) == "number" and ("%.1f"):format(tm) or tm, ts, tr, ratio,
      mg and ("%.0f"):format(mg) or "-", mt and ("%.0f"):format(mt) or "-",
      (mg and mt) and ("%.2f"):format(mg / mt) or "-",
      g and ("%.2f"):format(g) or "-", rate and ("%.0f"):format(rate) or "-",
      (rate and peak) and ("%.0f%%"):format(100 * rate / peak) or "-"))
end
EOF
}

for v in $VARIANTS; do
    echo
    if [ "$v" = given ]; then
        echo "== table 1: environment as given (OPENBLAS_CORETYPE=$(show OPENBLAS_CORETYPE))"
        run_variant given env
    elif [ "$v" = passive ]; then
        echo "== table 3: OMP_WAIT_POLICY=passive (idle OpenMP threads sleep instead of spinning)"
        run_variant passive env OMP_WAIT_POLICY=passive
    elif [ -n "${OPENBLAS_CORETYPE+x}" ]; then
        echo "== table 2: OPENBLAS_CORETYPE unset (OpenBLAS detects the CPU)"
        run_variant other env -u OPENBLAS_CORETYPE
    else
        echo "== table 2: OPENBLAS_CORETYPE=Haswell forced (it was unset; shows the cost of forcing it)"
        run_variant other env OPENBLAS_CORETYPE=Haswell
    fi
done

echo
read -r busy1 idle1 < <(cpu_ticks)
times >"$tmp/times"   # in this shell: a pipeline's subshell would not see our children
ours=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, k, /[ms]/); print u[1] * 60 + u[2] + k[1] * 60 + k[2] }' "$tmp/times")
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v b="$((busy1 - busy0))" -v i="$((idle1 - idle0))" -v hz="$hz" -v n="$(nproc)" -v ours="$ours" 'BEGIN {
    wall = (b + i) / hz / n; other = b / hz - ours; if (other < 0) other = 0
    printf "CPU used by other processes during the run: %.0f s = %.0f%% of one CPU (of %.0f s wall)\n", other, 100 * other / wall, wall
    if (other / wall > 0.1) print "warning: that is enough to distort the numbers; rerun on an idle machine"
}'
echo "medians over all timed iterations of all rounds; round meds = per-round medians (gan/torch runs)"
