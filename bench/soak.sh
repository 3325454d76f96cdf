#!/usr/bin/env bash
# Soak test (issue 15 part 6): one ntsd under mixed load for a long time, sampled
# every 10 s. Load, at half the rate this machine saturates at:
#   - NTS NTPv4 from 50,000 source addresses across 127.0.0.0/8 (nts-bench --sources),
#     run in 10 s slices back to back: each slice is a fresh NTS-KE session and
#     gives that interval's answer latency (p50, p99);
#   - plain NTPv4 from the same 50,000 addresses, for the whole run;
#   - NTS-KE churn: short bursts of whole sessions, every 2 s;
#   - garbage: random datagrams to the NTP port and random bytes to the NTS-KE port.
# Every slice appends to soak.csv: RSS, descriptors and threads of ntsd, and the
# slice's latency and loss; soak.png charts them (gnuplot, when installed).
# bench/soak_check.py then decides pass or fail (what "flat" means is written there).
#
# Usage: bench/soak.sh [--duration SECONDS] [--bin DIR] [--out DIR]
#   --duration  seconds of load (default 3600); `make check` runs 150
#   --bin       where ntsd and nts-bench are (default build/bin)
#   --out       where soak.csv, soak.png, ntsd.log and the load logs go
#               (default bench/soak-YYYYmmdd-HHMMSS)
# Exit 0: every assertion held; 1: one failed (printed); 2: usage or setup error.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
duration=3600
bin="$root/build/bin"
out="$root/bench/soak-$(date -u +%Y%m%d-%H%M%S)"
interval=10
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--duration SECONDS] [--bin DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ "$duration" -ge 60 ] 2>/dev/null || { echo "soak: --duration must be >= 60 s" >&2; exit 2; }
for tool in ntsd nts-bench; do
  [ -x "$bin/$tool" ] || { echo "soak: $bin/$tool not built" >&2; exit 2; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out/ntsd.log"
work=$(mktemp -d /tmp/ntsd-soak.XXXXXX)
pids=()
ntsd_pid=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  [ -n "$ntsd_pid" ] && kill "$ntsd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket,sys
t=socket.socket(); u=socket.socket(type=socket.SOCK_DGRAM)
t.bind(("127.0.0.1",0)); p=t.getsockname()[1]; u.bind(("127.0.0.1",p)); print(p)'
}
json_field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }

bash "$root/scripts/make-dev-cert.sh" "$work/cert" >/dev/null
ke_port=$(free_port)
ntp_port=$(free_port)
# Rate limits off: 50,000 addresses from one host would otherwise meet them by prefix.
"$bin/ntsd" --cert "$work/cert/cert.pem" --key "$work/cert/key.pem" \
  --ke-listen "127.0.0.1:$ke_port" --ntp-listen "127.0.0.1:$ntp_port" \
  --keys "$work/keys" --ke-rate-limit 0 --ntp-rate-limit 0 --log-summary "$interval" \
  --log-file "$out/ntsd.log" &
ntsd_pid=$!
for _ in $(seq 300); do
  grep -q ' ready' "$out/ntsd.log" 2>/dev/null && break
  kill -0 "$ntsd_pid" 2>/dev/null || { echo "soak: ntsd did not start" >&2; exit 2; }
  sleep 0.1
done
ke=(--nts --ke "localhost:$ke_port" --ca "$work/cert/cert.pem")
sources=(--sources 50000 --source-stride 257)

# Saturation: NTS requests closed loop for 5 s; the soak offers half of it.
saturated=$("$bin/nts-bench" ntp "127.0.0.1:$ntp_port" "${ke[@]}" --max --duration 5 --json \
  "${sources[@]}" | json_field answered_rate)
half=$(python3 -c "print(max(100, int(float('$saturated') / 2)))")
nts_rate=$((half * 6 / 10))
plain_rate=$((half - nts_rate))
echo "soak: saturated at $saturated NTS answers/s; offering $nts_rate NTS + $plain_rate plain/s" \
  "for $duration s, output in $out"
