#!/usr/bin/env bash
# Probe cost on a real ZooKeeper: `ensemble-probe zk-live` (release, fully static binary)
# versus the tutorial's shell probe `sh -c 'echo ruok | nc HOST 2181'`, side by side in one
# run, N invocations each (interleaved, so both see the same machine load).
# Prints median and p95 of wall time and CPU time (user+sys of the probe process and its
# children, from wait4's rusage) per invocation, the speed-up, and the binary size.
#
# Not part of the test suite. Starts its own standalone ZooKeeper on a private loopback
# address (BENCH_HOST, default 127.0.77.1, so it cannot collide with local ensembles on
# 127.0.0.N) and stops it on exit.
#
# Usage: scripts/bench-probe.sh [N]   (N >= 50, default 100)
# Env:   BENCH_HOST, BENCH_PORT (2181), SCRATCH (.build-bench), NO_BUILD=1 to reuse a build,
#        ZK_CLASSPATH (/usr/share/java/zookeeper.jar:/etc/zookeeper/conf)
set -euo pipefail

N=${1:-100}
if (( N < 50 )); then echo "N must be at least 50" >&2; exit 2; fi
HOST=${BENCH_HOST:-127.0.77.1}
PORT=${BENCH_PORT:-2181}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${SCRATCH:-$ROOT/.build-bench}
CLASSPATH_ZK=${ZK_CLASSPATH:-/usr/share/java/zookeeper.jar:/etc/zookeeper/conf}
STATE=$(mktemp -d /tmp/bench-probe.XXXXXX)
ZK_PID=""

cleanup() {
    if [[ -n "$ZK_PID" ]] && kill -0 "$ZK_PID" 2>/dev/null; then
        kill "$ZK_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$ZK_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$ZK_PID" 2>/dev/null || true
    fi
    rm -rf "$STATE"
}
trap cleanup EXIT INT TERM

command -v nc >/dev/null || { echo "nc (netcat-openbsd) is required" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required for the rusage helper" >&2; exit 1; }

if [[ "${NO_BUILD:-0}" != 1 ]]; then
    echo "building ensemble-probe (release, --static-swift-stdlib -Xswiftc -static-executable -Xlinker -s) ..." >&2
    (cd "$ROOT" && swift build -c release --product ensemble-probe --static-swift-stdlib -Xswiftc -static-executable -Xlinker -s --scratch-path "$SCRATCH" >&2)
fi
BUILT="$SCRATCH/release/ensemble-probe"
[[ -x "$BUILT" ]] || { echo "no binary at $BUILT" >&2; exit 1; }
PROBE="$STATE/ensemble-probe"
cp "$BUILT" "$PROBE"
strip "$PROBE"

mkdir -p "$STATE/data"
cat > "$STATE/zoo.cfg" <<CFG
tickTime=2000
dataDir=$STATE/data
clientPort=$PORT
clientPortAddress=$HOST
4lw.commands.whitelist=ruok,srvr,mntr
admin.enableServer=false
CFG
java -Dzookeeper.log.dir="$STATE" -cp "$CLASSPATH_ZK" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$STATE/zoo.cfg" >"$STATE/zookeeper.out" 2>&1 &
ZK_PID=$!

# Wait (bounded) until it answers.
for i in $(seq 300); do
    if [[ "$(echo ruok | nc -N -w 1 "$HOST" "$PORT" 2>/dev/null)" == imok ]]; then break; fi
    if ! kill -0 "$ZK_PID" 2>/dev/null; then echo "ZooKeeper exited:" >&2; tail -20 "$STATE/zookeeper.out" >&2; exit 1; fi
    if (( i == 300 )); then echo "ZooKeeper did not answer within 30 s" >&2; exit 1; fi
    sleep 0.1
done

python3 - "$N" "$PROBE" "$BUILT" "$HOST" "$PORT" <<'PY'
import os, sys, time

n, probe, built, host, port = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
# The tutorial's probe exactly as written, and the same with -N (close on stdin EOF),
# which some images need for nc to return at all.
candidates = {
    "ensemble-probe zk-live": [probe, "zk-live", "--host", host, "--port", port],
    "sh -c 'echo ruok | nc'": ["/bin/sh", "-c", f"echo ruok | nc {host} {port}"],
    "sh -c 'echo ruok | nc -N'": ["/bin/sh", "-c", f"echo ruok | nc -N {host} {port}"],
}
expect = {"ensemble-probe zk-live": None, "sh -c 'echo ruok | nc'": b"imok", "sh -c 'echo ruok | nc -N'": b"imok"}

def once(argv):
    # posix_spawn (vfork+exec): a fork of this Python process would bill its page-table
    # copy to the child and drown the difference being measured.
    r, w = os.pipe()
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_DUP2, w, 2),
                                       (os.POSIX_SPAWN_CLOSE, r)])
    os.close(w)
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - start) / 1e6
    cpu = (usage.ru_utime + usage.ru_stime) * 1e3
    return os.waitstatus_to_exitcode(status), out, wall, cpu

for argv in candidates.values():      # warm page cache and ZooKeeper's accept path
    for _ in range(5): once(argv)

samples = {name: ([], []) for name in candidates}
failures = {name: 0 for name in candidates}
for _ in range(n):
    for name, argv in candidates.items():
        code, out, wall, cpu = once(argv)
        if code != 0 or (expect[name] is not None and out.strip() != expect[name]):
            failures[name] += 1
        samples[name][0].append(wall)
        samples[name][1].append(cpu)

def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)

print(f"{n} invocations each against ZooKeeper on {host}:{port} (interleaved)")
print(f"{'probe':28} {'wall median':>12} {'wall p95':>10} {'cpu median':>11} {'cpu p95':>9} {'failed':>7}")
stats = {}
for name, (walls, cpus) in samples.items():
    stats[name] = (pct(walls, .5), pct(walls, .95), pct(cpus, .5), pct(cpus, .95))
    w50, w95, c50, c95 = stats[name]
    print(f"{name:28} {w50:9.2f} ms {w95:7.2f} ms {c50:8.2f} ms {c95:6.2f} ms {failures[name]:7d}")
a = stats["ensemble-probe zk-live"]
for shell in ("sh -c 'echo ruok | nc'", "sh -c 'echo ruok | nc -N'"):
    b = stats[shell]
    print(f"speed-up ({shell} / ensemble-probe): wall median {b[0]/a[0]:.1f}x, p95 {b[1]/a[1]:.1f}x; "
          f"cpu median {b[2]/max(a[2], 1e-3):.1f}x")

# Floors on this machine: what any exec costs, and the probe's own start-up (--help does
# no network I/O). The shell probe pays the exec floor twice (sh, nc) plus a pipe.
for label, argv in (("/bin/true (exec floor)", ["/bin/true"]), ("ensemble-probe --help (start-up)", [probe, "--help"])):
    runs = [once(argv) for _ in range(n)]
    walls, cpus = [r[2] for r in runs], [r[3] for r in runs]
    print(f"{label:34} wall median {pct(walls, .5):.2f} ms, p95 {pct(walls, .95):.2f} ms; "
          f"cpu median {pct(cpus, .5):.2f} ms")
print(f"binary size: {os.path.getsize(built)/1e6:.2f} MB as built, "
      f"{os.path.getsize(probe)/1e6:.2f} MB after strip (target < 12 MB)")
sys.exit(1 if any(failures.values()) else 0)
PY
