#!/usr/bin/env bash
# The operator against the fake API server with 1, 100 and 1000 Ensembles: convergence time,
# peak RSS (with glibc's malloc defaults and with the image's settings), API requests per
# Ensemble (first reconcile, and at rest), reconcile duration and write latency; side by side
# with the floor (a plain client sending the same writes at the same concurrency to the same
# fake), pravega's zookeeper-operator (shared/design/anchors.md), and the machine's load.
# Usage: scripts/bench-operator.sh [SIZES] [STEADY_SECONDS] [bench_operator.py options,
#        e.g. --operator-args '--workers 8' --malloc image --skip-floor]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-1,100,1000}"
steady="${2:-60}"
venv="$PWD/.venv-test"
python="python3"
[ -x "$venv/bin/python3" ] && python="$venv/bin/python3"
echo "== building the release operator (static Swift runtime, as the image ships it) and zkctl"
nice swift build -c release --static-swift-stdlib --scratch-path .build-static --product ensemble-operator >/dev/null
nice swift build -c release --static-swift-stdlib --scratch-path .build-static --product zkctl >/dev/null
echo "== machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg) (figures are only final on an idle machine)"
"$python" scripts/bench_operator.py --binary "$PWD/.build-static/release/ensemble-operator" --zkctl "$PWD/.build-static/release/zkctl" \
  --sizes "$sizes" --steady-seconds "$steady" "${@:3}"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
