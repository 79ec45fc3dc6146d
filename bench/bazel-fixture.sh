#!/usr/bin/env bash
# Bazel's build of tests/fixtures/cc-workspace against `rh serve` built from two revisions, side by side in one
# run, with --remote_cache (rh serve) and with --remote_executor (rh serve --exec --slots 2):
#
#   bash bench/bazel-fixture.sh [--rounds N] [--before REV] [--after REV]
#
# Defaults: 3 rounds, before 10b50f3 (the last commit with the hand-written transport, src/RaftHead.Rpc), after
# HEAD. Each round runs, per mode, one session for before and one for after (ABAB... across rounds, so slow drift
# of a shared machine lands on both sides). A session: a fresh rh data directory and a fresh copy of the
# workspace; a cold build (timed), `bazel clean --expunge`, a warm build (timed, must be remote cache hits).
# Progress goes to stderr; the markdown report to stdout. Must run as root (--exec runs actions as rh-runner).
#
# Environment: BUILD_TIMEOUT seconds per bazel build (default 600); KEEP=1 keeps the temp directory.
#
# Only 127.0.0.1 is contacted; every command is bounded in time; processes started here are stopped by PID.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=3
before_rev=10b50f3
after_rev=HEAD
command_line="bash bench/bazel-fixture.sh${*:+ $*}"
build_timeout=${BUILD_TIMEOUT:-600}

