#!/usr/bin/env bash
# Builds the package with ThreadSanitizer into .build-tsan and runs the suites that exercise concurrency: layout
# and cache concurrency, read-through coalescing, cross-process caches, credential helpers, the keyring, graph
# copies, uploads, the registry client, hostile registries, fault survival, token sharing (ocictl children are
# TSan builds too). Fails when a test fails or ThreadSanitizer reports anything; there is no suppressions file.
#
#   scripts/tsan.sh [FILTER]      FILTER: an XCTest filter regex (default: the suites below)
set -euo pipefail
cd "$(dirname "$0")/.."

filter=${1:-'LayoutConcurrencyTests|ReadThroughTests|ContentCacheTests|InMemoryCacheTests|CrossProcessTests|CredentialHelperTests|KeyringMatchingTests|CopyTests|VerbTests|VerbIntegrationTests|ErrorKindTests|UploadTests|RegistryClientTests|HostileRegistryTests|TokenAuthTests|CacheIntegrationTests|FaultSurvivalTests'}
scratch=.build-tsan
start=$(date +%s)
swift build --build-tests --sanitize=thread --scratch-path "$scratch"
echo "tsan: build took $(( $(date +%s) - start ))s" >&2

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# halt_on_error=0: report every race of a run, not only the first. Child processes (ocictl) inherit the options
# and exit 66 when they report, which fails the test that ran them.
export TSAN_OPTIONS=${TSAN_OPTIONS:-"halt_on_error=0 second_deadlock_stack=1"}
set +e
swift test --skip-build --sanitize=thread --scratch-path "$scratch" --disable-swift-testing --filter "$filter" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
reports=$(grep -c "WARNING: ThreadSanitizer" "$log" || true)
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with " "$log" | tail -1 | sed -E 's/^[[:space:]]+//')
echo "tsan: ${summary:-no summary}; ThreadSanitizer reports: $reports; took $(( $(date +%s) - start ))s"
if [ "$reports" -gt 0 ]; then
  grep -A12 "WARNING: ThreadSanitizer" "$log" | head -80 >&2
  exit 1
fi
exit "$status"
