//! Sets `ferromq_avx512` when the compiler is Rust 1.89 or later, where
//! the AVX-512 intrinsics and target features are stable: the CURVE
//! secretbox (src/mechanism/secretbox/x86.rs) then runs Salsa20 sixteen
//! blocks at a time on CPUs that have AVX-512. Older compilers (the
//! workspace's rust-version is 1.85) build without it.

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ferromq_avx512)");
    println!("cargo::rerun-if-env-changed=RUSTC");
    println!("cargo::rerun-if-changed=build.rs");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|version| {
            // "rustc 1.95.0 (59807616e 2026-04-14)"
            let number = version.split_whitespace().nth(1)?;
            let mut parts = number.split('.');
            match (parts.next()?, parts.next()?) {
                ("1", minor) => minor.parse::<u32>().ok(),
                _ => None,
            }
        });
    if minor.is_some_and(|minor| minor >= 89) {
        println!("cargo::rustc-cfg=ferromq_avx512");
    }
}
