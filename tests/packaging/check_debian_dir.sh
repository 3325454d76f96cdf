#!/usr/bin/env bash
# The debian/ directory, checked without building the package (that takes minutes:
# `make check-package` builds it and runs lintian). Each check names what it found.
#   check_debian_dir.sh SOURCE_DIR PROJECT_VERSION
set -euo pipefail
src=$1
version=$2
d="$src/debian"
fail() { echo "debian/: $*"; exit 1; }

field() { # field NAME [PARAGRAPH]: a control field, continuation lines joined
  awk -v want="$1" -v para="${2:-0}" '
    /^$/ { p++; next }
    p != para { next }
    /^[^ \t]/ { f = $0; sub(/:.*/, "", f); v = $0; sub(/^[^:]*:[ \t]*/, "", v) }
    /^[ \t]/ && f == want { printf " %s", $0; next }
    /^[^ \t]/ && f == want { printf "%s", v }' "$d/control"
}

# The changelog's version is the one CMake builds.
changelog_version=$(dpkg-parsechangelog -l "$d/changelog" -S Version)
[ "${changelog_version%%-*}" = "$version" ] ||
  fail "changelog version $changelog_version, CMake project version $version"
grep -qx '3.0 (native)' "$d/source/format" || fail "source/format is not 3.0 (native)"

# Control: compat 13, the binary package's relations and a real description.
field Build-Depends | grep -q 'debhelper-compat (= 13)' || fail "Build-Depends lacks debhelper-compat (= 13)"
for dep in help2man cmake libssl-dev nettle-dev libspdlog-dev libtomlplusplus-dev libcli11-dev \
           libgcrypt20-dev clang libbpf-dev libxdp-dev; do
  field Build-Depends | grep -qw -- "$dep" || fail "Build-Depends lacks $dep"
done
[ "$(field Package 1)" = ntsd ] || fail "the binary package is not named ntsd"
field Recommends 1 | grep -qw chrony || fail "Recommends lacks chrony"
field Depends 1 | grep -qw adduser || fail "Depends lacks adduser (postinst runs it)"
lines=$(field Description 1 | grep -o ' \. \| [^ ]' | wc -l)
[ "$lines" -gt 20 ] || fail "the extended description is too short"
grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' "$d/copyright" ||
  fail "copyright is not DEP-5"

# Rules: the CMake build system, only the shipped targets, no test suite.
grep -q 'dh $@ --buildsystem=cmake' "$d/rules" || fail "rules does not run dh with --buildsystem=cmake"
grep -q 'dh_auto_build -- ntsd nts-query' "$d/rules" || fail "rules builds more than ntsd and nts-query"
grep -q '^override_dh_auto_test:' "$d/rules" || fail "rules would run the test suite"
for opt in NTSD_BUILD_TESTS NTSD_BUILD_BENCH NTSD_INSTALL_SYSTEMD_UNIT; do
  grep -q -- "-D$opt=OFF" "$d/rules" || fail "rules does not set $opt=OFF"
  grep -q "option($opt " "$src/CMakeLists.txt" || fail "CMakeLists.txt has no option $opt"
done

# The unit dh_installsystemd installs is the one in packaging/.
cmp -s "$d/ntsd.service" "$src/packaging/ntsd.service" || fail "ntsd.service differs from packaging/"
grep -qx 'packaging/ntsd.toml etc/ntsd' "$d/ntsd.install" || fail "the example is not installed to /etc/ntsd"

# Maintainer scripts: POSIX sh, the debhelper token, the user made before the unit starts.
for s in "$d"/ntsd.postinst "$d"/ntsd.postrm; do
  sh -n "$s" || fail "$(basename "$s") has a syntax error"
  grep -qx '#DEBHELPER#' "$s" || fail "$(basename "$s") lacks #DEBHELPER#"
  [ -x "$s" ] || fail "$(basename "$s") is not executable"
  if command -v checkbashisms >/dev/null; then checkbashisms "$s" || fail "bashisms in $(basename "$s")"; fi
done
user_line=$(grep -n 'adduser --system' "$d/ntsd.postinst" | cut -d: -f1)
token_line=$(grep -n '^#DEBHELPER#' "$d/ntsd.postinst" | cut -d: -f1)
[ -n "$user_line" ] && [ "$user_line" -lt "$token_line" ] ||
  fail "postinst must create the user ntsd before #DEBHELPER# starts the unit"
grep -q '^User=ntsd' "$d/ntsd.service" || fail "the unit does not run as the package's user ntsd"
if grep -q '^DynamicUser=yes' "$d/ntsd.service"; then fail "the unit uses DynamicUser= beside a static user"; fi
echo "debian/: ok (version $changelog_version)"
