#!/usr/bin/env bash
# Benchmarks on loopback, each next to the floor the broker alone sets. Bounded; stops by itself.
#   tools/bench.sh [all|floor|peak|gate|syscalls|gate+syscalls|throughput|connections|push|checks|operator|scale]
#   (default: all, ~12 min; not in all: operator, ~2 min; scale, ~6 min, see tools/bench/scale.sh)
# Results: out/bench/*.json, a table on stdout, and out/bench/latency.png (gnuplot).
# Environment: TB_BENCH_SECONDS (peak and gate duration, default 60), TB_BENCH_OWNERS (default 10000),
# TB_BENCH_BRIDGE (another ticket-bridge binary to measure, e.g. an older build, with this
# load generator), TB_BENCH_DEVICE=1 (gate: plain-text scans), TB_BENCH_PUSH_RATES (push: the
# open-loop ramp, default 1000,2000,4000,6000,8000), TB_BENCH_PUSH_CONNECTIONS (default 64).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
what=${1:-all}
started=$(date +%s)  # the report shows only what this run measured
seconds=${TB_BENCH_SECONDS:-60}
owners=${TB_BENCH_OWNERS:-10000}

bash tools/setup.sh > /dev/null
for p in wrk gnuplot-nox; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" > /dev/null
done
bash tools/build.sh release ticket-bridge loadgen scan_checks > /dev/null
bin=${TB_BENCH_BRIDGE:-$root/build/bridge/ticket-bridge}
lg=$root/build/tools/loadgen/loadgen
out=$root/out/bench
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Two free loopback ports, bound at the same time so that they differ (two separate picks can
# get the same port back).
free_ports() {
  python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))'
}
read -r mqtt_port http_port < <(free_ports)
sed "s/^listener 1883 127.0.0.1$/listener $mqtt_port 127.0.0.1/" broker-conf/dev.conf > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker_pid=$!
pids+=($broker_pid)
cd "$work"
# Every load client comes from 127.0.0.1: the caps (10000 in all and 4000 per source by default)
# would refuse most of the connections test's 19,000 clients.
"$bin" serve --mqtt "mqtt://127.0.0.1:$mqtt_port" --listen "127.0.0.1:$http_port" --log-level warn \
  --max-connections 19900 --max-connections-per-source 20000 ${TB_BENCH_SERVE_ARGS:-} \
  > "$work/bridge.log" 2>&1 &
