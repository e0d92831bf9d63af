#!/usr/bin/env bash
# Mutation testing of the code that decides whether a refresh token is spent or saved: the
# engine (the spend rule, min-valid limits, halts, endpoint pinning), recovery records, the
# atomic save, the lock and the store formats. Runs cargo-mutants with the fast unit tests
# of twg-common only; measured by hand (figures in the README), not part of every CI run.
#
#   scripts/mutants.sh            # all of the modules above
#   scripts/mutants.sh engine     # only files whose path contains "engine"
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
files=(
  twg-common/src/engine.rs
  twg-common/src/recovery.rs
  twg-common/src/atomic.rs
  twg-common/src/lock.rs
  twg-common/src/store/mod.rs
  twg-common/src/store/file.rs
  twg-common/src/store/format.rs
  twg-common/src/oauth/token_response.rs
)
args=()
for f in "${files[@]}"; do
  if [ $# -eq 0 ] || [[ "$f" == *"$1"* ]]; then args+=(--file "$f"); fi
done
exec cargo mutants -p twg-common "${args[@]}" --timeout 120 --output target/mutants -- --lib --test engine
