#!/usr/bin/env bash
# Installs the built package in a clean Debian 12 chroot and checks what its
# maintainer scripts did, as an administrator would see it. Run as root:
#   tests/packaging/chroot_install_check.sh CHROOT DEB_DIR
# CHROOT: made with `debootstrap --variant=minbase bookworm CHROOT MIRROR` (changed
# by this script: use a throw-away copy). DEB_DIR holds ntsd_*.deb
# (scripts/build-deb.sh). systemd does not run in a chroot, so the unit is not
# started; ntsd is started by hand instead, as user ntsd under the unit's system
# call filter (emulated), with the `kernel` time source, and queried with the
# packaged nts-query on loopback: LI 3 while the kernel clock is unsynchronised,
# LI 0 once it is marked synchronised (then restored). Also changes the kernel's
# NTP status for a few seconds (kernel_ntp_status.py), and puts it back.
set -euo pipefail
c=$(realpath "$1")
debs=$(realpath "$2")
deb=$(ls "$debs"/ntsd_*_amd64.deb)
inroot() { chroot "$c" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

here=$(cd "$(dirname "$0")" && pwd)
mounted=0
ntsd_pid=""
kernel_saved=""  # the kernel's NTP status to put back (see "plays the part" below)
# Processes whose root is the chroot: only this script starts any there.
in_chroot_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$c" ] && echo "${p#/proc/}"
  done
  return 0
}
cleanup() {
  if [ -n "$kernel_saved" ] && [ -s "$kernel_saved" ]; then
    python3 "$here/kernel_ntp_status.py" restore "$kernel_saved" ||
      echo "WARNING: kernel NTP status not restored; it was: $(cat "$kernel_saved")" >&2
  fi
  if [ -n "$ntsd_pid" ]; then kill "$ntsd_pid" 2>/dev/null || true; wait "$ntsd_pid" 2>/dev/null || true; fi
  local p
  for p in $(in_chroot_pids); do kill "$p" 2>/dev/null || true; done
  if [ "$mounted" = 1 ]; then umount "$c/proc" || true; fi
  if [ -n "${work:-}" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP  # through cleanup
mount -t proc proc "$c/proc"
mounted=1
cp /etc/resolv.conf "$c/etc/resolv.conf"
cp "$deb" "$c/tmp/"
name=$(basename "$deb")

# Only what the package declares comes from the mirror.
inroot apt-get update -q >/dev/null
inroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "/tmp/$name" \
  > "$c/tmp/install.log" 2>&1 || { cat "$c/tmp/install.log"; fail "apt-get install"; }
ok "apt-get install ./$name (dependencies from the mirror)"

# The user, the directories, the conffile, the unit and its enable link.
inroot getent passwd ntsd | grep -q '^ntsd:x:[0-9]*:[0-9]*:.*:/var/lib/ntsd:/usr/sbin/nologin$' ||
  fail "user ntsd: $(inroot getent passwd ntsd)"
ok "system user: $(inroot getent passwd ntsd)"
[ "$(inroot stat -c '%U:%G %a' /var/lib/ntsd)" = "ntsd:ntsd 700" ] ||
  fail "/var/lib/ntsd is $(inroot stat -c '%U:%G %a' /var/lib/ntsd)"
[ "$(inroot stat -c '%U:%G %a' /etc/ntsd)" = "root:root 755" ] || fail "/etc/ntsd"
ok "/var/lib/ntsd ntsd:ntsd 0700, /etc/ntsd root:root 0755"
inroot dpkg-query -W -f='${Conffiles}\n' ntsd | grep -q '^ /etc/ntsd/ntsd.toml ' ||
  fail "/etc/ntsd/ntsd.toml is not a conffile"
ok "/etc/ntsd/ntsd.toml is a conffile"
wants=/etc/systemd/system/multi-user.target.wants/ntsd.service
[ "$(readlink "$c$wants")" = /lib/systemd/system/ntsd.service ] || fail "not enabled: $wants"
ok "enabled: $wants -> /lib/systemd/system/ntsd.service"
for f in /usr/share/man/man8/ntsd.8.gz /usr/share/man/man1/nts-query.1.gz \
         /usr/share/doc/ntsd/copyright /usr/share/doc/ntsd/changelog.gz \
         /usr/share/doc/ntsd/operations.md; do
  [ -f "$c$f" ] || fail "missing $f"
done
ok "manual pages, copyright, changelog, guides present"

# The example configuration, with a test certificate where it expects one.
work=$(mktemp -d)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$work/privkey.pem" -out "$work/fullchain.pem" 2>/dev/null
for f in fullchain.pem privkey.pem; do
  install -m 0640 -o root -g "$(inroot getent group ntsd | cut -d: -f3)" "$work/$f" "$c/etc/ntsd/$f"
done
out=$(inroot runuser -u ntsd -- /usr/sbin/ntsd --check-config --config /etc/ntsd/ntsd.toml 2>&1) ||
  fail "--check-config on the shipped example: $out"
ok "runuser -u ntsd -- ntsd --check-config (shipped example + test certificate): $out"
if out=$(inroot runuser -u ntsd -- /usr/sbin/ntsd --check-config --config /etc/ntsd/ntsd.toml \
           --keys /nonexistent/dir/k.toml 2>&1); then
  fail "--check-config accepted --keys /nonexistent/dir/k.toml"
fi
ok "--check-config refuses --keys /nonexistent/dir/k.toml: $out"
# Run as root for --user ntsd, --check-config checks the files as ntsd (which
# reloads the certificate): a key only root can read is refused, then accepted
# once its group ntsd may read it again.
chmod 0600 "$c/etc/ntsd/privkey.pem"
if out=$(inroot /usr/sbin/ntsd --check-config --config /etc/ntsd/ntsd.toml --user ntsd 2>&1); then
  fail "--check-config --user ntsd accepted a key only root can read"
fi
case $out in *"not readable by user ntsd"*) ;; *) fail "--check-config --user ntsd: $out" ;; esac
chmod 0640 "$c/etc/ntsd/privkey.pem"
out2=$(inroot /usr/sbin/ntsd --check-config --config /etc/ntsd/ntsd.toml --user ntsd 2>&1) ||
  fail "--check-config --user ntsd on a key ntsd can read: $out2"
ok "--check-config as root --user ntsd refuses a root-only key ($out), accepts it at 0640 root:ntsd"

# Serve with the kernel source on loopback ports as the unit runs ntsd: user ntsd,
# under the packaged unit's SystemCallFilter=. systemd does not run in a chroot, so
# the filter is emulated with libseccomp by run_under_unit_filter.py, from the
# unit's own SystemCallFilter= lines (as the ctest packaging.unit_filter_kernel does).
unit="$c/lib/systemd/system/ntsd.service"
ntsd_ids="$(inroot id -u ntsd):$(inroot id -g ntsd)"
under_unit() { python3 "$here/run_under_unit_filter.py" --chroot "$c" --user "$ntsd_ids" "$unit" "$@"; }
free_port() { python3 -c "import socket; s = socket.socket(socket.AF_INET, socket.$1); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
ke_port=$(free_port SOCK_STREAM)
ntp_port=$(free_port SOCK_DGRAM)
sed -e 's/^source = "upstream"/source = "kernel"/' -e '/^upstreams = /d' \
  "$c/etc/ntsd/ntsd.toml" > "$c/tmp/kernel.toml"
grep -q '^source = "kernel"' "$c/tmp/kernel.toml" || fail "could not switch the example to kernel"
chmod 644 "$c/tmp/kernel.toml"
out=$(under_unit /usr/sbin/ntsd --check-config --config /tmp/kernel.toml 2>&1) ||
  fail "--check-config with the kernel source under the unit's filter: $out"
ok "--check-config with source = \"kernel\" as ntsd under the unit's filter (adjtimex read works): $out"
# Control: the emulated filter bites here too. Without the unit's adjtimex line
# (the unit before the fix) the same check fails, naming the time source.
grep -v '^SystemCallFilter=adjtimex' "$unit" > "$work/no-adjtimex.service"
if out=$(python3 "$here/run_under_unit_filter.py" --chroot "$c" --user "$ntsd_ids" \
           "$work/no-adjtimex.service" /usr/sbin/ntsd --check-config --config /tmp/kernel.toml 2>&1); then
  fail "--check-config passed under a filter without adjtimex"
fi
case $out in *"--time-source"*"adjtimex: Operation not permitted"*) ;; *) fail "without adjtimex: $out" ;; esac
ok "control: under the unit without its adjtimex line, --check-config says: $out"
# Not through under_unit(): a function would run in a subshell, and $! must be
# ntsd's own process (run_under_unit_filter.py execs it), which cleanup stops.
python3 "$here/run_under_unit_filter.py" --chroot "$c" --user "$ntsd_ids" "$unit" \
  /usr/sbin/ntsd --config /tmp/kernel.toml \
  --ke-listen "127.0.0.1:$ke_port" --ntp-listen "127.0.0.1:$ntp_port" > "$work/ntsd.log" 2>&1 &
