#!/usr/bin/env bash
# Builds a make project (default: Redis 7 from Debian's `apt-get source redis`) twice in one run: with plain
# `make -j1`, and through a RaftHead cluster as one action graph made by `rh graph from-make`, with 1, 2 and 4
# workers of one slot each, cold and then warm:
#
#   bench/redis-graph.sh
#
# One run:
#   1. a fresh copy of the tree, `make -j1 MAKE_ARGS` there (timed);
#   2. another fresh copy, `rh graph from-make --dir COPY -o COPY/graph.json MAKE_ARGS` (timed on its own, not
#      part of any build time); the same graph file serves every worker count;
#   3. for each worker count N in WORKERS: a fresh `rh up --workers N --slots 1 --no-restart` with its own data
#      directory and free loopback ports, a cold `rh submit --watch --json` (timed: uploads, submission, every
#      node run), a warm one of the same file under a new --graph-id (timed; every node must be a cache hit), and
#      the cluster stopped by PID;
#   4. TARGET's output digest from the last cold build's final GraphStatus, its bytes read from the cluster's CAS
#      (ByteStream Read, Python's grpc) and run: for redis-server `--version`, then a server on a free loopback
#      port answering PING to the redis-cli of the make build; for another program its stdout is compared with
#      that of the make build's.
#
# The table's columns, per worker count N (cores = `nproc`):
#   wall       the cold `rh submit --watch` time, in seconds
#   speedup    wall(1 worker) / wall(N)
#   efficiency speedup / min(N, cores)
#   outside    time outside compilers: wall - (sum over the graph's nodes of executionCompletedTimestamp -
#              executionStartTimestamp from each node's ExecutedActionMetadata in the final GraphStatus) / N.
#              The sum over N is how long the commands would keep N one-slot workers busy if spread perfectly;
#              the rest is uploads, scheduling, staging inputs and outputs, process start-up and the waits the
#              graph's shape forces (its critical path).
#   warm       the warm `rh submit --watch` time; warm/cold = warm / wall
# The make row has its wall time and its ratio to the 1-worker cold build (the goal: within 15%).
#
# The last line is machine-readable:
#   RESULT make_s=... from_make_s=... nodes=... cores=... w1_cold_s=... w1_warm_s=... w1_exec_s=... w1_outside_s=...
#     w1_eff=... w1_warm_x=... (the same per worker count) identical=yes|no check=PONG|same-output|failed
#     goal_make=met|not-met goal_warm=... goal_eff=...
# The exit code is non-zero when a build fails, a warm build runs anything, or the program check fails.
#
# Environment:
#   SRC           the project's tree (default /var/tmp/rafthead-redis-src, fetched by scripts/fetch-redis-source.sh
#                 when it is the default and missing); only its copies are built
#   MAKE_ARGS     make arguments for both builds (default "MALLOC=libc"; "" for a project that needs none)
#   TARGET        the program checked after the builds, relative to the tree (default src/redis-server)
#   WORKERS       worker counts (default "1 2 4")
#   BUILD_TIMEOUT seconds for make, and for each rh submit (default 1800)
#   RH            the rh program (default src/RaftHead.Cli/bin/Release/net10.0/rh, built in Release if missing)
#   KEEP=1        keep the temp directory (copies, graph, status JSON, cluster logs) and print where it is
#
# Only 127.0.0.1 is used; everything is bounded in time; processes started here are stopped by PID.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
default_src=/var/tmp/rafthead-redis-src
src=${SRC:-$default_src}
make_args_text=${MAKE_ARGS-MALLOC=libc}
target=${TARGET:-src/redis-server}
workers_list=${WORKERS:-1 2 4}
build_timeout=${BUILD_TIMEOUT:-1800}
rh=${RH:-$repo/src/RaftHead.Cli/bin/Release/net10.0/rh}
cores=$(nproc)
# shellcheck disable=SC2206
make_args=($make_args_text)

