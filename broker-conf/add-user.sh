#!/usr/bin/env bash
# Adds (or changes) a scanner's or the bridge's broker password, with mosquitto_passwd.
#   broker-conf/add-user.sh PASSWORD_FILE USER [PASSWORD]
# Without PASSWORD a random one is generated and printed. The bridge's user is "bridge" unless
# plugin_opt_bridge_users says otherwise; every other user in the file is a scanner whose id is
# its user name. Reload mosquitto afterwards (kill -HUP) or restart it.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 PASSWORD_FILE USER [PASSWORD]" >&2
  exit 2
fi
file=$1 user=$2 password=${3:-}
case "$user" in
  *[/+#\ :]*|"") echo "add-user: the user name must not contain / + # : or spaces" >&2; exit 2 ;;
esac
if [ -z "$password" ]; then
  password=$(openssl rand -hex 16)
  echo "$password"
fi
if [ -f "$file" ]; then
  mosquitto_passwd -b "$file" "$user" "$password"
else
  mosquitto_passwd -c -b "$file" "$user" "$password"
fi
chmod 600 "$file"
