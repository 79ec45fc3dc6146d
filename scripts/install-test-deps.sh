#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine. Idempotent and quiet: packages already
# present are not fetched again.
#   python3-grpcio, python3-protobuf  an independent gRPC implementation for the interop tests
#   bazel-bootstrap-source            upstream REAPI / googleapis .proto files the descriptor test compares with
#   bazel-bootstrap                   Debian's Bazel 4.2.3, the real client the remote-cache integration test builds with
#   patch                             plants the Raft mutations (tests/RaftHead.Consensus.Tests/Mutations)
set -euo pipefail

packages=(python3-grpcio python3-protobuf bazel-bootstrap-source bazel-bootstrap patch)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-test-deps: apt-get failed" >&2
  exit 1
fi
