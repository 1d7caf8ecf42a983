#!/usr/bin/env python3
"""Benchmarks ocictl against skopeo on the same workloads, in one run, alternating.

usage: bench/bench.py [--reps N] [--ocictl PATH] [--quick] [--uncompressed] [--cases i,iv,vii,...]
ocictl is measured as it ships: built by scripts/build-release.sh (bench/run.sh does; the run prints the linkage).
Starts two distribution registries on free loopback ports, generates images, and runs:
  (i)   push 4 x 64 MiB from an OCI layout            (ii)  copy within one registry
  (iii) copy to the other registry                    (iv)  pull to an OCI layout
  (v)   push 100 x 64 KiB from an OCI layout          (vi)  peak RSS of a 1 GiB single-blob copy
  (vii) sync 100 tags of small images to the other registry (ocictl sync vs skopeo sync)
  (viii) the same sync again, where nothing changed (the no-op resync)
  (ix)  append a 200 MiB tree of 2,000 files onto a base image and push it: `ocictl image append` against
        buildah's from, copy, commit, push (its own storage, vfs driver, emptied before every run); --cases ix
Layers are gzip-compressed tars of random bytes (as real images have, so skopeo moves them as they are);
--uncompressed uses plain tar layers. Every run first prints the CPU model, whether it has SHA extensions and its
SHA-256 rate, so figures from different machines can be compared.
Prints the median wall time of each tool per case and the ratio ocictl/other tool (skopeo; buildah for ix), with peak RSS.
skopeo's blob-info cache is removed before every skopeo run (otherwise it mounts blobs it saw before).
Every server listens on 127.0.0.1 only and every loop is bounded.
"""
import argparse, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SKOPEO_CACHE = "/var/lib/containers/cache/blob-info-cache-v1.boltdb"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Registry:
    def __init__(self, work, name):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"""version: 0.1
log: {{level: error, accesslog: {{disabled: true}}}}
storage: {{filesystem: {{rootdirectory: {self.dir}/data}}, delete: {{enabled: true}}}}
http: {{addr: {self.host}, secret: bench-{name}}}
""")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", cfg], stdout=self.log, stderr=self.log)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"registry {name} did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run(cmd, env=None):
    """Runs cmd; returns (wall seconds, peak RSS MiB of the child)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"command failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024.0


def machine_info():
    """The CPU model, its SHA extensions and this machine's SHA-256 rate (openssl speed, 16 KiB blocks)."""
    model, sha = "unknown", False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    sha = sha or " sha_ni" in line or " sha2" in line
    except OSError:
        pass
    rate = "unknown"
    try:
        out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "1"],
                             capture_output=True, text=True, timeout=30).stdout
        for line in out.splitlines():
            if line.startswith("sha256"):
                rate = f"{float(line.split()[-1].rstrip('k')) / 1024:.0f} MB/s per core"
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    return f"cpu: {model}; SHA extensions: {'yes' if sha else 'no'}; SHA-256: {rate}; cores: {os.cpu_count()}"


