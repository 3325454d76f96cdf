"""Wall-clock steps (issue #15, part 3) on real processes, with the clock of ntsd moved
at run time through libfaketime (tests/integration/fault_common.py: FakeClock).

Cookie key epochs come from the wall clock:
* forward by two days at a 1 s rotation (172,800 epochs): the ratchet catches up in
  bounded passes while NTP keeps answering, old cookies get NAKs, a client that runs
  NTS-KE again gets working cookies, and a fleet peer sharing the key file (on the same
  stepped clock) accepts them;
* backward by three hours: a warning, no rotation, minting stays on the newest key
  held, the cookies issued before the step still authenticate, the file is not
  rewritten;
* start with the clock before the key file's epoch (a host without RTC): refused with
  exit status 2 naming --keys, the file untouched.
"""

import os
import subprocess
import time
import unittest

from fault_common import FakeClock, metrics_port, require_faketime, scrape
from keys_harness import KeysTestCase
from ntsd_harness import ntp_query, wait_until


class ClockStepTest(KeysTestCase):
    def setUp(self):
        super().setUp()
        require_faketime(self)
        self.clock = FakeClock(self.tmp, "+0")
        self.keys_file = os.path.join(self.tmp, "keys.toml")

    def start(self, name, rotation, kept, keys_file=None, ke=True, ntp_servers=()):
        inst = self.start_instance(name, keys_file or self.keys_file, ke=ke, rotation=rotation,
                                   kept=kept, env=self.clock.env(), ntp_servers=ntp_servers,
                                   extra=["--metrics-listen", "127.0.0.1:0"])
        inst.metrics = metrics_port(self, inst.proc)
        return inst

    def test_forward_by_days(self):
        a = self.start("a", rotation=1, kept=1)
        b = self.start("b", rotation=1, kept=1, ke=False,
                       keys_file=self.copy_key_file(self.keys_file,
                                                    os.path.join(self.tmp, "b.toml")))
        old = os.path.join(self.tmp, "old.json")
        doc = self.replay_ke(a.ke_target, old)
        before = doc["key_ids"][0]
        self.assertEqual(self.replay_ntp(old, a.ntp_target)[0], "ok")

        self.clock.set("+2d")
        target = before + 2 * 86400 - 2
        worst = 0.0
        deadline = time.monotonic() + 30
        while scrape(a.metrics)["ntsd_cookie_key_id"] < target:
            self.assertLess(time.monotonic(), deadline, "never caught up:\n" + a.proc.stderr())
            sent = time.monotonic()
            _, reply = ntp_query("127.0.0.1", a.ntp_port, timeout=1.0)
            self.assertIsNotNone(reply, "NTP stopped answering while the ratchet caught up")
            worst = max(worst, time.monotonic() - sent)
            time.sleep(0.05)
        self.assertLess(worst, 0.5)
        self.assertRegex(a.proc.stderr(), r"the clock jumped 1\d{5} epochs ahead .* ratcheting "
                         r"forward in passes of 4096 keys")
        self.assertTrue(wait_until(lambda: scrape(b.metrics)["ntsd_cookie_key_id"] >= target, 30))

        self.assertEqual(self.replay_ntp(old, a.ntp_target, cookie=1)[0], "nak")
        fresh = os.path.join(self.tmp, "fresh.json")
        self.assertGreaterEqual(self.replay_ke(a.ke_target, fresh)["key_ids"][0], target)
        self.assertEqual(self.replay_ntp(fresh, a.ntp_target, cookie=0)[0], "ok")
        # The peer ratcheted the same chain: it opens a's fresh cookies.
        self.assertEqual(self.replay_ntp(fresh, b.ntp_target, cookie=1)[0], "ok")

    def test_backward_by_hours(self):
        a = self.start("a", rotation=4, kept=2)
        issued = os.path.join(self.tmp, "issued.json")
        key = self.replay_ke(a.ke_target, issued)["key_ids"][0]
        self.clock.set("-3h")
        warned = wait_until(lambda: "the clock went back" in a.proc.stderr(), 10)
        self.assertTrue(warned, "no warning after a step back:\n" + a.proc.stderr())
        self.assertRegex(a.proc.stderr(), r"minting stays on key \d+")
        with open(self.keys_file, "rb") as f:
            file_after_step = f.read()
        current = scrape(a.metrics)["ntsd_cookie_key_id"]
        self.assertIn(current, (key, key + 1))  # a rotation may fall between KE and step
        rotations = a.proc.stderr().count("cookie keys rotated")

        self.assertEqual(self.replay_ntp(issued, a.ntp_target, cookie=0)[0], "ok")
        again = os.path.join(self.tmp, "again.json")
        self.assertEqual(self.replay_ke(a.ke_target, again)["key_ids"][0], current)
        time.sleep(5)  # past a rotation boundary of the stepped clock
        self.assertEqual(a.proc.stderr().count("cookie keys rotated"), rotations)
        self.assertEqual(scrape(a.metrics)["ntsd_cookie_key_id"], current)
        self.assertEqual(self.replay_ntp(issued, a.ntp_target, cookie=1)[0], "ok")
        with open(self.keys_file, "rb") as f:
            self.assertEqual(f.read(), file_after_step, "key file rewritten after a step back")
        self.assertEqual(a.proc.stderr().count("the clock went back"), 1, "warned more than once")

    def test_start_before_the_key_files_epoch(self):
        text = self.make_key_file(self.keys_file, rotation=60)
        self.clock.set("-1d")
        res = subprocess.run([self.ntsd_bin, "--ke-listen", "none", "--ntp-listen",
                              "127.0.0.1:0", "--keys", self.keys_file, "--key-rotation", "60"],
                             capture_output=True, text=True, timeout=20, env=self.clock.env(),
                             stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("--keys", res.stderr)
        self.assertIn("later than the current epoch", res.stderr)
        with open(self.keys_file) as f:
            self.assertEqual(f.read(), text, "the key file was rewritten into the past")


if __name__ == "__main__":
    unittest.main()
