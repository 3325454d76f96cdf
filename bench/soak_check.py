#!/usr/bin/env python3
"""Pass or fail for a soak run (bench/soak.sh): reads soak.csv, prints one line per
assertion and the figures behind it, exits 1 when one fails.

Warm-up is the first 10 % of the samples, at least 3 (30 s): the worker threads'
buffers, the allocator's arenas and the rate-limit and interleaved tables fill then.
After warm-up, "flat" means:
  RSS          max - min <= 8 MiB, and the last third's mean at most 4 MiB above
               the first third's (no steady climb);
  descriptors  max - min <= 8 (sessions in flight come and go, nothing piles up);
  threads      max == min;
  p99          the last third's median within 3 x the first third's + 500 us, and
               no interval above 50 ms (loose: the generator shares the CPUs with
               ntsd, and a shared machine adds its own spikes; a leak or a growing
               table shows as a climb, which this catches);
  loss         at most 1 % of the NTS requests of the whole run unanswered;
  crashes      ntsd alive at every sample and exit status 0 at SIGTERM.
"""

import argparse
import csv
import statistics
import sys

RSS_SPREAD_KIB = 8 * 1024
RSS_TREND_KIB = 4 * 1024
FD_SPREAD = 8
P99_FACTOR, P99_SLACK_US, P99_CEILING_US = 3.0, 500.0, 50000.0
MAX_LOSS = 0.01


def number(text):
    return float(text) if text not in ("", None) else None


def thirds(values):
    n = max(1, len(values) // 3)
    return values[:n], values[-n:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("--exit-status", type=int, default=0, help="ntsd's at SIGTERM")
    args = parser.parse_args()
    with open(args.csv) as f:
        rows = list(csv.DictReader(f))
    failures = []

    def check(ok, text):
        print(("ok    " if ok else "FAIL  ") + text)
        if not ok:
            failures.append(text)

    check(len(rows) >= 5, "%d samples (at least 5)" % len(rows))
    if len(rows) < 5:
        return 1
    check(all(r["alive"] == "1" for r in rows) and args.exit_status == 0,
          "ntsd alive at every sample, exit status %d at SIGTERM" % args.exit_status)
    warm = max(3, len(rows) // 10)
    steady = [r for r in rows[warm:] if r["alive"] == "1"]
    if not steady:
        return 1
    rss = [number(r["rss_kib"]) for r in steady]
    first, last = thirds(rss)
    check(max(rss) - min(rss) <= RSS_SPREAD_KIB,
          "RSS after warm-up %.0f..%.0f KiB (spread <= %d KiB)" % (min(rss), max(rss),
                                                                   RSS_SPREAD_KIB))
    trend = statistics.mean(last) - statistics.mean(first)
    check(trend <= RSS_TREND_KIB,
          "RSS last third - first third %+.0f KiB (<= %d KiB)" % (trend, RSS_TREND_KIB))
    fds = [number(r["fds"]) for r in steady]
    check(max(fds) - min(fds) <= FD_SPREAD,
          "descriptors after warm-up %.0f..%.0f (spread <= %d)" % (min(fds), max(fds), FD_SPREAD))
    threads = [number(r["threads"]) for r in steady]
    check(max(threads) == min(threads),
          "threads after warm-up %.0f..%.0f (constant)" % (min(threads), max(threads)))
    p99 = [number(r["p99_us"]) for r in steady if number(r["p99_us"]) is not None]
    check(len(p99) >= len(steady) - 1, "%d of %d intervals measured latency" % (len(p99),
                                                                                 len(steady)))
    if p99:
        first, last = thirds(p99)
        a, b = statistics.median(first), statistics.median(last)
        check(b <= P99_FACTOR * a + P99_SLACK_US,
              "p99 median first third %.0f us, last third %.0f us (<= %.0f x + %.0f us)"
              % (a, b, P99_FACTOR, P99_SLACK_US))
        check(max(p99) <= P99_CEILING_US,
              "p99 worst interval %.0f us (<= %.0f us)" % (max(p99), P99_CEILING_US))
    sent = sum(number(r["nts_sent"]) or 0 for r in rows)
    answered = sum(number(r["nts_answered"]) or 0 for r in rows)
    loss = 1 - answered / sent if sent else 1
    check(loss <= MAX_LOSS, "NTS requests %.0f sent, %.0f answered, loss %.3f %% (<= %.0f %%)"
          % (sent, answered, 100 * loss, 100 * MAX_LOSS))
    print("soak: %s" % ("PASS" if not failures else "FAIL (%d)" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
