#!/usr/bin/env python3
"""chronyd, ntsd on sockets and ntsd with --xdp, one after the other, as NTS and
plain NTP servers in a network namespace joined to a generator namespace by a
veth pair (copy-mode AF_XDP: veth has no zero copy). Needs root, chronyd, gnuplot.

    sudo bench/compare_xdp_veth.py [BUILD_DIR]      (progress on stderr)

Writes into OUT (default BUILD_DIR/compare-xdp-veth): xdp-veth.md (the table for
bench/RESULTS.md, with the machine, commit and command), xdp-veth.png (the chart,
gnuplot), xdp-veth.dat (the chart's data) and xdp-veth.json (every run). The table
is also printed on stdout.

CPU per answer by the /proc/stat method of issue 12: on veth a packet's receive
path runs in softirq on the *sending* CPU, so per-process CPU time is the wrong
measure. The server is pinned to CPU 1 and the generator (nts-bench, closed loop)
to CPU 0; the server's cost is CPU 1's busy time without its softirq plus CPU 0's
softirq, over the generator's run, divided by the answers it counted. Anything
else running on those CPUs is charged too: run it on an otherwise idle machine
(the report shows the load average before each run).

Environment: DURATION (s per measured run, default 4), REPEAT (default 3), WARMUP
(s of unmeasured load before each server's first run of a kind, default 1; 0: none),
XDP_MODE (native|generic|auto, default auto), OUT, ORDER (rounds|servers, default
rounds). In rounds, each of the REPEAT rounds starts the three servers in turn and
measures one NTS and one plain run of each, so that all three see the same minutes
of a shared machine; the ratios are then also given per round, and their median.
With servers, each server is started once and measured REPEAT times before the next. Addresses 10.202.1.1/.2 exist
only inside the namespaces; the namespaces are removed at exit, however it exits.
"""

import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from machine import cpu_model

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
NTSD = os.path.join(BUILD, "bin", "ntsd")
BENCH = os.path.join(BUILD, "bin", "nts-bench")
DURATION = float(os.environ.get("DURATION", "4"))
REPEAT = int(os.environ.get("REPEAT", "3"))
WARMUP = float(os.environ.get("WARMUP", "1"))
XDP_MODE = os.environ.get("XDP_MODE", "auto")
ORDER = os.environ.get("ORDER", "rounds")
OUT = os.path.abspath(os.environ.get("OUT", os.path.join(BUILD, "compare-xdp-veth")))
SERVER, CLIENT = "10.202.1.1", "10.202.1.2"
TAG = str(os.getpid() % 100000)
SERVER_NS, CLIENT_NS = "ntsdbs" + TAG, "ntsdbc" + TAG
SERVER_IF, CLIENT_IF = "nbs" + TAG, "nbc" + TAG
SERVER_CPU, GENERATOR_CPU = "1", "0"
SERVERS = ("chrony", "ntsd-sockets", "ntsd-xdp")
LABELS = {"chrony": "chronyd", "ntsd-sockets": "ntsd, sockets", "ntsd-xdp": "ntsd --xdp"}
KINDS = (True, False)  # NTS, plain
# Seconds a server takes to start and stop, and a generator run beyond its
# --duration (process start, NTS-KE): for the estimate printed at start.
SERVER_OVERHEAD, RUN_OVERHEAD = 2.0, 0.25
# The most the machine may be busy (a fraction of all CPUs, measured over 2 s
# before the first server starts) for the figures to count.
QUIET_BUSY = 0.05


def log(*args):
    print("compare-xdp-veth:", *args, file=sys.stderr, flush=True)


def run(argv, check=True):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), result.stderr))
    return result


def estimated_seconds():
    warmup = WARMUP + (RUN_OVERHEAD if WARMUP > 0 else 0)
    run_seconds = DURATION + RUN_OVERHEAD
    if ORDER == "rounds":
        per_start = SERVER_OVERHEAD + len(KINDS) * (warmup + run_seconds)
        return REPEAT * len(SERVERS) * per_start + 5
    per_kind = warmup + REPEAT * run_seconds
    return len(SERVERS) * (SERVER_OVERHEAD + len(KINDS) * per_kind) + 5


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


