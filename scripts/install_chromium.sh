#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests; Playwright drives it at /usr/bin/chromium.
set -euo pipefail
if command -v chromium >/dev/null; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }
command -v chromium >/dev/null || { echo "error: could not install chromium (apt-get install chromium)" >&2; exit 1; }
