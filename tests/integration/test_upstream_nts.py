"""An `nts:` upstream (issue #3): ntsd A polls ntsd B over NTS.

B serves `--time-source local --stratum 3` with NTS-KE; A runs `--time-source upstream
--upstream nts:127.0.0.1:<B's KE port> --upstream-ca <B's certificate>`, so it must run
NTS-KE with B (TLS verified against that CA) and then NTS-authenticated exchanges with the
NTP server B's KE names.  Proves: A serves stratum 4 with reference id 127.0.0.1 (the IPv4
address of the NTP server that answered, RFC 5905 7.3) and a recent reference timestamp;
when B stops, A goes unsynchronised (LI 3, stratum 16 = 0 on the wire) after
--unsync-after and not at once; when B comes back on the same ports (with new keys, so A's
cookies are useless and it must run NTS-KE again), A recovers.  An upstream whose
certificate A does not trust never synchronises A.
"""

import os
import time
import unittest

from ntsd_harness import host_port, make_cert, ntp_query
from test_time_sources import UNSYNC_AFTER, TimeSourceTestCase

B_STRATUM = 3
B_REFID = "192.0.2.3"


class UpstreamNtsTest(TimeSourceTestCase):
    def start_upstream(self, ke_port=None, ntp_port=None):
        """ntsd B; on the given ports when restarting, else on free ones."""
        if ke_port is None:
            b = self.start_ntsd(stratum=B_STRATUM, refid=B_REFID)
            return b.proc, b.ke_port, b.ntp_port
        argv = [self.ntsd_bin, "--cert", self.cert, "--key", self.key,
                "--ke-listen", host_port("127.0.0.1", ke_port),
                "--ntp-listen", host_port("127.0.0.1", ntp_port),
                "--time-source", "local", "--stratum", str(B_STRATUM), "--refid", B_REFID]
        proc = self.spawn("ntsd-upstream", argv)
        state = self._wait_ready(proc, ("127.0.0.1",), ke_port, ntp_port, 15.0)
        self.assertEqual(state, "ready", "ntsd B did not restart on its ports:\n" + proc.logs())
        return proc, ke_port, ntp_port

    def start_downstream(self, ke_port, ca):
        return self.start_ntsd_with([
            "--time-source", "upstream", "--upstream", "nts:127.0.0.1:%d" % ke_port,
            "--upstream-ca", ca, "--unsync-after", str(UNSYNC_AFTER)])

    def test_stratum_refid_unsync_and_recovery(self):
        b, ke_port, ntp_port = self.start_upstream()
        _, b_reply = ntp_query("127.0.0.1", ntp_port)
        self.assertEqual(b_reply.stratum, B_STRATUM)
        a, port = self.start_downstream(ke_port, self.cert)

        synced = self.wait_reply(port, lambda r: r.stratum == B_STRATUM + 1, 10)
        self.assertIsNotNone(synced, "A never served stratum %d:\n%s" %
                             (B_STRATUM + 1, a.stderr()))
        self.assertEqual(synced.leap, 0)
        self.assertEqual(synced.refid, bytes([127, 0, 0, 1]))
        self.assertGreater(synced.root_delay, b_reply.root_delay)  # + the measured round trip
        self.assertLess(synced.root_delay / 65536.0, 0.1)
        self.assertGreaterEqual(synced.root_dispersion, b_reply.root_dispersion)
        ref_age = (synced.receive - synced.reference) / 2.0 ** 32
        self.assertGreaterEqual(ref_age, 0)
        self.assertLess(ref_age, 5)
        # The samples came over the NTS path (named nts:... in A's debug log).
        self.assertIn("upstream nts:127.0.0.1:%d (127.0.0.1:%d): stratum %d" %
                      (ke_port, ntp_port, B_STRATUM), a.stderr())

        # B stops: unsynchronised after UNSYNC_AFTER seconds, not at once.
        b.stop()
        stopped = time.monotonic()
        still = self.wait_reply(port, lambda r: r.stratum == B_STRATUM + 1, 0.5)
        self.assertIsNotNone(still, "went unsynchronised at once")
        lost = self.wait_reply(port, lambda r: r.leap == 3, UNSYNC_AFTER + 6)
        self.assertIsNotNone(lost, "never went unsynchronised:\n" + a.stderr())
        self.assertGreaterEqual(time.monotonic() - stopped, UNSYNC_AFTER - 1)
        self.assertEqual(lost.stratum, 0)
        self.assertIn("serving unsynchronised", a.stderr())

        # B comes back on the same ports with fresh keys: A runs NTS-KE again and recovers.
        self.start_upstream(ke_port, ntp_port)
        back = self.wait_reply(port, lambda r: r.stratum == B_STRATUM + 1 and r.leap == 0, 10)
        self.assertIsNotNone(back, "never recovered:\n" + a.stderr())
        self.assertEqual(back.refid, bytes([127, 0, 0, 1]))

    def test_untrusted_upstream_certificate_never_synchronises(self):
        _, ke_port, _ = self.start_upstream()
        other_cert, _ = make_cert(os.path.join(self.tmp, "other"))
        a, port = self.start_downstream(ke_port, other_cert)
        # Several polls (one a second) fail at the TLS handshake; A stays unsynchronised.
        failed = self.wait_reply(port, lambda r: "certificate verify failed" in a.stderr(), 10)
        self.assertIsNotNone(failed, "no certificate failure logged:\n" + a.stderr())
        _, reply = ntp_query("127.0.0.1", port)
        self.assertEqual((reply.leap, reply.stratum), (3, 0))


if __name__ == "__main__":
    unittest.main()
