"""Certificate reload, SNI, expiry warnings and the log file (issue 6 items 3 and 4).

A test CA made with the openssl CLI signs every leaf, so clients verify the chain
and tell leaves apart by their SHA-256 fingerprint.  Replacements are written the
way renewal tools do: a new file renamed over the old one, or a symlink moved.
"""

import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import unittest

from ntsd_harness import (KE_AEAD, KE_END, KE_ERROR, KE_NEW_COOKIE, NtsdTestCase, ke_request,
                          parse_ke_records, wait_until)

WAIT = 10.0  # seconds: bound on every wait for ntsd to notice something


def openssl(*args):
    res = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), res.stderr))


class TestCa:
    """A throw-away CA that signs leaf certificates for given DNS names."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.key = os.path.join(directory, "ca.key")
        self.cert = os.path.join(directory, "ca.pem")
        self.count = 0
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.key)
        openssl("req", "-x509", "-new", "-key", self.key, "-out", self.cert, "-days", "30",
                "-subj", "/CN=ntsd reload test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def leaf(self, names, days=30):
        """-> (cert_path, key_path) of a new leaf for `names` (DNS names; localhost also
        gets IP:127.0.0.1), valid `days` days, in a fresh file pair."""
        self.count += 1
        base = os.path.join(self.dir, "leaf%d" % self.count)
        key, csr, cert, ext = base + ".key", base + ".csr", base + ".pem", base + ".ext"
        sans = ["DNS:%s" % n for n in names]
        if "localhost" in names:
            sans.append("IP:127.0.0.1")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % ",".join(sans))
            f.write("basicConstraints=critical,CA:FALSE\n")
            f.write("keyUsage=critical,digitalSignature\n")
            f.write("extendedKeyUsage=serverAuth\n")
            f.write("subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        openssl("req", "-new", "-key", key, "-subj", "/CN=%s" % names[0], "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-set_serial", str(1000 + self.count), "-days", str(days), "-extfile", ext,
                "-out", cert)
        return cert, key


def fingerprint_of_file(cert_path):
    with open(cert_path) as f:
        pem = f.read()
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def replace_file(source, target):
    """Renames a copy of source over target: readers see the old or the new file."""
    tmp = target + ".new"
    with open(source, "rb") as f, open(tmp, "wb") as out:
        out.write(f.read())
    os.replace(tmp, target)


class ReloadTest(NtsdTestCase):

    def setUp(self):
        super().setUp()
        self.ca = TestCa(os.path.join(self.tmp, "ca"))
        self.live = os.path.join(self.tmp, "live")
        os.makedirs(self.live)
        # What ntsd is told to read; the tests replace these files.
        self.cert = os.path.join(self.live, "cert.pem")
        self.key = os.path.join(self.live, "key.pem")
        first_cert, first_key = self.ca.leaf(["localhost"])
        replace_file(first_cert, self.cert)
        replace_file(first_key, self.key)

    # helpers -------------------------------------------------------------------

    def client_context(self, check_hostname=True):
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca.cert)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.set_alpn_protocols(["ntske/1"])
        ctx.check_hostname = check_hostname
        return ctx

    def connect(self, server, server_hostname="localhost"):
        """A TLS connection with its handshake done."""
        ctx = self.client_context(check_hostname=server_hostname is not None)
        raw = socket.create_connection(("127.0.0.1", server.ke_port), timeout=5)
        try:
            tls = ctx.wrap_socket(raw, server_hostname=server_hostname)
        except Exception:
            raw.close()
            raise
        self.assertEqual(tls.selected_alpn_protocol(), "ntske/1")
        return tls

    def served_fingerprint(self, server, server_hostname="localhost"):
        with self.connect(server, server_hostname) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()

    def ke_response(self, tls):
        tls.sendall(ke_request())
        data = b""
        while True:
            try:
                part = tls.recv(65536)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError):
                break
            if not part:
                break
            data += part
        return parse_ke_records(data)

    def assert_valid_response(self, records):
        types = [t for _, t, _ in records]
        self.assertNotIn(KE_ERROR, types, records)
        self.assertEqual(types[-1], KE_END)
        self.assertIn(KE_AEAD, types)
        self.assertEqual(types.count(KE_NEW_COOKIE), 8)

    def log_count(self, proc, pattern):
        return len(re.findall(pattern, proc.stderr()))

    def hup_and_wait(self, server, pattern):
        """Sends SIGHUP and waits until one more line matches `pattern`."""
        before = self.log_count(server.proc, pattern)
        os.kill(server.proc.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: self.log_count(server.proc, pattern) > before, WAIT),
                        "no new line matching %r after SIGHUP" % pattern)

    def config_file(self, text):
        path = os.path.join(self.tmp, "ntsd.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    # tests ---------------------------------------------------------------------

    def test_sighup_reloads_certificate_keeps_listener_and_running_session(self):
        # A long KE timeout so the session opened before the reload may wait for it.
        config = self.config_file("[nts-ke]\ntimeout-ms = 20000\n")
        server = self.start_ntsd(extra=["--config", config, "--cert-poll", "0"])
        old = fingerprint_of_file(self.cert)
        self.assertEqual(self.served_fingerprint(server), old)

        in_flight = self.connect(server)
        self.assertEqual(hashlib.sha256(in_flight.getpeercert(binary_form=True)).hexdigest(), old)

        new_cert, new_key = self.ca.leaf(["localhost"])
        replace_file(new_key, self.key)
        replace_file(new_cert, self.cert)
        self.hup_and_wait(server, r"TLS certificate .*cert\.pem loaded")
        new = fingerprint_of_file(self.cert)
        self.assertNotEqual(new, old)
        self.assertEqual(self.served_fingerprint(server), new)

        # The session whose handshake came first still gets a whole answer.
        with in_flight:
            self.assert_valid_response(self.ke_response(in_flight))
        # And a new session on the new certificate too.
        with self.connect(server) as tls:
            self.assert_valid_response(self.ke_response(tls))

        # Same process, same port, still accepting: nothing restarted.
        self.assertIsNone(server.proc.poll())
        self.assertNotIn("stopping", server.proc.stderr())
        self.hup_and_wait(server, r"received SIGHUP")
        self.assertIsNone(server.proc.poll())
        self.assertEqual(self.served_fingerprint(server), new)

    def test_broken_replacement_keeps_old_certificate(self):
        server = self.start_ntsd(extra=["--cert-poll", "0"])
        good = fingerprint_of_file(self.cert)

        # Garbage instead of PEM.
        with open(self.cert + ".bad", "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        saved = self.cert + ".saved"
        replace_file(self.cert, saved)
        os.replace(self.cert + ".bad", self.cert)
        self.hup_and_wait(server, r"not reloaded.*cannot load certificate chain .*cert\.pem")
        self.assertEqual(self.served_fingerprint(server), good)

        # A valid certificate whose key is not the one beside it.
        other_cert, _ = self.ca.leaf(["localhost"])
        replace_file(other_cert, self.cert)
        self.hup_and_wait(server, r"not reloaded.*key\.pem: .*key values mismatch")
        self.assertEqual(self.served_fingerprint(server), good)
        with self.connect(server) as tls:
            self.assert_valid_response(self.ke_response(tls))
        self.assertIsNone(server.proc.poll())

    def test_file_change_is_picked_up_without_sighup(self):
        # certbot's layout: live/*.pem are symlinks into archive/, moved on renewal.
        archive = os.path.join(self.tmp, "archive")
        os.makedirs(archive)
        os.replace(self.cert, os.path.join(archive, "cert1.pem"))
        os.replace(self.key, os.path.join(archive, "key1.pem"))
        os.symlink(os.path.join(archive, "cert1.pem"), self.cert)
        os.symlink(os.path.join(archive, "key1.pem"), self.key)
        server = self.start_ntsd(extra=["--cert-poll", "1"])
        old = fingerprint_of_file(self.cert)
        self.assertEqual(self.served_fingerprint(server), old)

        new_cert, new_key = self.ca.leaf(["localhost"])
        replace_file(new_cert, os.path.join(archive, "cert2.pem"))
        replace_file(new_key, os.path.join(archive, "key2.pem"))
        for name, target in (("cert.pem", "cert2.pem"), ("key.pem", "key2.pem")):
            link = os.path.join(self.live, name + ".tmp")
            os.symlink(os.path.join(archive, target), link)
            os.replace(link, os.path.join(self.live, name))
        new = fingerprint_of_file(self.cert)
        self.assertTrue(wait_until(lambda: self.served_fingerprint(server) == new, WAIT, 0.2),
                        "the new certificate was not served within %s s" % WAIT)
        self.assertNotIn("not reloaded", server.proc.stderr())

    def test_sni_chooses_the_matching_pair(self):
        other_cert, other_key = self.ca.leaf(["*.example.net"])
        config = self.config_file('[[tls.certificates]]\ncert = "%s"\nkey = "%s"\n'
                                  % (other_cert, other_key))
        server = self.start_ntsd(extra=["--config", config])
        default = fingerprint_of_file(self.cert)
        other = fingerprint_of_file(other_cert)
        self.assertEqual(self.served_fingerprint(server, "localhost"), default)
        self.assertEqual(self.served_fingerprint(server, "ntp.example.net"), other)
        self.assertEqual(self.served_fingerprint(server, None), default)
        # An unknown name gets the default (which then fails the client's name check).
        ctx = self.client_context(check_hostname=False)
        with socket.create_connection(("127.0.0.1", server.ke_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="unknown.test") as tls:
                self.assertEqual(hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest(),
                                 default)
        # The SNI-chosen pair answers NTS-KE like the default one.
        with self.connect(server, "ntp.example.net") as tls:
            self.assert_valid_response(self.ke_response(tls))

        # Each pair reloads on its own.
        newer_cert, newer_key = self.ca.leaf(["*.example.net"])
        replace_file(newer_key, other_key)
        replace_file(newer_cert, other_cert)
        self.hup_and_wait(server, r"TLS certificate .*%s loaded" % re.escape(os.path.basename(other_cert)))
        self.assertEqual(self.served_fingerprint(server, "ntp.example.net"),
                         fingerprint_of_file(newer_cert))
        self.assertEqual(self.served_fingerprint(server, "localhost"), default)

    def test_check_config_names_a_broken_pair(self):
        other_cert, _ = self.ca.leaf(["b.test"])
        _, wrong_key = self.ca.leaf(["c.test"])
        config = self.config_file('[[tls.certificates]]\ncert = "%s"\nkey = "%s"\n'
                                  % (other_cert, wrong_key))
        res = self.run_tool([self.ntsd_bin, "--check-config", "--config", config,
                             "--cert", self.cert, "--key", self.key], timeout=30)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("tls.certificates[1].key", res.stderr)
        self.assertIn("key values mismatch", res.stderr)

        config = self.config_file('[[tls.certificates]]\ncert = "%s"\n' % other_cert)
        res = self.run_tool([self.ntsd_bin, "--check-config", "--config", config,
                             "--cert", self.cert, "--key", self.key], timeout=30)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("tls.certificates[1].key", res.stderr)

    def test_log_file_is_reopened_on_sighup(self):
        log = os.path.join(self.tmp, "ntsd.log")
        server = self.start_ntsd(extra=["--log-file", log, "--cert-poll", "0"])
        self.assertTrue(wait_until(lambda: "ready" in read_text(log), WAIT))
        self.assertNotIn("ready", server.proc.stderr())  # not on stderr any more
        rotated = log + ".1"
        os.rename(log, rotated)
        os.kill(server.proc.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "TLS certificate" in read_text(log), WAIT),
                        "no new log file with the reload lines")
        with open(log) as f:
            fresh = f.read()
        self.assertIn("received SIGHUP", fresh)
        with open(rotated) as f:
            old = f.read()
        self.assertIn("ready", old)
        self.assertNotIn("received SIGHUP", old)
        self.assertIsNone(server.proc.poll())

    def test_log_file_that_cannot_be_reopened_stays_in_use(self):
        logdir = os.path.join(self.tmp, "logs")
        os.makedirs(logdir)
        log = os.path.join(logdir, "ntsd.log")
        server = self.start_ntsd(extra=["--log-file", log, "--cert-poll", "0"])
        self.assertTrue(wait_until(lambda: "ready" in read_text(log), WAIT))
        moved = os.path.join(self.tmp, "logs.moved")
        os.rename(logdir, moved)  # the name ntsd knows now leads nowhere
        os.kill(server.proc.pid, signal.SIGHUP)
        old = os.path.join(moved, "ntsd.log")
        # The error, then the reload's lines, all in the file still open.
        self.assertTrue(wait_until(lambda: re.search(r"log file not reopened(.|\n)*TLS certificate",
                                                     read_text(old)), WAIT),
                        "no error and reload lines in the file still open")
        self.assertFalse(os.path.exists(logdir))
        self.assertIsNone(server.proc.poll())

    def test_expiry_warning(self):
        soon_cert, soon_key = self.ca.leaf(["localhost"], days=5)
        replace_file(soon_key, self.key)
        replace_file(soon_cert, self.cert)
        server = self.start_ntsd(extra=["--cert-poll", "0"])
        self.assertRegex(server.proc.stderr(), r"warning TLS certificate .*cert\.pem expires in [45] days")
        self.hup_and_wait(server, r"expires in [45] days")

        # A certificate valid for long gets no warning.
        later_cert, later_key = self.ca.leaf(["localhost"], days=30)
        replace_file(later_key, self.key)
        replace_file(later_cert, self.cert)
        before = self.log_count(server.proc, r"expires in")
        self.hup_and_wait(server, r"TLS certificate .*cert\.pem loaded")
        self.assertEqual(self.log_count(server.proc, r"expires in"), before)


if __name__ == "__main__":
    unittest.main()
