#!/usr/bin/env bash
# Builds Redis 7 (Debian's `apt-get source redis`) with Debian's Bazel 4.2.3 against a RaftHead endpoint and
# records the cold and the warm time:
#
#   bench/redis-build.sh [ENDPOINT] [MODE]
#
#   ENDPOINT  grpc://HOST:PORT of a running head (default grpc://127.0.0.1:8980), or `start`: build
#             src/RaftHead.Cli if needed, start `rh serve --port 0` (with --exec in exec mode) on
#             127.0.0.1 with a data directory under the run's temp dir, and stop it by PID at the end.
#   MODE      cache    --remote_cache=ENDPOINT: actions run here, results are uploaded (default)
#             exec     --remote_executor=ENDPOINT: actions run on the head's workers
#             minimal  exec with --remote_download_minimal (builds without the bytes): no output is written
#                      here; the programs' digests come from Bazel's build event file, and a third build with
#                      --remote_download_toplevel (after another clean) fetches them from the cluster
#             local    no remote at all, for comparison (ENDPOINT is ignored)
#
# One run: a fresh temp workspace (Redis tree + tests/fixtures/redis), a cold build (timed), `bazel clean
# --expunge`, a warm build (timed), a check that both builds produced byte-identical programs, a smoke test of
# the warm build's redis-server/redis-cli on a free loopback port, `bazel shutdown`. Prints Bazel's
# process summaries and both times; the last line is machine-readable:
#   RESULT mode=cache cold_s=97.1 warm_s=12.3 cold="..." warm="..."
#
# In minimal mode the cold and warm builds leave no program on disk (checked), so the comparison is between the
# digests each build's event file names for the programs; then `bazel clean --expunge` and a fetch build with
# --remote_download_toplevel, which must be all remote cache hits (every action's result is still in the cluster's
# action cache) and must write programs whose SHA-256 is the digest the builds without the bytes named. The smoke
# test runs the fetched programs.
#
# Environment:
#   REDIS_SRC   unpacked Redis tree (default /var/tmp/rafthead-redis-src; fetched by scripts/fetch-redis-source.sh)
#   TARGETS     what to build (default "//:redis-server //:redis-cli")
#   JOBS        bazel --jobs (default: Bazel's own, the number of cores; raise it for exec mode)
#   BUILD_TIMEOUT  seconds per bazel build (default 1800)
#   GRPC_LOG=1  also write --experimental_remote_grpc_log files for both builds (kept with KEEP=1)
#   KEEP=1      keep the temp directory (workspace, logs, rh data) and print where it is
#   BAZEL_FLAGS extra flags for both builds
#   RH_DLL      rh.dll for ENDPOINT=start (default src/RaftHead.Cli/bin/Release/net10.0/rh.dll, built if missing)
#   RH_SERVE_ARGS extra arguments for `rh serve` with ENDPOINT=start
#
# Only 127.0.0.1 is contacted (the endpoint must be a loopback address); everything is bounded in time;
# processes started here are stopped by PID.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
endpoint=${1:-grpc://127.0.0.1:8980}
mode=${2:-cache}
targets=${TARGETS:-//:redis-server //:redis-cli}
build_timeout=${BUILD_TIMEOUT:-1800}
redis_src=${REDIS_SRC:-/var/tmp/rafthead-redis-src}

case "$mode" in
  local) endpoint= ;;
  cache | exec | minimal) ;;
  *)
    echo "usage: $0 [ENDPOINT|start] [cache|exec|minimal|local]" >&2
    exit 2
    ;;
esac
if [ "$mode" != local ] && [ "$endpoint" != start ]; then
  case "$endpoint" in
    grpc://127.0.0.1:* | grpc://localhost:* | grpc://\[::1\]:*) ;;
    *)
      echo "redis-build: refusing endpoint '$endpoint': only grpc://127.0.0.1:PORT (loopback) is allowed" >&2
      exit 2
      ;;
  esac
fi
command -v bazel >/dev/null || {
  echo "redis-build: bazel is not on PATH (apt-get install -y bazel-bootstrap)" >&2
  exit 1
}

log() { echo "redis-build: $*" >&2; }

