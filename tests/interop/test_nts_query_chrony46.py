"""nts-query as an NTS client of chronyd 4.6 (Debian 13 chroot) as the NTS server.

Proves: ntsd's client side speaks AEAD 30 with an independent implementation: against
`ntsaeads 30` chrony 4.6.1 echoes record 1024, both sides use the RFC 8915 exporter
context with id 30 ("compliant keys"), and NTS-authenticated exchanges succeed (so the
12-byte GCM-SIV nonces and chrony's 64-byte cookies work); against `ntsaeads 15`
the default offer (30,15,17) ends at 15.  `--aead 30` alone against a 15-only chrony
has no common AEAD and must fail, which shows the positive checks can fail.
"""

import json
import unittest

from chrony46 import require_trixie, start_chrony46_server
from ntsd_harness import NtsdTestCase

STRATUM = 4


class NtsQueryAgainstChrony46Test(NtsdTestCase):
    def setUp(self):
        super().setUp()
        require_trixie(self)
        self.require_file(self.nts_query_bin, "nts-query")

    def query(self, server, *args):
        res = self.nts_query("127.0.0.1:%d" % server.ke_port, "--json", "--count", "3",
                             "--timeout", "5", *args)
        return res, (json.loads(res.stdout) if res.stdout.strip().startswith("{") else None)

    def check_ok(self, res, doc, server, aead_id, compliant):
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self.assertIs(doc["ok"], True, doc)
        ke = doc["ke"]
        self.assertEqual(ke["aead_id"], aead_id, ke)
        self.assertEqual(ke["compliant_keys"], compliant, ke)
        self.assertEqual(ke["cookies"], 8, ke)
        self.assertEqual(ke["ntp_port"], server.ntp_port, ke)
        self.assertEqual(len(doc["exchanges"]), 3, doc)
        for e in doc["exchanges"]:
            self.assertIs(e["ok"], True, e)
            self.assertEqual(e["stratum"], STRATUM, e)
            self.assertGreaterEqual(e["cookies_received"], 1, e)
        return ke

    def test_ntsaeads_30_compliant_keys(self):
        server = start_chrony46_server(self, self.cert, self.key, STRATUM, aeads=[30])
        res, doc = self.query(server)
        ke = self.check_ok(res, doc, server, 30, True)
        self.assertEqual(ke["aead"], "AEAD_AES_128_GCM_SIV", ke)
        self.assertEqual(ke["cookie_length"], 64, ke)  # chrony's own GCM-SIV cookies

    def test_ntsaeads_15(self):
        server = start_chrony46_server(self, self.cert, self.key, STRATUM, aeads=[15])
        res, doc = self.query(server)
        self.check_ok(res, doc, server, 15, None)

    def test_default_chrony46_server_prefers_our_first(self):
        server = start_chrony46_server(self, self.cert, self.key, STRATUM)
        res, doc = self.query(server, "--aead", "15,30")
        self.check_ok(res, doc, server, 15, None)  # chrony honours the client's order

    def test_only_30_against_15_only_fails(self):
        server = start_chrony46_server(self, self.cert, self.key, STRATUM, aeads=[15])
        res, _ = self.query(server, "--aead", "30")
        self.assertEqual(res.returncode, 1, (res.stdout, res.stderr))


if __name__ == "__main__":
    unittest.main()
