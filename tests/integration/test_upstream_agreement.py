"""Upstream agreement (issue #15, part 1) on real processes.

Upstreams are plain-NTP ntsd instances (`--time-source local --stratum 2`), one of
them under libfaketime so its clock can be moved an hour at run time.  The
downstream ntsd (`--time-source upstream`) must never vouch for its clock when the
upstreams contradict it:

* one upstream, an hour off -> the downstream serves unsynchronised within a poll
  or two and names the upstream falseticker; back on time -> synchronised again;
* three upstreams, one an hour off -> synchronised via the two that agree, the third
  named falseticker in the log and in ntsd_time_upstream_state; back on time ->
  selected again.
"""

import re
import time
import unittest

from fault_common import (FakeClock, metrics_port, require_faketime, scrape, start_ntp_ntsd,
                          wait_reply)
from ntsd_harness import NtsdTestCase, ntp_query, wait_until

# --unsync-after 8: ntsd polls each upstream every second (unsync-after / 8).
UNSYNC_AFTER = 8
POLL = 1.0
# A clock change shows within one poll; the slack covers a loaded 2-core machine.
WITHIN_A_POLL = POLL + 2.0


def state_key(upstream, state):
    return 'ntsd_time_upstream_state{upstream="%s",state="%s"}' % (upstream, state)


class UpstreamAgreementTest(NtsdTestCase):
    def setUp(self):
        super().setUp()
        require_faketime(self)

    def start_upstream(self, clock=None):
        env = clock.env() if clock else None
        return start_ntp_ntsd(self, ["--time-source", "local", "--stratum", "2"], env=env,
                              name="upstream")

    def start_downstream(self, upstream_ports, synchronised=True):
        args = ["--time-source", "upstream", "--unsync-after", str(UNSYNC_AFTER),
                "--metrics-listen", "127.0.0.1:0"]
        for port in upstream_ports:
            args += ["--upstream", "127.0.0.1:%d" % port]
        ready = (lambda r: r.stratum == 3) if synchronised else None
        proc, port = start_ntp_ntsd(self, args, name="downstream", ready=ready)
        return proc, port, metrics_port(self, proc)

    def wait_states(self, mport, expected, timeout):
        """Waits until ntsd_time_upstream_state shows `expected` ({upstream: state})."""
        def check():
            m = scrape(mport)
            return all(m.get(state_key(u, s)) == 1.0 for u, s in expected.items())
        return wait_until(check, timeout, interval=0.2)

    def test_one_upstream_an_hour_off_unsynchronises_within_a_poll(self):
        clock = FakeClock(self.tmp, "+0")
        _, up_port = self.start_upstream(clock)
        _, upstream_reply = ntp_query("127.0.0.1", up_port)
        down, port, mport = self.start_downstream([up_port])
        synced = wait_reply(port, lambda r: r.stratum == 3 and r.leap == 0, 5)
        self.assertIsNotNone(synced, down.stderr())
        # Served root dispersion: never less than the upstream's.
        self.assertGreaterEqual(synced.root_dispersion, upstream_reply.root_dispersion)

        clock.set("+1h")
        moved = time.monotonic()
        lost = wait_reply(port, lambda r: r.leap == 3, WITHIN_A_POLL)
        self.assertIsNotNone(lost, "still synchronised %.1f s after the upstream moved an hour:\n%s"
                             % (time.monotonic() - moved, down.stderr()))
        self.assertEqual(lost.stratum, 0)
        name = "127.0.0.1:%d" % up_port
        self.assertRegex(down.stderr(), r"upstream %s: falseticker: the system clock is -1[0-9]{3}\.\d+ s "
                         r"from it" % re.escape(name))
        self.assertIn("serving unsynchronised", down.stderr())
        self.assertTrue(self.wait_states(mport, {name: "falseticker"}, 3), scrape(mport))

        clock.set("+0")
        back = wait_reply(port, lambda r: r.stratum == 3 and r.leap == 0, WITHIN_A_POLL)
        self.assertIsNotNone(back, "never synchronised again:\n" + down.stderr())
        self.assertTrue(self.wait_states(mport, {name: "selected"}, 3), scrape(mport))

    def test_three_upstreams_one_off_is_named_falseticker_and_comes_back(self):
        clock = FakeClock(self.tmp, "+1h")
        _, a = self.start_upstream()
        _, b = self.start_upstream()
        _, c = self.start_upstream(clock)
        down, port, mport = self.start_downstream([a, b, c])
        names = {p: "127.0.0.1:%d" % p for p in (a, b, c)}

        self.assertTrue(self.wait_states(mport, {names[a]: "selected", names[b]: "selected",
                                                 names[c]: "falseticker"}, 5), scrape(mport))
        # Synchronised via the two that agree, and stays so over several polls.
        for _ in range(3):
            _, reply = ntp_query("127.0.0.1", port)
            self.assertEqual((reply.leap, reply.stratum), (0, 3), down.stderr())
            time.sleep(POLL)
        self.assertRegex(down.stderr(), r"upstream %s: falseticker: offset \+1[0-9]{3}\.\d+ s .* misses "
                         r"the interval the majority of upstreams agree on" % re.escape(names[c]))
        self.assertRegex(down.stderr(), r"synchronised via upstream 127\.0\.0\.1:(%d|%d)" % (a, b))
        m = scrape(mport)
        for p in (a, b, c):  # exactly one state per upstream
            self.assertEqual(sum(m[state_key(names[p], s)] for s in
                                 ("selected", "falseticker", "unreachable", "unsynchronised")), 1)

        clock.set("+0")
        self.assertTrue(self.wait_states(mport, {names[c]: "selected"}, WITHIN_A_POLL),
                        scrape(mport))
        self.assertRegex(down.stderr(), r"upstream %s: selected" % re.escape(names[c]))
        _, reply = ntp_query("127.0.0.1", port)
        self.assertEqual((reply.leap, reply.stratum), (0, 3))


if __name__ == "__main__":
    unittest.main()