ntsd_pid=$!

# The leap indicator of one authenticated exchange with the packaged nts-query
# (its --json output), or nothing when it did not get one.
leap() {
  inroot /usr/bin/nts-query "127.0.0.1:$ke_port" --ca /etc/ntsd/fullchain.pem --json \
    > "$work/query.json" 2> "$work/query.err" || true
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
e = r["exchanges"][0] if r["ok"] and r["exchanges"] else {}
print("" if e.get("leap") is None else e["leap"])' "$work/query.json" 2>/dev/null || true
}
# Waits up to 10 s for LI $1: ntsd reads the kernel's state every second.
wait_leap() {
  local got=""
  for _ in $(seq 50); do
    got=$(leap)
    [ "$got" = "$1" ] && return 0
    kill -0 "$ntsd_pid" 2>/dev/null || break
    sleep 0.2
  done
  cat "$work/query.json" "$work/query.err" "$work/ntsd.log"
  fail "ntsd with the kernel source served LI ${got:-nothing}, expected LI $1"
}
served() { python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))["exchanges"][0]
print("LI %d, stratum %d, refid %s" % (e["leap"], e["stratum"], e["refid"]))' "$work/query.json"; }

# Whether the kernel's clock is synchronised is what a time daemon tells it; nothing
# disciplines it on this machine or on CI (no time daemon: STA_UNSYNC set, maxerror
# 16 s), so ntsd rightly serves LI 3 there. To show LI 0 this test plays the part of
# the daemon the package Recommends (chronyd) the simple way: adjtimex(ADJ_STATUS |
# ADJ_MAXERROR | ADJ_ESTERROR) clearing STA_UNSYNC with a small maximum error, as
# chronyd does once synchronised (kernel_ntp_status.py; the time itself is not
# touched). cleanup() puts the previous status back, also on failure.
kernel=$(python3 "$here/kernel_ntp_status.py" show)
case $kernel in
  unsynchronised*)
    wait_leap 3
    ok "kernel clock unsynchronised (status, maxerror, esterror: ${kernel#* }): ntsd serves $(served)"
    kernel_saved="$work/kernel-status"
    python3 "$here/kernel_ntp_status.py" mark-synchronised > "$kernel_saved"
    wait_leap 0
    ok "kernel clock marked synchronised ($(python3 "$here/kernel_ntp_status.py" show | cut -d' ' -f2-)): ntsd serves $(served)"
    python3 "$here/kernel_ntp_status.py" restore "$kernel_saved"
    kernel_saved=""
    wait_leap 3
    ok "kernel status restored ($(python3 "$here/kernel_ntp_status.py" show | cut -d' ' -f2-)): ntsd serves $(served) again"
    ;;
  *)
    # A time daemon here keeps the kernel synchronised: nothing to play.
    wait_leap 0
    ok "kernel clock synchronised by this machine's time daemon: ntsd serves $(served)"
    ;;