def server_argv(kind, work, cert, key):
    pinned = ["ip", "netns", "exec", SERVER_NS, "taskset", "-c", SERVER_CPU]
    if kind == "chrony":
        conf = os.path.join(work, "chrony.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "pidfile %s/chronyd.pid" % work, "ntsdumpdir %s" % work,
                "driftfile %s/drift" % work, "cmdport 0", "bindcmdaddress /",
                "port 123", "ntsport 4460", "bindaddress %s" % SERVER, "allow all",
                "local stratum 2", "ntsservercert %s" % cert, "ntsserverkey %s" % key]) + "\n")
        return pinned + ["setpriv", "--inh-caps=-sys_time", "--bounding-set=-sys_time",
                         "chronyd", "-d", "-x", "-u", "root", "-f", conf]
    argv = pinned + [NTSD, "--cert", cert, "--key", key, "--ke-listen", SERVER + ":4460",
                     "--ntp-listen", SERVER + ":123", "--ntp-workers", "1",
                     "--ke-threads", "1", "--ntp-rate-limit", "0", "--time-source", "local",
                     "--stratum", "2", "--log-summary", "0"]
    if kind == "ntsd-xdp":
        argv += ["--xdp", SERVER_IF, "--xdp-mode", XDP_MODE]
    return argv


def start_server(kind, work, cert, key):
    errors = open(os.path.join(work, kind + ".stderr"), "w")
    proc = subprocess.Popen(server_argv(kind, work, cert, key), stdout=subprocess.DEVNULL,
                            stderr=errors, start_new_session=True)
    proc.log_path = errors.name
    time.sleep(1.5)  # KE port and NTP answering
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


def xdp_summary(log_path):
    """What ntsd --xdp said about its path: how it attached and what it served."""
    with open(log_path) as f:
        text = f.read()
    attached = re.search(r"xdp: \S+: program attached in (\w+) mode.*?receive timestamps: ([^\n]*)",
                         text)
    served = re.search(r"XDP path: (\d+) frames received, (\d+) replies sent", text)
    return {"mode": attached.group(1) if attached else None,
            "rx_timestamps": attached.group(2).strip() if attached else None,
            "frames_received": int(served.group(1)) if served else None,
            "replies_sent": int(served.group(2)) if served else None}


def generate(nts, cert, duration):
    argv = ["ip", "netns", "exec", CLIENT_NS, "taskset", "-c", GENERATOR_CPU, BENCH, "ntp",
            SERVER + ":123", "--max", "--threads", "1", "--window", "64",
            "--duration", str(duration), "--json"]
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
            "answered": answered, "load": load}


def measure_server(kind, work, cert, key, repeat=None):
    """`repeat` (default REPEAT) measured runs of each kind against one server process."""
    repeat = REPEAT if repeat is None else repeat
    proc = start_server(kind, work, cert, key)
    results = {}
    try:
        for nts in KINDS:
            if WARMUP > 0:
                generate(nts, cert, WARMUP)
            runs = []
            for r in range(repeat):
                runs.append(generate(nts, cert, DURATION))
                log(kind, "nts" if nts else "plain", r + 1, runs[-1])
            results[nts] = runs
    finally:
        stop_server(proc)
    summary = xdp_summary(proc.log_path) if kind == "ntsd-xdp" else None
    if summary is not None:
        log(kind, summary)
        if not summary["frames_received"]:
            raise RuntimeError("ntsd --xdp answered nothing on the XDP path: see " + proc.log_path)
    return results, summary


def check_order():
    if ORDER not in ("rounds", "servers"):
        sys.exit("compare-xdp-veth: ORDER must be rounds or servers, not %r" % ORDER)


