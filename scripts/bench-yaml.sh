#!/usr/bin/env bash
# Cost of loading YAML with `zkctl validate -f`: wall time and peak RSS (wait4's rusage of
# the zkctl process) for
#   bomb     the 20-line "billion laughs" Ensemble (nine anchors of nine aliases each),
#   honest   a 1 MiB Ensemble (256 annotations of 2 KiB, 20,000 nodeAffinity values),
#   anchors  an Ensemble with 1000 anchors, each used twice,
# N runs each, interleaved so every file sees the same machine load; prints the median time
# and the largest peak RSS. With BASELINE_ZKCTL=path (e.g. main's build), runs that binary
# side by side, each run bounded by 10 s and 2 GiB of address space (a baseline that hangs
# is reported as killed, with the memory it had reached).
#
# Not part of the test suite. Prints the load average: figures from a busy machine are not final.
#
# Usage: scripts/bench-yaml.sh [N]   (default 5)
# Env:   SCRATCH (.build-bench), NO_BUILD=1 to reuse a build, BASELINE_ZKCTL
set -euo pipefail

N=${1:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${SCRATCH:-$ROOT/.build-bench}
WORK=$(mktemp -d /tmp/bench-yaml.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM

source "$ROOT/scripts/release-zkctl.sh"

python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
head = "apiVersion: ensemble.dev/v1alpha1\nkind: Ensemble\nmetadata:\n  name: zk\n"
with open(f"{work}/bomb.yaml", "w") as f:
    f.write(head + "spec:\n  engine: ZooKeeper\n  scheduling:\n    nodeAffinity:\n")
    f.write('      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n')
    for prev, name in zip("abcdefgh", "bcdefghi"):
        f.write(f"      {name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n")
with open(f"{work}/honest.yaml", "w") as f:
    f.write(head + "  annotations:\n")
    for i in range(256):
        f.write(f"    example.com/note-{i}: \"" + ("n" * 2048) + "\"\n")
    f.write("spec:\n  engine: ZooKeeper\n  scheduling:\n    nodeAffinity:\n")
    f.write("      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n")
    f.write("        - matchExpressions:\n          - key: example.com/rack\n            operator: In\n            values:\n")
    for i in range(20000):
        f.write(f"            - rack-{i:06d}\n")
with open(f"{work}/anchors.yaml", "w") as f:
    f.write(head + "spec:\n  engine: ZooKeeper\n  scheduling:\n    nodeAffinity:\n      defs:\n")
    for i in range(1000):
        f.write(f"      - &z{i} {{key: zone, operator: In, values: [z{i}a, z{i}b]}}\n")
    f.write("      uses:\n")
    for i in range(1000):
        f.write(f"      - [*z{i}, *z{(i + 1) % 1000}]\n")
PY

echo "load: $(uptime | sed 's/.*load average: //') on $(nproc) cores"
for file in bomb honest anchors; do
    printf '%-8s %9s  %s\n' "$file" "$(wc -c < "$WORK/$file.yaml") B" "$(wc -l < "$WORK/$file.yaml") lines"
done

python3 - "$N" "$ZKCTL" "${BASELINE_ZKCTL:-}" "$WORK" <<'PY'
import os, resource, signal, statistics, subprocess, sys, time
n, ours, baseline, work = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
binaries = [("ours", ours)] + ([("baseline", baseline)] if baseline else [])
files = ["bomb", "honest", "anchors"]
results = {(b, f): [] for b, _ in binaries for f in files}

def cap():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

def run(binary, path):
    start = time.monotonic()
    child = subprocess.Popen([binary, "validate", "-f", path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, preexec_fn=cap)
    killed = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid == child.pid:
            break
        if time.monotonic() - start > 10:
            child.kill()
            pid, status, usage = os.wait4(child.pid, 0)
            killed = True
            break
        time.sleep(0.005)
    seconds = time.monotonic() - start
    err = child.stderr.read().decode(errors="replace").replace(work + "/", "").strip().splitlines()
    code = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, killed, code, (err[-1] if err else "")

for _ in range(n):
    for f in files:
        for name, binary in binaries:
            results[(name, f)].append(run(binary, f"{work}/{f}.yaml"))

print(f"\n{'file':8} {'binary':9} {'median s':>9} {'peak RSS MiB':>13}  outcome (last run)")
for f in files:
    for name, _ in binaries:
        runs = results[(name, f)]
        median = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        last = runs[-1]
        outcome = "killed after 10 s" if last[2] else f"exit {last[3]}: {last[4][:90]}"
        print(f"{f:8} {name:9} {median:9.3f} {rss:13.1f}  {outcome}")
PY
