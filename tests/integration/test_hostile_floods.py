"""Floods on loopback: idle and garbage NTS-KE connections, a UDP flood, and a
burst from one prefix, each while an honest client is served. Numbers are printed
(NTSD_TEST_SHOW_LOGS=1 shows the server's summary lines too)."""

import json
import os
import random
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import unittest

from hostile_common import (connect_or_reset, healthy, load_generator, refused, rss_kib,
                            sanitized, udp_from)
from ntsd_harness import (KE_END, NtpReply, NtsdTestCase, client_packet, ke_exchange, ke_request,
                          parse_ke_records, read_until_tls_close, tls_client_context,
                          wait_until)


def report(what, **numbers):
    sys.stderr.write("hostile: %s: %s\n" % (what, json.dumps(numbers, sort_keys=True)))
    sys.stderr.flush()


def timed_ke(cert, port, source="127.0.0.1"):
    """One NTS-KE from `source`; returns (seconds, records)."""
    ctx = tls_client_context(cert)
    start = time.monotonic()
    raw = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(ke_request())
        data = read_until_tls_close(tls)
    return time.monotonic() - start, parse_ke_records(data)


class KeFloodTest(NtsdTestCase):

    def test_500_idle_connections_do_not_delay_an_honest_client(self):
        server = self.start_ntsd()
        idle = []
        # 500 idle connections from 50 loopback addresses (10 each, under the
        # per-address connection limit), none sending a byte.
        for i in range(500):
            s = socket.socket()
            s.bind(("127.0.%d.%d" % (10 + i // 250, 1 + (i // 10) % 25), 0))
            s.connect(("127.0.0.1", server.ke_port))
            idle.append(s)
        self.addCleanup(lambda: [s.close() for s in idle])
        time.sleep(0.2)
        # The server holds them (none refused: no reset, no close yet).
        open_count = 0
        for s in idle:
            s.setblocking(False)
            try:
                open_count += 0 if s.recv(1) == b"" else 1
            except BlockingIOError:
                open_count += 1
            except ConnectionResetError:
                pass
        self.assertEqual(open_count, 500)
        seconds, records = timed_ke(self.cert, server.ke_port)
        report("KE with 500 idle connections open", seconds=round(seconds, 4))
        self.assertEqual(records[-1][1], KE_END)
        self.assertEqual(len([r for r in records if r[1] == 5]), 8)
        self.assertLess(seconds, 1.0)
        start = time.monotonic()
        res = self.nts_query("127.0.0.1:%d" % server.ke_port, "--count", "1", timeout=10)
        report("nts-query with 500 idle connections open", seconds=round(time.monotonic() - start, 3))
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        # The deadline (2 s) closes every idle connection.
        def all_closed():
            closed = 0
            for s in idle:
                try:
                    data = s.recv(1)
                    closed += 1 if data == b"" else 0
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    closed += 1
            return closed == len(idle)
        self.assertTrue(wait_until(all_closed, 6.0, 0.2), "idle connections outlived the deadline")
        healthy(self, server)

    def test_slowloris_trickle_does_not_delay_an_honest_client(self):
        server = self.start_ntsd()
        ctx = tls_client_context(self.cert)
        slow = []
        for i in range(20):
            raw = socket.create_connection(("127.0.0.1", server.ke_port), timeout=5,
                                           source_address=("127.0.20.%d" % (i + 1), 0))
            tls = ctx.wrap_socket(raw, server_hostname="localhost")
            tls.sendall(b"\x80")  # one byte of a record header, then nothing
            slow.append(tls)
        self.addCleanup(lambda: [s.close() for s in slow])
        seconds, records = timed_ke(self.cert, server.ke_port)
        report("KE with 20 slowloris sessions", seconds=round(seconds, 4))
        self.assertLess(seconds, 1.0)
        self.assertEqual(records[-1][1], KE_END)

    def test_max_sessions_and_connection_rate_limit(self):
        # One KE thread: with several, max-sessions is shared out and eviction picks the
        # oldest waiting session of the new connection's thread only.
        server = self.start_ntsd(extra=["--ke-max-sessions", "20", "--ke-rate-limit", "1",
                                        "--ke-rate-burst", "5", "--ke-threads", "1"])
        # One address, 12 connections at once: 5 admitted, 7 reset at once.
        conns = [connect_or_reset(server.ke_port, "127.0.30.1") for _ in range(12)]
        self.addCleanup(lambda: [s.close() for s in conns if s])
        time.sleep(0.3)
        reset = refused(conns)
        report("12 connections from one address, burst 5", refused=reset)
        self.assertEqual(reset, 7)
        # 20 sessions at most, all idle: 25 more from other addresses. The first 15 fill
        # the table; each of the last 10 closes the oldest session still waiting for its
        # request: the 5 of the first address, then the 5 oldest of these.
        more = []
        for i in range(25):
            more.append(connect_or_reset(server.ke_port, "127.0.31.%d" % (i + 1)))
            time.sleep(0.01)  # accepted in order
        self.addCleanup(lambda: [s.close() for s in more if s])
        time.sleep(0.3)
        report("25 more idle connections with 5 open, max 20",
               first_address_closed=refused(conns), closed=refused(more))
        self.assertEqual(refused(conns), 12)
        self.assertEqual(refused(more[:5]), 5)
        self.assertEqual(refused(more[5:]), 0)
        # An honest client is served at once: it too closes the oldest idle session.
        seconds, records = timed_ke(self.cert, server.ke_port, source="127.0.32.1")
        report("KE with max-sessions idle connections open", seconds=round(seconds, 4))
        self.assertLess(seconds, 1.0)
        self.assertEqual(len([r for r in records if r[1] == 5]), 8)
        self.assertEqual(refused(more[5:6]), 1)
        server.proc.stop()
        shutdown = re.search(r"NTS-KE sessions: (.*)", server.proc.stderr())
        self.assertIsNotNone(shutdown)
        self.assertRegex(shutdown.group(1), r"\b11 evicted\b")
        self.assertNotIn("refused_busy", shutdown.group(1))  # only outcomes that happened

    def test_10000_garbage_sessions_leave_memory_where_it_was(self):
        conf = os.path.join(self.tmp, "short-deadline.toml")
        with open(conf, "w") as f:
            f.write("[nts-ke]\ntimeout-ms = 300\n")
        server = self.start_ntsd(extra=["--ke-rate-limit", "0", "--config", conf])
        pid = server.proc.pid
        rng = random.Random(5)

        def garbage_sessions(n, seed):
            r = random.Random(seed)
            for _ in range(n):
                try:
                    with socket.create_connection(("127.0.0.1", server.ke_port), timeout=5) as s:
                        # Random bytes, then gone (the server sees the end at once).
                        s.sendall(r.randbytes(r.randint(1, 600)))
                except (ConnectionResetError, BrokenPipeError, socket.timeout):
                    pass

        def garbage_requests(n, seed):
            # After a real handshake: random bytes, or random records ending in End of
            # Message, as the NTS-KE request.
            r = random.Random(seed)
            for i in range(n):
                if i % 2:
                    payload = r.randbytes(r.randint(1, 300))
                else:
                    payload = b"".join(
                        struct.pack("!HH", r.getrandbits(16), k) + r.randbytes(k)
                        for k in (r.randint(0, 40) for _ in range(r.randint(0, 8))))
                    payload += struct.pack("!HH", 0x8000, 0)
                try:
                    ke_exchange("127.0.0.1", server.ke_port, self.cert, [payload], timeout=3)
                except (OSError, ssl.SSLError):
                    pass

        def in_threads(count, work, total, seed):
            # `total` runs of `work` shared by `count` threads, each seeded differently.
            threads = [threading.Thread(target=work, args=(total // count, seed + t))
                       for t in range(count)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        def requests(total, seed):
            in_threads(4, garbage_requests, total, seed)

        def run(total, seed):
            in_threads(8, garbage_sessions, total, seed)

        start_rss = rss_kib(pid)
        run(1000, 100)           # warm-up: allocator arenas, OpenSSL state
        requests(100, 300)
        time.sleep(1.0)
        warm_rss = rss_kib(pid)
        t0 = time.monotonic()
        run(10000, 200)
        requests(500, 400)
        elapsed = time.monotonic() - t0
        time.sleep(1.0)  # past the session deadline: every session is over
        end_rss = rss_kib(pid)
        report("10,000 garbage sessions + 500 garbage requests", seconds=round(elapsed, 2),
               rss_start_kib=start_rss, rss_warm_kib=warm_rss, rss_end_kib=end_rss)
        healthy(self, server)
        seconds, records = timed_ke(self.cert, server.ke_port)
        self.assertEqual(len([r for r in records if r[1] == 5]), 8)
        if not sanitized(pid):
            self.assertLess(end_rss - warm_rss, 4 * 1024, "RSS grew by %d KiB" % (end_rss - warm_rss))


class NtpFloodTest(NtsdTestCase):

    def _flood(self, port, seconds, sources):
        gen = load_generator("udp_flood")
        self.require_file(gen, "udp_flood")
        return subprocess.Popen([gen, "127.0.0.1", str(port), str(seconds)] + sources,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def test_udp_flood_while_an_honest_client_is_served(self):
        server = self.start_ntsd(extra=["--log-level", "debug", "--log-summary", "1"])
        # 16 prefixes: each over the rate limit, so the limiter works for its living.
        sources = ["127.0.%d.1" % (100 + i) for i in range(16)]
        flood = self._flood(server.ntp_port, 5, sources)
        time.sleep(0.5)
        ok = 0
        runs = 0
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            res = self.nts_query("127.0.0.1:%d" % server.ke_port, "--count", "2", "--timeout", "1",
                                 timeout=10)
            runs += 1
            ok += res.returncode == 0
        out, err = flood.communicate(timeout=30)
        self.assertEqual(flood.returncode, 0, err)
        numbers = json.loads(out)
        report("UDP flood 5 s from 16 prefixes", nts_query_runs=runs, nts_query_ok=ok,
               packets_per_second=round(numbers["sent"] / numbers["seconds"]), **numbers)
        self.assertGreater(runs, 0)
        # The flood shares the worker's socket queue with the honest client: with the
        # flood generator, ntsd and nts-query on 2 cores, the kernel drops part of
        # what is queued, the honest packets among them (nts-query does not retry).
        # Measured here: from 4 of 4 runs to 1 of 3 fully authenticated. The honest
        # client must still get authenticated answers during the flood.
        self.assertGreaterEqual(ok, 1, "no honest NTS query succeeded during the flood")
        # Never amplified: fewer bytes back than sent, no reply larger than the largest request.
        self.assertLess(numbers["received_bytes"], numbers["sent_bytes"])
        self.assertLessEqual(numbers["largest_reply"], 1400)
        healthy(self, server)
        # Logs stayed bounded: a per-packet line would be millions of lines.
        time.sleep(1.2)
        lines = server.proc.stderr().count("\n")
        report("log lines after the flood", lines=lines)
        self.assertLess(lines, 2000)
        self.assertIn("rate limit:", server.proc.stderr())

    def test_udp_flood_without_rate_limit_still_serves(self):
        server = self.start_ntsd(extra=["--ntp-rate-limit", "0"])
        flood = self._flood(server.ntp_port, 3, ["127.0.0.1"])
        time.sleep(0.3)
        res = self.nts_query("127.0.0.1:%d" % server.ke_port, "--count", "2", "--timeout", "1",
                             timeout=10)
        out, _ = flood.communicate(timeout=30)
        numbers = json.loads(out)
        report("UDP flood 3 s, rate limit off", **numbers)
        # Without a rate limit a full-speed flood outruns one worker (here ~880k
        # packets/s offered, ~290k/s answered) and the kernel drops what the socket
        # queue cannot hold, the honest query's packets among them: this test proves
        # survival and no amplification; being served during a flood is the rate
        # limiter's job (test_udp_flood_while_an_honest_client_is_served).
        report("honest query during the unlimited flood", exit_status=res.returncode)
        self.assertLessEqual(numbers["received_bytes"], numbers["sent_bytes"])
        healthy(self, server)

    def test_burst_from_one_prefix_is_limited_while_another_is_served(self):
        server = self.start_ntsd(extra=["--ntp-rate-limit", "2", "--ntp-rate-burst", "10"])
        noisy = "127.0.40.1"
        replies = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((noisy, 0))
            requests = [client_packet() for _ in range(200)]
            for r in requests:
                s.sendto(r, ("127.0.0.1", server.ntp_port))
            # Same /24, another address, right after the burst: limited too.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as neighbour:
                neighbour.bind(("127.0.40.2", 0))
                neighbour.settimeout(0.3)
                neighbour.sendto(client_packet(), ("127.0.0.1", server.ntp_port))
                try:
                    same = neighbour.recvfrom(2048)[0]
                except socket.timeout:
                    same = None
            s.settimeout(0.5)
            try:
                while True:
                    replies.append(NtpReply(s.recvfrom(2048)[0]))
            except socket.timeout:
                pass
        answered = [r for r in replies if r.stratum == server.stratum]
        kisses = [r for r in replies if r.stratum == 0 and r.refid == b"RATE"]
        report("200 requests from one /24, rate 2/s burst 10", answered=len(answered),
               kisses=len(kisses), silent=200 - len(replies))
        self.assertGreaterEqual(len(answered), 10)
        self.assertLessEqual(len(answered), 12)
        self.assertGreater(len(kisses), 0)
        self.assertLess(len(kisses), 40)  # mostly dropped: one kiss in 8
        for k in kisses:
            self.assertEqual(len(k.raw), 48)
            self.assertEqual(k.leap, 3)
        self.assertTrue(same is None or NtpReply(same).refid == b"RATE", "same /24 was served")
        other = [udp_from("127.0.41.1", "127.0.0.1", server.ntp_port, client_packet())
                 for _ in range(5)]
        self.assertTrue(all(o is not None and NtpReply(o).stratum == server.stratum for o in other))
        res = self.nts_query("127.0.0.1:%d" % server.ke_port, "--count", "3")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def test_prefix_length_is_configurable(self):
        server = self.start_ntsd(extra=["--ntp-rate-limit", "1", "--ntp-rate-burst", "2",
                                        "--ntp-rate-prefix-v4", "32"])
        for source in ("127.0.50.1", "127.0.50.2"):
            got = [udp_from(source, "127.0.0.1", server.ntp_port, client_packet()) for _ in range(2)]
            self.assertTrue(all(g is not None and NtpReply(g).stratum == server.stratum for g in got),
                            source)


if __name__ == "__main__":
    unittest.main()
