"""Unauthenticated NTP against a real ntsd on loopback, from raw Python sockets.

Proves: ntsd answers a plain NTPv4 and an NTPv3 client packet with a mode-4 reply that
echoes the client's transmit timestamp as origin, keeps the client's version, and carries
the configured stratum/refid and sane timestamps; it stays silent for mode 6 (control) and
mode 7 (private) packets, which are amplification vectors; and garbage or truncated
datagrams get no answer and do not stop the server from answering the next good request.
"""

import os
import socket
import struct
import time
import unittest

from ntsd_harness import (NtsdTestCase, client_packet, ntp_query, ntp_to_unix,
                          udp_exchange)

SILENCE = 1.0  # seconds we wait to be sure no answer comes


class PlainNtpTest(NtsdTestCase):
    STRATUM = 2
    REFID = "192.0.2.1"  # at stratum >= 2 the refid is the upstream's IPv4 address

    def setUp(self):
        super().setUp()
        # Every packet here comes from 127.0.0.1: no per-prefix rate limit (see
        # test_hostile_floods.py for it).
        self.ntsd = self.start_ntsd(extra=["--ntp-rate-limit", "0"])

    def _assert_good_reply(self, req, reply, version):
        self.assertIsNotNone(reply, "no answer to an NTPv%d client packet" % version)
        self.assertEqual(reply.mode, 4)
        self.assertEqual(reply.version, version)
        self.assertEqual(reply.leap, 0)
        self.assertEqual(reply.stratum, self.STRATUM)
        self.assertEqual(reply.refid, socket.inet_aton(self.REFID))
        sent_transmit = struct.unpack("!Q", req[40:48])[0]
        self.assertEqual(reply.origin, sent_transmit, "origin must echo our transmit")
        self.assertNotEqual(reply.transmit, 0)
        self.assertLessEqual(reply.receive, reply.transmit)
        self.assertLess(abs(ntp_to_unix(reply.transmit) - time.time()), 0.5)
        self.assertEqual(len(reply.raw), 48, "no extension fields in a plain answer")

    def test_ntpv4_client_gets_mode4(self):
        req, reply = ntp_query("127.0.0.1", self.ntsd.ntp_port, version=4, timeout=2)
        self._assert_good_reply(req, reply, 4)

    def test_ntpv3_client_gets_mode4(self):
        req, reply = ntp_query("127.0.0.1", self.ntsd.ntp_port, version=3, timeout=2)
        self._assert_good_reply(req, reply, 3)

    def _assert_silent(self, payload, what):
        data = udp_exchange("127.0.0.1", self.ntsd.ntp_port, payload, timeout=SILENCE)
        self.assertIsNone(data, "ntsd answered %s: %r" % (what, data))

    def _assert_still_serving(self):
        req, reply = ntp_query("127.0.0.1", self.ntsd.ntp_port, version=4, timeout=2)
        self._assert_good_reply(req, reply, 4)
        self.assertIsNone(self.ntsd.proc.poll(), "ntsd exited")

    def test_mode6_control_gets_no_answer(self):
        # A READSTAT control request (ntpq's first packet): VN=2, mode 6, opcode 1.
        pkt = struct.pack("!BBHHHHH", (2 << 3) | 6, 1, 1, 0, 0, 0, 0)
        self._assert_silent(pkt, "a mode 6 control packet")
        # Also a mode 6 packet padded to 48 bytes, as a sloppy scanner would send.
        self._assert_silent(client_packet(version=4, mode=6), "a 48-byte mode 6 packet")
        self._assert_still_serving()

    def test_mode7_private_gets_no_answer(self):
        # The classic monlist request (REQ_MON_GETLIST_1, implementation 3).
        pkt = bytes([0x17, 0x00, 0x03, 0x2a]) + bytes(4)
        self._assert_silent(pkt, "a mode 7 monlist packet")
        self._assert_silent(client_packet(version=2, mode=7), "a 48-byte mode 7 packet")
        self._assert_still_serving()

    def test_other_modes_get_no_answer(self):
        for mode in (0, 1, 2, 4, 5):
            self._assert_silent(client_packet(version=4, mode=mode), "a mode %d packet" % mode)
        self._assert_still_serving()

    def test_garbage_and_truncated_get_no_answer(self):
        full = client_packet(version=4)
        cases = {
            "an empty datagram": b"",
            "1 byte": full[:1],
            "a 47-byte truncated header": full[:47],
            # First byte forced to LI=3 VN=7 mode=7 so random data can never be a valid request.
            "random bytes": b"\xff" + os.urandom(199),
            "a header with a truncated extension field": full + struct.pack("!HH", 0x0104, 36) + bytes(8),
            "a header with an extension field of length 0": full + struct.pack("!HH", 0x0104, 0) + bytes(28),
            "a version 0 packet": client_packet(version=0),
            "a version 7 packet": client_packet(version=7),
        }
        for what, payload in cases.items():
            with self.subTest(what):
                self._assert_silent(payload, what)
        self._assert_still_serving()

    def test_many_garbage_then_good(self):
        for _ in range(200):
            udp_exchange("127.0.0.1", self.ntsd.ntp_port, os.urandom(48 + (os.urandom(1)[0] % 64)),
                         timeout=0.001)
        self._assert_still_serving()


if __name__ == "__main__":
    unittest.main()