tmp=$(mktemp -d /tmp/rh-redis-build.XXXXXX)
ws=$tmp/workspace
root=$tmp/bazel-root
rh_pid=
redis_pid=

bazel_() {
  # No ~/.bazelrc, a private output root, a server that goes away by itself if this script dies.
  bazel --nohome_rc --output_user_root="$root" --max_idle_secs=300 "$@"
}

cleanup() {
  set +e
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    kill "$redis_pid"
    wait "$redis_pid" 2>/dev/null
  fi
  if [ -d "$root" ]; then
    (cd "$ws" 2>/dev/null && timeout 120 bazel --nohome_rc --output_user_root="$root" shutdown >/dev/null 2>&1)
    # A server that outlived `bazel shutdown`: stop it by the PID it recorded.
    for f in $(find "$root" -name server.pid.txt 2>/dev/null); do
      pid=$(cat "$f" 2>/dev/null)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$root"; then
        log "bazel server $pid outlived 'bazel shutdown'; killing it"
        kill "$pid"
      fi
    done
  fi
  if [ -n "$rh_pid" ] && kill -0 "$rh_pid" 2>/dev/null; then
    kill "$rh_pid"
    for _ in $(seq 100); do kill -0 "$rh_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$rh_pid" 2>/dev/null && kill -9 "$rh_pid"
    wait "$rh_pid" 2>/dev/null
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Source and workspace -----------------------------------------------------------------------------
timeout 1200 "$repo/scripts/fetch-redis-source.sh" "$redis_src" >/dev/null
"$repo/tests/fixtures/redis/make-workspace.sh" "$redis_src" "$ws" >/dev/null
log "workspace $ws"

# --- Optional: our own rh serve -----------------------------------------------------------------------
if [ "$mode" != local ] && [ "$endpoint" = start ]; then
  rh_dll=${RH_DLL:-$repo/src/RaftHead.Cli/bin/Release/net10.0/rh.dll}
  if [ ! -f "$rh_dll" ]; then
    log "building src/RaftHead.Cli"
    timeout 900 dotnet build "$repo/src/RaftHead.Cli" -c Release -nologo -v q >&2
  fi
  serve_args=(serve --host 127.0.0.1 --port 0 --data "$tmp/rh-data")
  [ "$mode" = exec ] || [ "$mode" = minimal ] && serve_args+=(--exec)
  # shellcheck disable=SC2206
  serve_args+=(${RH_SERVE_ARGS:-})
  dotnet "$rh_dll" "${serve_args[@]}" >"$tmp/rh-serve.log" 2>&1 &
  rh_pid=$!
  for _ in $(seq 600); do
    if grep -q '^ready: grpc://' "$tmp/rh-serve.log" 2>/dev/null; then break; fi
    kill -0 "$rh_pid" 2>/dev/null || break
    sleep 0.1
  done
  endpoint=$(sed -n 's/^ready: \(grpc:\/\/[^ ]*\).*/\1/p' "$tmp/rh-serve.log" | head -n 1)
  if [ -z "$endpoint" ]; then
    log "rh serve did not become ready:"
    cat "$tmp/rh-serve.log" >&2
    exit 1
  fi
  log "rh serve pid $rh_pid on $endpoint"
fi

# --- Flags ----------------------------------------------------------------------------------------------
flags=(--disk_cache= --incompatible_strict_action_env --symlink_prefix=/ --color=no --curses=no --show_progress_rate_limit=30)
case "$mode" in
  cache) flags+=(--remote_cache="$endpoint" --remote_upload_local_results) ;;
  exec) flags+=(--remote_executor="$endpoint") ;;
  minimal) flags+=(--remote_executor="$endpoint" --remote_download_minimal) ;;
  local) ;;
esac
[ -n "${JOBS:-}" ] && flags+=(--jobs="$JOBS")
# shellcheck disable=SC2206
[ -n "${BAZEL_FLAGS:-}" ] && flags+=(${BAZEL_FLAGS})
# shellcheck disable=SC2206
target_list=($targets)

now() { date +%s.%N; }

