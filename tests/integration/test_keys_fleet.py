"""A split fleet sharing cookie keys through copies of one key file (issue #4).

One KE-only ntsd (--ntp-listen none) advertising two NTP-only ntsd (--ke-listen none, no
certificate), all three started from copies of one key file, rotation 4 s, 1 old key kept.
Proves, with real processes on loopback:
  * cookies from the KE authenticate on both NTP instances, and each NTP instance mints
    fresh cookies with the same (current) key id;
  * the KE hands out both NTP servers (round robin here), each with its own port;
  * an NTP instance restarted mid-way accepts the cookies issued before the restart;
  * an instance started later from the original (stale) copy of the file ratchets
    forward: it accepts what the others accept, refuses (NAK) what they refuse, its
    cookies work on the others, and its file ends up identical to theirs;
  * with server-choice hash, every session from one client address gets the same server.
"""

import os
import time
import unittest

from keys_harness import (KeysTestCase, epoch_of, read_key_file,
                          wait_for_epoch_offset)
from ntsd_harness import (KE_PORT, KE_SERVER, free_port, ke_exchange,
                          ke_request, parse_ke_records)


def key_lines(path):
    with open(path) as f:
        return [l for l in f.read().splitlines() if not l.startswith("#")]


class KeyFleetTest(KeysTestCase):
    ROTATION = 4
    KEPT = 1

    def test_split_fleet_from_copies_of_one_key_file(self):
        R = self.ROTATION
        original = os.path.join(self.tmp, "original.toml")
        self.make_key_file(original)
        ke_file = self.copy_key_file(original, os.path.join(self.tmp, "ke.toml"))
        ntp1_file = self.copy_key_file(original, os.path.join(self.tmp, "ntp1.toml"))
        ntp2_file = self.copy_key_file(original, os.path.join(self.tmp, "ntp2.toml"))
        stale_file = self.copy_key_file(original, os.path.join(self.tmp, "stale.toml"))
        born = read_key_file(original)["epoch"]

        p1, p2 = free_port("udp"), free_port("udp")
        ntp1 = self.start_instance("ntp1", ntp1_file, ke=False, ntp_port=p1)
        ntp2 = self.start_instance("ntp2", ntp2_file, ke=False, ntp_port=p2)
        ke = self.start_instance("ke", ke_file, ntp=False,
                                 ntp_servers=("127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2),
                                 extra=("--ntp-server-choice", "round-robin"))
        for inst in (ntp1, ntp2):
            self.assertIn("serving NTP only", inst.proc.stderr())
        self.assertIn("serving NTS-KE only", ke.proc.stderr())

        # Epoch a: two KE sessions, handed one NTP server each (round robin).
        a = wait_for_epoch_offset(R, 0.3)
        s1 = os.path.join(self.tmp, "s1.state")
        s1b = os.path.join(self.tmp, "s1b.state")
        d1 = self.replay_ke(ke.ke_target, s1)
        d1b = self.replay_ke(ke.ke_target, s1b)
        self.assertEqual({d1["ntp_port"], d1b["ntp_port"]}, {p1, p2}, (d1, d1b))
        self.assertEqual(d1["ntp_server"], "127.0.0.1", d1)
        self.assertEqual(d1["key_ids"][0], a, d1)
        # Cookies from the KE work on both NTP instances; both mint with key a.
        for inst in (ntp1, ntp2):
            reply = self.assert_replay(s1, inst.ntp_target, "ok")
            self.assertEqual(set(reply["new_cookie_key_ids"]), {a}, reply)
        # And on the server the KE named, without an override.
        self.assert_replay(s1b, None, "ok")

        # Epoch a+1: a new session; NTP 1 restarts; cookies from before still work.
        wait_for_epoch_offset(R, 0.3, min_epoch=a + 1)
        s2 = os.path.join(self.tmp, "s2.state")
        self.assertEqual(self.replay_ke(ke.ke_target, s2)["key_ids"][0], a + 1)
        ntp1.proc.stop()
        ntp1 = self.start_instance("ntp1-restarted", ntp1_file, ke=False, ntp_port=p1)
        self.assertIn("from " + ntp1_file, ntp1.proc.stderr())
        self.assert_replay(s1, ntp1.ntp_target, "ok")  # key a: the oldest kept at a+1
        self.assert_replay(s2, ntp1.ntp_target, "ok")
        self.assert_replay(s2, ntp2.ntp_target, "ok")

        # Epoch a+2: key a is out of the window everywhere. A late host from the stale
        # original copy (epoch `born` <= a) ratchets forward and agrees.
        wait_for_epoch_offset(R, 0.3, min_epoch=a + 2)
        late = self.start_instance("ntp3-stale-copy", stale_file, ke=False)
        for inst in (ntp1, ntp2, late):
            self.assert_replay(s1, inst.ntp_target, "nak")
            self.assert_replay(s2, inst.ntp_target, "ok")
        s3 = os.path.join(self.tmp, "s3.state")
        self.assertEqual(self.replay_ke(ke.ke_target, s3)["key_ids"][0], a + 2)
        reply = self.assert_replay(s3, late.ntp_target, "ok")
        self.assertEqual(set(reply["new_cookie_key_ids"]), {a + 2}, reply)

        # The late host's file moved forward from the stale epoch to the window's
        # oldest, and matches the KE's file line for line (apart from comments).
        now_epoch = epoch_of(time.time(), R)
        self.assertLessEqual(born, a)
        for path in (stale_file, ke_file, ntp1_file, ntp2_file):
            kf = read_key_file(path)
            self.assertEqual(kf["epoch"], now_epoch - self.KEPT, (path, kf))
        self.assertEqual(key_lines(stale_file), key_lines(ke_file))
        self.assertEqual(key_lines(ntp2_file), key_lines(ke_file))
        self.assertNotEqual(key_lines(original), key_lines(ke_file))

    def test_hash_choice_is_stable_per_client(self):
        keys_file = os.path.join(self.tmp, "keys.toml")
        servers = ["ntp-a.example:1001", "ntp-b.example:1002", "ntp-c.example:1003"]
        ke = self.start_instance("ke", keys_file, ntp=False, ntp_servers=servers, rotation=60)
        chosen = set()
        for _ in range(6):
            _, data = ke_exchange("127.0.0.1", ke.ke_port, self.cert, [ke_request()])
            records = parse_ke_records(data)
            names = [body.decode() for _, t, body in records if t == KE_SERVER]
            ports = [int.from_bytes(body, "big") for _, t, body in records if t == KE_PORT]
            self.assertEqual(len(names), 1, records)
            chosen.add((names[0], ports[0]))
        self.assertEqual(len(chosen), 1, "one client address got several servers: %r" % chosen)
        name, port = chosen.pop()
        self.assertIn("%s:%d" % (name, port), servers)


if __name__ == "__main__":
    unittest.main()
