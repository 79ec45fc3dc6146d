#!/usr/bin/env bash
# Prepares a Debian host to run actions, and optionally to run `rh worker` as a systemd service. Idempotent.
#
#   scripts/setup-worker.sh [USER]
#       creates the unprivileged account actions run as (default rh-runner); this is what `rh up` and the tests need.
#
#   scripts/setup-worker.sh --heads H1:P,H2:P,H3:P --rh PATH [--user USER] [--data DIR] [--slots N]
#                           [--platform NAME=VALUE ...] [--unit-dir DIR] [--no-start]
#       also makes the data directory (reachable by USER, owned by root), and writes the unit rh-worker.service
#       (default into /etc/systemd/system) running `PATH worker --heads ... --data DIR --slots N --run-as USER`,
#       restarted when it exits; then enables and starts it unless --no-start (or systemd is absent).
#       PATH is the `rh` launcher to run: a published single-file `rh`, or the apphost of a build output.
set -euo pipefail

user=rh-runner
heads=""
rh=""
data=/var/lib/rafthead/worker
slots=""
unit_dir=/etc/systemd/system
start=1
platform=()

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

fail() {
  echo "setup-worker: $*" >&2
  exit 1
}

if [ $# -eq 1 ] && [[ "$1" != -* ]]; then
  user=$1
  shift
fi

while [ $# -gt 0 ]; do
  case "$1" in
    --user) [ $# -ge 2 ] || usage; user=$2; shift 2 ;;
    --heads) [ $# -ge 2 ] || usage; heads=$2; shift 2 ;;
    --rh) [ $# -ge 2 ] || usage; rh=$2; shift 2 ;;
    --data) [ $# -ge 2 ] || usage; data=$2; shift 2 ;;
    --slots) [ $# -ge 2 ] || usage; slots=$2; shift 2 ;;
    --platform) [ $# -ge 2 ] || usage; platform+=("$2"); shift 2 ;;
    --unit-dir) [ $# -ge 2 ] || usage; unit_dir=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    -h | --help) usage ;;
    *) echo "setup-worker: unknown argument '$1'" >&2; usage ;;
  esac
done

[[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || fail "'$user' is not a valid user name"

if ! id -u "$user" >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || fail "creating user '$user' needs root"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  echo "setup-worker: created user '$user' (uid $(id -u "$user"))"
fi

if [ -z "$heads" ]; then
  [ -z "$rh" ] || fail "--rh needs --heads"
  exit 0
fi

# Everything below ends up in a unit file run as root: check it all before writing anything.
[ -n "$rh" ] || fail "--heads needs --rh PATH (the rh launcher the service runs)"
[[ "$rh" = /* ]] || fail "--rh must be an absolute path, not '$rh'"
[ -x "$rh" ] || fail "--rh '$rh' is not an executable file"
[[ "$data" = /* ]] || fail "--data must be an absolute path, not '$data'"
[[ "$heads" =~ ^[A-Za-z0-9.:_-]+(,[A-Za-z0-9.:_-]+)*$ ]] || fail "--heads '$heads' is not a comma-separated list of host:port"
[ -z "$slots" ] || [[ "$slots" =~ ^[1-9][0-9]{0,3}$ ]] || fail "--slots must be a whole number from 1 to 9999, not '$slots'"
for p in "${platform[@]}"; do
  [[ "$p" =~ ^[A-Za-z0-9_.-]+=[A-Za-z0-9_.:/+-]*$ ]] || fail "--platform '$p' is not NAME=VALUE (letters, digits and ._:/+- only)"
done
for path in "$rh" "$data"; do
  [[ "$path" =~ ^[A-Za-z0-9_./+-]+$ ]] || fail "'$path' has characters a unit file would need quoted; pick a plainer path"
done

# The run-as user must be able to walk down to the sandboxes under the data directory, never to write in it.
mkdir -p "$data"
chmod 0755 "$data"

exec_start="$rh worker --heads $heads --data $data --run-as $user"
[ -z "$slots" ] || exec_start+=" --slots $slots"
for p in "${platform[@]}"; do
  exec_start+=" --platform $p"
done

mkdir -p "$unit_dir"
unit="$unit_dir/rh-worker.service"
tmp=$(mktemp "$unit_dir/.rh-worker.service.XXXXXX")
cat >"$tmp" <<EOF
[Unit]
Description=RaftHead worker (runs actions for the heads $heads)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=$exec_start
Restart=always
RestartSec=1
# Root only to drop each action to $user and give it its own network namespace; the worker itself keeps no more.
User=root
KillMode=mixed
TimeoutStopSec=45
Environment=DOTNET_CLI_TELEMETRY_OPTOUT=1

[Install]
WantedBy=multi-user.target
EOF
chmod 0644 "$tmp"
mv -f "$tmp" "$unit"
echo "setup-worker: wrote $unit: $exec_start"

if [ "$start" -eq 1 ]; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now rh-worker.service
    echo "setup-worker: rh-worker.service enabled and started"
  else
    echo "setup-worker: systemd is not running here; start the worker with: $exec_start" >&2
  fi
fi