# build NAME [FLAG...]: runs one timed build (with the extra flags, which win over the mode's), leaves its
# output in $tmp/NAME.log, its build event file in $tmp/NAME.bep.json and its wall time in $elapsed.
build() {
  local name=$1 start end rc=0 extra=()
  shift
  extra+=(--build_event_json_file="$tmp/$name.bep.json" "$@")
  [ "${GRPC_LOG:-0}" = 1 ] && [ "$mode" != local ] && extra+=(--experimental_remote_grpc_log="$tmp/$name.grpc.log")
  start=$(now)
  (cd "$ws" && timeout "$build_timeout" bazel --nohome_rc --output_user_root="$root" --max_idle_secs=300 \
    build "${flags[@]}" "${extra[@]}" "${target_list[@]}") >"$tmp/$name.log" 2>&1 || rc=$?
  end=$(now)
  elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  if [ $rc -ne 0 ]; then
    log "the $name build failed (exit code $rc) after ${elapsed}s; last lines:"
    grep -v '^\[' "$tmp/$name.log" | tail -n 40 >&2
    if [ -n "$rh_pid" ]; then
      log "rh serve log (last lines):"
      tail -n 40 "$tmp/rh-serve.log" >&2
    fi
    exit 1
  fi
}

# bep_digests NAME: the targets' programs as the build event file of build NAME names them, in sha256sum's
# format. A remote output is named by its CAS address (bytestream://HOST:PORT/blobs/HASH/SIZE); a local one
# (file://) by the SHA-256 of the file, so the lines compare with hash_outputs'.
bep_digests() {
  python3 - "$tmp/$1.bep.json" "${target_list[@]}" <<'PY'
import hashlib, json, sys
from urllib.parse import unquote, urlparse
path, targets = sys.argv[1], [t.removeprefix("//:") for t in sys.argv[2:]]
found = {}
with open(path) as f:
    for line in f:
        for file in json.loads(line).get("namedSetOfFiles", {}).get("files", []):
            name, uri = file.get("name", ""), file.get("uri", "")
            if name not in targets or name in found:
                continue
            if uri.startswith("bytestream://"):
                found[name] = uri.split("/blobs/", 1)[1].split("/")[0]
            elif uri.startswith("file://"):
                with open(unquote(urlparse(uri).path), "rb") as data:
                    found[name] = hashlib.sha256(data.read()).hexdigest()
for t in targets:
    if t in found:
        print(f"{found[t]}  {t}")
PY
}

summary() { grep -E '^INFO: [0-9]+ process(es)?[:.]' "$tmp/$1.log" | tail -n 1; }
details() { grep -E '^INFO: (Elapsed time|[0-9]+ process)|^INFO: Build completed' "$tmp/$1.log" | uniq | sed 's/^/    /'; }

