#!/usr/bin/env bash
# The transmit-timestamp error of basic-mode answers, chronyd beside ntsd with
# --ntp-tx-compensation off and on, all three in one run on loopback.
#
# error = the time tcpdump captured the response on lo (nanosecond capture
# timestamps, taken where the kernel hands the packet to the device, as the
# software transmit timestamp is) minus the transmit timestamp written in it.
# The same plain NTP client asks the three servers in turn, one request at a
# time, so load hits all three alike. Prints the median and the 10th/90th
# percentiles per server in microseconds, and the median of |error| (a
# compensated server errs on both sides).
#
# Needs root (tcpdump on lo), tcpdump, chronyd; ntsd built in build/bin.
# Safety: chronyd runs with -x (never touches the clock); loopback only.
# Usage: bench/tx_error.sh [requests per server, default 3000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ntsd=${NTSD:-$root/build/bin/ntsd}
count=${1:-3000}
log() { echo "tx_error: $*" >&2; }
[ -x "$ntsd" ] || { log "no $ntsd: build first"; exit 1; }
for tool in tcpdump chronyd python3 taskset; do
  command -v "$tool" >/dev/null || { log "$tool not found"; exit 1; }
done

work=$(mktemp -d /tmp/tx-error.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then log "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

bash "$root/scripts/make-dev-cert.sh" "$work/certs" >&2
read -r C_NTP OFF_KE OFF_NTP ON_KE ON_NTP < <(python3 "$root/bench/free_ports.py" 5)
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then server_cpus=1; client_cpus=0; else server_cpus=0; client_cpus=0; fi

cat > "$work/chrony.conf" <<CONF
port $C_NTP
bindaddress 127.0.0.1
allow 127.0.0.0/8
local stratum 1
pidfile $work/chronyd.pid
driftfile $work/drift
cmdport 0
CONF
taskset -c "$server_cpus" chronyd -d -x -u root -f "$work/chrony.conf" > "$work/chrony.log" 2>&1 &
pids+=($!)
start_ntsd() {  # name ke_port ntp_port on|off
  taskset -c "$server_cpus" "$ntsd" --cert "$work/certs/cert.pem" --key "$work/certs/key.pem" \
    --keys "$work/$1.keys" --ke-listen "127.0.0.1:$2" --ntp-listen "127.0.0.1:$3" \
    --ntp-workers 1 --ntp-rate-limit 0 --ntp-tx-compensation "$4" --log-level warn > "$work/$1.log" 2>&1 &
  pids+=($!)
}
start_ntsd off "$OFF_KE" "$OFF_NTP" off
start_ntsd on "$ON_KE" "$ON_NTP" on
sleep 2

filter="udp and src host 127.0.0.1 and (src port $C_NTP or src port $OFF_NTP or src port $ON_NTP)"
tcpdump -i lo -n -B 16384 --time-stamp-precision=nano -w "$work/capture.pcap" "$filter" \
  2> "$work/tcpdump.log" &
tcpdump_pid=$!
pids+=($tcpdump_pid)
sleep 1

# The client: the three servers in turn, one request each, until `count` each.
taskset -c "$client_cpus" python3 - "$count" "$C_NTP" "$OFF_NTP" "$ON_NTP" <<'PY'
import socket, struct, sys, time
count, ports = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
request = struct.pack("!B47x", (4 << 3) | 3)
lost = 0
for _ in range(count):
    for port in ports:
        s.sendto(request, ("127.0.0.1", port))
        try:
            s.recvfrom(512)
        except socket.timeout:
            lost += 1
    time.sleep(0.0005)
print("tx_error: client done, %d lost" % lost, file=sys.stderr)
PY
sleep 1
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true
grep -h "packets" "$work/tcpdump.log" >&2 || true

python3 - "$work/capture.pcap" "$C_NTP" "$OFF_NTP" "$ON_NTP" <<'PY'
import statistics, struct, sys
path, names = sys.argv[1], dict(zip(map(int, sys.argv[2:]), ["chronyd", "ntsd compensation off", "ntsd compensation on"]))
data = open(path, "rb").read()
magic = struct.unpack("<I", data[:4])[0]
assert magic == 0xa1b23c4d, "not a nanosecond pcap"
linktype = struct.unpack("<I", data[20:24])[0]
offset, errors = 24, {p: [] for p in names}
NTP_UNIX = 2208988800
while offset + 16 <= len(data):
    sec, nsec, caplen, _ = struct.unpack("<IIII", data[offset:offset + 16])
    frame = data[offset + 16:offset + 16 + caplen]
    offset += 16 + caplen
    ip = frame[14:] if linktype == 1 else frame[16:] if linktype == 113 else frame
    if len(ip) < 28 or ip[0] >> 4 != 4:
        continue
    ihl = (ip[0] & 15) * 4
    sport = struct.unpack("!H", ip[ihl:ihl + 2])[0]
    ntp = ip[ihl + 8:]
    if sport not in names or len(ntp) < 48 or ntp[0] & 7 != 4:
        continue
    t3 = struct.unpack("!Q", ntp[40:48])[0]
    # Integer seconds apart first: a double of the whole epoch would lose ~100 ns.
    error_us = ((sec - ((t3 >> 32) - NTP_UNIX)) * 1e6 + nsec / 1e3
                - (t3 & 0xFFFFFFFF) / 2**32 * 1e6)
    errors[sport].append(error_us)
print("%-24s %8s %10s %14s %10s %10s" % ("server", "answers", "median_us", "median_abs_us", "p10_us", "p90_us"))
for port, name in names.items():
    e = sorted(errors[port])
    if not e:
        print("%-24s %8d" % (name, 0)); continue
    q = lambda f: e[min(len(e) - 1, int(f * len(e)))]
    print("%-24s %8d %10.2f %14.2f %10.2f %10.2f" % (name, len(e), statistics.median(e),
          statistics.median(abs(x) for x in e), q(0.1), q(0.9)))
PY
