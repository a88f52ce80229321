#!/usr/bin/env bash
# Installs ferromq's libzmq (the C ABI of crates/ffi) into PREFIX the way
# libzmq's own `make install` lays it out, so that C programs and bindings
# built "against libzmq" find it with -I/-L, pkg-config or ZMQ_PREFIX:
#
#   PREFIX/include/zmq.h            (and zmq_utils.h when crates/ffi has one)
#   PREFIX/lib/libzmq.so.5          the shared library (its SONAME)
#   PREFIX/lib/libzmq.so            -> libzmq.so.5, for `-lzmq`
#   PREFIX/lib/libzmq.a             the static library
#   PREFIX/lib/pkgconfig/libzmq.pc  Name: libzmq, Version: 4.3.5
#
# Usage: scripts/install-libzmq.sh PREFIX
#   then PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs libzmq
#   or   ZMQ_PREFIX=PREFIX pip install --no-binary pyzmq pyzmq
# Builds with `cargo build --release -p ferromq-ffi` (CARGO_TARGET_DIR is
# honoured); FERROMQ_FFI_PROFILE=debug installs the debug build instead
# (what the test run uses: `cargo test` has built it already, with
# overflow checks and debug assertions on). Rerunning it replaces the
# installed files.
set -euo pipefail

usage() { echo "usage: $0 PREFIX" >&2; exit 2; }
[ $# -eq 1 ] && [ -n "$1" ] || usage
case "$1" in -h | --help) usage ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
inc_src="$root/crates/ffi/include"

# Without the header nothing can be compiled against the library: say so
# before spending a release build on it.
if [ ! -f "$inc_src/zmq.h" ]; then
    echo "install-libzmq: $inc_src/zmq.h is missing: the ffi crate has no C header yet," >&2
    echo "install-libzmq: so there is nothing to compile against; not installing" >&2
    exit 1
fi

mkdir -p "$1"
prefix=$(cd "$1" && pwd -P)

profile=${FERROMQ_FFI_PROFILE:-release}
case "$profile" in
release) build_flags=(--release) ;;
debug) build_flags=() ;;
*) echo "install-libzmq: FERROMQ_FFI_PROFILE must be release or debug, not '$profile'" >&2; exit 2 ;;
esac
echo "install-libzmq: cargo build ${build_flags[*]} -p ferromq-ffi" >&2
(cd "$root" && cargo build "${build_flags[@]}" -p ferromq-ffi)

target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target_dir" ] || { echo "install-libzmq: cannot find cargo's target directory" >&2; exit 1; }
so="$target_dir/$profile/libzmq.so"
ar="$target_dir/$profile/libzmq.a"
for f in "$so" "$ar"; do
    [ -f "$f" ] || { echo "install-libzmq: $f was not built" >&2; exit 1; }
done

# Programs linked with -lzmq record the library's SONAME and load that name
# at run time: it must be libzmq's, libzmq.so.5 (crates/ffi/build.rs sets it).
if command -v readelf >/dev/null; then
    soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
    if [ "$soname" != "libzmq.so.5" ]; then
        echo "install-libzmq: $so has SONAME '${soname:-none}', not libzmq.so.5" >&2
        exit 1
    fi
fi

mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
install -m 644 "$inc_src/zmq.h" "$prefix/include/zmq.h"
if [ -f "$inc_src/zmq_utils.h" ]; then
    install -m 644 "$inc_src/zmq_utils.h" "$prefix/include/zmq_utils.h"
fi
# install(1) writes a new file and renames it over the old one, so a process
# that has the old library mapped keeps a consistent copy.
install -m 755 "$so" "$prefix/lib/libzmq.so.5"
ln -sfn libzmq.so.5 "$prefix/lib/libzmq.so"
install -m 644 "$ar" "$prefix/lib/libzmq.a"

# Libs.private is what linking the Rust staticlib needs besides libzmq.a, as
# printed by
#   cargo rustc -p ferromq-ffi --release --crate-type staticlib -- --print native-static-libs
# (-lc left out: every C link has it). Recheck it when the ffi crate gains a
# dependency with native libraries.
cat >"$prefix/lib/pkgconfig/libzmq.pc" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: libzmq
Description: ferromq: ZeroMQ in Rust behind libzmq 4.3's C API
Version: 4.3.5
Libs: -L\${libdir} -lzmq
Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl
Cflags: -I\${includedir}
EOF

echo "install-libzmq: installed into $prefix" >&2
ls -l "$prefix/include" "$prefix/lib" >&2
