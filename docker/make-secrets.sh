#!/usr/bin/env bash
# Makes the SFTP stand-in's host key and the pipeline's client key in docker/secrets/ (git-ignored)
# and prints the SFTP_HOST_KEY line for .env: the key every YOT connection pins.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
[ -f "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C sftp-host -f "$dir/ssh_host_ed25519_key"
[ -f "$dir/yot_client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C diversion-sync -f "$dir/yot_client_ed25519"
chmod 0644 "$dir/yot_client_ed25519"  # read by the airflow user in the containers; a throwaway stand-in key
echo "SFTP_HOST_KEY=$(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")"
