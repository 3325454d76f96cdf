"""chrony 4.6 from the Debian 13 chroot that scripts/install-deps.sh builds in
third_party/trixie (debootstrap --variant=minbase --include=chrony,...).

Each chronyd or chronyc runs in a private mount namespace (`unshare --mount`), where the
test's temp dir is bind-mounted at the same path inside the chroot, then `chroot`s into
it: so certificates, configuration, dump files and the command socket keep the paths
the test knows, and nothing is mounted on the host.  chronyd runs as root (`-u root`)
like the chrony 4.3 tests, so the temp-dir key stays readable after it drops
privileges; -x keeps it off the clock and NO_CLOCK_CAPS takes CAP_SYS_TIME away.
"""

import os
import re
import tempfile

from ntsd_harness import (NO_CLOCK_CAPS, REPO_ROOT, answers_at_stratum, chrony_common_lines,
                          free_port, lost_port_race, tcp_accepts, wait_chronyd, write_chrony_conf)

TRIXIE_ROOT = os.environ.get("NTSD_TRIXIE_ROOT") or os.path.join(REPO_ROOT, "third_party",
                                                                 "trixie")
CHRONYD46 = os.path.join(TRIXIE_ROOT, "usr", "sbin", "chronyd")

_ENTER = ('root=$1; dir=$2; shift 2; mount --make-rprivate / && mkdir -p "$root$dir" && '
          'mount --bind "$dir" "$root$dir" && exec chroot "$root" "$@"')


def in_trixie(shared_dir, argv):
    """argv run inside the chroot with shared_dir bind-mounted at the same path."""
    return ["unshare", "--mount", "--", "/bin/sh", "-c", _ENTER, "sh", TRIXIE_ROOT,
            shared_dir] + list(argv)


def require_trixie(test):
    if not os.access(CHRONYD46, os.X_OK):
        test.fail("chrony 4.6 chroot missing at %s: run scripts/install-deps.sh" % TRIXIE_ROOT)


def chrony46_version(test):
    res = test.run_tool(in_trixie(test.tmp, ["chronyd", "-v"]), timeout=30)
    m = re.search(r"version (\d+\.\d+(?:\.\d+)?)", res.stdout + res.stderr)
    return m.group(1) if m else None


class Chrony46:
    def __init__(self, test, proc, workdir, ke_port=None, ntp_port=None):
        self.test = test
        self.proc = proc
        self.workdir = workdir
        self.ke_port = ke_port
        self.ntp_port = ntp_port
        self.socket = os.path.join(workdir, "chronyd.sock")

    def chronyc(self, *args, timeout=15):
        return self.test.run_tool(in_trixie(self.test.tmp, ["chronyc", "-n", "-h", self.socket]
                                            + list(args)), timeout=timeout)


def _conf(test, prefix, lines):
    workdir = tempfile.mkdtemp(prefix=prefix, dir=test.tmp)
    common = [l for l in chrony_common_lines(workdir) if not l.startswith("bindcmdaddress")]
    common.append("bindcmdaddress %s" % os.path.join(workdir, "chronyd.sock"))
    return workdir, write_chrony_conf(workdir, common + lines)


def start_chrony46_client(test, server_line, ca, extra=()):
    """chronyd 4.6 (-d -x) with one NTS source; its command socket answers chronyc."""
    workdir, conf = _conf(test, "chrony46-client-", [server_line, "ntstrustedcerts %s" % ca]
                          + list(extra))
    proc = test.spawn("chronyd46-client", NO_CLOCK_CAPS + in_trixie(
        test.tmp, ["chronyd", "-d", "-x", "-u", "root", "-f", conf]))
    return Chrony46(test, proc, workdir)


def start_chrony46_server(test, cert, key, stratum=4, aeads=None, ready_timeout=15.0):
    """chronyd 4.6 as an NTS server on free 127.0.0.1 ports (`local stratum`)."""
    host = "127.0.0.1"
    proc = None
    for _ in range(4):
        ke_port = free_port("tcp", (host,))
        ntp_port = free_port("udp", (host,))
        lines = ["port %d" % ntp_port, "ntsport %d" % ke_port, "bindaddress %s" % host,
                 "allow %s" % host, "local stratum %d" % stratum,
                 "ntsservercert %s" % cert, "ntsserverkey %s" % key]
        if aeads:
            lines.append("ntsaeads %s" % " ".join(str(a) for a in aeads))
        workdir, conf = _conf(test, "chrony46-server-", lines)
        proc = test.spawn("chronyd46-server", NO_CLOCK_CAPS + in_trixie(
            test.tmp, ["chronyd", "-d", "-x", "-u", "root", "-f", conf]))
        if wait_chronyd(proc, lambda: (tcp_accepts(host, ke_port, 0.3)
                                       and answers_at_stratum(host, ntp_port, stratum)),
                        ready_timeout):
            return Chrony46(test, proc, workdir, ke_port, ntp_port)
        if lost_port_race(proc):
            continue
        break
    test.fail("chronyd 4.6 NTS server did not become ready:\n%s" % (proc.logs() if proc else ""))


def parse_authdata(text):
    """`chronyc -n authdata` rows: {address: {mode, keyid, type, klen, nak, cook, clen}}."""
    rows = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 10 and fields[1] in ("NTS", "SK", "-"):
            rows[fields[0]] = {"mode": fields[1], "keyid": fields[2], "type": fields[3],
                               "klen": fields[4], "nak": fields[7], "cook": fields[8],
                               "clen": fields[9]}
    return rows


def selected_source(text):
    """The address of the `^*` line of `chronyc -n sources`, or None."""
    for line in text.splitlines():
        if line.startswith("^*"):
            return line[2:].split()[0]
    return None
