#!/usr/bin/env bash
# End-to-end self-test of oidc-server.mjs + approve-device.mjs using curl only
# (no twg involved), then of the authorization-code flow (web client +
# approve-web.mjs) via webflow-selftest.mjs. Run from anywhere:
# bash tests/conformance/selftest.sh   (WEBFLOW=0 skips the web-flow part)
set -euo pipefail
cd "$(dirname "$0")"

CLIENT_ID=${CLIENT_ID:-twg-conformance}
export CLIENT_ID
log() { printf '\n== %s\n' "$*" >&2; }
fail() { printf 'SELFTEST FAILED: %s\n' "$*" >&2; exit 1; }
# json <file> <field>: print a top-level field ('' if absent)
json() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); const v=o[process.argv[2]]; process.stdout.write(v===undefined?"":String(v))' "$1" "$2"; }

TMP=$(mktemp -d)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

log "start oidc-server.mjs"
node oidc-server.mjs >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do grep -q '^OIDC_ISSUER=' "$TMP/server.out" && break; sleep 0.1; done
ISSUER=$(sed -n 's/^OIDC_ISSUER=//p' "$TMP/server.out")
[ -n "$ISSUER" ] || { cat "$TMP/server.err" >&2; fail "server did not print OIDC_ISSUER"; }
[ "$(wc -l <"$TMP/server.out")" -eq 1 ] || fail "server stdout is not exactly one line"
echo "issuer: $ISSUER" >&2

curl -fsS "$ISSUER/.well-known/openid-configuration" >"$TMP/disc.json"
DEVICE_EP=$(json "$TMP/disc.json" device_authorization_endpoint)
TOKEN_EP=$(json "$TMP/disc.json" token_endpoint)
REVOKE_EP=$(json "$TMP/disc.json" revocation_endpoint)
INTRO_EP=$(json "$TMP/disc.json" introspection_endpoint)
for v in DEVICE_EP TOKEN_EP REVOKE_EP INTRO_EP; do [ -n "${!v}" ] || fail "discovery lacks $v"; done
echo "device=$DEVICE_EP token=$TOKEN_EP revoke=$REVOKE_EP introspect=$INTRO_EP" >&2

start_device() { # -> $TMP/da.json
  curl -sS -d "client_id=$CLIENT_ID" -d 'scope=openid offline_access' "$DEVICE_EP" >"$TMP/da.json"
  cat "$TMP/da.json" >&2; echo >&2
  DEVICE_CODE=$(json "$TMP/da.json" device_code)
  USER_CODE=$(json "$TMP/da.json" user_code)
  VERIFY_URI=$(json "$TMP/da.json" verification_uri)
  VERIFY_URI_COMPLETE=$(json "$TMP/da.json" verification_uri_complete)
  [ -n "$DEVICE_CODE" ] && [ -n "$USER_CODE" ] && [ -n "$VERIFY_URI" ] || fail "bad device authorization response"
}
poll() { # $1 = output file
  curl -sS -d 'grant_type=urn:ietf:params:oauth:grant-type:device_code' \
    -d "device_code=$DEVICE_CODE" -d "client_id=$CLIENT_ID" "$TOKEN_EP" >"$1"
  cat "$1" >&2; echo >&2
}
refresh() { # $1 = refresh token, $2 = output file
  curl -sS -d grant_type=refresh_token -d "refresh_token=$1" -d "client_id=$CLIENT_ID" "$TOKEN_EP" >"$2"
  cat "$2" >&2; echo >&2
}

log "approve path: device authorization"
start_device
poll "$TMP/pending.json"
[ "$(json "$TMP/pending.json" error)" = authorization_pending ] || fail "expected authorization_pending"

log "approve path: browser (verification_uri + user_code)"
T0=$(date +%s%N)
OUT=$(node approve-device.mjs "$VERIFY_URI" "$USER_CODE" approve --login alice)
echo "approve-device took $(( ($(date +%s%N) - T0) / 1000000 )) ms" >&2
[ "$(printf '%s\n' "$OUT" | tail -n1)" = APPROVED ] || fail "approve-device did not print APPROVED"

log "approve path: token"
poll "$TMP/tok.json"
AT=$(json "$TMP/tok.json" access_token); RT1=$(json "$TMP/tok.json" refresh_token)
[ -n "$AT" ] && [ -n "$RT1" ] || fail "token response lacks access_token/refresh_token"

log "poll again after success (expect invalid_grant)"
poll "$TMP/again.json"
[ "$(json "$TMP/again.json" error)" = invalid_grant ] || fail "expected invalid_grant on re-poll"
log "re-polling revoked the whole grant: its refresh token is dead now"
refresh "$RT1" "$TMP/dead.json"
[ "$(json "$TMP/dead.json" error)" = invalid_grant ] || fail "expected grant revoked after re-poll"

