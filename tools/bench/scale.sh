#!/usr/bin/env bash
# tools/bench.sh scale: one bridge on SQLite, then 1, 2 and 3 bridges on one PostgreSQL sharing the
# scans (--mqtt-shared-group), all behind one mosquitto, on this machine. For each, the scan rate
# is raised in 10 s steps until a step is not sustained (an answer lost, p99 > 50 ms, or fewer than
# 95% answered per second); each step records the CPU time of every process. The owners'
# WebSocket clients are all on the first bridge, so that with several bridges most of their events
# were decided by another one (peer_events.hpp). Output: out/bench/scale.jsonl, one line per step.
# Bounded: at most 4 configurations x 6 steps, each generator call under `timeout`.
# Called by tools/bench.sh after the build; not on its own.
set -euo pipefail
root=$1 work=$2 out=$3
bin=$root/build/bridge/ticket-bridge
lg=$root/build/tools/loadgen/loadgen
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
rates=${TB_BENCH_SCALE_RATES:-500 1000 1500 2000 3000 4000}
configs=${TB_BENCH_SCALE_CONFIGS:-sqlite 1 2 3}  # sqlite, and how many bridges on PostgreSQL
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  pids=()
}
trap stop_all EXIT

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f\n", ($14 + $15) * 1000000 / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# All of PostgreSQL's processes (the postmaster and the bridges' backends) together.
pg_cpu_us() {
  local total=0 p
  for p in $(pgrep -u postgres || true); do total=$((total + $(cpu_us "$p"))); done
  echo "$total"
}

# The broker of this scenario alone: no other bridge may hear its scans.
mqtt_port=$(port)
sed "s/^listener 1883 127.0.0.1$/listener $mqtt_port 127.0.0.1/" "$root/broker-conf/dev.conf" > "$work/scale-mosquitto.conf"
mosquitto -c "$work/scale-mosquitto.conf" > "$work/scale-mosquitto.log" 2>&1 &
broker_pid=$!
mqtt=mqtt://127.0.0.1:$mqtt_port

# PostgreSQL as its own user in a directory of its own; trust on loopback (a benchmark only).
pgdir=$work/pg
chmod 711 "$work"  # the server user passes through to its own directory, and no further
mkdir -p "$pgdir"
chown postgres: "$pgdir"
cd "$pgdir"
pg_port=$(port)
runuser -u postgres -- "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres > "$work/initdb.log"
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
  -o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=50 -c shared_preload_libraries=pg_stat_statements" \
  start > /dev/null
psql_q() { runuser -u postgres -- psql -h "$pgdir" -p "$pg_port" -d "$1" -tAqc "$2"; }
stop_pg() { runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop > /dev/null || true; }
trap 'stop_all; stop_pg; kill $broker_pid 2>/dev/null || true' EXIT

openssl rand -hex 32 > "$work/scale-jwt"
openssl rand -hex 16 > "$work/scale-key"
bridge_pids=()
start_bridges() {  # start_bridges N DB [ARGS...]: N bridges on DB; the first one's HTTP port in $http1
  local n=$1 db=$2; shift 2
  bridge_pids=()
  for i in $(seq "$n"); do
    local d=$work/scale-b$i p; p=$(port)
    mkdir -p "$d"
    (cd "$d" && exec "$bin" serve --mqtt "$mqtt" --listen "127.0.0.1:$p" --db "$db" --instance "s$i" \
      --jwt-secret-file "$work/scale-jwt" --api-key-file "$work/scale-key" --log-level warn "$@" \
      > "$d/log" 2>&1) &
    bridge_pids+=($!)
    pids+=($!)
    [ "$i" = 1 ] && http1=$p
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/healthz" > /dev/null && break; sleep 0.1; done
  done
}

