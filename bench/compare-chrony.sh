#!/usr/bin/env bash
# ntsd beside chronyd 4.3 as NTS servers on loopback, driven by nts-bench in one run.
#
#   bench/compare-chrony.sh [BUILD_DIR] > report.md      (progress on stderr)
#
# Prints a Markdown report: CPU microseconds per NTS response, per plain NTP response
# and per NTS-KE session for each server (the server's utime + stime from /proc over
# the run, divided by what it answered; chronyd's NTS-KE helper process included),
# the ratio ntsd/chrony, ntsd with 2 NTP workers against 1, p99 latency at half the
# saturated NTS rate, RSS after a million NTS requests from 100,000 addresses, and
# ntsd's transmit gap (median and p99, scraped from its Prometheus endpoint) at the
# saturated and at the half rate.
#
# Environment: DURATION (s per run, default 4), REPEAT (runs per figure, median
# reported, default 3), PRIORITY (autogroup nice of the servers and the generator,
# default -10; 0 = leave alone), RSS_REQUESTS (default 1000000), RSS_SOURCES
# (default 100000), CHRONY46 (auto, 1 or 0: also compare CPU per NTS response with
# AEAD 30 against chronyd 4.6 from the Debian 13 chroot in third_party/trixie, which
# scripts/install-deps.sh builds; auto = when the chroot is there). About 3-4 minutes
# with the defaults, 2 × REPEAT × DURATION s more with chrony 4.6.
#
# Safety: chronyd runs with -x (never touches the clock) and without CAP_SYS_TIME
# (setpriv drops it from the inheritable and bounding sets), on 127.0.0.1 only.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bench="$build/bin/nts-bench"
ntsd="$build/bin/ntsd"
DURATION=${DURATION:-4}
REPEAT=${REPEAT:-3}
PRIORITY=${PRIORITY:--10}
RSS_REQUESTS=${RSS_REQUESTS:-1000000}
RSS_SOURCES=${RSS_SOURCES:-100000}

log() { echo "compare-chrony: $*" >&2; }
[ -x "$ntsd" ] && [ -x "$bench" ] || { log "no $ntsd or $bench: build first (make build)"; exit 1; }
if ! command -v chronyd >/dev/null; then
  log "chronyd missing: installing Debian's chrony (scripts/install-deps.sh)"
  bash "$root/scripts/install-deps.sh" >&2
fi
chronyd=$(command -v chronyd)
trixie=${NTSD_TRIXIE_ROOT:-$root/third_party/trixie}
CHRONY46=${CHRONY46:-auto}
if [ "$CHRONY46" = auto ]; then
  if [ -x "$trixie/usr/sbin/chronyd" ]; then CHRONY46=1; else CHRONY46=0; fi
fi
if [ "$CHRONY46" = 1 ] && [ ! -x "$trixie/usr/sbin/chronyd" ]; then
  log "CHRONY46=1 but no chronyd 4.6 in $trixie: run scripts/install-deps.sh"; exit 1
fi
for tool in setpriv taskset python3 openssl; do
  command -v "$tool" >/dev/null || { log "$tool not found"; exit 1; }
done

