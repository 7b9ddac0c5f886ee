#!/usr/bin/env bash
# Installs the Debian packages named as arguments when their command is missing, so that
# `make test` and `make bench` set up a fresh machine by themselves.
#   scripts/install-system-packages.sh chromium redis-server
# Commands are looked up on PATH and in /usr/sbin (nginx); packages are named like their command.
set -euo pipefail
missing=()
for package in "$@"; do
    command -v "$package" >/dev/null 2>&1 || [ -x "/usr/sbin/$package" ] \
        || [ -x "/usr/bin/$package" ] || missing+=("$package")
done
((${#missing[@]})) || exit 0
echo "installing ${missing[*]} (Debian packages)"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "need root (or sudo) to install: apt-get install ${missing[*]}" >&2
        exit 1
    }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
