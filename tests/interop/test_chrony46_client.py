"""chrony 4.6 (Debian 13, in the third_party/trixie chroot) as an NTS client of ntsd.

Proves: with its default `ntsaeads` (30 first, record 1024 with it) chronyd 4.6.1
negotiates AEAD_AES_128_GCM_SIV with ntsd, derives the same keys (no NTS NAK: the
compliant exporter context agrees on the first try), gets authenticated answers and
selects ntsd as its source (`^*`); with `ntsaeads 15` it negotiates 15 and syncs too.
`chronyc -n authdata`'s Type column is chrony's own statement of the AEAD in use.
A run with a wrong CA must not sync, which shows the positive checks can fail.
"""

import os
import time
import unittest

from chrony46 import (parse_authdata, require_trixie, selected_source, start_chrony46_client)
from ntsd_harness import NtsdTestCase, make_cert

SYNC_TIMEOUT = 45


class Chrony46ClientOfNtsdTest(NtsdTestCase):
    def setUp(self):
        super().setUp()
        require_trixie(self)

    def wait_for_sync(self, chrony, want_type):
        """Polls chronyc until the source is selected and authdata shows want_type."""
        deadline = time.monotonic() + SYNC_TIMEOUT
        last = ("", "")
        while time.monotonic() < deadline:
            if chrony.proc.poll() is not None:
                self.fail("chronyd 4.6 exited:\n%s" % chrony.proc.logs())
            sources = chrony.chronyc("sources").stdout
            authdata = chrony.chronyc("authdata").stdout
            last = (sources, authdata)
            row = parse_authdata(authdata).get("127.0.0.1")
            if selected_source(sources) == "127.0.0.1" and row and row["type"] == want_type:
                return row
            time.sleep(1)
        self.fail("chronyd 4.6 did not select ntsd with AEAD %s within %ss:\n%s\n%s\n%s" %
                  (want_type, SYNC_TIMEOUT, last[0], last[1], chrony.proc.logs()))

    def start_client(self, ntsd, ca=None, extra=()):
        line = "server 127.0.0.1 nts ntsport %d iburst minpoll 0 maxpoll 0" % ntsd.ke_port
        return start_chrony46_client(self, line, ca or self.cert, extra)

    def test_default_ntsaeads_negotiates_30(self):
        ntsd = self.start_ntsd()
        chrony = self.start_client(ntsd)
        row = self.wait_for_sync(chrony, "30")
        self.assertEqual(row["mode"], "NTS", row)
        self.assertEqual(row["klen"], "128", row)  # 16-byte keys
        self.assertEqual(row["nak"], "0", row)     # keys agreed at once: record 1024 honoured
        self.assertEqual(row["clen"], "72", row)   # ntsd's AEAD-30 cookie

    def test_ntsaeads_15_negotiates_15(self):
        ntsd = self.start_ntsd()
        chrony = self.start_client(ntsd, extra=["ntsaeads 15"])
        row = self.wait_for_sync(chrony, "15")
        self.assertEqual(row["klen"], "256", row)
        self.assertEqual(row["nak"], "0", row)
        self.assertEqual(row["clen"], "104", row)

    def test_server_allowing_only_15_gets_15_from_a_default_client(self):
        ntsd = self.start_ntsd(extra=["--aeads", "15"])
        chrony = self.start_client(ntsd)
        self.wait_for_sync(chrony, "15")

    def test_wrong_ca_does_not_sync(self):
        ntsd = self.start_ntsd()
        other, _ = make_cert(os.path.join(self.tmp, "other"))
        chrony = self.start_client(ntsd, ca=other)
        time.sleep(6)
        sources = chrony.chronyc("sources").stdout
        self.assertIsNone(selected_source(sources), sources)
        row = parse_authdata(chrony.chronyc("authdata").stdout).get("127.0.0.1")
        # No NTS-KE completed: no AEAD (Type 0), no key, no cookie.
        self.assertIsNotNone(row, sources)
        self.assertEqual((row["type"], row["klen"], row["cook"]), ("0", "0", "0"), row)


if __name__ == "__main__":
    unittest.main()
