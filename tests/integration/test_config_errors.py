"""ntsd start-up with bad settings.

Proves: each bad setting (missing certificate file, unreadable key, unparsable --ke-listen
address, out-of-range or non-numeric --stratum, a key file that holds no key, a bad or
taken --metrics-listen address, a key file whose directory is missing, a certificate key
or key directory the --user cannot use under --check-config) makes ntsd
exit promptly (within 10 s) with status 2 and exactly one line on stderr, "ntsd: ...",
naming the offending setting -- so nothing was logged as started.  A control case with
the same arguments minus the fault starts and keeps running, so each failure is caused by
the fault alone.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import unittest

from ntsd_harness import NtsdTestCase, free_port, host_port


class ConfigErrorTest(NtsdTestCase):
    def setUp(self):
        super().setUp()
        self.require_file(self.ntsd_bin, "ntsd")
        self.ke_port = free_port("tcp")
        self.ntp_port = free_port("udp")

    def _argv(self, cert=None, key=None, ke_listen=None, stratum="2", extra=()):
        return [self.ntsd_bin,
                "--cert", cert or self.cert,
                "--key", key or self.key,
                "--ke-listen", ke_listen or host_port("127.0.0.1", self.ke_port),
                "--ntp-listen", host_port("127.0.0.1", self.ntp_port),
                "--time-source", "local", "--stratum", stratum] + list(extra)

    def _expect_config_error(self, argv, setting):
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.fail("ntsd kept running with a bad %s (expected exit 2): %s" % (setting, argv))
        self.assertEqual(res.returncode, 2,
                         "bad %s: exit %d, stderr=%r" % (setting, res.returncode, res.stderr))
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected one stderr line, got %r" % res.stderr)
        self.assertIn(setting, lines[0])
        self.assertTrue(lines[0].startswith("ntsd: "), lines[0])
        return lines[0]

    def test_control_good_config_starts(self):
        p = self.spawn("ntsd", self._argv())
        try:
            p.wait(timeout=2)
            self.fail("ntsd exited with %s on a good configuration:\n%s" % (p.poll(), p.logs()))
        except subprocess.TimeoutExpired:
            pass

    def test_missing_cert_file(self):
        line = self._expect_config_error(
            self._argv(cert=os.path.join(self.tmp, "no-such-cert.pem")), "--cert")
        self.assertIn("no-such-cert.pem", line)

    def test_unreadable_key(self):
        key = os.path.join(self.tmp, "unreadable-key.pem")
        with open(self.key, "rb") as src, open(key, "wb") as dst:
            dst.write(src.read())
        os.chmod(key, 0)
        # Tests run as root, and root reads any file through CAP_DAC_OVERRIDE; drop the
        # DAC capabilities so that mode 000 means unreadable, as it would for a service user.
        argv = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                "--bounding-set=-dac_override,-dac_read_search"] + self._argv(key=key)
        self._expect_config_error(argv, "--key")

    def test_key_is_not_a_key(self):
        key = os.path.join(self.tmp, "garbage-key.pem")
        with open(key, "w") as f:
            f.write("this is not a PEM private key\n")
        self._expect_config_error(self._argv(key=key), "--key")

    def test_bad_ke_listen_address(self):
        for bad in ("127.0.0.1", "256.0.0.1:4460", "127.0.0.1:99999", "localhost-ish:4460",
                    "::1:4460", "[::1]"):
            with self.subTest(bad):
                line = self._expect_config_error(self._argv(ke_listen=bad), "--ke-listen")
                self.assertIn(bad, line)

    def test_bad_stratum(self):
        for bad in ("0", "16", "-1", "two", "300"):
            with self.subTest(bad):
                self._expect_config_error(self._argv(stratum=bad), "--stratum")

    def test_bad_metrics_listen(self):
        for bad in ("localhost:9100", "127.0.0.1", "[::1]"):
            with self.subTest(bad):
                line = self._expect_config_error(self._argv(extra=("--metrics-listen", bad)),
                                                 "--metrics-listen")
                self.assertIn(bad, line)
        # The same in the file, caught by --check-config too.
        conf = os.path.join(self.tmp, "metrics.toml")
        with open(conf, "w") as f:
            f.write('[metrics]\nlisten = "metrics.example:9100"\n')
        for check in ((), ("--check-config",)):
            with self.subTest(check=check):
                self._expect_config_error(self._argv(extra=("--config", conf) + check),
                                          "metrics.listen")
        # A port already taken: exit 2 at start-up, before anything is served (the
        # clock precision, measured earlier, may have been logged already).
        taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        argv = self._argv(extra=("--metrics-listen", "127.0.0.1:%d" % taken.getsockname()[1]))
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 2, res.stderr)
        last = res.stderr.strip().splitlines()[-1]
        self.assertTrue(last.startswith("ntsd: --metrics-listen: "), last)
        self.assertNotIn("listening", res.stderr)

    def test_key_file_directory_checked_by_check_config(self):
        # The key file is written (atomically, through its directory) only once ntsd
        # has started: --check-config must catch a directory that is not there.
        missing = "/nonexistent/dir/k.toml"
        line = self._expect_config_error(
            self._argv(extra=("--keys", missing, "--check-config")), "--keys")
        self.assertIn("/nonexistent/dir", line)
        plain = os.path.join(self.tmp, "plain-file")
        with open(plain, "w") as f:
            f.write("not a directory\n")
        self._expect_config_error(
            self._argv(extra=("--keys", os.path.join(plain, "k.toml"), "--check-config")),
            "--keys")
        if os.geteuid() != 0:  # root may write anywhere
            locked = os.path.join(self.tmp, "locked")
            os.mkdir(locked, 0o500)
            self.addCleanup(os.chmod, locked, 0o700)
            line = self._expect_config_error(
                self._argv(extra=("--keys", os.path.join(locked, "k.toml"), "--check-config")),
                "--keys")
            self.assertIn("cannot write", line)
        # Control: a writable directory passes, and the check creates no file there.
        good = os.path.join(self.tmp, "keys-ok", "k.toml")
        os.mkdir(os.path.dirname(good))
        res = subprocess.run(self._argv(extra=("--keys", good, "--check-config")),
                             capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("configuration OK", res.stdout)
        self.assertFalse(os.path.exists(good))

    def _run_as_files(self):
        """A certificate, its key (0600, root's) and a key directory (0700, root's) in a
        directory any user can search, as /etc/ntsd and /var/lib/ntsd are."""
        top = tempfile.mkdtemp(prefix="ntsd-run-as-")
        self.addCleanup(shutil.rmtree, top, True)
        os.chmod(top, 0o755)
        cert, key = os.path.join(top, "cert.pem"), os.path.join(top, "key.pem")
        shutil.copyfile(self.cert, cert)
        shutil.copyfile(self.key, key)
        os.chmod(cert, 0o644)
        os.chmod(key, 0o600)
        keys = os.path.join(top, "keys")
        os.mkdir(keys, 0o700)
        return cert, key, keys

    def test_check_config_reads_files_as_the_run_as_user(self):
        # Started as root with --user, ntsd loads the certificate as root but reloads
        # it (SIGHUP, renewals) as the user, and rotates the cookie key file as the
        # user: --check-config checks both as that user, not as root.
        if os.geteuid() != 0:
            self.skipTest("needs root to check files as another user")
        cert, key, keys = self._run_as_files()
        user = "nobody"
        argv = self._argv(cert=cert, key=key, extra=("--check-config", "--user", user))
        line = self._expect_config_error(argv, "--key")
        self.assertIn(key, line)
        self.assertIn("not readable by user %s" % user, line)
        # The same files pass as root alone (nothing to switch to).
        res = subprocess.run(self._argv(cert=cert, key=key, extra=("--check-config",)),
                             capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0, res.stderr)
        # Readable by the user: OK.
        os.chown(key, pwd.getpwnam(user).pw_uid, -1)
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("configuration OK", res.stdout)
        # The key file's directory, root's 0700: the user could not rotate there.
        with_keys = argv + ["--keys", os.path.join(keys, "k.toml")]
        line = self._expect_config_error(with_keys, "--keys")
        self.assertIn("user %s cannot create files in it" % user, line)
        os.chown(keys, pwd.getpwnam(user).pw_uid, -1)
        res = subprocess.run(with_keys, capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_check_config_reads_files_as_the_current_user(self):
        # Not root (as `runuser -u ntsd -- ntsd --check-config` runs it): the files
        # are checked as this process's user, and --user another cannot be honoured.
        if os.geteuid() != 0:
            self.skipTest("needs root to become another user for the check")
        cert, key, _ = self._run_as_files()
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        line = self._expect_config_error(
            as_nobody + self._argv(cert=cert, key=key, extra=("--check-config",)), "--key")
        self.assertIn(key, line)
        os.chmod(key, 0o644)
        res = subprocess.run(as_nobody + self._argv(cert=cert, key=key, extra=("--check-config",)),
                             capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0, res.stderr)
        line = self._expect_config_error(
            as_nobody + self._argv(cert=cert, key=key,
                                   extra=("--check-config", "--user", "daemon")), "--user")
        self.assertIn("needs ntsd to start as root", line)


if __name__ == "__main__":
    unittest.main()
