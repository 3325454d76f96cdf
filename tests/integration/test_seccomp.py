"""ntsd under its seccomp allow-list (`--seccomp on`), doing everything it does.

ntsd A serves with the filter on while it: runs NTS-KE on two threads, answers NTS and
plain NTP on two workers, polls a plain and an `nts:` upstream (ntsd B, so name
resolution, TCP, TLS and UDP client sockets), rotates cookie keys every 2 s, writes and reopens a log file, reloads its certificate on SIGHUP and on a file
change, serves /metrics and logs a traffic summary every second. Any system call outside
the list would kill it with SIGSYS: it must still answer afterwards and exit 0 on SIGTERM
(the harness checks). Without the filter (`--seccomp off`) the same flags are checked to
do the same, so a failure here points at the filter. The unit tests
(tests/server/seccomp_filter_test.cpp) show that the filter does kill on execve and fork.
"""

import os
import shutil
import time
import unittest
import urllib.request

from hostile_common import sanitized
from ntsd_harness import NtsdTestCase, free_port, ntp_query, wait_until


class SeccompTest(NtsdTestCase):
    STRATUM = 3
    REFID = "192.0.2.7"

    def run_everything(self, seccomp):
        b = self.start_ntsd()
        if sanitized(b.proc.pid):
            # LeakSanitizer stops the world at exit with ptrace: not on the list.
            self.skipTest("the sanitizers' exit-time checks need system calls the filter refuses")
        metrics_port = free_port("tcp")
        log_file = os.path.join(self.tmp, "a.log")
        a = self.start_ntsd(source_args=[
            "--time-source", "upstream", "--upstream", "127.0.0.1:%d" % b.ntp_port,
            "--upstream", "nts:127.0.0.1:%d" % b.ke_port, "--upstream-ca", self.cert,
        ], extra=[
            "--seccomp", seccomp, "--ke-threads", "2", "--ntp-workers", "2",
            "--keys", os.path.join(self.tmp, "keys.toml"), "--key-rotation", "2",
            "--metrics-listen", "127.0.0.1:%d" % metrics_port, "--log-file", log_file,
            "--cert-poll", "1", "--log-summary", "1", "--log-level", "debug",
        ])

        def synchronised():
            _, reply = ntp_query("127.0.0.1", a.ntp_port)
            return reply is not None and reply.stratum == self.STRATUM + 1
        self.assertTrue(wait_until(synchronised, 10, 0.2), "A never followed B")

        def query():
            res = self.nts_query("127.0.0.1:%d" % a.ke_port, "--count", "2", "--interval", "0.1")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

        query()
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=5) as r:
            self.assertIn(b"ntsd_ke_sessions_total", r.read())
        # Log rotation and certificate reload by signal, then by a file change.
        os.rename(log_file, log_file + ".1")
        os.kill(a.proc.pid, 1)  # SIGHUP
        self.assertTrue(wait_until(lambda: os.path.exists(log_file), 5, 0.1), "log not reopened")
        shutil.copy(self.cert, self.cert + ".new")
        os.replace(self.cert + ".new", self.cert)  # a new inode, like a renewal
        self.assertTrue(wait_until(lambda: "loaded" in open(log_file).read(), 5, 0.1),
                        "certificate not reloaded after the file changed")
        time.sleep(2.5)  # a key rotation and more upstream polls
        query()
        self.assertTrue(synchronised())
        self.assertIsNone(a.proc.poll(), "ntsd A died:\n" + a.proc.logs())
        a.proc.stop()
        self.assertEqual(a.proc.status_after_sigterm, 0, a.proc.logs())
        return open(log_file).read() + open(log_file + ".1").read()

    def test_everything_works_under_the_filter(self):
        log = self.run_everything("on")
        self.assertIn("seccomp allow-list installed", log)
        self.assertIn("cookie keys rotated", log)

    def test_the_same_without_the_filter(self):
        log = self.run_everything("off")
        self.assertNotIn("seccomp allow-list installed", log)


if __name__ == "__main__":
    unittest.main()
