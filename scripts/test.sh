#!/usr/bin/env bash
# Builds gan and runs every test: ctest and the busted specs on the Release build, the
# same again on a sanitizer (ASan + UBSan) build, and a luarocks install of the rock.
# Ends with exactly one line "N passed, N failed"; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

passed=0
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

section() { printf '\n==== %s (at %ds)\n' "$*" "$SECONDS"; }

# check NAME CMD...: one test that passes when CMD exits 0.
check() {
   local name=$1
   shift
   if "$@"; then
      passed=$((passed + 1))
      echo "PASS: $name"
   else
      failed=$((failed + 1))
      echo "FAIL: $name"
   fi
}

finish() {
   echo "$passed passed, $failed failed"
   [ "$failed" -eq 0 ]
   exit
}

# run_ctest DIR: adds ctest's counts ("N tests failed out of M").
run_ctest() {
   local log="$work/ctest.log"
   ctest --test-dir "$1" --output-on-failure 2>&1 | tee "$log"
   local rc=${PIPESTATUS[0]}
   local summary
   summary=$(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1)
   if [ -n "$summary" ]; then
      local f t
      read -r f _ _ _ _ t <<<"$summary"
      passed=$((passed + t - f))
      failed=$((failed + f))
   fi
   # ctest failing without a summary (no tests found, crash) is a failure too.
   if [ "$rc" -ne 0 ] && { [ -z "$summary" ] || [ "${f:-0}" -eq 0 ]; }; then
      failed=$((failed + 1))
      echo "FAIL: ctest in $1 exited with status $rc"
   fi
}

# run_busted CMD...: runs busted with TAP output and adds its ok / not ok counts.
run_busted() {
   local log="$work/busted.log"
   "$@" -o TAP 2>&1 | tee "$log"
   local rc=${PIPESTATUS[0]}
   local ok not_ok
   ok=$(grep -cE '^ok [0-9]+' "$log")
   not_ok=$(grep -cE '^not ok [0-9]+' "$log")
   passed=$((passed + ok))
   failed=$((failed + not_ok))
   if [ "$rc" -ne 0 ] && [ "$not_ok" -eq 0 ]; then
      failed=$((failed + 1))
      echo "FAIL: busted exited with status $rc: $*"
   fi
}

section "setup and Release build"
check "setup and build (scripts/setup.sh --for-tests)" bash scripts/setup.sh --for-tests
[ "$failed" -eq 0 ] || finish

section "C tests (build)"
run_ctest build

# run_specs CMD...: every spec file in a busted process of its own. One process for the
# whole suite ran about 1.8 times slower (372 s against 201 s): the tensors that earlier
# files keep alive (cached data sets, reference features) raise the garbage collector's
# threshold (bindings/glue.c: a full collection once the new storage exceeds what was live
# after the last one), so later files' temporaries pile up in between; metrics_spec took
# 177 s after four other files and 57 s alone.
run_specs() {
   local f
   for f in tests/lua/*_spec.lua; do run_busted "$@" "$f"; done
}

section "Lua specs (build)"
run_specs lua5.4 /usr/bin/busted

section "sanitizer build (build-asan)"
build_asan() {
   cmake -S . -B build-asan -DGAN_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
      cmake --build build-asan -j2
}
check "sanitizer build" build_asan
if [ -f build-asan/gan/core.so ]; then
   section "C tests (build-asan)"
   run_ctest build-asan

   section "Lua specs (build-asan)"
   # lua5.4 itself is not instrumented, so the sanitizer runtimes are preloaded. Lua's
   # interpreter keeps memory alive until exit by design: no leak checking for this run.
   run_specs env LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
      ASAN_OPTIONS=detect_leaks=0 lua5.4 /usr/bin/busted --run=asan
fi

section "luarocks install"
# Built from a copy so the source tree gets no build.luarocks/ and stale builds do not leak in.
mkdir -p "$work/src"
tar -cf - --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=./build.luarocks . |
   tar -xf - -C "$work/src"
rock_make() {
   (cd "$work/src" && CMAKE_BUILD_PARALLEL_LEVEL=2 \
      luarocks --lua-version 5.4 --tree "$work/rocks" make gan-scm-1.rockspec)
}
check "luarocks make gan-scm-1.rockspec" rock_make
version=$(lua5.4 -e 'io.write(dofile("lua/gan/version.lua"))')
installed_version() {
   local out
   out=$(cd / && "$work/rocks/bin/gan" version) && echo "$out" && [ "$out" = "gan $version" ]
}
check "installed gan version" installed_version
installed_run() {
   printf 'local gan = require "gan"\nprint("loaded gan " .. gan.version, ...)\n' >"$work/hello.lua"
   local out
   out=$(cd / && "$work/rocks/bin/gan" run "$work/hello.lua" --flag) && echo "$out" &&
      [ "$out" = "loaded gan $version	--flag" ]
}
check "installed gan run" installed_run
installed_docs() {
   # gan help names the installed docs and experiments, and both exist there
   local out docs exps
   out=$(cd / && "$work/rocks/bin/gan" help) || return 1
   docs=$(printf '%s\n' "$out" | sed -n 's/^Docs: //p')
   exps=$(printf '%s\n' "$out" | sed -n 's/^Experiments: //p')
   echo "docs: $docs; experiments: $exps"
   [ -f "$docs" ] && [ -f "$exps/dcgan.lua" ] && [ -f "$exps/dcgan_quick.yaml" ] &&
      case "$docs" in "$work"/rocks/*) true ;; *) false ;; esac
}
check "installed gan help names installed docs and experiments" installed_docs

finish
