#!/usr/bin/env bash
# The README's main job: a real ZooKeeper ensemble on this machine from an Ensemble resource
# (zkctl local up). Installs the Debian zookeeper package first when it is missing.
# Usage: scripts/run-local.sh [FILE] [zkctl local up options]   (FILE defaults to examples/zookeeper-3.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
file=${1:-examples/zookeeper-3.yaml}
shift || true
if [ ! -f /usr/share/java/zookeeper.jar ] && [ -z "${ZOOKEEPER_HOME:-}" ]; then
  echo "== installing the Debian package zookeeper"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo=sudo; fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zookeeper >/dev/null
fi
swift build --product zkctl
exec .build/debug/zkctl local up -f "$file" "$@"
