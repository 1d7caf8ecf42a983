#!/usr/bin/env bash
# Throughput of schema1 layer inspection (Schema1Converter.inspectLayer: gunzip + sha256 of the tar, streaming).
# Usage: bench/schema1-inspect.sh [--mib N] [--reps N] [--package DIR]
# Makes a gzip'd tar (-6) of N MiB (default 64) of random and text files with Python, builds a small release-mode
# executable against this package in bench/work/ (git-ignored), reads the blob into memory and inspects it from a
# 1 MiB-chunk ByteStream REPS times (default 5). Prints the median in MiB/s of uncompressed tar and of gzip input.
# --package measures another copy of the package (default: this one), e.g. a baseline made with
# `git archive OLD_COMMIT | tar -x -C /tmp/baseline`; the build folder is shared, so only the package is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MIB=64
REPS=5
PACKAGE=$ROOT
while [ $# -gt 0 ]; do
  case "$1" in
    --mib) MIB=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --package) PACKAGE=$(cd "$2" && pwd); shift 2 ;;
    *) echo "usage: $0 [--mib N] [--reps N] [--package DIR]" >&2; exit 2 ;;
  esac
done
WORK=$ROOT/bench/work/schema1-inspect
mkdir -p "$WORK/Sources/schema1-inspect"

BLOB=$WORK/layer-$MIB.tar.gz
if [ ! -f "$BLOB" ]; then
  python3 - "$MIB" "$WORK/layer-$MIB.tar" <<'PY'
import io, random, sys, tarfile
mib, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10))) for _ in range(5000)]
with tarfile.open(path, 'w', format=tarfile.GNU_FORMAT) as tar:
    total, n = 0, 0
    while total < mib << 20:
        if n % 4 == 0:  # a quarter of the files are incompressible
            data = rng.randbytes(rng.randint(64 << 10, 2 << 20))
        else:
            lines = []
            size = rng.randint(4 << 10, 1 << 20)
            while size > 0:
                line = ' '.join(rng.choice(words) for _ in range(rng.randint(3, 14))) + '\n'
                lines.append(line)
                size -= len(line)
            data = ''.join(lines).encode()
        info = tarfile.TarInfo(f'usr/share/f{n:05d}')
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
        total, n = total + len(data), n + 1
PY
  gzip -6 -n -k "$WORK/layer-$MIB.tar"
fi
TAR_BYTES=$(stat -c %s "$WORK/layer-$MIB.tar")
DIFF_ID=sha256:$(sha256sum "$WORK/layer-$MIB.tar" | cut -d' ' -f1)

cat > "$WORK/Package.swift" <<SWIFT
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "schema1-inspect",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "swift-ociclient", path: "$PACKAGE")],
    targets: [
        .executableTarget(name: "schema1-inspect", dependencies: [
            .product(name: "OCISchema1", package: "swift-ociclient"),
            .product(name: "OCIContent", package: "swift-ociclient"),
            .product(name: "OCISpec", package: "swift-ociclient"),
        ]),
    ]
)
SWIFT
cat > "$WORK/Sources/schema1-inspect/main.swift" <<'SWIFT'
import Foundation
import OCISchema1
import OCIContent
import OCISpec

let arguments = CommandLine.arguments
guard arguments.count == 5, let tarBytes = Double(arguments[2]), let reps = Int(arguments[4]), reps > 0,
      let blob = FileManager.default.contents(atPath: arguments[1]) else {
    print("usage: schema1-inspect BLOB TAR_BYTES DIFF_ID REPS")
    exit(2)
}
let bytes = [UInt8](blob)
let blobSum = OCIDigest.of(bytes)
var seconds: [Double] = []
for _ in 0..<reps {
    let start = ContinuousClock.now
    let info = try await Schema1Converter.inspectLayer(ByteStream(bytes: bytes, chunkSize: 1 << 20), blobSum: blobSum)
    let elapsed = start.duration(to: .now)
    guard info.diffID.description == arguments[3], info.size == Int64(bytes.count) else {
        print("wrong result: \(info)")
        exit(1)
    }
    seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}
let median = seconds.sorted()[seconds.count / 2]
let mib = 1024.0 * 1024.0
print(String(format: "tar %.1f MiB, gzip %.1f MiB, median of %d: %.3f s = %.1f MiB/s uncompressed (%.1f MiB/s gzip)",
             tarBytes / mib, Double(bytes.count) / mib, reps, median, tarBytes / mib / median,
             Double(bytes.count) / mib / median))
SWIFT

swift build -c release --package-path "$WORK" --scratch-path "$WORK/.build" >&2
"$WORK/.build/release/schema1-inspect" "$BLOB" "$TAR_BYTES" "$DIFF_ID" "$REPS"
