#!/usr/bin/env bash
# cargo's runner for x86_64-pc-windows-gnu test binaries: runs one under Wine, so the Windows
# unit tests (the pipe, the pidfile, the write-through save, the Credential Manager chunks)
# run on every CI machine. Used by scripts/test.sh as
#   CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=scripts/wine-run.sh cargo test --target x86_64-pc-windows-gnu ...
# The shim DLL scripts/build-windows.sh puts in target/wine (Rust's std needs ProcessPrng,
# which Wine 8.0 lacks) is found through WINEPATH. The unit tests get a Wine prefix of their
# own (target/wine-prefix-unit), apart from the end-to-end tests' one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dlls="${TWG_WINE_BIN_DIR:-$root/target/wine}"
if [ ! -f "$dlls/bcryptprimitives.dll" ]; then
  echo "wine-run: $dlls/bcryptprimitives.dll is missing; run scripts/build-windows.sh first" >&2
  exit 1
fi
export WINEPREFIX="${TWG_WINEPREFIX_UNIT:-$root/target/wine-prefix-unit}"
export WINEDEBUG="${WINEDEBUG:--all}"
# Wine maps drive Z: to /, so the directory's Windows name is Z: and its path.
export WINEPATH="Z:${dlls//\//\\}"
exec /usr/lib/wine/wine64 "$@"
