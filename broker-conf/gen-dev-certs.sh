#!/usr/bin/env bash
# Makes a development CA and certificates with openssl, for TLS tests and trials. NOT for
# production: the CA key sits next to its certificate, unprotected.
#   broker-conf/gen-dev-certs.sh DIR [SERVER_NAME]
# Writes DIR/ca.crt, ca.key, server.crt, server.key (CN and SAN: SERVER_NAME, localhost,
# 127.0.0.1, ::1) and client.crt, client.key (CN "client").
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [SERVER_NAME]" >&2
  exit 2
fi
dir=$1 name=${2:-localhost}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -keyout ca.key -out ca.crt \
  -subj "/CN=ticket-bridge dev CA" 2>/dev/null
issue() {  # issue NAME CN EXTFILE
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
    -out "$1.crt" -extfile "$3" 2>/dev/null
  rm -f "$1.csr"
}
printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' \
  "$name" > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
issue server "$name" server.ext
issue client client client.ext
rm -f server.ext client.ext ca.srl
chmod 600 ./*.key
echo "gen-dev-certs: CA and certificates in $PWD"