work=$(mktemp -d /tmp/compare-chrony.XXXXXX)
pids=()
alive() {  # pid exists and is not a zombie
  [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
stop_pid() {  # not our child after setsid's fork: poll until it is gone
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do alive "$1" || return 0; sleep 0.05; done
  kill -9 "$1" 2>/dev/null || true
}
cleanup() {
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  if [ -n "${KEEP_WORK:-}" ]; then log "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

bash "$root/scripts/make-dev-cert.sh" "$work/certs" >&2
cert="$work/certs/cert.pem"
key="$work/certs/key.pem"

# Eleven free loopback ports (UDP and TCP) from the kernel.
read -r C_KE C_NTP N_KE N_NTP N2_KE N2_NTP R_KE R_NTP N_METRICS C46_KE C46_NTP < <(python3 "$root/bench/free_ports.py" 11)

# CPU placement: on 2+ CPUs the server gets CPU 1 and the generator CPU 0, so neither
# steals the other's cycles; the scaling runs (2 workers) leave everything unpinned.
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then server_cpus=1; gen_cpus=0; else server_cpus=0; gen_cpus=0; fi

# Runs "$@" in a new session whose autogroup gets nice $PRIORITY: with autogroup
# scheduling, task nice values only count inside a session, and other sessions
# (builds, fuzzers) would otherwise get an equal share of each CPU.
# With PIDFILE set, the pid of the final program is written there (setsid may fork).
prio() {
  PIDFILE=${PIDFILE:-} setsid sh -c '
    if [ -n "$PIDFILE" ]; then echo $$ > "$PIDFILE"; fi
    if [ "$0" != 0 ]; then echo "$0" > /proc/self/autogroup; fi
    exec "$@"' "$PRIORITY" "$@"
}
# Waits for a pid file written by prio and prints the pid in it.
pid_from() {
  for _ in $(seq 100); do
    if [ -s "$1" ]; then cat "$1"; return 0; fi
    sleep 0.05
  done
  log "no pid in $1"; exit 1
}

wait_tcp() {  # port
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "nothing listening on 127.0.0.1:$1"; exit 1
}

start_chrony() {
  mkdir -p "$work/chrony"
  cat > "$work/chrony/chrony.conf" <<CONF
ntsserverkey $key
ntsservercert $cert
ntsport $C_KE
port $C_NTP
bindaddress 127.0.0.1
allow 127.0.0.0/8
local stratum 1
ntsdumpdir $work/chrony
pidfile $work/chrony/chronyd.pid
driftfile $work/chrony/drift
cmdport 0
# Room for the client log (per-address state for interleaved mode and rate
# limiting) of 100,000 benchmark addresses. No ratelimit / ntsratelimit directive:
# chronyd then limits nothing.
clientloglimit 100000000
CONF
  PIDFILE="$work/chrony.launch.pid" prio taskset -c "$server_cpus" setpriv --inh-caps=-sys_time --bounding-set=-sys_time \
    "$chronyd" -d -x -u root -f "$work/chrony/chrony.conf" > "$work/chrony/log" 2>&1 &
  chrony_pid=$(pid_from "$work/chrony.launch.pid")
  pids+=("$chrony_pid")
  wait_tcp "$C_KE"
}

# chronyd 4.6 from the Debian 13 chroot, as tests/interop/chrony46.py runs it: in a
# private mount namespace with the work directory bind-mounted at the same path inside
# the chroot, so the certificate, key and configuration keep their paths. unshare
# (without --fork), sh and chroot all exec, so the pid prio writes is chronyd's.
# AEAD 30 only (ntsaeads 30), so a session can get nothing else.
start_chrony46() {
  mkdir -p "$work/chrony46"
  cat > "$work/chrony46/chrony.conf" <<CONF
ntsserverkey $key
ntsservercert $cert
ntsport $C46_KE
port $C46_NTP
bindaddress 127.0.0.1
allow 127.0.0.0/8
local stratum 1
ntsaeads 30
ntsdumpdir $work/chrony46
pidfile $work/chrony46/chronyd.pid
driftfile $work/chrony46/drift
cmdport 0
clientloglimit 100000000
CONF
  # shellcheck disable=SC2016  # expanded by the inner sh
  local enter='root=$1; dir=$2; shift 2; mount --make-rprivate / && mkdir -p "$root$dir" && mount --bind "$dir" "$root$dir" && exec chroot "$root" "$@"'
  PIDFILE="$work/chrony46.launch.pid" prio taskset -c "$server_cpus" setpriv --inh-caps=-sys_time --bounding-set=-sys_time \
    unshare --mount -- /bin/sh -c "$enter" sh "$trixie" "$work" \
    chronyd -d -x -u root -f "$work/chrony46/chrony.conf" > "$work/chrony46/log" 2>&1 &
  chrony46_pid=$(pid_from "$work/chrony46.launch.pid")
  pids+=("$chrony46_pid")
  wait_tcp "$C46_KE"
}

# chronyd limits nothing without ratelimit/ntsratelimit; ntsd builds that have rate limits
# get them switched off for the CPU and rate measurements, like chronyd.
# The help is read once into a variable: `ntsd --help | grep -q` under pipefail fails
# when grep exits at the first match and ntsd then dies of SIGPIPE on a long help text.
ntsd_help=$("$ntsd" --help 2>/dev/null || true)
no_limits=()
for flag in --ntp-rate-limit --ke-rate-limit; do
  if grep -q -- "$flag" <<< "$ntsd_help"; then no_limits+=("$flag" 0); fi
done

# ntsd's Prometheus endpoint, where the build has one: the transmit gap summary.
metrics=()
if grep -q -- --metrics-listen <<< "$ntsd_help"; then
  metrics=(--metrics-listen "127.0.0.1:$N_METRICS")
fi

start_ntsd() {  # name workers ke_port ntp_port cpus [more ntsd flags]
  rm -f "$work/$1.launch.pid"  # a restart must not read the previous pid
  PIDFILE="$work/$1.launch.pid" prio taskset -c "$5" "$ntsd" --cert "$cert" --key "$key" --keys "$work/$1.keys" \
    --ke-listen "127.0.0.1:$3" --ntp-listen "127.0.0.1:$4" --ntp-workers "$2" \
    --log-level warn "${@:6}" > "$work/$1.log" 2>&1 &
  local pid
  pid=$(pid_from "$work/$1.launch.pid")
  pids+=("$pid")
  wait_tcp "$3"
  if [ "$(readlink "/proc/$pid/exe")" != "$(readlink -f "$ntsd")" ]; then
    log "$1 (pid $pid) is not running ntsd:"; cat "$work/$1.log" >&2; exit 1
  fi
  eval "${1}_pid=$pid"
}


# A fresh ntsd (same ports, same keys) for a run whose transmit gap is reported:
# the gap summary covers the process's whole life, so it then covers that run only.
restart_ntsd() {
  stop_pid "$ntsd_pid"
  start_ntsd ntsd 1 "$N_KE" "$N_NTP" "$server_cpus" "${no_limits[@]}" "${metrics[@]}"
}

# The transmit gap summary from ntsd's metrics, as JSON members to add to a run's line.
scrape_gap() {
  python3 - "$N_METRICS" <<'PY'
import math, sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
v = {}
for line in text.splitlines():
    if line.startswith("ntsd_ntp_transmit_gap_seconds"):
        name, value = line.rsplit(" ", 1)
        v[name] = float(value)
def us(quantile):
    x = v['ntsd_ntp_transmit_gap_seconds{quantile="%s"}' % quantile]
    return "null" if math.isnan(x) else "%.3f" % (x * 1e6)
print('"tx_gap_p50_us": %s, "tx_gap_p99_us": %s, "tx_gap_count": %d, '
      % (us("0.5"), us("0.99"), v["ntsd_ntp_transmit_gap_seconds_count"]))
PY
}

results="$work/results.jsonl"
# run LABEL SERVER_PID GEN_CPUS nts-bench-args...: one JSON line, tagged. With
# SCRAPE_GAP=1 (and ntsd's metrics on) the line gets ntsd's transmit gap too.
run() {
  local label=$1 pid=$2 cpus=$3
  shift 3
  log "$label: nts-bench $*"
  local out gap_members=""
  out=$(prio taskset -c "$cpus" "$bench" "$@" --server-pid "$pid" --json)
  if [ -n "${SCRAPE_GAP:-}" ] && [ ${#metrics[@]} -gt 0 ]; then
    gap_members=$(scrape_gap) || { log "$label: no transmit gap from 127.0.0.1:$N_METRICS"; gap_members=""; }
  fi
  echo "{\"label\": \"$label\", $gap_members${out#\{}" >> "$results"
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start_chrony
start_ntsd ntsd 1 "$N_KE" "$N_NTP" "$server_cpus" "${no_limits[@]}" "${metrics[@]}"
log "chronyd pid $chrony_pid (NTS-KE $C_KE, NTP $C_NTP); ntsd pid $ntsd_pid (NTS-KE $N_KE, NTP $N_NTP) ${no_limits[*]}"

ca=(--ca "$cert")
d=(--duration "$DURATION")
# Saturation: closed loop (64 requests in flight) from one generator thread. The
# servers are run alternately, so slow drifts of the machine hit both alike.
for r in $(seq "$REPEAT"); do
  for s in chrony ntsd; do
    if [ $s = ntsd ] && [ "$r" -gt 1 ]; then restart_ntsd; fi
    if [ $s = chrony ]; then pid=$chrony_pid; ke=$C_KE; ntp=$C_NTP; gap=""; else pid=$ntsd_pid; ke=$N_KE; ntp=$N_NTP; gap=1; fi
    SCRAPE_GAP=$gap run "$s nts max" "$pid" "$gen_cpus" ntp "127.0.0.1:$ntp" --nts --ke "127.0.0.1:$ke" "${ca[@]}" "${d[@]}" --max
    run "$s plain max" "$pid" "$gen_cpus" ntp "127.0.0.1:$ntp" "${d[@]}" --max
    run "$s ke" "$pid" "$gen_cpus" ke "127.0.0.1:$ke" "${ca[@]}" "${d[@]}" --concurrency 2
  done
done

# AEAD 30: ntsd (the same instance) beside chronyd 4.6, both offered only AEAD 30.
if [ "$CHRONY46" = 1 ]; then
  start_chrony46
  log "chronyd 4.6 pid $chrony46_pid (NTS-KE $C46_KE, NTP $C46_NTP), $(chroot "$trixie" chronyd -v 2>/dev/null | head -1 || true)"
  for r in $(seq "$REPEAT"); do
    run "chrony46 nts30 max" "$chrony46_pid" "$gen_cpus" ntp "127.0.0.1:$C46_NTP" --nts --ke "127.0.0.1:$C46_KE" --aead 30 "${ca[@]}" "${d[@]}" --max
    run "ntsd nts30 max" "$ntsd_pid" "$gen_cpus" ntp "127.0.0.1:$N_NTP" --nts --ke "127.0.0.1:$N_KE" --aead 30 "${ca[@]}" "${d[@]}" --max
  done
  stop_pid "$chrony46_pid"
fi

median_rate() {  # label -> median answered_rate
  python3 - "$results" "$1" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["label"] == sys.argv[2]]
print(int(statistics.median(r["answered_rate"] for r in rows)))
PY
}

# Latency at half the saturated NTS rate: open loop, the generator spinning on its
# own CPU so that it sends on time and sees answers at once.
for s in chrony ntsd; do
  if [ $s = chrony ]; then pid=$chrony_pid; ke=$C_KE; ntp=$C_NTP; gap=""; else pid=$ntsd_pid; ke=$N_KE; ntp=$N_NTP; gap=1; fi
  half=$(( $(median_rate "$s nts max") / 2 ))
  for r in $(seq "$REPEAT"); do
    if [ $s = ntsd ]; then restart_ntsd; pid=$ntsd_pid; fi
    SCRAPE_GAP=$gap run "$s nts half" "$pid" "$gen_cpus" ntp "127.0.0.1:$ntp" --nts --ke "127.0.0.1:$ke" "${ca[@]}" "${d[@]}" --rate "$half" --spin
  done
done

# Memory: RSS_REQUESTS NTS requests from RSS_SOURCES loopback addresses spread over the
# /24 prefixes of 127/8 (stride 167), at 100,000/s
# (the duration only bounds the run), to a fresh ntsd with its default settings (rate
# limits included, when it has them: per-client state is what this is about) and to the
# chronyd above (client log on, as by default).
stop_pid "$ntsd_pid"
start_ntsd ntsdrss 1 "$R_KE" "$R_NTP" "$server_cpus"
rss_seconds=$(( RSS_REQUESTS / 50000 + 5 ))
for s in chrony ntsd; do
  if [ $s = chrony ]; then pid=$chrony_pid; ke=$C_KE; ntp=$C_NTP; else pid=$ntsdrss_pid; ke=$R_KE; ntp=$R_NTP; fi
  run "$s rss" "$pid" "$gen_cpus" ntp "127.0.0.1:$ntp" --nts --ke "127.0.0.1:$ke" "${ca[@]}" \
    --duration "$rss_seconds" --rate 100000 --count "$RSS_REQUESTS" --sources "$RSS_SOURCES" --source-stride 167
done
stop_pid "$chrony_pid"
stop_pid "$ntsdrss_pid"

# Scaling: ntsd with 1 and with 2 NTP workers, nothing pinned, two generator threads
# with four sockets each (eight source ports for SO_REUSEPORT to spread).
all_cpus=0-$((ncpu - 1))
start_ntsd ntsd1 1 "$N_KE" "$N_NTP" "$all_cpus" "${no_limits[@]}"
start_ntsd ntsd2 2 "$N2_KE" "$N2_NTP" "$all_cpus" "${no_limits[@]}"
for r in $(seq "$REPEAT"); do
  run "ntsd 1 worker" "$ntsd1_pid" "$all_cpus" ntp "127.0.0.1:$N_NTP" --nts --ke "127.0.0.1:$N_KE" "${ca[@]}" "${d[@]}" --max --threads 2
  run "ntsd 2 workers" "$ntsd2_pid" "$all_cpus" ntp "127.0.0.1:$N2_NTP" --nts --ke "127.0.0.1:$N2_KE" "${ca[@]}" "${d[@]}" --max --threads 2
done

python3 "$root/bench/compare_report.py" "$results" --ntsd-flags "${no_limits[*]}" \
  --started "$started" --command "bench/compare-chrony.sh $*" \
  --duration "$DURATION" --repeat "$REPEAT" --priority "$PRIORITY" \
  --ntsd-version "$("$ntsd" --version 2>/dev/null || echo unknown)" \
  --chrony-version "$("$chronyd" -v | head -1)"
cp "$results" "${RESULTS_JSONL:-/dev/null}" 2>/dev/null || true
