"""Several NTP workers: interleaved mode (RFC 9769) and the rate limit still work.

A client asks in basic mode, then in interleaved mode, each time from a new socket and so
from a new source port, as clients that open a socket per request do. ntsd runs four
workers on SO_REUSEPORT sockets: unless it steers a client's packets to one worker by
source address, the interleaved request usually reaches a worker that never saw the first
exchange and gets a basic answer. An interleaved answer echoes the request's receive
field as its origin; a basic one echoes the request's transmit field.

The per-prefix rate limit lives in each worker; it only holds for a prefix whose clients
use many addresses and ports when ntsd steers the whole prefix to one worker.
"""

import os
import re
import socket
import struct
import unittest

from ntsd_harness import NtsdTestCase, NtpReply, ntp_now, udp_exchange

ROUNDS = 24


def request(origin=0, receive=0, transmit=None):
    if transmit is None:
        transmit = ntp_now() ^ int.from_bytes(os.urandom(3), "big")
    return struct.pack("!BBbbII4sQQQQ", (4 << 3) | 3, 0, 6, -20, 0, 0, b"\0\0\0\0", 0,
                       origin, receive, transmit)


class InterleavedWorkersTest(NtsdTestCase):
    STRATUM = 2
    REFID = "192.0.2.1"

    def interleaved_rounds(self, host, port):
        """Basic exchange, then an interleaved one naming it; returns how many of the
        interleaved requests got an interleaved answer."""
        interleaved = 0
        for _ in range(ROUNDS):
            first = udp_exchange(host, port, request())
            self.assertIsNotNone(first, "no answer to a basic request")
            previous = NtpReply(first)
            receive = ntp_now()
            transmit = receive + 12345
            data = udp_exchange(host, port, request(previous.receive, receive, transmit))
            self.assertIsNotNone(data, "no answer to an interleaved request")
            reply = NtpReply(data)
            self.assertIn(reply.origin, (receive, transmit))
            if reply.origin == receive:
                interleaved += 1
                # The previous response's transmit timestamp, later than its receive one.
                self.assertGreaterEqual(reply.transmit, previous.receive)
                self.assertLessEqual(reply.transmit, reply.receive)
        return interleaved

    def test_four_workers_answer_interleaved_on_ipv4_and_ipv6(self):
        ntsd = self.start_ntsd(hosts=("127.0.0.1", "::1"),
                               extra=["--ntp-workers", "4", "--ntp-rate-limit", "0"])
        for host in ("127.0.0.1", "::1"):
            self.assertEqual(self.interleaved_rounds(host, ntsd.ntp_port), ROUNDS, host)
        # Every answer to an interleaved request asked the kernel for its transmit
        # timestamp, and each timestamp found its response (per-socket numbering).
        ntsd.proc.stop()
        m = re.search(r"kernel transmit timestamps: (\d+) matched, (\d+) unmatched",
                      ntsd.proc.stderr())
        self.assertIsNotNone(m, ntsd.proc.stderr())
        self.assertGreaterEqual(int(m.group(1)), 2 * ROUNDS)
        self.assertEqual(int(m.group(2)), 0)

    def test_interleaved_off_answers_basic(self):
        ntsd = self.start_ntsd(extra=["--ntp-workers", "2", "--interleaved", "off",
                                      "--ntp-rate-limit", "0"])
        self.assertEqual(self.interleaved_rounds("127.0.0.1", ntsd.ntp_port), 0)


    def test_rate_limit_holds_for_a_prefix_spread_over_addresses_and_ports(self):
        ntsd = self.start_ntsd(extra=["--ntp-workers", "4", "--ntp-rate-limit", "2",
                                      "--ntp-rate-burst", "10", "--ntp-rate-prefix-v4", "24"])
        sockets = []
        try:
            for k in range(120):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(s)
                s.bind(("127.0.60.%d" % (1 + k % 60), 0))
                s.sendto(request(), ("127.0.0.1", ntsd.ntp_port))
            answered = 0
            for s in sockets:
                s.settimeout(0.3 if answered == 0 else 0.05)
                try:
                    reply = NtpReply(s.recvfrom(2048)[0])
                except socket.timeout:
                    continue
                if reply.stratum == self.STRATUM:
                    answered += 1
        finally:
            for s in sockets:
                s.close()
        # The burst, plus what the bucket refills while the requests are being sent.
        self.assertGreaterEqual(answered, 10)
        self.assertLessEqual(answered, 13)


    def test_a_second_ntsd_on_the_same_ports_is_refused(self):
        # SO_REUSEPORT would let it join the first one's groups and take half its traffic.
        first = self.start_ntsd(extra=["--ntp-workers", "2", "--ke-threads", "2"])
        for listen in (["--ke-listen", "127.0.0.1:%d" % first.ke_port, "--ntp-listen", "none"],
                       ["--ke-listen", "none", "--ntp-listen", "127.0.0.1:%d" % first.ntp_port]):
            second = self.spawn("ntsd-second", [self.ntsd_bin, "--cert", self.cert, "--key", self.key,
                                                "--ntp-workers", "2", "--ke-threads", "2"] + listen)
            self.assertEqual(second.wait(10), 2, second.logs())
            self.assertIn("Address already in use", second.stderr())
        self.assertIsNone(first.proc.poll())


if __name__ == "__main__":
    unittest.main()
