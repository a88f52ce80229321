//! errno: how failures reach C.
//!
//! libzmq reports every failure through the C library's `errno` (and
//! `zmq_errno()`, which reads it), so callers that test `errno == EAGAIN`
//! directly work too. We set the same variable.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// libzmq's base for its own error numbers (`ZMQ_HAUSNUMERO`).
pub(crate) const HAUSNUMERO: i32 = 156_384_712;
pub(crate) const EFSM: i32 = HAUSNUMERO + 51;
pub(crate) const ENOCOMPATPROTO: i32 = HAUSNUMERO + 52;
pub(crate) const ETERM: i32 = HAUSNUMERO + 53;
pub(crate) const EMTHREAD: i32 = HAUSNUMERO + 54;

/// A failure on its way to C: the errno value to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Errno(pub(crate) i32);

impl From<ferromq::Error> for Errno {
    fn from(err: ferromq::Error) -> Errno {
        Errno(err.errno())
    }
}

/// Sets the calling thread's C `errno`.
pub(crate) fn set_errno(code: i32) {
    // SAFETY: __errno_location returns a valid pointer to this thread's
    // errno for the life of the thread.
    unsafe { *libc::__errno_location() = code }
}

/// Reads the calling thread's C `errno`.
pub(crate) fn errno() -> i32 {
    // SAFETY: as in set_errno.
    unsafe { *libc::__errno_location() }
}

/// Runs the body of an exported function: on `Err` (or a panic, which
/// must not unwind into C) it sets errno and returns `failure`.
pub(crate) fn guard<T>(failure: T, body: impl FnOnce() -> Result<T, Errno>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(Errno(code))) => {
            set_errno(code);
            failure
        }
        Err(_) => {
            // Not a libzmq error, but the closest promise C can act on:
            // the call failed and the state it touched may be bad.
            set_errno(libc::EFAULT);
            failure
        }
    }
}

/// `Err(Errno(code))`, for early returns.
pub(crate) fn fail<T>(code: i32) -> Result<T, Errno> {
    Err(Errno(code))
}

/// `int zmq_errno(void)`: the calling thread's errno.
#[no_mangle]
pub extern "C" fn zmq_errno() -> i32 {
    errno()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_sets_errno_and_returns_the_failure_value() {
        set_errno(0);
        assert_eq!(guard(-1, || fail::<i32>(ETERM)), -1);
        assert_eq!(errno(), ETERM);
        assert_eq!(zmq_errno(), ETERM);
        assert_eq!(guard(-1, || Ok(7)), 7);
    }

    #[test]
    fn a_panic_never_unwinds_into_c() {
        set_errno(0);
        let rc = guard(-1, || -> Result<i32, Errno> {
            panic!("a bug in the library")
        });
        assert_eq!(rc, -1);
        assert_eq!(errno(), libc::EFAULT);
        let ptr = guard(std::ptr::null_mut::<u8>(), || -> Result<*mut u8, Errno> {
            panic!("another bug")
        });
        assert!(ptr.is_null());
    }
}
