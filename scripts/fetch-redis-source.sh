#!/usr/bin/env bash
# Fetches Debian's Redis source (`apt-get source redis`) and leaves the unpacked, patched tree at DIR.
#
#   scripts/fetch-redis-source.sh DIR
#
# Idempotent: when DIR already holds a Redis tree (src/server.c, deps/) nothing is fetched again, and a
# previously downloaded source package is reused from the cache directory
# (REDIS_SOURCE_CACHE, default /var/cache/rafthead/redis-source).
#
# What it may change on the machine, only when needed:
#   * /etc/apt/sources.list.d/rafthead-deb-src.sources: `deb-src` entries mirroring the existing `deb`
#     entries of the machine (same URIs, suites, components, keyring), so `apt-get source` can find the
#     package; followed by `apt-get update -qq`.
#   * dpkg-dev (dpkg-source unpacks the package), gcc, make: all that Redis needs with MALLOC=libc and its
#     bundled deps (hiredis, lua, linenoise, hdr_histogram, fpconv). No `apt-get build-dep` (it would pull in
#     debhelper, tcl, libsystemd-dev, ... which the Bazel build does not use).
#
# The last line printed is the absolute path of the tree.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi

dest=$1
cache=${REDIS_SOURCE_CACHE:-/var/cache/rafthead/redis-source}
list=/etc/apt/sources.list.d/rafthead-deb-src.sources

log() { echo "fetch-redis-source: $*" >&2; }

is_redis_tree() {
  [ -f "$1/src/server.c" ] && [ -f "$1/src/version.h" ] && [ -d "$1/deps/lua/src" ] && [ -d "$1/deps/hiredis" ]
}

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive

if is_redis_tree "$dest"; then
  log "already there"
  (cd "$dest" && pwd)
  exit 0
fi

# --- 1. Tools: only what is missing. -------------------------------------------------------------------
missing=()
for p in dpkg-dev gcc make; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# --- 2. deb-src entries. ------------------------------------------------------------------------------
has_deb_src() {
  # One-line format ("deb-src http://... bookworm main") or deb822 ("Types: deb deb-src").
  grep -rhsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -q bookworm && return 0
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN{RS=""} { p=tolower($0) } p ~ /(^|\n)types:[^\n]*deb-src/ && p ~ /(^|\n)suites:[^\n]*bookworm/ && p !~ /(^|\n)enabled:[[:space:]]*no/ {found=1} END{exit !found}' "$f" && return 0
  done
  return 1
}

# Turns every enabled `deb` entry for bookworm on this machine into a matching deb822 `deb-src` stanza.
make_deb_src() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN{RS=""; ORS="\n\n"}
      {
        types=""; keep=1; out=""
        n=split($0, lines, "\n")
        for (i=1; i<=n; i++) {
          line=lines[i]
          if (line ~ /^#/) continue
          if (tolower(line) ~ /^types:/) { types=line; continue }
          if (tolower(line) ~ /^enabled:[[:space:]]*no/) keep=0
          out=out line "\n"
        }
        if (keep && types ~ /(^|[[:space:]])deb([[:space:]]|$)/ && out ~ /Suites:[^\n]*bookworm/) {
          printf "Types: deb-src\n%s\n", out
        }
      }' "$f"
  done
  # One-line entries: "deb [opts] URI suite comps..."
  grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep bookworm | sed -E 's/^[[:space:]]*deb([[:space:]])/deb-src\1/' \
    | while read -r line; do printf '# one-line\n%s\n' "$line"; done || true
}

updated=0
if ! has_deb_src; then
  entries=$(make_deb_src || true)
  if [ -z "$entries" ]; then
    log "no bookworm 'deb' entry found under /etc/apt/sources.list*; cannot add a matching deb-src"
    exit 1
  fi
  # deb822 stanzas and one-line entries cannot share a file.
  stanzas=$(printf '%s\n' "$entries" | awk 'BEGIN{RS=""; ORS="\n\n"} !/^# one-line/')
  oneline=$(printf '%s\n' "$entries" | awk 'BEGIN{RS=""} /^# one-line/ {sub(/^# one-line\n/, ""); print}')
  if [ -n "$stanzas" ]; then
    log "adding deb-src entries in $list"
    printf '# Added by RaftHead scripts/fetch-redis-source.sh: deb-src twins of the machine'"'"'s deb entries.\n\n%s\n' "$stanzas" | $SUDO tee "$list" >/dev/null
  fi
  if [ -n "$oneline" ]; then
    log "adding deb-src entries in ${list%.sources}.list"
    printf '# Added by RaftHead scripts/fetch-redis-source.sh\n%s\n' "$oneline" | $SUDO tee "${list%.sources}.list" >/dev/null
  fi
  log "apt-get update"
  timeout 600 $SUDO apt-get update -qq
  updated=1
fi

if [ ${#missing[@]} -gt 0 ]; then
  [ $updated -eq 1 ] || timeout 600 $SUDO apt-get update -qq
  log "installing ${missing[*]}"
  timeout 900 $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 3. The source package, once, into the cache. -----------------------------------------------------
$SUDO mkdir -p "$cache"
tree=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'redis-*' 2>/dev/null | sort -V | tail -n 1)
if [ -z "$tree" ] || ! is_redis_tree "$tree"; then
  log "apt-get source redis into $cache"
  (cd "$cache" && timeout 900 $SUDO apt-get source -qq -o APT::Sandbox::User=root redis >&2)
  tree=$(find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'redis-*' | sort -V | tail -n 1)
fi
if [ -z "$tree" ] || ! is_redis_tree "$tree"; then
  log "apt-get source redis did not leave a Redis tree under $cache"
  exit 1
fi
log "source package: $(basename "$tree") (cached in $cache)"

# --- 4. A copy at DEST (the cached tree stays pristine). ----------------------------------------------
if [ -e "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
  log "$dest exists, is not empty and is not a Redis tree; refusing to overwrite it"
  exit 1
fi
mkdir -p "$dest"
cp -a "$tree"/. "$dest"/
# Debian's packaging is not part of the build.
rm -rf "$dest/debian" "$dest/.pc"
if [ -n "$SUDO" ]; then
  $SUDO chown -R "$(id -u):$(id -g)" "$dest"
fi
(cd "$dest" && pwd)
