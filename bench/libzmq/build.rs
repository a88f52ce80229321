//! Builds libzmq (zeromq-src's 4.3.5 sources) as a static library with
//! CURVE, linked against the libsodium that libsodium-sys-stable provides.

use std::env;
use std::path::PathBuf;

/// A directory named by build metadata of the `sodium` link (set by
/// libsodium-sys-stable's build script), if it said one.
fn dep_sodium(key: &str) -> Option<PathBuf> {
    let var = format!("DEP_SODIUM_{key}");
    println!("cargo:rerun-if-env-changed={var}");
    env::var_os(var).map(PathBuf::from)
}

/// A variable of the libsodium pkg-config module (a system libsodium whose
/// directories libsodium-sys-stable did not report).
fn pkg_config_dir(variable: &str) -> Option<PathBuf> {
    pkg_config::get_variable("libsodium", variable)
        .ok()
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");

    // From a source build both are set; from pkg-config only the ones outside
    // the compiler's default paths are, so ask pkg-config for the rest.
    let lib_dir = dep_sodium("LIB").or_else(|| pkg_config_dir("libdir"));
    let include_dir = dep_sodium("INCLUDE").or_else(|| pkg_config_dir("includedir"));
    let (Some(lib_dir), Some(include_dir)) = (lib_dir, include_dir) else {
        panic!(
            "libsodium's directories are unknown: libsodium-sys-stable reported no \
             DEP_SODIUM_LIB / DEP_SODIUM_INCLUDE and pkg-config has no libsodium module"
        );
    };

    // libzmq's sources warn under the -Wall -Wextra that cc adds; cargo shows
    // a workspace member's build warnings, and a page of them about code we
    // do not maintain would bury ours. Silence the C and C++ compiles of this
    // script only (cc adds these variables to its flags).
    for var in ["CFLAGS", "CXXFLAGS"] {
        let mut flags = env::var(var).unwrap_or_default();
        flags.push_str(" -w");
        env::set_var(var, flags.trim_start());
    }

    // zeromq-src defines ZMQ_USE_LIBSODIUM and ZMQ_HAVE_CURVE, adds the
    // include directory and links `sodium` statically from `lib_dir`.
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(lib_dir, include_dir)))
        .build();
}