esac
if grep -q 'adjtimex' "$work/ntsd.log"; then cat "$work/ntsd.log"; fail "kernel source failed"; fi
[ "$(readlink "/proc/$ntsd_pid/exe")" = "$c/usr/sbin/ntsd" ] ||
  fail "process $ntsd_pid is $(readlink "/proc/$ntsd_pid/exe"), not the chroot's ntsd"
kill "$ntsd_pid"; wait "$ntsd_pid" || true; ntsd_pid=""
left=$(in_chroot_pids)
[ -z "$left" ] || fail "still running in the chroot after SIGTERM: $left"
[ -f "$c/var/lib/ntsd/cookie-keys.toml" ] || fail "no key file written"
[ "$(inroot stat -c '%U %a' /var/lib/ntsd/cookie-keys.toml)" = "ntsd 600" ] || fail "key file mode"
ok "cookie keys written to /var/lib/ntsd/cookie-keys.toml (ntsd, 0600)"

# Remove: the binaries and the enable link go, configuration and state stay.
inroot env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q ntsd >/dev/null 2>&1 || fail "apt-get remove"
[ ! -e "$c/usr/sbin/ntsd" ] || fail "ntsd left after remove"
[ ! -L "$c$wants" ] || fail "enable link left after remove: $wants"
[ -f "$c/etc/ntsd/ntsd.toml" ] && [ -f "$c/var/lib/ntsd/cookie-keys.toml" ] ||
  fail "remove deleted configuration or state"
ok "remove: binaries and enable link gone; /etc/ntsd and /var/lib/ntsd kept"

# Purge: the conffile, the state and dpkg's records go; the certificates an
# administrator put in /etc/ntsd (not the package's) and the user stay.
inroot env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q ntsd >/dev/null 2>&1 || fail "apt-get purge"
[ ! -e "$c/etc/ntsd/ntsd.toml" ] || fail "conffile left after purge"
[ ! -e "$c/var/lib/ntsd" ] || fail "/var/lib/ntsd left after purge"
if inroot dpkg-query -W ntsd >/dev/null 2>&1; then fail "dpkg still knows ntsd"; fi
[ -z "$(find "$c/etc/systemd" -name 'ntsd*' 2>/dev/null)" ] || fail "systemd links left after purge"
left=$(ls -A "$c/etc/ntsd" 2>/dev/null | tr '\n' ' ')
ok "purge: conffile, /var/lib/ntsd, dpkg records and systemd links gone; left in /etc/ntsd: ${left:-nothing}; user ntsd kept: $(inroot getent passwd ntsd | cut -d: -f1)"
echo "chroot check passed"
