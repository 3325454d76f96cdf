#!/usr/bin/env bash
# The systemd unit passes `systemd-analyze verify` without a single complaint
# (verify exits 0 on unknown keys and only warns, so any output is a failure).
# ExecStart points at the built binary, since /usr/sbin/ntsd need not exist here.
# --man=no: Documentation=man:ntsd(8) is made by the package build (help2man), so
# it is not installed here; the chroot check finds it in the installed package.
set -euo pipefail
unit=$1
bin_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|/usr/sbin/ntsd|$bin_dir/ntsd|g" "$unit" > "$work/ntsd.service"
if ! output=$(systemd-analyze verify --man=no "$work/ntsd.service" 2>&1); then
  echo "systemd-analyze verify failed:"; echo "$output"; exit 1
fi
if [ -n "$output" ]; then
  echo "systemd-analyze verify complained:"; echo "$output"; exit 1
fi
echo "ntsd.service: systemd-analyze verify clean"
