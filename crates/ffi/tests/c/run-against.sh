#!/bin/sh
# Builds and runs the C API tests against any libzmq.
#
#   run-against.sh INCLUDE_DIR LIB_ARGS...
#
# INCLUDE_DIR holds zmq.h; LIB_ARGS are what the linker needs after the
# test's object, for example
#
#   # the reference libzmq 4.3.5 (static, C++, CURVE on libsodium):
#   run-against.sh ~/.cargo/registry/src/*/zeromq-src-0.3.6+4.3.5/vendor/include \
#       /path/to/libzmq.a /path/to/libsodium.a -lstdc++ -lpthread
#   # ferromq's shared library:
#   run-against.sh crates/ffi/include -L target/debug -lzmq \
#       -Wl,-rpath,"$PWD/target/debug"
#
# Environment: TESTS="test_msg test_poll" runs only those; CC picks the
# compiler (default cc); TIMEOUT is seconds per test (default 60);
# KEEP=1 keeps the build directory.
set -u

if [ $# -lt 1 ]; then
    sed -n '2,18p' "$0" >&2
    exit 2
fi

include_dir=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
timeout_s=${TIMEOUT:-60}
out=$(mktemp -d "${TMPDIR:-/tmp}/zmq-ctests.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$out"' EXIT

if [ -n "${TESTS:-}" ]; then
    tests=$TESTS
else
    tests=$(cd "$here" && ls test_*.c | sed 's/\.c$//')
fi

failed=""
passed=0
for t in $tests; do
    if ! "$cc" -std=gnu11 -O1 -g -Wall -Wextra -I"$include_dir" -I"$here" \
        -o "$out/$t" "$here/$t.c" "$@" -lpthread >"$out/$t.build" 2>&1; then
        cat "$out/$t.build"
        echo "BUILD FAILED: $t"
        failed="$failed $t"
        continue
    fi
    if timeout -k 5 "$timeout_s" "$out/$t" >"$out/$t.log" 2>&1; then
        passed=$((passed + 1))
        echo "ok      $t"
    else
        rc=$?
        cat "$out/$t.log"
        echo "FAILED  $t (exit status $rc)"
        failed="$failed $t"
    fi
done

echo "$passed passed; failed:${failed:- none}"
[ -z "$failed" ]