log() { echo "redis-graph: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# The python3 that has grpc (Debian's python3-grpcio; a python3 first on PATH may be another installation).
grpc_python=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import grpc' 2>/dev/null; then
    grpc_python=$p
    break
  fi
done
[ -n "$grpc_python" ] || {
  log "no python3 with grpc (scripts/install-test-deps.sh installs python3-grpcio)"
  exit 1
}

tmp=$(mktemp -d /tmp/rh-redis-graph.XXXXXX)
# As root, workers run actions as an unprivileged user who must reach their sandboxes under this directory
# (rh up moves worker data to a shared place otherwise, which one run's clusters would then share).
chmod 755 "$tmp"
up_pid=
up_children=
redis_pid=
step_pid=

# bounded SECONDS DIR OUT ERR COMMAND...: runs COMMAND in DIR under `timeout`, in the background so that a
# SIGTERM to this script is handled at once (bash runs a trap only after a foreground command ends); the exit
# code is in $rc.
bounded() {
  local seconds=$1 dir=$2 out=$3 err=$4
  shift 4
  rc=0
  if [ "$out" = "$err" ]; then
    (cd "$dir" && exec timeout "$seconds" "$@") >"$out" 2>&1 &
  else
    (cd "$dir" && exec timeout "$seconds" "$@") >"$out" 2>"$err" &
  fi
  step_pid=$!
  wait "$step_pid" || rc=$?
  step_pid=
}

stop_cluster() {
  [ -n "$up_pid" ] || return 0
  if kill -0 "$up_pid" 2>/dev/null; then
    kill -TERM "$up_pid"
    for _ in $(seq 300); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$up_pid" 2>/dev/null; then
      log "rh up $up_pid did not stop within 30 s of SIGTERM; killing it"
      kill -9 "$up_pid" 2>/dev/null || true
    fi
  fi
  wait "$up_pid" 2>/dev/null || true
  # rh up stops its heads and workers itself; one that outlived it is stopped here by the PID it had.
  for c in $up_children; do
    if kill -0 "$c" 2>/dev/null && tr '\0' ' ' <"/proc/$c/cmdline" 2>/dev/null | grep -q -- "$tmp"; then
      log "cluster process $c outlived rh up; killing it"
      kill -9 "$c" 2>/dev/null || true
    fi
  done
  up_pid=
  up_children=
}

cleanup() {
  set +e
  if [ -n "$step_pid" ] && kill -0 "$step_pid" 2>/dev/null; then
    kill "$step_pid"
    wait "$step_pid" 2>/dev/null
  fi
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    kill "$redis_pid"
    wait "$redis_pid" 2>/dev/null
  fi
  stop_cluster
  if [ "${KEEP:-0}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Tools and source ---------------------------------------------------------------------------------------
if [ ! -x "$rh" ]; then
  log "building src/RaftHead.Cli (Release)"
  timeout 900 dotnet build "$repo/src/RaftHead.Cli" -c Release -nologo -v q >&2
fi
if [ "$src" = "$default_src" ]; then
  timeout 1200 "$repo/scripts/fetch-redis-source.sh" "$src" >/dev/null
fi
[ -f "$src/Makefile" ] || {
  log "$src has no Makefile"
  exit 1
}

fresh_copy() {
  rm -rf "$1"
  cp -a "$src" "$1"
}

# --- make -j1 -------------------------------------------------------------------------------------------------
fresh_copy "$tmp/make"
log "make -j1 ${make_args[*]} in a fresh copy"
start=$(now)
bounded "$build_timeout" "$tmp/make" "$tmp/make.log" "$tmp/make.log" make -j1 "${make_args[@]}"
make_s=$(since "$start")
if [ $rc -ne 0 ]; then
  log "make failed (exit code $rc) after ${make_s}s; last lines:"
  tail -n 30 "$tmp/make.log" >&2
  exit 1
fi
[ -x "$tmp/make/$target" ] || {
  log "make did not produce $target"
  exit 1
}
log "make: ${make_s}s"

# --- rh graph from-make ---------------------------------------------------------------------------------------
fresh_copy "$tmp/graph"
log "rh graph from-make ${make_args[*]}"
start=$(now)
bounded 600 "$tmp/graph" "$tmp/from-make.log" "$tmp/from-make.log" "$rh" graph from-make --dir . -o graph.json "${make_args[@]}"
from_make_s=$(since "$start")
if [ $rc -ne 0 ]; then
  log "rh graph from-make failed (exit code $rc); its output:"
  tail -n 40 "$tmp/from-make.log" >&2
  exit 1
fi
nodes=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["nodes"]))' "$tmp/graph/graph.json")
log "from-make: ${from_make_s}s, $nodes nodes"

# --- The cluster ----------------------------------------------------------------------------------------------
# free_base_port: a port P with P, P+1 and P+2 free on 127.0.0.1 (the three heads').
free_base_port() {
  python3 - <<'PY'
import socket
for _ in range(200):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    base = s.getsockname()[1]
    s.close()
    if base > 65000:
        continue
    ok = True
    for p in range(base, base + 3):
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        finally:
            t.close()
    if ok:
        print(base)
        break
PY
}

# start_cluster N: rh up with N one-slot workers; sets $endpoint (the heads, comma-separated) once it is ready.
start_cluster() {
  local n=$1 base dir=$tmp/cluster-w$1
  base=$(free_base_port)
  [ -n "$base" ] || {
    log "no three free consecutive ports on 127.0.0.1"
    exit 1
  }
  "$rh" up --data "$dir" --base-port "$base" --workers "$n" --slots 1 --no-restart >"$dir.log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1500); do
    grep -q '^ready: ' "$dir.log" 2>/dev/null && break
    kill -0 "$up_pid" 2>/dev/null || break
    sleep 0.1
  done
  up_children=$(pgrep -P "$up_pid" | tr '\n' ' ' || true)
  endpoint=$(sed -n 's/^ready: grpc:\/\/\([^ ]*\).*/\1/p' "$dir.log" | head -n 1)
  if [ -z "$endpoint" ]; then
    log "rh up ($n workers) was not ready within 150 s:"
    tail -n 40 "$dir.log" >&2
    exit 1
  fi
  log "cluster with $n worker(s): rh up pid $up_pid, heads $endpoint"
}

# submit NAME [ARGS...]: one timed `rh submit --watch --json`; the final GraphStatus goes to $tmp/NAME.json,
# the wall time to $elapsed.
submit() {
  local name=$1 start
  shift
  start=$(now)
  bounded "$build_timeout" "$tmp/graph" "$tmp/$name.json" "$tmp/$name.err" "$rh" submit graph.json --watch --json --endpoint "$endpoint" "$@"
  elapsed=$(since "$start")
  if [ $rc -ne 0 ]; then
    log "rh submit ($name) failed (exit code $rc) after ${elapsed}s:"
    tail -n 40 "$tmp/$name.err" >&2
    python3 - "$tmp/$name.json" <<'PY' >&2 || true
import json, sys
status = json.load(open(sys.argv[1]))
print("counts:", status.get("counts"))
for n in status.get("nodes", []):
    if n.get("failure"):
        print(f"  {n['id']}: {n['phase']}: {n['failure']}")
PY
    exit 1
  fi
}

# status FILE FIELD: counts and times out of a final GraphStatus (protobuf JSON: default values are omitted).
status() {
  python3 - "$@" <<'PY'
import json, sys
from datetime import datetime, timezone

def seconds(ts):
    # RFC 3339 with up to nine fractional digits, as protobuf JSON writes a Timestamp.
    ts = ts.rstrip("Z")
    whole, _, frac = ts.partition(".")
    t = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0.0)

status = json.load(open(sys.argv[1]))
counts = status.get("counts", {})
nodes = status.get("nodes", [])
field = sys.argv[2]
if field == "exec":
    total = 0.0
    for n in nodes:
        m = n.get("result", {}).get("executionMetadata", {})
        if "executionStartTimestamp" not in m or "executionCompletedTimestamp" not in m:
            sys.exit(f"node {n['id']} has no execution timestamps")
        total += seconds(m["executionCompletedTimestamp"]) - seconds(m["executionStartTimestamp"])
    print(f"{total:.1f}")
elif field == "counts":
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
elif field == "all-cached":
    print("yes" if len(nodes) > 0 and counts.get("cached", 0) == len(nodes) and len(counts) == 1 else "no")
elif field == "digest":
    # The output file named like TARGET (its path as the producing node wrote it, relative to the node's
    # working directory): "HASH SIZE".
    want = sys.argv[3].rsplit("/", 1)[-1]
    for n in nodes:
        for f in n.get("result", {}).get("outputFiles", []):
            if f["path"].rsplit("/", 1)[-1] == want:
                print(f["digest"]["hash"], f["digest"].get("sizeBytes", "0"))
                sys.exit(0)
    sys.exit(f"no node has an output named {want}")
PY
}

