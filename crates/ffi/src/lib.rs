//! libzmq's C API on top of ferromq.
//!
//! This crate builds `libzmq.so` (SONAME `libzmq.so.5`) and `libzmq.a`;
//! with `include/zmq.h` they replace libzmq 4.3 for C programs and for
//! bindings such as pyzmq, czmq and cppzmq. Every function has libzmq's
//! signature, constants and errno values, and reports the version whose
//! behaviour it matches (4.3.5).
//!
//! Each exported function runs its body under [`errno::guard`]: a Rust
//! panic never unwinds into C, it becomes a `-1` (or NULL) return with
//! errno set, as any other failure.

// The C ABI is made of raw pointers handed over by C callers; each unsafe
// block says why its use is sound.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
// Every export is documented in zmq.h and the libzmq man pages.
#![allow(clippy::missing_safety_doc)]

mod ctx;
mod errno;
mod msg;
mod poll;
mod proxy;
mod socket;
mod timers;
mod util;
