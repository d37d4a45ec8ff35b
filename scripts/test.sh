#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need on a fresh
# Debian machine, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Real ZooKeeper servers (the Debian package) and netcat for the probe benchmark.
missing=()
[ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
command -v nc >/dev/null 2>&1 || missing+=(netcat-openbsd)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubernetes-validate (manifests against the real Kubernetes schemas), kazoo (an independent
# ZooKeeper client), cel-python (evaluates the CRD's CEL rules).
echo "== installing Python test tools"
python3 -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt 2>&1 | grep -v "Running pip as the 'root' user" || true
python3 -c "import kazoo, celpy, kubernetes_validate" 

echo "== building"
swift build --build-tests
echo "== testing"
# One test at a time: several suites start real ZooKeeper ensembles and check that failures
# are detected within bounded times; on 2 cores, parallel suites starve each other's
# threads and turn those bounds into noise. The whole suite still runs in about 2 minutes.
swift test --skip-build --no-parallel "$@"
