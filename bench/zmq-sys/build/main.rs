// zmq-sys 0.12.0's build script, with CURVE: libzmq is built against the
// libsodium that libsodium-sys-stable builds (its `links` metadata says
// where the static library and headers are), as libzmq's own release builds
// do, rather than without CURVE as the published crate does.
use std::env;

fn dep(var: &str) -> String {
    env::var(var).unwrap_or_else(|_| {
        panic!(
            "{} is not set: libsodium-sys-stable must be a dependency of zmq-sys",
            var
        )
    })
}

fn main() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");
    let lib = dep("DEP_SODIUM_LIB");
    let include = dep("DEP_SODIUM_INCLUDE");
    zeromq_src::Build::new()
        .with_libsodium(Some(zeromq_src::LibLocation::new(lib, include)))
        .build();
}
