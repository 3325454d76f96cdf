"""Storage faults (issue #15, part 2) on real processes.

* The key directory turns read-only (a read-only bind mount) or full (a small tmpfs
  filled up) at rotation: ntsd keeps serving and rotating with the keys in memory,
  logs and counts ntsd_cookie_key_file_errors_total, retries, leaves the old file
  intact, and writes the file again once the directory is writable.
* kill -9 at random moments while rotating (1 s rotation under libfaketime at 100x
  speed: a few hundred rotations in well under 30 s): the key file is always complete
  and an ntsd starts from it; temporary files a killed ntsd left are removed at start.
* The log file's file system is full: ntsd keeps answering, says so once on stderr,
  notes the lost lines in the file when there is room again, and stops cleanly.

Mounts are undone in cleanups (which also run when a test fails); needs root, as the
tests run here.
"""

import datetime
import os
import random
import re
import signal
import subprocess
import time
import tomllib
import unittest

from fault_common import (faketime_preload, metrics_port, remove_faketime_segments,
                          require_faketime, scrape, start_ntp_ntsd)
from ntsd_harness import NtsdTestCase, ntp_query, wait_until

KEY_ARGS = ["--key-rotation", "1", "--keys-kept", "1"]


def read_key_file(path):
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    assert doc["version"] == 1 and doc["rotation-seconds"] == 1, doc
    assert len(doc["key"]) == 64 and int(doc["key"], 16) >= 0, doc
    return doc


