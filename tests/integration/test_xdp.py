"""The AF_XDP path (--xdp, docs/xdp.md) on a veth pair between two network
namespaces this test creates, with addresses of its own (10.201.x.y/24 and
fd00:201::/64, inside the namespaces only). Needs root; skipped, with the reason,
only where the kernel has no AF_XDP sockets. Everything it creates is removed in
cleanups that run however the test ends."""

import json
import mmap
import os
import re
import socket
import subprocess
import sys
import time
import unittest

import ntsd_harness as h

CLIENT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xdp_client.py")
SERVER_V4, CLIENT_V4 = "10.201.1.1", "10.201.1.2"
# A second prefix on the same link: the flood comes from it.
SERVER_V4_B, FLOODER_V4 = "10.201.2.1", "10.201.2.2"
SERVER_V6, CLIENT_V6 = "fd00:201::1", "fd00:201::2"
XDP_MODE = os.environ.get("NTSD_TEST_XDP_MODE", "auto")


def af_xdp_missing():
    """Why this kernel or process cannot run the test, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, XDP)"
    try:
        socket.socket(44, socket.SOCK_RAW).close()  # AF_XDP
    except OSError as error:
        if error.errno in (97, 93):  # EAFNOSUPPORT, EPROTONOSUPPORT
            return "the kernel has no AF_XDP sockets (%s)" % error
    return None


def links_asan(binary):
    """Whether the binary is the AddressSanitizer build (it names libasan as a library)."""
    with open(binary, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(b"libasan.so") >= 0


def run(argv, check=True):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), result.returncode,
                                                   result.stderr))
    return result


class VethPair:
    """Two namespaces joined by a veth pair; removing the namespaces removes it."""

    def __init__(self):
        tag = "%d" % (os.getpid() % 100000)
        self.server_ns, self.client_ns = "ntsdxs" + tag, "ntsdxc" + tag
        self.server_if, self.client_if = "nxs" + tag, "nxc" + tag
        self.created = []

    def create(self):
        for ns in (self.server_ns, self.client_ns):
            run(["ip", "netns", "add", ns])
            self.created.append(ns)
        run(["ip", "link", "add", self.server_if, "netns", self.server_ns, "type", "veth",
             "peer", "name", self.client_if, "netns", self.client_ns])
        for ns, ifname, addresses in (
                (self.server_ns, self.server_if, [SERVER_V4 + "/24", SERVER_V4_B + "/24"]),
                (self.client_ns, self.client_if, [CLIENT_V4 + "/24", FLOODER_V4 + "/24"])):
            for address in addresses:
                run(["ip", "-n", ns, "addr", "add", address, "dev", ifname])
            v6 = SERVER_V6 if ns == self.server_ns else CLIENT_V6
            run(["ip", "-n", ns, "addr", "add", v6 + "/64", "dev", ifname, "nodad"])
            run(["ip", "-n", ns, "link", "set", ifname, "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def remove(self):
        for ns in reversed(self.created):
            run(["ip", "netns", "del", ns], check=False)
        self.created = []

    def xdp_attached(self):
        out = run(["ip", "-n", self.server_ns, "link", "show", self.server_if]).stdout
        return "prog/xdp" in out

    def client(self, *args):
        result = run(["ip", "netns", "exec", self.client_ns, sys.executable, CLIENT_SCRIPT] +
                     [str(a) for a in args])
        return json.loads(result.stdout)

    def server(self, *args):
        result = run(["ip", "netns", "exec", self.server_ns, sys.executable, CLIENT_SCRIPT] +
                     [str(a) for a in args])
        return json.loads(result.stdout)


def make_cert(directory):
    """A certificate for the server's two addresses (the dev certificate names loopback)."""
    cert, key = os.path.join(directory, "xdp-cert.pem"), os.path.join(directory, "xdp-key.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=ntsd-xdp-test",
         "-addext", "subjectAltName=IP:%s,IP:%s" % (SERVER_V4, SERVER_V6)])
    return cert, key


