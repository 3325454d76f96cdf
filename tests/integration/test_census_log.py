"""The research log (--census-log, docs/metrics.md "Research log").

Proves: each NTS-KE session adds exactly one JSON line, with the census fields the
client's request and handshake produced, the AEAD chosen and the outcome, and the
client's address cut to /24 (IPv4) and /48 (IPv6) by default or to the configured
prefixes (0: no address); the server name a client sent is never written, only that
one was. A request written in three TLS records shows three records. After the file
is renamed, SIGHUP makes the next lines go to a new file. A burst of sessions beyond
the per-second cap is dropped, and ntsd_census_log_lines_total says how many lines
were written and dropped. A path that cannot be opened stops start-up (and
--check-config) with exit 2 naming --census-log.
"""

import json
import os
import re
import signal
import socket
import stat
import time
import unittest

from ntsd_harness import KE_SERVER, ke_record, ke_request, wait_until
import test_census
from test_metrics import MetricsTestCase

KEYS = ["time", "client", "outcome", "alpn", "tls_version", "tls_cipher", "tls_group", "sni",
        "tls_records", "reads", "aeads", "records", "aead"]
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def read_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    text = data.decode("utf-8")  # the writer replaces bytes that are not UTF-8
    if text and not text.endswith("\n"):
        raise AssertionError("partial line at the end of %s: %r" % (path, text[-200:]))
    return [json.loads(line) for line in text.splitlines()]


class CensusLogTestCase(MetricsTestCase):
    KE_TIMEOUT_MS = 3000  # room for requests written a record at a time
    raw_ke = test_census.CensusTest.raw_ke

    def start_logging(self, extra=()):
        self.log = os.path.join(self.tmp, "census.jsonl")
        self.server = self.start_ntsd(
            hosts=("127.0.0.1", "::1"),
            extra=["--config", self.metrics_config(), "--ke-rate-limit", "0",
                   "--census-log", self.log] + list(extra))
        self.find_metrics_port(self.server.proc)

    def lines_total(self, m, result):
        return m['ntsd_census_log_lines_total{result="%s"}' % result]

    def settled(self, at_least_sessions=0):
        """(lines, metrics) once no session is open and every queued line is written."""
        m = self.quiet_scrape(at_least_sessions)
        ended = sum(v for k, v in m.items() if k.startswith("ntsd_ke_sessions_total")
                    and "refused_busy" not in k and "rate_limited" not in k)
        last = {}

        def done():
            last["m"] = self.scrape()
            accounted = sum(self.lines_total(last["m"], r)
                            for r in ("written", "dropped_rate", "dropped_queue", "error"))
            return accounted >= ended

        self.assertTrue(wait_until(done, 10), "lines not accounted for: %r" % last.get("m"))
        lines = read_lines(self.log)
        self.assertEqual(len(lines), self.lines_total(last["m"], "written"))
        return lines, last["m"]


