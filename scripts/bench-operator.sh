#!/usr/bin/env bash
# The operator against the fake API server with 1, 100 and 1000 Ensembles: convergence time,
# peak RSS, API requests per Ensemble (first reconcile, and per minute at rest), reconcile
# duration; side by side with pravega's zookeeper-operator (shared/design/anchors.md) and the
# floor (the fake server's own write rate). Usage: scripts/bench-operator.sh [SIZES] [STEADY_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-1,100,1000}"
steady="${2:-60}"
venv="$PWD/.venv-test"
python="python3"
[ -x "$venv/bin/python3" ] && python="$venv/bin/python3"
echo "== building the release operator"
nice swift build -c release --product ensemble-operator >/dev/null
echo "== machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg) (figures are only final on an idle machine)"
"$python" scripts/bench_operator.py --binary "$PWD/.build/release/ensemble-operator" --sizes "$sizes" --steady-seconds "$steady"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
