"""What test_xdp.py runs inside a network namespace (`ip netns exec NS python3
xdp_client.py COMMAND ...`): one-shot NTP queries, an ICMP echo, a UDP flood and a
metrics scrape, each printing one JSON line. Python 3 stdlib only."""

import json
import os
import socket
import struct
import sys
import time
import urllib.request

import ntsd_harness as h


def _query(host, port, source=None):
    """One plain NTPv4 query from a fresh socket: (reply, the client's clock just
    before sending, just after receiving), or None if no server reply to it came."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        if source:
            s.bind((source, 0))
        s.settimeout(1.0)
        request = h.client_packet()
        sent = time.time()
        s.sendto(request, (host, port))
        try:
            data, _ = s.recvfrom(2048)
        except socket.timeout:
            return None
        received = time.time()
    reply = h.NtpReply(data)
    if reply.mode != 4 or data[24:32] != request[40:48]:
        return None
    return reply, sent, received


def ntp(host, port, count, source=None):
    """`count` plain NTPv4 queries, one after the other; how many were answered
    in server mode with a transmit timestamp."""
    answered = 0
    for _ in range(count):
        if _query(host, port, source):
            answered += 1
        time.sleep(0.02)
    return {"answered": answered, "sent": count}


def stamps(host, port, count):
    """`count` plain queries; per answer the client's clock just before sending and
    just after receiving, and the reply's receive and transmit timestamps, all as
    seconds since the Unix epoch (the namespaces share one system clock)."""
    out = []
    for _ in range(count):
        answer = _query(host, port)
        if answer:
            reply, sent, received = answer
            out.append({"sent": sent, "received": received,
                        "rx": reply.receive / 2.0**32 - h.NTP_UNIX_DELTA,
                        "tx": reply.transmit / 2.0**32 - h.NTP_UNIX_DELTA})
        time.sleep(0.02)
    return {"answers": out}


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ping(host):
    """One ICMP (or ICMPv6) echo over a raw socket: whether the reply came."""
    v6 = ":" in host
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.getprotobyname("ipv6-icmp"))
        kind, reply_kind = 128, 129  # the kernel fills in the ICMPv6 checksum
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        kind, reply_kind = 8, 0
    ident = os.getpid() & 0xFFFF
    body = b"ntsd-xdp-test"
    header = struct.pack("!BBHHH", kind, 0, 0, ident, 1)
    if not v6:
        header = struct.pack("!BBHHH", kind, 0, _checksum(header + body), ident, 1)
    s.settimeout(0.5)
    deadline = time.monotonic() + 3
    with s:
        s.sendto(header + body, (host, 0))
        while time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(2048)
            except socket.timeout:
                s.sendto(header + body, (host, 0))
                continue
            icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
            if len(icmp) >= 8 and icmp[0] == reply_kind and struct.unpack("!H", icmp[4:6])[0] == ident:
                return {"ok": True}
    return {"ok": False}


def flood(host, port, source, count):
    """`count` plain requests from `source` as fast as the socket takes them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    request = h.client_packet()
    sent = 0
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        for _ in range(count):
            try:
                s.sendto(request, (host, port))
                sent += 1
            except (BlockingIOError, OSError):
                time.sleep(0.001)
    return {"sent": sent}


def metrics(address):
    text = urllib.request.urlopen("http://%s/metrics" % address, timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def main(argv):
    command = argv[0]
    if command == "ntp":
        result = ntp(argv[1], int(argv[2]), int(argv[3]), argv[4] if len(argv) > 4 else None)
    elif command == "stamps":
        result = stamps(argv[1], int(argv[2]), int(argv[3]))
    elif command == "ping":
        result = ping(argv[1])
    elif command == "flood":
        result = flood(argv[1], int(argv[2]), argv[3], int(argv[4]))
    elif command == "metrics":
        result = metrics(argv[1])
    else:
        raise SystemExit("unknown command " + command)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
