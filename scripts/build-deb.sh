#!/usr/bin/env bash
# Builds the Debian package from this checkout and checks it with lintian:
#   scripts/build-deb.sh [OUTDIR]      (default: build-deb/, git-ignored)
# The tree (tracked and untracked, not ignored files) is copied to OUTDIR/src and
# built there with `dpkg-buildpackage -us -uc -b`, so the checkout stays clean;
# the .deb, its -dbgsym and the .changes land in OUTDIR. Build dependencies:
# `apt-get build-dep ./` in the checkout installs them (Build-Depends in
# debian/control). Only ntsd and nts-query are compiled (debian/rules).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build-deb}")
src="$out/src"

if ! (cd "$root" && dpkg-checkbuilddeps); then
  echo "build-deb: missing build dependencies; install them with: apt-get build-dep $root" >&2
  exit 1
fi

rm -rf "$src" "$out"/ntsd_* "$out"/ntsd-dbgsym_*
mkdir -p "$src"
# --verbatim-files-from: a listed name starting with "-" is a name, not an option;
# --ignore-failed-read: a tracked file deleted in the checkout is skipped.
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
   tar --null --verbatim-files-from --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null) |
  tar -xf - -C "$src"
# The symlink to the unit must survive the copy.
test -f "$src/debian/ntsd.service" || { echo "build-deb: debian/ntsd.service missing" >&2; exit 1; }

# ccache, when present, makes rebuilds of an unchanged tree fast (same path each time).
if command -v ccache >/dev/null; then export CMAKE_CXX_COMPILER_LAUNCHER=ccache; fi
start=$(date +%s)
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
  { tail -n 60 "$out/build.log"; echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2; exit 1; }
echo "build-deb: built in $(( $(date +%s) - start )) s"
rm -rf "$src"

changes=$(ls "$out"/ntsd_*.changes)
# Errors and warnings fail; overrides are in debian/ntsd.lintian-overrides.
lintian --fail-on error,warning --display-info "$changes" | tee "$out/lintian.log"
echo "build-deb: lintian clean"

# What an administrator relies on: the files, stripped binaries, the conffile.
deb=$(ls "$out"/ntsd_*.deb)
ls "$out"/ntsd-dbgsym_*.deb >/dev/null || { echo "build-deb: no -dbgsym package" >&2; exit 1; }
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for path in ./usr/sbin/ntsd ./usr/bin/nts-query ./lib/systemd/system/ntsd.service \
            ./etc/ntsd/ntsd.toml ./usr/share/man/man8/ntsd.8.gz ./usr/share/man/man1/nts-query.1.gz \
            ./usr/share/doc/ntsd/copyright ./usr/share/doc/ntsd/operations.md \
            ./usr/share/ntsd/ntsd.rules.yml ./usr/share/ntsd/ntsd-dashboard.json; do
  grep -qxF "$path" <<<"$contents" || { echo "build-deb: missing from the package: $path" >&2; exit 1; }
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | grep -qx /etc/ntsd/ntsd.toml ||
  { echo "build-deb: /etc/ntsd/ntsd.toml is not a conffile" >&2; exit 1; }
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
dpkg-deb -x "$deb" "$unpacked"
for bin in usr/sbin/ntsd usr/bin/nts-query; do
  if readelf -S "$unpacked/$bin" | grep -q '\.debug_info'; then
    echo "build-deb: $bin is not stripped" >&2; exit 1
  fi
done
echo "build-deb: contents ok (stripped binaries, conffile, unit, manual pages, monitoring files)"
ls -l "$out"/*.deb
