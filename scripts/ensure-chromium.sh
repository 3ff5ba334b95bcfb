#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the dashboard's browser tests
# (crates/hangar-server/tests/browser), installed from the distribution's
# packages when missing. Nothing else is downloaded.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
echo "installing chromium and chromium-driver (Debian packages) for the browser tests" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium chromium-driver
