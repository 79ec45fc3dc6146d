#!/usr/bin/env bash
# Prepares a machine to run actions: creates the unprivileged account actions run as (default rh-runner).
# Idempotent. Usage: scripts/setup-worker.sh [user]
set -euo pipefail

user="${1:-rh-runner}"
if id -u "$user" >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-worker: creating user '$user' needs root" >&2
  exit 1
fi

useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
echo "setup-worker: created user '$user' (uid $(id -u "$user"))"