declare -A cold warm exec_sum counts_cold counts_warm
last_endpoint=
for n in $workers_list; do
  start_cluster "$n"
  log "cold build, $n worker(s)"
  submit "cold-w$n"
  cold[$n]=$elapsed
  exec_sum[$n]=$(status "$tmp/cold-w$n.json" exec)
  counts_cold[$n]=$(status "$tmp/cold-w$n.json" counts)
  log "cold, $n worker(s): ${elapsed}s (${counts_cold[$n]}; commands ran ${exec_sum[$n]}s in all)"
  log "warm build, $n worker(s)"
  submit "warm-w$n" --graph-id "warm-w$n-$(date +%s%N)"
  warm[$n]=$elapsed
  counts_warm[$n]=$(status "$tmp/warm-w$n.json" counts)
  log "warm, $n worker(s): ${elapsed}s (${counts_warm[$n]})"
  if [ "$(status "$tmp/warm-w$n.json" all-cached)" != yes ]; then
    log "the warm build with $n worker(s) was not all cache hits: ${counts_warm[$n]}"
    exit 1
  fi
  last=$n
  last_endpoint=$endpoint
  # The last cluster stays up for the check below.
  [ "$n" = "$(echo "$workers_list" | awk '{ print $NF }')" ] || stop_cluster
