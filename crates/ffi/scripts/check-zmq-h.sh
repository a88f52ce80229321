#!/usr/bin/env bash
# check-zmq-h.sh: compares crates/ffi/include/zmq.h with libzmq's own zmq.h.
#
# Usage: check-zmq-h.sh REFERENCE_ZMQ_H [OUR_ZMQ_H]
#
# REFERENCE_ZMQ_H is libzmq's installed header, for example
#   ~/.cargo/registry/src/*/zeromq-src-*/vendor/include/zmq.h
#   /usr/include/zmq.h            (Debian's libzmq3-dev)
# OUR_ZMQ_H defaults to the header next to this script.
#
# What it checks, with each header compiled on its own:
#   1. every macro our header defines (names taken from our header with a
#      regex, so a macro we forgot is not caught here; compare the name
#      lists by hand when libzmq adds some), printed as a number or a
#      string, without and with ZMQ_BUILD_DRAFT_API, then diffed;
#   2. sizeof/alignof of zmq_msg_t, zmq_pollitem_t and zmq_fd_t and the
#      offsets of zmq_pollitem_t's fields;
#   3. the type of every function our header declares, spelled out by a
#      C++ compiler (__PRETTY_FUNCTION__ of a template), so a changed
#      parameter or return type shows up in the diff;
#   4. that our header compiles warning-free as C89, C99, C11 and C++98
#      under -Wall -Wextra -pedantic.
#
# Exit status is 0 when nothing differs. Expected differences (our header
# says 4.3.5 where a 4.3.4 reference says 4.3.4, and 4.3.5's draft
# additions) are listed in EXPECTED below and do not fail the check.
#
# A development tool: it needs cc and c++ and is not run in CI. It
# writes only to a temporary directory.

set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 REFERENCE_ZMQ_H [OUR_ZMQ_H]" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
ref=$(realpath "$1")
ours=$(realpath "${2:-$here/../include/zmq.h}")
CC=${CC:-cc}
CXX=${CXX:-c++}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ref" "$work/ours"
cp "$ref" "$work/ref/zmq.h"
cp "$ours" "$work/ours/zmq.h"

# --- 1. macros -------------------------------------------------------------

# Object-like macros our header defines, except the include guard and
# ZMQ_EXPORT (which both headers #undef at the end). A macro with an empty
# body is only tested for being defined.
macro_names() { # object-like macros a header defines
    grep -E '^[[:space:]]*#[[:space:]]*define[[:space:]]+[A-Z][A-Z0-9_]*([[:space:]]|$)' "$1" |
        sed -E 's/^[[:space:]]*#[[:space:]]*define[[:space:]]+([A-Z0-9_]+).*/\1/' |
        grep -vx 'ZMQ_EXPORT' | sort -u
}
mapfile -t names < <(macro_names "$ours")
mapfile -t empty < <(
    grep -E '^[[:space:]]*#[[:space:]]*define[[:space:]]+[A-Z][A-Z0-9_]*[[:space:]]*$' "$ours" |
        sed -E 's/^[[:space:]]*#[[:space:]]*define[[:space:]]+([A-Z0-9_]+).*/\1/' | sort -u
)
is_empty() {
    local n
    for n in "${empty[@]}"; do [[ $n == "$1" ]] && return 0; done
    return 1
}

