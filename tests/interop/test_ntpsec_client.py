"""NTPsec 1.2.2 ntpd as an NTS client of ntsd.

Proves: NTPsec (OpenSSL-based, written independently of ntsd) completes NTS-KE with ntsd
(`server 127.0.0.1:KEPORT nts ca CERT`), reads the whole response in its single read,
gets 8 cookies with AEAD 15, learns ntsd's NTP port from the Port record, and then
accepts NTS-authenticated NTP answers.  NTPsec 1.2.2 drops any reply to an NTS
association that fails NTS processing *before* its clock filter (ntp_proto.c: "EX-REP"),
so each debug line "clock_filter: n K ..." is one accepted, authenticated sample; we
require several.  The "reachable" peer event must show the authentic bit.  A run with the
wrong CA must fail, which shows the positive checks can fail.

The same checks run against chronyd as the NTS server (test_reference_*), which proves
the NTPsec configuration independently of ntsd.

Safety and bounds: ntpd runs in the foreground (-n) with debug level 1 (-D 1), with
`disable ntp` and `disable kernel`, and without CAP_SYS_TIME (setpriv), because
`disable kernel` alone does not stop NTPsec 1.2.2 from calling ntp_adjtime at start-up.
It is stopped as soon as the evidence is in, or after NTPSEC_DEADLINE seconds.
NTPsec always binds UDP port 123 (there is no setting to move it), so ctest runs this
file under RESOURCE_LOCK udp_port_123.  IPv6 is not covered: NTPsec 1.2.2 mis-parses
`server [::1]:PORT nts` ("Servname not supported for ai_socktype").
"""

import fcntl
import os
import re
import shutil
import socket
import time
import unittest

from ntsd_harness import (NO_CLOCK_CAPS, NTPSEC_NTPD, NtsdTestCase, _can_bind, make_cert,
                          start_chrony_nts_server, wait_until)

NTPSEC_DEADLINE = 40  # seconds; minpoll 3 + iburst gives a sample every ~2 s
# RESOURCE_LOCK only serialises tests inside one ctest run; this lock file also
# serialises NTPsec runs from different build trees on the same machine.
PORT123_LOCK = "/tmp/ntsd-tests-udp123.lock"
PORT123_LOCK_WAIT = 150
WANT_SAMPLES = 3

GOT_COOKIES_RE = re.compile(r"NTSc: Got (\d+) cookies, length (\d+), aead=(\d+)\.")
KE_OK_RE = re.compile(r"NTSc: NTS-KE req to (\S+) took [0-9.]+ sec, OK")
KE_FAIL_RE = re.compile(r"NTSc: NTS-KE req to (\S+) took [0-9.]+ sec, fail")
PORT_RE = re.compile(r"NTSc: Using port (\d+)")
SAMPLE_RE = re.compile(r"^clock_filter: n (\d+) off (-?[0-9.]+) del ([0-9.]+)", re.M)
# "event at 1 127.0.0.1 e014 84 reachable": peer status word; 0x2000 = authentic.
REACH_RE = re.compile(r"event at \d+ (\S+) ([0-9a-f]{4}) [0-9a-f]{2} reachable")


