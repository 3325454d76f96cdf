"""NTS-KE on several threads (--ke-threads): each thread has its own listener in
one SO_REUSEPORT group per address, and a classic BPF program steers each client
address to one thread, so its per-address connection rate limit stays exact."""

import hashlib
import os
import re
import signal
import socket
import time
import unittest

from ntsd_harness import (KE_END, KE_ERROR, KE_NEW_COOKIE, NtsdTestCase, ke_request,
                          parse_ke_records, read_until_tls_close, tls_client_context,
                          wait_until)
from hostile_common import refused
from test_reload import TestCa, fingerprint_of_file, replace_file

THREADS = 4
WAIT = 10.0


def steered_thread(address, threads=THREADS):
    """The thread server/reuseport_steering.cpp sends an IPv4 address to (prefix /32)."""
    value = int.from_bytes(socket.inet_aton(address), "big")
    return (((value * 0x9E3779B1) & 0xFFFFFFFF) >> 16) % threads


def listeners_on(port):
    """TCP sockets listening on `port` (any local address), from /proc/net/tcp."""
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                count += 1
    return count


def connect_from(port, source, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def ke_from(cafile, port, source):
    """One whole NTS-KE from `source`: (server certificate SHA-256, records)."""
    raw = connect_from(port, source)
    with tls_client_context(cafile).wrap_socket(raw, server_hostname="localhost") as tls:
        fingerprint = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
        tls.sendall(ke_request())
        data = read_until_tls_close(tls)
    return fingerprint, parse_ke_records(data)


class KeThreadsTest(NtsdTestCase):

    def assert_valid(self, records):
        types = [t for _, t, _ in records]
        self.assertNotIn(KE_ERROR, types, records)
        self.assertEqual(types[-1:], [KE_END], records)
        self.assertEqual(types.count(KE_NEW_COOKIE), 8)

    def test_sessions_from_many_addresses_are_all_served(self):
        server = self.start_ntsd(extra=["--ke-threads", str(THREADS)])
        self.assertEqual(listeners_on(server.ke_port), THREADS)
        sources = ["127.0.40.%d" % i for i in range(1, 41)]
        self.assertEqual({steered_thread(s) for s in sources}, set(range(THREADS)))
        for source in sources:
            _, records = ke_from(self.cert, server.ke_port, source)
            self.assert_valid(records)
        server.proc.stop()
        self.assertIn("NTS-KE listening on 127.0.0.1:%d (TCP, 4 threads)" % server.ke_port,
                      server.proc.stderr())

    def test_rate_limit_per_address_is_exact_over_many_source_ports(self):
        server = self.start_ntsd(extra=["--ke-threads", str(THREADS), "--ke-rate-limit", "1",
                                        "--ke-rate-burst", "5"])
        # Without steering the kernel spreads one address's ports over the threads,
        # each with a burst of its own: more than 5 would be admitted.
        for source in ("127.0.41.1", "127.0.41.2", "127.0.41.3"):
            conns = []
            for _ in range(12):
                try:
                    conns.append(connect_from(server.ke_port, source))
                except ConnectionResetError:
                    conns.append(None)
            self.addCleanup(lambda c=conns: [s.close() for s in c if s])
            time.sleep(0.3)
            self.assertEqual(refused(conns), 7, source)
        # Other addresses are still served.
        _, records = ke_from(self.cert, server.ke_port, "127.0.41.9")
        self.assert_valid(records)

    def test_certificate_reload_reaches_every_thread(self):
        ca = TestCa(os.path.join(self.tmp, "ca"))
        live = os.path.join(self.tmp, "live")
        os.makedirs(live)
        cert, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
        first_cert, first_key = ca.leaf(["localhost"])
        replace_file(first_cert, cert)
        replace_file(first_key, key)
        self.cert, self.key = cert, key
        server = self.start_ntsd(extra=["--ke-threads", str(THREADS), "--cert-poll", "0",
                                        "--ke-rate-limit", "0"])
        sources = ["127.0.42.%d" % i for i in range(1, 17)]
        self.assertEqual({steered_thread(s) for s in sources}, set(range(THREADS)))
        old = fingerprint_of_file(cert)
        for source in sources:
            self.assertEqual(ke_from(ca.cert, server.ke_port, source)[0], old)

        new_cert, new_key = ca.leaf(["localhost"])
        replace_file(new_key, key)
        replace_file(new_cert, cert)
        def loaded():
            return len(re.findall(r"TLS certificate \S*cert\.pem loaded", server.proc.stderr()))
        before = loaded()
        os.kill(server.proc.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: loaded() > before, WAIT), "no reload logged after SIGHUP")
        new = fingerprint_of_file(cert)
        self.assertNotEqual(new, old)
        for source in sources:
            fingerprint, records = ke_from(ca.cert, server.ke_port, source)
            self.assertEqual(fingerprint, new, source)
            self.assert_valid(records)


if __name__ == "__main__":
    unittest.main()