class CensusLogTest(CensusLogTestCase):

    def setUp(self):
        super().setUp()
        self.start_logging()

    def test_one_line_per_session_with_its_fields(self):
        before, m0 = self.settled(at_least_sessions=2)  # the readiness probes
        self.assertEqual(self.lines_total(m0, "dropped_rate"), 0)
        queries = []
        for host in ("127.0.0.1", "127.0.0.1", "[::1]"):
            res = self.nts_query("%s:%d" % (host, self.server.ke_port), "--count", "1",
                                 "--json")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
            queries.append(json.loads(res.stdout))
        req = ke_request()
        split_cipher = self.raw_ke([req[:3], req[3:10], req[10:]], pause=0.05)
        self.raw_ke([ke_request(aeads=(30, 15), extra=ke_record(KE_SERVER, b"x", True))])
        lines, m = self.settled(at_least_sessions=len(before) + 5)
        new = lines[len(before):]
        self.assertEqual(len(new), 5, new)
        for line in lines:
            self.assertEqual(list(line), KEYS, line)
            self.assertRegex(line["time"], TIME)

        for line, query, client in zip(new, queries, ("127.0.0.0/24", "127.0.0.0/24", "::/48")):
            self.assertEqual(line["client"], client, line)
            self.assertEqual(line["outcome"], "ok", line)
            self.assertEqual(line["alpn"], "ntske/1")
            self.assertEqual(line["tls_version"], "TLSv1.3")
            self.assertEqual(line["tls_cipher"], query["ke"]["tls_cipher"])
            self.assertEqual(line["tls_group"], "x25519")
            self.assertIs(line["sni"], False)  # nts-query to an address sends no name
            self.assertEqual((line["tls_records"], line["reads"]), (1, 1))
            self.assertEqual(line["aeads"], "30,15,17")
            self.assertEqual(line["records"], ["1024"])
            self.assertEqual(line["aead"], query["ke"]["aead_id"])

        split = new[3]
        self.assertEqual(split["outcome"], "ok", split)
        self.assertEqual(split["tls_cipher"], split_cipher)
        self.assertGreaterEqual(split["tls_records"], 3, split)
        self.assertEqual(split["aeads"], "15")
        self.assertEqual(split["aead"], 15)
        self.assertIs(split["sni"], True)

        chrony = new[4]
        self.assertEqual(chrony["aeads"], "30,15")
        self.assertEqual(chrony["records"], ["ntp_server"])
        self.assertEqual(chrony["aead"], 30)  # chosen; without 1024 keys come from context 15
        # The name the client sent is not in the log, only that it sent one.
        with open(self.log) as f:
            self.assertNotIn("localhost", f.read())

        self.assertEqual(self.lines_total(m, "dropped_rate"), 0)
        self.assertEqual(self.lines_total(m, "dropped_queue"), 0)
        self.assertEqual(self.lines_total(m, "error"), 0)
        self.assertEqual(stat.S_IMODE(os.stat(self.log).st_mode), 0o640)

    def test_sessions_cut_short_have_nulls(self):
        before, _ = self.settled(at_least_sessions=2)
        socket.create_connection(("127.0.0.1", self.server.ke_port), timeout=5).close()
        self.raw_ke([], alpn=None)  # handshake, no ALPN: closed without a request
        lines, _ = self.settled(at_least_sessions=len(before) + 2)
        bare, no_alpn = lines[len(before):]
        self.assertIn(bare["outcome"], ("tls_failed", "closed_early"), bare)
        self.assertIsNone(bare["tls_version"])
        self.assertIsNone(bare["records"])
        self.assertEqual(no_alpn["outcome"], "no_alpn", no_alpn)
        self.assertEqual(no_alpn["alpn"], "none")
        self.assertEqual(no_alpn["tls_version"], "TLSv1.3")
        self.assertIsNone(no_alpn["tls_records"])
        self.assertIsNone(no_alpn["aead"])

    def test_sighup_after_rename_writes_a_new_file(self):
        before, _ = self.settled(at_least_sessions=2)
        rotated = self.log + ".1"
        os.rename(self.log, rotated)
        os.kill(self.server.proc.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "census log %s reopened" % self.log
                                   in self.server.proc.stderr(), 10),
                        self.server.proc.stderr())
        self.raw_ke([ke_request()])
        self.raw_ke([ke_request()])
        self.quiet_scrape(at_least_sessions=len(before) + 2)
        self.assertTrue(wait_until(lambda: len(read_lines(self.log)) == 2, 10),
                        read_lines(self.log))
        self.assertEqual(len(read_lines(rotated)), len(before))
        self.assertEqual([l["outcome"] for l in read_lines(self.log)], ["ok", "ok"])
        self.assertEqual(stat.S_IMODE(os.stat(self.log).st_mode), 0o640)
        self.assertIsNone(self.server.proc.poll())


class CensusLogPrefixTest(CensusLogTestCase):

    def test_configured_prefixes(self):
        # /32 for IPv4 (whole addresses), none for IPv6.
        self.start_logging(["--census-log-prefix", "32,0"])
        before, _ = self.settled(at_least_sessions=2)
        for host in ("127.0.0.1", "[::1]"):
            res = self.nts_query("%s:%d" % (host, self.server.ke_port), "--count", "1")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        lines, _ = self.settled(at_least_sessions=len(before) + 2)
        self.assertEqual([l["client"] for l in lines[len(before):]], ["127.0.0.1/32", None])


