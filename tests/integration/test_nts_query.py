"""nts-query against a real ntsd on loopback.

Proves: a full NTS session (NTS-KE over TLS 1.3 with ALPN ntske/1, then NTS-authenticated
NTPv4 exchanges) works end to end over IPv4 and IPv6; the KE hands out 8 cookies, picks
AEAD 15 and advertises ntsd's own (non-123) NTP port; the NTP answers carry the stratum and
refid ntsd was configured with and a plausible offset; several exchanges in a row
authenticate (cookie replenishment works); and a client that does not trust the server's
certificate fails cleanly with exit status 1 and one "nts-query: ..." line.

Operator output: every stage (DNS, TCP, TLS, NTS-KE, first NTP exchange) is timed; the
certificate chain is reported as the openssl CLI reads the certificate file (subject,
issuer, SAN, validity, days to expiry, key, signature algorithm), every certificate of a
leaf + intermediate chain in order; a certificate expiring within 14 days raises a warning (exit status still 0; 3 with --fail-on-warning); answers
from an ntsd serving unsynchronised (LI 3, stratum 16) raise an "unsynchronised" warning,
answers from a normal ntsd raise none.
"""

import calendar
import json
import math
import os
import re
import subprocess
import time
import unittest

from ntsd_harness import NtsdTestCase, free_port, make_cert

STAGES = ("dns", "tcp", "tls", "ke", "ntp")