usage() {
  echo "usage: bash bench/bazel-fixture.sh [--rounds N] [--before REV] [--after REV]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
    --before) [ $# -ge 2 ] || usage; before_rev=$2; shift 2 ;;
    --after) [ $# -ge 2 ] || usage; after_rev=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "bazel-fixture: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bazel-fixture: --rounds must be a positive integer" >&2; exit 2; }

log() { echo "bazel-fixture: $*" >&2; }
now() { date +%s.%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# --- Prerequisites ---------------------------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  log "must run as root: rh serve --exec runs actions as the rh-runner user"
  exit 1
fi
command -v dotnet >/dev/null || { log "dotnet is not on PATH"; exit 1; }
if ! command -v bazel >/dev/null; then
  log "installing Debian's bazel-bootstrap"
  timeout 900 apt-get install -y bazel-bootstrap >&2 || {
    timeout 300 apt-get update >&2
    timeout 900 apt-get install -y bazel-bootstrap >&2
  }
fi
id -u rh-runner >/dev/null 2>&1 || bash "$repo/scripts/setup-worker.sh" >&2

before_sha=$(git -C "$repo" rev-parse --verify "$before_rev^{commit}")
after_sha=$(git -C "$repo" rev-parse --verify "$after_rev^{commit}")
fixture=$repo/tests/fixtures/cc-workspace
[ -f "$fixture/WORKSPACE" ] || { log "missing $fixture"; exit 1; }

# --- Temp space and cleanup --------------------------------------------------------------------------------------
tmp=$(mktemp -d -t rh-bazel-fixture.XXXXXX)
# rh-runner must be able to reach the sandboxes inside each rh data directory below.
chmod 0755 "$tmp"
broot=$tmp/bazel-root
worktrees=()
rh_pid=
rh_exit=0
session_ws=

bazel_() {
  # No ~/.bazelrc, one output root for the run (Bazel's install base is extracted once), and a Bazel server that
  # goes away by itself if this script dies. TEST_TMPDIR would redirect the output root if set by a caller.
  local dir=$1 limit=$2
  shift 2
  (cd "$dir" && env -u TEST_TMPDIR -u BAZELISK_SKIP_WRAPPER \
    timeout -k 10 "$limit" bazel --nohome_rc --output_user_root="$broot" --max_idle_secs=300 "$@")
}

# Stops the Bazel server of a workspace: `bazel shutdown`, then by the PID it recorded if it outlived that.
stop_bazel() {
  [ -d "$broot" ] || return 0
  bazel_ "$1" 120 shutdown >/dev/null 2>&1 || true
  kill_leftover_bazel
}

kill_leftover_bazel() {
  local f pid
  [ -d "$broot" ] || return 0
  while IFS= read -r f; do
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$broot"; then
      log "bazel server $pid outlived 'bazel shutdown'; killing it"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done < <(find "$broot" -name server.pid.txt 2>/dev/null)
}

# rh serve runs under `timeout`, which puts itself and the server in a process group of its own (its PID).
# SIGTERM goes to the server's own PID: `timeout` would forward a SIGTERM both to the server and to its group,
# so the server would see it twice. If the server has not exited 10 s later, the whole group gets SIGKILL.
stop_server() {
  local server
  [ -n "$rh_pid" ] || return 0
  if kill -0 "$rh_pid" 2>/dev/null; then
    server=$(awk '{ print $1 }' "/proc/$rh_pid/task/$rh_pid/children" 2>/dev/null || true)
    kill -TERM "${server:-$rh_pid}" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$rh_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$rh_pid" 2>/dev/null; then
      log "rh serve (pid $rh_pid) ignored SIGTERM for 10 s; killing it"
      kill -KILL -- "-$rh_pid" 2>/dev/null || kill -KILL "$rh_pid" 2>/dev/null || true
    fi
  fi
  rh_exit=0
  wait "$rh_pid" 2>/dev/null || rh_exit=$?
  rh_pid=
}

remove_worktree() {
  git -C "$repo" worktree remove --force "$1" >/dev/null 2>&1 || rm -rf "$1"
}

cleanup() {
  set +e
  [ -n "$session_ws" ] && stop_bazel "$session_ws"
  stop_server
  kill_leftover_bazel
  for w in "${worktrees[@]}"; do remove_worktree "$w"; done
  git -C "$repo" worktree prune
  if [ "${KEEP:-0}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Build rh for both revisions ------------------------------------------------------------------------------
# A detached worktree per revision, removed as soon as its rh is built: the binaries live outside it.
build_rh() {
  local side=$1 sha=$2 src=$tmp/src-$1 out=$tmp/rh-$1
  log "building rh at $side ${sha:0:10} ($(git -C "$repo" log -1 --format=%s "$sha" | cut -c1-70))"
  worktrees+=("$src")
  git -C "$repo" worktree add --detach "$src" "$sha" >/dev/null 2>"$tmp/worktree-$side.log" || {
    log "git worktree add failed:"
    cat "$tmp/worktree-$side.log" >&2
    exit 1
  }
  # No MSBuild node reuse or shared compiler server: nothing built here may outlive the build.
  if ! timeout -k 10 900 dotnet build -c Release "$src/src/RaftHead.Cli" -o "$out" -nologo -v q \
    -nodeReuse:false -p:UseSharedCompilation=false >"$tmp/build-$side.log" 2>&1; then
    log "dotnet build of $side ($sha) failed; last lines:"
    tail -n 40 "$tmp/build-$side.log" >&2
    exit 1
  fi
  remove_worktree "$src"
  [ -f "$out/rh.dll" ] || { log "no rh.dll in $out"; exit 1; }
}
load_start=$(loadavg)
date_start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_rh before "$before_sha"
build_rh after "$after_sha"

# --- Bazel warm-up ----------------------------------------------------------------------------------------------
# One untimed local build in a throwaway workspace: extracts Bazel's install base into the shared output root and
# brings Bazel's jars, the compiler and the system headers into the page cache, so the first timed session is not
# the only one that pays for them. Every timed build still gets a freshly started Bazel server (see `prestart`).
flags=(--disk_cache= --incompatible_strict_action_env --symlink_prefix=/ --color=no --curses=no)
mkdir -p "$tmp/warmup"
cp -a "$fixture/." "$tmp/warmup/"
log "untimed warm-up build (local, no remote)"
session_ws=$tmp/warmup
if ! bazel_ "$tmp/warmup" "$build_timeout" build "${flags[@]}" //... >"$tmp/warmup.log" 2>&1; then
  log "the warm-up build failed; last lines:"
  tail -n 40 "$tmp/warmup.log" >&2
  exit 1
fi
warmup_base=$(bazel_ "$tmp/warmup" 120 info output_base 2>/dev/null)
stop_bazel "$tmp/warmup"
session_ws=
rm -rf "$warmup_base" "$tmp/warmup"

# --- Sessions ---------------------------------------------------------------------------------------------------
results=$tmp/results.tsv
: >"$results"

summary_line() { grep -E '^INFO: [0-9]+ process(es)?[:.]' "$1" | tail -n 1; }
# Processes of a summary line of one kind ("remote cache hit", "internal", "remote", "linux-sandbox", ...).
count_kind() { grep -oE "[0-9]+ $2[,.]" <<<"$1" | grep -oE '^[0-9]+' | awk '{ s += $1 } END { print s + 0 }'; }
total_of() { sed -nE 's/^INFO: ([0-9]+) process.*/\1/p' <<<"$1"; }

# `bazel clean --expunge` also stops the Bazel server, and a fresh output base starts one: start it untimed, so
# both timed builds measure the build and not the JVM's start.
prestart() {
  bazel_ "$1" 120 info output_base 2>"$run/prestart.log" || {
    log "bazel info failed:"
    cat "$run/prestart.log" >&2
    exit 1
  }
}

# Times one build; sets $elapsed and $summary, fails the run (with both logs) if Bazel fails.
timed_build() {
  local dir=$1 out=$2 name=$3 remote=$4 t0 t1 rc=0
  t0=$(now)
  bazel_ "$dir" "$build_timeout" build "${flags[@]}" "$remote" //... >"$out" 2>&1 || rc=$?
  t1=$(now)
  elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  summary=$(summary_line "$out")
  if [ $rc -ne 0 ] || ! grep -q '^INFO: Build completed successfully' "$out"; then
    log "the $name build failed (exit code $rc) after ${elapsed}s; last lines:"
    grep -v '^\[' "$out" | tail -n 40 >&2
    log "rh serve log (last lines):"
    tail -n 60 "$run/rh-serve.log" >&2
    exit 1
  fi
}

session() {
  local side=$1 mode=$2 round=$3 dll=$tmp/rh-$1/rh.dll port remote serve_extra=() load ws base
  run=$tmp/runs/$side-$mode-$round
  ws=$run/workspace
  mkdir -p "$ws"
  chmod 0755 "$tmp/runs" "$run"
  cp -a "$fixture/." "$ws/"
  [ "$mode" = exec ] && serve_extra=(--exec --slots 2)

  timeout -k 10 3600 dotnet "$dll" serve --host 127.0.0.1 --port 0 --data "$run/rh-data" "${serve_extra[@]}" \
    </dev/null >"$run/rh-serve.log" 2>&1 &
  rh_pid=$!
  for _ in $(seq 600); do
    grep -q '^ready: grpc://' "$run/rh-serve.log" 2>/dev/null && break
    kill -0 "$rh_pid" 2>/dev/null || break
    sleep 0.1
  done
  port=$(sed -nE 's|^ready: grpc://127\.0\.0\.1:([0-9]+).*|\1|p' "$run/rh-serve.log" | head -n 1)
  if [ -z "$port" ]; then
    log "rh serve ($side, $mode) printed no 'ready: grpc://127.0.0.1:PORT' line within 60 s:"
    cat "$run/rh-serve.log" >&2
    exit 1
  fi
  if [ "$mode" = cache ]; then
    remote=--remote_cache=grpc://127.0.0.1:$port
  else
    remote=--remote_executor=grpc://127.0.0.1:$port
  fi

  session_ws=$ws
  load=$(cut -d' ' -f1 /proc/loadavg)
  base=$(prestart "$ws")
  timed_build "$ws" "$run/cold.log" "$side $mode cold" "$remote"
  local cold_s=$elapsed cold_summary=$summary
  bazel_ "$ws" 300 clean --expunge >"$run/clean.log" 2>&1 || { log "bazel clean --expunge failed:"; cat "$run/clean.log" >&2; exit 1; }
  prestart "$ws" >/dev/null
  timed_build "$ws" "$run/warm.log" "$side $mode warm" "$remote"
  local warm_s=$elapsed warm_summary=$summary
  local hits cold_work
  hits=$(count_kind "$warm_summary" "remote cache hit")
  # What the cold build did outside Bazel itself (ran locally, or remotely with --remote_executor): the warm
  # build should find every one of those in the cache.
  cold_work=$(($(total_of "$cold_summary") - $(count_kind "$cold_summary" internal)))
  if [ "$hits" -eq 0 ]; then
    log "the warm build ($side, $mode) had no remote cache hits: $warm_summary"
    log "rh serve log (last lines):"
    tail -n 60 "$run/rh-serve.log" >&2
    exit 1
  fi
  [ "$hits" -eq "$cold_work" ] || log "NOTE: $side $mode round $round: $hits remote cache hits for $cold_work cold processes"

  stop_bazel "$ws"
  session_ws=
  stop_server
  # A server that does not stop cleanly on SIGTERM is a finding in itself, not a reason to drop the timings.
  if [ "$rh_exit" -ne 0 ]; then
    log "NOTE: $side $mode round $round: rh serve exited with code $rh_exit on SIGTERM; its log ends:"
    tail -n 40 "$run/rh-serve.log" | sed 's/^/    /' >&2
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$side" "$round" "$cold_s" "$warm_s" "$hits/$cold_work" \
    "$load" "${cold_summary#INFO: }" "${warm_summary#INFO: }" "$rh_exit" >>"$results"
  log "round $round $mode $side: cold ${cold_s}s, warm ${warm_s}s ($hits/$cold_work hits; load $load)"
  [ -n "$base" ] && rm -rf "$base"
  rm -rf "$run"
}

for round in $(seq "$rounds"); do
  for mode in cache exec; do
    for side in before after; do
      session "$side" "$mode" "$round"
    done
  done
done
load_end=$(loadavg)

# --- Report -------------------------------------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_of() { awk -F'\t' -v m="$1" -v s="$2" -v c="$3" '$1 == m && $2 == s { print $c }' "$results"; }

echo "## Bazel, tests/fixtures/cc-workspace: before vs after"
echo
echo "- command: \`$command_line\` (rounds $rounds)"
echo "- date: $date_start to $(date -u +%Y-%m-%dT%H:%M:%SZ); nproc $(nproc); load average at start $load_start, at end $load_end"
echo "- before: $(git -C "$repo" log -1 --format='%h %s' "$before_sha" | cut -c1-100)"
echo "- after: $(git -C "$repo" log -1 --format='%h %s' "$after_sha" | cut -c1-100)"
echo "- Bazel $(dpkg-query -W -f='${Version}' bazel-bootstrap 2>/dev/null || echo '?'), dotnet SDK $(dotnet --version)"
echo "- cache: \`rh serve\` + \`--remote_cache\`; exec: \`rh serve --exec --slots 2\` + \`--remote_executor\`. Cold: fresh rh data"
echo "  directory and workspace; warm: after \`bazel clean --expunge\`. Each timed build starts on an already started Bazel"
echo "  server (untimed \`bazel info\`); one untimed local warm-up build before all."
echo
echo "| mode | build | before median (s) | after median (s) | after/before |"
echo "|---|---|---:|---:|---:|"
for mode in cache exec; do
  for kind in cold warm; do
    c=4
    [ "$kind" = warm ] && c=5
    b=$(column_of "$mode" before $c | median)
    a=$(column_of "$mode" after $c | median)
    echo "| $mode | $kind | $b | $a | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }') |"
  done
done
echo
echo "Per round (seconds; hits = warm remote cache hits / cold processes that were not Bazel-internal; load = 1-min"
echo "load average at session start; rh exit = exit code of rh serve after SIGTERM):"
echo
echo "| round | mode | side | cold | warm | hits | load | rh exit |"
echo "|---:|---|---|---:|---:|---:|---:|---:|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $3, $1, $2, $4, $5, $6, $7, $10 }' "$results"
echo
echo "Bazel's process summaries (cold; warm):"
echo
awk -F'\t' '{ printf "- r%s %s %s: %s; %s\n", $3, $1, $2, $8, $9 }' "$results"
