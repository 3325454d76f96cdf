"""chrony 4.3 as an NTS client keeps its association across cookie key rotations and an
ntsd restart (issue #4).

ntsd runs with a key file, a 4 s rotation and 3 old keys kept; chronyd (-d -x, no
CAP_SYS_TIME, polling every second) is its NTS client. chrony keeps a pool of 8 cookies and
spends the oldest, so each cookie comes back about 8 polls (8-9 s here) after it was
minted: the window (12-16 s) must be longer than that, as it is by far with the defaults
(a day or more, against 8 polls of at most 1024 s). Over about 20 s -- five rotations
-- ntsd is restarted once on the same ports from its key file. Proves:
  * no new NTS-KE: chronyc authdata shows no NAK, no pending KE attempt, and the time since
    chrony's last NTS-KE covers the whole run; the restarted ntsd logs 0 NTS-KE sessions
    while it answered NTS requests;
  * samples kept being accepted: chronyc ntpdata's "Total valid RX" grows after the
    restart and after the last rotation.
A control run without --keys (keys in memory only) shows the same check failing: after the
restart chrony gets NAKs and runs NTS-KE again.
"""

import os
import re
import subprocess
import tempfile
import time
import unittest

from keys_harness import KeysTestCase
from ntsd_harness import CHRONYD, NO_CLOCK_CAPS, free_port, wait_until

CHRONYC = os.path.join(os.path.dirname(CHRONYD), "..", "bin", "chronyc")
if not os.path.exists(CHRONYC):
    CHRONYC = "/usr/bin/chronyc"


class ChronyKeysTest(KeysTestCase):
    ROTATION = 4
    KEPT = 3

    def setUp(self):
        super().setUp()
        self.require_file(CHRONYD, "chronyd")
        self.require_file(CHRONYC, "chronyc")

    def start_chronyd(self, ke_port):
        workdir = tempfile.mkdtemp(prefix="chrony-", dir=self.tmp)
        os.chmod(workdir, 0o700)
        self.chrony_socket = os.path.join(workdir, "chronyd.sock")
        lines = [
            "server 127.0.0.1 nts ntsport %d minpoll 0 maxpoll 0 iburst" % ke_port,
            "ntstrustedcerts %s" % self.cert,
            "ntsdumpdir %s" % workdir,
            "driftfile %s" % os.path.join(workdir, "drift"),
            "pidfile %s" % os.path.join(workdir, "chronyd.pid"),
            "cmdport 0",
            "bindcmdaddress %s" % self.chrony_socket,
        ]
        conf = os.path.join(workdir, "chrony.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return self.spawn("chronyd", NO_CLOCK_CAPS + [CHRONYD, "-d", "-x", "-u", "root",
                                                      "-f", conf])

    def chronyc(self, command):
        res = subprocess.run([CHRONYC, "-h", self.chrony_socket, "-n", "-c", command],
                             capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0, "chronyc %s: %r" % (command, res.stderr))
        return res.stdout

    def authdata(self):
        """-> dict(last=seconds since the last NTS-KE, atmp=KE attempts pending,
        nak=NAKs received, cookies=cookies held)."""
        line = self.chronyc("authdata").strip().splitlines()[0]
        f = line.split(",")
        self.assertEqual(f[1], "NTS", line)
        return {"last": int(f[5]), "atmp": int(f[6]), "nak": int(f[7]), "cookies": int(f[8])}

    def valid_rx(self):
        out = subprocess.run([CHRONYC, "-h", self.chrony_socket, "-n", "ntpdata"],
                             capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL).stdout
        m = re.search(r"Total valid RX\s*:\s*(\d+)", out)
        return int(m.group(1)) if m else 0

    def run_scenario(self, keys_file):
        ke_port, ntp_port = free_port("tcp"), free_port("udp")
        ntsd = self.start_instance("ntsd", keys_file, ke_port=ke_port, ntp_port=ntp_port)
        chronyd = self.start_chronyd(ke_port)
        # chrony has done NTS-KE and has authenticated samples.
        ok = wait_until(lambda: chronyd.poll() is None and self.valid_rx() >= 3, timeout=20,
                        interval=0.5)
        self.assertTrue(ok, "chronyd got no authenticated samples:\n%s" % chronyd.logs())
        first = self.authdata()
        self.assertEqual(first["nak"], 0, first)
        t_first = time.monotonic()

        time.sleep(2 * self.ROTATION + 1)  # two rotations
        ntsd.proc.stop()
        ntsd = self.start_instance("ntsd-restarted", keys_file, ke_port=ke_port,
                                   ntp_port=ntp_port)
        rx_after_restart = self.valid_rx()
        time.sleep(3 * self.ROTATION + 1)  # three more rotations
        final = self.authdata()
        rx_final = self.valid_rx()
        elapsed = time.monotonic() - t_first
        ntsd.proc.stop()
        log = ntsd.proc.stderr()
        # "accepted" also counts the harness's TCP readiness probe; "ok" counts sessions
        # that got cookies.
        m = re.search(r"NTS-KE sessions: \d+ accepted, (\d+) ok", log)
        ke_sessions = int(m.group(1)) if m else None
        m = re.search(r"NTP requests answered: (\d+) NTS", log)
        nts_answered = int(m.group(1)) if m else 0
        return {"first": first, "final": final, "elapsed": elapsed,
                "rx_after_restart": rx_after_restart, "rx_final": rx_final,
                "ke_sessions_after_restart": ke_sessions,
                "nts_answered_after_restart": nts_answered, "chronyd": chronyd}

    def test_association_survives_rotations_and_restart(self):
        r = self.run_scenario(os.path.join(self.tmp, "keys.toml"))
        final = r["final"]
        self.assertEqual(final["nak"], 0, r)
        self.assertEqual(final["atmp"], 0, r)
        # chrony's last NTS-KE is the first one: it is at least as old as the run.
        self.assertGreaterEqual(final["last"], int(r["elapsed"]) - 1, r)
        self.assertEqual(r["ke_sessions_after_restart"], 0, r)
        self.assertGreaterEqual(r["nts_answered_after_restart"], 5, r)
        self.assertGreaterEqual(r["rx_final"] - r["rx_after_restart"], 5, r)
        self.assertGreater(final["cookies"], 0, r)

    def test_control_memory_only_keys_force_a_new_ke(self):
        r = self.run_scenario(None)
        final = r["final"]
        # The restarted ntsd could not open chrony's cookies: chrony saw a NAK and ran
        # NTS-KE again (its last KE is younger than the run).
        self.assertTrue(final["last"] < int(r["elapsed"]) - 1 or final["nak"] > 0, r)
        self.assertGreaterEqual(r["ke_sessions_after_restart"], 1, r)


if __name__ == "__main__":
    unittest.main()