def check_tools():
    check_order()
    if os.geteuid() != 0:
        sys.exit("compare-xdp-veth: needs root (network namespaces, XDP)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("compare-xdp-veth: needs two CPUs (server and generator pinned apart)")
    for tool in ("chronyd", "gnuplot", "openssl", "taskset", "setpriv"):
        if shutil.which(tool) is None:
            sys.exit("compare-xdp-veth: %s not found (scripts/install-deps.sh)" % tool)
    for path in (NTSD, BENCH):
        if not os.access(path, os.X_OK):
            sys.exit("compare-xdp-veth: %s not built" % path)


def main():
    check_tools()
    estimate = estimated_seconds()
    log("about %.0f s (%.1f min): %d servers x %d kinds x (%g s warm-up + %d x %g s)" % (
        estimate, estimate / 60, len(SERVERS), len(KINDS), WARMUP, REPEAT, DURATION))
    started = time.monotonic()
    background = background_busy()
    if background > QUIET_BUSY:
        log("warning: %.0f %% of the CPUs busy before the run: the figures will not be valid"
            % (background * 100))
    work = tempfile.mkdtemp(prefix="compare-xdp-veth.")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=bench",
         "-addext", "subjectAltName=IP:" + SERVER])
    results, xdp = {(kind, nts): [] for kind in SERVERS for nts in KINDS}, None
    # rounds: every server once per round; servers: each server REPEAT times in a row.
    schedule = ([(kind, 1) for _ in range(REPEAT) for kind in SERVERS] if ORDER == "rounds"
                else [(kind, REPEAT) for kind in SERVERS])
    try:
        make_network()
        for kind, repeat in schedule:
            by_kind, summary = measure_server(kind, work, cert, key, repeat)
            xdp = summary or xdp
            for nts, runs in by_kind.items():
                results[(kind, nts)] += runs
    finally:
        remove_network()
    elapsed = time.monotonic() - started
    write_outputs(results, xdp, elapsed, background)
    log("took %.0f s (%.1f min; estimated %.0f s); wrote %s/xdp-veth.{md,png,dat,json}" % (
        elapsed, elapsed / 60, estimate, OUT))


def median_range(runs):
    cost = [r["us_per_answer"] for r in runs]
    return statistics.median(cost), min(cost), max(cost)


def table(results):
    lines = ["| server | kind | CPU µs per answer, median (range) | answers/s, median "
             "| loss % max | load avg before runs |", "|---|---|---|---|---|---|"]
    for (kind, nts), runs in results.items():
        median, low, high = median_range(runs)
        lines.append("| %s | %s | %.2f (%.2f–%.2f) | %.0f | %.2f | %s |" % (
            LABELS[kind], "NTS" if nts else "plain", median, low, high,
            statistics.median(r["answered_rate"] for r in runs),
            max(r["loss_pct"] for r in runs), " ".join(r["load"] for r in runs)))
    lines.append("")
    for nts in KINDS:
        chrony, sockets, xdp = (median_range(results[(k, nts)])[0] for k in SERVERS)
        lines.append("- %s: ntsd --xdp / chronyd = **%.2f**, ntsd --xdp / ntsd sockets = **%.2f**, "
                     "ntsd sockets / chronyd = %.2f (ratios of the medians)" % (
                         "NTS" if nts else "plain", xdp / chrony, xdp / sockets, sockets / chrony))
    if ORDER == "rounds":
        lines.append("")
        lines.append("Per round (the three servers measured within minutes of each other), "
                     "median and range of the round's ratios:")
        lines.append("")
        for nts in KINDS:
            chrony, sockets, xdp = ([r["us_per_answer"] for r in results[(k, nts)]]
                                    for k in SERVERS)
            cells = []
            for name, ratios in (
                    ("ntsd --xdp / chronyd", [x / c for x, c in zip(xdp, chrony)]),
                    ("ntsd --xdp / ntsd sockets", [x / s for x, s in zip(xdp, sockets)]),
                    ("ntsd sockets / chronyd", [s / c for s, c in zip(sockets, chrony)])):
                cells.append("%s %.2f (%.2f–%.2f; rounds: %s)" % (
                    name, statistics.median(ratios), min(ratios), max(ratios),
                    " ".join("%.2f" % r for r in ratios)))
            lines.append("- %s: %s" % ("NTS" if nts else "plain", "; ".join(cells)))
    return lines


def machine():
    cpu = cpu_model()
    commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    version = re.search(r"version (\S+)", run(["chronyd", "--version"], check=False).stdout)
    return cpu, commit or "unknown", "chrony " + (version.group(1) if version else "?")


