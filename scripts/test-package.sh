#!/usr/bin/env bash
# Builds the Debian package from the release build (`scripts/package-deb.sh`) and checks it
# as a user meets it: its file list, lintian, then a real `dpkg -i` on this machine, the
# installed twg, twgd, man pages, completions and systemd user units, `twg update`'s
# refusal, and `dpkg -r` leaving nothing behind. Run by scripts/test.sh after the build.
#
# It installs into /usr, so it needs root (or sudo), and it refuses to run when a twg package is
# already installed (it would replace and then remove someone's install). Whatever happens,
# the package it installed is removed on exit. Other tests use target/release, never /usr/bin.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "test-package: FAIL: $*" >&2
  exit 1
}
pass() { echo "test-package: ok: $*"; }

if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' twg 2>/dev/null)" = installed ]; }
if installed || dpkg-query -W twg >/dev/null 2>&1; then
  fail "a twg package is already known to dpkg on this machine; remove it (dpkg -P twg) and re-run"
fi

tmp=$(mktemp -d)
we_installed=false
cleanup() {
  if $we_installed && installed; then $SUDO dpkg -r twg >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
# A timeout's SIGTERM must still run the cleanup (bash skips the EXIT trap on a fatal signal).
trap 'exit 1' INT TERM

# The same package as a release build but for the compression level (faster here).
deb=$(bash scripts/package-deb.sh --fast | tail -n1)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ "$(basename "$deb")" = "twg_${version}-1_$(dpkg --print-architecture).deb" ] || fail "unexpected package name $deb"
pass "built $deb"

