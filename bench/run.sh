#!/usr/bin/env bash
# Builds ocictl as it ships (scripts/build-release.sh) and runs the benchmark against skopeo.
# Usage: bench/run.sh [--reps N] [--quick] [--cases i,...,ix]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
ocictl="$(scripts/build-release.sh | tail -1)"
python3 bench/bench.py --ocictl "$ocictl" "$@"