class NtpsecMixin:
    def run_ntpsec(self, ke_host, ke_port, ca, stop_early=True):
        """Runs NTPsec ntpd against ke_host:ke_port until it has WANT_SAMPLES samples,
        a KE failure, or the deadline.  Returns its combined output."""
        self.require_file(NTPSEC_NTPD, "NTPsec ntpd (run scripts/install-deps.sh)")
        self.require_file(shutil.which("stdbuf") or "/usr/bin/stdbuf", "stdbuf")
        self._lock_port_123()
        workdir = os.path.join(self.tmp, "ntpsec-%d" % len(self.procs))
        os.makedirs(workdir)
        conf = os.path.join(workdir, "ntp.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "server %s:%d nts ca %s iburst minpoll 3 maxpoll 4" % (ke_host, ke_port, ca),
                "disable ntp",     # never discipline the clock (open feedback loop)
                "disable kernel",  # no kernel PLL
                "driftfile %s" % os.path.join(workdir, "ntp.drift"),
                "statsdir %s/" % workdir,
                "interface listen 127.0.0.1",
            ]) + "\n")
        # stdbuf -oL: ntpd's debug printf()s go to a file; line buffering lets us poll it.
        argv = NO_CLOCK_CAPS + ["stdbuf", "-oL", "-eL", NTPSEC_NTPD, "-n", "-D", "1",
                                "-c", conf, "-p", os.path.join(workdir, "ntpd.pid")]
        proc = self.spawn("ntpsec-ntpd", argv)

        def done():
            out = proc.stdout() + proc.stderr()
            if proc.poll() is not None or KE_FAIL_RE.search(out):
                return True
            return stop_early and len(SAMPLE_RE.findall(out)) >= WANT_SAMPLES

        try:
            wait_until(done, NTPSEC_DEADLINE, interval=0.2)
            exited = proc.poll()
        finally:
            proc.stop()  # before the port-123 lock is released
        out = proc.stdout() + proc.stderr()
        self.assertIsNone(exited, "NTPsec ntpd exited early (%s):\n%s" % (exited, out))
        return out

    def _lock_port_123(self):
        fd = os.open(PORT123_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        self.addCleanup(os.close, fd)
        deadline = time.monotonic() + PORT123_LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.fail("another NTPsec test held %s for over %ds" %
                              (PORT123_LOCK, PORT123_LOCK_WAIT))
                time.sleep(0.5)
        self.addCleanup(fcntl.flock, fd, fcntl.LOCK_UN)
        # Something outside the tests (a system ntpd/chronyd) may own port 123.
        ok = wait_until(lambda: _can_bind(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", 123),
                        10, interval=0.5)
        if not ok:
            self.fail("UDP 127.0.0.1:123 is in use; NTPsec's ntpd cannot run beside it")

    def assert_ntpsec_synced(self, out, ke_host, ke_port, ntp_port):
        self.assertIsNone(KE_FAIL_RE.search(out), "NTS-KE failed:\n%s" % out)
        ok = KE_OK_RE.search(out)
        self.assertIsNotNone(ok, "no successful NTS-KE in NTPsec's log:\n%s" % out)
        self.assertEqual(ok.group(1), "%s:%d" % (ke_host, ke_port))
        got = GOT_COOKIES_RE.search(out)
        self.assertIsNotNone(got, "NTPsec did not report cookies:\n%s" % out)
        self.assertEqual(int(got.group(1)), 8, got.group(0))
        self.assertEqual(int(got.group(3)), 15, got.group(0))
        port = PORT_RE.search(out)
        self.assertIsNotNone(port, "NTPsec did not get an NTPv4 Port record:\n%s" % out)
        self.assertEqual(int(port.group(1)), ntp_port)
        samples = SAMPLE_RE.findall(out)
        self.assertGreaterEqual(len(samples), WANT_SAMPLES,
                                "too few NTS-authenticated samples accepted:\n%s" % out)
        for _, offset, delay in samples:
            self.assertLess(abs(float(offset)), 0.5)
            self.assertLess(float(delay), 1.0)
        reach = REACH_RE.search(out)
        self.assertIsNotNone(reach, "no 'reachable' event:\n%s" % out)
        self.assertEqual(reach.group(1), ke_host)
        self.assertTrue(int(reach.group(2), 16) & 0x2000,
                        "peer not marked authentic: %s" % reach.group(0))

    def assert_ntpsec_ke_fails(self, out):
        self.assertIsNotNone(KE_FAIL_RE.search(out), "expected a failed NTS-KE:\n%s" % out)
        self.assertIsNone(GOT_COOKIES_RE.search(out), out)
        self.assertEqual(SAMPLE_RE.findall(out), [], out)


class NtpsecClientOfNtsdTest(NtpsecMixin, NtsdTestCase):
    STRATUM = 2
    REFID = "192.0.2.10"

    def test_ntpsec_client_of_ntsd(self):
        ntsd = self.start_ntsd()
        out = self.run_ntpsec("127.0.0.1", ntsd.ke_port, self.cert)
        self.assert_ntpsec_synced(out, "127.0.0.1", ntsd.ke_port, ntsd.ntp_port)

    def test_ntpsec_wrong_ca_fails(self):
        ntsd = self.start_ntsd()
        other, _ = make_cert(os.path.join(self.tmp, "other"))
        out = self.run_ntpsec("127.0.0.1", ntsd.ke_port, other)
        self.assert_ntpsec_ke_fails(out)

    def test_reference_ntpsec_client_of_chronyd(self):
        server = start_chrony_nts_server(self, self.cert, self.key)
        out = self.run_ntpsec("127.0.0.1", server.ke_port, self.cert)
        self.assert_ntpsec_synced(out, "127.0.0.1", server.ke_port, server.ntp_port)


if __name__ == "__main__":
    unittest.main()