bridge_pid=$!
pids+=($bridge_pid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/healthz" > /dev/null && break; sleep 0.1; done
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$bridge_pid/status"; }
# A process's CPU time so far (user + system), in microseconds: the bridge's by default.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f\n", ($14 + $15) * 1000000 / hz}' "/proc/${1:-$bridge_pid}/stat"; }
mqtt=mqtt://127.0.0.1:$mqtt_port

tickets() {  # tickets PREFIX COUNT OWNERS: single-entry tickets PREFIX0.. for uids u<i % OWNERS>
  python3 - "$1" "$2" "$3" > "$work/t.csv" <<'PY'
import sys
prefix, count, owners = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print("code,uid")
for i in range(count):
    print(f"{prefix}{i},u{i % owners}")
PY
  "$bin" tickets import "$work/t.csv" > /dev/null
}

floor() {  # floor RATE SECONDS
  "$lg" floor --mqtt "$mqtt" --rate "$1" --seconds "$2"
}

run_floor() {
  echo "== floor: the broker alone at 1,000 msg/s for ${seconds}s"
  floor 1000 "$seconds" > "$out/floor.json"
}

run_peak() {
  echo "== gate peak: 1,000 scans/s for ${seconds}s with $owners owners on WebSocket"
  tickets P $((1000 * seconds)) "$owners"
  floor 1000 "$seconds" > "$out/peak-floor.json"
  local before cpu0; before=$(rss_kib); cpu0=$(cpu_us)
  "$lg" scans --mqtt "$mqtt" --ws "127.0.0.1:$http_port" --secret-file var/jwt-secret --prefix P \
    --owners "$owners" --rate 1000 --seconds "$seconds" --publishers 4 > "$out/peak.json"
  echo "{\"rss_before_kib\": $before, \"rss_after_kib\": $(rss_kib), \"cpu_us\": $(cpu_us), \"cpu0_us\": $cpu0}" \
    > "$out/peak-rss.json"
}

# The gate scenario of docs/benchmarks.md: 1,000 scans/s over 4 scanner connections, 2,000 owners
# on WebSocket, 200 of them also as native MQTT apps each on its own users/<uid>/events. The
# bridge's and the broker's CPU time span the whole generator call (its connects and drain
# included); the generator's own spans its sending and draining.
# TB_BENCH_DEVICE=1 sends the embedded scanners' plain-text scans instead of JSON.
gate_scans() {  # gate_scans PREFIX SECONDS OUTPUT
  "$lg" scans --mqtt "$mqtt" --ws "127.0.0.1:$http_port" --secret-file var/jwt-secret --prefix "$1" \
    --owners 2000 --native-owners 200 --rate 1000 --seconds "$2" --publishers 4 \
    --device "${TB_BENCH_DEVICE:-0}" > "$3"
}

run_gate() {
  echo "== gate: 1,000 scans/s for ${seconds}s, 2,000 WebSocket owners, 200 native MQTT owners"
  tickets G $((1000 * seconds)) 2000
  local f0; f0=$(cpu_us "$broker_pid")
  floor 1000 "$seconds" > "$out/gate-floor.json"
  local f1 b0 m0; f1=$(cpu_us "$broker_pid"); b0=$(cpu_us); m0=$(cpu_us "$broker_pid")
  gate_scans G "$seconds" "$out/gate.json"
  local b1 m1; b1=$(cpu_us); m1=$(cpu_us "$broker_pid")
  awk -v b="$((b1 - b0))" -v m="$((m1 - m0))" -v f="$((f1 - f0))" 'BEGIN {
    printf "{\"bridge_cpu_us\": %d, \"broker_cpu_us\": %d, \"floor_broker_cpu_us\": %d}\n", b, m, f }' \
    > "$out/gate-cpu.json"
}

# System calls per scan: 10 s of the gate scenario with strace counting every thread of the
# bridge (strace slows the bridge: no latency is taken from this run).
run_syscalls() {
  echo "== syscalls: strace -c -f on the bridge for 10 s of the gate scenario"
  tickets S 10000 2000
  strace -c -f -q -p "$bridge_pid" -o "$work/strace.txt" &
  local strace_pid=$!
  sleep 1
  gate_scans S 10 "$work/s.json"
  kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null || true
  python3 - "$work/strace.txt" "$work/s.json" > "$out/syscalls.json" <<'PY'
import json, re, sys
text, scans = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))["scans"]
calls = {m.group(2): int(m.group(1)) for m in
         re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", text, re.M)}
calls.pop("total", None)
total = sum(calls.values())
print(json.dumps({"scans": scans, "syscalls": total, "per_scan": total / max(scans, 1),
                  "top": dict(sorted(calls.items(), key=lambda kv: -kv[1])[:8])}))
PY
}

throughput_step() {  # throughput_step RATE: 10 s of scans at RATE beside the floor at RATE
  local rate=$1
  tickets "R$rate-" $((rate * 10)) 1000
  # Bounded: past its limits a Paho client can take minutes to drain and leave.
  timeout 90 "$lg" floor --mqtt "$mqtt" --rate "$rate" --seconds 10 > "$work/f.json" || return 1
  timeout 90 "$lg" scans --mqtt "$mqtt" --ws "127.0.0.1:$http_port" --secret-file var/jwt-secret \
    --prefix "R$rate-" --owners 1000 --ws-clients 1000 --rate "$rate" --seconds 10 --publishers 8 \
    > "$work/s.json" || return 1
  python3 - "$work/f.json" "$work/s.json" >> "$out/throughput.jsonl" <<'PY'
import json, sys
f, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(json.dumps({"rate": s["rate"], "floor": f, "scans": s}))
PY
  python3 - "$work/s.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ok = s["answer"]["lost"] == 0 and s["answered_per_s"] >= 0.95 * s["rate"] and s["answer"]["p99_ms"] <= 50
sys.exit(0 if ok else 1)
PY
}

