#!/usr/bin/env python3
"""ntsd with `source = "kernel"` under the unit's system call filter (emulated).

Runs the built ntsd through run_under_unit_filter.py twice: under the unit as
shipped, the kernel source reads the clock state (no "adjtimex" error); under the
same unit without its `SystemCallFilter=adjtimex clock_adjtime` line (the unit
before the fix), adjtimex fails with EPERM, which proves the emulation bites.
`ntsd --check-config --time-source kernel` under each says the same: OK under the
shipped unit, exit 2 naming --time-source under the unit without the line.

Usage: check_unit_filter_kernel.py UNIT NTSD_BINARY
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_kernel_source(unit: str, ntsd: str) -> str:
    argv = [sys.executable, os.path.join(HERE, "run_under_unit_filter.py"), unit, ntsd,
            "--ke-listen", "none", "--ntp-listen", "127.0.0.1:%d" % free_udp_port(),
            "--time-source", "kernel"]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and proc.poll() is None:
                log.seek(0)
                if " ready" in log.read():
                    break
                time.sleep(0.1)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.seek(0)
        return log.read()


def check_config(unit: str, ntsd: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, os.path.join(HERE, "run_under_unit_filter.py"), unit, ntsd,
            "--check-config", "--ke-listen", "none", "--time-source", "kernel"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def main() -> int:
    unit, ntsd = sys.argv[1], sys.argv[2]
    shipped = run_kernel_source(unit, ntsd)
    if " ready" not in shipped or "time source kernel" not in shipped:
        print("ntsd did not start under the unit's filter:\n" + shipped)
        return 1
    if "adjtimex" in shipped:
        print("the unit's filter breaks the kernel time source:\n" + shipped)
        return 1
    with open(unit) as f:
        lines = f.read().splitlines()
    without = [l for l in lines if not l.startswith("SystemCallFilter=adjtimex")]
    if len(without) == len(lines):
        print("the unit has no SystemCallFilter=adjtimex line to take away")
        return 1
    with tempfile.NamedTemporaryFile("w", suffix=".service", delete=False) as f:
        f.write("\n".join(without) + "\n")
        old_unit = f.name
    try:
        old = run_kernel_source(old_unit, ntsd)
        old_check = check_config(old_unit, ntsd)
    finally:
        os.unlink(old_unit)
    if "adjtimex: Operation not permitted" not in old:
        print("control failed: without the adjtimex line the emulated filter did not refuse it:\n"
              + old)
        return 1
    shipped_check = check_config(unit, ntsd)
    if shipped_check.returncode != 0 or "configuration OK" not in shipped_check.stdout:
        print("--check-config fails under the shipped unit's filter: exit %d\n%s%s"
              % (shipped_check.returncode, shipped_check.stdout, shipped_check.stderr))
        return 1
    if (old_check.returncode != 2 or "--time-source" not in old_check.stderr
            or "adjtimex: Operation not permitted" not in old_check.stderr):
        print("--check-config did not report the refused adjtimex (exit %d, want 2):\n%s%s"
              % (old_check.returncode, old_check.stdout, old_check.stderr))
        return 1
    print("kernel time source works under the unit's filter; without its adjtimex line it "
          "fails with EPERM, as the emulation should show, and --check-config says so: "
          + old_check.stderr.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
