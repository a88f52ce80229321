#!/usr/bin/env bash
# Builds pyzmq 27.1.0 from its source distribution against a libzmq in
# PREFIX and runs pyzmq's own test suite (the sdist's tests/) on it: the
# proof that ferromq's libzmq (crates/ffi) is a drop-in libzmq.
#
#   tests/pyzmq/run.sh            install ferromq's libzmq into target/pyzmq/prefix
#                                 (scripts/install-libzmq.sh; FERROMQ_FFI_PROFILE picks
#                                 the release or debug build), build pyzmq on it, test
#   tests/pyzmq/run.sh PREFIX     the same with a libzmq already installed in PREFIX
#                                 (PREFIX/include/zmq.h, PREFIX/lib/libzmq.so)
#   tests/pyzmq/run.sh --stock    the same suite and options on the stock pyzmq 27.1.0
#                                 wheel (bundled libzmq 4.3.5): the baseline; writes
#                                 target/pyzmq/stock-passing.txt (see stock-passing.txt)
#
# Everything lives under target/pyzmq/ (PYZMQ_WORK): the venvs (venv, venv-stock:
# never the repo's .venv), the downloaded sdist (fetched once), the built
# wheels (one per libzmq header/SONAME/PREFIX: a libzmq.so rebuilt in place
# needs no new wheel, the extension loads it through its RUNPATH), the copy
# of the suite it runs, logs and outcomes. The tests always run again.
#
# The extension must load PREFIX/lib/libzmq.so.5: ldd and the running
# interpreter's memory map are checked before any test runs.
#
# The outcome: failing tests (failed, error, crashed, timed out) are compared
# with tests/pyzmq/expected-failures.txt; one not listed there fails the run,
# listed ones that pass are named so the list can shrink. Stock pyzmq's passing
# tests (tests/pyzmq/stock-passing.txt) that did not pass are named too.
#
# Environment:
#   PYZMQ_TEST_TIMEOUT=60      seconds per test (pytest-timeout, thread method:
#                              a hung test's worker is killed and replaced)
#   PYZMQ_SUITE_TIMEOUT=1800   seconds for the whole pytest run
#   PYZMQ_JOBS=1               pytest-xdist workers; a worker that crashes (a
#                              segfault in the library) costs one test, not the
#                              run. 0 runs the tests in pytest's own process.
#   PYZMQ_REBUILD=1            rebuild the pyzmq wheel even if one is cached
#   PYZMQ_EXPECTED_FAILURES=F  another expected-failures list
#   PYTEST_ADDOPTS             extra pytest options, e.g. "-k socket" or "-x"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${PYZMQ_WORK:-$root/target/pyzmq}
version=27.1.0
test_timeout=${PYZMQ_TEST_TIMEOUT:-60}
suite_timeout=${PYZMQ_SUITE_TIMEOUT:-1800}
jobs=${PYZMQ_JOBS:-1}
expected=${PYZMQ_EXPECTED_FAILURES:-$here/expected-failures.txt}
req=$here/requirements.txt

say() { echo "pyzmq-suite: $*" >&2; }
die() { say "$*"; exit 1; }

