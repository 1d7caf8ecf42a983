#!/usr/bin/env bash
# Builds the DocC catalog of OCIKit; any warning (a broken symbol link, a missing article) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
swift package generate-documentation --target OCIKit --warnings-as-errors
