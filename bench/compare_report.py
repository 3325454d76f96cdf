#!/usr/bin/env python3
"""Turns compare-chrony.sh's nts-bench JSON lines into the Markdown report."""
import argparse
import json
import os
import platform
import statistics

import machine

p = argparse.ArgumentParser()
p.add_argument("results")
p.add_argument("--started")
p.add_argument("--command")
p.add_argument("--duration")
p.add_argument("--repeat")
p.add_argument("--priority")
p.add_argument("--ntsd-version")
p.add_argument("--chrony-version")
p.add_argument("--ntsd-flags", default="")
a = p.parse_args()

rows = [json.loads(line) for line in open(a.results)]


def runs(label):
    return [r for r in rows if r["label"] == label]


def med(label, key):
    values = [r[key] for r in runs(label) if key in r]
    return statistics.median(values) if values else float("nan")


def spread(label, key, fmt="{:.2f}"):
    values = [r[key] for r in runs(label) if key in r]
    if not values:
        return "n/a"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt.format(m)
    return (fmt + " ({}–{})").format(m, fmt.format(min(values)), fmt.format(max(values)))


cpu_model = machine.cpu_model()

out = []
w = out.append
w("## ntsd vs chrony on loopback (%s)" % a.started)
w("")
w("- machine: %d CPUs, %s, Linux %s; load average at the end %s" % (
    os.cpu_count(), cpu_model, platform.release(), " ".join("%.2f" % x for x in os.getloadavg())))
w("- servers: %s; %s" % (a.ntsd_version, a.chrony_version))
if a.ntsd_flags:
    w("- ntsd rate limits off for the CPU, rate and latency runs (`%s`), as chronyd without "
      "`ratelimit`; the RSS run uses a fresh ntsd with its defaults" % a.ntsd_flags)
w("- command: `%s` (DURATION=%s s per run, REPEAT=%s, PRIORITY=%s); figures are medians, "
  "(min–max) over the repeats" % (a.command, a.duration, a.repeat, a.priority))
w("")
w("### CPU per answer (server utime+stime from /proc ÷ answers)")
w("")
w("| | chrony | ntsd | ntsd/chrony | target |")
w("|---|---|---|---|---|")
for name, suffix, key, target in [
        ("µs per NTS response", "nts max", "server_cpu_us_per_answer", 0.35),
        ("µs per plain NTP response", "plain max", "server_cpu_us_per_answer", 0.35),
        ("µs per NTS-KE session", "ke", "server_cpu_us_per_session", 0.5)]:
    c = med("chrony " + suffix, key)
    n = med("ntsd " + suffix, key)
    ratio = n / c
    w("| %s | %s | %s | %.2f | ≤ %.2f %s |" % (name, spread("chrony " + suffix, key),
                                               spread("ntsd " + suffix, key), ratio, target,
                                               "met" if ratio <= target else "not met"))
if runs("chrony46 nts30 max") and runs("ntsd nts30 max"):
    key = "server_cpu_us_per_answer"
    c = med("chrony46 nts30 max", key)
    n = med("ntsd nts30 max", key)
    w("")
    w("AEAD 30 (AES-128-GCM-SIV), ntsd against chronyd 4.6 from the Debian 13 chroot, "
      "both offered AEAD 30 only (CHRONY46=1):")
    w("")
    w("| | chrony 4.6 | ntsd | ntsd/chrony |")
    w("|---|---|---|---|")
    w("| µs per NTS response (AEAD 30) | %s | %s | %.2f |" % (
        spread("chrony46 nts30 max", key), spread("ntsd nts30 max", key), n / c))
w("")
w("### Rates, latency, and who was the limit")
w("")
w("| run | answered/s | loss % | p50 µs | p99 µs | p99.9 µs | server CPU µs/answer | server cores | server runnable-waiting s | generator cores | machine busy cores | UDP rcvbuf drops |")
w("|---|---|---|---|---|---|---|---|---|---|---|---|")
labels = []
for r in rows:
    if r["label"] not in labels:
        labels.append(r["label"])
