"""NTS NAKs over the NTP rate limit: the metrics count the NAKs clients receive.

Proves (issue 13): one address sends 200 NTS requests whose cookie names a key the
server never had (otherwise well formed) at --ntp-rate-limit 2 --ntp-rate-burst 10.
Within its budget each gets an NTS NAK; over it each is dropped, unread or, when the
rate limiter would have sent a RATE kiss, read and found to deserve only a NAK,
which is withheld. ntsd_ntp_naks_total{reason="unknown_cookie_key"} and
ntsd_ntp_requests_total{kind="nts",outcome="nak"} move by exactly the NAKs the
client received, the rest is counted as rate-limited drops, and every request is
counted once.
"""

import socket
import time
import unittest

from ntsd_harness import NtpReply
from test_hostile_inputs import nts
from test_metrics import MetricsTestCase

REQUESTS = 200
SOURCE = "127.0.0.9"  # an address of its own, alone in its /32 bucket


class NtpNakMetricsTest(MetricsTestCase):

    def test_naks_counted_are_naks_sent(self):
        self.start_with_metrics(["--ntp-rate-limit", "2", "--ntp-rate-burst", "10",
                                 "--ntp-rate-prefix-v4", "32"])
        before = self.quiet_scrape(at_least_sessions=1)

        sent = {}  # unique identifier -> reply
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((SOURCE, 0))
            for i in range(REQUESTS):
                packet = nts()
                uid = packet[52:84]  # the Unique Identifier field's body, after the header
                sent[uid] = None
                s.sendto(packet, ("127.0.0.1", self.server.ntp_port))
                if i % 10 == 9:
                    time.sleep(0.002)  # no burst beyond what a socket buffer holds
            s.settimeout(1.0)
            try:
                while True:
                    data = s.recvfrom(2048)[0]
                    uid = data[52:84]
                    self.assertIn(uid, sent, "a reply to no request of ours")
                    self.assertIsNone(sent[uid], "two replies to one request")
                    sent[uid] = NtpReply(data)
            except socket.timeout:
                pass
        self.assertEqual(len(sent), REQUESTS)
        replies = [r for r in sent.values() if r is not None]
        naks = sum(1 for r in replies if r.stratum == 0 and r.refid == b"NTSN")
        self.assertEqual(naks, len(replies), "only NAKs may come back")
        self.assertGreaterEqual(naks, 10)  # the burst
        self.assertLess(naks, REQUESTS, "nothing was rate limited")

        after = self.scrape()

        def moved(key):
            return after.get(key, 0) - before.get(key, 0)

        self.assertEqual(moved('ntsd_ntp_naks_total{reason="unknown_cookie_key"}'), naks)
        self.assertEqual(moved('ntsd_ntp_requests_total{kind="nts",outcome="nak"}'), naks)
        withheld = moved('ntsd_ntp_requests_total{kind="nts",outcome="rate_limited_dropped"}')
        unread = moved('ntsd_ntp_requests_total{kind="unknown",outcome="rate_limited_dropped"}')
        # The rate limiter turns one request in 8 over the limit into a RATE kiss,
        # which for these becomes a withheld NAK.
        self.assertGreater(withheld, 0)
        self.assertGreater(unread, 0)
        self.assertEqual(naks + withheld + unread, REQUESTS)
        total = sum(moved(k) for k in set(before) | set(after)
                    if k.startswith("ntsd_ntp_requests_total{"))
        self.assertEqual(total, REQUESTS, "every request is counted once")
        for key in set(before) | set(after):
            if key.startswith("ntsd_ntp_naks_total{") and "unknown_cookie_key" not in key:
                self.assertEqual(moved(key), 0, key)


if __name__ == "__main__":
    unittest.main()
