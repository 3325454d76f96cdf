"""Resource limits (issue 15 part 5): 64 descriptors under a storm of NTS-KE
connections, and a burst of 1,000 SIGHUPs.

What must hold: NTS-KE resets what it cannot hold and counts it, accept() failing
with EMFILE does not spin the CPU, NTP keeps answering, and once the storm is over
ntsd holds as many descriptors as before it.
"""

import os
import re
import signal
import socket
import time
import unittest

from fault_common import metrics_port, scrape
from ntsd_harness import NtsdTestCase, ntp_query, wait_until

STORM = 150  # connections held open at once, well past 64 descriptors
CLK_TCK = os.sysconf("SC_CLK_TCK")


def descriptors(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def was_reset(sock):
    """True when ntsd reset or closed the connection without a word."""
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


class LimitsTest(NtsdTestCase):

    def with_descriptor_limit(self, limit):
        wrapper = os.path.join(self.tmp, "ntsd-nofile")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec prlimit --nofile=%d:%d %s "$@"\n' % (limit, limit,
                                                                           self.ntsd_bin))
        os.chmod(wrapper, 0o755)
        self.ntsd_bin = wrapper

    def settled_descriptors(self, pid, expected, timeout=10.0):
        """Waits for the count to come back to `expected`; returns the last count."""
        counts = []
        wait_until(lambda: counts.append(descriptors(pid)) or counts[-1] <= expected, timeout, 0.2)
        return counts[-1]

    def test_descriptor_storm_under_ulimit_64(self):
        self.with_descriptor_limit(64)
        # More sessions allowed than descriptors exist: accept() itself runs out.
        server = self.start_ntsd(extra=["--metrics-listen", "127.0.0.1:0", "--ke-max-sessions",
                                        "1000", "--ke-rate-limit", "0", "--cert-poll", "0",
                                        "--log-summary", "0"])
        pid = server.proc.pid
        port = metrics_port(self, server.proc)
        ok = self.nts_query("127.0.0.1:%d" % server.ke_port)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        before = descriptors(pid)

        storm = []
        try:
            for _ in range(STORM):
                s = socket.socket()
                s.settimeout(0.05)
                try:
                    s.connect(("127.0.0.1", server.ke_port))
                except OSError:
                    pass  # refused or reset while connecting: also a refusal
                storm.append(s)
            cpu_before = cpu_seconds(pid)
            time.sleep(1.0)
            cpu_used = cpu_seconds(pid) - cpu_before
            # EMFILE answered with a reset each, not a busy loop: well under one CPU.
            self.assertLess(cpu_used, 0.5, "ntsd spun on accept() failing")
            _, reply = ntp_query("127.0.0.1", server.ntp_port, timeout=1.0)
            self.assertIsNotNone(reply, "NTP did not answer during the storm")
            self.assertEqual(reply.mode, 4)
            resets = sum(1 for s in storm if was_reset(s))
            self.assertGreater(resets, 0, "no connection was refused")
            self.assertLessEqual(descriptors(pid), 64)
        finally:
            for s in storm:
                s.close()

        # The held sessions end at the KE timeout (2 s); then nothing is left over.
        after = self.settled_descriptors(pid, before)
        self.assertLessEqual(after, before, "descriptors leaked: %d before, %d after"
                             % (before, after))
        metrics = scrape(port)
        refused = metrics.get('ntsd_ke_sessions_total{outcome="refused_busy"}', 0)
        self.assertGreater(refused, 0, "resets not counted as refused_busy")
        self.assertIn("out of descriptors, connection reset", server.proc.stderr())
        again = self.nts_query("127.0.0.1:%d" % server.ke_port)
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        self.assertIsNone(server.proc.poll())

    def test_thousand_sighups_in_a_burst(self):
        server = self.start_ntsd(extra=["--cert-poll", "0", "--log-summary", "0"])
        pid = server.proc.pid
        time.sleep(0.5)
        fds_before, rss_before = descriptors(pid), rss_kib(pid)
        for _ in range(1000):
            os.kill(pid, signal.SIGHUP)
        # Pending SIGHUPs merge: at least one reload, at most 1,000.
        received = lambda: server.proc.stderr().count("received SIGHUP")
        self.assertTrue(wait_until(lambda: received() >= 1, 10))
        last = -1
        while received() != last:  # until the reloads stop coming
            last = received()
            time.sleep(0.5)
        self.assertIsNone(server.proc.poll(), "ntsd died:\n" + server.proc.logs())
        self.assertLessEqual(last, 1000)

        # One reload at a time: each SIGHUP's lines end before the next begins.
        lines = [l for l in server.proc.stderr().splitlines()
                 if "received SIGHUP" in l or re.search(r"TLS certificate .* loaded", l)]
        lines = lines[lines.index(next(l for l in lines if "received SIGHUP" in l)):]
        for i in range(0, len(lines) - 1, 2):
            self.assertIn("received SIGHUP", lines[i])
            self.assertIn("loaded", lines[i + 1])

        self.assertLessEqual(self.settled_descriptors(pid, fds_before), fds_before)
        self.assertLess(rss_kib(pid) - rss_before, 8 * 1024, "RSS grew by more than 8 MiB")
        ok = self.nts_query("127.0.0.1:%d" % server.ke_port)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)


if __name__ == "__main__":
    unittest.main()
