#!/usr/bin/env bash
# Mutation testing of the code that decides whether a refresh token is spent or saved: the
# engine (the spend rule, min-valid limits, halts, endpoint pinning), recovery records, the
# atomic save, the lock and the store formats. Runs cargo-mutants with the fast unit tests
# of twg-common only; measured by hand (figures in the README), not part of every CI run.
#
#   scripts/mutants.sh            # all of the modules above
#   scripts/mutants.sh engine     # only files whose path contains "engine"
#   scripts/mutants.sh daemon     # twgd's state machine (twgd/src/daemon.rs), see below
#
# `daemon` mutates twgd/src/daemon.rs and runs the in-process daemon tests of the e2e crate
# (tests/e2e/tests/in_process*.rs: `twgd::server::run` and the `Daemon` itself against the
# real dev server). Those tests start the prebuilt `twg-dev-idp` and `twg` binaries, which do
# not link daemon.rs: from $TWG_E2E_BIN_DIR when set, otherwise built here in release mode.
# Extra arguments go to cargo-mutants, e.g.
#   scripts/mutants.sh daemon --re 'Daemon::(token|tick)'
# The results go to target/mutants-daemon, or $CARGO_MUTANTS_OUTPUT.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir=$PWD/$target_dir ;; esac

if [ "${1:-}" = daemon ]; then
  shift
  if [ -z "${TWG_E2E_BIN_DIR:-}" ]; then
    cargo build --release -p twg-cli -p twg-front -p twgd -p twg-dev-idp
    export TWG_E2E_BIN_DIR=$target_dir/release
  fi
  # Only the in-process test targets are built and run for each mutant (`--cargo-arg`
  # reaches the build as well; arguments after `--` only reach `cargo test`). cargo-mutants
  # 27 runs its baseline with the mutated package's tests whatever --test-package says, so
  # the unmutated run happens here and its own is skipped.
  targets=()
  for t in tests/e2e/tests/in_process*.rs; do
    targets+=("--test=$(basename "$t" .rs)")
  done
  cargo test -p twg-e2e "${targets[@]}"
  cargo_args=()
  for t in "${targets[@]}"; do cargo_args+=("--cargo-arg=$t"); done
  exec cargo mutants -p twgd --file twgd/src/daemon.rs --test-package twg-e2e \
    "${cargo_args[@]}" --baseline=skip --timeout 180 \
    --output "${CARGO_MUTANTS_OUTPUT:-$target_dir/mutants-daemon}" "$@"
fi

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
