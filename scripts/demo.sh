#!/usr/bin/env bash
# The main job end to end: start a registry on loopback, push an artifact from files, copy it, list its tags,
# pull it back and compare. Usage: scripts/demo.sh   (builds ocictl; DEMO_REGISTRY=distribution for the real registry)
set -euo pipefail
cd "$(dirname "$0")/.."
# The registry: by default ocictl's own (`ocictl registry serve`, the in-process registry of OCITesting), so the
# demo needs nothing but the Swift toolchain and libzstd's headers; DEMO_REGISTRY=distribution runs the CNCF distribution registry
# (Debian's docker-registry, installed by scripts/install-deps.sh) instead.
DEMO_REGISTRY=${DEMO_REGISTRY:-ocictl}
scripts/install-deps.sh --build-only    # libzstd's headers, when missing (the one C library beyond the toolchain's)
swift build --product ocictl >/dev/null
OCICTL="$(swift build --show-bin-path)/ocictl"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ocictl-demo.XXXXXX")
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$DEMO_REGISTRY" = distribution ]; then
  scripts/install-deps.sh
  REGISTRY_BIN=${OCI_TEST_REGISTRY_BINARY:-/usr/bin/docker-registry}
  [ -x "$REGISTRY_BIN" ] || { echo "demo: $REGISTRY_BIN not found; run: apt-get install -y docker-registry" >&2; exit 1; }
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  cat > "$WORK/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT, secret: demo-secret}
YAML
  "$REGISTRY_BIN" serve "$WORK/config.yml" >"$WORK/registry.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
  REG=127.0.0.1:$PORT
else
  "$OCICTL" registry serve --address 127.0.0.1:0 --storage "$WORK/data" >"$WORK/registry.out" 2>&1 &
  PID=$!
  REG=""
  for _ in $(seq 1 100); do
    REG=$(sed -nE 's#^serving on http://([^ ]+).*#\1#p' "$WORK/registry.out")
    [ -n "$REG" ] && break
    sleep 0.1
  done
  [ -n "$REG" ] || { echo "demo: ocictl registry serve did not start:" >&2; cat "$WORK/registry.out" >&2; exit 1; }
fi
echo "registry ($DEMO_REGISTRY) on $REG"

mkdir -p "$WORK/files"
echo "hello from swift-ociclient" > "$WORK/files/hello.txt"
head -c 3000000 /dev/urandom > "$WORK/files/data.bin"

echo "== push";  "$OCICTL" push "$REG/demo/artifact:v1" "$WORK/files/hello.txt" "$WORK/files/data.bin" --artifact-type application/vnd.example.demo
echo "== resolve"; "$OCICTL" resolve "$REG/demo/artifact:v1"
echo "== copy";  "$OCICTL" copy "$REG/demo/artifact:v1" "$REG/demo/copy:v2"
echo "== tags";  "$OCICTL" tags "$REG/demo/copy"
echo "== repos"; "$OCICTL" repos "$REG"
echo "== pull";  "$OCICTL" pull "$REG/demo/copy:v2" -o "$WORK/out"
cmp "$WORK/files/hello.txt" "$WORK/out/hello.txt"
cmp "$WORK/files/data.bin" "$WORK/out/data.bin"
[ "$("$OCICTL" resolve "$REG/demo/artifact:v1" | cut -d' ' -f1)" = "$("$OCICTL" resolve "$REG/demo/copy:v2" | cut -d' ' -f1)" ]
echo "demo: OK (pushed, copied, listed, pulled back byte-identical)"
