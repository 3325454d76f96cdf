"""Hostile input, table driven: every malformed NTS-KE request and NTP packet we
could think of (RFC 8915 and RFC 5905 MUSTs turned inside out), each with the
outcome the server owes it, and a health check after every one."""

import os
import socket
import ssl
import struct
import time
import unittest

from hostile_common import (AUTH, COOKIE, COOKIE_LEN_256, PLACEHOLDER, UID, authenticator,
                            current_key_id, field, healthy, udp_from)
from ntsd_harness import (KE_AEAD, KE_END, KE_ERROR, KE_NEW_COOKIE, KE_NEXT_PROTOCOL, KE_PORT,
                          KE_WARNING, NtpReply, NtsdTestCase, client_packet, ke_exchange,
                          ke_record, ke_request, ke_u16s, parse_ke_records, tls_client_context)

NP = lambda *p: ke_record(KE_NEXT_PROTOCOL, ke_u16s(*p), critical=True)
AEAD = lambda *a: ke_record(KE_AEAD, ke_u16s(*a), critical=True)
END = ke_record(KE_END, critical=True)


def padded_request(total):
    """A valid request padded to `total` bytes with an unknown non-critical record."""
    core = NP(0) + AEAD(15)
    pad_body = total - len(core) - len(END) - 4
    return core + ke_record(0x1234, b"p" * pad_body) + END


# (name, chunks sent after the handshake, expected outcome)
#   "ok": 8 cookies; "no_cookies": an answer without Error and without cookies;
#   ("error", code); "closed": closed without an answer;
#   "error1_or_reset": Error 1, or the connection reset because the server stopped
#   reading at its cap.
KE_CASES = [
    ("valid", [ke_request()], "ok"),
    ("valid_1024_bytes_rfc_minimum", [padded_request(1024)], "ok"),
    ("valid_16000_bytes_under_cap", [padded_request(16000)], "ok"),
    ("valid_byte_by_byte", [bytes([b]) for b in ke_request()], "ok"),
    ("over_16k_cap", [padded_request(17000)], "error1_or_reset"),
    ("error_record_from_client", [ke_request(extra=ke_record(KE_ERROR, ke_u16s(0), True))], ("error", 1)),
    ("warning_record_from_client", [ke_request(extra=ke_record(KE_WARNING, ke_u16s(0), True))], ("error", 1)),
    ("new_cookie_from_client", [ke_request(extra=ke_record(KE_NEW_COOKIE, b"x" * 100))], ("error", 1)),
    ("no_next_protocol", [AEAD(15) + END], ("error", 1)),
    ("two_next_protocols", [NP(0) + NP(0) + AEAD(15) + END], ("error", 1)),
    ("empty_next_protocol", [ke_record(KE_NEXT_PROTOCOL, b"", True) + AEAD(15) + END], ("error", 1)),
    ("odd_next_protocol", [ke_record(KE_NEXT_PROTOCOL, b"\0\0\0", True) + AEAD(15) + END], ("error", 1)),
    ("ntpv4_without_aead", [NP(0) + END], ("error", 1)),
    ("two_aead_records", [NP(0) + AEAD(15) + AEAD(15) + END], ("error", 1)),
    ("empty_aead", [NP(0) + ke_record(KE_AEAD, b"", True) + END], ("error", 1)),
    ("odd_aead", [NP(0) + ke_record(KE_AEAD, b"\0\x0f\0", True) + END], ("error", 1)),
    ("data_after_end", [ke_request() + b"\0\0"], ("error", 1)),
    ("record_after_end", [ke_request() + NP(0)], ("error", 1)),
    ("short_port_record", [ke_request(extra=ke_record(KE_PORT, b"\x01", True))], ("error", 1)),
    ("unknown_critical_record", [ke_request(extra=ke_record(0x1234, b"", True))], ("error", 0)),
    ("unsupported_aead_only", [ke_request(aeads=(9999,))], "no_cookies"),
    ("unsupported_protocol_only", [ke_request(protocols=(0x7FFF,))], "no_cookies"),
    ("truncated_record_then_silence", [NP(0) + struct.pack("!HH", 0x8004, 100) + b"\0" * 10], ("error", 1)),
    ("header_fragment_then_silence", [b"\x80"], ("error", 1)),
    ("nothing_after_handshake", [], "closed"),
]