done

# --- The cluster's program ------------------------------------------------------------------------------------
read -r hash size < <(status "$tmp/cold-w$last.json" digest "$target")
log "reading $target ($hash/$size) from the CAS"
"$grpc_python" - "$last_endpoint" "$hash" "$size" "$tmp/cluster-$(basename "$target")" <<'PY'
# ByteStream Read of blobs/HASH/SIZE, protobuf written and read by hand (the messages have one field each that
# matters: ReadRequest.resource_name = 1, ReadResponse.data = 10).
import grpc, hashlib, sys

endpoints, digest, size, out = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3]), sys.argv[4]

def varint(n):
    b = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        b.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(b)

def request(name):
    raw = name.encode()
    return b"\x0a" + varint(len(raw)) + raw

def data_of(msg):
    i, chunks = 0, []
    while i < len(msg):
        key, shift = 0, 0
        while True:
            byte = msg[i]; i += 1
            key |= (byte & 0x7F) << shift; shift += 7
            if byte < 0x80:
                break
        field, wire = key >> 3, key & 7
        if wire == 2:
            length, shift = 0, 0
            while True:
                byte = msg[i]; i += 1
                length |= (byte & 0x7F) << shift; shift += 7
                if byte < 0x80:
                    break
            if field == 10:
                chunks.append(msg[i:i + length])
            i += length
        elif wire == 0:
            while msg[i] >= 0x80:
                i += 1
            i += 1
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return b"".join(chunks)

last = None
for ep in endpoints:
    try:
        with grpc.insecure_channel(ep, options=[("grpc.max_receive_message_length", 64 << 20)]) as ch:
            read = ch.unary_stream("/google.bytestream.ByteStream/Read",
                                   request_serializer=lambda m: m, response_deserializer=lambda m: m)
            blob = b"".join(data_of(r) for r in read(request(f"blobs/{digest}/{size}"), timeout=120))
    except grpc.RpcError as e:
        last = f"{ep}: {e.code().name}: {e.details()}"
        continue
    if len(blob) != size or hashlib.sha256(blob).hexdigest() != digest:
        sys.exit(f"{ep} returned {len(blob)} bytes that do not hash to {digest}")
    with open(out, "wb") as f:
        f.write(blob)
    sys.exit(0)
sys.exit(f"no head served the blob: {last}")
PY
stop_cluster
program=$tmp/cluster-$(basename "$target")
chmod +x "$program"
identical=no
[ "$(sha256sum <"$program")" = "$(sha256sum <"$tmp/make/$target")" ] && identical=yes

