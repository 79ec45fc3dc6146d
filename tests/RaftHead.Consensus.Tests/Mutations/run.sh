#!/usr/bin/env bash
# Plants each known Raft bug (one *.patch here per bug) in a scratch copy of the working tree, builds it, runs the
# seeded simulator over seeds in order until the first failure, and prints one table row per mutation. Seed s runs
# the random fault schedule, below FIGURE8_SEEDS the Figure 8 script and below SOLE_VOTER_SEEDS the one-voter run,
# as CI does.
#
#   tests/RaftHead.Consensus.Tests/Mutations/run.sh                      # every mutation, up to 2000 seeds each
#   tests/RaftHead.Consensus.Tests/Mutations/run.sh 03-send-before-sync  # one mutation (name or patch path)
#   SEEDS=500 FIGURE8_SEEDS=50 .../run.sh                                 # other seed bounds (CI: 2000, 100, 300)
#   BASELINE=1 tests/RaftHead.Consensus.Tests/Mutations/run.sh           # also run the unmodified code first
#   STRICT=1 tests/RaftHead.Consensus.Tests/Mutations/run.sh             # exit 1 unless every mutation is caught
#                                                                         # (CI; those named in EQUIVALENT excepted)
#
# The working tree itself is never modified. Each mutation costs one incremental build (~40 s on 2 cores) plus
# the seeds until it is caught (the CI seed count of the in-memory run is the bound).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
seeds=${SEEDS:-2000}
figure8=${FIGURE8_SEEDS:-100}
sole_voter=${SOLE_VOTER_SEEDS:-300}

patches=()
if [ $# -eq 0 ]; then
  for p in "$here"/*.patch; do patches+=("$p"); done
else
  for arg in "$@"; do
    if [ -f "$arg" ]; then patches+=("$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")")
    elif [ -f "$here/$arg.patch" ]; then patches+=("$here/$arg.patch")
    else echo "no such mutation: $arg" >&2; exit 2
    fi
  done
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/raft-mutations-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# Tracked and untracked (not ignored) files of the working tree, so uncommitted changes are measured too.
(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null --ignore-failed-read -cf - -T - 2>/dev/null) | tar -xf - -C "$scratch"
project="$scratch/tests/RaftHead.Consensus.Tests"
dll="$project/bin/Release/net10.0/RaftHead.Consensus.Tests.dll"

hunt() { # name -> prints a table row
  local name=$1 log="$scratch/$1.log" start end
  start=$(date +%s)
  if ! dotnet build "$project" -c Release -nologo -v q > "$log.build" 2>&1; then
    echo "| $name | build failed | - | - | - | $(grep -m1 -o 'error [A-Z]*[0-9]*:.*' "$log.build" | cut -c1-100) |"
    return
  fi
  timeout 900 dotnet "$dll" sim-hunt --seeds "$seeds" --figure8-seeds "$figure8" --sole-voter-seeds "$sole_voter" > "$log" 2>&1 || true
  end=$(date +%s)
  local summary caught seed run what
  summary=$(head -n1 "$log")
  caught=$(sed -n 's/.*caught=\([a-z]*\).*/\1/p' <<< "$summary")
  seed=$(sed -n 's/.*first_failing_seed=\([^ ]*\).*/\1/p' <<< "$summary")
  run=$(sed -n 's/.*seeds_run=\([^ ]*\).*/\1/p' <<< "$summary")
  what=$(sed -n '2p' "$log" | sed 's/^seed [0-9]*: //; s/|/\//g' | cut -c1-110)
  echo "| $name | ${caught:-error} | ${seed:--} | ${run:--} | $((end - start)) s | ${what} |"
  last_caught=${caught:-error}
}

# Mutants shown to be unobservable under this driver (README: why); reported, never required.
equivalent=$(grep -v '^#' "$here/EQUIVALENT" 2>/dev/null || true)
missed=()
last_caught=

echo "simulator seeds bound: $seeds random + $figure8 Figure 8 + $sole_voter one-voter (in-memory disk), $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$repo" rev-parse --short HEAD)"
echo
echo "| mutation | caught | first failing seed | seeds run | time (build + run) | first violation |"
echo "| --- | --- | --- | --- | --- | --- |"
if [ "${BASELINE:-0}" = 1 ]; then
  hunt "(none: baseline)"
  if [ "$last_caught" != no ]; then missed+=("baseline fails"); fi
fi
for p in "${patches[@]}"; do
  name=$(basename "$p" .patch)
  if ! patch -s -p1 -d "$scratch" < "$p"; then
    echo "| $name | patch does not apply | - | - | - | - |"
    missed+=("$name (does not apply)")
    continue
  fi
  hunt "$name"
  if [ "$last_caught" != yes ] && ! grep -qx "$name" <<< "$equivalent"; then missed+=("$name"); fi
  patch -s -R -p1 -d "$scratch" < "$p"
done

if [ ${#missed[@]} -gt 0 ]; then
  echo
  echo "not caught: ${missed[*]}"
  if [ "${STRICT:-0}" = 1 ]; then exit 1; fi
fi
