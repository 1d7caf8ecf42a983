#!/usr/bin/env python3
"""Profiles ocictl on benchmark cases (iii) copy to another registry, (iv) pull to a layout and (v) push 100 small
layers: with perf (cpu-clock samples), callgrind (instruction counts, repeatable on a noisy machine, where valgrind
can read the binary: valgrind 3.19 cannot read Swift 6.3's), or none (the default: wall, user and system CPU and
peak RSS of each run).

usage: bench/profile.py [--ocictl PATH] [--tool callgrind|perf|none] [--cases iii,iv,v] [--size 64M] [--out DIR]
Starts two distribution registries on free loopback ports, builds the same gzip-layer images as bench.py, and for
each case runs ocictl once under the tool. Prints, per case, the instructions executed (callgrind) and the
instructions per byte moved, with the output files' paths for callgrind_annotate / perf report. With --tool none it
prints each run's wall time, user and system CPU seconds, and peak RSS instead.
"""
import argparse, os, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import Registry, machine_info  # noqa: E402


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def profiled(tool, out, name, cmd):
    if tool == "callgrind":
        path = os.path.join(out, f"callgrind.{name}")
        return ["valgrind", "--tool=callgrind", "--trace-children=no", f"--callgrind-out-file={path}", *cmd], path
    if tool == "perf":
        path = os.path.join(out, f"perf.{name}.data")
        return ["perf", "record", "-e", "cpu-clock", "-F", "2000", "-g", "-o", path, "--", *cmd], path
    return cmd, None


def total_instructions(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ocictl", default=os.path.join(HERE, "..", ".build", "release", "ocictl"))
    ap.add_argument("--tool", default="none", choices=["callgrind", "perf", "none"])
    ap.add_argument("--cases", default="iii,iv,v")
    ap.add_argument("--size", default="64M", help="size of each of the 4 big layers")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    cases = a.cases.split(",")
    out = a.out or tempfile.mkdtemp(prefix="ociprofile-")
    os.makedirs(out, exist_ok=True)
    print(machine_info(), flush=True)
    work = tempfile.mkdtemp(prefix="ociprofile-work-")
    r1 = r2 = None
    try:
        r1, r2 = Registry(work, "a"), Registry(work, "b")
        big, small = os.path.join(work, "big"), os.path.join(work, "small")
        mk = [sys.executable, os.path.join(HERE, "mkimage.py")]
        subprocess.run(mk + ["4", a.size, big], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(mk + ["100", "64K", small], check=True, stdout=subprocess.DEVNULL)
        src = f"{r1.host}/src/img:v1"
        quiet = {"stdout": subprocess.DEVNULL, "check": True}
        subprocess.run([a.ocictl, "copy", f"ocidir://{big}:latest", src], **quiet)
        moved = {"iii": 4 * parse_size(a.size), "iv": 4 * parse_size(a.size), "v": 100 * (64 << 10)}
        commands = {
            "iii": [a.ocictl, "copy", "-q", src, f"{r2.host}/other/img:v1"],
            "iv": [a.ocictl, "copy", "-q", src, f"ocidir://{work}/pulled:v1"],
            "v": [a.ocictl, "copy", "-q", f"ocidir://{small}:latest", f"{r1.host}/small/img:v1"],
        }
        for case in cases:
            cmd, path = profiled(a.tool, out, case, commands[case])
            start = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - start
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"profile: {' '.join(cmd)} failed")
            if a.tool == "callgrind":
                total = total_instructions(path)
                print(f"({case}) {total:,} instructions, {total / moved[case]:.2f} per byte moved  {path}")
            elif a.tool == "perf":
                print(f"({case}) perf report -i {path} --no-children --sort symbol")
            else:
                print(f"({case}) wall {wall:.3f} s, user {usage.ru_utime:.3f} s, sys {usage.ru_stime:.3f} s, "
                      f"peak RSS {usage.ru_maxrss / 1024:.1f} MiB")
            shutil.rmtree(os.path.join(work, "pulled"), ignore_errors=True)
    finally:
        for r in (r1, r2):
            if r:
                r.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
