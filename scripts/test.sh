#!/usr/bin/env bash
# Runs every test of the project: formatting and lints, the Rust tests, then
# the interop suite (ferromq CLI against pyzmq/libzmq, in a .venv).
# This is the README's test command and exactly what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
# No --workspace: the root Cargo.toml's default-members leave out the bench
# crates (they build libzmq from source; the bench runs on demand, never in
# tests).
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test
# The benchmark and its libzmq binding (workspace members outside the
# default ones: they build libzmq and libsodium from source) are linted and
# unit-tested here; the bench itself is never run: no test asserts a speed.
# The binding's tests use real libzmq sockets, CURVE included.
echo "== bench: clippy and unit tests"
cargo clippy -p ferromq-bench -p ferromq-bench-libzmq --all-targets -- -D warnings
cargo test -p ferromq-bench -p ferromq-bench-libzmq

echo "== interop tests (pyzmq/libzmq <-> ferromq CLI)"
# The Python environment lives in .venv; it is (re)made when missing,
# broken, or when tests/interop/requirements.txt changed.
req=tests/interop/requirements.txt
stamp=.venv/.interop-requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] ||
    ! .venv/bin/python -c 'import zmq, pytest' 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
fi
cargo build --quiet -p ferromq-cli --bin ferromq
export FERROMQ_BIN="${CARGO_TARGET_DIR:-target}/debug/ferromq"
FERROMQ_BIN=$(realpath "$FERROMQ_BIN")
# Every wait inside the suite is bounded; the outer timeout is a last guard.
set +e
timeout 600 .venv/bin/python -m pytest -q tests/interop
rc=$?
set -e
case $rc in
0) ;;
5) echo "interop: pytest collected no tests: that is a failure" >&2; exit 1 ;;
124) echo "interop: the suite did not finish within 600 s" >&2; exit 1 ;;
*) echo "interop: pytest failed (exit $rc)" >&2; exit "$rc" ;;
esac

echo "== pyzmq's own test suite on ferromq's libzmq.so (tests/pyzmq/run.sh)"
# Installs libzmq.so, builds pyzmq 27.1.0 from its sdist against it, and
# runs pyzmq's tests; fails on any failure not in expected-failures.txt and
# on any test stock pyzmq passes that does not pass here. The library is
# the debug build `cargo test` made above (overflow checks and debug
# assertions on; no release build of the whole crate graph, which cost CI
# minutes); pyzmq's suite passes on it as on the release one.
FERROMQ_FFI_PROFILE=debug bash tests/pyzmq/run.sh