class StorageFaultTest(NtsdTestCase):
    def mount(self, *args):
        if os.geteuid() != 0:
            self.skipTest("needs root for tmpfs and bind mounts")
        target = args[-1]
        subprocess.run(["mount"] + list(args), check=True, capture_output=True)
        self.addCleanup(subprocess.run, ["umount", "-l", target], capture_output=True)

    def start_with_keys(self, keys_file, extra=()):
        proc, port = start_ntp_ntsd(self, ["--keys", keys_file, "--metrics-listen", "127.0.0.1:0"]
                                    + KEY_ARGS + list(extra))
        return proc, port, metrics_port(self, proc)

    def fill(self, directory):
        """Writes a filler file until the file system is full; returns its path."""
        filler = os.path.join(directory, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 512) > 0:
                pass
        except OSError:
            pass  # ENOSPC: full
        finally:
            os.close(fd)
        return filler

    def assert_serves_on_without_the_file(self, proc, port, mport, keys_file):
        """The directory refuses writes from now on: check everything that must hold."""
        before = read_key_file(keys_file)
        with open(keys_file, "rb") as f:
            before_bytes = f.read()
        key_id = scrape(mport)["ntsd_cookie_key_id"]
        errors = wait_until(lambda: scrape(mport)["ntsd_cookie_key_file_errors_total"] >= 2, 10)
        self.assertTrue(errors, "no key file errors counted:\n" + proc.stderr())
        m = scrape(mport)
        self.assertGreater(m["ntsd_cookie_key_id"], key_id, "stopped rotating in memory")
        self.assertIn("serving on with the keys in memory; retrying in", proc.stderr())
        _, reply = ntp_query("127.0.0.1", port)
        self.assertIsNotNone(reply, "stopped answering")
        with open(keys_file, "rb") as f:
            self.assertEqual(f.read(), before_bytes, "the old key file changed")
        self.assertEqual([n for n in os.listdir(os.path.dirname(keys_file)) if ".tmp." in n], [])
        return before

    def assert_written_again(self, proc, keys_file, before):
        again = wait_until(lambda: "written again" in proc.stderr(), 10)
        self.assertTrue(again, "the key file was never written again:\n" + proc.stderr())
        self.assertGreater(read_key_file(keys_file)["epoch"], before["epoch"])

    def test_read_only_key_directory(self):
        keydir = os.path.join(self.tmp, "keys")
        os.mkdir(keydir)
        self.mount("--bind", keydir, keydir)
        keys_file = os.path.join(keydir, "keys.toml")
        proc, port, mport = self.start_with_keys(keys_file)
        self.assertTrue(wait_until(lambda: os.path.exists(keys_file), 5))
        subprocess.run(["mount", "-o", "remount,bind,ro", keydir], check=True)
        before = self.assert_serves_on_without_the_file(proc, port, mport, keys_file)
        self.assertIn("Read-only file system", proc.stderr())
        subprocess.run(["mount", "-o", "remount,bind,rw", keydir], check=True)
        self.assert_written_again(proc, keys_file, before)

    def test_full_key_directory(self):
        keydir = os.path.join(self.tmp, "keys")
        os.mkdir(keydir)
        self.mount("-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", keydir)
        keys_file = os.path.join(keydir, "keys.toml")
        proc, port, mport = self.start_with_keys(keys_file)
        self.assertTrue(wait_until(lambda: os.path.exists(keys_file), 5))
        filler = self.fill(keydir)
        before = self.assert_serves_on_without_the_file(proc, port, mport, keys_file)
        self.assertIn("No space left on device", proc.stderr())
        os.unlink(filler)
        self.assert_written_again(proc, keys_file, before)

    def test_kill_9_during_rotation(self):
        require_faketime(self)
        keys_file = os.path.join(self.tmp, "keys.toml")
        rng = random.Random()
        started = time.monotonic()
        rotations = kills = 0
        epoch = None
        while (rotations < 300 or kills < 20) and time.monotonic() - started < 20:
            # Each start's fake clock begins past the file's window and runs 100x fast.
            start = time.time() if epoch is None else epoch + 3
            stamp = datetime.datetime.fromtimestamp(start, datetime.timezone.utc)
            env = dict(os.environ, LD_PRELOAD=faketime_preload(),
                       FAKETIME=stamp.strftime("@%Y-%m-%d %H:%M:%S") + " x100")
            proc, _ = start_ntp_ntsd(self, ["--keys", keys_file] + KEY_ARGS, env=env,
                                     name="killed")
            time.sleep(rng.uniform(0.01, 0.3))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            remove_faketime_segments(proc.pid)
            kills += 1
            doc = read_key_file(keys_file)  # complete and well-formed after every kill
            if epoch is not None:
                self.assertGreaterEqual(doc["epoch"], epoch)
                rotations += doc["epoch"] - epoch
            epoch = doc["epoch"]
        self.assertGreaterEqual(rotations, 100, "only %d rotations in %d runs" % (rotations, kills))
        self.assertGreaterEqual(kills, 10)
        # The next start reads it, and removes any temporary file a kill left.
        stamp = datetime.datetime.fromtimestamp(epoch + 3, datetime.timezone.utc)
        env = dict(os.environ, LD_PRELOAD=faketime_preload(),
                   FAKETIME=stamp.strftime("@%Y-%m-%d %H:%M:%S"))
        proc, _ = start_ntp_ntsd(self, ["--keys", keys_file] + KEY_ARGS, env=env, name="after")
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("keys.toml.tmp.")], [])
        self.assertIn("from " + keys_file, proc.stderr())
        print("kill -9 during rotation: %d kills, %d rotations, %.1f s" %
              (kills, rotations, time.monotonic() - started))

    def test_log_file_on_a_full_disk(self):
        logdir = os.path.join(self.tmp, "log")
        os.mkdir(logdir)
        self.mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", logdir)
        log_file = os.path.join(logdir, "ntsd.log")
        # Debug logging and a 1 s rotation: a log line every second at least.
        proc, port = start_ntp_ntsd(self, ["--log-file", log_file] + KEY_ARGS)
        filler = self.fill(logdir)
        # The log file's last page may still have room: fill that too.
        fd = os.open(log_file, os.O_WRONLY | os.O_APPEND)
        try:
            while os.write(fd, b"#" * 64) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        deadline = time.monotonic() + 4
        answered = 0
        while time.monotonic() < deadline:
            _, reply = ntp_query("127.0.0.1", port, timeout=0.5)
            answered += reply is not None
            time.sleep(0.1)
        self.assertIsNone(proc.poll(), proc.logs())
        self.assertGreater(answered, 25, proc.logs())
        self.assertRegex(proc.stderr(), r"cannot write to .*ntsd\.log: No space left on device; "
                         r"log lines are lost until it works again")
        self.assertEqual(proc.stderr().count("cannot write to"), 1, "said more than once")
        os.unlink(filler)
        lost = re.compile(rb"ntsd: \d+ log line\(s\) lost: No space left on device")
        def noted():
            with open(log_file, "rb") as f:
                return lost.search(f.read())
        self.assertTrue(wait_until(noted, 5), "the log file does not say lines were lost")


if __name__ == "__main__":
    unittest.main()