log "second device flow, via verification_uri_complete"
start_device
OUT=$(node approve-device.mjs "$VERIFY_URI_COMPLETE" "$USER_CODE" approve)
[ "$(printf '%s\n' "$OUT" | tail -n1)" = APPROVED ] || fail "approve-device (complete uri) did not print APPROVED"
poll "$TMP/tok.json"
AT=$(json "$TMP/tok.json" access_token); RT1=$(json "$TMP/tok.json" refresh_token)
[ -n "$AT" ] && [ -n "$RT1" ] || fail "token response lacks access_token/refresh_token"

log "introspect access token"
curl -sS -d "token=$AT" -d "client_id=$CLIENT_ID" "$INTRO_EP" >"$TMP/intro.json"; cat "$TMP/intro.json" >&2; echo >&2
[ "$(json "$TMP/intro.json" active)" = true ] || fail "access token not active"

log "refresh (expect rotation)"
refresh "$RT1" "$TMP/ref.json"
RT2=$(json "$TMP/ref.json" refresh_token)
[ -n "$(json "$TMP/ref.json" access_token)" ] || fail "refresh gave no access_token"
[ -n "$RT2" ] && [ "$RT2" != "$RT1" ] || fail "refresh token not rotated"

log "refresh with new token (rotation chain works)"
refresh "$RT2" "$TMP/ref2.json"
RT3=$(json "$TMP/ref2.json" refresh_token)
[ -n "$RT3" ] && [ "$RT3" != "$RT2" ] || fail "second rotation failed"

log "reuse old refresh token (expect invalid_grant)"
refresh "$RT1" "$TMP/reuse.json"
[ "$(json "$TMP/reuse.json" error)" = invalid_grant ] || fail "expected invalid_grant on reuse"
log "latest refresh token after reuse detection (grant revoked: expect invalid_grant)"
refresh "$RT3" "$TMP/after-reuse.json"
[ "$(json "$TMP/after-reuse.json" error)" = invalid_grant ] || fail "expected grant revoked after reuse"
AT3=$(json "$TMP/ref2.json" access_token)
curl -sS -d "token=$AT3" -d "client_id=$CLIENT_ID" "$INTRO_EP" >"$TMP/intro3.json"; cat "$TMP/intro3.json" >&2; echo >&2
[ "$(json "$TMP/intro3.json" active)" = false ] || fail "access token still active after reuse detection"

log "revocation: fresh grant, revoke its refresh token"
start_device
OUT=$(node approve-device.mjs "$VERIFY_URI" "$USER_CODE")
[ "$(printf '%s\n' "$OUT" | tail -n1)" = APPROVED ] || fail "approve-device did not print APPROVED"
poll "$TMP/tok.json"
AT=$(json "$TMP/tok.json" access_token); RT=$(json "$TMP/tok.json" refresh_token)
CODE=$(curl -sS -o "$TMP/rev.out" -w '%{http_code}' -d "token=$RT" -d token_type_hint=refresh_token \
  -d "client_id=$CLIENT_ID" "$REVOKE_EP")
echo "revocation HTTP $CODE body=[$(cat "$TMP/rev.out")]" >&2
[ "$CODE" = 200 ] || fail "revocation returned HTTP $CODE"
refresh "$RT" "$TMP/revoked.json"
[ "$(json "$TMP/revoked.json" error)" = invalid_grant ] || fail "revoked refresh token still works"
curl -sS -d "token=$AT" -d "client_id=$CLIENT_ID" "$INTRO_EP" >"$TMP/intro2.json"; cat "$TMP/intro2.json" >&2; echo >&2
[ "$(json "$TMP/intro2.json" active)" = false ] || fail "access token still active after refresh token revocation"

log "deny path"
start_device
OUT=$(node approve-device.mjs "$VERIFY_URI" "$USER_CODE" deny)
[ "$(printf '%s\n' "$OUT" | tail -n1)" = DENIED ] || fail "approve-device did not print DENIED"
poll "$TMP/denied.json"
[ "$(json "$TMP/denied.json" error)" = access_denied ] || fail "expected access_denied after deny"

log "wrong user code (expect non-zero exit)"
start_device
if node approve-device.mjs "$VERIFY_URI" "BCDF-GHJK" approve >/dev/null; then fail "bogus user code was accepted"; fi

log "SIGTERM"
kill -TERM "$SERVER_PID"
for _ in $(seq 1 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVER_PID" 2>/dev/null && fail "server did not exit on SIGTERM"
wait "$SERVER_PID" && RC=0 || RC=$?
SERVER_PID=
[ "$RC" = 0 ] || fail "server exit code $RC after SIGTERM"

if [ "${WEBFLOW:-1}" != 0 ]; then
  log "web flow (authorization code + PKCE, confidential client): webflow-selftest.mjs"
  node webflow-selftest.mjs >&2 || fail "webflow-selftest.mjs"
fi

printf '\nSELFTEST OK\n'
