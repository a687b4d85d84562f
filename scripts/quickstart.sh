#!/usr/bin/env bash
# From a fresh Debian 12 machine to a first gan run: install, build, train DCGAN on MNIST
# for about two minutes (progress on the terminal, sample sheets in runs/dcgan/<time>/),
# ending with the reference classifier's share of confidently recognised samples.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
bin/gan run experiments/dcgan.lua --config experiments/dcgan_quick.yaml "$@"
