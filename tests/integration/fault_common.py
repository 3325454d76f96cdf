"""Helpers for the fault tests (issue #15): ntsd under libfaketime, plain-NTP ntsd
instances as upstreams, and a minimal metrics scrape.

libfaketime (Debian package `faketime`) is preloaded with FAKETIME_TIMESTAMP_FILE
and FAKETIME_NO_CACHE=1, so a test changes the process's clock at run time by
rewriting one file ("+0", "+1h", "-3h", "+2d").  It intercepts clock_gettime() and
friends in libc; kernel timestamps (SO_TIMESTAMPNS on received datagrams) stay
real, so an ntsd an hour ahead is measured about 1800 s ahead by NTP clients
(receive real, transmit faked): off all the same.
"""

import os
import re
import shutil
import socket
import subprocess
import time

from ntsd_harness import bin_dir, free_port, host_port, ntp_query, wait_until

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def _asan_runtime():
    """The AddressSanitizer runtime the ntsd under test links, or None. ASan must
    be the first library loaded, so under the sanitizers it is preloaded ahead of
    libfaketime instead of being refused at start."""
    binary = os.path.join(bin_dir(), "ntsd")
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("libasan") and "=>" in parts and len(parts) > 2:
            return parts[2]
    return None


def faketime_preload():
    """LD_PRELOAD for an ntsd under libfaketime."""
    asan = _asan_runtime()
    return asan + ":" + FAKETIME_LIB if asan else FAKETIME_LIB


def remove_faketime_segments(pid):
    """libfaketime (0.9.10) gives each process it is preloaded in a shared memory
    segment and a semaphore named after its pid (/dev/shm/faketime_shm_PID,
    sem.faketime_sem_PID) and removes them when the process exits normally. A
    SIGKILL leaves them behind, and a later `faketime` that gets the same pid then
    fails (sem_open: File exists): remove them once such a process is gone."""
    for name in ("faketime_shm_%d" % pid, "sem.faketime_sem_%d" % pid):
        try:
            os.unlink(os.path.join("/dev/shm", name))
        except FileNotFoundError:
            pass


class FakeClock:
    """A clock offset file for libfaketime; set() takes effect at the next clock read."""

    def __init__(self, directory, offset="+0"):
        self.path = os.path.join(directory, "faketime-%d" % id(self))
        self.set(offset)

    def set(self, offset):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.replace(tmp, self.path)  # never a half-written offset

    def env(self):
        env = dict(os.environ)
        env["LD_PRELOAD"] = faketime_preload()
        env["FAKETIME_TIMESTAMP_FILE"] = self.path
        env["FAKETIME_NO_CACHE"] = "1"
        # A wall-clock step leaves CLOCK_MONOTONIC alone.
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        return env


def require_faketime(test):
    if not os.path.exists(FAKETIME_LIB) or shutil.which("faketime") is None:
        test.fail("libfaketime is missing (apt-get install faketime; scripts/install-deps.sh)")


def start_ntp_ntsd(test, args, env=None, name="ntsd", ready=None, timeout=15.0):
    """ntsd serving plain NTP only on a free loopback port; waits until an answer
    satisfies `ready` (default: any server answer).  Returns (process, port)."""
    test.require_file(test.ntsd_bin, "ntsd")
    ready = ready or (lambda reply: reply.mode == 4)
    proc = None
    for _ in range(4):
        port = free_port("udp")
        argv = [test.ntsd_bin, "--ke-listen", "none", "--ntp-listen",
                host_port("127.0.0.1", port), "--log-level", "debug"] + list(args)
        proc = test.spawn(name, argv, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            _, reply = ntp_query("127.0.0.1", port, timeout=0.3)
            if reply is not None and ready(reply):
                return proc, port
            time.sleep(0.05)
        if "in use" not in proc.stderr().lower():
            break
    test.fail("ntsd did not start:\n%s" % proc.logs())


def wait_reply(port, predicate, timeout):
    def check():
        _, reply = ntp_query("127.0.0.1", port, timeout=0.3)
        return reply if reply is not None and predicate(reply) else None
    return wait_until(check, timeout, interval=0.1)


def metrics_port(test, proc, timeout=10.0):
    pattern = re.compile(r"metrics listening on 127\.0\.0\.1:(\d+) \(HTTP")
    found = wait_until(lambda: pattern.search(proc.stderr()), timeout)
    test.assertTrue(found, "no 'metrics listening on' line:\n" + proc.logs())
    return int(found.group(1))


def scrape(port):
    """{"name{labels}": float} from GET /metrics."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            part = s.recv(65536)
            if not part:
                break
            data += part
    _, _, body = data.partition(b"\r\n\r\n")
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out