# Raise the rate until answers fall behind, then offer twice the highest rate kept up with: under
# overload the bridge should answer at its best rate, not fall further behind.
run_throughput() {
  echo "== throughput: raise the rate until a step is not sustained (p99 > 50 ms, a loss, or behind)"
  : > "$out/throughput.jsonl"
  local kept=0
  for rate in 1000 1500 2000 2500 3000 4000 5000 6000; do
    if throughput_step "$rate"; then echo "  $rate/s sustained"; kept=$rate; else
      echo "  $rate/s: not sustained"; break; fi
  done
  if [ "$kept" -gt 0 ]; then
    echo "  overload: $((2 * kept))/s, twice the highest sustained rate"
    throughput_step $((2 * kept)) || true
  fi
}

run_connections() {
  echo "== connections: 19,000 idle WebSocket clients in two load processes, then one push each"
  local before; before=$(rss_kib)
  "$lg" connections --ws "127.0.0.1:$http_port" --secret-file var/jwt-secret --count 9500 --first 0 \
    --hold 20 --push-key-file var/api-key --http "127.0.0.1:$http_port" > "$work/c1.jsonl" &
  local a=$!
  "$lg" connections --ws "127.0.0.1:$http_port" --secret-file var/jwt-secret --count 9500 --first 9500 \
    --hold 20 --push-key-file var/api-key --http "127.0.0.1:$http_port" > "$work/c2.jsonl" &
  local b=$!
  # Both report "connected" first: measure the bridge then, before the pushes.
  for _ in $(seq 600); do
    [ "$(cat "$work"/c1.jsonl "$work"/c2.jsonl 2>/dev/null | grep -c '"phase":"connected"')" = 2 ] && break
    sleep 0.1
  done
  local during; during=$(rss_kib)
  wait $a $b
  python3 - "$before" "$during" "$work/c1.jsonl" "$work/c2.jsonl" > "$out/connections.json" <<'PY'
import json, sys
before, during = int(sys.argv[1]), int(sys.argv[2])
runs = [json.loads(open(p).read().splitlines()[-1]) for p in sys.argv[3:]]
connected = sum(r["connected"] for r in runs)
print(json.dumps({"connected": connected, "failed": sum(r["failed"] for r in runs),
                  "connect_seconds": max(r["connect_seconds"] for r in runs),
                  "rss_before_kib": before, "rss_connected_kib": during,
                  "bytes_per_connection": (during - before) * 1024 / max(connected, 1),
                  "pushes_accepted": sum(r.get("pushes_accepted", 0) for r in runs),
                  "events_received": sum(r.get("events_received", 0) for r in runs)}))
PY
}

