#!/usr/bin/env bash
# Install a Debian package when its command is missing: `scripts/apt_install.sh COMMAND [PACKAGE]` (PACKAGE
# defaults to COMMAND). `make test` gets Chromium this way, `make run` redis-server. Needs root or sudo
# without a password prompt (`sudo -n`): a make target must not stop to ask. Exits 1 with one line otherwise.
set -euo pipefail
command="$1"; package="${2:-$1}"
if command -v "$command" >/dev/null; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else echo "error: $command is missing and installing it needs root: sudo apt-get install $package" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
{ $SUDO apt-get install -y -q "$package" || { $SUDO apt-get update -q && $SUDO apt-get install -y -q "$package"; }; } \
    >/dev/null 2>&1 || true
command -v "$command" >/dev/null || { echo "error: could not install $package (apt-get install $package)" >&2; exit 1; }
