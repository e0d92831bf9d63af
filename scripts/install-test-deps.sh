#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (idempotent):
# bubblewrap (sandbox tests), gnome-keyring + dbus (real Secret Service and notifications),
# chromium (headless browser for the device-flow pages), systemd (systemd-analyze verify,
# systemd-socket-activate and a real user manager), util-linux (setpriv, unshare, nsenter),
# procps (kill), binutils (strip), Xvfb + dunst (a real notification server), git (the
# credential helper's tests, with git http-backend), curl (the conformance kit's self test),
# Node.js >= 20 with npm, and the npm packages of tests/conformance (oidc-provider,
# playwright-core); for the completions, man pages and the Debian package: zsh, fish,
# man-db, lintian, dpkg-dev (dpkg-shlibdeps) and cargo-deb; python3 (plistlib reads back the
# LaunchAgent plist); for the cross-checks and the Windows tests under Wine: the Rust targets
# x86_64-pc-windows-gnu, aarch64-apple-darwin and x86_64-apple-darwin, mingw-w64 (the Windows
# linker and the test DLL shim), clang and llvm (llvm-ar) for ring's C code on the Apple
# targets (scripts/check-macos.sh), and wine64 (Debian 12's Wine 8.0; its loader is
# /usr/lib/wine/wine64, which the tests call directly, so the `wine` wrapper package and its
# 32-bit half are not needed).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
apt_install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need=()
for pair in bwrap:bubblewrap gnome-keyring-daemon:gnome-keyring dbus-run-session:dbus \
            dbus-launch:dbus-x11 secret-tool:libsecret-tools chromium:chromium \
            systemd-analyze:systemd systemctl:systemd systemd-socket-activate:systemd setpriv:util-linux unshare:util-linux \
            nsenter:util-linux git:git strace:strace kill:procps strip:binutils tar:tar sha256sum:coreutils curl:curl \
            dbus-monitor:dbus-bin dbus-send:dbus-bin Xvfb:xvfb xauth:xauth dunst:dunst dunstctl:dunst \
            notify-send:libnotify-bin gdbus:libglib2.0-bin zsh:zsh fish:fish man:man-db \
            lintian:lintian dpkg-shlibdeps:dpkg-dev gzip:gzip python3:python3 \
            x86_64-w64-mingw32-gcc:mingw-w64 clang:clang llvm-ar:llvm /usr/lib/wine/wine64:wine64 \
            openssl:openssl; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  apt_install "${need[@]}"
fi

# oidc-provider 9 and playwright-core need Node.js 20 or newer. Debian 12's own nodejs is 18:
# bootstrap with it and its npm, then take Node.js 20 from the npm registry (the `node`
# package ships the official binary for this platform).
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  $SUDO npm install -g --no-audit --no-fund --loglevel=error node@20
  hash -r
  if [ "$(node_major)" -lt 20 ]; then
    echo "install-test-deps: Node.js >= 20 is required (found $(node --version 2>/dev/null || echo none)); install it and retry" >&2
    exit 1
  fi
fi
if [ ! -d tests/conformance/node_modules/oidc-provider ] || [ ! -d tests/conformance/node_modules/playwright-core ]; then
  (cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error)
fi

# Cross-compilation targets: rustup skips the ones already installed.
missing_targets=()
installed_targets="$(rustup target list --installed)"
for t in x86_64-pc-windows-gnu aarch64-apple-darwin x86_64-apple-darwin; do
  grep -qx "$t" <<<"$installed_targets" || missing_targets+=("$t")
done
if [ ${#missing_targets[@]} -gt 0 ]; then
  rustup target add "${missing_targets[@]}"
fi

# cargo-machete finds dependencies no code uses (scripts/test.sh fails on any).
command -v cargo-machete >/dev/null 2>&1 || cargo install cargo-machete --locked --quiet
# cargo-deb builds the Debian package (scripts/package-deb.sh); about 3 minutes to compile once.
command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked --quiet