class CensusLogRateTest(CensusLogTestCase):

    RATE = 5

    def test_burst_beyond_the_cap_is_dropped_and_counted(self):
        self.start_logging(["--census-log-rate", str(self.RATE)])
        time.sleep(1.1)  # a fresh one-second window
        before, m0 = self.settled(at_least_sessions=2)
        burst = 40
        start = time.monotonic()
        for _ in range(burst):
            socket.create_connection(("127.0.0.1", self.server.ke_port), timeout=5).close()
        elapsed = time.monotonic() - start
        lines, m = self.settled(at_least_sessions=len(before) + burst)
        written = self.lines_total(m, "written") - self.lines_total(m0, "written")
        dropped = self.lines_total(m, "dropped_rate") - self.lines_total(m0, "dropped_rate")
        self.assertEqual(written + dropped, burst, m)
        self.assertGreater(dropped, 0, m)
        # At most RATE lines in each one-second window the burst touched.
        self.assertLessEqual(written, self.RATE * (int(elapsed) + 2), (written, elapsed))
        self.assertEqual(len(lines) - len(before), written)
        self.assertEqual(self.lines_total(m, "dropped_queue"), 0)


class CensusLogDiskFullTest(CensusLogTestCase):

    @unittest.skipUnless(os.access("/dev/full", os.W_OK), "no /dev/full")
    def test_write_errors_are_counted_and_serving_goes_on(self):
        self.server = self.start_ntsd(
            extra=["--config", self.metrics_config(), "--ke-rate-limit", "0",
                   "--census-log", "/dev/full"])
        self.find_metrics_port(self.server.proc)
        for _ in range(3):
            res = self.nts_query("127.0.0.1:%d" % self.server.ke_port, "--count", "1")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.quiet_scrape(at_least_sessions=4)
        self.assertTrue(wait_until(
            lambda: self.lines_total(self.scrape(), "error") >= 4, 10), self.scrape())
        m = self.scrape()
        self.assertEqual(self.lines_total(m, "written"), 0)
        self.assertEqual(m['ntsd_ke_sessions_total{outcome="ok"}'], 3)
        # Logged, but rate limited: not once per lost line.
        errors = self.server.proc.stderr().count("census log /dev/full: cannot write")
        self.assertGreaterEqual(errors, 1)
        self.assertLess(errors, 4)
        self.assertIsNone(self.server.proc.poll())


class CensusLogStartTest(MetricsTestCase):

    def check(self, path, check_only):
        argv = [self.ntsd_bin, "--cert", self.cert, "--key", self.key,
                "--ke-listen", "127.0.0.1:0", "--ntp-listen", "127.0.0.1:0",
                "--time-source", "local", "--stratum", "2", "--census-log", path]
        if check_only:
            argv.append("--check-config")
        return self.run_tool(argv, timeout=20)

    def test_unwritable_path_exits_2_naming_the_setting(self):
        for path in (os.path.join(self.tmp, "missing", "census.jsonl"), self.tmp):
            for check_only in (False, True):
                res = self.check(path, check_only)
                self.assertEqual(res.returncode, 2, (path, check_only, res.stderr))
                lines = [l for l in res.stderr.splitlines() if l.strip()]
                self.assertEqual(len(lines), 1, res.stderr)
                self.assertTrue(lines[0].startswith("ntsd: --census-log: "), lines[0])
                self.assertIn(path, lines[0])

    def test_check_config_accepts_a_creatable_path_and_creates_nothing(self):
        path = os.path.join(self.tmp, "census.jsonl")
        res = self.check(path, True)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertFalse(os.path.exists(path))

    def test_bad_prefix_setting(self):
        res = self.run_tool([self.ntsd_bin, "--census-log-prefix", "24", "--check-config"],
                            timeout=20)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("--census-log-prefix", res.stderr)


if __name__ == "__main__":
    unittest.main()