def openssl_x509(cert, *args):
    res = subprocess.run(["openssl", "x509", "-in", cert, "-noout"] + list(args),
                         capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RuntimeError("openssl x509 %s failed: %s" % (args, res.stderr))
    return res.stdout


def cert_facts(cert):
    """What the openssl CLI says about a PEM certificate file."""
    subject = openssl_x509(cert, "-subject", "-nameopt", "RFC2253").strip()
    end = openssl_x509(cert, "-enddate").strip()
    text = openssl_x509(cert, "-text")
    not_after = calendar.timegm(time.strptime(end.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT"))
    curve = re.search(r"NIST CURVE: (\S+)", text)
    bits = re.search(r"Public-Key: \((\d+) bit\)", text)
    if curve:
        key = "EC " + curve.group(1)
    elif "rsaEncryption" in text:
        key = "RSA " + bits.group(1)
    else:
        raise RuntimeError("unexpected key type in %s:\n%s" % (cert, text))
    return {
        "subject": subject.split("=", 1)[1],
        "not_after": not_after,
        "not_after_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(not_after)),
        "key": key,
        "signature_algorithm": re.search(r"Signature Algorithm: (\S+)", text).group(1),
    }


def days_left(not_after, at):
    # OpenSSL counts from time(NULL): whole seconds.
    return math.floor((not_after - math.floor(at)) / 86400.0)


def make_short_cert(outdir, days):
    """An RSA 2048 certificate for localhost/127.0.0.1 valid for `days` days."""
    os.makedirs(outdir, exist_ok=True)
    cert = os.path.join(outdir, "cert.pem")
    key = os.path.join(outdir, "key.pem")
    res = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", cert, "-days", str(days), "-sha256", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
         "-addext", "extendedKeyUsage=serverAuth"],
        capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError("openssl req failed: %s" % res.stderr)
    return cert, key


class NtsQueryTest(NtsdTestCase):
    # Stratum 1 announces a 4-character ASCII source code as refid (RFC 5905 7.3);
    # test_count_3 also covers stratum >= 2, where the refid is an IPv4 address.
    STRATUM = 1
    REFID = "NTSD"

    def _run_json(self, target, count, host, *args):
        res = self.nts_query(target, "--json", "--count", str(count), "--timeout", "5", *args)
        self.assertEqual(res.returncode, 0,
                         "nts-query failed: stdout=%r stderr=%r" % (res.stdout, res.stderr))
        try:
            doc = json.loads(res.stdout)
        except ValueError as e:
            self.fail("nts-query --json printed no JSON (%s): %r" % (e, res.stdout))
        return doc

    def _check_timings(self, doc):
        timings = doc["timings_ms"]
        self.assertEqual(sorted(timings), sorted(STAGES), timings)
        for stage in STAGES:
            value = timings[stage]
            self.assertTrue(isinstance(value, (int, float)) and not isinstance(value, bool),
                            (stage, timings))
            self.assertGreaterEqual(value, 0, (stage, timings))
            self.assertLess(value, 5000, (stage, timings))  # --timeout 5 bounds every stage
        for e in doc["exchanges"]:
            self.assertGreaterEqual(e["round_trip_ms"], 0, e)
        self.assertEqual(timings["ntp"], doc["exchanges"][0]["round_trip_ms"], doc)

    def _check_leaf(self, doc, cert, before, after):
        """The leaf in the JSON chain is `cert` as the openssl CLI reads it; its days to
        expiry lie between those computed before and after the query ran."""
        facts = cert_facts(cert)
        ke = doc["ke"]
        chain = ke["certificates"]
        self.assertEqual(len(chain), 1, chain)  # ntsd sends the self-signed leaf alone
        leaf = chain[0]
        self.assertEqual(leaf["subject"], facts["subject"], leaf)
        self.assertEqual(leaf["issuer"], facts["subject"], leaf)  # self-signed
        self.assertEqual(leaf["dns_names"], ["localhost"], leaf)
        self.assertEqual(leaf["ip_addresses"], ["127.0.0.1", "::1"], leaf)
        self.assertEqual(leaf["not_after"], facts["not_after_iso"], leaf)
        self.assertTrue(days_left(facts["not_after"], after) <= leaf["days_left"] <=
                        days_left(facts["not_after"], before), (leaf, facts, before, after))
        self.assertEqual(leaf["key"], facts["key"], leaf)
        self.assertEqual(leaf["signature_algorithm"], facts["signature_algorithm"], leaf)
        self.assertEqual(ke["certificate_days_left"], leaf["days_left"], ke)
        self.assertEqual(ke["tls_cipher"].split("_")[0], "TLS", ke)
        return leaf

    def _check(self, doc, ntsd, host, count, aead_id=30):
        self.assertIs(doc.get("ok"), True, doc)
        ke = doc["ke"]
        self.assertEqual(ke["tls_version"], "TLSv1.3", ke)
        self.assertEqual(ke["alpn"], "ntske/1", ke)
        self.assertEqual(ke["port"], ntsd.ke_port, ke)
        # nts-query offers 30,15,17 (record 1024 with 30); ntsd honours that order.
        names = {30: "AEAD_AES_128_GCM_SIV", 15: "AEAD_AES_SIV_CMAC_256"}
        self.assertEqual(ke["aead_id"], aead_id, ke)
        self.assertEqual(ke["aead"], names[aead_id], ke)
        self.assertEqual(ke["compliant_keys"], True if aead_id == 30 else None, ke)
        self.assertEqual(ke["cookies"], 8, ke)
        self.assertEqual(ke["cookie_length"], {30: 72, 15: 104}[aead_id], ke)
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
        self._check_timings(doc)
        # A synchronised ntsd on this host, certificate valid for a year: nothing to say.
        self.assertEqual(doc["warnings"], [], doc)

    def test_ipv4_json(self):
        ntsd = self.start_ntsd()
        before = time.time()
        doc = self._run_json("127.0.0.1:%d" % ntsd.ke_port, 1, "127.0.0.1")
        after = time.time()
        self._check(doc, ntsd, "127.0.0.1", 1)
        leaf = self._check_leaf(doc, self.cert, before, after)
        self.assertEqual(leaf["key"], "EC P-256", leaf)  # what make-dev-cert.sh makes

    def test_aead_15_and_server_allow_list(self):
        ntsd = self.start_ntsd()
        res = self.nts_query("127.0.0.1:%d" % ntsd.ke_port, "--json", "--aead", "15,30")
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self._check(json.loads(res.stdout), ntsd, "127.0.0.1", 1, aead_id=15)
        limited = self.start_ntsd(extra=["--aeads", "17,15"])
        res = self.nts_query("127.0.0.1:%d" % limited.ke_port, "--json")
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self._check(json.loads(res.stdout), limited, "127.0.0.1", 1, aead_id=15)

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
        self.assertRegex(res.stdout, r"(?m)^Certificate: +CN=localhost$")
        self.assertRegex(res.stdout, r"(?m)^  key: +EC P-256, signed with ecdsa-with-SHA256$")
        self.assertRegex(res.stdout, r"(?m)^Timings: +DNS [0-9.]+ ms, TCP [0-9.]+ ms, "
                                     r"TLS [0-9.]+ ms, NTS-KE [0-9.]+ ms, first NTP [0-9.]+ ms$")
        self.assertNotIn("warning", res.stderr)

    def test_report_that_cannot_be_written_fails_with_exit_1(self):
        # Every exchange authenticates, but standard output is a full device: the
        # report is lost, so the query must not say success.
        ntsd = self.start_ntsd()
        self.require_file(self.nts_query_bin, "nts-query")
        with open("/dev/full", "w") as full:
            res = subprocess.run([self.nts_query_bin, "127.0.0.1:%d" % ntsd.ke_port, "--ca",
                                  self.cert, "--timeout", "5"], stdout=full,
                                 stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertRegex(res.stderr, r"^nts-query: ")

    def test_certificate_expiring_soon_warns(self):
        self.cert, self.key = make_short_cert(os.path.join(self.tmp, "short"), days=5)
        ntsd = self.start_ntsd()
        target = "127.0.0.1:%d" % ntsd.ke_port
        before = time.time()
        doc = self._run_json(target, 1, "127.0.0.1")
        after = time.time()
        leaf = self._check_leaf(doc, self.cert, before, after)
        self.assertEqual(leaf["key"], "RSA 2048", leaf)
        self.assertLess(leaf["days_left"], 14, leaf)
        kinds = [w["kind"] for w in doc["warnings"]]
        self.assertEqual(kinds, ["certificate_expiry"], doc["warnings"])
        self.assertIn(leaf["not_after"], doc["warnings"][0]["message"])
        # Information only: exit 0, the warning on stderr; 3 when asked to fail on it.
        res = self.nts_query(target, "--timeout", "5")
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self.assertRegex(res.stderr, r"(?m)^nts-query: warning: server certificate .* expires")
        res = self.nts_query(target, "--json", "--timeout", "5", "--fail-on-warning")
        self.assertEqual(res.returncode, 3, (res.stdout, res.stderr))
        self.assertIs(json.loads(res.stdout)["ok"], True, res.stdout)

    def test_chain_with_intermediate(self):
        # root CA (trusted by the client) -> intermediate -> leaf; ntsd sends leaf + intermediate.
        d = os.path.join(self.tmp, "pki")
        os.makedirs(d)
        p = lambda name: os.path.join(d, name)

        def openssl(*args):
            res = subprocess.run(["openssl"] + list(args), capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(res.returncode, 0, res.stderr)

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", p("root.key"), "-out", p("root.pem"),
                "-days", "30", "-subj", "/CN=Test Root", "-addext",
                "basicConstraints=critical,CA:TRUE")
        openssl("req", "-new", *ec, "-keyout", p("int.key"), "-out", p("int.csr"),
                "-subj", "/CN=Test Intermediate")
        with open(p("int.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:TRUE,pathlen:0\n"
                    "keyUsage=critical,keyCertSign,cRLSign\n")
        openssl("x509", "-req", "-in", p("int.csr"), "-CA", p("root.pem"), "-CAkey",
                p("root.key"), "-CAcreateserial", "-out", p("int.pem"), "-days", "12",
                "-sha384", "-extfile", p("int.ext"))
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", p("leaf.key"), "-out", p("leaf.csr"),
                "-subj", "/CN=localhost")
        with open(p("leaf.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", p("leaf.csr"), "-CA", p("int.pem"), "-CAkey",
                p("int.key"), "-CAcreateserial", "-out", p("leaf.pem"), "-days", "10",
                "-sha256", "-extfile", p("leaf.ext"))
        with open(p("fullchain.pem"), "w") as f:
            for name in ("leaf.pem", "int.pem"):
                with open(p(name)) as part:
                    f.write(part.read())
        self.cert, self.key = p("fullchain.pem"), p("leaf.key")
        ntsd = self.start_ntsd()
        target = "127.0.0.1:%d" % ntsd.ke_port
        before = time.time()
        res = self.nts_query(target, "--json", "--timeout", "5", ca=p("root.pem"))
        after = time.time()
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        doc = json.loads(res.stdout)
        chain = doc["ke"]["certificates"]
        self.assertEqual([c["subject"] for c in chain], ["CN=localhost", "CN=Test Intermediate"])
        self.assertEqual([c["issuer"] for c in chain], ["CN=Test Intermediate", "CN=Test Root"])
        self.assertEqual([c["key"] for c in chain], ["EC P-256", "EC P-384"])
        for c, pem in zip(chain, ("leaf.pem", "int.pem")):
            facts = cert_facts(p(pem))
            self.assertEqual(c["signature_algorithm"], facts["signature_algorithm"], c)
            self.assertEqual(c["not_after"], facts["not_after_iso"], c)
            self.assertTrue(days_left(facts["not_after"], after) <= c["days_left"] <=
                            days_left(facts["not_after"], before), (c, facts))
        self.assertEqual(chain[1]["dns_names"], [], chain)
        # Both expire within 14 days: one warning each, the leaf first.
        messages = [w["message"] for w in doc["warnings"] if w["kind"] == "certificate_expiry"]
        self.assertEqual(len(messages), 2, doc["warnings"])
        self.assertTrue(messages[0].startswith("server certificate (CN=localhost)"), messages)
        self.assertTrue(messages[1].startswith("certificate 2 in the chain (CN=Test "
                                               "Intermediate)"), messages)
        res = self.nts_query(target, "--timeout", "5", ca=p("root.pem"))
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self.assertRegex(res.stdout, r"(?m)^Certificate 1/2: +CN=localhost$")
        self.assertRegex(res.stdout, r"(?m)^Certificate 2/2: +CN=Test Intermediate$")

    def test_unsynchronised_server_warns(self):
        # ntsd with an upstream nobody answers serves LI 3, stratum 16 (0 on the wire).
        dead = free_port("udp")
        ntsd = self.start_ntsd(source_args=["--time-source", "upstream",
                                            "--upstream", "127.0.0.1:%d" % dead])
        target = "127.0.0.1:%d" % ntsd.ke_port
        doc = self._run_json(target, 2, "127.0.0.1", "--interval", "0.1")
        self.assertIs(doc["ok"], True, doc)
        for e in doc["exchanges"]:
            self.assertEqual((e["leap"], e["stratum"]), (3, 0), e)
        self._check_timings(doc)
        unsync = [w["message"] for w in doc["warnings"] if w["kind"] == "unsynchronised"]
        self.assertTrue(any("leap indicator 3" in m for m in unsync), doc["warnings"])
        self.assertTrue(any("stratum 0" in m for m in unsync), doc["warnings"])
        self.assertNotIn("certificate_expiry", [w["kind"] for w in doc["warnings"]])
        res = self.nts_query(target, "--timeout", "5")
        self.assertEqual(res.returncode, 0, (res.stdout, res.stderr))
        self.assertRegex(res.stderr, r"(?m)^nts-query: warning: server is unsynchronised: "
                                     r"leap indicator 3$")

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
