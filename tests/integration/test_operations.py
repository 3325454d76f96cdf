"""Operating ntsd: --check-config and systemd readiness.

Proves: `ntsd --check-config` exits 0 with "configuration OK" for a good configuration
and binds nothing (the ports stay free) and writes nothing (no key file appears); it
exits 2 with one line naming the setting for a bad certificate, a key file made for
another rotation interval, and a bad listen address. Under systemd's notify protocol
($NOTIFY_SOCKET), ntsd sends READY=1 once it serves, and STOPPING=1 when told to stop.
"""

import os
import signal
import socket
import unittest

from ntsd_harness import NtsdTestCase, free_port, host_port, tcp_accepts


class CheckConfigTest(NtsdTestCase):
    def _argv(self, *extra):
        self.ke_port = getattr(self, "ke_port", None) or free_port("tcp")
        self.ntp_port = getattr(self, "ntp_port", None) or free_port("udp")
        return [self.ntsd_bin, "--check-config", "--cert", self.cert, "--key", self.key,
                "--ke-listen", host_port("127.0.0.1", self.ke_port),
                "--ntp-listen", host_port("127.0.0.1", self.ntp_port)] + list(extra)

    def test_good_configuration_is_reported_and_nothing_starts(self):
        keys = os.path.join(self.tmp, "cookie-keys.toml")
        res = self.run_tool(self._argv("--keys", keys), timeout=10)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("configuration OK", res.stdout)
        self.assertFalse(os.path.exists(keys), "--check-config created the key file")
        self.assertFalse(tcp_accepts("127.0.0.1", self.ke_port))

    def _expect_error(self, argv, setting):
        res = self.run_tool(argv, timeout=10)
        self.assertEqual(res.returncode, 2, "%s: %r" % (setting, res.stderr))
        lines = res.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertTrue(lines[0].startswith("ntsd: " + setting), lines[0])

    def test_unusable_certificate(self):
        bogus = os.path.join(self.tmp, "bogus.pem")
        with open(bogus, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        argv = self._argv()
        argv[argv.index(self.cert)] = bogus
        self._expect_error(argv, "--cert")

    def test_key_file_for_another_rotation_interval(self):
        keys = os.path.join(self.tmp, "cookie-keys.toml")
        # Let a real ntsd write the key file with a 60 s rotation, then check with 30 s.
        ntsd = self.start_ntsd(extra=("--keys", keys, "--key-rotation", "60"))
        ntsd.proc.stop()
        self.assertTrue(os.path.exists(keys))
        self._expect_error(self._argv("--keys", keys, "--key-rotation", "30"),
                           "--key-rotation")

    def test_bad_listen_address(self):
        argv = self._argv()
        argv[argv.index("--ke-listen") + 1] = "localhost:4460"
        self._expect_error(argv, "--ke-listen")


class SystemdNotifyTest(NtsdTestCase):
    def test_ready_and_stopping_are_sent(self):
        path = os.path.join(self.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(path)
        sock.settimeout(15)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            ntsd = self.start_ntsd()
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.assertEqual(sock.recv(256), b"READY=1")
        ntsd.proc.proc.send_signal(signal.SIGTERM)
        self.assertEqual(sock.recv(256), b"STOPPING=1")


if __name__ == "__main__":
    unittest.main()
