#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, one release build, then all tests against
# the built binaries. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
export RUST_BACKTRACE=0
# The suite signs its test releases with tests/data/release-test.key, so the binaries under
# test trust that key instead of the project's (a build-time setting, never read at run time).
TWG_RELEASE_PUBKEY="$(cat tests/data/release-test.pub)"
export TWG_RELEASE_PUBKEY
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The other platforms' code cannot break unseen: clippy for Windows (also built and run under
# Wine below) and a type-and-borrow check for macOS (not a macOS build; see its header).
cargo clippy --locked --all-targets --target x86_64-pc-windows-gnu \
  -p twg-common -p twgd -p twg-cli -p twg-front -- -D warnings
bash scripts/check-macos.sh
# No dependency that no code uses (generated code's are listed in its Cargo.toml).
cargo machete
# The crate graph is one-way: the client never links the daemon (nor its D-Bus notifier).
if cargo tree -p twg-cli -e normal --locked --prefix none | grep -E '^(twgd|notify-rust) '; then
  echo "twg-cli must not depend on twgd or notify-rust" >&2
  exit 1
fi
cargo build --release --workspace --all-targets --locked
# The front `twg` must stay small (1.3 MB in release; the full CLI is 15.9 MB): it links only
# the hot path of twg-common, and one reference to the engine, reqwest, tokio or clap would
# pull them in and give back most of its start-up gain (README, Performance).
front_size=$(stat -c %s target/release/twg)
if [ "$front_size" -gt 2000000 ]; then
  echo "target/release/twg is $front_size bytes (limit 2000000): the front links more than the hot path" >&2
  exit 1
fi
# Windows: twg.exe and twgd.exe (mingw, debug) and the Wine DLL shim in target/wine, for the
# end-to-end tests under Wine (tests/e2e/tests/wine.rs, run with the others below); then the
# Windows unit tests of twg-common and twgd, run under Wine by scripts/wine-run.sh.
bash scripts/build-windows.sh
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="timeout --kill-after=10s 300s $PWD/scripts/wine-run.sh" \
  cargo test --locked --target x86_64-pc-windows-gnu -p twg-common -p twgd --lib
# No test binary may hang the run: each runs under a 10-minute limit (the slowest takes about
# a minute), so a stuck test fails in minutes with its name, not at the CI limit.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="timeout --kill-after=10s 600s"
cargo test --release --workspace --locked
# The Debian package from this same build: file list, lintian, dpkg -i, the installed twg,
# man pages, completions and units, then dpkg -r leaving nothing (about a minute).
timeout --kill-after=10s 300s bash scripts/test-package.sh
# The conformance kit's own self test: oidc-provider, the device and web-flow browser
# drivers, with curl and Node only (no twg), so a broken kit is told apart from a broken twg.
timeout --kill-after=10s 300s bash tests/conformance/selftest.sh