# 1. The file list: exactly these files (directories aside), plus one page per subcommand.
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print substr($6, 2)}' | sort >"$tmp/files"
{
  echo /usr/bin/twg
  echo /usr/bin/twg-cli
  echo /usr/bin/twgd
  echo /usr/share/bash-completion/completions/twg
  echo /usr/share/zsh/vendor-completions/_twg
  echo /usr/share/fish/vendor_completions.d/twg.fish
  echo /usr/share/doc/twg/copyright
  echo /usr/share/doc/twg/changelog.Debian.gz
  for unit in packaging/systemd/*.service packaging/systemd/*.socket packaging/systemd/*.timer; do
    if [ -e "$unit" ]; then echo "/usr/lib/systemd/user/$(basename "$unit")"; fi
  done
} | sort >"$tmp/expected"
grep -v '^/usr/share/man/man1/' "$tmp/files" >"$tmp/non-man" || true
diff -u "$tmp/expected" "$tmp/non-man" || fail "the package's files differ from the expected list (- expected, + packaged)"
for page in twg twg-cli twgd twg-login twg-auth-token twg-completion twg-update twg-daemon-start; do
  grep -qx "/usr/share/man/man1/$page.1.gz" "$tmp/files" || fail "no man page $page.1.gz in the package"
done
if grep '^/usr/share/man/' "$tmp/files" | grep -vE '^/usr/share/man/man1/twgd?(-[a-z-]+)?\.1\.gz$'; then
  fail "unexpected files under /usr/share/man"
fi
pass "file list ($(wc -l <"$tmp/files") files, $(grep -c '^/usr/share/man/' "$tmp/files") man pages)"

# 2. lintian: no errors, and no warning beyond those explained in packaging/README.md.
lintian --fail-on error,warning --suppress-tags initial-upload-closes-no-bugs "$deb" ||
  fail "lintian found problems in $deb (see above); fix them or explain a warning in packaging/README.md"
pass "lintian"

# 3. Install it for real.
dpkg -L twg >/dev/null 2>&1 && fail "dpkg already lists twg"
we_installed=true
$SUDO dpkg -i "$deb" >"$tmp/dpkg-i.log" 2>&1 || { cat "$tmp/dpkg-i.log" >&2; fail "dpkg -i $deb"; }
installed || fail "dpkg -i did not leave twg installed"
dpkg -L twg | sort >"$tmp/owned"

# Runs a command as a user would, in a fresh HOME with only the package's binaries on PATH.
home=$tmp/home
mkdir -p "$home" && chmod 700 "$home"
as_user() {
  env -i HOME="$home" PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$home/run" LC_ALL=C.UTF-8 "$@"
}

got=$(as_user /usr/bin/twg --version) || fail "/usr/bin/twg --version"
[ "$got" = "twg $version" ] || fail "/usr/bin/twg --version printed '$got', expected 'twg $version'"
got=$(as_user /usr/bin/twgd --version) || fail "/usr/bin/twgd --version"
[ "$got" = "twgd $version" ] || fail "/usr/bin/twgd --version printed '$got', expected 'twgd $version'"
pass "twg and twgd $version run from /usr/bin"

# The installed client starts the installed daemon beside it and talks to it.
mkdir -p "$home/run" && chmod 700 "$home/run"
as_user /usr/bin/twg daemon start >"$tmp/daemon.log" 2>&1 || { cat "$tmp/daemon.log" >&2; fail "/usr/bin/twg daemon start"; }
status=$(as_user /usr/bin/twg --json daemon status) || fail "/usr/bin/twg daemon status"
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$status")
exe=$(readlink "/proc/${pid:-0}/exe" || true)
as_user /usr/bin/twg daemon stop >/dev/null 2>&1 || fail "/usr/bin/twg daemon stop"
[ "$exe" = /usr/bin/twgd ] || fail "twg daemon start ran '$exe' (pid ${pid:-?}), not /usr/bin/twgd"
case $status in
  *"\"version\":\"$version\""*) ;;
  *) fail "twg daemon status did not report twgd $version: $status" ;;
esac
pass "/usr/bin/twg started, queried and stopped /usr/bin/twgd"

for page in twg twg-cli twgd twg-auth-token; do
  want=/usr/share/man/man1/$page.1.gz
  # twg-cli's page is a `.so` link to twg's, which man follows.
  [ "$page" = twg-cli ] && want=/usr/share/man/man1/twg.1.gz
  got=$(man -w "$page") || fail "man -w $page"
  [ "$got" = "$want" ] || fail "man -w $page found $got, expected $want"
done
pass "man -w finds twg, twg-cli, twgd and the subcommand pages"

out=$(as_user bash --norc --noprofile -c 'source /usr/share/bash-completion/completions/twg && complete -p twg') ||
  fail "bash cannot load the installed completion"
[[ $out == "complete "*" -F _twg twg" ]] || fail "bash: complete -p twg printed '$out'"
as_user zsh -n /usr/share/zsh/vendor-completions/_twg || fail "zsh -n on the installed completion"
as_user fish --no-config -n /usr/share/fish/vendor_completions.d/twg.fish || fail "fish -n on the installed completion"
pass "the installed bash, zsh and fish completions load"

shopt -s nullglob
units=(/usr/lib/systemd/user/twgd.* /usr/lib/systemd/user/twg-upkeep.*)
[ ${#units[@]} -gt 0 ] || fail "no twgd units installed"
mkdir -p "$tmp/verify-run"
out=$(XDG_RUNTIME_DIR="$tmp/verify-run" systemd-analyze --user --man=no verify "${units[@]}" 2>&1) ||
  fail "systemd-analyze --user verify: $out"
[ -z "$out" ] || fail "systemd-analyze --user verify warned: $out"
grep -qx 'ExecStart=/usr/bin/twgd' /usr/lib/systemd/user/twgd.service || fail "the installed unit does not run /usr/bin/twgd"
pass "systemd-analyze --user verify ${units[*]}"

# `twg update` from the package refuses, says to use the package manager, changes nothing.
# (A manifest URL on a closed loopback port: a twg that did not refuse fails differently
# and reaches no outside server.)
manifest=TWG_UPDATE_MANIFEST_URL=http://127.0.0.1:9/manifest.json
set +e
as_user "$manifest" /usr/bin/twg update >"$tmp/update.out" 2>"$tmp/update.err"
code=$?
as_user "$manifest" /usr/bin/twg --json update >/dev/null 2>"$tmp/update.json"
json_code=$?
set -e
[ $code -eq 1 ] || fail "/usr/bin/twg update exited $code, expected 1: $(cat "$tmp/update.err")"
grep -q 'installed by the twg Debian package: update it with apt/dpkg' "$tmp/update.err" ||
  fail "/usr/bin/twg update did not point at the package manager: $(cat "$tmp/update.err")"
[ $json_code -eq 1 ] && grep -q '"code":"UPDATE_PACKAGED"' "$tmp/update.json" ||
  fail "/usr/bin/twg --json update: exit $json_code, $(cat "$tmp/update.json")"
[ ! -e "$home/.local/share/twg" ] && [ ! -e "$home/.local/bin/twg" ] ||
  fail "/usr/bin/twg update installed something in $home/.local"
pass "/usr/bin/twg update refuses (exit 1, UPDATE_PACKAGED)"

# `twg uninstall` removes the user's twg state but leaves the package's files to dpkg.
out=$(as_user /usr/bin/twg uninstall --yes 2>&1) || fail "/usr/bin/twg uninstall --yes: $out"
grep -qF 'belongs to the twg Debian package; remove it with `sudo apt remove twg`' <<<"$out" ||
  fail "/usr/bin/twg uninstall did not point at the package manager: $out"
[ -x /usr/bin/twg ] && [ -x /usr/bin/twg-cli ] && [ -x /usr/bin/twgd ] || fail "twg uninstall removed the package's binaries"
pass "/usr/bin/twg uninstall leaves the package to dpkg"

# 4. Remove it: nothing it installed stays, and dpkg forgets it (no conffiles to keep).
$SUDO dpkg -r twg >"$tmp/dpkg-r.log" 2>&1 || { cat "$tmp/dpkg-r.log" >&2; fail "dpkg -r twg"; }
we_installed=false
while read -r path; do
  [ -e "$path" ] || [ -L "$path" ] || continue
  # A directory another package also uses (/usr/bin, /usr/share/man/man1, ...) stays.
  [ -d "$path" ] && dpkg-query -S "$path" >/dev/null 2>&1 && continue
  fail "$path is still there after dpkg -r twg"
done <"$tmp/owned"
status=$(dpkg-query -W -f='${db:Status-Status}' twg 2>/dev/null || echo not-installed)
[ "$status" = not-installed ] || fail "dpkg still knows twg after dpkg -r (status: $status)"
pass "dpkg -r twg left nothing behind"
echo "test-package: all checks passed"
