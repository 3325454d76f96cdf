"""Cookie key rotation on one ntsd (issue #4), with a 3 s rotation and 2 old keys kept.

Proves, with real processes on loopback and a client that keeps its cookies (cookie_replay):
  * a cookie minted in epoch e authenticates in epochs e, e+1 and e+2 (the oldest kept key
    works) and gets an NTS NAK from epoch e+3 on (one key older is refused); the edge is
    probed 0.4 s either side of the boundary where the key falls out;
  * the NTP server mints its fresh cookies with the key of the current epoch;
  * the key file is created 0600, is valid TOML, and is rewritten at rotation so that it
    holds only the oldest key still accepted (epoch = current - kept);
  * without --keys, a restart turns every cookie into a NAK (memory-only keys), the
    documented contrast to the key file.
"""

import os
import stat
import sys
import time
import unittest

from keys_harness import (KeysTestCase, epoch_of, read_key_file, sleep_until,
                          wait_for_epoch_offset)


class KeyRotationTest(KeysTestCase):
    ROTATION = 3
    KEPT = 2

    def test_window_edges_across_rotations(self):
        R, K = self.ROTATION, self.KEPT
        keys_file = os.path.join(self.tmp, "keys.toml")
        inst = self.start_instance("ntsd", keys_file)
        self.assertEqual(stat.S_IMODE(os.stat(keys_file).st_mode), 0o600)

        # NTS-KE early in an epoch e: its cookies carry key e.
        e = wait_for_epoch_offset(R, 0.3)
        state = os.path.join(self.tmp, "client-e.state")
        doc = self.replay_ke(inst.ke_target, state)
        self.assertEqual(doc["key_ids"][0], e, doc)
        self.assertEqual(doc["ntp_port"], inst.ntp_port, doc)

        measured = []
        for k in range(0, K + 1):
            sleep_until((e + k) * R + 0.5)
            reply = self.assert_replay(state, inst.ntp_target, "ok")
            # Fresh cookies in the answer are minted with the current key.
            self.assertEqual(set(reply["new_cookie_key_ids"]), {e + k}, reply)
            measured.append("epoch e+%d: ok" % k)

        # The edge: key e is the oldest kept until epoch e+K+1 begins.
        edge = (e + K + 1) * R
        sleep_until(edge - 0.4)
        self.assert_replay(state, inst.ntp_target, "ok")
        measured.append("0.4 s before epoch e+%d: ok" % (K + 1))
        sleep_until(edge + 0.4)
        self.assert_replay(state, inst.ntp_target, "nak")
        measured.append("0.4 s into epoch e+%d: nak" % (K + 1))

        # A second client, keyed in epoch e+K+1, is unaffected.
        state2 = os.path.join(self.tmp, "client-later.state")
        doc2 = self.replay_ke(inst.ke_target, state2)
        self.assertEqual(doc2["key_ids"][0], epoch_of(time.time(), R), doc2)
        self.assert_replay(state2, inst.ntp_target, "ok")

        # The file now holds only the oldest key still accepted.
        current = epoch_of(time.time(), R)
        kf = read_key_file(keys_file)
        self.assertEqual(kf["version"], 1, kf)
        self.assertEqual(kf["rotation-seconds"], R, kf)
        self.assertEqual(kf["epoch"], current - K, kf)
        self.assertEqual(len(kf["key"]), 64, kf)
        self.assertEqual(stat.S_IMODE(os.stat(keys_file).st_mode), 0o600)
        self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp." in n], [])
        sys.stderr.write("measured window (rotation %d s, kept %d): %s\n" %
                         (R, K, "; ".join(measured)))

    def test_memory_only_keys_do_not_survive_a_restart(self):
        inst = self.start_instance("ntsd", None, rotation=30, kept=1)
        state = os.path.join(self.tmp, "client.state")
        self.replay_ke(inst.ke_target, state)
        self.assert_replay(state, inst.ntp_target, "ok", rotation=30, kept=1)
        inst.proc.stop()
        again = self.start_instance("ntsd-again", None, rotation=30, kept=1,
                                    ntp_port=inst.ntp_port, ke_port=inst.ke_port)
        result, doc, _, _ = self.replay_ntp(state, again.ntp_target)
        self.assertEqual(result, "nak", doc)


if __name__ == "__main__":
    unittest.main()
