"""Shared harness for ntsd's integration and interop tests (Python 3 stdlib only).

Over 500 lines on purpose: the integration, hostile, fault and interop suites import
this one module, so a process, port or codec helper is written once for all of them.

What it gives a test:
  * free loopback ports (TCP, UDP, or one number free for both, on 127.0.0.1 and/or ::1),
  * a throw-away certificate made by scripts/make-dev-cert.sh in a per-test temp dir,
  * ManagedProcess: a child process whose stdout/stderr go to files, killed (by its own
    process group) in cleanup no matter how the test ends, with its logs printed when
    the test fails,
  * NtsdTestCase.start_ntsd(): starts ntsd and waits, with a deadline, until the NTS-KE
    TCP port accepts and the NTP UDP port answers a plain NTPv4 client packet,
  * small NTP and NTS-KE codecs so tests can speak raw NTP/NTS-KE from Python.

Binaries are taken from $NTSD_BIN_DIR (ctest sets it to ${CMAKE_BINARY_DIR}/bin), or
<repo>/build/bin when it is unset.  A missing binary is a test failure, never a skip.
"""

import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAKE_DEV_CERT = os.path.join(REPO_ROOT, "scripts", "make-dev-cert.sh")
NTPSEC_NTPD = os.path.join(REPO_ROOT, "third_party", "ntpsec", "usr", "sbin", "ntpd")
CHRONYD = shutil.which("chronyd") or "/usr/sbin/chronyd"

# Seconds between 1900-01-01 (NTP era 0) and 1970-01-01 (Unix epoch).
NTP_UNIX_DELTA = 2208988800


def bin_dir():
    return os.environ.get("NTSD_BIN_DIR") or os.path.join(REPO_ROOT, "build", "bin")


def binary(name):
    return os.path.join(bin_dir(), name)


# --------------------------------------------------------------------------- ports

_handed_out = set()


