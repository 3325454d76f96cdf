"""--user/--group: ntsd binds as root, then runs as the user with no capability,
keeps rotating its key file, and refuses a key directory the user cannot write."""

import os
import time
import pwd
import subprocess
import unittest

from ntsd_harness import NtsdTestCase, free_port, host_port


@unittest.skipUnless(os.geteuid() == 0, "needs root to switch user")
class PrivilegeDropTest(NtsdTestCase):

    def test_runs_as_nobody_without_capabilities_and_serves(self):
        nobody = pwd.getpwnam("nobody")
        keydir = os.path.join(self.tmp, "keys")
        os.mkdir(keydir, 0o700)
        os.chown(keydir, nobody.pw_uid, nobody.pw_gid)
        # The cert lives in the root-only temp dir: read before the switch.
        os.chmod(self.tmp, 0o711)
        server = self.start_ntsd(extra=["--user", "nobody", "--keys", os.path.join(keydir, "k"),
                                        "--key-rotation", "2", "--keys-kept", "1"])
        status = {}
        with open("/proc/%d/status" % server.proc.pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                status[key] = value.split()
        self.assertEqual(status["Uid"], [str(nobody.pw_uid)] * 4)
        self.assertEqual(status["Gid"], [str(nobody.pw_gid)] * 4)
        self.assertEqual(status["Groups"], [str(nobody.pw_gid)])
        for cap in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
            self.assertEqual(int(status[cap][0], 16), 0, cap)
        self.assertEqual(status["NoNewPrivs"], ["1"])
        self.assertEqual(os.stat(os.path.join(keydir, "k")).st_uid, nobody.pw_uid)
        res = self.nts_query("127.0.0.1:%d" % server.ke_port, "--count", "1")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        # Rotations (every 2 s) keep rewriting the key file as nobody.
        before = os.stat(os.path.join(keydir, "k")).st_ino

        time.sleep(6)
        self.assertIsNone(server.proc.poll())
        self.assertNotEqual(os.stat(os.path.join(keydir, "k")).st_ino, before)
        self.assertNotIn("error", server.proc.stderr().lower())

    def test_key_directory_not_writable_by_the_user_stops_ntsd(self):
        port = free_port("both")
        res = self.run_tool([self.ntsd_bin, "--cert", self.cert, "--key", self.key,
                             "--ke-listen", host_port("127.0.0.1", port),
                             "--ntp-listen", host_port("127.0.0.1", port),
                             "--user", "nobody", "--keys", os.path.join(self.tmp, "k")], 20)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("--keys", res.stderr)
        self.assertIn("not writable by user nobody", res.stderr)

    def test_unknown_user_is_a_configuration_error(self):
        res = self.run_tool([self.ntsd_bin, "--cert", self.cert, "--key", self.key,
                             "--user", "no-such-user-ntsd"], 20)
        self.assertEqual(res.returncode, 2)
        self.assertIn("--user", res.stderr)


if __name__ == "__main__":
    unittest.main()
