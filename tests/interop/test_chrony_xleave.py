"""chronyd 4.3 with `xleave` as an NTS client of ntsd reaches interleaved mode (RFC 9769).

chronyd (`-x`, no CAP_SYS_TIME: it never touches this clock) polls ntsd every second over
NTS with `xleave`, and logs every measurement (`log measurements`), whose MTxRx column
reads I for an interleaved response and B for a basic one. Proven from both sides:
chrony's log shows interleaved measurements, and ntsd's shutdown summary counts
interleaved answers. With `--interleaved off` the same client stays in basic mode, which
shows that the check can fail.
"""

import os
import re
import tempfile
import time
import unittest

from ntsd_harness import CHRONYD, NO_CLOCK_CAPS, NtsdTestCase, chrony_common_lines, wait_until

RUN_SECONDS = 12


class ChronyXleaveTest(NtsdTestCase):
    STRATUM = 2
    REFID = "192.0.2.9"

    def run_chrony_xleave(self, ntsd):
        self.require_file(CHRONYD, "chronyd")
        workdir = tempfile.mkdtemp(prefix="chrony-xleave-", dir=self.tmp)
        logdir = os.path.join(workdir, "log")
        os.mkdir(logdir)
        lines = [
            "server 127.0.0.1 nts ntsport %d iburst xleave minpoll 0 maxpoll 0" % ntsd.ke_port,
            "ntstrustedcerts %s" % self.cert,
            "logdir %s" % logdir,
            "log measurements",
        ] + chrony_common_lines(workdir)
        conf = os.path.join(workdir, "chrony.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        chronyd = self.spawn("chronyd-xleave", NO_CLOCK_CAPS + [CHRONYD, "-d", "-x", "-u", "root",
                                                                "-f", conf])
        measurements = os.path.join(logdir, "measurements.log")

        def modes():
            try:
                with open(measurements) as f:
                    rows = [l.split() for l in f if l[:1].isdigit()]
            except OSError:
                return []
            # The MTxRx columns end a row: "4I K K" = NTP version and mode (B basic,
            # I interleaved), then the TX and RX timestamp sources (D daemon, K kernel).
            return [r[-3][-1] for r in rows if len(r) >= 3]

        wait_until(lambda: modes().count("I") >= 3, RUN_SECONDS, interval=0.5)
        chronyd.stop()
        if os.environ.get("NTSD_TEST_SHOW_LOGS"):
            with open(measurements) as f:
                print(f.read())
        return modes(), chronyd

    def interleaved_answers(self, ntsd):
        ntsd.proc.stop()
        m = re.search(r"NTP interleaved answers: (\d+)", ntsd.proc.stderr())
        self.assertIsNotNone(m, ntsd.proc.stderr())
        return int(m.group(1))

    def test_xleave_reaches_interleaved_mode_with_nts(self):
        # Two workers: chrony's requests must keep reaching the one that holds the
        # previous exchange.
        ntsd = self.start_ntsd(extra=["--ntp-workers", "2"])
        modes, chronyd = self.run_chrony_xleave(ntsd)
        self.assertGreaterEqual(len(modes), 3, "chrony measured nothing:\n%s" % chronyd.logs())
        self.assertGreaterEqual(modes.count("I"), 3, "no interleaved measurements: %r" % modes)
        self.assertGreaterEqual(self.interleaved_answers(ntsd), 3)

    def test_interleaved_off_stays_basic(self):
        ntsd = self.start_ntsd(extra=["--interleaved", "off"])
        modes, chronyd = self.run_chrony_xleave(ntsd)
        self.assertGreaterEqual(len(modes), 3, "chrony measured nothing:\n%s" % chronyd.logs())
        self.assertEqual(modes.count("I"), 0, modes)
        self.assertEqual(self.interleaved_answers(ntsd), 0)


if __name__ == "__main__":
    unittest.main()