def background_busy():
    """The fraction of all CPUs busy over 2 s, before anything of ours runs."""
    before = cpu_times()
    time.sleep(2)
    after = cpu_times()
    busy = sum(after[c][0] - before[c][0] for c in after)
    return min(1.0, busy / (os.sysconf("SC_CLK_TCK") * 2.0 * len(after)))


def report(results, xdp, elapsed, background):
    cpu, commit, chrony = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "## The veth comparison with `--xdp` (%s, commit %s)" % (now, commit), "",
        "- **Machine**: %d CPUs, %s, Linux %s; %s." % (os.cpu_count(), cpu, platform.release(),
                                                     chrony),
        "- **Command**: `sudo DURATION=%g REPEAT=%d WARMUP=%g XDP_MODE=%s ORDER=%s "
        "bench/compare_xdp_veth.py %s` (%.1f min)" % (DURATION, REPEAT, WARMUP, XDP_MODE, ORDER,
                                                      os.path.relpath(BUILD, ROOT), elapsed / 60),
        "- **Before the run**: %.1f %% of the CPUs busy (2 s sample)." % (background * 100),
        "- **ntsd --xdp**: %s mode, copy mode sockets (veth); receive timestamps: %s." % (
            xdp["mode"] if xdp else "?", xdp["rx_timestamps"] if xdp else "?"),
        "- **Method**: server pinned to CPU %s, `nts-bench ntp --max --threads 1 --window 64` "
        "pinned to CPU %s; server CPU = CPU %s busy without softirq + CPU %s softirq "
        "(/proc/stat), per answer counted by the generator." % (
            SERVER_CPU, GENERATOR_CPU, SERVER_CPU, GENERATOR_CPU), ""]
    if background > QUIET_BUSY:
        # The method charges whatever else ran on the two CPUs.
        head.append("**Not a quiet machine (%.0f %% of the CPUs busy before the run): these "
                    "figures are not valid measurements.**" % (background * 100))
        head.append("")
    return head + table(results) + ["", "![CPU per answer](xdp-veth.png)", ""]


def write_chart(results):
    dat, png = os.path.join(OUT, "xdp-veth.dat"), os.path.join(OUT, "xdp-veth.png")
    with open(dat, "w") as f:
        f.write("# kind " + " ".join("%s_median %s_min %s_max" % (k, k, k) for k in SERVERS) + "\n")
        for nts in KINDS:
            cells = ["%.3f %.3f %.3f" % median_range(results[(k, nts)]) for k in SERVERS]
            f.write("%s %s\n" % ("NTS" if nts else "plain", " ".join(cells)))
    plots = ", ".join("'%s' using %d:%d:%d%s title '%s'" % (
        dat, 2 + 3 * i, 3 + 3 * i, 4 + 3 * i, ":xtic(1)" if i == 0 else "", LABELS[k])
        for i, k in enumerate(SERVERS))
    script = "\n".join([
        "set terminal pngcairo size 800,480 font 'sans,11'",
        "set output '%s'" % png,
        "set title 'Server CPU per answer on a veth pair (median of %d runs; bars: range)'" % REPEAT,
        "set ylabel 'CPU µs per answer'", "set yrange [0:*]", "set grid ytics",
        "set style data histogram", "set style histogram errorbars gap 2 lw 1",
        "set style fill solid 0.7 border -1", "set key top right", "plot " + plots, ""])
    subprocess.run(["gnuplot"], input=script, text=True, check=True, timeout=60)


def write_outputs(results, xdp, elapsed, background):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "xdp-veth.json"), "w") as f:
        json.dump({"duration": DURATION, "repeat": REPEAT, "warmup": WARMUP, "xdp": xdp,
                   "order": ORDER,
                   "elapsed_s": elapsed, "background_busy": background,
                   "runs": [{"server": k, "nts": nts, "runs": runs}
                            for (k, nts), runs in results.items()]}, f, indent=1)
    lines = report(results, xdp, elapsed, background)
    with open(os.path.join(OUT, "xdp-veth.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    write_chart(results)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
