#!/usr/bin/env bash
# Our three-node Raft cluster (fsync on, KV state machine) next to a three-member etcd and three DotNext nodes
# (bench/compare/DotNextNode; --no-dotnext leaves them out), all on 127.0.0.1, in one run:
# committed writes/s and p50/p99 latency at 1/16/64/256 writers with 100 B and 1 KiB values, then 20 leader kills
# per system. Prints a markdown report (also written to $OUT). Bounded: about 10 minutes; hard stop at 15.
#
#   bench/compare/run.sh [extra runner options, e.g. --seconds 3 --failover-rounds 5 --no-extra-failover]
#   OUT=/tmp/report.md bench/compare/run.sh      # where the markdown goes (default bench/compare/last-run.md)
#
# Needs: dotnet (global.json), etcd on the PATH (Debian: apt-get install -y etcd-server etcd-client).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
artifacts="${COMPARE_ARTIFACTS:-$here/.artifacts}"   # all build output of this script goes here (bin/ and obj/ are git-ignored)
out="${OUT:-$here/last-run.md}"
etcd_bin="${ETCD:-$(command -v etcd || true)}"

if [[ -z "$etcd_bin" ]]; then
  echo "etcd not found: apt-get install -y etcd-server etcd-client (or set ETCD=/path/to/etcd)" >&2
  exit 2
fi

cd "$repo"
echo "building into $artifacts ..." >&2
dotnet build tests/RaftHead.Consensus.Tests/RaftHead.Consensus.Tests.csproj -c Release --artifacts-path "$artifacts" -nologo -v quiet >&2
dotnet build bench/compare/RaftHead.Compare/RaftHead.Compare.csproj -c Release --artifacts-path "$artifacts" -nologo -v quiet >&2
dotnet build bench/compare/DotNextNode/DotNextNode.csproj -c Release --artifacts-path "$artifacts" -nologo -v quiet >&2

node_dll="$artifacts/bin/RaftHead.Consensus.Tests/release/RaftHead.Consensus.Tests.dll"
runner_dll="$artifacts/bin/RaftHead.Compare/release/RaftHead.Compare.dll"
dotnext_dll="$artifacts/bin/DotNextNode/release/DotNextNode.dll"
pid_file="$(mktemp -t rafthead-compare-pids.XXXXXX)"

# Backstop if the runner itself dies: kill (by PID) any child it listed that is still one of ours.
cleanup() {
  while read -r pid; do
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || continue
    if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -e 'rafthead-compare' -e 'RaftHead.Consensus.Tests.dll raft-node' -e 'DotNextNode.dll'; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done < "$pid_file"
  rm -f "$pid_file"
}
trap cleanup EXIT

export COMPARE_COMMAND="bench/compare/run.sh${*:+ $*}"
timeout --kill-after=30 900 dotnet "$runner_dll" \
  --node-dll "$node_dll" --dotnext-dll "$dotnext_dll" --etcd "$etcd_bin" --pid-file "$pid_file" --out "$out" --max-minutes 14 "$@"
echo "report written to $out" >&2
