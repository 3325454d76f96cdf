"""The Prometheus metrics endpoint (--metrics-listen).

Proves: GET /metrics answers 200 with the text exposition format; other paths get 404,
other methods 405, garbage 400, and none of it hurts the server. A scripted mix of
traffic (NTS-KE sessions ending every way a client can make them end, NTS and plain NTP
requests, NTS requests with an unknown cookie key, malformed packets, an interleaved
exchange) moves each counter by exactly what the script did, and nothing else moves.
Sessions refused because the server is full, and connections and requests over the
rate limits, are counted the same way.
"""

import json
import os
import re
import socket
import ssl
import struct
import time
import unittest

from hostile_common import udp_from
from ntsd_harness import (KE_ERROR, NtpReply, NtsdTestCase, client_packet, free_port,
                          ke_exchange, ke_record, ke_request, ke_u16s, ntp_now,
                          read_until_closed, tls_client_context, wait_until)
from test_hostile_inputs import nts

KE_OUTCOMES = ("ok", "tls_failed", "no_alpn", "bad_request", "negotiation_failed",
               "internal_error", "timeout", "closed_early", "evicted", "refused_busy",
               "rate_limited")


def parse_metrics(text):
    """{"name{labels}": float} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


def ke_total(m, outcome):
    return m['ntsd_ke_sessions_total{outcome="%s"}' % outcome]


def sessions(m):
    return sum(ke_total(m, o) for o in KE_OUTCOMES)


class MetricsTestCase(NtsdTestCase):
    """Starts ntsd with the metrics endpoint on a port the kernel picks."""

    KE_TIMEOUT_MS = 400

    def metrics_config(self):
        conf = os.path.join(self.tmp, "metrics.toml")
        with open(conf, "w") as f:
            f.write("[nts-ke]\ntimeout-ms = %d\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
                    % self.KE_TIMEOUT_MS)
        return conf

    def find_metrics_port(self, proc):
        pattern = re.compile(r"metrics listening on 127\.0\.0\.1:(\d+) \(HTTP")
        found = wait_until(lambda: pattern.search(proc.stderr()), 10)
        self.assertTrue(found, "no 'metrics listening on' line:\n" + proc.logs())
        self.metrics_port = int(found.group(1))

    def start_with_metrics(self, extra=()):
        self.server = self.start_ntsd(extra=["--config", self.metrics_config()] + list(extra))
        self.find_metrics_port(self.server.proc)

    def ke(self, chunks, alpn=("ntske/1",)):
        return ke_exchange("127.0.0.1", self.server.ke_port, self.cert, chunks, alpn=alpn,
                           timeout=5)

    def tls_connect(self):
        raw = socket.create_connection(("127.0.0.1", self.server.ke_port), timeout=5)
        return tls_client_context(self.cert).wrap_socket(raw, server_hostname="localhost")

    @staticmethod
    def half_close(tls):
        """Ends a session after the handshake without a request: FIN, then waits for the
        server to close (reading what it sent, so no reset loses anything)."""
        raw = socket.socket(fileno=tls.detach())
        raw.settimeout(5)
        raw.shutdown(socket.SHUT_WR)
        read_until_closed(raw)
        raw.close()

    def http(self, request):
        with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=5) as s:
            s.sendall(request)
            data = read_until_closed(s)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/1.1 ") else None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers, body

    def scrape(self):
        status, headers, body = self.http(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"),
                        headers)
        self.assertEqual(int(headers["content-length"]), len(body))
        return parse_metrics(body.decode())

    def quiet_scrape(self, at_least_sessions=0):
        """A scrape once at least `at_least_sessions` NTS-KE connections ended and none
        is open (a session's outcome is counted before its socket closes, the active
        gauge only after; a connection still in the accept queue counts in neither)."""
        last = {}

        def quiet():
            last["m"] = self.scrape()
            m = last["m"]
            return m["ntsd_ke_sessions_active"] == 0 and sessions(m) >= at_least_sessions

        self.assertTrue(wait_until(quiet, 10, interval=0.05),
                        "NTS-KE sessions still open: %r" % last.get("m"))
        return last["m"]

    def assert_moved_exactly(self, before, after, expected, prefixes):
        """Every series starting with one of `prefixes` moved by expected[key] (0 when
        absent)."""
        for key in sorted(set(before) | set(after)):
            if not key.startswith(prefixes):
                continue
            moved = after.get(key, 0) - before.get(key, 0)
            self.assertEqual(moved, expected.get(key, 0), key)
        for key in expected:
            self.assertIn(key, after)


class MetricsTest(MetricsTestCase):

    def setUp(self):
        super().setUp()
        # One client address sends everything: no rate limits here.
        self.start_with_metrics(["--ntp-rate-limit", "0", "--ke-rate-limit", "0"])

    def test_counters_move_by_exactly_what_clients_did(self):
        before = self.quiet_scrape(at_least_sessions=1)  # the harness's readiness probe
        expected = {}

        def expect(key, n=1):
            expected[key] = expected.get(key, 0) + n

        # NTS: nts-query sessions, each with two exchanges.
        cookies = 0
        for _ in range(2):
            res = self.nts_query("127.0.0.1:%d" % self.server.ke_port, "--count", "2",
                                 "--interval", "0", "--json")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
            exchanges = json.loads(res.stdout)["exchanges"]
            self.assertEqual([e["ok"] for e in exchanges], [True, True])
            cookies += sum(e["cookies_received"] for e in exchanges)
            expect('ntsd_ke_sessions_total{outcome="ok"}')
            expect('ntsd_ntp_requests_total{kind="nts",outcome="answered"}', 2)
        self.assertGreaterEqual(cookies, 4)
        expect("ntsd_ntp_cookies_issued_total", cookies)

        # Plain NTP.
        for _ in range(5):
            data = udp_from("127.0.0.1", "127.0.0.1", self.server.ntp_port, client_packet(),
                            timeout=2)
            self.assertIsNotNone(data)
            self.assertEqual(NtpReply(data).stratum, self.server.stratum)
            expect('ntsd_ntp_requests_total{kind="plain",outcome="answered"}')

        # An interleaved exchange (RFC 9769): the second request's origin is our receive
        # timestamp of the first.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.bind(("127.0.0.1", 0))
            s.sendto(client_packet(), ("127.0.0.1", self.server.ntp_port))
            first = NtpReply(s.recvfrom(1024)[0])
            client_receive = ntp_now()
            second = struct.pack("!BBbbII4sQQQQ", 0x23, 0, 6, -20, 0, 0, b"\0" * 4, 0,
                                 first.receive, client_receive, ntp_now() ^ 0x5A5A)
            s.sendto(second, ("127.0.0.1", self.server.ntp_port))
            reply = NtpReply(s.recvfrom(1024)[0])
            self.assertEqual(reply.origin, client_receive, "not answered in interleaved mode")
        expect('ntsd_ntp_requests_total{kind="plain",outcome="answered"}', 2)
        expect("ntsd_ntp_interleaved_responses_total")

        # NTS requests whose cookie names a key we never had: NAKs.
        for _ in range(3):
            data = udp_from("127.0.0.1", "127.0.0.1", self.server.ntp_port, nts(), timeout=2)
            self.assertIsNotNone(data)
            self.assertEqual(NtpReply(data).refid, b"NTSN")
            expect('ntsd_ntp_requests_total{kind="nts",outcome="nak"}')
            expect('ntsd_ntp_naks_total{reason="unknown_cookie_key"}')

        # Dropped: too short, a wrong version, an NTS request with a short unique id.
        drops = [(client_packet()[:47], "plain", "too_short"),
                 (client_packet(version=1), "plain", "unsupported_version"),
                 (nts(uid_len=16), "nts", "short_unique_identifier")]
        for packet, kind, outcome in drops:
            self.assertIsNone(udp_from("127.0.0.1", "127.0.0.1", self.server.ntp_port, packet,
                                       timeout=0.3))
            expect('ntsd_ntp_requests_total{kind="%s",outcome="%s"}' % (kind, outcome))

        # NTS-KE sessions ending every other way. Each ends before the client returns
        # (the server counts before it closes).
        handshakes = 2  # the nts-query sessions
        _, data = self.ke([ke_request(extra=ke_record(KE_ERROR, ke_u16s(0), True))])
        self.assertTrue(data)
        expect('ntsd_ke_sessions_total{outcome="bad_request"}')
        _, data = self.ke([ke_request(aeads=(9999,))])
        self.assertTrue(data)
        expect('ntsd_ke_sessions_total{outcome="negotiation_failed"}')
        info, data = self.ke([ke_request()], alpn=None)
        self.assertEqual(data, b"")
        self.assertTrue(info["eof"])
        expect('ntsd_ke_sessions_total{outcome="no_alpn"}')
        info, data = self.ke([])  # a handshake, then silence past the server's timeout
        self.assertEqual(data, b"")
        self.assertTrue(info["eof"])
        expect('ntsd_ke_sessions_total{outcome="timeout"}')
        self.half_close(self.tls_connect())  # a handshake, then the client leaves
        expect('ntsd_ke_sessions_total{outcome="closed_early"}')
        handshakes += 5
        with socket.create_connection(("127.0.0.1", self.server.ke_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not TLS
            read_until_closed(s)
        expect('ntsd_ke_sessions_total{outcome="tls_failed"}')
        expect("ntsd_ke_handshake_seconds_count", handshakes)
        expect('ntsd_ke_handshake_seconds_bucket{le="+Inf"}', handshakes)

        after = self.quiet_scrape(sessions(before) + 2 + 6)
        self.assert_moved_exactly(before, after, expected,
                                  ("ntsd_ke_sessions_total", "ntsd_ntp_requests_total",
                                   "ntsd_ntp_naks_total", "ntsd_ntp_cookies_issued_total",
                                   "ntsd_ntp_interleaved_responses_total",
                                   "ntsd_ke_handshake_seconds_count",
                                   'ntsd_ke_handshake_seconds_bucket{le="+Inf"}'))
        self.assertGreater(after["ntsd_ke_handshake_seconds_sum"],
                           before["ntsd_ke_handshake_seconds_sum"])

        # Transmit gap: one per kernel transmit timestamp matched to a response.
        gap = after["ntsd_ntp_transmit_gap_seconds_count"]
        self.assertEqual(gap, after['ntsd_ntp_tx_timestamps_total{matched="true"}'])
        if gap > 0:
            self.assertGreaterEqual(after['ntsd_ntp_transmit_gap_seconds{quantile="0.99"}'],
                                    after['ntsd_ntp_transmit_gap_seconds{quantile="0.5"}'])
            self.assertGreater(after['ntsd_ntp_transmit_gap_seconds{quantile="0.5"}'], 0)

    def test_state_gauges(self):
        m = self.scrape()
        self.assertEqual(m['ntsd_build_info{version="0.1.0"}'], 1)
        self.assertLessEqual(abs(m["ntsd_start_time_seconds"] - time.time()), 60)
        self.assertEqual(m["ntsd_time_stratum"], self.server.stratum)
        self.assertEqual(m["ntsd_time_leap"], 0)
        self.assertEqual(m["ntsd_time_synchronised"], 1)
        self.assertEqual(m["ntsd_time_root_delay_seconds"], 0)
        # The key id is the epoch; the next rotation is the start of the next one.
        key_id = int(m["ntsd_cookie_key_id"])
        self.assertEqual(key_id, int(time.time()) // 86400)
        self.assertEqual(m["ntsd_cookie_key_next_rotation_timestamp_seconds"],
                         (key_id + 1) * 86400)
        # The certificate's notAfter, as the TLS client sees it.
        with self.tls_connect() as tls:
            not_after = ssl.cert_time_to_seconds(tls.getpeercert()["notAfter"])
        self.assertEqual(m["ntsd_tls_certificate_expiry_timestamp_seconds"], not_after)
        self.assertNotIn("ntsd_upstream_reachable", " ".join(m))

    def test_other_paths_methods_and_garbage(self):
        status, _, _ = self.http(b"GET / HTTP/1.1\r\n\r\n")
        self.assertEqual(status, 404)
        status, _, _ = self.http(b"GET /metrics/extra HTTP/1.0\r\n\r\n")
        self.assertEqual(status, 404)
        status, headers, _ = self.http(b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET, HEAD")
        status, headers, body = self.http(b"HEAD /metrics HTTP/1.1\r\n\r\n")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertGreater(int(headers["content-length"]), 0)
        for garbage in (b"\x16\x03\x01\x00\x05hello\r\n\r\n", b"GET\r\n\r\n",
                        b"GET /metrics HTTP/9.9\r\n\r\n", os.urandom(300) + b"\r\n\r\n"):
            status, _, _ = self.http(garbage)
            self.assertEqual(status, 400, garbage)
        status, _, _ = self.http(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000)
        self.assertEqual(status, 431)
        # A client that connects and says nothing is closed after the read deadline.
        with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=10) as s:
            start = time.monotonic()
            self.assertEqual(read_until_closed(s), b"")
            self.assertLess(time.monotonic() - start, 8)
        # Many at once: the ones over the cap are closed, the server survives and serves
        # again once it has seen the others go (a scrape in between may be closed too).
        held = [socket.create_connection(("127.0.0.1", self.metrics_port), timeout=5)
                for _ in range(20)]
        for s in held:
            s.close()
        def serves():
            try:
                return self.http(b"GET /metrics HTTP/1.1\r\n\r\n")[0] == 200
            except OSError:  # closed while still full
                return False

        self.assertTrue(wait_until(serves, 10, interval=0.1))
        self.assertIsNone(self.server.proc.poll())


class MetricsRefusedTest(MetricsTestCase):

    def test_waiting_session_evicted_when_full(self):
        self.start_with_metrics(["--ke-max-sessions", "1", "--ke-rate-limit", "0"])
        before = self.quiet_scrape(at_least_sessions=1)
        holder = self.tls_connect()  # holds the only session slot, never sends a request
        time.sleep(0.1)
        # A new client takes the slot: the holder, still waiting for its request, is reset.
        res = self.nts_query("127.0.0.1:%d" % self.server.ke_port, "--count", "1")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        try:
            read_until_closed(holder)
        except (ConnectionResetError, ssl.SSLError):
            pass
        holder.close()
        after = self.quiet_scrape(sessions(before) + 2)
        self.assert_moved_exactly(before, after, {
            'ntsd_ke_sessions_total{outcome="evicted"}': 1,
            'ntsd_ke_sessions_total{outcome="ok"}': 1,
        }, ("ntsd_ke_sessions_total",))

    def test_over_the_rate_limits(self):
        self.start_with_metrics(["--ke-rate-limit", "1", "--ke-rate-burst", "2",
                                 "--ntp-rate-limit", "1", "--ntp-rate-burst", "2",
                                 "--ntp-rate-prefix-v4", "32"])
        before = self.quiet_scrape(at_least_sessions=1)
        # NTP from an address of its own: every request is answered, kissed or dropped,
        # and the client sees which.
        source = "127.0.0.7"
        sent = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((source, 0))
            for _ in range(20):
                packet = client_packet()
                sent[packet[40:48]] = None
                s.sendto(packet, ("127.0.0.1", self.server.ntp_port))
            s.settimeout(1.0)
            try:
                while True:
                    reply = NtpReply(s.recvfrom(1024)[0])
                    sent[struct.pack("!Q", reply.origin)] = reply
            except socket.timeout:
                pass
        replies = [r for r in sent.values() if r is not None]
        kisses = sum(1 for r in replies if r.stratum == 0 and r.refid == b"RATE")
        answered = len(replies) - kisses
        self.assertGreaterEqual(answered, 2)
        self.assertGreaterEqual(kisses, 1)
        # NTS-KE from another address: a burst of connections, the allowed ones then
        # fail their TLS handshake (the client sends nothing and closes).
        conns = []
        for _ in range(10):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.bind(("127.0.0.8", 0))
            c.connect(("127.0.0.1", self.server.ke_port))
            conns.append(c)
        for c in conns:
            c.close()
        after = self.quiet_scrape(sessions(before) + 10)
        self.assert_moved_exactly(before, after, {
            'ntsd_ntp_requests_total{kind="plain",outcome="answered"}': answered,
            'ntsd_ntp_requests_total{kind="plain",outcome="rate_limited"}': kisses,
            'ntsd_ntp_requests_total{kind="unknown",outcome="rate_limited_dropped"}':
                20 - len(replies),
        }, ("ntsd_ntp_requests_total",))
        refused = ke_total(after, "rate_limited") - ke_total(before, "rate_limited")
        failed = ke_total(after, "tls_failed") - ke_total(before, "tls_failed")
        self.assertEqual(refused + failed, 10)
        # Two tokens to start with, one more per second the burst took (a few ms).
        self.assertGreaterEqual(refused, 5)


class MetricsUpstreamTest(MetricsTestCase):

    def test_upstream_reachability_and_time_state(self):
        # A first ntsd (stratum 2, local) is the upstream of the one under test; a
        # port nobody answers on is the other.
        upstream = self.start_ntsd(stratum=2)
        dead_port = free_port("udp")
        proc = self.spawn("ntsd-downstream", [
            self.ntsd_bin, "--config", self.metrics_config(), "--ke-listen", "none",
            "--ntp-listen", "127.0.0.1:%d" % free_port("udp"),
            "--time-source", "upstream", "--unsync-after", "8",
            "--upstream", "127.0.0.1:%d" % upstream.ntp_port,
            "--upstream", "127.0.0.1:%d" % dead_port])
        self.find_metrics_port(proc)
        alive = 'ntsd_upstream_reachable{upstream="127.0.0.1:%d"}' % upstream.ntp_port
        dead = 'ntsd_upstream_reachable{upstream="127.0.0.1:%d"}' % dead_port
        last = {}

        def synchronised():
            last["m"] = m = self.scrape()
            return m.get(alive) == 1 and m.get("ntsd_time_synchronised") == 1

        self.assertTrue(wait_until(synchronised, 15, interval=0.2), last.get("m"))
        m = last["m"]
        self.assertEqual(m["ntsd_time_stratum"], 3)
        self.assertEqual(m["ntsd_time_leap"], 0)
        self.assertGreater(m["ntsd_time_root_delay_seconds"], 0)
        self.assertGreater(m["ntsd_time_root_dispersion_seconds"], 0)
        self.assertEqual(m[dead], 0)


if __name__ == "__main__":
    unittest.main()
