"""The census of clients (docs/metrics.md): known NTS-KE and NTP traffic moves every
census series by exactly what the clients did, and nothing else.

NTS-KE: requests written in one, two, three and many TLS records (the split-record case
that broke NTPsec) are counted as 1, 2 and 3+ records and reads; AEAD lists are counted
in the client's order, long ones cut; Server, Port, 1024 and unknown records are seen;
TLS version, cipher, group and SNI are counted per completed handshake, the offered ALPN
list per ClientHello (a handshake refused over ALPN included). NTP: plain v3 and v4 over
IPv4 and IPv6, nts-query's NTS exchanges (placeholders, length) and NAKed NTS requests.
"""

import json
import socket
import ssl
import time
import unittest

from hostile_common import udp_from
from ntsd_harness import (KE_PORT, KE_SERVER, client_packet, ke_record, ke_request,
                          read_until_tls_close, tls_client_context)
from test_hostile_inputs import nts
from test_metrics import MetricsTestCase

CENSUS_PREFIXES = ("ntsd_ke_requests_total", "ntsd_ke_request_", "ntsd_ke_offered_aeads_total",
                   "ntsd_ke_tls_", "ntsd_ke_alpn_offered_total",
                   "ntsd_ntp_cookie_placeholders_total", "ntsd_ntp_request_length_total",
                   "ntsd_ntp_request_version_total", "ntsd_ntp_request_family_total")


def length_bucket(n):
    for upper, name in ((47, "0-47"), (48, "48"), (127, "49-127"), (255, "128-255"),
                        (511, "256-511"), (1023, "512-1023")):
        if n <= upper:
            return name
    return "1024+"


