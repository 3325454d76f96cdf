"""nts-query as an NTS client of chronyd 4.3 (chronyd as the NTS server).

Proves: ntsd's client side (nts-query, which shares ntsd's codec) interoperates with an
independent NTS server: TLS 1.3 + ALPN ntske/1 with chrony's GnuTLS, 8 cookies, AEAD 15,
chrony's NTPv4 Port record (chrony runs on a non-123 port), and NTS-authenticated NTP
exchanges whose stratum is chrony's `local stratum`.  Both IPv4 and IPv6, and several
exchanges in a row (so the cookies chrony returns inside the encrypted field are parsed
and used).  A wrong CA fails with exit 1.

chronyd runs with -x (never touches the clock), -u root (reads the temp-dir key),
without CAP_SYS_TIME, `cmdport 0` and no Unix command socket, all files in a temp dir.
"""

import json
import os
import unittest

from ntsd_harness import CHRONYD, NtsdTestCase, make_cert, start_chrony_nts_server

CHRONY_STRATUM = 4


class NtsQueryAgainstChronyTest(NtsdTestCase):
    def setUp(self):
        super().setUp()
        self.require_file(CHRONYD, "chronyd")
        self.require_file(self.nts_query_bin, "nts-query")
        self.server = start_chrony_nts_server(self, self.cert, self.key, stratum=CHRONY_STRATUM)

    def _query(self, target, count):
        res = self.nts_query(target, "--json", "--count", str(count), "--timeout", "5")
        self.assertEqual(res.returncode, 0, "nts-query failed against chronyd: %r %r" %
                         (res.stdout, res.stderr))
        try:
            return json.loads(res.stdout)
        except ValueError as e:
            self.fail("no JSON from nts-query (%s): %r" % (e, res.stdout))

    def _check(self, doc, host, count):
        self.assertIs(doc["ok"], True, doc)
        ke = doc["ke"]
        self.assertEqual(ke["tls_version"], "TLSv1.3", ke)
        self.assertEqual(ke["alpn"], "ntske/1", ke)
        self.assertEqual(ke["port"], self.server.ke_port, ke)
        self.assertEqual(ke["aead_id"], 15, ke)
        self.assertEqual(ke["cookies"], 8, ke)
        self.assertGreater(ke["cookie_length"], 0, ke)
        self.assertEqual(ke["ntp_port"], self.server.ntp_port, ke)
        self.assertEqual(str(ke["ntp_server"]).strip("[]"), host, ke)
        self.assertEqual(len(doc["exchanges"]), count, doc)
        for e in doc["exchanges"]:
            self.assertIs(e["ok"], True, e)
            self.assertIsNone(e["error"], e)
            self.assertEqual(e["stratum"], CHRONY_STRATUM, e)
            self.assertLess(abs(e["offset"]), 0.5, e)
            self.assertGreaterEqual(e["cookies_received"], 1, e)

    def test_ipv4_count_3(self):
        doc = self._query("127.0.0.1:%d" % self.server.ke_port, 3)
        self._check(doc, "127.0.0.1", 3)

    def test_ipv6(self):
        doc = self._query("[::1]:%d" % self.server.ke_port, 2)
        self._check(doc, "::1", 2)

    def test_wrong_ca_fails(self):
        other, _ = make_cert(os.path.join(self.tmp, "other"))
        res = self.nts_query("127.0.0.1:%d" % self.server.ke_port, "--timeout", "5", ca=other)
        self.assertEqual(res.returncode, 1, (res.stdout, res.stderr))
        self.assertRegex(res.stderr.strip(), r"^nts-query: [^\n]+$")


if __name__ == "__main__":
    unittest.main()
