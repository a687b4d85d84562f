#!/usr/bin/env bash
# From a fresh Debian 12 machine to a first gan run: install, build, train the default
# DCGAN on MNIST for a few minutes (progress on the terminal, sample sheets in runs/dcgan/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
bin/gan run experiments/dcgan.lua
