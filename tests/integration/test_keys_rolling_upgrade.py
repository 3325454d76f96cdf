"""A fleet in a rolling upgrade: this release beside the previous one (before AEAD 30).

Cookies for AEAD 15/16/17 keep the previous format byte for byte (AES-SIV-CMAC-256
master, 16-byte nonce), so a host of either release opens the other's. Cookies for
AEAD 30 (72 bytes, same SIV-CMAC format, new inner id) are opened only by hosts of this
release; a previous-release host drops requests carrying them (their 12-byte nonce is
shorter than it accepts). Hence the rule in
docs/configuration.md: while any NTP host still runs the previous release, KE hosts run
with `--aeads 15,17,16`. Proved here with two real binaries sharing one key file:
  * new KE (--aeads 15,17,16) -> previous NTP host: a client offering 30 first gets 15
    and authenticated answers;
  * previous KE -> new NTP host: the old KE's cookies authenticate on the new host;
  * new KE allowing 30 -> previous NTP host: the client gets 30 and no answers (what
    the rule prevents; shows the positive checks can fail).

The previous release's ntsd comes from NTSD_PREVIOUS_BIN, else
third_party/previous/ntsd (git-ignored), which scripts/build-previous.sh builds from
the commit it pins (ctest runs it first, as the fixture integration.previous_ntsd).
The test skips only when this clone lacks that commit (a shallow clone).
"""

import json
import os
import re
import subprocess
import unittest

from keys_harness import KeysTestCase
from ntsd_harness import REPO_ROOT, free_port

BUILD_SCRIPT = os.path.join(REPO_ROOT, "scripts", "build-previous.sh")
PREVIOUS = os.environ.get("NTSD_PREVIOUS_BIN") or os.path.join(REPO_ROOT, "third_party",
                                                               "previous", "ntsd")


def previous_commit():
    with open(BUILD_SCRIPT, encoding="utf-8") as f:
        return re.search(r"^PREVIOUS_COMMIT=([0-9a-f]{40})$", f.read(), re.M).group(1)


def commit_missing_reason():
    """Why the previous release cannot be built here, or None when it can."""
    if os.access(PREVIOUS, os.X_OK):
        return None
    commit = previous_commit()
    found = subprocess.run(["git", "-C", REPO_ROOT, "cat-file", "-e", commit + "^{commit}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if found.returncode != 0:
        return ("the previous release (commit %s) is not in this clone (shallow clone?), "
                "so no previous-release ntsd can be built" % commit)
    return None


SKIP_REASON = commit_missing_reason()


@unittest.skipIf(SKIP_REASON, SKIP_REASON)
class RollingUpgradeTest(KeysTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(PREVIOUS, os.X_OK):
            raise AssertionError("no previous-release ntsd at %s: run %s (ctest runs it as the "
                                 "fixture integration.previous_ntsd)" % (PREVIOUS, BUILD_SCRIPT))

    ROTATION = 3600  # no rotation during the test
    KEPT = 1

    def start(self, name, binary, keys_file, **kw):
        saved = self.ntsd_bin
        self.ntsd_bin = binary
        try:
            return self.start_instance(name, keys_file, **kw)
        finally:
            self.ntsd_bin = saved

    def query(self, ke):
        res = self.nts_query("127.0.0.1:%d" % ke.ke_port, "--json", "--count", "2",
                             "--timeout", "3")
        self.assertTrue(res.stdout.strip().startswith("{"), (res.stdout, res.stderr))
        return res, json.loads(res.stdout)

    def fleet(self, ke_binary, ntp_binary, ke_extra=()):
        original = os.path.join(self.tmp, "original.toml")
        if not os.path.exists(original):
            self.make_key_file(original)
        tag = "%d" % len(self.procs)
        ke_file = self.copy_key_file(original, os.path.join(self.tmp, "ke%s.toml" % tag))
        ntp_file = self.copy_key_file(original, os.path.join(self.tmp, "ntp%s.toml" % tag))
        port = free_port("udp")
        self.start("ntp", ntp_binary, ntp_file, ke=False, ntp_port=port)
        return self.start("ke", ke_binary, ke_file, ntp=False,
                          ntp_servers=("127.0.0.1:%d" % port,), extra=ke_extra)

    def test_new_ke_restricted_to_15_serves_previous_ntp_host(self):
        ke = self.fleet(self.ntsd_bin, PREVIOUS, ke_extra=("--aeads", "15,17,16"))
        res, doc = self.query(ke)
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self.assertEqual(doc["ke"]["aead_id"], 15, doc)
        self.assertTrue(all(e["ok"] for e in doc["exchanges"]), doc)

    def test_previous_ke_cookies_work_on_new_ntp_host(self):
        ke = self.fleet(PREVIOUS, self.ntsd_bin)
        res, doc = self.query(ke)
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self.assertEqual(doc["ke"]["aead_id"], 15, doc)
        self.assertTrue(all(e["ok"] for e in doc["exchanges"]), doc)

    def test_new_ke_allowing_30_is_naked_by_previous_ntp_host(self):
        ke = self.fleet(self.ntsd_bin, PREVIOUS)
        res, doc = self.query(ke)
        self.assertEqual(doc["ke"]["aead_id"], 30, doc)
        self.assertNotEqual(res.returncode, 0, doc)
        self.assertFalse(any(e["ok"] for e in doc["exchanges"]), doc)
        # The previous release drops the request unanswered: its 12-byte GCM-SIV nonce
        # is shorter than the 16 bytes that release requires before it looks further.
        self.assertTrue(all("no response" in str(e["error"]) for e in doc["exchanges"]), doc)


if __name__ == "__main__":
    unittest.main()
