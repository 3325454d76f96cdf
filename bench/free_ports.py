#!/usr/bin/env python3
"""Prints N free loopback ports the kernel picked, space-separated (bench/*.sh read
them with `read -r A B ... < <(python3 bench/free_ports.py N)`). Each port is bound
until all are chosen, so the N are distinct; the usual race with other processes
between here and ntsd's bind remains."""
import socket
import sys

count = int(sys.argv[1])
socks = []
for _ in range(count):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