for label in labels:
    rate_key = "rate" if runs(label)[0]["mode"] == "ke" else "answered_rate"
    loss = "–" if rate_key == "rate" else spread(label, "loss_pct", "{:.3f}")
    gen = statistics.median(r["client_cpu_s"] / r["wall_s"] for r in runs(label))
    per_key = "server_cpu_us_per_session" if rate_key == "rate" else "server_cpu_us_per_answer"
    w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s |" % (
        label, spread(label, rate_key, "{:.0f}"), loss, spread(label, "p50_us", "{:.0f}"),
        spread(label, "p99_us", "{:.0f}"), spread(label, "p999_us", "{:.0f}"),
        spread(label, per_key), spread(label, "server_cores"), spread(label, "server_runq_wait_s"),
        gen, spread(label, "machine_busy_cores"), spread(label, "udp_rcvbuf_drops", "{:.0f}")))
w("")
one = med("ntsd 1 worker", "answered_rate")
two = med("ntsd 2 workers", "answered_rate")
w("- ntsd 2 NTP workers / 1 worker, saturated NTS rate: **%.2f×** (target ≥ 1.7×); "
  "server cores used %.2f vs %.2f" % (two / one, med("ntsd 2 workers", "server_cores"),
                                       med("ntsd 1 worker", "server_cores")))
if med("ntsd 2 workers", "server_cores") < 1.5:
    w("  - **Not a measure of ntsd's scaling**: the 2-worker server got %.2f cores, not 2, on "
      "this %d-CPU machine shared with the generator (%.2f cores); its threads spent %.2f s "
      "runnable but waiting for a CPU. CPU per answer: %.2f µs with 2 workers, %.2f µs "
      "with 1." % (med("ntsd 2 workers", "server_cores"), os.cpu_count(),
                   statistics.median(r["client_cpu_s"] / r["wall_s"] for r in runs("ntsd 2 workers")),
                   med("ntsd 2 workers", "server_runq_wait_s"),
                   med("ntsd 2 workers", "server_cpu_us_per_answer"),
                   med("ntsd 1 worker", "server_cpu_us_per_answer")))
for s in ("chrony", "ntsd"):
    w("- %s p99 at half its saturated NTS rate (%.0f/s): **%.0f µs** (ntsd target < 100 µs)" % (
        s, med(s + " nts half", "offered_rate"), med(s + " nts half", "p99_us")))
gap_runs = [(what, [r for r in runs("ntsd " + suffix) if r.get("tx_gap_p50_us") is not None])
            for suffix, what in (("nts max", "saturated NTS rate"),
                                 ("nts half", "half the saturated NTS rate"))]
if any(gaps for _, gaps in gap_runs):
    w("- ntsd transmit gap (kernel software transmit timestamp minus the transmit timestamp written "
      "into the response; `ntsd_ntp_transmit_gap_seconds` of a fresh ntsd per run, upper bucket "
      "edges). Kernel timestamps are taken only for interleaved clients' responses and 1 in 16 "
      "others, so the gaps are about 1/16 of the answers:")


def gap_spread(gaps, key):
    values = [r[key] for r in gaps]
    m = statistics.median(values)
    if len(values) == 1:
        return "%.1f" % m
    return "%.1f (%.1f–%.1f)" % (m, min(values), max(values))


for what, gaps in gap_runs:
    if gaps:
        w("  - at %s: median **%s µs**, p99 **%s µs** (%.0f gaps for %.0f answers per run)" % (
            what, gap_spread(gaps, "tx_gap_p50_us"), gap_spread(gaps, "tx_gap_p99_us"),
            statistics.median(r["tx_gap_count"] for r in gaps),
            statistics.median(r["answered"] for r in gaps)))
for s in ("chrony", "ntsd"):
    r = runs(s + " rss")
    if r:
        r = r[0]
        w("- %s after %d NTS requests (%d answered) from %d addresses spread over 127/8: RSS %.1f MB, peak %.1f MB "
          "(ntsd target < 30 MB)" % (s, r["sent"], r["answered"], r["sources"],
                                      r["server_rss_kib"] / 1024, r["server_hwm_kib"] / 1024))
print("\n".join(out))
