#!/usr/bin/env bash
# Builds the libFuzzer targets of the nested package fuzz/ and runs each for SECONDS (default 60).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 20   or   scripts/fuzz.sh 3600 FuzzManifest
#
# Prints the executions each target ran (libFuzzer's "Done N runs" line) and exits non-zero when a target crashed,
# hung (-timeout) or ran out of memory. The input that did so is saved under fuzz/crashes/<target>/; reproduce it
# with `fuzz/.build/debug/<target> FILE`, minimise it with `-minimize_crash=1 -runs=100000 FILE`, and copy the
# minimised input into fuzz/corpus/<target>/: HostileRegistryTests.testFuzzCorporaReplayWithoutCrashing replays
# every corpus input in the normal test run, so it stays a regression test (add a focused test for the fix too). Inputs that add coverage go to fuzz/.work/corpus/<target>/ (kept between runs, not committed);
# the seeds in fuzz/corpus/<target>/ are only read. Environment: FUZZ_JOBS (targets run at once, default 1),
# FUZZ_FLAGS (extra libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2; }
shift $(( $# > 0 ? 1 : 0 ))
all=(FuzzReference FuzzManifest FuzzChallenge FuzzLink FuzzDockerConfig)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
jobs=${FUZZ_JOBS:-1}

# -sanitize=fuzzer instruments every Swift module of the build (the parent's too) for coverage, adds libFuzzer and,
# with address, ASan. -parse-as-library: the targets have no top-level code. The build goes to fuzz/.build, apart
# from the main package's .build, so the two never invalidate each other.
build=(swift build -c debug --package-path fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
echo "fuzz: building ${targets[*]}" >&2
start=$(date +%s)
# (ld.gold warns about every ASan helper symbol; those lines are dropped.)
set +e
"${build[@]}" 2>&1 | grep -v "Cannot export local symbol '__asan" >&2
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  # A source file removed from the main package leaves fuzz/.build's build plan naming it ("missing inputs");
  # dropping the plan makes SwiftPM write a new one.
  echo "fuzz: build failed; retrying once with a fresh build plan" >&2
  rm -f fuzz/.build/*.yaml
  "${build[@]}" 2>&1 | grep -v "Cannot export local symbol '__asan" >&2
  status=${PIPESTATUS[0]}
fi
set -e
[ "$status" -eq 0 ] || { echo "fuzz: build failed (exit $status)" >&2; exit 1; }
bin=$("${build[@]}" --show-bin-path)
echo "fuzz: build took $(( $(date +%s) - start ))s" >&2

run_one() {
  local target=$1
  local work=fuzz/.work/corpus/$target crashes=fuzz/crashes/$target log=fuzz/.work/$target.log
  mkdir -p "$work" "$crashes"
  local flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=16384 -print_final_stats=1
               -artifact_prefix="$crashes/")
  case $target in FuzzManifest|FuzzDockerConfig) flags+=(-dict=fuzz/dicts/json.dict) ;; esac
  # shellcheck disable=SC2086
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} "$bin/$target" "${flags[@]}" ${FUZZ_FLAGS:-} "$work" "fuzz/corpus/$target" \
    >"$log" 2>&1 && status=0 || status=$?
  local runs
  runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1 | awk '{print $2}' || true)
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $target: ${runs:-?} runs in ${seconds}s, corpus $(ls "$work" | wc -l) inputs, no crash"
  else
    echo "fuzz: $target: FAILED (exit $status) after ${runs:-?} runs; inputs in $crashes/:"
    ls -1 "$crashes" | sed 's/^/  /'
    grep -E "ERROR: |invariant violated|Fatal error|SUMMARY|Test unit written" "$log" | head -20 | sed 's/^/  /' || true
    echo "  full log: $log"
  fi
  return "$status"
}

mkdir -p fuzz/.work
failed=()
pids=()
names=()
for target in "${targets[@]}"; do
  [ -x "$bin/$target" ] || { echo "fuzz: no target $target (have: ${all[*]})" >&2; exit 2; }
  run_one "$target" >"fuzz/.work/$target.summary" &
  pids+=($!)
  names+=("$target")
  # At most $jobs at once.
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed+=("${names[$i]}")
done
for target in "${names[@]}"; do cat "fuzz/.work/$target.summary"; done

echo "fuzz: ${#names[@]} targets fuzzed for ${seconds}s each, ${#failed[@]} crashed${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
