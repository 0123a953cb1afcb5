#!/usr/bin/env bash
# The browser the /ui tests drive: Debian's chromium, installed from apt when it is missing (never a
# browser build downloaded at run time). Prints its path.
set -euo pipefail
for exe in "${PONDER_CHROMIUM:-}" chromium chromium-browser; do
  if [ -n "$exe" ] && command -v "$exe" >/dev/null 2>&1; then command -v "$exe"; exit 0; fi
done
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "chromium is missing: apt install chromium (the /ui browser tests need it)" >&2; exit 1; fi
fi
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >&2
command -v chromium