def ntp_header(version=4, mode=3, transmit=None):
    return client_packet(version=version, mode=mode, transmit=transmit)


def nts(uid_len=32, cookie=None, cookie_count=1, uids=1, auth=None, after=b"", placeholders=0,
        cookie_body=None):
    body = ntp_header()
    for _ in range(uids):
        body += field(UID, os.urandom(uid_len))
    if cookie_body is None:
        cookie_body = struct.pack("!I", 0xFFFFFFFF) + os.urandom(COOKIE_LEN_256 - 4)
    for _ in range(cookie_count):
        body += field(COOKIE, cookie_body)
    for _ in range(placeholders):
        body += field(PLACEHOLDER, b"\0" * len(cookie_body))
    body += authenticator() if auth is None else auth
    return body + after


# (name, packet, expected): "drop", "answer" (plain, 48 bytes, our stratum), "nak".
def ntp_cases():
    key_now = struct.pack("!I", current_key_id())
    return [
        ("empty", b"", "drop"),
        ("47_bytes", ntp_header()[:47], "drop"),
        ("valid_v4", ntp_header(), "answer"),
        ("valid_v3", ntp_header(version=3), "answer"),
    ] + [("version_%d" % v, ntp_header(version=v), "drop") for v in (0, 1, 2, 5, 6, 7)] + [
        ("mode_%d" % m, ntp_header(mode=m), "drop") for m in (0, 1, 2, 4, 5, 6, 7)] + [
        ("md5_mac_after_header", ntp_header() + os.urandom(20), "answer"),
        ("sha1_mac_after_header", ntp_header() + os.urandom(24), "answer"),
        ("crypto_nak_after_header", ntp_header() + b"\0" * 4, "answer"),
        # 20 or 24 bytes after the header parse as a legacy MAC and are answered plain,
        # so the malformed-field cases below carry 16 bytes after the header.
        ("7_trailing_bytes", ntp_header() + os.urandom(7), "drop"),
        ("2049_bytes", ntp_header() + field(0x2000, b"\0" * 1997), "drop"),
        ("field_length_zero", ntp_header() + struct.pack("!HH", 0x2000, 0) + b"\0" * 12, "drop"),
        ("field_length_not_multiple_of_4", ntp_header() + struct.pack("!HH", 0x2000, 18) + b"\0" * 12, "drop"),
        ("field_past_end", ntp_header() + struct.pack("!HH", 0x2000, 400) + b"\0" * 12, "drop"),
        ("nts_uid_only", ntp_header() + field(UID, os.urandom(32)), "drop"),
        ("nts_short_uid", nts(uid_len=16), "drop"),
        ("nts_two_uids", nts(uids=2), "drop"),
        ("nts_no_cookie", nts(cookie_count=0), "drop"),
        ("nts_two_cookies", nts(cookie_count=2), "drop"),
        ("nts_no_authenticator", nts(auth=b""), "drop"),
        ("nts_field_after_authenticator", nts(after=field(0x2000, b"\0" * 4)), "drop"),
        ("nts_empty_nonce", nts(auth=authenticator(nonce_len=0, ct_len=16, extra=b"\0" * 16)), "drop"),
        ("nts_short_nonce_unpadded", nts(auth=authenticator(nonce_len=4, ct_len=16)), "drop"),
        ("nts_ciphertext_shorter_than_tag", nts(auth=authenticator(nonce_len=16, ct_len=8)), "drop"),
        ("nts_authenticator_lengths_past_field",
         nts(auth=struct.pack("!HHHH", AUTH, 12, 16, 16) + b"\0" * 4), "drop"),
        ("nts_placeholder_of_other_length",
         ntp_header() + field(UID, os.urandom(32)) +
         field(COOKIE, b"\xff" * COOKIE_LEN_256) + field(PLACEHOLDER, b"\0" * 8) + authenticator(),
         "drop"),
        ("nts_unknown_cookie_key", nts(), "nak"),
        ("nts_cookie_of_no_known_length", nts(cookie_body=key_now + os.urandom(56)), "nak"),
        ("nts_cookie_bad_tag_current_key", nts(cookie_body=key_now + os.urandom(COOKIE_LEN_256 - 4)), "nak"),
        ("nts_unknown_cookie_with_placeholders", nts(placeholders=3), "nak"),
    ]


