#!/usr/bin/env python3
"""Runs a command under the systemd unit's SystemCallFilter=, emulated.

systemd does not run here, so the unit's effective allow-list is computed as
check_unit_syscalls.py does (systemd-analyze syscall-filter) and loaded with
libseccomp through ctypes: calls outside it fail with EPERM, as with the unit's
SystemCallErrorNumber=EPERM. Then the command is exec'd.

Usage: run_under_unit_filter.py UNIT COMMAND [ARGS...]
"""
import ctypes
import ctypes.util
import errno
import os
import sys

from check_unit_syscalls import unit_allow_list

SCMP_ACT_ALLOW = 0x7FFF0000


def scmp_act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def load_filter(allowed: set[str]) -> int:
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(scmp_act_errno(errno.EPERM))
    if not ctx:
        raise SystemExit("seccomp_init failed")
    added = 0
    for name in sorted(allowed):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # not a call on this architecture
            continue
        if lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0:
            raise SystemExit(f"seccomp_rule_add {name} failed")
        added += 1
    # systemd applies the filter before it execs the service: allow the exec itself.
    lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, lib.seccomp_syscall_resolve_name(b"execve"), 0)
    if lib.seccomp_load(ctx) != 0:
        raise SystemExit("seccomp_load failed")
    return added


def main() -> None:
    unit_path, argv = sys.argv[1], sys.argv[2:]
    with open(unit_path) as f:
        allowed = unit_allow_list(f.read())
    load_filter(allowed)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
