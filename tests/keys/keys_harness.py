"""Helpers for the cookie-key tests (issue #4), on top of tests/integration/ntsd_harness.py.

  * KeysTestCase.start_instance(): ntsd as KE only, NTP only, or both, with a key file and
    a short rotation, waiting until every listener it has answers,
  * cookie_replay (tests/keys/cookie_replay.cpp, built into $NTSD_BIN_DIR): NTS-KE once,
    then authenticated NTP requests with the saved cookies, reporting ok / nak,
  * epoch arithmetic mirroring src/keys/ratchet.h, and waiting for a point inside an epoch,
  * reading the key file with tomllib (which also proves it is valid TOML).
"""

import json
import os
import shutil
import stat
import subprocess
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
from ntsd_harness import (NtsdTestCase, binary, free_port, host_port, ntp_query,
                          tcp_accepts)


def epoch_of(t, rotation):
    return int(t // rotation)


def wait_for_epoch_offset(rotation, offset, min_epoch=None):
    """Sleeps until `offset` seconds into an epoch (the next one, or `min_epoch` if later).
    Returns that epoch."""
    now = time.time()
    epoch = epoch_of(now, rotation)
    if now - epoch * rotation > offset:
        epoch += 1
    if min_epoch is not None and epoch < min_epoch:
        epoch = min_epoch
    target = epoch * rotation + offset
    while True:
        left = target - time.time()
        if left <= 0:
            return epoch
        time.sleep(min(left, 0.5))


def sleep_until(t):
    while True:
        left = t - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


def read_key_file(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


class Instance:
    def __init__(self, proc, ke_port, ntp_port, keys_file):
        self.proc = proc
        self.ke_port = ke_port
        self.ntp_port = ntp_port
        self.keys_file = keys_file

    @property
    def ntp_target(self):
        return "127.0.0.1:%d" % self.ntp_port

    @property
    def ke_target(self):
        return "127.0.0.1:%d" % self.ke_port


class KeysTestCase(NtsdTestCase):
    ROTATION = 3
    KEPT = 2

    def setUp(self):
        super().setUp()
        self.require_file(self.ntsd_bin, "ntsd")
        self.replay_bin = binary("cookie_replay")
        self.require_file(self.replay_bin, "cookie_replay")

    # ------------------------------------------------------------------ ntsd

    def start_instance(self, name, keys_file, ke=True, ntp=True, ntp_servers=(),
                       rotation=None, kept=None, extra=(), ke_port=None, ntp_port=None,
                       cert=True, ready_timeout=15.0, attempts=4, env=None):
        """Starts ntsd on 127.0.0.1 and waits until its KE port accepts and its NTP port
        answers. ke=False / ntp=False give --ke-listen none / --ntp-listen none (and an
        NTP-only instance gets no certificate). Fixed ports are reused as given (for a
        restart); free ones are picked otherwise, with retries on a lost port race."""
        rotation = self.ROTATION if rotation is None else rotation
        kept = self.KEPT if kept is None else kept
        last = None
        for _ in range(attempts):
            kp = (ke_port or free_port("tcp")) if ke else None
            np_ = (ntp_port or free_port("udp")) if ntp else None
            argv = [self.ntsd_bin]
            if ke and cert:
                argv += ["--cert", self.cert, "--key", self.key]
            argv += ["--ke-listen", host_port("127.0.0.1", kp) if ke else "none"]
            argv += ["--ntp-listen", host_port("127.0.0.1", np_) if ntp else "none"]
            for s in ntp_servers:
                argv += ["--ntp-server", s]
            if keys_file is not None:
                argv += ["--keys", keys_file]
            argv += ["--key-rotation", str(rotation), "--keys-kept", str(kept),
                     "--stratum", "2", "--refid", "TEST", "--log-level", "debug"]
            argv += list(extra)
            proc, notify = self.spawn_notifying(name, argv, env)
            deadline = time.monotonic() + ready_timeout
            state = "timeout"
            ke_ok = not ke
            ntp_ok = not ntp
            ready = False
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    state = "exited"
                    break
                # The ports accept before the start summary is logged; READY=1
                # follows its last line, so a test reads a complete start log.
                ready = ready or self.notified_ready(proc, notify)
                if not ke_ok:
                    ke_ok = tcp_accepts("127.0.0.1", kp, timeout=0.3)
                if not ntp_ok:
                    _, reply = ntp_query("127.0.0.1", np_, timeout=0.3)
                    ntp_ok = reply is not None and reply.mode == 4
                if ke_ok and ntp_ok and ready:
                    return Instance(proc, kp, np_, keys_file)
                time.sleep(0.05)
            last = proc
            err = proc.stderr().lower()
            if state == "exited" and "in use" in err and not (ke_port or ntp_port):
                continue
            break
        self.fail("ntsd %s did not become ready:\n%s" % (name, last.logs() if last else ""))

    def run_ntsd_expect_exit(self, argv, timeout=10):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.fail("ntsd kept running (expected it to exit): %s" % argv)

    def make_key_file(self, path, rotation=None):
        """Has ntsd create a key file (NTP only, started and stopped) and returns its text."""
        rotation = self.ROTATION if rotation is None else rotation
        inst = self.start_instance("keygen", path, ke=False, rotation=rotation)
        inst.proc.stop()
        self.assertTrue(os.path.exists(path), "ntsd did not create %s" % path)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode, 0o600, "key file mode %o" % mode)
        with open(path) as f:
            return f.read()

    def copy_key_file(self, src, dst):
        shutil.copy2(src, dst)  # keeps 0600
        return dst

    # ------------------------------------------------------------------ cookies

    def replay_ke(self, ke_target, state_path):
        res = self.run_tool([self.replay_bin, "ke", ke_target, "--ca", self.cert,
                             "--state", state_path], timeout=20)
        self.assertEqual(res.returncode, 0, "cookie_replay ke failed: %r %r" %
                         (res.stdout, res.stderr))
        doc = json.loads(res.stdout)
        self.assertTrue(doc["ok"], doc)
        self.assertEqual(doc["cookies"], 8, doc)
        self.assertEqual(len(set(doc["key_ids"])), 1, "one KE mints with one key: %r" % doc)
        return doc

    def replay_ntp(self, state_path, server=None, cookie=0):
        """One NTS request with a saved cookie. Returns (result, doc, epoch_before,
        epoch_after) with result "ok", "nak", "no-response" or "error"."""
        argv = [self.replay_bin, "ntp", "--state", state_path, "--cookie", str(cookie),
                "--timeout-ms", "1500"]
        if server:
            argv += ["--server", server]
        before = time.time()
        res = self.run_tool(argv, timeout=20)
        after = time.time()
        try:
            doc = json.loads(res.stdout)
        except ValueError:
            self.fail("cookie_replay ntp printed no JSON: %r %r" % (res.stdout, res.stderr))
        expected_rc = {"ok": 0, "nak": 3, "no-response": 4}.get(doc.get("result"), 1)
        self.assertEqual(res.returncode, expected_rc, doc)
        return doc["result"], doc, before, after

    def expected(self, key_id, t, rotation=None, kept=None):
        """What a server whose clock reads t does with a cookie under key_id."""
        rotation = self.ROTATION if rotation is None else rotation
        kept = self.KEPT if kept is None else kept
        current = epoch_of(t, rotation)
        return "ok" if current - kept <= key_id <= current + 1 else "nak"

    def assert_replay(self, state_path, server, expect, cookie=0, rotation=None, kept=None):
        """Replays a cookie and checks the answer against `expect` ("ok"/"nak"). The
        request is timed: if it straddled an epoch boundary where the expectation changes,
        it is sent again (a server rotates within milliseconds of the boundary)."""
        for _ in range(3):
            result, doc, before, after = self.replay_ntp(state_path, server, cookie)
            key_id = doc.get("key_id")
            if key_id is not None and (self.expected(key_id, before, rotation, kept) !=
                                       self.expected(key_id, after + 0.05, rotation, kept)):
                time.sleep(0.2)
                continue
            at = self.expected(key_id, before, rotation, kept) if key_id is not None else expect
            self.assertEqual(at, expect, "the test ran late: at epoch %d key %s is expected to "
                             "be %s, not %s" % (epoch_of(before, rotation or self.ROTATION),
                                                key_id, at, expect))
            self.assertEqual(result, expect,
                             "cookie under key %s sent to %s at epoch %d (%.2f s in): %r" % (
                                 key_id, server, epoch_of(before, rotation or self.ROTATION),
                                 before % (rotation or self.ROTATION), doc))
            return doc
        self.fail("could not send a request away from an epoch boundary")