class HostileInputTest(NtsdTestCase):

    def setUp(self):
        super().setUp()
        conf = os.path.join(self.tmp, "hostile.toml")
        with open(conf, "w") as f:
            f.write("[nts-ke]\ntimeout-ms = 400\n")
        # One client address sends everything: no rate limit here.
        self.server = self.start_ntsd(extra=["--config", conf, "--ntp-rate-limit", "0",
                                             "--ke-rate-limit", "0", "--log-level", "debug",
                                             "--log-summary", "1"])

    def _ke(self, chunks):
        try:
            info, data = ke_exchange("127.0.0.1", self.server.ke_port, self.cert, chunks,
                                     timeout=3.0)
            return info, data, None
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError) as e:
            return None, b"", e

    def test_ke_table(self):
        for name, chunks, expected in KE_CASES:
            with self.subTest(name=name):
                info, data, error = self._ke(chunks)
                if expected == "error1_or_reset":
                    if error is None and data:
                        records = parse_ke_records(data)
                        errors = [r for r in records if r[1] == KE_ERROR]
                        self.assertEqual(len(errors), 1, records)
                        self.assertEqual(struct.unpack("!H", errors[0][2])[0], 1)
                    continue
                self.assertIsNone(error, "%s: %r" % (name, error))
                if expected == "closed":
                    self.assertEqual(data, b"")
                    self.assertTrue(info["eof"], "server did not close")
                    continue
                records = parse_ke_records(data)
                self.assertTrue(records and records[-1][1] == KE_END, records)
                errors = [r for r in records if r[1] == KE_ERROR]
                cookies = [r for r in records if r[1] == KE_NEW_COOKIE]
                if expected == "ok":
                    self.assertEqual(errors, [])
                    self.assertEqual(len(cookies), 8)
                elif expected == "no_cookies":
                    self.assertEqual(errors, [])
                    self.assertEqual(cookies, [])
                else:
                    self.assertEqual(len(errors), 1, records)
                    self.assertEqual(struct.unpack("!H", errors[0][2])[0], expected[1])
                    self.assertEqual(cookies, [])
                self.assertTrue(info["eof"])
                healthy(self, self.server)
        # Non-TLS and wrong-TLS clients: closed, server fine.
        with socket.create_connection(("127.0.0.1", self.server.ke_port), timeout=3) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.settimeout(3)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        # Without ALPN ntske/1: closed without an answer.
        try:
            info, data = ke_exchange("127.0.0.1", self.server.ke_port, self.cert, [ke_request()],
                                     alpn=None, timeout=3)
            self.assertEqual(data, b"")
            self.assertTrue(info["eof"])
        except (ssl.SSLError, ConnectionResetError):
            pass
        res = self.nts_query("127.0.0.1:%d" % self.server.ke_port, "--count", "1")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def test_ntp_table(self):
        for name, packet, expected in ntp_cases():
            with self.subTest(name=name):
                data = udp_from("127.0.0.1", "127.0.0.1", self.server.ntp_port, packet,
                                timeout=0.3 if expected == "drop" else 1.0)
                if expected == "drop":
                    self.assertIsNone(data, "%s: got a %s-byte reply" % (name, data and len(data)))
                else:
                    self.assertIsNotNone(data, name)
                    self.assertLessEqual(len(data), len(packet))
                    reply = NtpReply(data)
                    self.assertEqual(reply.mode, 4)
                    self.assertEqual(reply.origin, struct.unpack("!Q", packet[40:48])[0])
                    if expected == "answer":
                        self.assertEqual(len(data), 48)
                        self.assertEqual(reply.stratum, self.server.stratum)
                    else:  # NAK: LI 3, stratum 0, NTSN, the UID field echoed, nothing else
                        uid_len = struct.unpack("!H", packet[50:52])[0]
                        self.assertEqual(len(data), 48 + uid_len)
                        self.assertEqual(reply.stratum, 0)
                        self.assertEqual(reply.leap, 3)
                        self.assertEqual(reply.refid, b"NTSN")
                        self.assertEqual(data[48:], packet[48:48 + uid_len])
                healthy(self, self.server)
        res = self.nts_query("127.0.0.1:%d" % self.server.ke_port, "--count", "2")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)


if __name__ == "__main__":
    unittest.main()