step() {  # step CONFIG DB RATE: 10 s at RATE; appends a line to scale.jsonl; fails when not sustained
  local config=$1 db=$2 rate=$3 prefix="C$1-$3-"
  python3 - "$prefix" $((rate * 10)) > "$work/scale.csv" <<'PY'
import sys
prefix, count = sys.argv[1], int(sys.argv[2])
print("code,uid")
for i in range(count):
    print(f"{prefix}{i},u{i % 1000}")
PY
  "$bin" tickets import "$work/scale.csv" --db "$db" --jwt-secret-file "$work/scale-jwt" > /dev/null
  local before=() p
  for p in "${bridge_pids[@]}"; do before+=("$(cpu_us "$p")"); done
  local m0 g0; m0=$(cpu_us "$broker_pid"); g0=$(pg_cpu_us)
  # The statements the bridges run per scan.
  local pgdb=""
  [[ $db == postgresql://* ]] && pgdb=${db##*/} && psql_q "$pgdb" "SELECT pg_stat_statements_reset()" > /dev/null
  timeout 90 "$lg" scans --mqtt "$mqtt" --ws "127.0.0.1:$http1" --secret-file "$work/scale-jwt" \
    --prefix "$prefix" --owners 1000 --ws-clients 1000 --rate "$rate" --seconds 10 --publishers 8 \
    > "$work/scale-step.json" || return 1
  local statements=0
  [ -n "$pgdb" ] && statements=$(psql_q "$pgdb" "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND query NOT LIKE '%pg_stat_statements%'")
  # Which statements the step ran, and PostgreSQL's time in each, for the record.
  [ -n "$pgdb" ] && psql_q "$pgdb" "SELECT calls, round(total_exec_time::numeric, 1) AS ms, round(max_exec_time::numeric, 2) AS max_ms,
      left(regexp_replace(query, '\s+', ' ', 'g'), 100) FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC" \
    > "$out/scale-statements-$config-$rate.txt"
  local cpus=() i=0
  for p in "${bridge_pids[@]}"; do cpus+=($(($(cpu_us "$p") - before[i]))); i=$((i + 1)); done
  python3 - "$work/scale-step.json" "$config" "$(($(cpu_us "$broker_pid") - m0))" "$(($(pg_cpu_us) - g0))" \
    "$statements" "${cpus[@]}" >> "$out/scale.jsonl" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
config, broker, pg, statements = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
bridges = [int(x) for x in sys.argv[6:]]
print(json.dumps({"config": config, "rate": s["rate"], "scans": s["scans"],
                  "answered_per_s": s["answered_per_s"], "answer": s["answer"], "ws_event": s["ws_event"],
                  "bridge_cpu_us": bridges, "broker_cpu_us": broker, "postgres_cpu_us": pg,
                  "postgres_statements": statements,
                  "loadgen_cpu_us": s["loadgen_cpu_us"]}))
PY
  python3 - "$work/scale-step.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ok = s["answer"]["lost"] == 0 and s["answered_per_s"] >= 0.95 * s["rate"] and s["answer"]["p99_ms"] <= 50
sys.exit(0 if ok else 1)
PY
}

ramp() {  # ramp CONFIG DB
  for rate in $rates; do
    if step "$1" "$2" "$rate"; then echo "  $1: $rate/s sustained"; else echo "  $1: $rate/s not sustained"; break; fi
  done
}

: > "$out/scale.jsonl"
echo "== scale: 1 bridge on SQLite, then 1, 2 and 3 on PostgreSQL (shared group), 10 s steps of $rates scans/s"
for n in $configs; do
  if [ "$n" = sqlite ]; then
    start_bridges 1 "$work/scale-sqlite.db"
    ramp sqlite-1 "$work/scale-sqlite.db"
    stop_all
    continue
  fi
  runuser -u postgres -- "$pgbin/createdb" -h "$pgdir" -p "$pg_port" "scale$n"
  psql_q "scale$n" "CREATE EXTENSION pg_stat_statements" > /dev/null
  db=postgresql://postgres@127.0.0.1:$pg_port/scale$n
  start_bridges "$n" "$db" --mqtt-shared-group scale
  ramp "postgresql-$n" "$db"
  stop_all
done
