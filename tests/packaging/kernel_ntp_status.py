#!/usr/bin/env python3
"""Reads or sets the kernel's NTP status: what a time daemon tells the kernel.

The clean-machine test plays the part of the time daemon the package recommends
(chronyd): `mark-synchronised` does what chronyd does once it is synchronised,
adjtimex(ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR) clearing STA_UNSYNC with a small
maximum error. It changes neither the time nor the frequency, only what the kernel
reports (and, while it says synchronised, the kernel copies the system time to the
RTC every 11 minutes, as it does under chronyd's rtcsync). It prints the state it
replaced, which `restore` puts back. Needs CAP_SYS_TIME for all but `show`.

Usage: kernel_ntp_status.py show
       kernel_ntp_status.py mark-synchronised > SAVED    (prints "STATUS MAXERROR ESTERROR")
       kernel_ntp_status.py restore SAVED
`show` prints "synchronised" or "unsynchronised", then status, maxerror and esterror.
"""
import ctypes
import os
import sys

ADJ_MAXERROR = 0x0004
ADJ_ESTERROR = 0x0008
ADJ_STATUS = 0x0010
STA_UNSYNC = 0x0040
TIME_ERROR = 5

SYNCHRONISED_MAXERROR_US = 50_000  # ntsd's default --max-error-ms is 1000
SYNCHRONISED_ESTERROR_US = 1_000


class Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class Timex(ctypes.Structure):
    """struct timex of <sys/timex.h> (Linux, LP64 and ILP32 alike: longs and ints)."""
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("constant", ctypes.c_long),
                ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("reserved", ctypes.c_int * 11)]


_libc = ctypes.CDLL(None, use_errno=True)


def adjtimex(tx: Timex) -> int:
    state = _libc.adjtimex(ctypes.byref(tx))
    if state < 0:
        err = ctypes.get_errno()
        raise SystemExit(f"adjtimex: {os.strerror(err)}")
    return state


def read() -> tuple[int, Timex]:
    tx = Timex()  # modes 0: read only
    return adjtimex(tx), tx


def write(status: int, maxerror: int, esterror: int) -> None:
    tx = Timex()
    tx.modes = ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR
    tx.status, tx.maxerror, tx.esterror = status, maxerror, esterror
    adjtimex(tx)


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "show":
        state, tx = read()
        synced = not (tx.status & STA_UNSYNC) and state != TIME_ERROR
        print("synchronised" if synced else "unsynchronised", tx.status, tx.maxerror, tx.esterror)
        return 0
    if command == "mark-synchronised":
        _, tx = read()
        print(tx.status, tx.maxerror, tx.esterror, flush=True)
        write(tx.status & ~STA_UNSYNC, SYNCHRONISED_MAXERROR_US, SYNCHRONISED_ESTERROR_US)
        return 0
    if command == "restore" and len(sys.argv) == 3:
        with open(sys.argv[2]) as f:
            status, maxerror, esterror = (int(x) for x in f.read().split())
        write(status, maxerror, esterror)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
