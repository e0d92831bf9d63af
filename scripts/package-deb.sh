#!/usr/bin/env bash
# Builds the Debian package target/debian/twg_<version>-1_<arch>.deb from the release build
# (`cargo build --release` first: this script never builds, so CI packages exactly the
# binaries it tested). Installs cargo-deb when missing. Prints the .deb's path last.
# `--fast`: lighter compression (about 15 s instead of 90 s on 2 busy cores, 15% larger), as
# scripts/test-package.sh uses; a package to publish is built without it.
#
# Everything the package holds besides the three binaries (`twg`, the small front that
# answers `twg auth token`; `twg-cli`, the full CLI it hands every other command to, found
# beside it; `twgd`) is generated here into
# target/release/deb/, from the same definitions the binaries use:
#   man/          `twg __man` and `twgd --write-man` (clap_mangen)
#   completions/  `twg completion bash|zsh|fish` (clap_complete)
#   systemd/      every unit in packaging/systemd/, rendered for /usr/bin/twgd
# The package's layout is `[package.metadata.deb]` in twg-cli/Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=()
case "${1:-}" in
  --fast) fast=(--fast) ;;
  "") ;;
  *)
    echo "package-deb: unknown argument '$1'; the only option is --fast" >&2
    exit 2
    ;;
esac

release=${CARGO_TARGET_DIR:-target}/release
for bin in twg twg-cli twgd; do
  if [ ! -x "$release/$bin" ]; then
    echo "package-deb: $release/$bin is missing; run \`cargo build --release --locked\` first" >&2
    exit 1
  fi
done
if ! command -v cargo-deb >/dev/null 2>&1; then
  cargo install cargo-deb --locked --quiet
fi
for tool in dpkg-shlibdeps gzip; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "package-deb: $tool is missing; install dpkg-dev and gzip (apt-get install dpkg-dev gzip)" >&2
    exit 1
  fi
done

# The changelog's newest entry must be this version: dpkg and lintian read the version
# from the package, users read it from the changelog, and the two must agree.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
changelog_version=$(sed -n '1s/^twg (\([^)]*\)).*/\1/p' packaging/debian/changelog)
if [ "$changelog_version" != "$version-1" ]; then
  echo "package-deb: packaging/debian/changelog starts at $changelog_version but the workspace is $version;" \
    "add a \"twg ($version-1)\" entry at its top (e.g. \`dch -v $version-1\`)" >&2
  exit 1
fi

out=$release/deb
rm -rf "$out"
mkdir -p "$out/man" "$out/completions" "$out/systemd"

"$release/twg" __man "$out/man"
"$release/twgd" --write-man "$out/man"
# twg-cli is not typed by users, but every program in /usr/bin needs a page (lintian's
# no-manual-page): it gets twg's, through a `.so` link as man-db resolves it.
echo '.so man1/twg.1' >"$out/man/twg-cli.1"
# Debian policy: man pages gzipped with -9n (no name or timestamp, so builds are reproducible).
gzip -9n "$out"/man/*.1
"$release/twg" completion bash >"$out/completions/twg.bash"
"$release/twg" completion zsh >"$out/completions/_twg"
"$release/twg" completion fish >"$out/completions/twg.fish"

# The units in packaging/systemd/ are templates that `twg upkeep enable` fills with a
# user's own paths. The package's copies run the packaged twgd and pin nothing (twgd's
# defaults then come from the user manager's environment, XDG_RUNTIME_DIR included).
# A placeholder this script does not know fails the build rather than shipping `{{…}}`.
shopt -s nullglob
units=(packaging/systemd/*.service packaging/systemd/*.socket packaging/systemd/*.timer)
if [ ${#units[@]} -eq 0 ]; then
  echo "package-deb: no unit files in packaging/systemd/" >&2
  exit 1
fi
for unit in "${units[@]}"; do
  dest=$out/systemd/$(basename "$unit")
  {
    echo "# Installed by the twg Debian package. \`twg upkeep enable\` writes its own copy to"
    echo "# ~/.config/systemd/user/, which then takes precedence over this one."
    # The template's leading comments describe the rendering, not this file.
    sed -e '/^\[/,$!d' -e 's|{{TWGD}}|/usr/bin/twgd|g' -e '/{{ENVIRONMENT}}/d' "$unit"
  } >"$dest"
  if grep -n '{{' "$dest" >&2; then
    echo "package-deb: $unit has a placeholder this script does not fill; teach scripts/package-deb.sh its packaged value" >&2
    exit 1
  fi
done

cargo deb -p twg-cli --no-build --locked --quiet "${fast[@]}" >/dev/null
arch=$(dpkg --print-architecture)
deb=${CARGO_TARGET_DIR:-target}/debian/twg_${version}-1_${arch}.deb
if [ ! -f "$deb" ]; then
  echo "package-deb: cargo deb did not write $deb" >&2
  exit 1
fi
echo "$deb"
