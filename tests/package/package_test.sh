#!/usr/bin/env bash
# The Debian packages, installed on this machine for real, as an operator would: build them,
# lintian, dpkg -i, `ticket-bridge init`, Debian's own mosquitto with the conf.d snippet, the
# bridge started from its unit's ExecStart line as the service user, a ticket added with the bare
# `ticket-bridge tickets add`, one scan played by the packaged agent, then purge: nothing of the
# packages may be left running or on disk.
#
# It installs into this machine, so CI runs it LAST (tools/test.sh), as root, and a trap undoes
# everything whatever happens. It refuses to run where the packages, or files they own, are
# already there: those are not the test's to remove. There is no systemd in CI; the units are
# checked with `systemd-analyze verify`.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The installed config is what this test is about (the rest of the suite sets it empty).
unset TICKET_BRIDGE_CONFIG

fail() {
  echo "package test: FAILED: $*" >&2
  exit 1
}
step() { echo "package test: $*"; }

[ "$(id -u)" -eq 0 ] || fail "needs root: it installs the packages"
packages=(ticket-bridge ticket-bridge-scanner-agent ticket-bridge-mosquitto)
ours=(/etc/ticket-bridge /var/lib/ticket-bridge /var/backups/ticket-bridge /etc/scanner-agent
  /var/lib/scanner-agent /etc/mosquitto/ticket-bridge /etc/mosquitto/conf.d/ticket-bridge.conf
  /etc/mosquitto/conf.d/ticket-bridge.conf.removed /var/lib/mosquitto/tb_auth_sessions
  /usr/lib/ticket-bridge /usr/bin/ticket-bridge /usr/bin/scanner-agent)
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "ok installed"; then
    fail "$p is installed on this machine already; not touching it"
  fi
done
for f in "${ours[@]}"; do
  [ ! -e "$f" ] || fail "$f exists on this machine already; not touching it"
done
getent passwd ticket-bridge > /dev/null && fail "a user ticket-bridge exists already"

