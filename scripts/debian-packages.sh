#!/usr/bin/env bash
# Install the Debian packages given as arguments, but only those missing, non-interactively.
# Used by `make run` and `make test`; needs root (or sudo) only when something is missing.
set -euo pipefail

missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# --- mail (Postfix): answer its debconf question up front, so the install asks nothing and creates no
# /etc/postfix/main.cf; Hostplane runs its own instance from rendered configs (see SERVICES.md).
for pkg in "${missing[@]}"; do
  if [ "$pkg" = "postfix" ] || [ "${pkg#postfix-}" != "$pkg" ]; then
    echo 'postfix postfix/main_mailer_type select No configuration' | $SUDO debconf-set-selections
    break
  fi
done
# --- end mail

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