hash_outputs() {
  local bin=$1 t
  for t in "${target_list[@]}"; do
    t=${t#//:}
    if [ -f "$bin/$t" ]; then
      sha256sum "$bin/$t" | sed "s| .*|  $t|"
    fi
  done
}

# --- Cold, clean, warm ------------------------------------------------------------------------------------
log "cold build ($mode${endpoint:+, $endpoint}): ${target_list[*]}"
build cold
cold_s=$elapsed
bin=$(cd "$ws" && bazel_ info "${flags[@]}" bazel-bin 2>/dev/null)
cold_hashes=$(hash_outputs "$bin")

(cd "$ws" && timeout 300 bazel --nohome_rc --output_user_root="$root" clean --expunge >"$tmp/clean.log" 2>&1)
[ ! -d "$bin" ] || {
  log "bazel clean --expunge left $bin behind"
  exit 1
}

log "warm build"
build warm
warm_s=$elapsed
bin=$(cd "$ws" && bazel_ info "${flags[@]}" bazel-bin 2>/dev/null)
warm_hashes=$(hash_outputs "$bin")

# --- Builds without the bytes: the digests they named, then the programs fetched ------------------------------
if [ "$mode" = minimal ]; then
  # Nothing may have been written here: that is what a build without the bytes means.
  [ -z "$cold_hashes$warm_hashes" ] || {
    log "a build with --remote_download_minimal wrote programs to $bin:"
    echo "$cold_hashes$warm_hashes" >&2
    exit 1
  }
  cold_hashes=$(bep_digests cold)
  warm_hashes=$(bep_digests warm)
  [ "$(echo "$cold_hashes" | grep -c .)" = "${#target_list[@]}" ] || {
    log "the cold build's event file does not name every target's program: $cold_hashes"
    exit 1
  }
  (cd "$ws" && timeout 300 bazel --nohome_rc --output_user_root="$root" clean --expunge >>"$tmp/clean.log" 2>&1)
  log "fetch build (--remote_download_toplevel)"
  build fetch --remote_download_toplevel
  fetch_s=$elapsed
  bin=$(cd "$ws" && bazel_ info "${flags[@]}" bazel-bin 2>/dev/null)
  fetch_hashes=$(hash_outputs "$bin")
  fetched=yes
  [ "$fetch_hashes" = "$warm_hashes" ] || fetched=no
  # Every action's result must come from the cluster: "N processes: N remote cache hit" plus internal ones.
  all_hits=no
  summary_line=$(grep -E '^INFO: [0-9]+ process(es)?[:.]' "$tmp/fetch.log" | tail -n 1)
  if ! echo "$summary_line" | grep -Eq '[0-9]+ (remote|linux-sandbox|local|processwrapper-sandbox|sandbox)([,.]|$)'; then
    echo "$summary_line" | grep -q 'remote cache hit' && all_hits=yes
  fi
fi

# --- Checks -------------------------------------------------------------------------------------------------
same=yes
[ "$cold_hashes" = "$warm_hashes" ] || same=no
[ "$mode" != minimal ] || [ "$fetched" = yes ] || same=no

smoke=skipped
if [ -x "$bin/redis-server" ] && [ -x "$bin/redis-cli" ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$tmp/redis-data"
  "$bin/redis-server" --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$tmp/redis-data" \
    >"$tmp/redis-server.log" 2>&1 &
  redis_pid=$!
  smoke=failed
  for _ in $(seq 100); do
    if [ "$(timeout 2 "$bin/redis-cli" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
      smoke=PONG
      break
    fi
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=
fi

# --- Report -------------------------------------------------------------------------------------------------
echo "Redis $(sed -n 's/.*REDIS_VERSION "\(.*\)"/\1/p' "$ws/src/version.h") with Bazel $(dpkg-query -W -f='${Version}' bazel-bootstrap 2>/dev/null || bazel --version 2>/dev/null | head -n 1), mode $mode${endpoint:+ against $endpoint}"
[ "$mode" = local ] || [ -z "$rh_pid" ] || echo "  (rh serve started by this script, pid $rh_pid)"
echo "cold build: ${cold_s} s"
details cold
echo "warm build (after bazel clean --expunge): ${warm_s} s"
details warm
if [ "$mode" = minimal ]; then
  echo "programs written by the cold and warm builds: none (builds without the bytes)"
  echo "fetch build (after bazel clean --expunge, --remote_download_toplevel): ${fetch_s} s, all remote cache hits: $all_hits"
  details fetch
  echo "digests named by the cold build's events:"
  echo "$cold_hashes" | sed 's/^/    /'
  echo "fetched programs' SHA-256 equal the digests named by the builds without the bytes: $fetched"
fi
echo "outputs identical cold vs warm: $same"
echo "$warm_hashes" | sed 's/^/    /'
if [ -x "$bin/redis-server" ]; then
  echo "redis-server --version: $("$bin/redis-server" --version)"
fi
echo "smoke test (redis-cli ping on 127.0.0.1:${port:-?}): $smoke"
if [ -n "$rh_pid" ]; then
  echo "rh cache stats:"
  timeout 30 dotnet "$rh_dll" cache stats --endpoint "${endpoint#grpc://}" 2>&1 | sed 's/^/    /' || true
  echo "rh serve log (last lines):"
  tail -n 5 "$tmp/rh-serve.log" | sed 's/^/    /'
fi
extra_result=
[ "$mode" = minimal ] && extra_result=" fetch_s=$fetch_s fetch=\"$(summary fetch)\" fetch_all_hits=$all_hits"
echo "RESULT mode=$mode cold_s=$cold_s warm_s=$warm_s cold=\"$(summary cold)\" warm=\"$(summary warm)\"$extra_result identical=$same smoke=$smoke"
[ "$same" = yes ] && [ "$smoke" != failed ] && { [ "$mode" != minimal ] || [ "$all_hits" = yes ]; }