check=failed
version=
if [ "$(basename "$target")" = redis-server ]; then
  version=$(timeout 10 "$program" --version 2>&1 || true)
  cli=$tmp/make/$(dirname "$target")/redis-cli
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$tmp/redis-data"
  "$program" --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$tmp/redis-data" \
    >"$tmp/redis-server.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    if [ "$(timeout 2 "$cli" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
      check=PONG
      break
    fi
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=
  [ "$check" = PONG ] && [ -n "$version" ] || check=failed
else
  # Another program: the cluster's build and make's must print the same.
  theirs=$(cd "$tmp/make" && timeout 10 "./$target" 2>&1 || true)
  ours=$(cd "$tmp/make" && timeout 10 "$program" 2>&1 || true)
  [ -n "$ours" ] && [ "$ours" = "$theirs" ] && check=same-output
fi

# --- Report -----------------------------------------------------------------------------------------------------
first=$(echo "$workers_list" | awk '{ print $1 }')
name=$(basename "$src")
[ -f "$src/src/version.h" ] && name="Redis $(sed -n 's/.*REDIS_VERSION "\(.*\)"/\1/p' "$src/src/version.h")"
echo "$name: make -j1 ${make_args[*]} vs a RaftHead graph ($nodes nodes from rh graph from-make), $cores cores"
echo "rh graph from-make: ${from_make_s} s (not in the times below)"
echo
echo "| configuration | wall (s) | speedup | efficiency | outside compilers (s) | warm (s) | warm/cold | node counts (cold; warm) |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
echo "| make -j1 | $make_s | | | | | | cold with $first worker / make: $(awk -v a="${cold[$first]}" -v b="$make_s" 'BEGIN { printf "%.3f", a / b }') |"
result="RESULT make_s=$make_s from_make_s=$from_make_s nodes=$nodes cores=$cores"
goal_eff=met
goal_warm=met
prev=
for n in $workers_list; do
  read -r speedup eff outside ratio faster < <(awk -v c1="${cold[$first]}" -v c="${cold[$n]}" -v n="$n" -v cores="$cores" \
    -v ex="${exec_sum[$n]}" -v w="${warm[$n]}" 'BEGIN {
      s = c1 / c; m = n < cores ? n : cores
      printf "%.2f %.0f%% %.1f %.3f %.1f\n", s, 100 * s / m, c - ex / n, w / c, c / w }')
  echo "| cluster, $n worker(s) | ${cold[$n]} | $speedup | $eff | $outside | ${warm[$n]} | $ratio (${faster}x faster) | ${counts_cold[$n]}; ${counts_warm[$n]} |"
  result+=" w${n}_cold_s=${cold[$n]} w${n}_warm_s=${warm[$n]} w${n}_exec_s=${exec_sum[$n]} w${n}_outside_s=$outside w${n}_eff=${eff%\%} w${n}_warm_x=$faster"
  awk -v f="$faster" 'BEGIN { exit !(f >= 20) }' || goal_warm=not-met
  if [ "$n" -le "$cores" ]; then
    awk -v e="${eff%\%}" 'BEGIN { exit !(e >= 90) }' || goal_eff=not-met
  elif [ -n "$prev" ]; then
    # Beyond the cores: no slowdown against the previous worker count.
    awk -v a="${cold[$n]}" -v b="${cold[$prev]}" 'BEGIN { exit !(a <= b) }' || goal_eff=not-met
  fi
  prev=$n
done
goal_make=not-met
awk -v a="${cold[$first]}" -v b="$make_s" 'BEGIN { exit !(a <= 1.15 * b) }' && goal_make=met
echo
echo "cluster-built $target ($hash, $size bytes): identical to make's: $identical; check: $check${version:+; $version}"
echo "goals: cold with $first worker within 15% of make -j1: $goal_make; warm >= 20x faster than cold: $goal_warm;" \
  "efficiency >= 90% up to $cores cores and no slowdown beyond: $goal_eff"
echo "$result identical=$identical check=$check goal_make=$goal_make goal_warm=$goal_warm goal_eff=$goal_eff"
[ "$check" != failed ]
