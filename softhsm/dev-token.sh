#!/usr/bin/env bash
# Creates the project-local SoftHSM2 dev token under var/ (idempotent) and writes the user
# PIN file the daemon reads. Label and PINs come from config/dev.toml.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var"
tokens="$var/tokens"
conf="$var/softhsm2.conf"
settings="$root/config/dev.toml"

value() { sed -n "s/^$1 *= *\"\(.*\)\"/\1/p" "$settings" | head -n 1; }
label=$(value token_label)
so_pin=$(value so_pin)
user_pin=$(value user_pin)

umask 077
mkdir -p "$tokens"
if [ ! -f "$conf" ]; then
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$tokens" > "$conf"
fi
export SOFTHSM2_CONF="$conf"
if ! softhsm2-util --show-slots | grep -Eq "Label: +$label *\$"; then
  softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$user_pin" > /dev/null
  echo "created SoftHSM2 token '$label' in var/tokens"
fi
printf '%s' "$user_pin" > "$var/dev-user.pin"
# For `hsmkms token create-kek`, which logs in as the security officer.
printf '%s' "$so_pin" > "$var/dev-so.pin"
