#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (idempotent):
# bubblewrap (sandbox tests), gnome-keyring + dbus (real Secret Service and notifications),
# chromium (headless browser for the device-flow pages), systemd (systemd-analyze verify),
# Xvfb + dunst (a real notification server), and the npm packages of tests/conformance (oidc-provider, playwright-core).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in bwrap:bubblewrap gnome-keyring-daemon:gnome-keyring dbus-run-session:dbus \
            dbus-launch:dbus-x11 secret-tool:libsecret-tools chromium:chromium \
            systemd-analyze:systemd setpriv:util-linux node:nodejs \
            dbus-monitor:dbus-bin Xvfb:xvfb xauth:xauth dunst:dunst dunstctl:dunst; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -d tests/conformance/node_modules/oidc-provider ] || [ ! -d tests/conformance/node_modules/playwright-core ]; then
  (cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error)
fi