tmp=$(mktemp -d /tmp/tb-package-test.XXXXXX)
chmod 755 "$tmp"
pids=()
made_policy=0
cleanup() {
  local rc=$?
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2> /dev/null
  done
  dpkg --purge "${packages[@]}" > /dev/null 2>&1
  for f in "${ours[@]}"; do rm -rf "$f"; done
  getent passwd ticket-bridge > /dev/null && userdel ticket-bridge
  getent group ticket-bridge > /dev/null && groupdel ticket-bridge
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ "$rc" -ne 0 ]; then
    for log in "$tmp"/*.log; do
      [ -f "$log" ] && { echo "--- $log"; tail -40 "$log"; }
    done
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

# Maintainer scripts must not start Debian's mosquitto here (there is no systemd; invoke-rc.d
# would run its init script): the standard way to say so on a build or CI machine.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi

free_ports() {
  python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}
wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds
  local end=$((SECONDS + $1))
  shift
  until "$@" > /dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}

step "building the packages and running lintian"
bash tools/package.sh --lint
debs=(out/ticket-bridge_*.deb out/ticket-bridge-scanner-agent_*.deb out/ticket-bridge-mosquitto_*.deb)
[ ${#debs[@]} -eq 3 ] || fail "expected three packages in out/"

step "installing ${debs[*]}"
dpkg -i "${debs[@]}" > "$tmp/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$tmp/dpkg.log")"
for p in "${packages[@]}"; do dpkg -L "$p" >> "$tmp/files"; done
getent passwd ticket-bridge > /dev/null || fail "no service user ticket-bridge"
[ "$(stat -c '%a %U' /var/lib/ticket-bridge)" = "750 ticket-bridge" ] ||
  fail "/var/lib/ticket-bridge is $(stat -c '%a %U' /var/lib/ticket-bridge)"
[ "$(stat -c '%U' /etc/mosquitto/ticket-bridge)" = mosquitto ] ||
  fail "/etc/mosquitto/ticket-bridge is not mosquitto's"
dpkg-query -W -f='${Conffiles}\n' ticket-bridge | grep -q /etc/ticket-bridge/config.toml ||
  fail "config.toml is not a conffile"
dpkg-query -W -f='${Conffiles}\n' ticket-bridge-mosquitto | grep -q conf.d/ticket-bridge.conf ||
  fail "the conf.d snippet is not a conffile"
ldd /usr/bin/ticket-bridge | grep -q "not found" && fail "a library of ticket-bridge is missing"
# The nginx site as tests/browser/https_proxy_test.py runs it.
cmp -s /usr/share/ticket-bridge/nginx/ticket-bridge.conf packaging/nginx/ticket-bridge.conf ||
  fail "the packaged nginx site is not packaging/nginx/ticket-bridge.conf"

step "checking the units"
for unit in ticket-bridge.service ticket-bridge-backup.service ticket-bridge-backup.timer; do
  systemd-analyze verify "/lib/systemd/system/$unit" > "$tmp/verify.log" 2>&1 ||
    fail "systemd-analyze verify $unit: $(cat "$tmp/verify.log")"
done
systemd-analyze verify /lib/systemd/system/scanner-agent@.service > "$tmp/verify.log" 2>&1 ||
  fail "systemd-analyze verify scanner-agent@.service: $(cat "$tmp/verify.log")"

# Debian's mosquitto as its package runs it (mosquitto.conf, which includes conf.d/), moved to
# free ports and to this test's directory: the snippet may not repeat a key of Debian's file.
read -r mqtt_port http_port < <(free_ports 2)
mkdir -p "$tmp/conf.d" "$tmp/mosquitto-state"
chown mosquitto "$tmp/mosquitto-state"
sed -e "s|^pid_file .*|pid_file $tmp/mosquitto-state/mosquitto.pid|" \
  -e "s|^persistence_location .*|persistence_location $tmp/mosquitto-state/|" \
  -e "s|^log_dest file .*|log_dest file $tmp/mosquitto.log|" \
  -e "s|^include_dir .*|include_dir $tmp/conf.d|" /etc/mosquitto/mosquitto.conf > "$tmp/mosquitto.conf"
sed -e "s|^listener 1883 127.0.0.1|listener $mqtt_port 127.0.0.1|" \
  /etc/mosquitto/conf.d/ticket-bridge.conf > "$tmp/conf.d/ticket-bridge.conf"
touch "$tmp/mosquitto.log"
chown mosquitto "$tmp/mosquitto.log"
start_broker() {
  mosquitto -c "$tmp/mosquitto.conf" > "$tmp/mosquitto-stderr.log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$mqtt_port" ||
    fail "mosquitto did not start: $(cat "$tmp/mosquitto-stderr.log" "$tmp/mosquitto.log")"
}
refused() {  # refused USER PASSWORD CLIENT_ID TOPIC: the broker says "not authorised"
  local out
  out=$(mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -u "$1" -P "$2" -i "$3" -t "$4" -C 1 -W 1 2>&1) &&
    return 1
  grep -q "ot authori" <<< "$out"
}

step "mosquitto with the snippet, before init: it runs and lets nobody in"
start_broker
refused bridge anything ticket-bridge-main tickets/scan || fail "a login got in before init"
grep -q "tb_auth: .*does not exist yet" "$tmp/mosquitto.log" ||
  fail "the plugin did not say its files are missing: $(cat "$tmp/mosquitto.log")"

step "ticket-bridge init"
ticket-bridge init > "$tmp/init.log" 2>&1 || fail "init: $(cat "$tmp/init.log")"
grep -q "kept: already what init writes" "$tmp/init.log" || fail "init replaced the packaged config"
for f in jwt-secret api-key mqtt-password; do
  [ "$(stat -c '%a %U' "/etc/ticket-bridge/$f")" = "600 ticket-bridge" ] ||
    fail "/etc/ticket-bridge/$f is $(stat -c '%a %U' "/etc/ticket-bridge/$f")"
done
for f in passwd jwt-secret; do
  [ "$(stat -c '%a %U' "/etc/mosquitto/ticket-bridge/$f")" = "600 mosquitto" ] ||
    fail "/etc/mosquitto/ticket-bridge/$f is $(stat -c '%a %U' "/etc/mosquitto/ticket-bridge/$f")"
done
ticket-bridge init > "$tmp/init2.log" 2>&1 && fail "a second init was not refused"
grep -q "jwt-secret exists" "$tmp/init2.log" || fail "the second init did not name what exists"

step "a scanner's password, and the broker reloads"
scanner_pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
mosquitto_passwd -b /etc/mosquitto/ticket-bridge/passwd gate-1 "$scanner_pw"
printf '%s\n' "$scanner_pw" > "$tmp/gate-1.password"
kill -HUP "$broker_pid"
wait_for 10 grep -q "tb_auth: reloaded" "$tmp/mosquitto.log" || fail "the broker did not reload"

step "the bridge from its unit's ExecStart line, as ticket-bridge"
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/ticket-bridge.service)
[ -n "$exec_start" ] || fail "no ExecStart in ticket-bridge.service"
# Only the ports differ from the installed config (as a `systemctl edit` drop-in would set them).
# shellcheck disable=SC2086
setpriv --reuid ticket-bridge --regid ticket-bridge --init-groups --inh-caps=-all \
  env TICKET_BRIDGE_MQTT="mqtt://127.0.0.1:$mqtt_port" TICKET_BRIDGE_LISTEN="127.0.0.1:$http_port" \
  $exec_start > "$tmp/bridge.log" 2>&1 &
bridge_pid=$!
pids+=("$bridge_pid")
wait_for 20 curl -fsS "http://127.0.0.1:$http_port/healthz" ||
  fail "the bridge did not become healthy: $(cat "$tmp/bridge.log")"
[ "$(stat -c '%U' /var/lib/ticket-bridge/ticket-bridge.db)" = ticket-bridge ] ||
  fail "the database is not the service user's"

step "a ticket with the bare command, then a scan with the packaged agent"
ticket-bridge tickets add --uid 42 --code PKGTEST0001 --holder "Package Test" > "$tmp/add.log" 2>&1 ||
  fail "tickets add: $(cat "$tmp/add.log")"
ticket-bridge scanners set gate-1 --gate north > "$tmp/scanner.log" 2>&1 ||
  fail "scanners set: $(cat "$tmp/scanner.log")"
printf 'PKGTEST0001\n' | timeout 30 /usr/bin/scanner-agent --id gate-1 --gate north \
  --broker "mqtt://127.0.0.1:$mqtt_port" --username gate-1 --password-file "$tmp/gate-1.password" \
  --journal "$tmp/gate-1.journal" --json > "$tmp/agent.out" 2> "$tmp/agent.log" ||
  fail "the agent: $(cat "$tmp/agent.log")"
grep -q '"status":"admitted"' "$tmp/agent.out" || fail "the scan was not admitted: $(cat "$tmp/agent.out")"
ticket-bridge tickets show PKGTEST0001 > "$tmp/show.log" 2>&1 || fail "tickets show"
python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["entries"] != 1)' < "$tmp/show.log" ||
  fail "the admission is not in the database: $(cat "$tmp/show.log")"

# An agent left running: removing its package must stop it, as removing the bridge's stops it.
sleep 300 | /usr/bin/scanner-agent --id gate-1 --gate north --broker "mqtt://127.0.0.1:$mqtt_port" \
  --username gate-1 --password-file "$tmp/gate-1.password" --journal "$tmp/gate-1.journal" \
  > /dev/null 2> "$tmp/agent2.log" &
wait_for 10 pgrep -f "^/usr/bin/scanner-agent --id gate-1" || fail "the second agent did not start"
agent_pid=$(pgrep -f "^/usr/bin/scanner-agent --id gate-1")
pids+=("$agent_pid")

step "mosquitto stops (the plugin saves its sessions), then purge"
kill "$broker_pid"
wait_for 10 bash -c "! kill -0 $broker_pid" || fail "mosquitto did not stop"
dpkg --purge "${packages[@]}" > "$tmp/purge.log" 2>&1 || fail "purge: $(cat "$tmp/purge.log")"
wait_for 20 bash -c "! kill -0 $bridge_pid" || fail "removing ticket-bridge left the bridge running"
wait_for 20 bash -c "! kill -0 $agent_pid" || fail "removing the agent's package left it running"
pgrep -x ticket-bridge && fail "a ticket-bridge process is left"
pgrep -x scanner-agent && fail "a scanner-agent process is left"
getent passwd ticket-bridge > /dev/null && fail "the user ticket-bridge is left"
left=()
for f in "${ours[@]}"; do [ ! -e "$f" ] || left+=("$f"); done
while read -r f; do
  # Directories the packages share with the system (/usr/bin, /etc/mosquitto/conf.d, ...) stay.
  [ -e "$f" ] && [ ! -d "$f" ] && left+=("$f")
done < "$tmp/files"
[ ${#left[@]} -eq 0 ] || fail "purge left: ${left[*]}"
step "passed"