{
    cat <<'EOF'
#include <stdio.h>
#include <stddef.h>
#include <zmq.h>

static void show_i (const char *name, long long v) { printf ("%s = %lld\n", name, v); }
static void show_s (const char *name, const char *v) { printf ("%s = \"%s\"\n", name, v); }
#define SHOW(name) \
    _Generic ((name), char *: show_s, const char *: show_s, default: show_i) (#name, (name))

int main (void)
{
EOF
    for n in "${names[@]}"; do
        printf '#ifdef %s\n' "$n"
        if is_empty "$n"; then
            printf '    printf ("%%s defined\\n", "%s");\n' "$n"
        else
            printf '    SHOW (%s);\n' "$n"
        fi
        printf '#else\n    printf ("%%s undefined\\n", "%s");\n#endif\n' "$n"
    done
    cat <<'EOF'
    SHOW (ZMQ_MAKE_VERSION (1, 2, 3));
    printf ("sizeof (zmq_msg_t) = %zu\n", sizeof (zmq_msg_t));
    printf ("alignof (zmq_msg_t) = %zu\n", _Alignof (zmq_msg_t));
    printf ("sizeof (zmq_fd_t) = %zu\n", sizeof (zmq_fd_t));
    printf ("sizeof (zmq_pollitem_t) = %zu\n", sizeof (zmq_pollitem_t));
    printf ("alignof (zmq_pollitem_t) = %zu\n", _Alignof (zmq_pollitem_t));
    printf ("offsetof (zmq_pollitem_t, socket) = %zu\n", offsetof (zmq_pollitem_t, socket));
    printf ("offsetof (zmq_pollitem_t, fd) = %zu\n", offsetof (zmq_pollitem_t, fd));
    printf ("offsetof (zmq_pollitem_t, events) = %zu\n", offsetof (zmq_pollitem_t, events));
    printf ("offsetof (zmq_pollitem_t, revents) = %zu\n", offsetof (zmq_pollitem_t, revents));
    return 0;
}
EOF
} >"$work/values.c"

# --- 3. function types -----------------------------------------------------

mapfile -t funcs < <(
    grep -oE '\bzmq_[a-z0-9_]+[[:space:]]*\(' "$ours" | sed -E 's/[[:space:]]*\($//' | sort -u
)
{
    cat <<'EOF'
#include <stdio.h>
#include <zmq.h>

template <class F> static void show (const char *name, F *)
{
    printf ("%s: %s\n", name, __PRETTY_FUNCTION__);
}

int main ()
{
EOF
    for f in "${funcs[@]}"; do
        printf '    show ("%s", &%s);\n' "$f" "$f"
    done
    printf '    return 0;\n}\n'
} >"$work/funcs.cpp"

run() { # run SIDE OUTPUT EXTRA_FLAGS...
    local side=$1 out=$2
    shift 2
    "$CC" -std=c11 -I"$work/$side" "$@" -o "$work/values-$side" "$work/values.c"
    "$work/values-$side" >"$out"
}

status=0
for draft in stable draft; do
    flags=()
    [[ $draft == draft ]] && flags=(-DZMQ_BUILD_DRAFT_API)
    run ref "$work/ref-$draft.txt" "${flags[@]}"
    run ours "$work/ours-$draft.txt" "${flags[@]}"
done
for side in ref ours; do
    "$CXX" -std=c++11 -I"$work/$side" -c -o "$work/funcs-$side.o" "$work/funcs.cpp"
    # The functions are only named, never called: resolve each zmq_*
    # symbol to a dummy so the program links without any libzmq.
    nm -u "$work/funcs-$side.o" | awk '$2 ~ /^zmq_/ {print $2}' |
        sed 's/.*/void &(void) {}/' >"$work/stubs-$side.c"
    "$CC" -c -o "$work/stubs-$side.o" "$work/stubs-$side.c"
    "$CXX" -o "$work/funcs-$side" "$work/funcs-$side.o" "$work/stubs-$side.o"
    "$work/funcs-$side" >"$work/$side-funcs.txt"
done

# Differences we expect between a libzmq 4.3.4 reference and our 4.3.5
# header, as patterns over diff lines ("-" reference, "+" ours): the
# version, the draft value libzmq 4.3.5 corrected (AFTER_DISCONNECT is a
# bit, 0x4, not 0x3), and the draft options and ZMQ_NORM_MODE values
# 4.3.5 added. Any other difference fails the check.
new_in_435='(ZMQ_BUSY_POLL|ZMQ_HICCUP_MSG|ZMQ_XSUB_VERBOSE_UNSUBSCRIBE|ZMQ_TOPICS_COUNT|ZMQ_NORM_[A-Z_]+)'
cat >"$work/expected" <<EOF
^-ZMQ_VERSION_PATCH = 4\$
^[+]ZMQ_VERSION_PATCH = 5\$
^-ZMQ_VERSION = 40304\$
^[+]ZMQ_VERSION = 40305\$
^-ZMQ_RECONNECT_STOP_AFTER_DISCONNECT = 3\$
^[+]ZMQ_RECONNECT_STOP_AFTER_DISCONNECT = 4\$
^-$new_in_435 undefined\$
^[+]$new_in_435 = [0-9]+\$
EOF

compare() { # compare LABEL REF OURS
    local diffs unexpected
    diffs=$(diff "$2" "$3" | sed -nE 's/^< /-/p; s/^> /+/p' || true)
    unexpected=$(printf '%s\n' "$diffs" | grep -vE -f "$work/expected" | grep -v '^$' || true)
    echo "== $1: $(wc -l <"$3") lines compared"
    if [[ -n $diffs ]]; then
        printf '%s\n' "$diffs" | sed 's/^/   /'
    fi
    if [[ -n $unexpected ]]; then
        echo "   UNEXPECTED:"
        printf '%s\n' "$unexpected" | sed 's/^/     /'
        status=1
    fi
}

# Macros only the reference defines. ZMQ_HAVE_POLLER announces the draft
# zmq_poller_* functions, which this library does not provide.
missing=$(comm -23 <(macro_names "$ref") <(printf '%s\n' "${names[@]}") | grep -vx 'ZMQ_HAVE_POLLER' || true)
if [[ -n $missing ]]; then
    echo "== macros the reference defines and we do not:"
    printf '%s\n' "$missing" | sed 's/^/   /'
    status=1
fi

compare "macros and layout (stable)" "$work/ref-stable.txt" "$work/ours-stable.txt"
compare "macros and layout (ZMQ_BUILD_DRAFT_API)" "$work/ref-draft.txt" "$work/ours-draft.txt"
compare "function types" "$work/ref-funcs.txt" "$work/ours-funcs.txt"

# --- 4. our header on its own, strictly --------------------------------

printf '#include <zmq.h>\n#include <zmq_utils.h>\nint main (void) { return 0; }\n' >"$work/strict.c"
cp "$(dirname "$ours")/zmq_utils.h" "$work/ours/"
for std in c89 c99 c11; do
    for draft in "" -DZMQ_BUILD_DRAFT_API; do
        if ! "$CC" -std=$std -Wall -Wextra -pedantic -Werror $draft -I"$work/ours" \
            -fsyntax-only "$work/strict.c"; then
            echo "== our header does not compile cleanly as $std $draft"
            status=1
        fi
    done
done
cp "$work/strict.c" "$work/strict.cpp"
if ! "$CXX" -std=c++98 -Wall -Wextra -pedantic -Werror -I"$work/ours" -fsyntax-only \
    "$work/strict.cpp"; then
    echo "== our header does not compile cleanly as C++98"
    status=1
fi

if [[ $status == 0 ]]; then
    echo "OK: ${#names[@]} macros and ${#funcs[@]} functions match (expected differences aside)"
else
    echo "FAILED"
fi
exit $status
