#!/usr/bin/env bash
# Scaling a real local ensemble 3 -> 5 -> 3, ROUNDS times, each step with
# `zkctl local scale --measure -o json`: a writer of unique sequence numbers at 50 writes/s
# through our client while the membership changes one member at a time. Prints, per step,
# the time taken (and per member changed), the longest write gap, failed writes and
# acknowledged writes missing when read back (lost), then medians. Members removed by a
# scale-down keep their files (reclaim policy Retain), so every 3 -> 5 after the first also
# deletes the stale files of members 4 and 5 before they start again.
#
# Not part of the test suite. Prints the load average before and after: figures from a busy
# machine are not final.
#
# Usage: scripts/bench-scale.sh [ROUNDS]   (default 3)
# Env:   SCRATCH (.build-bench), NO_BUILD=1 to reuse a build, BLOCK (127.0.64)
set -euo pipefail

ROUNDS=${1:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${SCRATCH:-$ROOT/.build-bench}
BLOCK=${BLOCK:-127.0.64}
WORK=$(mktemp -d /tmp/bench-scale.XXXXXX)
STATE="$WORK/state"

source "$ROOT/scripts/release-zkctl.sh"

cleanup() {
    "$ZKCTL" local down bench-scale --state-dir "$STATE" --purge >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cat > "$WORK/scale.yaml" <<EOF
apiVersion: ensemble.dev/v1alpha1
kind: Ensemble
metadata:
  name: bench-scale
spec:
  engine: ZooKeeper
  replicas: 3
  zookeeper:
    heapSize: 128m
EOF

echo "== machine: $(nproc) cores; before: $(uptime)"
"$ZKCTL" local up -f "$WORK/scale.yaml" --state-dir "$STATE" --base-address "$BLOCK" --timeout 180 > "$WORK/up.log" 2>&1 \
    || { cat "$WORK/up.log" >&2; exit 1; }
for round in $(seq 1 "$ROUNDS"); do
    for target in 5 3; do
        out="$WORK/$round-$target.json"
        if ! "$ZKCTL" local scale bench-scale --state-dir "$STATE" --replicas "$target" --measure -o json > "$out" 2> "$WORK/scale.log"; then
            echo "round $round: scaling to $target did not finish; its figures are kept" >&2
            tail -3 "$WORK/scale.log" >&2
        fi
        echo "round $round: scaled to $target" >&2
    done
done
echo "== after: $(uptime)"

python3 - "$WORK" "$ROUNDS" <<'PY'
import json, os, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
rows = []
for r in range(1, rounds + 1):
    for frm, to in ((3, 5), (5, 3)):
        with open(os.path.join(work, f"{r}-{to}.json")) as f:
            d = json.load(f)
        m = d.get("measurement") or {}
        w = m.get("writes") or {}
        reconfigs = [s for s in d["steps"] if s["action"] in ("addToConfig", "removeFromConfig")]
        rows.append({"round": r, "step": f"{frm} -> {to}", "result": d["result"], "time": d["seconds"],
                     "per": d["seconds"] / abs(to - frm), "gap": w.get("longestGap"), "failed": w.get("failed"),
                     "lost": None if m.get("readBackError") else len(w.get("lost", [])), "acked": w.get("acknowledged"),
                     "reconfig": max((s.get("seconds") or 0) for s in reconfigs) if reconfigs else None})
print()
print(f"{'round':>5}  {'step':<7} {'result':<7} {'time s':>6} {'per member':>10} {'gap s':>6} {'failed':>6} {'lost':>4} {'acked':>6} {'slowest reconfig s':>18}")
for x in rows:
    f = lambda v, p=2: "-" if v is None else (f"{v:.{p}f}" if isinstance(v, float) else str(v))
    print(f"{x['round']:>5}  {x['step']:<7} {x['result']:<7} {f(x['time'],1):>6} {f(x['per'],1):>10} {f(x['gap']):>6} {f(x['failed']):>6} {f(x['lost']):>4} {f(x['acked']):>6} {f(x['reconfig']):>18}")
print()
for step in ("3 -> 5", "5 -> 3"):
    xs = [x for x in rows if x["step"] == step]
    gaps = [x["gap"] for x in xs if x["gap"] is not None]
    print(f"median {step}: {statistics.median(x['time'] for x in xs):.1f} s ({statistics.median(x['per'] for x in xs):.1f} s per member), "
          f"longest gap median {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s; failed {sum(x['failed'] or 0 for x in xs)}, "
          f"lost {sum(x['lost'] or 0 for x in xs)} over {len(xs)} steps")
print("target (issue 10): zero lost, no write gap above 1 s")
PY
