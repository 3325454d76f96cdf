#!/usr/bin/env python3
"""chronyd, ntsd on sockets and ntsd with --xdp, one after the other, as NTS and
plain NTP servers in a network namespace joined to a generator namespace by a
veth pair (copy-mode AF_XDP: veth has no zero copy). Needs root.

    sudo bench/compare_xdp_veth.py [BUILD_DIR] > report.md    (progress on stderr)

CPU per answer by the /proc/stat method of issue 12: on veth a packet's receive
path runs in softirq on the *sending* CPU, so per-process CPU time is the wrong
measure. The server is pinned to CPU 1 and the generator (nts-bench, closed loop)
to CPU 0; the server's cost is CPU 1's busy time without its softirq plus CPU 0's
softirq, over the generator's run, divided by the answers it counted. Anything
else running on those CPUs is charged too: run it on an otherwise idle machine
(the report shows the load average before each run).

Environment: DURATION (s per run, default 4), REPEAT (default 3), XDP_MODE
(native|generic|auto, default auto). Addresses 10.202.1.1/.2 exist only inside
the namespaces; the namespaces are removed at exit, however it exits.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
NTSD = os.path.join(BUILD, "bin", "ntsd")
BENCH = os.path.join(BUILD, "bin", "nts-bench")
DURATION = float(os.environ.get("DURATION", "4"))
REPEAT = int(os.environ.get("REPEAT", "3"))
XDP_MODE = os.environ.get("XDP_MODE", "auto")
SERVER, CLIENT = "10.202.1.1", "10.202.1.2"
TAG = str(os.getpid() % 100000)
SERVER_NS, CLIENT_NS = "ntsdbs" + TAG, "ntsdbc" + TAG
SERVER_IF, CLIENT_IF = "nbs" + TAG, "nbc" + TAG
SERVER_CPU, GENERATOR_CPU = "1", "0"


def log(*args):
    print("compare-xdp-veth:", *args, file=sys.stderr, flush=True)


def run(argv, check=True):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), result.stderr))
    return result


def make_network():
    run(["ip", "netns", "add", SERVER_NS])
    run(["ip", "netns", "add", CLIENT_NS])
    run(["ip", "link", "add", SERVER_IF, "netns", SERVER_NS, "type", "veth", "peer", "name",
         CLIENT_IF, "netns", CLIENT_NS])
    for ns, ifname, address in ((SERVER_NS, SERVER_IF, SERVER), (CLIENT_NS, CLIENT_IF, CLIENT)):
        run(["ip", "-n", ns, "addr", "add", address + "/24", "dev", ifname])
        run(["ip", "-n", ns, "link", "set", ifname, "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])


def remove_network():
    for ns in (SERVER_NS, CLIENT_NS):
        run(["ip", "netns", "del", ns], check=False)


def cpu_times():
    """Per CPU: (busy jiffies, softirq jiffies)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if parts[0].startswith("cpu") and parts[0] != "cpu":
                user, nice, system, idle, iowait, irq, softirq, steal = map(int, parts[1:9])
                out[parts[0][3:]] = (user + nice + system + irq + softirq + steal, softirq)
    return out


def start_server(kind, work, cert, key):
    server = ["ip", "netns", "exec", SERVER_NS, "taskset", "-c", SERVER_CPU]
    if kind == "chrony":
        conf = os.path.join(work, "chrony.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "pidfile %s/chronyd.pid" % work, "ntsdumpdir %s" % work,
                "driftfile %s/drift" % work, "cmdport 0", "bindcmdaddress /",
                "port 123", "ntsport 4460", "bindaddress %s" % SERVER, "allow all",
                "local stratum 2", "ntsservercert %s" % cert, "ntsserverkey %s" % key]) + "\n")
        argv = server + ["setpriv", "--inh-caps=-sys_time", "--bounding-set=-sys_time",
                         "chronyd", "-d", "-x", "-u", "root", "-f", conf]
    else:
        argv = server + [NTSD, "--cert", cert, "--key", key, "--ke-listen", SERVER + ":4460",
                         "--ntp-listen", SERVER + ":123", "--ntp-workers", "1",
                         "--ke-threads", "1", "--ntp-rate-limit", "0", "--time-source", "local",
                         "--stratum", "2", "--log-summary", "0"]
        if kind == "ntsd-xdp":
            argv += ["--xdp", SERVER_IF, "--xdp-mode", XDP_MODE]
    errors = open(os.path.join(work, kind + ".stderr"), "w")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    time.sleep(1.5)  # KE port and NTP answering; the first generator run waits longer anyway
    if proc.poll() is not None:
        raise RuntimeError("%s exited at start: see %s" % (kind, errors.name))
    return proc


