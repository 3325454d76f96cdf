"""Broken certificate files while serving, and an expired certificate at start
(issue 15 part 4).

Each fault is injected into the files ntsd watches (--cert-poll 1): the last good
pair must keep serving, one warning must be logged per change (not per poll) and
ntsd_tls_certificate_files_ok must say 0 until good files are back.
"""

import os
import shutil
import subprocess
import time
import unittest

from fault_common import metrics_port, scrape
from ntsd_harness import wait_until
from test_reload import ReloadTest, TestCa, fingerprint_of_file, openssl, replace_file

WAIT = 10.0
NOT_RELOADED = r"warning TLS certificate not reloaded, the previous one stays in service"
# Without these capabilities root is held to the file mode like any user.
DROP_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]


def expired_leaf(ca, names):
    """A leaf signed by `ca` that expired yesterday (signed with the clock 3 days back)."""
    ca.count += 1
    base = os.path.join(ca.dir, "expired%d" % ca.count)
    key, csr, cert, ext = base + ".key", base + ".csr", base + ".pem", base + ".ext"
    with open(ext, "w") as f:
        f.write("subjectAltName=%s,IP:127.0.0.1\n" % ",".join("DNS:" + n for n in names))
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl("req", "-new", "-key", key, "-subj", "/CN=%s" % names[0], "-out", csr)
    res = subprocess.run(["faketime", "-f", "-3d", "openssl", "x509", "-req", "-in", csr,
                          "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", str(5000 + ca.count),
                          "-days", "1", "-extfile", ext, "-out", cert],
                         capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RuntimeError("faketime openssl x509 failed: " + res.stderr)
    return cert, key


class CertificateFaultTest(ReloadTest):

    def files_ok(self, port):
        return scrape(port).get('ntsd_tls_certificate_files_ok{certificate="%s"}' % self.cert)

    def without_dac_override(self):
        """ntsd through setpriv when run as root, so that mode 000 means unreadable."""
        if os.geteuid() != 0:
            return
        if shutil.which("setpriv") is None:
            self.skipTest("running as root without setpriv: cannot make a file unreadable")
        wrapper = os.path.join(self.tmp, "ntsd-no-dac")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec %s %s "$@"\n' % (" ".join(DROP_DAC), self.ntsd_bin))
        os.chmod(wrapper, 0o755)
        self.ntsd_bin = wrapper

    def inject(self, server, port, good, fault, what):
        """Applies `fault`, then checks: one warning, old pair served, metric 0."""
        before = self.log_count(server.proc, NOT_RELOADED)
        fault()
        self.assertTrue(wait_until(lambda: self.log_count(server.proc, NOT_RELOADED) > before,
                                   WAIT), "no warning after: " + what)
        self.assertEqual(self.served_fingerprint(server), good, what)
        with self.connect(server) as tls:
            self.assert_valid_response(self.ke_response(tls))
        self.assertEqual(self.files_ok(port), 0.0, what)
        time.sleep(3.5)  # three more polls: still one warning for this change
        self.assertEqual(self.log_count(server.proc, NOT_RELOADED), before + 1, what)
        self.assertIsNone(server.proc.poll())

    def install(self, cert, key):
        """Puts this pair in place of the served files (key first, as renewals do)."""
        replace_file(key, self.key)
        replace_file(cert, self.cert)

    def restore(self, server, port, cert, key):
        self.install(cert, key)
        self.assertTrue(wait_until(lambda: self.files_ok(port) == 1.0, WAIT),
                        "ntsd_tls_certificate_files_ok not back to 1")

    def test_broken_files_keep_the_last_good_pair(self):
        self.without_dac_override()
        good_cert, good_key = self.cert + ".good", self.key + ".good"
        shutil.copy(self.cert, good_cert)
        shutil.copy(self.key, good_key)
        server = self.start_ntsd(extra=["--cert-poll", "1", "--metrics-listen", "127.0.0.1:0"])
        port = metrics_port(self, server.proc)
        good = fingerprint_of_file(self.cert)
        self.assertEqual(self.files_ok(port), 1.0)

        self.inject(server, port, good, lambda: os.unlink(self.cert), "certificate deleted")
        self.restore(server, port, good_cert, good_key)
        self.inject(server, port, good, lambda: os.unlink(self.key), "key deleted")
        self.restore(server, port, good_cert, good_key)

        def truncate():
            with open(self.cert, "r+b") as f:
                f.truncate(os.path.getsize(self.cert) // 2)
        self.inject(server, port, good, truncate, "certificate truncated")
        self.restore(server, port, good_cert, good_key)

        other_cert, other_key = self.ca.leaf(["other.example"])
        self.inject(server, port, good, lambda: self.install(other_cert, other_key),
                    "another name's certificate")
        self.assertRegex(server.proc.stderr(), r"is for other\.example, not for localhost")
        self.restore(server, port, good_cert, good_key)

        old_cert, old_key = expired_leaf(self.ca, ["localhost"])
        self.inject(server, port, good, lambda: self.install(old_cert, old_key),
                    "expired certificate")
        self.assertRegex(server.proc.stderr(), r"cert\.pem: expired at ")
        self.restore(server, port, good_cert, good_key)

        self.inject(server, port, good, lambda: os.chmod(self.key, 0), "key unreadable")
        self.assertRegex(server.proc.stderr(), r"key\.pem.*(Permission denied|permission)")
        self.restore(server, port, good_cert, good_key)

        # A good renewal is still taken after all that.
        new_cert, new_key = self.ca.leaf(["localhost"])
        self.restore(server, port, new_cert, new_key)
        self.assertTrue(wait_until(
            lambda: self.served_fingerprint(server) == fingerprint_of_file(new_cert), WAIT))

    def test_start_with_expired_certificate_is_the_operators_choice(self):
        old_cert, old_key = expired_leaf(self.ca, ["localhost"])
        self.install(old_cert, old_key)
        res = self.run_tool([self.ntsd_bin, "--cert", self.cert, "--key", self.key,
                             "--ke-listen", "127.0.0.1:0", "--ntp-listen", "127.0.0.1:0"], 30)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertRegex(res.stderr, r"cert\.pem expired at .*--allow-expired-certificate")
        res = self.run_tool([self.ntsd_bin, "--check-config", "--cert", self.cert, "--key",
                             self.key], 30)
        self.assertEqual(res.returncode, 2, res.stderr)

        config = self.config_file("[tls]\nallow-expired-certificate = true\n")
        res = self.run_tool([self.ntsd_bin, "--check-config", "--config", config, "--cert",
                             self.cert, "--key", self.key], 30)
        self.assertEqual(res.returncode, 0, res.stderr)

        server = self.start_ntsd(extra=["--allow-expired-certificate", "--cert-poll", "0"])
        self.assertRegex(server.proc.stderr(), r"TLS certificate .*cert\.pem expired at")
        self.assertIsNone(server.proc.poll())


def load_tests(loader, tests, pattern):
    """Only the tests above run from this module, not the inherited ReloadTest ones."""
    suite = unittest.TestSuite()
    for name in loader.getTestCaseNames(CertificateFaultTest):
        if name in CertificateFaultTest.__dict__:
            suite.addTest(CertificateFaultTest(name))
    return suite

if __name__ == "__main__":
    unittest.main()
