"""NTS-KE against a real ntsd, spoken record by record from Python's ssl module.

Proves (RFC 8915 section 4): TLS 1.3 with ALPN ntske/1 is negotiated; a valid request gets
Next Protocol [0], AEAD [15], exactly 8 New Cookie records, the NTPv4 Port record naming
ntsd's NTP port, and End of Message last; an unrecognised critical record gets Error 0;
two Next Protocol records get Error 1; a request split over several TLS writes is
reassembled; unknown non-critical records are ignored; and a client that does not offer
ALPN ntske/1 is refused (handshake fails, or the server closes without an NTS-KE answer);
and TLS 1.2 is refused.  Whether the cookies work on the NTP side is test_nts_query's job;
this file is about the KE wire format.
"""

import socket
import ssl
import struct
import time
import unittest

from ntsd_harness import (KE_AEAD, KE_END, KE_ERROR, KE_NEW_COOKIE, KE_NEXT_PROTOCOL, KE_PORT,
                          NtsdTestCase, ke_exchange, ke_record, ke_request, ke_u16s,
                          parse_ke_records)


class RawKeTest(NtsdTestCase):
    def setUp(self):
        super().setUp()
        self.ntsd = self.start_ntsd()

    def _exchange(self, chunks, **kw):
        info, data = ke_exchange("127.0.0.1", self.ntsd.ke_port, self.cert, chunks, **kw)
        self.assertEqual(info["version"], "TLSv1.3")
        self.assertEqual(info["alpn"], "ntske/1")
        # RFC 8915 4: after its one response the server closes the connection.
        self.assertTrue(info["eof"], "ntsd did not close the NTS-KE connection within 5 s")
        try:
            return parse_ke_records(data)
        except ValueError as e:
            self.fail("malformed NTS-KE response (%s): %r" % (e, data))

    def _assert_end_last(self, records):
        self.assertTrue(records, "empty NTS-KE response")
        crit, rtype, body = records[-1]
        self.assertEqual((rtype, body, crit), (KE_END, b"", True), records[-1])
        self.assertEqual([r for r in records if r[1] == KE_END], [records[-1]],
                         "End of Message must appear exactly once, last")

    def _assert_valid_answer(self, records):
        self._assert_end_last(records)
        types = [r[1] for r in records]
        self.assertNotIn(KE_ERROR, types, records)
        nexts = [r for r in records if r[1] == KE_NEXT_PROTOCOL]
        self.assertEqual(len(nexts), 1, records)
        self.assertTrue(nexts[0][0], "Next Protocol must be critical")
        self.assertEqual(nexts[0][2], ke_u16s(0))
        aeads = [r for r in records if r[1] == KE_AEAD]
        self.assertEqual(len(aeads), 1, records)
        self.assertEqual(aeads[0][2], ke_u16s(15))
        cookies = [r[2] for r in records if r[1] == KE_NEW_COOKIE]
        self.assertEqual(len(cookies), 8, "expected 8 New Cookie records")
        self.assertTrue(all(len(c) > 0 for c in cookies))
        self.assertEqual(len(set(cookies)), 8, "cookies must differ")
        self.assertEqual(len({len(c) for c in cookies}), 1, "cookies should share one length")
        ports = [r for r in records if r[1] == KE_PORT]
        self.assertEqual(len(ports), 1, "ntsd on a non-123 port must send NTPv4 Port")
        self.assertEqual(struct.unpack("!H", ports[0][2])[0], self.ntsd.ntp_port)
        return cookies

    def _error_code(self, records):
        self._assert_end_last(records)
        errors = [r for r in records if r[1] == KE_ERROR]
        self.assertEqual(len(errors), 1, "expected one Error record: %r" % (records,))
        self.assertTrue(errors[0][0], "Error must be critical")
        self.assertEqual(len(errors[0][2]), 2, errors[0])
        self.assertNotIn(KE_NEW_COOKIE, [r[1] for r in records], "no cookies with an error")
        return struct.unpack("!H", errors[0][2])[0]

    def test_valid_request_gets_8_cookies(self):
        self._assert_valid_answer(self._exchange([ke_request()]))

    def test_cookie_length_is_multiple_of_4(self):
        # Cookies travel in NTP extension fields, which are padded to 4 bytes; chrony 4.3
        # ignores KE cookies whose length is not a multiple of 4 ("Received invalid
        # NTS-KE response"), and NTPsec 1.2.2 sends such cookies padded.
        cookies = self._assert_valid_answer(self._exchange([ke_request()]))
        self.assertEqual(len(cookies[0]) % 4, 0,
                         "cookie length %d is not a multiple of 4" % len(cookies[0]))

    def test_aead_choice_from_client_list(self):
        # 15 offered after an unknown id: the server must pick 15, never the unknown one.
        records = self._exchange([ke_request(aeads=(0x7777, 15))])
        self._assert_valid_answer(records)

    def test_unknown_noncritical_record_is_ignored(self):
        extra = ke_record(0x4321, b"hello", critical=False)
        self._assert_valid_answer(self._exchange([ke_request(extra=extra)]))

    def test_unknown_critical_record_gets_error_0(self):
        extra = ke_record(0x4321, b"hello", critical=True)
        self.assertEqual(self._error_code(self._exchange([ke_request(extra=extra)])), 0)

    def test_two_next_protocol_records_get_error_1(self):
        req = (ke_record(KE_NEXT_PROTOCOL, ke_u16s(0), critical=True) +
               ke_record(KE_NEXT_PROTOCOL, ke_u16s(0), critical=True) +
               ke_record(KE_AEAD, ke_u16s(15), critical=True) +
               ke_record(KE_END, critical=True))
        self.assertEqual(self._error_code(self._exchange([req])), 1)

    def test_missing_next_protocol_gets_error_1(self):
        req = ke_record(KE_AEAD, ke_u16s(15), critical=True) + ke_record(KE_END, critical=True)
        self.assertEqual(self._error_code(self._exchange([req])), 1)

    def test_new_cookie_from_client_gets_error_1(self):
        extra = ke_record(KE_NEW_COOKIE, b"\x01" * 16)
        self.assertEqual(self._error_code(self._exchange([ke_request(extra=extra)])), 1)

    def test_split_request_is_reassembled(self):
        req = ke_request()
        # One byte per TLS record for the first header, then an odd split through the rest:
        # every record boundary and every header is cut at least once.
        chunks = [req[i:i + 1] for i in range(0, 6)] + [req[6:9], req[9:13], req[13:]]
        self.assertEqual(b"".join(chunks), req)
        self._assert_valid_answer(self._exchange(chunks, pause=0.02))

    def test_incomplete_request_times_out(self):
        # Next Protocol and AEAD but no End of Message: ntsd's KE timeout (2 s by default)
        # must end the session; if it says anything, it is Error 1 (bad request).
        partial = ke_request()[:-4]
        info, data = ke_exchange("127.0.0.1", self.ntsd.ke_port, self.cert, [partial],
                                 timeout=10)
        self.assertTrue(info["eof"], "ntsd kept an incomplete NTS-KE session open for 10 s")
        records = _records_or_empty(data)
        self.assertNotIn(KE_NEW_COOKIE, [r[1] for r in records], records)
        if records:
            self.assertEqual(self._error_code(records), 1)
        self._assert_valid_answer(self._exchange([ke_request()]))

    def test_silent_tcp_client_is_dropped(self):
        # A TCP connection that never starts TLS must not be kept forever.
        with socket.create_connection(("127.0.0.1", self.ntsd.ke_port), timeout=10) as s:
            s.settimeout(10)
            start = time.monotonic()
            try:
                closed = s.recv(1) == b""
            except ConnectionResetError:
                closed = True
            except socket.timeout:
                closed = False
            self.assertTrue(closed, "ntsd kept a silent TCP connection open for 10 s")
            self.assertLess(time.monotonic() - start, 10)
        self._assert_valid_answer(self._exchange([ke_request()]))

    def test_no_alpn_is_refused(self):
        self._assert_refused(alpn=None)

    def test_wrong_alpn_is_refused(self):
        self._assert_refused(alpn=("http/1.1",))

    def test_tls12_is_refused(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["ntske/1"])
        with socket.create_connection(("127.0.0.1", self.ntsd.ke_port), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(ke_request())
                    tls.recv(1)
        self._assert_valid_answer(self._exchange([ke_request()]))

    def _assert_refused(self, alpn):
        try:
            info, data = ke_exchange("127.0.0.1", self.ntsd.ke_port, self.cert,
                                     [ke_request()], alpn=alpn, timeout=5)
        except (ssl.SSLError, ConnectionError, socket.timeout, OSError):
            refused = True  # handshake failed (no_application_protocol) or reset
        else:
            # The handshake may complete without ALPN; then there must be no NTS-KE answer.
            self.assertNotEqual(info["alpn"], "ntske/1")
            refused = not any(r[1] == KE_NEW_COOKIE for r in _records_or_empty(data))
        self.assertTrue(refused, "ntsd answered NTS-KE without ALPN ntske/1")
        # And it keeps serving well-behaved clients.
        self._assert_valid_answer(self._exchange([ke_request()]))


def _records_or_empty(data):
    try:
        return parse_ke_records(data)
    except ValueError:
        return []


if __name__ == "__main__":
    unittest.main()
