#!/usr/bin/env bash
# Quick start: builds the project, starts a mosquitto with broker-conf/dev.conf on loopback and
# `ticket-bridge serve` on its embedded SQLite database under ./var/, adds a demo ticket and prints
# the commands to try it. Ctrl-C stops both.
#
#   tools/run.sh              MQTT on 127.0.0.1:1883, HTTP on 127.0.0.1:8080; when one of them
#                             is taken (Debian's mosquitto service holds 1883), free ports,
#                             printed below
#   TB_MQTT_PORT=11883 TB_HTTP_PORT=18080 tools/run.sh     these ports, or an error
#   tools/run.sh --self-test  the same on free ports in a temp dir: plays the gate once, checks
#                             the answer and the owner's event, stops (used by tools/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# The demo's own settings only: a config installed on this host (/etc/ticket-bridge/config.toml)
# must not send the demo's tickets into the venue's database.
export TICKET_BRIDGE_CONFIG=

self_test=0
[ "${1:-}" = "--self-test" ] && self_test=1

bash tools/setup.sh > /dev/null
echo "run: building ticket-bridge and scanner-agent (the first build takes a few minutes)"
bash tools/build.sh release ticket-bridge scanner-agent > /dev/null
bin=$root/build/bridge/ticket-bridge
agent=$root/build/scanner-agent/scanner-agent

# Two free loopback ports, bound at the same time so that they differ (two separate picks can
# get the same port back).
free_ports() {
  python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))'
}

if [ $self_test = 1 ]; then
  workdir=$(mktemp -d)
  read -r mqtt_port http_port < <(free_ports)
else
  workdir=$root
  mqtt_port=${TB_MQTT_PORT:-1883}
  http_port=${TB_HTTP_PORT:-8080}
fi
mkdir -p "$workdir/var"
cd "$workdir"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ $self_test = 1 ]; then rm -rf "$workdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ $self_test = 0 ] && [ -z "${TB_MQTT_PORT:-}${TB_HTTP_PORT:-}" ] &&
  { port_busy "$mqtt_port" || port_busy "$http_port"; }; then
  read -r mqtt_port http_port < <(free_ports)
  echo "run: 127.0.0.1:1883 or :8080 is in use (Debian's mosquitto service?): using MQTT port $mqtt_port and HTTP port $http_port"
fi
for p in "$mqtt_port" "$http_port"; do
  if port_busy "$p"; then
    echo "run: port $p on 127.0.0.1 is in use; stop what uses it or set TB_MQTT_PORT / TB_HTTP_PORT" >&2
    exit 1
  fi
done

# The broker: the dev config with our port.
sed "s/^listener 1883 127.0.0.1$/listener $mqtt_port 127.0.0.1/" "$root/broker-conf/dev.conf" > var/mosquitto.conf
mosquitto -c var/mosquitto.conf > var/mosquitto.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do port_busy "$mqtt_port" && break; sleep 0.1; done
port_busy "$mqtt_port" || { echo "run: mosquitto did not start:" >&2; cat var/mosquitto.log >&2; exit 1; }

# The bridge, on its defaults under ./var/.
"$bin" serve --mqtt "mqtt://127.0.0.1:$mqtt_port" --listen "127.0.0.1:$http_port" > var/bridge.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/healthz" > /dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$http_port/healthz" > /dev/null || {
  echo "run: ticket-bridge did not become healthy:" >&2; cat var/bridge.log >&2; exit 1; }

# A fresh demo ticket for uid 42, and a token for that uid.
code=$("$bin" tickets add --uid 42 --holder "A. Example" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
token=$("$bin" token --uid 42 --ttl 1h)
operator_token=$("$bin" token --operator)

if [ $self_test = 1 ]; then
  mosquitto_sub -p "$mqtt_port" -t "tickets/result/gate-n-1" -t "users/42/events" -C 2 -W 10 -v > var/seen.txt &
  sub=$!
  sleep 0.3
  mosquitto_pub -p "$mqtt_port" -q 1 -t tickets/scan \
    -m "{\"scan_id\":\"gate-n-1:1\",\"code\":\"$code\",\"scanner\":\"gate-n-1\",\"gate\":\"north\"}"
  wait $sub || { echo "run: no answer within 10 s:" >&2; cat var/seen.txt var/bridge.log >&2; exit 1; }
  grep -q '"status":"admitted"' var/seen.txt || { echo "run: the demo scan was not admitted" >&2; cat var/seen.txt >&2; exit 1; }
  grep -q '"type":"ticket.admitted"' var/seen.txt || { echo "run: no owner event" >&2; cat var/seen.txt >&2; exit 1; }
  curl -sf "http://127.0.0.1:$http_port/ticket" | grep -q 'data-ticket-state' || {
    echo "run: the ticket page is not served (GET /ticket answered" \
      "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/ticket"))" >&2
    cat var/bridge.log >&2; exit 1; }
  curl -sf -H "Authorization: Bearer $operator_token" "http://127.0.0.1:$http_port/api/v1/stats" |
    python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["scans"]["admitted"] >= 1 else 1)' || {
    echo "run: /api/v1/stats with an operator token does not count the demo's admission" >&2
    cat var/bridge.log >&2; exit 1; }
  echo "run: self-test passed (demo ticket $code admitted, owner event seen, counted in the stats)"
  exit 0
fi

cat <<EOT

ticket-bridge is running.
  broker   mqtt://127.0.0.1:$mqtt_port   (log: var/mosquitto.log)
  bridge   http://127.0.0.1:$http_port   (log: var/bridge.log, database: var/ticket-bridge.db)

A demo ticket for uid 42: $code
Open the customer's page (it closes the QR code when the ticket is admitted):
  http://127.0.0.1:$http_port/ticket#code=$code&token=$token

The operator page (scanners, gates, rejections, inside now), log in with this operator token
(read-only, valid 8 h):
  http://127.0.0.1:$http_port/operator
  $operator_token

Watch the gate's answers and the owner's events (in another terminal):
  mosquitto_sub -p $mqtt_port -v -t 'tickets/result/#' -t 'users/42/events'

Play the gate with the scanner agent (type the code and Enter, as a scanner would; Ctrl-D ends):
  $agent --broker mqtt://127.0.0.1:$mqtt_port --id gate-n-1 --gate north

or with raw MQTT (the first scan is admitted, the second is already_used):
  mosquitto_pub -p $mqtt_port -q 1 -t tickets/scan -m '{"scan_id":"demo-$code-1","code":"$code","scanner":"gate-n-1","gate":"north"}'
  mosquitto_pub -p $mqtt_port -q 1 -t tickets/scan -m '{"scan_id":"demo-$code-2","code":"$code","scanner":"gate-n-1","gate":"north"}'

or as an embedded scanner that publishes only the code and shows a line (tickets/result/gate-e/text):
  $bin scanners set gate-e --gate north
  mosquitto_pub -p $mqtt_port -q 0 -t tickets/scan/gate-e -m '$code'

Look at it:
  $bin tickets show $code
  curl -s http://127.0.0.1:$http_port/healthz; curl -s http://127.0.0.1:$http_port/metrics

A token for uid 42 (valid 1 h): $token

Ctrl-C stops the bridge and the broker.
EOT
if [ -e /etc/ticket-bridge/config.toml ]; then
  echo "This host has /etc/ticket-bridge/config.toml, which ticket-bridge commands read by"
  echo "themselves: run the ones above as TICKET_BRIDGE_CONFIG= $bin ... to reach this demo."
fi
wait "${pids[1]}"
