#!/usr/bin/env python3
"""Runs a command under the systemd unit's SystemCallFilter=, emulated.

systemd does not run here, so the unit's effective allow-list is computed as
check_unit_syscalls.py does (systemd-analyze syscall-filter) and loaded with
libseccomp through ctypes: calls outside it fail with EPERM, as with the unit's
SystemCallErrorNumber=EPERM. Then the command is exec'd.

With --chroot DIR and --user UID:GID the command runs in DIR (the clean-machine
test's chroot, COMMAND a path inside it) as that user, switched to before the
filter is loaded, as systemd applies User= before SystemCallFilter=.

Usage: run_under_unit_filter.py [--chroot DIR] [--user UID:GID] UNIT COMMAND [ARGS...]
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


def open_libseccomp() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def load_filter(lib: ctypes.CDLL, allowed: set[str]) -> int:
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


def enter(root: str | None, user: str | None) -> None:
    """Into the chroot, then to the user: what systemd does before it loads the filter."""
    if root is not None:
        os.chroot(root)
        os.chdir("/")
    if user is not None:
        uid, gid = (int(x) for x in user.split(":"))
        os.setgroups([gid])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)


def main() -> None:
    args = sys.argv[1:]
    options: dict[str, str] = {}
    while args and args[0] in ("--chroot", "--user"):
        options[args[0]] = args[1]
        args = args[2:]
    unit_path, argv = args[0], args[1:]
    with open(unit_path) as f:
        allowed = unit_allow_list(f.read())
    # Before the chroot: this machine's systemd-analyze and libseccomp.
    lib = open_libseccomp()
    enter(options.get("--chroot"), options.get("--user"))
    load_filter(lib, allowed)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
