"""Helpers for the hostile-traffic integration tests (test_hostile_*.py)."""

import os
import socket
import struct
import time

from ntsd_harness import REPO_ROOT, bin_dir, client_packet, NtpReply


def load_generator(name):
    return os.path.join(bin_dir(), name)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def sanitized(pid):
    """Whether the process runs with AddressSanitizer (RSS means little then)."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


def udp_from(source, host, port, payload, timeout=0.5):
    """Sends one datagram from `source` (a loopback address); returns the reply
    bytes or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        try:
            return s.recvfrom(65536)[0]
        except socket.timeout:
            return None


def healthy(test, server, host="127.0.0.1"):
    """The server still answers a plain NTP query and is still running."""
    test.assertIsNone(server.proc.poll(), "ntsd exited")
    for _ in range(3):
        data = udp_from(host, host, server.ntp_port, client_packet(), timeout=1.0)
        if data is not None:
            reply = NtpReply(data)
            test.assertEqual(reply.mode, 4)
            return
    test.fail("ntsd stopped answering plain NTP")


def field(ftype, body):
    pad = (-len(body)) % 4
    return struct.pack("!HH", ftype, 4 + len(body) + pad) + body + b"\0" * pad


def authenticator(nonce_len=16, ct_len=16, extra=b""):
    nonce = os.urandom(nonce_len)
    ct = os.urandom(ct_len)
    body = struct.pack("!HH", nonce_len, ct_len) + nonce + b"\0" * ((-nonce_len) % 4) + ct + \
        b"\0" * ((-ct_len) % 4) + extra
    return struct.pack("!HH", 0x0404, 4 + len(body)) + body


UID = 0x0104
COOKIE = 0x0204
PLACEHOLDER = 0x0304
AUTH = 0x0404
COOKIE_LEN_256 = 102  # key id 4 + nonce 16 + tag 16 + (2 + 32 + 32)


def current_key_id(rotation=86400):
    return int(time.time()) // rotation


def connect_or_reset(port, source):
    """A TCP connection from `source`, or None when the server reset it so fast
    that connect() itself saw the reset."""
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=2,
                                        source_address=(source, 0))
    except ConnectionResetError:
        return None


def refused(sockets):
    """How many of `sockets` (None: reset during connect) the server closed or reset."""
    count = 0
    for s in sockets:
        if s is None:
            count += 1
            continue
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                count += 1
        except BlockingIOError:
            pass
        except ConnectionResetError:
            count += 1
    return count
