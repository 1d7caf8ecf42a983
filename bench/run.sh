#!/usr/bin/env bash
# Builds ocictl in release mode and runs the benchmark against skopeo. Usage: bench/run.sh [--reps N] [--quick] [--cases i,...,viii]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product ocictl
python3 bench/bench.py --ocictl "$(swift build -c release --show-bin-path)/ocictl" "$@"
