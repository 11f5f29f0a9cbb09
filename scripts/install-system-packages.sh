#!/usr/bin/env bash
# Installs the system packages diversion-sync needs (ODBC manager and drivers, OpenSSH server).
# As root it uses apt-get; otherwise it names what to install and stops.
set -euo pipefail
PACKAGES=(unixodbc odbc-postgresql libsqliteodbc openssh-server passwd chromium docker-compose)  # passwd: useradd for the per-YOT accounts in tests; docker-compose: offline check of docker-compose.yml
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "diversion-sync needs these system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