def swift_linkage(binary):
    """Whether `binary` links the Swift runtime statically (bench/run.sh builds it so) or from shared libraries."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return "shared (libswiftCore.so)" if "libswiftCore.so" in out else "static (--static-swift-stdlib)"


def skopeo(*args):
    if os.path.exists(SKOPEO_CACHE):
        os.remove(SKOPEO_CACHE)
    return run(["skopeo", "--insecure-policy", "copy", "--quiet", *args])


def skopeo_sync(*args):
    if os.path.exists(SKOPEO_CACHE):
        os.remove(SKOPEO_CACHE)
    return run(["skopeo", "--insecure-policy", "sync", *args])


def seed_sync_source(ocictl, work, host, tags):
    """Pushes `tags` small images (one 4 KiB layer each, all different) as HOST/sync/app:TAG (not timed)."""
    for i in range(tags):
        layout = os.path.join(work, f"seed{i}")
        subprocess.run([sys.executable, os.path.join(HERE, "mkimage.py"), "1", "4K", layout], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([ocictl, "copy", "--quiet", f"ocidir://{layout}:latest", f"{host}/sync/app:t{i}"], check=True, stdout=subprocess.DEVNULL)
        shutil.rmtree(layout, ignore_errors=True)


def buildah_append(work, base, tree, dst):
    """buildah from BASE, copy TREE /data, commit, push DST; returns (summed wall seconds, max peak RSS MiB)."""
    root = os.path.join(work, "buildah-root")
    runroot = os.path.join("/tmp", f"bb-{os.getpid()}")
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(runroot, ignore_errors=True)
    b = ["buildah", "--root", root, "--runroot", runroot, "--storage-driver", "vfs"]
    cid = os.path.join(work, "buildah-cid")
    wall, rss = 0.0, 0.0
    for step in (["from", "--tls-verify=false", "--cidfile", cid, f"docker://{base}"],):
        w, m = run(b + step)
        wall, rss = wall + w, max(rss, m)
    with open(cid) as f:
        container = f.read().strip()
    for step in (["copy", container, tree, "/data"], ["commit", container, "localhost/bench-app:v1"],
                 ["push", "--tls-verify=false", "localhost/bench-app:v1", f"docker://{dst}"]):
        w, m = run(b + step)
        wall, rss = wall + w, max(rss, m)
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(runroot, ignore_errors=True)
    return wall, rss


def make_tree(path, files, size):
    """`files` files of `size` random bytes in 20 directories."""
    for i in range(files):
        d = os.path.join(path, f"d{i % 20:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
            f.write(os.urandom(size))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ocictl", default=None)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    ap.add_argument("--uncompressed", action="store_true", help="plain tar layers instead of gzip ones")
    ap.add_argument("--cases", default="i,ii,iii,iv,v,vi,vii,viii,ix", help="comma-separated cases to run, e.g. iii,iv, vii,viii (sync) or ix (image append)")
    a = ap.parse_args()
    cases = set(a.cases.split(","))
    print(machine_info(), flush=True)
    mk = [sys.executable, os.path.join(HERE, "mkimage.py")] + (["--uncompressed"] if a.uncompressed else [])
    reps = max(1, min(a.reps, 20))
    ocictl = a.ocictl or os.path.join(HERE, "..", ".build", "release", "ocictl")
    if not os.path.exists(ocictl):
        sys.exit(f"bench: {ocictl} missing; run: scripts/build-release.sh")
    print(f"ocictl: {ocictl}; Swift runtime {swift_linkage(ocictl)}", flush=True)
    big, big_n = ("1M", 4) if a.quick else ("64M", 4)
    small, small_n = ("64K", 10) if a.quick else ("64K", 100)
    huge = "16M" if a.quick else "1G"
    sync_tags = 10 if a.quick else 100

    work = tempfile.mkdtemp(prefix="ocibench-")
    r1 = r2 = None
    results = {}
    try:
        r1, r2 = Registry(work, "a"), Registry(work, "b")
        images = os.path.join(work, "images")
        plain = ["--src-tls-verify=false", "--dest-tls-verify=false"]

        def record(case, tool, measurement):
            results.setdefault(case, {}).setdefault(tool, []).append(measurement)

        def step(case, tool, measure):
            """Runs a case when selected; case (i) always runs, since the others copy what it pushed."""
            name = case.split(")")[0].lstrip("(")
            if name in cases or name == "i":
                measurement = measure()
                if name in cases:
                    record(case, tool, measurement)

        for rep in range(reps if cases & {"i", "ii", "iii", "iv", "v"} else 0):
            img_big = os.path.join(images, f"big{rep}")
            img_small = os.path.join(images, f"small{rep}")
            subprocess.run(mk + [str(big_n), big, img_big], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(mk + [str(small_n), small, img_small], check=True, stdout=subprocess.DEVNULL)
            order = [("ocictl", 0), ("skopeo", 1)] if rep % 2 == 0 else [("skopeo", 1), ("ocictl", 0)]
            for tool, _ in order:
                tag = f"{tool}{rep}"
                src = f"{r1.host}/src-{tag}/img:v1"
                if tool == "ocictl":
                    step("(i) push 4 layers from layout", tool, lambda: run([ocictl, "copy", f"ocidir://{img_big}:latest", src]))
                    step("(ii) copy within registry", tool, lambda: run([ocictl, "copy", src, f"{r1.host}/same-{tag}/img:v1"]))
                    step("(iii) copy to other registry", tool, lambda: run([ocictl, "copy", src, f"{r2.host}/other-{tag}/img:v1"]))
                    out = os.path.join(work, f"pull-{tag}")
                    step("(iv) pull to layout", tool, lambda: run([ocictl, "copy", src, f"ocidir://{out}:v1"]))
                    step("(v) push 100 small layers", tool, lambda: run([ocictl, "copy", f"ocidir://{img_small}:latest", f"{r1.host}/small-{tag}/img:v1"]))
                else:
                    step("(i) push 4 layers from layout", tool, lambda: skopeo(*plain, f"oci:{img_big}:latest", f"docker://{src}"))
                    step("(ii) copy within registry", tool, lambda: skopeo(*plain, f"docker://{src}", f"docker://{r1.host}/same-{tag}/img:v1"))
                    step("(iii) copy to other registry", tool, lambda: skopeo(*plain, f"docker://{src}", f"docker://{r2.host}/other-{tag}/img:v1"))
                    out = os.path.join(work, f"pull-{tag}")
                    step("(iv) pull to layout", tool, lambda: skopeo(*plain, f"docker://{src}", f"oci:{out}:v1"))
                    step("(v) push 100 small layers", tool, lambda: skopeo(*plain, f"oci:{img_small}:latest", f"docker://{r1.host}/small-{tag}/img:v1"))
            shutil.rmtree(img_big, ignore_errors=True)
            shutil.rmtree(img_small, ignore_errors=True)
            for d in os.listdir(work):
                if d.startswith("pull-"):
                    shutil.rmtree(os.path.join(work, d), ignore_errors=True)

        # (vii) and (viii): sync a repository of small images to the other registry, then again (nothing changed).
        if cases & {"vii", "viii"}:
            seed_sync_source(ocictl, work, r1.host, sync_tags)
        for rep in range(reps if cases & {"vii", "viii"} else 0):
            order = ["ocictl", "skopeo"] if rep % 2 == 0 else ["skopeo", "ocictl"]
            for tool in order:
                if tool == "ocictl":
                    config = os.path.join(work, f"sync{rep}.yaml")
                    with open(config, "w") as f:
                        f.write(f"concurrency: 8\nsync:\n  - {{source: {r1.host}/sync/app, destination: {r2.host}/sync-o{rep}/app}}\n")
                    first = run([ocictl, "sync", config])
                    again = run([ocictl, "sync", config])
                else:
                    args = ["--src", "docker", "--dest", "docker", *plain, f"{r1.host}/sync/app", f"{r2.host}/sync-s{rep}"]
                    first = skopeo_sync(*args)
                    again = skopeo_sync(*args)
                if "vii" in cases:
                    record(f"(vii) sync {sync_tags} tags", tool, first)
                if "viii" in cases:
                    record(f"(viii) no-op resync {sync_tags} tags", tool, again)

        # (vi) peak RSS of a single-blob copy, registry to registry, one run each (an uncompressed layer: only the
        # memory matters here, and gzip of 1 GiB would make generation slow).
        if "vi" in cases:
            img_huge = os.path.join(images, "huge")
            subprocess.run([sys.executable, os.path.join(HERE, "mkimage.py"), "--uncompressed", "1", huge, img_huge], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", *plain, f"oci:{img_huge}:latest", f"docker://{r1.host}/huge/img:v1"], check=True)
            shutil.rmtree(img_huge, ignore_errors=True)
        step(f"(vi) {huge} single-blob copy", "ocictl", lambda: run([ocictl, "copy", f"{r1.host}/huge/img:v1", f"{r2.host}/huge-o/img:v1"]))
        step(f"(vi) {huge} single-blob copy", "skopeo", lambda: skopeo(*plain, f"docker://{r1.host}/huge/img:v1", f"docker://{r2.host}/huge-s/img:v1"))

        # (vii) a 200 MiB tree of 2,000 files appended onto a base image and pushed: ocictl against buildah.
        if "ix" in cases and shutil.which("buildah"):
            files, size = (200, 10 * 1024) if a.quick else (2000, 105 * 1024)
            case = f"(ix) append {files * size >> 20} MiB/{files} files"
            img_base = os.path.join(images, "base")
            subprocess.run(mk + ["1", "4M", img_base], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", *plain, f"oci:{img_base}:latest", f"docker://{r1.host}/base/img:v1"], check=True)
            base = f"{r1.host}/base/img:v1"
            for rep in range(reps):
                tree = os.path.join(work, f"tree{rep}")
                make_tree(tree, files, size)
                order = ["ocictl", "buildah"] if rep % 2 == 0 else ["buildah", "ocictl"]
                for tool in order:
                    dst = f"{r1.host}/append-{tool}{rep}/img:v1"
                    if tool == "ocictl":
                        record(case, tool, run([ocictl, "image", "append", base, dst, "--layer", f"{tree}:/data", "-q"]))
                    else:
                        record(case, tool, buildah_append(work, base, tree, dst))
                shutil.rmtree(tree, ignore_errors=True)
        elif "ix" in cases:
            print("bench: buildah is not installed; case (ix) left out (scripts/install-deps.sh installs it)", file=sys.stderr)
    finally:
        for r in (r1, r2):
            if r:
                r.stop()
        shutil.rmtree(work, ignore_errors=True)

    report(results)


def report(results):
    print(f"{'case':34} {'ocictl s':>9} {'other s':>9} {'ratio':>7} {'ocictl MiB':>11} {'other MiB':>11}  other")
    for case, tools in results.items():
        other = next(t for t in tools if t != "ocictl")
        o = statistics.median(w for w, _ in tools["ocictl"])
        s = statistics.median(w for w, _ in tools[other])
        om = max(m for _, m in tools["ocictl"])
        sm = max(m for _, m in tools[other])
        print(f"{case:34} {o:9.3f} {s:9.3f} {o / s:7.2f} {om:11.1f} {sm:11.1f}  {other}")


if __name__ == "__main__":
    main()
