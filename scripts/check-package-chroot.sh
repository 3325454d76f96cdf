#!/usr/bin/env bash
# Installs the package built by scripts/build-deb.sh in a clean Debian 12 chroot and
# checks it (tests/packaging/chroot_install_check.sh): user, directories, conffile,
# enable link, --check-config as user ntsd, ntsd under the unit's system call filter
# (emulated) with the kernel source serving the packaged nts-query LI 3, then LI 0
# while the test marks the kernel clock synchronised (its NTP status is put back
# afterwards), remove and purge. Needs root (chroot, mount, adjtimex) and the Debian
# mirror apt already uses.
#   scripts/check-package-chroot.sh [OUTDIR]     (default: build-deb/, git-ignored)
# The minbase chroot is made once with debootstrap and kept in OUTDIR/chroot-base
# (about 200 MB); each run works on a copy, removed afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build-deb}")
[ "$(id -u)" -eq 0 ] || { echo "check-package-chroot: needs root (chroot, mount)" >&2; exit 1; }
ls "$out"/ntsd_*_amd64.deb >/dev/null || { echo "run scripts/build-deb.sh first" >&2; exit 1; }

base="$out/chroot-base"
if [ ! -x "$base/usr/bin/apt-get" ]; then
  # The first Debian (not security) mirror in apt's sources.
  # (/etc/apt/sources.list may be absent: grep's status is not the answer.)
  mirror=$( (grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
               /etc/apt/sources.list.d/ 2>/dev/null || true) | awk 'NR == 1 { print $1 }')
  [ -n "$mirror" ] || { echo "check-package-chroot: no Debian mirror in /etc/apt/sources.list*" >&2; exit 1; }
  rm -rf "$base"
  debootstrap --variant=minbase bookworm "$base" "$mirror" >"$out/debootstrap.log" 2>&1 ||
    { tail -n 20 "$out/debootstrap.log"; rm -rf "$base"; exit 1; }
fi
run="$out/chroot-run"
rm -rf "$run"
cp -a "$base" "$run"
trap 'if mountpoint -q "$run/proc"; then umount "$run/proc"; fi; rm -rf "$run"' EXIT
bash "$root/tests/packaging/chroot_install_check.sh" "$run" "$out"
