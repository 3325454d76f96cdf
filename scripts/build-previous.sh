#!/usr/bin/env bash
# Builds the previous release's ntsd into third_party/previous/ntsd for
# tests/integration/test_keys_rolling_upgrade.py (a fleet in a rolling upgrade: this
# release beside the one before it, sharing one key file).
#
#   scripts/build-previous.sh        (ctest runs it as the fixture integration.previous_ntsd)
#
# The previous release is pinned to commit 0989979, the last one before AEAD 30 (issue
# 11): the release a fleet upgrades from, whose NTP hosts cannot serve AEAD 30 cookies.
# Moving the pin to a later commit would test an upgrade from a release that already
# has AEAD 30, which is not the case docs/configuration.md describes.
#
# Only the ntsd target is built (no tests, benchmarks, fuzzers or tools), from a
# `git archive` of that commit, with ccache when the machine has it; nothing is done
# when third_party/previous/ntsd was already built from that commit. A clone without
# the commit (a shallow clone) builds nothing: the test then skips and says why.
# Environment: JOBS (parallel compile jobs, default nproc).
set -euo pipefail

PREVIOUS_COMMIT=0989979407d8e776474f06355c4854ca2891a935

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/third_party/previous"
log() { echo "build-previous: $*" >&2; }

# One build at a time (make check and make check-sanitize may both ask for it).
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

if [ -x "$out/ntsd" ] && [ "$(cat "$out/commit" 2>/dev/null)" = "$PREVIOUS_COMMIT" ]; then
  log "$out/ntsd is built from $PREVIOUS_COMMIT"
  exit 0
fi
if ! git -C "$root" cat-file -e "$PREVIOUS_COMMIT^{commit}" 2>/dev/null; then
  log "commit $PREVIOUS_COMMIT is not in this clone (shallow clone?): nothing built," \
    "the rolling-upgrade test will skip"
  exit 0
fi

work="$out/work"
rm -rf "$work" "$out/ntsd" "$out/commit"
mkdir -p "$work/src"
git -C "$root" archive "$PREVIOUS_COMMIT" | tar -x -C "$work/src"

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the source tree, so that every clone shares the cache entries.
  export CCACHE_BASEDIR="$work/src" CCACHE_NOHASHDIR=1
fi
# NTSD_WERROR=OFF: old code must not stop building when a newer compiler adds a warning.
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DNTSD_WERROR=OFF \
  -DNTSD_BUILD_TESTS=OFF -DNTSD_BUILD_BENCH=OFF "${launcher[@]}" >&2
cmake --build "$work/build" --target ntsd -j "${JOBS:-$(nproc)}" >&2

cp "$work/build/bin/ntsd" "$out/ntsd.tmp"
mv "$out/ntsd.tmp" "$out/ntsd"
echo "$PREVIOUS_COMMIT" >"$out/commit"
rm -rf "$work"
log "built $out/ntsd from $PREVIOUS_COMMIT"
