#!/usr/bin/env bash
# Sequential create+get round trips per second: our Swift client (zkctl bench) versus kazoo,
# against the same local 3-member ensemble, in one run.
#
#   scripts/bench-client.sh [COUNT]        starts a private ensemble on 127.0.61.1-3
#   MEMBERS=h:p,h:p scripts/bench-client.sh  uses an ensemble that is already running
#   ZKCTL=path/to/zkctl                      skips building zkctl (release build by default)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-2000}"
SCRATCH="${SCRATCH:-.build-bench}"

if [[ -z "${ZKCTL:-}" ]]; then
  swift build -c release --product zkctl --scratch-path "$SCRATCH" >&2
  ZKCTL="$SCRATCH/release/zkctl"
fi
python3 -c 'import kazoo' 2>/dev/null || { echo "kazoo is missing: pip install kazoo" >&2; exit 1; }

STATE=""
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n "$STATE" ]] && rm -rf "$STATE"
}
trap cleanup EXIT

if [[ -z "${MEMBERS:-}" ]]; then
  BLOCK=127.0.61
  STATE="$(mktemp -d /tmp/zk-bench.XXXXXX)"
  for id in 1 2 3; do
    dir="$STATE/m$id"; mkdir -p "$dir/data"; echo "$id" > "$dir/data/myid"
    {
      echo "tickTime=2000"; echo "initLimit=10"; echo "syncLimit=5"
      echo "dataDir=$dir/data"; echo "clientPort=2181"; echo "4lw.commands.whitelist=srvr"
      echo "quorumListenOnAllIPs=false"; echo "reconfigEnabled=true"; echo "standaloneEnabled=false"
      echo "admin.enableServer=false"
      # The clients are what is measured: without this each create waits for an fsync of the
      # transaction log, and disk noise swamps the difference between them.
      echo "forceSync=no"
      for peer in 1 2 3; do echo "server.$peer=$BLOCK.$peer:2888:3888:participant;$BLOCK.$peer:2181"; done
    } > "$dir/zoo.cfg"
    java -Xmx256m -Dzookeeper.log.dir="$dir" -cp /usr/share/java/zookeeper.jar:/etc/zookeeper/conf \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" > "$dir/out.log" 2>&1 &
    PIDS+=($!)
  done
  MEMBERS="$BLOCK.1:2181,$BLOCK.2:2181,$BLOCK.3:2181"
  echo "waiting for the ensemble on $BLOCK.1-3 ..." >&2
  for _ in $(seq 1 120); do
    serving=0
    for id in 1 2 3; do
      if echo srvr | nc -w 2 "$BLOCK.$id" 2181 2>/dev/null | grep -Eq 'Mode: (leader|follower)'; then serving=$((serving+1)); fi
    done
    [[ $serving -eq 3 ]] && break
    sleep 0.5
  done
  [[ $serving -eq 3 ]] || { echo "ensemble did not form; logs in $STATE" >&2; trap - EXIT; exit 1; }
fi

# Both clients talk to the first member only, so the figures compare like with like.
# ROUNDS rounds, alternating which client goes first; every round is printed, then medians.
FIRST="${MEMBERS%%,*}"
ROUNDS="${ROUNDS:-3}"
KAZOO_BENCH="$(mktemp /tmp/kazoo-bench.XXXXXX.py)"
cat > "$KAZOO_BENCH" <<'PY'
import sys, time, random
from kazoo.client import KazooClient
hosts, count = sys.argv[1], int(sys.argv[2])
zk = KazooClient(hosts=hosts, timeout=10)
zk.start(timeout=20)
def run(n):
    base = "/kazoo-bench-%d" % random.getrandbits(63)
    zk.create(base)
    payload = b"a" * 32
    start = time.monotonic()
    for i in range(n):
        path = "%s/n%d" % (base, i)
        zk.create(path, payload)
        data, _ = zk.get(path)
        assert data == payload
    elapsed = time.monotonic() - start
    for i in range(n):
        zk.delete("%s/n%d" % (base, i))
    zk.delete(base)
    return elapsed
run(200)
elapsed = run(count)
print("kazoo  %d create+get in %.3f s: %.0f create+get pairs/s" % (count, elapsed, count / elapsed))
zk.stop()
PY
echo "sequential create+get pairs against $FIRST, $COUNT each, $ROUNDS rounds (warm-up runs excluded)"
"$ZKCTL" bench --members "$FIRST" --count 200 > /dev/null
results=()
for round in $(seq 1 "$ROUNDS"); do
  if (( round % 2 )); then order="swift kazoo"; else order="kazoo swift"; fi
  for client in $order; do
    if [[ $client == swift ]]; then line="$("$ZKCTL" bench --members "$FIRST" --count "$COUNT")"
    else line="$(python3 "$KAZOO_BENCH" "$FIRST" "$COUNT")"; fi
    echo "round $round: $line"
    results+=("$line")
  done
done
rm -f "$KAZOO_BENCH"
printf '%s\n' "${results[@]}" | python3 -c '
import re, statistics, sys
rates = {}
for line in sys.stdin:
    m = re.match(r"(\w+)\s.*: (\d+) create\+get pairs/s", line.strip())
    if m: rates.setdefault(m.group(1), []).append(int(m.group(2)))
for name, values in rates.items():
    print("median %-6s %d create+get pairs/s over %d rounds" % (name, statistics.median(values), len(values)))
if {"swift", "kazoo"} <= rates.keys():
    print("swift / kazoo: %.2fx" % (statistics.median(rates["swift"]) / statistics.median(rates["kazoo"])))
'
