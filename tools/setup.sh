#!/usr/bin/env bash
# Installs every Debian 12 package the project needs to build, run and test.
# Idempotent and non-interactive; safe to run again. Needs root (or sudo).
set -euo pipefail

packages=(
  # toolchain
  cmake g++ make pkg-config ccache clang-format
  # dpkg-buildflags, for the packagers' build (tools/build.sh debian)
  dpkg-dev
  # the parser fuzzer (libFuzzer)
  clang libclang-rt-14-dev
  # libraries
  libpaho-mqttpp-dev libpaho-mqtt-dev libboost-dev libboost-system-dev
  nlohmann-json3-dev libssl-dev libsqlite3-dev libcli11-dev libspdlog-dev
  libtomlplusplus-dev libgtest-dev libqrencode-dev
  # the QR code encoder the ticket page draws rotating codes with (compiled into the bridge)
  node-qrcode-generator
  # PostgreSQL: the client library of the shared store, and the server its tests start
  libpq-dev postgresql-15
  # the bridge's allocator (docs/benchmarks.md section 10)
  libjemalloc-dev
  # the time zones of --venue-time-zone
  tzdata
  # the broker, its clients and its plugin headers
  mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev openssl
  # test helpers: a WebSocket client we did not write, sqlite shell, curl, a real browser
  python3 python3-websockets sqlite3 curl procps chromium
  # a QR code reader we did not write: the ticket page's QR code is read back from a screenshot
  zbar-tools
  # the package test: lintian on every .deb
  lintian
  # the HTTPS test: the reverse proxy of docs/operations.md, in front of a test bridge
  nginx
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