echo "saturated_rate=$saturated nts_rate=$nts_rate plain_rate=$plain_rate duration=$duration" \
  >"$out/parameters"

"$bin/nts-bench" ntp "127.0.0.1:$ntp_port" --rate "$plain_rate" --duration "$duration" \
  "${sources[@]}" --json >"$out/plain.json" 2>"$out/plain.err" &
pids+=($!)
( end=$((SECONDS + duration))
  while [ $SECONDS -lt $end ]; do
    "$bin/nts-bench" ke "localhost:$ke_port" --ca "$work/cert/cert.pem" --duration 0.5 \
      --concurrency 2 --json || true
    sleep 1.5
  done ) >"$out/ke.json" 2>"$out/ke.err" &
pids+=($!)
python3 - "$ke_port" "$ntp_port" "$duration" >"$out/garbage.log" 2>&1 <<'PY' &
import os, socket, sys, time
ke, ntp, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + duration
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = 0
while time.monotonic() < end:
    for _ in range(20):  # 200 garbage datagrams/s from random 127/8 addresses' ports
        udp.sendto(os.urandom(1 + sent % 120), ("127.0.0.1", ntp))
        sent += 1
    if sent % 200 == 0:  # and one connection of random bytes to NTS-KE per second
        try:
            with socket.create_connection(("127.0.0.1", ke), timeout=1) as s:
                s.sendall(os.urandom(64))
        except OSError:
            pass
    time.sleep(0.1)
print("garbage datagrams sent:", sent)
PY
pids+=($!)

csv="$out/soak.csv"
echo "t_s,rss_kib,fds,threads,nts_sent,nts_answered,nts_lost,p50_us,p99_us,alive" >"$csv"
start=$SECONDS
while [ $((SECONDS - start + interval)) -le "$duration" ]; do
  slice=$("$bin/nts-bench" ntp "127.0.0.1:$ntp_port" "${ke[@]}" --rate "$nts_rate" \
    --duration "$interval" "${sources[@]}" --json 2>>"$out/nts.err" || echo '{}')
  alive=1
  kill -0 "$ntsd_pid" 2>/dev/null || alive=0
  if [ $alive = 1 ]; then
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$ntsd_pid/status")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$ntsd_pid/status")
    fds=$(ls "/proc/$ntsd_pid/fd" | wc -l)
  else
    rss=0 threads=0 fds=0
  fi
  row=$(python3 -c 'import json,sys
d=json.loads(sys.argv[1] or "{}")
print(",".join(str(d.get(k, "")) for k in ("sent","answered","lost","p50_us","p99_us")))' "$slice")
  echo "$((SECONDS - start)),$rss,$fds,$threads,$row,$alive" >>"$csv"
  [ $alive = 1 ] || break
done

for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
pids=()
status=0
if kill -0 "$ntsd_pid" 2>/dev/null; then
  kill -TERM "$ntsd_pid"
  wait "$ntsd_pid" || status=$?
else
  wait "$ntsd_pid" || status=$?
fi
ntsd_pid=
echo "ntsd_exit_status=$status" >>"$out/parameters"

if command -v gnuplot >/dev/null; then
  gnuplot <<GP || echo "soak: gnuplot failed, no chart" >&2
set terminal png size 1200,900
set output "$out/soak.png"
set datafile separator ","
set key autotitle columnhead noenhanced
set multiplot layout 3,1 title "ntsd soak: $nts_rate NTS + $plain_rate plain req/s, 50,000 sources"
set xlabel "seconds"
set ylabel "RSS (KiB)"
plot "$csv" using 1:2 with lines title "RSS"
set ylabel "count"
plot "$csv" using 1:3 with lines title "descriptors", "$csv" using 1:4 with lines title "threads"
set ylabel "latency (us)"
plot "$csv" using 1:8 with lines title "p50", "$csv" using 1:9 with lines title "p99"
unset multiplot
GP
fi
python3 "$root/bench/soak_check.py" "$csv" --exit-status "$status"