@unittest.skipIf(af_xdp_missing(), af_xdp_missing())
class XdpTest(h.HarnessTestCase):
    METRICS = "127.0.0.1:9123"  # on the server namespace's own loopback

    def setUp(self):
        super().setUp()
        self.ntsd_bin = h.binary("ntsd")
        self.require_file(self.ntsd_bin, "ntsd")
        self.net = VethPair()
        # Registered before creating: a half-made pair is removed too.
        self.addCleanup(self.net.remove)
        self.net.create()
        self.cert, self.key = make_cert(self.tmp)

    def start_ntsd(self, *extra):
        argv = ["ip", "netns", "exec", self.net.server_ns, self.ntsd_bin,
                "--cert", self.cert, "--key", self.key,
                "--ke-listen", "%s:4460" % SERVER_V4, "--ke-listen", "[%s]:4460" % SERVER_V6,
                "--ntp-listen", "%s:123" % SERVER_V4, "--ntp-listen", "%s:123" % SERVER_V4_B,
                "--ntp-listen", "[%s]:123" % SERVER_V6,
                "--ntp-workers", "1", "--ke-threads", "1",
                "--time-source", "local", "--stratum", "2", "--refid", "TEST",
                "--metrics-listen", self.METRICS,
                "--xdp", self.net.server_if, "--xdp-mode", XDP_MODE] + list(extra)
        proc = self.spawn("ntsd", argv)
        ready = h.wait_until(lambda: proc.poll() is not None or " ready" in proc.stderr(), 20)
        if proc.poll() is not None or not ready:
            self.fail("ntsd with --xdp did not become ready:\n" + proc.logs())
        self.assertIn("xdp: %s: program attached" % self.net.server_if, proc.stderr())
        return proc

    def metrics(self):
        return self.net.server("metrics", self.METRICS)

    def stop_and_check_detached(self, proc):
        self.assertEqual(proc.stop(), 0, proc.logs())
        self.assertFalse(self.net.xdp_attached(), "the XDP program outlived ntsd")

    def test_nts_plain_ipv6_and_kernel_traffic(self):
        proc = self.start_ntsd()
        self.assertTrue(self.net.xdp_attached())
        # The kernel's traffic still flows: ICMP both ways, and NTS-KE over TCP below.
        self.assertTrue(self.net.client("ping", SERVER_V4)["ok"], "IPv4 ping through the XDP interface")
        self.assertTrue(self.net.client("ping", SERVER_V6)["ok"], "IPv6 ping through the XDP interface")
        self.assertEqual(self.net.client("ntp", SERVER_V4, 123, 3)["answered"], 3)
        self.assertEqual(self.net.client("ntp", SERVER_V6, 123, 3)["answered"], 3)
        nts_query = h.binary("nts-query")
        self.require_file(nts_query, "nts-query")
        for target in ("%s:4460" % SERVER_V4, "[%s]:4460" % SERVER_V6):
            result = run(["ip", "netns", "exec", self.net.client_ns, nts_query, target,
                          "--ca", self.cert, "--count", "2", "--interval", "0.1", "--json",
                          "--timeout", "5"], check=False)
            self.assertEqual(result.returncode, 0, "nts-query %s: %s%s\n%s" % (
                target, result.stdout, result.stderr, proc.logs()))
        m = self.metrics()
        # Every NTP request went through the AF_XDP path: received and answered there.
        self.assertEqual(m['ntsd_ntp_requests_total{kind="plain",outcome="answered"}'], 6)
        self.assertEqual(m['ntsd_ntp_requests_total{kind="nts",outcome="answered"}'], 4)
        self.assertEqual(m["ntsd_xdp_rx_packets_total"], 10)
        self.assertEqual(m["ntsd_xdp_tx_packets_total"], 10)
        self.assertEqual(m['ntsd_xdp_dropped_total{reason="rate"}'], 0)
        self.stop_and_check_detached(proc)

    def test_receive_timestamps_sensible_and_source_logged(self):
        proc = self.start_ntsd()
        start = re.search(r"xdp: %s: program attached in (\w+) mode.*receive timestamps: ([^\n]*)"
                          % self.net.server_if, proc.stderr())
        self.assertIsNotNone(start, proc.stderr())
        mode, source = start.groups()
        # Native mode on a kernel with the kfunc (6.3+) loads the device-bound build;
        # generic mode never can. Either way the log says which and why.
        driver = source.startswith("the driver's (XDP metadata kfunc)")
        if mode == "generic":
            self.assertIn("the clock read as each batch leaves the RX ring (generic mode", source)
        else:
            self.assertTrue(driver or re.match(r"the clock read .* \(.+\)$", source), source)
        answers = self.net.client("stamps", SERVER_V4, 123, 5)["answers"]
        self.assertEqual(len(answers), 5, proc.logs())
        slack = 5e-6  # float rounding of seconds since 1970 (the clock is shared)
        for a in answers:
            # Received after the client sent it, no later than it was sent back,
            # and the reply came back after that.
            self.assertGreaterEqual(a["rx"], a["sent"] - slack, a)
            self.assertLessEqual(a["rx"], a["tx"] + slack, a)
            self.assertLessEqual(a["tx"], a["received"] + slack, a)
            self.assertLess(a["rx"] - a["sent"], 0.5, a)
        m = self.metrics()
        by_source = {s: m['ntsd_xdp_rx_timestamps_total{source="%s"}' % s]
                     for s in ("driver", "clock", "clock_driver_implausible")}
        self.assertEqual(by_source["driver"] + by_source["clock"], m["ntsd_xdp_rx_packets_total"])
        self.assertEqual(m["ntsd_xdp_rx_packets_total"], 5)
        if driver:
            # The program's metadata reached user space: the first request's
            # timestamp source is logged from it (veth gives 0: no hardware stamp).
            self.assertRegex(proc.stderr(), r"xdp: %s queue 0: first request's receive timestamp: "
                             r"the driver" % self.net.server_if)
        else:
            self.assertEqual(by_source["driver"], 0)
        self.assertEqual(proc.stop(), 0, proc.logs())
        self.assertRegex(proc.stderr(), r"receive timestamps: %d from the driver, %d from the clock"
                         % (by_source["driver"], by_source["clock"]))

    def test_flood_dropped_in_xdp_while_honest_client_served(self):
        proc = self.start_ntsd("--ntp-rate-limit", "16", "--ntp-rate-burst", "64")
        flood = 5000
        sent = self.net.client("flood", SERVER_V4_B, 123, FLOODER_V4, flood)["sent"]
        self.assertGreater(sent, flood // 2)
        honest = self.net.client("ntp", SERVER_V4, 123, 10, CLIENT_V4)
        self.assertEqual(honest["answered"], 10, proc.logs())
        m = self.metrics()
        dropped = m['ntsd_xdp_dropped_total{reason="rate"}']
        handed_on = m['ntsd_xdp_passed_total{reason="rate_to_user"}']
        # Over the limit, only one in kiss_every (8) reaches user space; the rest
        # never leave the XDP program. The exact split depends on the flood's pace.
        self.assertGreater(dropped, sent * 0.7, m)
        self.assertLess(m["ntsd_xdp_rx_packets_total"], sent * 0.3, m)
        self.assertGreater(handed_on, 0, m)
        self.stop_and_check_detached(proc)

    def test_runs_without_capabilities_after_start(self):
        # --user: the program, maps and sockets are set up as root; serving,
        # reading the counters and detaching at exit need no capability.
        proc = self.start_ntsd("--user", "nobody")
        self.assertIn("without capabilities", proc.stderr())
        self.assertEqual(self.net.client("ntp", SERVER_V4, 123, 3)["answered"], 3)
        self.assertEqual(self.metrics()["ntsd_xdp_tx_packets_total"], 3)
        self.stop_and_check_detached(proc)

    def test_under_the_seccomp_allow_list(self):
        # --seccomp on: the filter goes on after the program is attached and the
        # sockets exist; serving, NTS, reading the counters (bpf() map lookups
        # only) and the detach at exit must all pass it. A refused call kills ntsd.
        if links_asan(self.ntsd_bin):
            # LeakSanitizer stops the world at exit with ptrace: not on the list.
            self.skipTest("the sanitizers' exit-time checks need system calls the filter refuses")
        proc = self.start_ntsd("--seccomp", "on")
        self.assertIn("seccomp allow-list installed", proc.stderr())
        self.assertEqual(self.net.client("ntp", SERVER_V4, 123, 3)["answered"], 3)
        self.assertEqual(self.net.client("ntp", SERVER_V6, 123, 2)["answered"], 2)
        result = run(["ip", "netns", "exec", self.net.client_ns, h.binary("nts-query"),
                      "%s:4460" % SERVER_V4, "--ca", self.cert, "--count", "2", "--interval",
                      "0.1", "--json", "--timeout", "5"], check=False)
        self.assertEqual(result.returncode, 0, result.stderr + proc.logs())
        m = self.metrics()
        self.assertEqual(m["ntsd_xdp_rx_packets_total"], 7)
        self.assertEqual(m['ntsd_xdp_dropped_total{reason="rate"}'], 0)
        self.assertIsNone(proc.poll(), proc.logs())
        self.stop_and_check_detached(proc)

    def test_stale_program_replaced_and_refusals_name_the_setting(self):
        # A program of ntsd's attached the old way (netlink, no link), as a crashed
        # run or an operator with ip(8) leaves it.
        obj = os.path.join(h.bin_dir(), "..", "src", "xdp", "ntsd_xdp.bpf.o")
        run(["ip", "-n", self.net.server_ns, "link", "set", "dev", self.net.server_if,
             "xdpgeneric", "obj", obj, "sec", "xdp"])
        self.assertTrue(self.net.xdp_attached())
        proc = self.start_ntsd()
        self.assertIn("replaced a stale ntsd XDP program", proc.stderr())
        self.assertEqual(self.net.client("ntp", SERVER_V4, 123, 2)["answered"], 2)
        self.stop_and_check_detached(proc)
        # Refusals: exit status 2 and the setting named.
        base = ["ip", "netns", "exec", self.net.server_ns, self.ntsd_bin, "--ke-listen", "none",
                "--ntp-listen", "%s:0" % SERVER_V4]
        for extra, setting in ((["--xdp", "nosuch0"], "--xdp"),
                               (["--xdp", "lo", "--xdp-mode", "native"], "--xdp-mode"),
                               (["--xdp", self.net.server_if, "--xdp-mode", "turbo"], "--xdp-mode")):
            result = run(base + extra, check=False)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn("ntsd: %s:" % setting, result.stderr)
        self.assertFalse(self.net.xdp_attached())


if __name__ == "__main__":
    unittest.main()
