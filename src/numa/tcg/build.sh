#!/usr/bin/env bash
# Builds the TCG access-counter plugin src/numa/tcg/build/libfthnuma.so (counter.c) against the
# plugin header of the QEMU that is installed, and checks that this QEMU loads it.
#
# No Debian binary package ships include/qemu/qemu-plugin.h, so it comes from QEMU's source
# package: a private apt configuration (own sources list with deb-src entries, own lists and
# cache dirs under a temp dir; /etc/apt is never touched) downloads the source of the installed
# qemu-system-x86 (`apt-get source --download-only qemu=<its source version>`, the newest 7.2 if
# the archive no longer has that one) and only the header is extracted from the orig tarball
# (plus any Debian patch hunk to it). It is cached in vm-images/cache/qemu-plugin/<version>/.
#
# Idempotent and quiet on success; on failure one clear message on stderr and exit 1.
# --force rebuilds even when the .so is newer than counter.c.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$here/build/libfthnuma.so"
fail() { printf 'fthnuma plugin build: %s\n' "$*" >&2; exit 1; }

force=0
[ "${1:-}" = --force ] && force=1

command -v cc >/dev/null || fail "no C compiler (cc): install gcc"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is not installed"
srcver="$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null)" || fail "qemu-system-x86 is not installed (dpkg-query)"
[ -n "$srcver" ] || fail "dpkg-query gave no source version for qemu-system-x86"
ver="${srcver#*:}"   # without the epoch: a directory name
case "$ver" in
  7.2*) ;;
  *) fail "installed QEMU is $srcver; this plugin is written for 7.2 (plugin API 1, where qemu_plugin_hwaddr_phys_addr returns ram_addr + mr->addr, not the GPA the map translates to)";;
esac

mkdir -p "$here/build"
exec 9>"$here/build/.lock"
flock 9

cache="$root/vm-images/cache/qemu-plugin/$ver"
hdr="$cache/qemu-plugin.h"
tmp=""
cleanup() { [ -n "$tmp" ] && rm -rf "$tmp"; return 0; }
trap cleanup EXIT

