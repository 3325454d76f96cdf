"""nts-query against a real ntsd on loopback.

Proves: a full NTS session (NTS-KE over TLS 1.3 with ALPN ntske/1, then NTS-authenticated
NTPv4 exchanges) works end to end over IPv4 and IPv6; the KE hands out 8 cookies, picks
AEAD 15 and advertises ntsd's own (non-123) NTP port; the NTP answers carry the stratum and
refid ntsd was configured with and a plausible offset; several exchanges in a row
authenticate (cookie replenishment works); and a client that does not trust the server's
certificate fails cleanly with exit status 1 and one "nts-query: ..." line.
"""

import json
import os
import unittest

from ntsd_harness import NtsdTestCase, make_cert


class NtsQueryTest(NtsdTestCase):
    # Stratum 1 announces a 4-character ASCII source code as refid (RFC 5905 7.3);
    # test_count_3 also covers stratum >= 2, where the refid is an IPv4 address.
    STRATUM = 1
    REFID = "NTSD"

    def _run_json(self, target, count, host):
        res = self.nts_query(target, "--json", "--count", str(count), "--timeout", "5")
        self.assertEqual(res.returncode, 0,
                         "nts-query failed: stdout=%r stderr=%r" % (res.stdout, res.stderr))
        try:
            doc = json.loads(res.stdout)
        except ValueError as e:
            self.fail("nts-query --json printed no JSON (%s): %r" % (e, res.stdout))
        return doc

    def _check(self, doc, ntsd, host, count):
        self.assertIs(doc.get("ok"), True, doc)
        ke = doc["ke"]
        self.assertEqual(ke["tls_version"], "TLSv1.3", ke)
        self.assertEqual(ke["alpn"], "ntske/1", ke)
        self.assertEqual(ke["port"], ntsd.ke_port, ke)
        self.assertEqual(ke["aead_id"], 15, ke)
        self.assertEqual(ke["aead"], "AEAD_AES_SIV_CMAC_256", ke)
        self.assertEqual(ke["cookies"], 8, ke)
        self.assertGreater(ke["cookie_length"], 0, ke)
        self.assertIn("localhost", ke["certificate_subject"], ke)
        self.assertTrue(360 <= ke["certificate_days_left"] <= 366, ke)
        # ntsd serves NTP on a port other than 123, so its KE must say which one.
        self.assertEqual(ke["ntp_port"], ntsd.ntp_port, ke)
        self.assertEqual(str(ke["ntp_server"]).strip("[]"), host, ke)
        ex = doc["exchanges"]
        self.assertEqual(len(ex), count, doc)
        for e in ex:
            self.assertIs(e["ok"], True, e)
            self.assertIsNone(e["error"], e)
            self.assertEqual(e["stratum"], ntsd.stratum, e)
            self.assertEqual(e["refid"], ntsd.refid, e)
            self.assertEqual(e["leap"], 0, e)
            self.assertLess(abs(e["offset"]), 0.5, e)
            self.assertGreaterEqual(e["delay"], 0.0, e)
            self.assertLess(e["delay"], 1.0, e)
            self.assertGreaterEqual(e["cookies_received"], 1, e)

    def test_ipv4_json(self):
        ntsd = self.start_ntsd()
        doc = self._run_json("127.0.0.1:%d" % ntsd.ke_port, 1, "127.0.0.1")
        self._check(doc, ntsd, "127.0.0.1", 1)

    def test_ipv6_json(self):
        ntsd = self.start_ntsd(hosts=("::1",))
        doc = self._run_json("[::1]:%d" % ntsd.ke_port, 1, "::1")
        self._check(doc, ntsd, "::1", 1)

    def test_count_3(self):
        ntsd = self.start_ntsd(stratum=3, refid="192.0.2.7")
        doc = self._run_json("127.0.0.1:%d" % ntsd.ke_port, 3, "127.0.0.1")
        self._check(doc, ntsd, "127.0.0.1", 3)

    def test_plain_output_exit_0(self):
        ntsd = self.start_ntsd()
        res = self.nts_query("127.0.0.1:%d" % ntsd.ke_port, "--timeout", "5")
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self.assertTrue(res.stdout.strip(), "nts-query printed nothing on success")

    def test_wrong_ca_fails_with_exit_1(self):
        ntsd = self.start_ntsd()
        other_cert, _ = make_cert(os.path.join(self.tmp, "other"))
        res = self.nts_query("127.0.0.1:%d" % ntsd.ke_port, "--json", "--timeout", "5",
                             ca=other_cert)
        self.assertEqual(res.returncode, 1, (res.stdout, res.stderr))
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertTrue(lines[0].startswith("nts-query: "), res.stderr)
        # The server must still be serving after a failed handshake.
        self.assertEqual(self.nts_query("127.0.0.1:%d" % ntsd.ke_port).returncode, 0)


if __name__ == "__main__":
    unittest.main()
