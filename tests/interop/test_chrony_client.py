"""chrony 4.3 (chronyd -Q) as an NTS client of ntsd.

Proves: a real, independently written NTS client completes NTS-KE with ntsd (trusting the
dev certificate via ntstrustedcerts), follows ntsd's NTPv4 Port record to the NTP port,
gets NTS-authenticated answers and computes an offset.  chronyd never falls back to
unauthenticated NTP for an `nts` source, so the "System clock wrong by X seconds
(ignored)" line is only printed after authenticated exchanges; chrony's NTS dump file
(written on exit) confirms AEAD 15, the NTP port learnt from the KE, and a full pool of 8
cookies (i.e. ntsd returns one new cookie per placeholder).  A run with the wrong CA must
fail, which shows the positive checks can fail.

The same checks run against chronyd itself as the NTS server (ChronyReference*), which
proves the client configuration independently of ntsd.

Safety: chronyd runs with -Q (measure only) and without CAP_SYS_TIME; every chronyd gets a
fresh ntsdumpdir, because chrony reuses dumped cookies and keys across runs and would then
skip NTS-KE entirely (even with a wrong CA).
"""

import os
import re
import tempfile
import unittest

from ntsd_harness import (CHRONYD, CHRONY_OFFSET_RE, NO_CLOCK_CAPS, NtsdTestCase,
                          chrony_common_lines, make_cert, parse_chrony_nts_dump,
                          start_chrony_nts_server)

CHRONY_TIMEOUT = 20  # chronyd -t: give up (exit 1) after this many seconds


class ChronyClientMixin:
    def run_chronyd_q(self, host, ke_port, ca, ntp_port=None, limit=CHRONY_TIMEOUT):
        """chronyd -Q against host:ke_port with `nts`.  Returns (result, dump or None)."""
        workdir = tempfile.mkdtemp(prefix="chrony-client-", dir=self.tmp)
        server = "server %s nts ntsport %d iburst maxsamples 4" % (host, ke_port)
        if ntp_port is not None:
            server = "server %s port %d nts ntsport %d iburst maxsamples 4" % (host, ntp_port,
                                                                               ke_port)
        lines = [server, "ntstrustedcerts %s" % ca] + chrony_common_lines(workdir)
        conf = os.path.join(workdir, "chrony-client.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        argv = NO_CLOCK_CAPS + [CHRONYD, "-Q", "-t", str(limit), "-u", "root",
                                "-f", conf]
        res = self.run_tool(argv, timeout=limit + 15)
        dumps = [os.path.join(workdir, n) for n in os.listdir(workdir) if n.endswith(".nts")]
        dump = parse_chrony_nts_dump(dumps[0]) if dumps else None
        return res, dump

    def assert_chrony_synced(self, res, dump, ntp_port, expect_port_change):
        out = res.stdout + res.stderr
        self.assertEqual(res.returncode, 0, "chronyd -Q failed:\n%s" % out)
        m = re.search(CHRONY_OFFSET_RE, out)
        self.assertIsNotNone(m, "no offset line from chronyd -Q:\n%s" % out)
        self.assertLess(abs(float(m.group(1))), 0.5, out)
        self.assertNotIn("TLS handshake", out)
        if expect_port_change:
            # Only the KE's NTPv4 Port record can have told chrony this port.
            self.assertRegex(out, r"changed port to %d\b" % ntp_port)
        self.assertIsNotNone(dump, "chronyd wrote no NTS dump file")
        self.assertEqual(dump["aead"], 15, dump)
        self.assertEqual(dump["c2s_len"], 32, dump)
        self.assertEqual(dump["ntp_port"], ntp_port, dump)
        self.assertEqual(len(dump["cookies"]), 8, "chrony's cookie pool is not full: %r" % dump)

    def assert_chrony_fails(self, res, dump):
        out = res.stdout + res.stderr
        self.assertNotEqual(res.returncode, 0, out)
        self.assertIsNone(re.search(CHRONY_OFFSET_RE, out), out)
        self.assertRegex(out, r"TLS handshake .* failed", out)


class ChronyClientOfNtsdTest(ChronyClientMixin, NtsdTestCase):
    STRATUM = 2
    REFID = "192.0.2.9"

    def setUp(self):
        super().setUp()
        self.require_file(CHRONYD, "chronyd")

    def test_ipv4_follows_port_record(self):
        ntsd = self.start_ntsd()
        res, dump = self.run_chronyd_q("127.0.0.1", ntsd.ke_port, self.cert)
        self.assert_chrony_synced(res, dump, ntsd.ntp_port, expect_port_change=True)

    def test_ipv4_explicit_port(self):
        ntsd = self.start_ntsd()
        res, dump = self.run_chronyd_q("127.0.0.1", ntsd.ke_port, self.cert,
                                       ntp_port=ntsd.ntp_port)
        self.assert_chrony_synced(res, dump, ntsd.ntp_port, expect_port_change=False)

    def test_ipv6(self):
        ntsd = self.start_ntsd(hosts=("::1",))
        res, dump = self.run_chronyd_q("::1", ntsd.ke_port, self.cert)
        self.assert_chrony_synced(res, dump, ntsd.ntp_port, expect_port_change=True)

    def test_wrong_ca_fails(self):
        ntsd = self.start_ntsd()
        other, _ = make_cert(os.path.join(self.tmp, "other"))
        res, dump = self.run_chronyd_q("127.0.0.1", ntsd.ke_port, other, limit=6)
        self.assert_chrony_fails(res, dump)


class ChronyReferenceTest(ChronyClientMixin, NtsdTestCase):
    """The same client configuration against chronyd as the NTS server."""

    def setUp(self):
        super().setUp()
        self.require_file(CHRONYD, "chronyd")

    def test_chrony_client_of_chrony_server(self):
        server = start_chrony_nts_server(self, self.cert, self.key)
        res, dump = self.run_chronyd_q("127.0.0.1", server.ke_port, self.cert)
        self.assert_chrony_synced(res, dump, server.ntp_port, expect_port_change=True)

    def test_wrong_ca_fails_against_chrony_server(self):
        server = start_chrony_nts_server(self, self.cert, self.key)
        other, _ = make_cert(os.path.join(self.tmp, "other"))
        res, dump = self.run_chronyd_q("127.0.0.1", server.ke_port, other, limit=6)
        self.assert_chrony_fails(res, dump)


if __name__ == "__main__":
    unittest.main()
