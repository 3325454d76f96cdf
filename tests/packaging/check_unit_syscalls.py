#!/usr/bin/env python3
"""The systemd unit's SystemCallFilter= lets ntsd make every system call it needs.

systemd does not run here, so the unit's effective allow-list is computed the way
systemd builds it: the SystemCallFilter= lines in order, the first one without "~"
starting an allow-list, each later one adding ("name") or removing ("~name") calls,
groups expanded with `systemd-analyze syscall-filter`. Every call in ntsd's own
--seccomp allow-list (src/server/seccomp_filter.cpp) must be in it, so the two lists
cannot drift apart: `source = "kernel"` needs adjtimex, which @privileged (through
@clock) would remove.

Usage: check_unit_syscalls.py UNIT SECCOMP_FILTER_CPP
"""
import re
import subprocess
import sys

_group_cache: dict[str, set[str]] = {}


def expand(name: str) -> set[str]:
    """The system calls a filter item names: a call, or a group expanded recursively."""
    if not name.startswith("@"):
        return {name}
    if name in _group_cache:
        return _group_cache[name]
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True,
                         capture_output=True, text=True).stdout
    calls: set[str] = set()
    for line in out.splitlines()[1:]:  # the first line repeats the group's name
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        calls |= expand(item)
    if not calls:
        raise SystemExit(f"systemd-analyze knows no system call group {name}")
    _group_cache[name] = calls
    return calls


def unit_allow_list(unit_text: str) -> set[str]:
    allowed: set[str] | None = None
    for line in unit_text.splitlines():
        m = re.match(r"\s*SystemCallFilter=(.*)$", line)
        if not m:
            continue
        value = m.group(1).strip()
        deny = value.startswith("~")
        items = value.lstrip("~").split()
        if allowed is None:
            if deny:
                raise SystemExit("the unit starts with a deny-list: this check expects an allow-list")
            allowed = set()
        for item in items:
            calls = expand(item)
            allowed = allowed - calls if deny else allowed | calls
    if allowed is None:
        raise SystemExit("the unit has no SystemCallFilter= line")
    return allowed


def seccomp_allow_list(source: str) -> set[str]:
    calls = set(re.findall(r"\bSYS_([a-z0-9_]+)", source))
    if len(calls) < 50:
        raise SystemExit(f"found only {len(calls)} SYS_ names in the seccomp source: parser out of date?")
    return calls


def main() -> int:
    unit_path, seccomp_path = sys.argv[1], sys.argv[2]
    with open(unit_path) as f:
        unit = unit_allow_list(f.read())
    with open(seccomp_path) as f:
        needed = seccomp_allow_list(f.read())
    # Calls in ntsd's allow-list that ntsd never makes under the unit, each with why.
    not_under_the_unit = {
        # ntsd's filter answers clone3 with ENOSYS so that glibc uses clone.
        "clone3": "refused by ntsd's own filter too",
        # hand_over_key_file(): only when started as root with --user; the unit
        # starts ntsd as user ntsd without --user.
        "fchown": "root start with --user only",
        # The ASan/UBSan runtimes call it; a packaged ntsd is not sanitised.
        "mincore": "sanitizer runtimes only",
        # --xdp only (reading the XDP program's counters); the unit as shipped
        # does not run --xdp, which needs a drop-in with capabilities, AF_XDP and
        # SystemCallFilter=bpf (docs/xdp.md).
        "bpf": "--xdp only, with the drop-in of docs/xdp.md",
    }
    needed -= set(not_under_the_unit)
    # Calls ntsd's filter names that systemd-analyze does not know on this
    # architecture (old ones absent from aarch64, say) cannot be filtered by the unit.
    known = expand("@known") if _has_group("@known") else None
    if known is not None:
        needed &= known
    missing = sorted(needed - unit)
    for must in ("adjtimex", "clock_adjtime"):
        if must not in unit:
            missing.append(must)
    if missing:
        print(f"{unit_path}: SystemCallFilter= refuses what ntsd calls: {' '.join(sorted(set(missing)))}")
        return 1
    print(f"{unit_path}: all {len(needed)} system calls of ntsd's seccomp allow-list are allowed "
          f"(the unit allows {len(unit)})")
    return 0


def _has_group(name: str) -> bool:
    out = subprocess.run(["systemd-analyze", "syscall-filter"], check=True, capture_output=True,
                         text=True).stdout
    return any(line.strip() == name for line in out.splitlines())


if __name__ == "__main__":
    sys.exit(main())