class CensusTest(MetricsTestCase):

    KE_TIMEOUT_MS = 3000  # room for requests written a record at a time

    def setUp(self):
        super().setUp()
        self.server = self.start_ntsd(hosts=("127.0.0.1", "::1"),
                                      extra=["--config", self.metrics_config(),
                                             "--ntp-rate-limit", "0", "--ke-rate-limit", "0"])
        self.find_metrics_port(self.server.proc)
        self.expected = {}

    def expect(self, key, n=1):
        self.expected[key] = self.expected.get(key, 0) + n

    def raw_ke(self, chunks, alpn=("ntske/1",), sni=True, pause=0.05):
        """Writes each chunk as its own TLS record, `pause` apart; returns the cipher."""
        ctx = tls_client_context(self.cert, alpn)
        if not sni:
            ctx.check_hostname = False
        raw = socket.create_connection(("127.0.0.1", self.server.ke_port), timeout=5)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(raw, server_hostname="localhost" if sni else None) as tls:
            cipher = tls.cipher()[0]
            for i, chunk in enumerate(chunks):
                if i and pause:
                    time.sleep(pause)
                tls.sendall(chunk)
            try:
                read_until_tls_close(tls)
            except (ConnectionResetError, ssl.SSLError):
                pass
        return cipher

    def expect_handshake(self, cipher, sni, alpn):
        self.expect('ntsd_ke_tls_version_total{version="TLSv1.3"}')
        self.expect('ntsd_ke_tls_cipher_total{cipher="%s"}' % cipher)
        # OpenSSL's default first group on both sides (Python's ssl and nts-query).
        self.expect('ntsd_ke_tls_group_total{group="x25519"}')
        self.expect('ntsd_ke_tls_sni_total{sni="%s"}' % ("true" if sni else "false"))
        self.expect('ntsd_ke_alpn_offered_total{alpn="%s"}' % alpn)

    def expect_request(self, pieces, aeads, records=()):
        self.expect("ntsd_ke_requests_total")
        self.expect('ntsd_ke_request_tls_records_total{records="%s"}' % pieces)
        # Each SSL_read hands out at most one record, and the pauses keep them apart.
        self.expect('ntsd_ke_request_reads_total{reads="%s"}' % pieces)
        self.expect('ntsd_ke_offered_aeads_total{aeads="%s"}' % aeads)
        for record in records:
            self.expect('ntsd_ke_request_records_total{record="%s"}' % record)

    def expect_ntp(self, kind, length, version, family):
        self.expect('ntsd_ntp_request_length_total{kind="%s",length="%s"}'
                    % (kind, length_bucket(length)))
        self.expect('ntsd_ntp_request_version_total{kind="%s",version="%s"}' % (kind, version))
        self.expect('ntsd_ntp_request_family_total{kind="%s",family="%s"}' % (kind, family))

    def drive_nts_query(self):
        for _ in range(2):
            res = self.nts_query("127.0.0.1:%d" % self.server.ke_port, "--count", "2",
                                 "--interval", "0", "--json")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
            out = json.loads(res.stdout)
            self.expect_handshake(out["ke"]["tls_cipher"], sni=False, alpn="ntske/1")
            # nts-query's default offer: 30, 15, 17, with record 1024 beside 30.
            self.expect_request("1", "30,15,17", records=("1024",))
            self.assertEqual(out["ke"]["aead_id"], 30, out["ke"])
            # Header, Unique Identifier (32), Cookie, Authenticator (AES-128-GCM-SIV:
            # a 12-byte nonce and a 16-byte tag).
            length = 48 + (4 + 32) + (4 + out["ke"]["cookie_length"]) + (4 + 4 + 12 + 16)
            for exchange in out["exchanges"]:
                self.assertTrue(exchange["ok"], exchange)
                self.expect_ntp("nts", length, "4", "ipv4")
                placeholders = exchange["cookies_received"] - 1
                self.expect('ntsd_ntp_cookie_placeholders_total{placeholders="%d"}'
                            % placeholders)

    def drive_raw_ke(self):
        req = ke_request()
        # Byte by byte without pauses: every byte is still a record of its own.
        for chunks, pieces, pause in (([req], "1", 0.05), ([req[:7], req[7:]], "2", 0.05),
                                      ([req[:3], req[3:10], req[10:]], "3+", 0.05),
                                      ([req[i:i + 1] for i in range(len(req))], "3+", 0)):
            self.expect_handshake(self.raw_ke(chunks, pause=pause), sni=True, alpn="ntske/1")
            self.expect_request(pieces, "15")
        # chrony 4.6's offer; a long list, cut after four ids.
        self.expect_handshake(self.raw_ke([ke_request(aeads=(30, 15))]), True, "ntske/1")
        self.expect_request("1", "30,15")
        self.expect_handshake(self.raw_ke([ke_request(aeads=(0x7777, 15, 17, 16, 30))]),
                              True, "ntske/1")
        self.expect_request("1", "30583,15,17,16,...")
        # Server and Port hints, record 1024, an unknown non-critical and a critical record.
        extra = (ke_record(KE_SERVER, b"ntp.example", critical=True) +
                 ke_record(KE_PORT, b"\x00\x7b", critical=True) + ke_record(1024) +
                 ke_record(0x4321, b"x"))
        self.expect_handshake(self.raw_ke([ke_request(extra=extra)]), True, "ntske/1")
        self.expect_request("1", "15", ("ntp_server", "ntp_port", "1024", "unknown_noncritical"))
        self.expect_handshake(self.raw_ke([ke_request(extra=ke_record(0x4321, critical=True))]),
                              True, "ntske/1")
        self.expect_request("1", "15", ("unknown_critical",))

    def drive_tls_variants(self):
        self.expect_handshake(self.raw_ke([ke_request()], sni=False), False, "ntske/1")
        self.expect_request("1", "15")
        self.expect_handshake(self.raw_ke([ke_request()], alpn=("h2", "ntske/1")), True,
                              "h2,ntske/1")
        self.expect_request("1", "15")
        # No ALPN: the handshake completes, the server closes without reading a request.
        self.expect_handshake(self.raw_ke([], alpn=None), True, "none")
        # ALPN without ntske/1: refused in the handshake, so only the offer is counted.
        with self.assertRaises(ssl.SSLError):
            self.raw_ke([], alpn=("http/1.1",))
        self.expect('ntsd_ke_alpn_offered_total{alpn="http/1.1"}')

    def drive_ntp(self):
        port = self.server.ntp_port
        for version, host, family, n in ((4, "127.0.0.1", "ipv4", 3), (3, "127.0.0.1", "ipv4", 2),
                                         (4, "::1", "ipv6", 2)):
            for _ in range(n):
                self.assertIsNotNone(udp_from(host, host, port, client_packet(version=version),
                                              timeout=2))
                self.expect_ntp("plain", 48, str(version), family)
        # NTS requests with a cookie of a key we never had: NAKed, so no placeholder count.
        packet = nts(placeholders=2)
        self.assertIsNotNone(udp_from("127.0.0.1", "127.0.0.1", port, packet, timeout=2))
        self.expect_ntp("nts", len(packet), "4", "ipv4")

    def test_census_moves_by_exactly_what_clients_did(self):
        before = self.quiet_scrape(at_least_sessions=2)  # the readiness probes
        self.drive_nts_query()
        self.drive_raw_ke()
        self.drive_tls_variants()
        self.drive_ntp()
        after = self.quiet_scrape(at_least_sessions=int(sum(
            v for k, v in before.items() if k.startswith("ntsd_ke_sessions_total"))) + 14)
        self.assert_moved_exactly(before, after, self.expected, CENSUS_PREFIXES)
        # Bounded label sets always carry their "other" series.
        for name in ("ntsd_ke_offered_aeads_total{aeads=", "ntsd_ke_alpn_offered_total{alpn=",
                     "ntsd_ke_tls_group_total{group="):
            self.assertIn(name + '"other"}', after)


if __name__ == "__main__":
    unittest.main()
