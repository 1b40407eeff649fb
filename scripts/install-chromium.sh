#!/usr/bin/env bash
# The browser tests (tests/web) drive Debian's Chromium through Playwright; Playwright's own
# browser download needs the internet, Debian's package only needs the apt mirror.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "installing Debian's chromium for the browser tests (tests/web)..." >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
