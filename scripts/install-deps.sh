#!/usr/bin/env bash
# Installs everything ntsd needs to build and test on Debian 12, idempotently.
# Skips `apt-get update` and `apt-get install` when every package is already present.
# NTPsec conflicts with chrony as a package, so its .deb is unpacked into
# third_party/ntpsec (git-ignored) instead of being installed. chrony 4.6 (AEAD 30,
# record 1024) comes from a Debian 13 chroot in third_party/trixie (git-ignored), built
# with debootstrap from the mirror apt already uses; the interop tests run its chronyd
# through `unshare --mount` + `chroot`.
set -euo pipefail

packages=(
  build-essential cmake pkg-config g++ make ccache
  libssl-dev openssl nettle-dev libgcrypt20-dev
  libasio-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format clang-tidy
  chrony libbsd0 libcap2 libssl3 python3
  iproute2 debootstrap
  libbpf-dev libxdp-dev xdp-tools bpftool
  prometheus gnuplot-nox
  faketime
  # the Debian package (make check-package, scripts/build-deb.sh) and its checks
  dpkg-dev debhelper help2man lintian devscripts debootstrap libseccomp2
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

updated=0
apt_update_once() {
  if [ "$updated" -eq 0 ]; then
    "${sudo_cmd[@]}" apt-get update -q
    updated=1
  fi
}

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt_update_once
  # The chrony and prometheus packages would start system services where an init system runs;
  # ntsd's tests start their own chronyd and Prometheus, so keep services from starting.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
    created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ "$created_policy" -eq 1 ]; then "${sudo_cmd[@]}" rm -f "$policy"; fi
fi

root=$(cd "$(dirname "$0")/.." && pwd)
ntpsec_dir="$root/third_party/ntpsec"
if [ ! -x "$ntpsec_dir/usr/sbin/ntpd" ]; then
  echo "install-deps: unpacking the ntpsec .deb into $ntpsec_dir"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download ntpsec >/dev/null 2>&1); then
    apt_update_once
    (cd "$work" && apt-get download ntpsec)
  fi
  mkdir -p "$ntpsec_dir"
  dpkg -x "$work"/ntpsec_*.deb "$ntpsec_dir"
fi

# The first deb822 URI or sources.list line of a Debian archive (not -security).
debian_mirror() {
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
    grep -v -- '-security' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
      awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

trixie_dir="$root/third_party/trixie"
if [ ! -x "$trixie_dir/usr/sbin/chronyd" ]; then
  mirror=$(debian_mirror)
  echo "install-deps: building a Debian 13 chroot with chrony in $trixie_dir from $mirror"
  rm -rf "$trixie_dir"
  mkdir -p "$trixie_dir"
  "${sudo_cmd[@]}" debootstrap --variant=minbase --include=chrony,openssl,ca-certificates \
    trixie "$trixie_dir" "$mirror"
fi
echo "install-deps: all dependencies present"
