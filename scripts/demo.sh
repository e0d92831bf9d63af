#!/usr/bin/env bash
# The main job on a fresh machine: start the bundled dev authorization server and twgd, log
# in with the device flow (auto-approved by the dev server), print a token and the status.
# Everything lives in a temporary directory and is stopped at the end.
# Set TWG_OAUTH_ISSUER (and TWG_OAUTH_CLIENT_ID, TWG_OAUTH_SCOPES) to use another server.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p twg-cli -p twg-front -p twgd -p twg-dev-idp
bin=$PWD/target/release
work=$(mktemp -d)
pids=()
cleanup() {
  "$bin/twg" daemon stop >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# Nothing from the caller's own twg setup may leak in: a TWG_SOCKET from the shell would make
# this demo talk to (and at the end stop) the user's real daemon.
unset TWG_SOCKET TWG_STATE_DIR TWG_DAEMON_BIN TWG_TOKEN TWG_USER TWG_SITE TWG_BBC_TOKEN \
  TWG_INSTALL_DIR TWG_BIN_DIR XDG_CONFIG_HOME XDG_STATE_HOME XDG_DATA_HOME
export HOME=$work/home XDG_RUNTIME_DIR=$work/run TWG_CONFIG_DIR=$work/home/.config/twg
mkdir -p "$HOME"
if [ -z "${TWG_OAUTH_ISSUER:-}" ]; then
  "$bin/twg-dev-idp" --auto-approve --interval 1 >"$work/idp.out" 2>"$work/idp.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q TWG_DEV_IDP_URL "$work/idp.out" 2>/dev/null && break; sleep 0.05; done
  TWG_OAUTH_ISSUER=$(sed -n 's/^TWG_DEV_IDP_URL=//p' "$work/idp.out")
  if [ -z "$TWG_OAUTH_ISSUER" ]; then
    echo "demo: twg-dev-idp did not start; its log:" >&2
    cat "$work/idp.log" >&2
    exit 1
  fi
  export TWG_OAUTH_ISSUER
  export TWG_OAUTH_CLIENT_ID=twg-dev-client TWG_OAUTH_SCOPES="read:me read:jira-work offline_access"
  echo "dev authorization server: $TWG_OAUTH_ISSUER"
fi
"$bin/twg" daemon start
"$bin/twg" login --no-browser
echo "access token: $("$bin/twg" auth token)"
"$bin/twg" auth status