mode=ffi
prefix=
case "${1:-}" in
-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
--stock) mode=stock ;;
"") ;;
-*) die "unknown option $1 (see --help)" ;;
*) prefix=$1 ;;
esac
[ $# -le 1 ] || die "one argument at most (see --help)"
[ -z "$prefix" ] || [ -d "$prefix" ] || die "PREFIX $prefix does not exist"

command -v python3 >/dev/null || die "python3 is required"
mkdir -p "$work"
sha() { sha256sum "$@" | cut -d' ' -f1; }

# --- the Python environment -------------------------------------------------
# Build tools (scikit-build-core, cython, cmake, ninja) and test tools are
# pinned in requirements.txt; the venv is remade when that file changes.
if [ $mode = stock ]; then
    venv=$work/venv-stock
    extra="pyzmq==$version --only-binary pyzmq"
else
    venv=$work/venv
    extra=
fi
want="$(sha "$req") $extra"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$want" ] ||
    ! "$venv/bin/python" -c 'import pytest, xdist, pytest_timeout' 2>/dev/null; then
    say "making $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" $extra
    echo "$want" >"$venv/.requirements"
fi
py=$venv/bin/python
pip() { "$py" -m pip --disable-pip-version-check "$@"; }

# --- pyzmq's source distribution (its tests/, and what ffi mode builds) ------
sdist=$work/sdist/pyzmq-$version.tar.gz
if [ ! -f "$sdist" ]; then
    say "downloading the pyzmq $version sdist"
    rm -rf "$work/sdist.tmp"
    # --no-build-isolation: the metadata step uses the venv's build tools
    # instead of fetching them into a throwaway environment
    PATH="$venv/bin:$PATH" pip download --quiet --no-binary pyzmq --no-deps \
        --no-build-isolation -d "$work/sdist.tmp" "pyzmq==$version"
    mkdir -p "$work/sdist"
    mv "$work/sdist.tmp/pyzmq-$version.tar.gz" "$sdist"
    rm -rf "$work/sdist.tmp"
fi
src=$work/src/pyzmq-$version
if [ ! -f "$src/.complete" ]; then
    rm -rf "$src"
    mkdir -p "$work/src"
    tar -xzf "$sdist" -C "$work/src"
    touch "$src/.complete"
fi

site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')

if [ $mode = ffi ]; then
    # --- the libzmq under test ----------------------------------------------
    if [ -z "$prefix" ]; then
        prefix=$work/prefix
        bash "$root/scripts/install-libzmq.sh" "$prefix"
    fi
    prefix=$(cd "$prefix" && pwd -P)
    [ -f "$prefix/include/zmq.h" ] || die "$prefix/include/zmq.h is missing"
    [ -e "$prefix/lib/libzmq.so" ] || die "$prefix/lib/libzmq.so is missing"
    libdir=$(cd "$prefix/lib" && pwd -P)
    soname=$(readelf -d "$prefix/lib/libzmq.so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
    [ "$soname" = libzmq.so.5 ] || die "$prefix/lib/libzmq.so has SONAME '${soname:-none}', not libzmq.so.5"

    # --- pyzmq built on it (cached) -----------------------------------------
    # What the build takes from PREFIX: zmq.h, the library's SONAME (linked
    # by name), and PREFIX/lib as the extension's RUNPATH.
    key=$(printf '%s\n' "$version" "$("$py" -VV)" "$prefix" "$soname" \
        "$(sha "$prefix/include/zmq.h")" "$(sha "$req")" | sha256sum | cut -c1-16)
    wheeldir=$work/wheels/$key
    wheel=$(ls "$wheeldir"/pyzmq-*.whl 2>/dev/null | head -n1 || true)
    if [ -z "$wheel" ] || [ "${PYZMQ_REBUILD:-0}" = 1 ]; then
        say "building pyzmq $version against $prefix (log: $work/build.log)"
        rm -rf "$wheeldir"
        start=$SECONDS
        # ZMQ_PREFIX: link that libzmq, add PREFIX/lib to the RUNPATH, fail
        # if it is not there; PYZMQ_NO_BUNDLE: never fall back to building
        # the bundled libzmq.
        if ! env PATH="$venv/bin:$PATH" ZMQ_PREFIX="$prefix" PYZMQ_NO_BUNDLE=1 \
            ZMQ_DRAFT_API=0 CMAKE_BUILD_PARALLEL_LEVEL=2 \
            "$py" -m pip --disable-pip-version-check wheel --no-deps --no-build-isolation \
            -v -w "$wheeldir" "$sdist" >"$work/build.log" 2>&1; then
            tail -n 40 "$work/build.log" >&2
            die "building pyzmq failed (log: $work/build.log)"
        fi
        say "built in $((SECONDS - start)) s"
        wheel=$(ls "$wheeldir"/pyzmq-*.whl | head -n1)
    else
        say "reusing $wheel"
    fi
    if [ "$(cat "$venv/.pyzmq-wheel" 2>/dev/null)" != "$wheel" ]; then
        pip install --quiet --force-reinstall --no-deps "$wheel"
        echo "$wheel" >"$venv/.pyzmq-wheel"
    fi

    # --- it must load PREFIX's libzmq ---------------------------------------
    ext=$(ls "$site"/zmq/backend/cython/_zmq*.so 2>/dev/null | head -n1 || true)
    [ -n "$ext" ] || die "no zmq/backend/cython/_zmq*.so in $site"
    ! ls -d "$site"/pyzmq.libs >/dev/null 2>&1 || die "$site/pyzmq.libs exists: a bundled libzmq"
    ldd_out=$(ldd "$ext")
    lines=$(grep -E '^\s*libzmq' <<<"$ldd_out" || true)
    resolved=$(awk '$1 == "libzmq.so.5" && $2 == "=>" {print $3}' <<<"$lines")
    if [ "$(grep -c . <<<"$lines")" != 1 ] || [ -z "$resolved" ] ||
        [ "$(dirname "$(readlink -f "$resolved")")" != "$libdir" ]; then
        echo "$ldd_out" >&2
        die "$ext does not load libzmq.so.5 from $libdir (ldd above)"
    fi
    say "ldd: $(basename "$ext") -> libzmq.so.5 => $resolved"
    # Every zmq_* function the extension calls must be exported, or it does
    # not even load: name the missing ones rather than just the first.
    if command -v nm >/dev/null; then
        missing=$(comm -23 \
            <(nm -D --undefined-only "$ext" | awk '$2 ~ /^zmq_/ {print $2}' | sort -u) \
            <(nm -D --defined-only "$resolved" | awk '$3 ~ /^zmq_/ {print $3}' | sed 's/@.*//' | sort -u))
        if [ -n "$missing" ]; then
            die "$resolved does not export $(wc -w <<<"$missing") function(s) pyzmq calls: $(tr '\n' ' ' <<<"$missing")"
        fi
    fi
    check_env=(ZMQ_PREFIX="$prefix" CPATH="$prefix/include${CPATH:+:$CPATH}")
else
    check_env=(ZMQ_PREFIX=bundled)
fi

# The interpreter must import the installed zmq and, in ffi mode, map
# PREFIX's library (not one a preloaded or LD_LIBRARY_PATH libzmq shadows).
info=$(cd / && env "${check_env[@]}" "$py" -c '
import os, zmq
libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "libzmq" in l.rsplit("/", 1)[-1]})
print(zmq.__file__); print(zmq.zmq_version()); print(zmq.pyzmq_version()); print(" ".join(libs))
') || die "import zmq failed in $venv"
zmq_file=$(sed -n 1p <<<"$info")
case "$zmq_file" in "$site"/*) ;; *) die "import zmq found $zmq_file, not the one in $site" ;; esac
mapped=$(sed -n 4p <<<"$info")
if [ $mode = ffi ] && [ "$(readlink -f "$mapped")" != "$(readlink -f "$libdir/libzmq.so.5")" ]; then
    die "the interpreter mapped '${mapped:-no libzmq}', not $libdir/libzmq.so.5"
fi
say "pyzmq $(sed -n 3p <<<"$info"), libzmq $(sed -n 2p <<<"$info") (${mapped:-built into the extension})"

# --- the tests ----------------------------------------------------------------
# A copy of the sdist's tests/ and pytest.ini, away from its zmq/ source
# tree, so `import zmq` can only find the installed package.
results=$work/results-$mode
suite=$work/suite-$mode
rm -rf "$suite" "$results"
mkdir -p "$suite" "$results"
cp -r "$src/tests" "$src/pytest.ini" "$suite/"

xdist=(-p xdist -n "$jobs" --max-worker-restart=1000)
[ "$jobs" != 0 ] || xdist=(-p no:xdist)
say "running pyzmq's tests (per test ${test_timeout}s, log: $results/pytest.log)"
start=$SECONDS
set +e
(cd "$suite" && env "${check_env[@]}" PYTHONPATH="$here" PYZMQ_OUTCOMES="$results/outcomes.jsonl" \
    timeout -k 30 "$suite_timeout" "$py" -m pytest -p outcomes -p no:cacheprovider "${xdist[@]}" \
    --timeout="$test_timeout" --timeout-method=thread --continue-on-collection-errors -q -rfE \
    --junitxml="$results/junit.xml" tests) 2>&1 | tee "$results/pytest.log"
rc=${PIPESTATUS[0]}
set -e
say "pytest exited $rc after $((SECONDS - start)) s"

report_args=(--stock-passing "$here/stock-passing.txt" --test-timeout "$test_timeout" --expected-failures "$expected")
if [ $mode = stock ]; then
    report_args+=(--write-passing "$work/stock-passing.txt" --header "The tests of pyzmq $version's sdist that pass with the stock pyzmq $version wheel
(libzmq $(sed -n 2p <<<"$info") bundled), $("$py" -V), made by \`tests/pyzmq/run.sh --stock\`
(pytest -n $jobs --timeout=$test_timeout --timeout-method=thread, $(date -u +%Y-%m-%d)): the target
set for ferromq's libzmq." --flaky-only)
fi
set +e
"$py" "$here/report.py" "$results/outcomes.jsonl" "${report_args[@]}" | tee "$results/summary.txt"
report_rc=${PIPESTATUS[0]}
set -e
case $rc in
0 | 1) ;;
124 | 137) die "the suite did not finish within ${suite_timeout}s (PYZMQ_SUITE_TIMEOUT); tests after the hang did not run" ;;
*) die "pytest exited $rc: it was interrupted or could not run the suite (see $results/pytest.log)" ;;
esac
exit "$report_rc"
