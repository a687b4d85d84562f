#!/usr/bin/env bash
# From a fresh Debian 12 machine to a first gan run: install, build, run the hello experiment.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
bin/gan run experiments/hello.lua
