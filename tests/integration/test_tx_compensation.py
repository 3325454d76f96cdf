"""Transmit-timestamp compensation (--ntp-tx-compensation, time/tx_compensation.h).

Proves: with the setting on (the default) the running median of the measured transmit
gap is applied (ntsd_ntp_transmit_compensation_seconds > 0 once kernel transmit
timestamps came back) and a basic-mode answer's transmit timestamp lies at least that
far after its receive timestamp; with it off nothing is added while the gap is still
measured. Direction only, no magnitudes: the machine may be loaded.
"""

import unittest

from hostile_common import udp_from
from ntsd_harness import NtpReply, client_packet
from test_metrics import MetricsTestCase

REQUESTS = 160  # kernel transmit timestamps come back for 1 in 16 answers


class TxCompensationTest(MetricsTestCase):
    def exchange_many(self):
        for _ in range(REQUESTS):
            udp_from("127.0.0.1", "127.0.0.1", self.server.ntp_port, client_packet())

    def gap_count(self, m):
        return m["ntsd_ntp_transmit_gap_seconds_count"]

    def test_on_by_default(self):
        self.start_with_metrics()
        self.exchange_many()
        m = self.scrape()
        if self.gap_count(m) == 0:
            self.skipTest("no kernel transmit timestamps on this kernel")
        compensation = m["ntsd_ntp_transmit_compensation_seconds"]
        self.assertGreater(compensation, 0)
        self.assertLessEqual(compensation, 50e-6)  # the bound (kMaxNs)
        # The gap statistic measures the uncompensated gap: still there.
        self.assertGreater(m['ntsd_ntp_transmit_gap_seconds{quantile="0.5"}'], 0)
        # One more answer: written = clock read (after receive) + compensation.
        data = udp_from("127.0.0.1", "127.0.0.1", self.server.ntp_port, client_packet())
        self.assertIsNotNone(data)
        reply = NtpReply(data)
        self.assertGreater((reply.transmit - reply.receive) / 2**32, compensation - 1e-9)

    def test_off(self):
        self.start_with_metrics(["--ntp-tx-compensation", "off"])
        self.exchange_many()
        m = self.scrape()
        if self.gap_count(m) == 0:
            self.skipTest("no kernel transmit timestamps on this kernel")
        self.assertEqual(m["ntsd_ntp_transmit_compensation_seconds"], 0)
        self.assertGreater(m['ntsd_ntp_transmit_gap_seconds{quantile="0.5"}'], 0)


if __name__ == "__main__":
    unittest.main()