def stop_server(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def generate(nts, cert):
    argv = ["ip", "netns", "exec", CLIENT_NS, "taskset", "-c", GENERATOR_CPU, BENCH, "ntp",
            SERVER + ":123", "--max", "--threads", "1", "--window", "64",
            "--duration", str(DURATION), "--json"]
    if nts:
        argv += ["--nts", "--ke", SERVER + ":4460", "--ca", cert]
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    before = cpu_times()
    result = run(argv)
    after = cpu_times()
    report = json.loads(result.stdout)
    server_busy = after[SERVER_CPU][0] - before[SERVER_CPU][0]
    server_softirq = after[SERVER_CPU][1] - before[SERVER_CPU][1]
    generator_softirq = after[GENERATOR_CPU][1] - before[GENERATOR_CPU][1]
    hz = os.sysconf("SC_CLK_TCK")
    seconds = (server_busy - server_softirq + generator_softirq) / hz
    answered = report["answered"]
    return {"us_per_answer": seconds * 1e6 / answered if answered else float("nan"),
            "answered_rate": report["answered_rate"], "loss_pct": report["loss_pct"],
            "load": load}


def main():
    if os.geteuid() != 0:
        sys.exit("compare-xdp-veth: needs root (network namespaces, XDP)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("compare-xdp-veth: needs two CPUs (server and generator pinned apart)")
    work = tempfile.mkdtemp(prefix="compare-xdp-veth.")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=bench",
         "-addext", "subjectAltName=IP:" + SERVER])
    results = {}
    try:
        make_network()
        for kind in ("chrony", "ntsd-sockets", "ntsd-xdp"):
            proc = start_server(kind, work, cert, key)
            try:
                for nts in (True, False):
                    runs = []
                    for r in range(REPEAT):
                        runs.append(generate(nts, cert))
                        log(kind, "nts" if nts else "plain", r + 1, runs[-1])
                    results[(kind, nts)] = runs
            finally:
                stop_server(proc)
    finally:
        remove_network()
    print_report(results)


def print_report(results):
    print("| server | kind | CPU µs per answer, median (range) | answers/s, median | loss % max | load avg before runs |")
    print("|---|---|---|---|---|---|")
    for (kind, nts), runs in results.items():
        cost = [r["us_per_answer"] for r in runs]
        print("| %s | %s | %.2f (%.2f–%.2f) | %.0f | %.2f | %s |" % (
            kind, "NTS" if nts else "plain", statistics.median(cost), min(cost), max(cost),
            statistics.median(r["answered_rate"] for r in runs),
            max(r["loss_pct"] for r in runs), " ".join(r["load"] for r in runs)))
    print()
    for nts in (True, False):
        chrony = statistics.median(r["us_per_answer"] for r in results[("chrony", nts)])
        sockets = statistics.median(r["us_per_answer"] for r in results[("ntsd-sockets", nts)])
        xdp = statistics.median(r["us_per_answer"] for r in results[("ntsd-xdp", nts)])
        print("%s: ntsd-xdp / chrony = %.2f, ntsd-xdp / ntsd-sockets = %.2f, ntsd-sockets / chrony = %.2f" % (
            "NTS" if nts else "plain", xdp / chrony, xdp / sockets, sockets / chrony))


if __name__ == "__main__":
    main()