def _can_bind(family, kind, host, port):
    s = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(proto="both", hosts=("127.0.0.1",)):
    """A port number that is free right now for `proto` ("tcp", "udp" or "both") on
    every address in `hosts`.  The kernel picks a candidate (bind to port 0); the other
    protocols/addresses are then checked.  Ports already handed out by this process are
    never returned twice.  There is an unavoidable race with other processes between
    this check and the server's bind, which start_ntsd() absorbs by retrying."""
    kinds = {"tcp": [socket.SOCK_STREAM], "udp": [socket.SOCK_DGRAM],
             "both": [socket.SOCK_STREAM, socket.SOCK_DGRAM]}[proto]
    for _ in range(200):
        first_host = hosts[0]
        family = socket.AF_INET6 if ":" in first_host else socket.AF_INET
        s = socket.socket(family, kinds[0])
        try:
            s.bind((first_host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port in _handed_out:
            continue
        ok = True
        for host in hosts:
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            for kind in kinds:
                if not _can_bind(fam, kind, host, port):
                    ok = False
        if ok:
            _handed_out.add(port)
            return port
    raise RuntimeError("could not find a free port on %s" % (hosts,))


def host_port(host, port):
    """ADDR:PORT with IPv6 in brackets, as ntsd's --ke-listen wants it."""
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


# --------------------------------------------------------------------------- certificates

def make_cert(outdir):
    """Runs scripts/make-dev-cert.sh OUTDIR; returns (cert_path, key_path)."""
    res = subprocess.run(["bash", MAKE_DEV_CERT, outdir], capture_output=True, text=True,
                         timeout=60)
    if res.returncode != 0:
        raise RuntimeError("make-dev-cert.sh failed (%d): %s%s" %
                           (res.returncode, res.stdout, res.stderr))
    return os.path.join(outdir, "cert.pem"), os.path.join(outdir, "key.pem")


# --------------------------------------------------------------------------- processes

# Runs a command without CAP_SYS_TIME, so that a time daemon under test cannot step,
# slew or re-tune this machine's clock even if its configuration were wrong.
NO_CLOCK_CAPS = ["setpriv", "--inh-caps=-sys_time", "--bounding-set=-sys_time"]


class ManagedProcess:
    """A child process in its own process group, output captured to files."""

    def __init__(self, name, argv, logdir, env=None, cwd=None):
        self.name = name
        self.argv = list(argv)
        self.stdout_path = os.path.join(logdir, name + ".stdout")
        self.stderr_path = os.path.join(logdir, name + ".stderr")
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                     start_new_session=True)
        self.pid = self.proc.pid
        # The exit status after stop() sent SIGTERM to a running process; None if it
        # had already exited or was never stopped.
        self.status_after_sigterm = None

    def poll(self):
        return self.proc.poll()

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL after `grace` seconds; always reaps.  Returns the exit
        status (negative for a signal)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
            self.status_after_sigterm = self.proc.returncode
        else:
            # The leader is gone; make sure nothing it started lingers in its group.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for f in (self._out, self._err):
            if not f.closed:
                f.close()
        return self.proc.returncode

    def stdout(self):
        return _read(self.stdout_path)

    def stderr(self):
        return _read(self.stderr_path)

    def logs(self):
        return "----- %s (pid %d): %s\n--- stdout:\n%s\n--- stderr:\n%s\n" % (
            self.name, self.pid, " ".join(self.argv), self.stdout(), self.stderr())


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wait_until(predicate, timeout, interval=0.05):
    """Polls predicate() until it returns a truthy value or `timeout` seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def tcp_accepts(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- NTP

def ntp_now():
    """The current time as a 64-bit NTP timestamp (int)."""
    t = time.time() + NTP_UNIX_DELTA
    return (int(t) << 32) | int((t % 1) * (1 << 32))


def ntp_to_unix(ts):
    return (ts >> 32) - NTP_UNIX_DELTA + (ts & 0xFFFFFFFF) / float(1 << 32)


def client_packet(version=4, mode=3, transmit=None, li=0):
    """A 48-byte NTP header: LI/VN/Mode, stratum 0, poll 6, precision -20, zero roots,
    zero refid/reference/origin/receive, and a random-ish transmit timestamp."""
    if transmit is None:
        transmit = ntp_now() ^ int.from_bytes(os.urandom(2), "big")
    first = (li << 6) | (version << 3) | mode
    return struct.pack("!BBbbII4sQQQQ", first, 0, 6, -20, 0, 0, b"\0\0\0\0", 0, 0, 0,
                       transmit)


class NtpReply:
    def __init__(self, data):
        if len(data) < 48:
            raise ValueError("NTP reply too short: %d bytes" % len(data))
        (first, self.stratum, self.poll, self.precision, self.root_delay,
         self.root_dispersion, self.refid, self.reference, self.origin, self.receive,
         self.transmit) = struct.unpack("!BBbbII4sQQQQ", data[:48])
        self.leap = first >> 6
        self.version = (first >> 3) & 7
        self.mode = first & 7
        self.raw = data

    def refid_text(self):
        return self.refid.rstrip(b"\0").decode("ascii", "replace")


def udp_exchange(host, port, payload, timeout=1.0):
    """Sends one datagram from a fresh socket; returns the first reply's bytes, or None
    if nothing arrives within `timeout` seconds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        try:
            data, _ = s.recvfrom(65536)
            return data
        except socket.timeout:
            return None


def ntp_query(host, port, version=4, timeout=1.0):
    """A plain (unauthenticated) client query; returns (request, NtpReply or None)."""
    req = client_packet(version=version)
    data = udp_exchange(host, port, req, timeout)
    return req, (NtpReply(data) if data is not None else None)


# --------------------------------------------------------------------------- NTS-KE

KE_END = 0
KE_NEXT_PROTOCOL = 1
KE_ERROR = 2
KE_WARNING = 3
KE_AEAD = 4
KE_NEW_COOKIE = 5
KE_SERVER = 6
KE_PORT = 7


def ke_record(rtype, body=b"", critical=False):
    return struct.pack("!HH", (0x8000 if critical else 0) | rtype, len(body)) + body


def ke_u16s(*values):
    return b"".join(struct.pack("!H", v) for v in values)


def ke_request(protocols=(0,), aeads=(15,), extra=b""):
    """A well-formed client request (Next Protocol, AEAD, extra records, End)."""
    return (ke_record(KE_NEXT_PROTOCOL, ke_u16s(*protocols), critical=True) +
            ke_record(KE_AEAD, ke_u16s(*aeads), critical=True) + extra +
            ke_record(KE_END, critical=True))


def parse_ke_records(data):
    """-> list of (critical, type, body). Raises ValueError on a truncated record."""
    out = []
    i = 0
    while i < len(data):
        if len(data) - i < 4:
            raise ValueError("truncated NTS-KE record header at %d" % i)
        t, n = struct.unpack("!HH", data[i:i + 4])
        if len(data) - i - 4 < n:
            raise ValueError("truncated NTS-KE record body at %d" % i)
        out.append((bool(t & 0x8000), t & 0x7FFF, data[i + 4:i + 4 + n]))
        i += 4 + n
    return out


def read_until_closed(sock, closed_by=(ConnectionResetError, socket.timeout)):
    """Everything `sock` receives until the peer closes: EOF, or one of the
    `closed_by` exceptions."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except closed_by:
            return data
        if not part:
            return data
        data += part


def read_until_tls_close(tls):
    """Everything `tls` receives until the peer closes (close_notify or EOF)."""
    return read_until_closed(tls, (ssl.SSLZeroReturnError, ssl.SSLEOFError))


def tls_client_context(cafile, alpn=("ntske/1",)):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def ke_exchange(host, port, cafile, chunks, alpn=("ntske/1",), timeout=5.0,
                server_hostname="localhost", pause=0.0):
    """Connects with TLS, writes each element of `chunks` as its own TLS write
    (sleeping `pause` seconds between them), then reads until the server closes.
    Returns (info, response_bytes); info holds the negotiated "version" and "alpn",
    "eof" (the server closed the connection before `timeout`) and "seconds_to_close"."""
    ctx = tls_client_context(cafile, alpn)
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        tls = ctx.wrap_socket(raw, server_hostname=server_hostname)
    except Exception:
        raw.close()
        raise
    with tls:
        info = {"version": tls.version(), "alpn": tls.selected_alpn_protocol()}
        for i, chunk in enumerate(chunks):
            if i and pause:
                time.sleep(pause)
            tls.sendall(chunk)
        data = b""
        info["eof"] = False
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            tls.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                part = tls.recv(65536)
            except (ssl.SSLZeroReturnError, ConnectionResetError):
                info["eof"] = True
                break
            except socket.timeout:
                break
            except ssl.SSLError as e:
                # Some servers close TCP without close_notify after the response.
                if "EOF" in str(e) or "UNEXPECTED_EOF" in str(e):
                    info["eof"] = True
                    break
                raise
            if not part:
                info["eof"] = True
                break
            data += part
        info["seconds_to_close"] = time.monotonic() - start
        return info, data


# --------------------------------------------------------------------------- test case

class HarnessTestCase(unittest.TestCase):
    """Temp dir, process bookkeeping, logs on failure."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="ntsd-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.procs = []
        # Cleanups run LIFO: processes are stopped (and logs printed) before the
        # temp dir holding their logs is removed.
        self.addCleanup(self._stop_all)

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return True
        success = getattr(outcome, "success", None)
        if success is None:
            return True
        return not success

    def _stop_all(self):
        for p in reversed(self.procs):
            p.stop()
        # ntsd stops cleanly on SIGTERM: exit status 0, not a crash, a hang (SIGKILL
        # after the grace period) or a sanitizer report at exit.
        unclean = [p for p in self.procs if os.path.basename(p.argv[0]) == "ntsd"
                   and p.status_after_sigterm not in (None, 0)]
        if self._failed() or unclean or os.environ.get("NTSD_TEST_SHOW_LOGS"):
            for p in self.procs:
                sys.stderr.write(p.logs())
            sys.stderr.flush()
        if unclean:
            raise AssertionError("ntsd did not stop cleanly on SIGTERM: " + ", ".join(
                "%s exit status %d" % (p.name, p.status_after_sigterm) for p in unclean))

    def spawn(self, name, argv, **kw):
        p = ManagedProcess("%s-%d" % (name, len(self.procs)), argv, self.tmp, **kw)
        self.procs.append(p)
        return p

    def require_file(self, path, what):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            self.fail("%s not found or not executable at %s (build it first; "
                      "NTSD_BIN_DIR=%s)" % (what, path, bin_dir()))

    def run_tool(self, argv, timeout):
        """Runs a short-lived command to completion with a hard timeout."""
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            self.fail("%s did not finish within %ss; stdout=%r stderr=%r" %
                      (argv, timeout, e.stdout, e.stderr))


class Ntsd:
    """A running ntsd and the ports it serves."""

    def __init__(self, proc, ke_port, ntp_port, hosts, stratum, refid):
        self.proc = proc
        self.ke_port = ke_port
        self.ntp_port = ntp_port
        self.hosts = hosts
        self.stratum = stratum
        self.refid = refid


class NtsdTestCase(HarnessTestCase):
    STRATUM = 2
    REFID = "TEST"

    def setUp(self):
        super().setUp()
        self.ntsd_bin = binary("ntsd")
        self.nts_query_bin = binary("nts-query")
        self.certdir = os.path.join(self.tmp, "cert")
        self.cert, self.key = make_cert(self.certdir)

    def start_ntsd(self, hosts=("127.0.0.1",), stratum=None, refid=None, extra=(),
                   ready_timeout=15.0, attempts=4, source_args=None):
        """Starts ntsd serving NTS-KE and NTP on `hosts` (one KE port, one NTP port,
        both free on every host) and waits until it is ready.  Retries with new ports
        if the process dies because a port was taken in the meantime.  `source_args`
        replaces the default `--time-source local --stratum S --refid R`."""
        self.require_file(self.ntsd_bin, "ntsd")
        stratum = self.STRATUM if stratum is None else stratum
        refid = self.REFID if refid is None else refid
        last = None
        for _ in range(attempts):
            ke_port = free_port("tcp", hosts)
            ntp_port = free_port("udp", hosts)
            argv = [self.ntsd_bin, "--cert", self.cert, "--key", self.key]
            for h in hosts:
                argv += ["--ke-listen", host_port(h, ke_port)]
            for h in hosts:
                argv += ["--ntp-listen", host_port(h, ntp_port)]
            if source_args is None:
                argv += ["--time-source", "local", "--stratum", str(stratum), "--refid", refid]
            else:
                argv += list(source_args)
            argv += list(extra)
            proc, notify = self.spawn_notifying("ntsd", argv)
            state = self._wait_ready(proc, hosts, ke_port, ntp_port, ready_timeout, notify)
            if state == "ready":
                return Ntsd(proc, ke_port, ntp_port, hosts, stratum, refid)
            last = proc
            err = proc.stderr().lower()
            if state == "exited" and ("in use" in err or "eaddrinuse" in err):
                continue  # lost a port race; pick new ports
            break
        self.fail("ntsd did not become ready (READY=1 sent, KE TCP accepting and NTP answering) "
                  "within %ss:\n%s" % (ready_timeout, last.logs() if last else ""))

    def spawn_notifying(self, name, argv, env=None):
        """Spawns ntsd with NOTIFY_SOCKET naming a fresh readiness socket; returns the
        process and the socket, for notified_ready()."""
        notify = self._readiness_socket()
        if notify is not None:
            env = dict(os.environ if env is None else env,
                       NOTIFY_SOCKET="@" + notify.getsockname()[1:].decode())
        return self.spawn(name, argv, env=env), notify

    def _readiness_socket(self):
        """A socket for ntsd's READY=1 (sd_notify's protocol), which it sends once its
        start summary is logged: ports that answer come earlier, so a test reading the
        log right after start would race ntsd's last lines.  None when the test set
        NOTIFY_SOCKET itself (it then reads the notifications)."""
        if "NOTIFY_SOCKET" in os.environ:
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        # Abstract (no file): reachable after ntsd dropped to another user (--user).
        sock.bind("\0ntsd-test-ready-%d-%s" % (os.getpid(), os.urandom(6).hex()))
        sock.setblocking(False)
        return sock

    @staticmethod
    def notified_ready(proc, notify):
        if notify is None:
            return True
        try:
            while True:
                if notify.recv(256) == b"READY=1":
                    return True
        except BlockingIOError:
            pass
        # A notification ntsd could not send (it says so) leaves the ports as the signal.
        return "could not notify systemd" in proc.stderr()

    def _wait_ready(self, proc, hosts, ke_port, ntp_port, timeout, notify=None):
        deadline = time.monotonic() + timeout
        pending_tcp = set(hosts)
        pending_udp = set(hosts)
        ready = False
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return "exited"
            ready = ready or self.notified_ready(proc, notify)
            for h in list(pending_tcp):
                if tcp_accepts(h, ke_port, timeout=0.3):
                    pending_tcp.discard(h)
            for h in list(pending_udp):
                _, reply = ntp_query(h, ntp_port, timeout=0.3)
                if reply is not None and reply.mode == 4:
                    pending_udp.discard(h)
            if ready and not pending_tcp and not pending_udp:
                return "ready"
            time.sleep(0.05)
        return "timeout"

    # nts-query helpers ---------------------------------------------------------

    def nts_query(self, target, *args, ca=None, timeout=30):
        self.require_file(self.nts_query_bin, "nts-query")
        argv = [self.nts_query_bin, target, "--ca", ca or self.cert] + list(args)
        return self.run_tool(argv, timeout)


# --------------------------------------------------------------------------- chrony

def chrony_common_lines(workdir):
    """Directives every test chronyd gets: everything in `workdir`, no command socket
    (so it never collides with a system chronyd), no drift/RTC files outside it."""
    return [
        "pidfile %s" % os.path.join(workdir, "chronyd.pid"),
        "ntsdumpdir %s" % workdir,
        "driftfile %s" % os.path.join(workdir, "drift"),
        "cmdport 0",
        "bindcmdaddress /",
    ]


class ChronyServer:
    def __init__(self, proc, ke_port, ntp_port, stratum, workdir):
        self.proc = proc
        self.ke_port = ke_port
        self.ntp_port = ntp_port
        self.stratum = stratum
        self.workdir = workdir


def write_chrony_conf(workdir, lines, name="chrony.conf"):
    """Writes chrony.conf `lines` into workdir; returns the file's path."""
    conf = os.path.join(workdir, name)
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return conf


def answers_at_stratum(host, port, stratum):
    """An NTP server on host:port answers a client request at `stratum`."""
    _, reply = ntp_query(host, port, timeout=0.3)
    return reply is not None and reply.mode == 4 and reply.stratum == stratum


def wait_chronyd(proc, ready, timeout):
    """Polls ready() until it holds (True), chronyd exits or `timeout` s pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            return True
        time.sleep(0.1)
    return False


def lost_port_race(proc):
    """chronyd exited because a port free_port() gave was taken before it bound it."""
    err = proc.stderr().lower()
    return proc.poll() is not None and ("in use" in err or "could not" in err)


def start_chrony_nts_server(test, cert, key, stratum=4, hosts=("127.0.0.1", "::1"),
                            ready_timeout=15.0):
    """chronyd as an NTS server on free loopback ports: `-d` foreground, `-x` never
    touches the clock, `-u root` so it can read the temp-dir key, and no CAP_SYS_TIME.
    `local stratum N` makes it answer without any upstream."""
    for _ in range(4):
        ke_port = free_port("tcp", hosts)
        ntp_port = free_port("udp", hosts)
        workdir = tempfile.mkdtemp(prefix="chrony-server-", dir=test.tmp)
        lines = chrony_common_lines(workdir) + [
            "port %d" % ntp_port,
            "ntsport %d" % ke_port,
        ]
        for h in hosts:
            lines += ["bindaddress %s" % h, "allow %s" % h]
        lines += [
            "local stratum %d" % stratum,
            "ntsservercert %s" % cert,
            "ntsserverkey %s" % key,
        ]
        conf = write_chrony_conf(workdir, lines, "chrony-server.conf")
        proc = test.spawn("chronyd-server", NO_CLOCK_CAPS + [CHRONYD, "-d", "-x", "-u", "root",
                                                             "-f", conf])
        if wait_chronyd(proc, lambda: (tcp_accepts(hosts[0], ke_port, 0.3)
                                       and answers_at_stratum(hosts[0], ntp_port, stratum)),
                        ready_timeout):
            return ChronyServer(proc, ke_port, ntp_port, stratum, workdir)
        if lost_port_race(proc):
            continue
        break
    test.fail("chronyd NTS server did not become ready:\n%s" % proc.logs())


CHRONY_OFFSET_RE = r"System clock wrong by (-?[0-9.]+) seconds \(ignored\)"


def parse_chrony_nts_dump(path):
    """chrony 4.x's ntsdumpdir file (format "NNC0"): line 1 version, 2 NTS-KE server
    name, 3 time of the KE, 4 "NTP-address NTP-port" from the KE, 5 "context-id AEAD
    C2S S2C", then one cookie (hex) per line.  Returns a dict."""
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f]
    if not lines or lines[0] != "NNC0":
        raise ValueError("unknown chrony NTS dump format in %s: %r" % (path, lines[:1]))
    addr, port = lines[3].rsplit(" ", 1)
    fields = lines[4].split()
    return {"ke_server": lines[1], "ntp_address": addr, "ntp_port": int(port),
            "aead": int(fields[1]), "c2s_len": len(fields[2]) // 2,
            "cookies": [l for l in lines[5:] if l.strip()]}
