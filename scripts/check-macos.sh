#!/usr/bin/env bash
# A type-and-borrow check of twg for macOS from Linux, NOT a macOS build: `cargo clippy`
# (which never links) of twg-common, twgd and twg-cli for aarch64-apple-darwin and
# x86_64-apple-darwin, so cfg(target_os = "macos") code cannot break unseen. Nothing here
# produces or runs a macOS binary; that needs a Mac.
#
# Two dependencies compile C for these targets, and there is no macOS SDK on Linux:
# - ring: clang builds its C and assembly freestanding (`-ffreestanding -nostdlibinc`, and
#   ring's own RING_CORE_NOSTDLIBINC, which uses compiler built-ins instead of string.h and
#   assert.h); the one SDK header it still reads is stubbed in scripts/macos-check/include.
# - mac-notification-sys: its Objective-C file needs Cocoa, so scripts/macos-check/cc
#   turns it into an empty object (the check never links).
# Needs clang and llvm-ar (Debian: clang, llvm) and the two Rust targets (rustup target add).
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/scripts/macos-check"
TWG_RELEASE_PUBKEY="${TWG_RELEASE_PUBKEY:-$(cat tests/data/release-test.pub)}"
export TWG_RELEASE_PUBKEY
for target in aarch64-apple-darwin x86_64-apple-darwin; do
  var="${target//-/_}"
  export "CC_$var=$tools/cc"
  export "AR_$var=llvm-ar"
  export "CFLAGS_$var=-ffreestanding -nostdlibinc -DRING_CORE_NOSTDLIBINC=1 -isystem $tools/include"
  cargo clippy --locked --all-targets --target "$target" \
    -p twg-common -p twgd -p twg-cli -p twg-front -- -D warnings
done
