fn main() {
    // C programs and bindings link against libzmq.so.5, libzmq's SONAME
    // since 4.0; giving ours the same name lets them load it unchanged.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libzmq.so.5");
    println!("cargo:rerun-if-changed=build.rs");
}
