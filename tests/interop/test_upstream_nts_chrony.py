"""ntsd polling chronyd 4.3 as an NTS server (`nts:` upstream, issue #3).

chronyd serves NTS-KE (GnuTLS) and NTS-authenticated NTP with `local stratum 3` on loopback
ports, `-x` (never touches the clock), without CAP_SYS_TIME. ntsd runs
`--time-source upstream --upstream nts:127.0.0.1:<chrony's KE port> --upstream-ca <cert>`.
Proves: ntsd's NTS client side (the library nts-query uses) works as an upstream poller
against an independent NTS server: ntsd serves stratum 4 with reference id 127.0.0.1 and a
root delay above chrony's; when chronyd stops, ntsd goes unsynchronised after
--unsync-after.
"""

import time
import unittest

from ntsd_harness import CHRONYD, ntp_query, start_chrony_nts_server
from test_time_sources import UNSYNC_AFTER, TimeSourceTestCase

CHRONY_STRATUM = 3


class UpstreamNtsChronyTest(TimeSourceTestCase):
    def test_chrony_nts_upstream(self):
        self.require_file(CHRONYD, "chronyd")
        chrony = start_chrony_nts_server(self, self.cert, self.key, stratum=CHRONY_STRATUM,
                                         hosts=("127.0.0.1",))
        _, upstream_reply = ntp_query("127.0.0.1", chrony.ntp_port)
        ntsd, port = self.start_ntsd_with([
            "--time-source", "upstream", "--upstream", "nts:127.0.0.1:%d" % chrony.ke_port,
            "--upstream-ca", self.cert, "--unsync-after", str(UNSYNC_AFTER)])

        synced = self.wait_reply(port, lambda r: r.stratum == CHRONY_STRATUM + 1, 15)
        self.assertIsNotNone(synced, "ntsd never served stratum %d:\n%s" %
                             (CHRONY_STRATUM + 1, ntsd.stderr()))
        self.assertEqual(synced.leap, 0)
        self.assertEqual(synced.refid, bytes([127, 0, 0, 1]))
        self.assertGreater(synced.root_delay, upstream_reply.root_delay)
        self.assertLess(synced.root_delay / 65536.0, 0.1)
        self.assertIn("upstream nts:127.0.0.1:%d (127.0.0.1:%d): stratum %d" %
                      (chrony.ke_port, chrony.ntp_port, CHRONY_STRATUM), ntsd.stderr())

        chrony.proc.stop()
        stopped = time.monotonic()
        lost = self.wait_reply(port, lambda r: r.leap == 3, UNSYNC_AFTER + 6)
        self.assertIsNotNone(lost, "never went unsynchronised:\n" + ntsd.stderr())
        self.assertGreaterEqual(time.monotonic() - stopped, UNSYNC_AFTER - 1)
        self.assertEqual(lost.stratum, 0)


if __name__ == "__main__":
    unittest.main()
