#!/usr/bin/env python3
"""Two ntsd binaries with --xdp on the veth pair of compare_xdp_veth.py, A and B
alternating (ABBA...), for a before/after on a machine that is not quiet.

    sudo bench/ab_xdp_veth.py NTSD_A NTSD_B [ROUNDS]     (default 4 rounds)

Each round starts each binary once and measures one NTS and one plain run of
DURATION s (default 10) after WARMUP s, with compare_xdp_veth.py's namespaces,
generator (BUILD_DIR/bin/nts-bench, BUILD_DIR from BENCH_BUILD, default build)
and /proc/stat method. Beside that method's figure it reports the server
process's own run time per answer (the sum over its threads of
/proc/PID/task/*/schedstat), which whatever else runs on the machine inflates
less: it leaves out the generator CPU's softirq (the requests' way through
veth and the XDP program into the UMEM). QUIET (a fraction, e.g. 0.1) waits
before each run until the rest of the machine is busy less than that.
Prints each run, then per binary and kind the median and range.
"""

import os
import statistics
import sys
import tempfile
import time

if len(sys.argv) < 3:
    sys.exit(__doc__)
NTSD_A, NTSD_B = (os.path.abspath(p) for p in sys.argv[1:3])
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
QUIET = float(os.environ.get("QUIET", "0"))
sys.argv = [sys.argv[0], os.environ.get("BENCH_BUILD", "build")]
import compare_xdp_veth as c  # noqa: E402 (reads sys.argv for the build)

c.REPEAT = 1
server = {}


def run_time_ns(pid):
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
            total += int(f.read().split()[0])
    return total


def others_busy(pid):
    """The fraction of all CPUs busy over 0.5 s, less the (idle) server's own."""
    before, ran = c.cpu_times(), run_time_ns(pid)
    time.sleep(0.5)
    after, ran = c.cpu_times(), run_time_ns(pid) - ran
    busy = sum(after[k][0] - before[k][0] for k in after) / os.sysconf("SC_CLK_TCK")
    return max(0.0, busy - ran / 1e9) / (0.5 * len(after))


def start_server(*args, _start=c.start_server):
    proc = _start(*args)
    server["pid"] = proc.pid  # ip netns exec and taskset exec ntsd in place
    return proc


def generate(nts, cert, duration, _generate=c.generate):
    waited = 0.0
    while QUIET > 0 and others_busy(server["pid"]) > QUIET and waited < 600:
        time.sleep(2)
        waited += 2.5
    if waited:
        c.log("waited %.0f s for a quiet machine" % waited)
    ran = run_time_ns(server["pid"])
    result = _generate(nts, cert, duration)
    ran = run_time_ns(server["pid"]) - ran
    result["run_time_us"] = ran / 1e3 / result["answered"] if result["answered"] else float("nan")
    return result


def main():
    c.start_server, c.generate = start_server, generate
    work = tempfile.mkdtemp(prefix="ab-xdp-veth.")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    c.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=bench",
           "-addext", "subjectAltName=IP:" + c.SERVER])
    results = {}
    try:
        c.make_network()
        for r in range(ROUNDS):
            order = [("A", NTSD_A), ("B", NTSD_B)]
            for name, binary in order if r % 2 == 0 else order[::-1]:
                c.NTSD = binary
                by_kind, _ = c.measure_server("ntsd-xdp", work, cert, key)
                for nts, runs in by_kind.items():
                    kind = "NTS" if nts else "plain"
                    for run in runs:
                        results.setdefault((name, kind), []).append(run)
                        print("round %d %s %-5s /proc/stat %.3f us, server run time %.3f us, %.0f/s"
                              % (r, name, kind, run["us_per_answer"], run["run_time_us"],
                                 run["answered_rate"]), flush=True)
    finally:
        c.remove_network()
    print("A = %s\nB = %s\nmedian (range) of %d runs, us per answer:" % (NTSD_A, NTSD_B, ROUNDS))
    for (name, kind), runs in sorted(results.items()):
        cells = []
        for field in ("us_per_answer", "run_time_us"):
            values = [run[field] for run in runs]
            cells.append("%.2f (%.2f-%.2f)" % (statistics.median(values), min(values), max(values)))
        print("%s %-5s /proc/stat %s, server run time %s" % (name, kind, cells[0], cells[1]))


if __name__ == "__main__":
    main()
