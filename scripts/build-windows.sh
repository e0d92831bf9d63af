#!/usr/bin/env bash
# Builds the Windows binaries the Wine end-to-end tests run (tests/e2e/tests/wine.rs):
# twg.exe (the front), twg-cli.exe (the full CLI it runs) and twgd.exe for
# x86_64-pc-windows-gnu (mingw), plus bcryptprimitives.dll, the test-only shim that lets Rust
# programs load under Debian 12's Wine 8.0 (see tests/wine/bcryptprimitives.c). All land in
# one directory, printed on the last line:
# TWG_WINE_BIN_DIR if set, else target/wine. The tests read the same variable with the same
# default.
#
# Debug profile: measured cold on this 2-core machine, debug costs 5.5 CPU minutes and release
# 7.8 (wall time depended on the other builds sharing the cores: 11 and 36 minutes); under
# Wine the tests' time is Wine's process start-up, not our code. A no-op rerun takes about
# 5 s (the copy of two 200 MB debug executables).
#
# Needs the rustup target x86_64-pc-windows-gnu and mingw-w64 (scripts/install-test-deps.sh).
# Honours CARGO_TARGET_DIR, like cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  echo "build-windows: x86_64-w64-mingw32-gcc is missing; run scripts/install-test-deps.sh" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-pc-windows-gnu; then
  echo "build-windows: the Rust target x86_64-pc-windows-gnu is missing; run scripts/install-test-deps.sh" >&2
  exit 1
fi

target_dir="${CARGO_TARGET_DIR:-target}"
out="${TWG_WINE_BIN_DIR:-target/wine}"
mkdir -p "$out"

cargo build --locked --target x86_64-pc-windows-gnu -p twgd -p twg-cli -p twg-front --bins
for exe in twg.exe twg-cli.exe twgd.exe; do
  cp -f "$target_dir/x86_64-pc-windows-gnu/debug/$exe" "$out/$exe"
done
# Rebuilt only when its source changed.
dll="$out/bcryptprimitives.dll"
if [ ! -f "$dll" ] || [ tests/wine/bcryptprimitives.c -nt "$dll" ] || [ tests/wine/bcryptprimitives.def -nt "$dll" ]; then
  x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" \
    tests/wine/bcryptprimitives.c tests/wine/bcryptprimitives.def -ladvapi32
fi
echo "build-windows: twg.exe, twg-cli.exe, twgd.exe and bcryptprimitives.dll are in $(cd "$out" && pwd)"