run_push() {
  echo "== push API, closed loop: wrk with keep-alive, 10,000 WebSocket clients connected"
  "$lg" connections --ws "127.0.0.1:$http_port" --secret-file var/jwt-secret --count 10000 --first 0 \
    --hold 35 > "$work/push-conns.jsonl" &
  local c=$!
  for _ in $(seq 600); do grep -q '"phase":"connected"' "$work/push-conns.jsonl" 2>/dev/null && break; sleep 0.1; done
  TB_API_KEY=$(cat var/api-key) wrk -t2 -c64 -d20s --latency -s "$root/tools/bench/push.lua" \
    "http://127.0.0.1:$http_port/api/v1/push" > "$work/wrk.txt"
  wait $c
  python3 - "$work/wrk.txt" > "$out/push.json" <<'PY'
import json, re, sys
t = open(sys.argv[1]).read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
lat = {p: ms(*re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", t).groups()) for p in ("50", "90", "99")}
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(json.dumps({"requests_per_s": rps, "p50_ms": lat["50"], "p90_ms": lat["90"], "p99_ms": lat["99"],
                  "non_2xx": int(non2xx.group(1)) if non2xx else 0, "wrk": t}))
PY
  # Open loop: each push goes out at its time whatever the bridge's answers do (wrk waits for
  # them, so that a slow bridge slows the load down and hides its own latency).
  local rates=${TB_BENCH_PUSH_RATES:-1000,2000,4000,6000,8000}
  echo "== push API, open loop: 10,000 WebSocket clients, 10 s at each of $rates pushes/s"
  timeout 400 "$lg" push --ws "127.0.0.1:$http_port" --http "127.0.0.1:$http_port" \
    --secret-file var/jwt-secret --key-file var/api-key --clients 10000 --connections "${TB_BENCH_PUSH_CONNECTIONS:-64}" \
    --rates "$rates" --seconds 10 --watch-pid "$bridge_pid" > "$work/ramp.json" &&
    mv "$work/ramp.json" "$out/push-ramp.json" || echo "  the open-loop ramp failed" >&2
}

# The operator page's feed (/operator/ws) under load: 2,000 scans/s for 20 s over 4 scanners at 4
# gates, once without and once with an operator page watching. Its messages per second must stay
# at the feed's interval (2/s by default) whatever the scan rate; the bridge's CPU per scan of
# both runs shows what a watching page costs.
operator_scans() {  # operator_scans PREFIX OUTPUT
  "$lg" scans --mqtt "$mqtt" --ws "127.0.0.1:$http_port" --secret-file var/jwt-secret --prefix "$1" \
    --owners 2000 --rate 2000 --seconds 20 --publishers 4 > "$2"
}

run_operator() {
  echo "== operator: 2,000 scans/s for 20 s, without and then with an /operator/ws client"
  tickets OA 40000 2000
  tickets OB 40000 2000
  local b0 b1 b2 b3
  b0=$(cpu_us)
  operator_scans OA "$work/op-alone.json"
  b1=$(cpu_us)
  /usr/bin/python3 "$root/tools/bench/operator_watch.py" "127.0.0.1:$http_port" var/api-key 26 \
    > "$work/op-watch.json" &
  local w=$!
  sleep 2
  b2=$(cpu_us)
  operator_scans OB "$work/op-watched.json"
  b3=$(cpu_us)
  wait "$w"
  python3 - "$work/op-alone.json" "$work/op-watched.json" "$work/op-watch.json" \
    "$((b1 - b0))" "$((b3 - b2))" > "$out/operator.json" <<'PY'
import json, sys
alone, watched, watch = (json.load(open(p)) for p in sys.argv[1:4])
cpu_alone, cpu_watched = int(sys.argv[4]), int(sys.argv[5])
print(json.dumps({"alone": alone, "watched": watched, "watch": watch,
                  "bridge_cpu_us_per_scan_alone": cpu_alone / max(alone["scans"], 1),
                  "bridge_cpu_us_per_scan_watched": cpu_watched / max(watched["scans"], 1)}))
PY
  python3 - "$out/operator.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
w = r["watch"]
print(f"  figures messages: {w['messages']} in {w['seconds']:.0f} s ({w['per_s']:.2f}/s, at most "
      f"{w['max_in_one_second']} in one second), largest {w['max_message_bytes']} bytes")
for k in ("alone", "watched"):
    s = r[k]
    print(f"  {k}: {s['answered_per_s']:.0f} answers/s, answer p99 {s['answer']['p99_ms']:.2f} ms, "
          f"bridge CPU {r['bridge_cpu_us_per_scan_' + k]:.0f} us/scan")
PY
}

# CPU per scan of the checks on untrusted MQTT input (no network).
run_checks() {
  echo "== checks: the plugin's scan check, the Response Topic rule and a signed code's parse, per scan"
  "$root/build/tools/loadgen/scan_checks" > "$out/checks.json"
}

case "$what" in
  all) run_floor; run_peak; run_gate; run_syscalls; run_throughput; run_connections; run_push; run_checks ;;
  floor) run_floor ;;
  peak) run_peak ;;
  throughput) run_throughput ;;
  connections) run_connections ;;
  push) run_push ;;
  checks) run_checks ;;
  gate) run_gate ;;
  syscalls) run_syscalls ;;
  gate+syscalls) run_gate; run_syscalls ;;
  operator) run_operator ;;
  scale) bash "$root/tools/bench/scale.sh" "$root" "$work" "$out" ;;
  *) echo "usage: tools/bench.sh [all|floor|peak|gate|syscalls|gate+syscalls|throughput|connections|push|checks|operator|scale]" >&2; exit 2 ;;
esac
cd "$root"
python3 tools/bench/report.py "$out" "$started"
