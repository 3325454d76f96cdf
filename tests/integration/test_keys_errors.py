"""Key file and split-deployment settings that must stop ntsd (issue #4).

Proves: a corrupt key file, one readable by group/other, a symbolic link, a file written
with another rotation interval, and a file from the future each make ntsd exit with status
2 and exactly one line "ntsd: <setting>: ..." naming --keys (or --key-rotation), and leave
the file byte-for-byte, mode and mtime unchanged; --ke-listen none with --ntp-listen none is
refused the same way. Controls: the same key file, repaired, starts; an NTP-only instance
starts without any certificate and does not listen for NTS-KE.
"""

import os
import stat
import time
import unittest

from keys_harness import KeysTestCase
from ntsd_harness import free_port, host_port


class KeyFileErrorTest(KeysTestCase):
    ROTATION = 60
    KEPT = 1

    def setUp(self):
        super().setUp()
        self.keys_file = os.path.join(self.tmp, "keys.toml")
        self.good = self.make_key_file(self.keys_file)

    def _argv(self, keys_file=None, rotation=None, extra=()):
        return [self.ntsd_bin, "--ke-listen", "none",
                "--ntp-listen", host_port("127.0.0.1", free_port("udp")),
                "--keys", keys_file or self.keys_file,
                "--key-rotation", str(rotation or self.ROTATION)] + list(extra)

    def _snapshot(self, path):
        st = os.lstat(path)
        with open(path, "rb") as f:
            return f.read(), stat.S_IMODE(st.st_mode), st.st_mtime_ns

    def _expect_refusal(self, argv, setting, path=None, contains=()):
        path = path or self.keys_file
        before = self._snapshot(path)
        res = self.run_ntsd_expect_exit(argv)
        self.assertEqual(res.returncode, 2, "exit %d, stderr=%r" % (res.returncode, res.stderr))
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected one stderr line, got %r" % res.stderr)
        self.assertTrue(lines[0].startswith("ntsd: %s: " % setting), lines[0])
        for text in contains:
            self.assertIn(text, lines[0])
        self.assertEqual(self._snapshot(path), before, "ntsd modified %s" % path)
        return lines[0]

    def _write(self, text, mode=0o600):
        with open(self.keys_file, "w") as f:
            f.write(text)
        os.chmod(self.keys_file, mode)
        # An old mtime, so that any rewrite would show.
        os.utime(self.keys_file, (time.time() - 1000, time.time() - 1000))

    def test_control_the_good_file_starts(self):
        inst = self.start_instance("ntsd", self.keys_file, ke=False, rotation=self.ROTATION)
        self.assertIn("from " + self.keys_file, inst.proc.stderr())

    def test_corrupt_file(self):
        self._write(self.good.replace('key = "', 'key = "zz'))
        self._expect_refusal(self._argv(), "--keys", contains=(self.keys_file, "hex"))

    def test_truncated_file(self):
        self._write(self.good[: len(self.good) // 2])
        self._expect_refusal(self._argv(), "--keys", contains=(self.keys_file,))

    def test_binary_garbage(self):
        with open(self.keys_file, "wb") as f:
            f.write(os.urandom(300).replace(b"\n", b"x"))
        os.chmod(self.keys_file, 0o600)
        self._expect_refusal(self._argv(), "--keys", contains=(self.keys_file,))

    def test_readable_by_others(self):
        for mode in (0o644, 0o640, 0o604):
            self._write(self.good, mode)
            self._expect_refusal(self._argv(), "--keys", contains=("chmod 600", oct(mode)[2:]))

    def test_symbolic_link(self):
        link = os.path.join(self.tmp, "link.toml")
        os.symlink(self.keys_file, link)
        self._expect_refusal(self._argv(keys_file=link), "--keys", contains=("symbolic link",))

    def test_other_rotation_interval(self):
        self._expect_refusal(self._argv(rotation=self.ROTATION * 2), "--key-rotation",
                             contains=("rotation of %d s" % self.ROTATION,))

    def test_file_from_the_future(self):
        epoch = int(time.time() // self.ROTATION) + 1000
        text = "\n".join(l if not l.startswith("epoch = ") else "epoch = %d" % epoch
                         for l in self.good.splitlines()) + "\n"
        self._write(text)
        self._expect_refusal(self._argv(), "--keys", contains=("later than the current epoch",))

    def test_nothing_to_serve(self):
        res = self.run_ntsd_expect_exit([self.ntsd_bin, "--ke-listen", "none",
                                         "--ntp-listen", "none"])
        self.assertEqual(res.returncode, 2, res.stderr)
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertTrue(lines[0].startswith("ntsd: --ke-listen: "), lines[0])

    def test_ntp_only_needs_no_certificate_and_opens_no_tcp_socket(self):
        inst = self.start_instance("ntsd", self.keys_file, ke=False, rotation=self.ROTATION)
        self.assertNotIn("--cert", inst.proc.argv)
        self.assertNotIn("NTS-KE listening", inst.proc.stderr())
        self.assertEqual(tcp_listen_inodes(inst.proc.pid), set())
        self.assertGreater(len(socket_inodes(inst.proc.pid)), 0)  # the UDP socket is there

    def test_ke_only_opens_no_udp_socket(self):
        inst = self.start_instance("ntsd", self.keys_file, ntp=False, rotation=self.ROTATION,
                                   ntp_servers=("ntp.example",))
        self.assertIn("serving NTS-KE only", inst.proc.stderr())
        self.assertEqual(udp_inodes(inst.proc.pid), set())
        self.assertNotEqual(tcp_listen_inodes(inst.proc.pid), set())


def socket_inodes(pid):
    out = set()
    fd_dir = "/proc/%d/fd" % pid
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[len("socket:["):-1])
    return out


def _proc_net_inodes(files, state=None):
    out = set()
    for path in files:
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if state is None or fields[3] == state:
                        out.add(fields[9])
        except OSError:
            pass
    return out


def tcp_listen_inodes(pid):
    return socket_inodes(pid) & _proc_net_inodes(["/proc/net/tcp", "/proc/net/tcp6"], "0A")


def udp_inodes(pid):
    return socket_inodes(pid) & _proc_net_inodes(["/proc/net/udp", "/proc/net/udp6"])


if __name__ == "__main__":
    unittest.main()