fetch_header() {
  tmp="$(mktemp -d /tmp/fthnuma-src.XXXXXX)"
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/parts" "$tmp/dl" "$tmp/x"
  cat >"$tmp/sources.list" <<'EOF'
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
EOF
  local opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/parts"
              -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "APT::Sandbox::User=root")
  apt-get -q "${opts[@]}" update >"$tmp/update.log" 2>&1 \
    || fail "apt-get update with a private deb-src list failed: $(tail -n 3 "$tmp/update.log" | tr '\n' ' ')"
  local want="$srcver"
  if ! (cd "$tmp/dl" && apt-get -q "${opts[@]}" source --download-only "qemu=$want" >"$tmp/source.log" 2>&1); then
    # The archive keeps only recent point releases: take the newest 7.2 it has.
    want="$(apt-cache "${opts[@]}" showsrc qemu 2>/dev/null | sed -n 's/^Version: //p' | grep -E '^([0-9]+:)?7\.2' | sort -V | tail -n 1)"
    [ -n "$want" ] || fail "no QEMU 7.2 source package in the archive (wanted $srcver): $(tail -n 2 "$tmp/source.log" | tr '\n' ' ')"
    (cd "$tmp/dl" && apt-get -q "${opts[@]}" source --download-only "qemu=$want" >"$tmp/source.log" 2>&1) \
      || fail "apt-get source --download-only qemu=$want failed: $(tail -n 3 "$tmp/source.log" | tr '\n' ' ')"
    printf 'fthnuma plugin build: source %s is gone from the archive; using the header of %s\n' "$srcver" "$want" >&2
  fi
  local orig
  orig="$(ls "$tmp"/dl/qemu_*.orig.tar.xz 2>/dev/null | head -n 1)"
  [ -n "$orig" ] || fail "apt-get source downloaded no orig tarball (see $(cat "$tmp/source.log" | tail -n 2 | tr '\n' ' '))"
  tar -xJf "$orig" -C "$tmp/x" --wildcards '*/include/qemu/qemu-plugin.h' 2>"$tmp/tar.log" \
    || fail "include/qemu/qemu-plugin.h is not in $(basename "$orig"): $(cat "$tmp/tar.log")"
  local h
  h="$(ls "$tmp"/x/*/include/qemu/qemu-plugin.h | head -n 1)"
  # Debian's patches (the v7.2.N stable diffs among them) could change the header: apply, in
  # series order, the part of each patch that touches it.
  local deb
  deb="$(ls "$tmp"/dl/qemu_*.debian.tar.xz 2>/dev/null | head -n 1)"
  if [ -n "$deb" ]; then
    mkdir -p "$tmp/deb"
    tar -xJf "$deb" -C "$tmp/deb" debian/patches 2>/dev/null || true
    if [ -f "$tmp/deb/debian/patches/series" ]; then
      local p
      while read -r p _; do
        case "$p" in ''|'#'*) continue;; esac
        [ -f "$tmp/deb/debian/patches/$p" ] || continue
        grep -q '^+++ b/include/qemu/qemu-plugin.h' "$tmp/deb/debian/patches/$p" || continue
        awk '/^diff --git /{p = ($0 ~ / a\/include\/qemu\/qemu-plugin\.h /)} p' "$tmp/deb/debian/patches/$p" >"$tmp/hunk.diff"
        (cd "$(dirname "$h")/../.." && patch -s -p1 <"$tmp/hunk.diff") \
          || fail "Debian patch $p does not apply to qemu-plugin.h"
      done <"$tmp/deb/debian/patches/series"
    fi
  fi
  grep -q 'QEMU_PLUGIN_VERSION' "$h" || fail "$h does not look like the QEMU plugin header"
  mkdir -p "$cache"
  cp "$h" "$hdr.tmp.$$"
  printf 'qemu source %s (installed qemu-system-x86 source version %s), from %s\n' "$want" "$srcver" "$(basename "$orig")" >"$cache/SOURCE"
  mv "$hdr.tmp.$$" "$hdr"
  rm -rf "$tmp"
  tmp=""
}

if [ ! -s "$hdr" ]; then
  fetch_header
fi

if [ "$force" = 0 ] && [ -f "$out" ] && [ "$out" -nt "$here/counter.c" ] && [ "$out" -nt "$hdr" ]; then
  exit 0
fi

tmp="$(mktemp -d /tmp/fthnuma-build.XXXXXX)"
cc -O2 -shared -fPIC -Wall -Wextra -I"$cache" "$here/counter.c" -o "$tmp/libfthnuma.so" -lpthread 2>"$tmp/cc.log" \
  || fail "cc failed: $(cat "$tmp/cc.log")"
if [ -s "$tmp/cc.log" ]; then cat "$tmp/cc.log" >&2; fi

# Does this QEMU load it? A machine without CPUs, the monitor on stdin told to quit: install runs,
# the counters file gets its header, and the atexit callback marks it exited (u64 at offset 112).
printf 'quit\n' | timeout 30 qemu-system-x86_64 -M none -accel tcg -display none -nodefaults -S \
  -plugin "$tmp/libfthnuma.so,out=$tmp/counters,series=$tmp/series,vcpus=1,nodes=1,pages=16" \
  -monitor stdio >"$tmp/qemu.log" 2>&1 \
  || fail "qemu-system-x86_64 does not load the plugin: $(grep -v '^(qemu)\|^QEMU .*monitor' "$tmp/qemu.log" | tail -n 5 | tr '\n' ' ')"
[ "$(head -c 8 "$tmp/counters" 2>/dev/null)" = FTHNUMA1 ] || fail "QEMU loaded the plugin but the counters file has no FTHNUMA1 header"
[ "$(od -An -tu8 -j112 -N8 "$tmp/counters" | tr -d ' ')" = 1 ] || fail "QEMU loaded the plugin but its atexit callback did not run"

mv "$tmp/libfthnuma.so" "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
