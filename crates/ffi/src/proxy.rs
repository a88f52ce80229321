//! zmq_proxy, zmq_proxy_steerable and the old zmq_device.

use crate::errno::{fail, guard, Errno};
use crate::socket::FfiSocket;
use ferromq::DeviceKind;
use std::ffi::c_void;

/// An optional socket argument (capture, control).
///
/// # Safety
/// As for [`FfiSocket::from_ptr`]; NULL means none.
unsafe fn optional<'a>(socket: *mut c_void) -> Result<Option<&'a ferromq::Socket>, Errno> {
    if socket.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    Ok(Some(&unsafe { FfiSocket::from_ptr(socket)? }.socket))
}

/// `int zmq_proxy(void *frontend, void *backend, void *capture)`: runs
/// until the context is terminated, then returns -1 with ETERM.
#[no_mangle]
pub unsafe extern "C" fn zmq_proxy(
    frontend: *mut c_void,
    backend: *mut c_void,
    capture: *mut c_void,
) -> i32 {
    // SAFETY: zmq_proxy_steerable has the same contract, minus control.
    unsafe { zmq_proxy_steerable(frontend, backend, capture, std::ptr::null_mut()) }
}

/// `int zmq_proxy_steerable(void *frontend, void *backend, void *capture,
/// void *control)`: as zmq_proxy, also obeying PAUSE, RESUME, TERMINATE
/// and STATISTICS on `control`; returns 0 after TERMINATE.
#[no_mangle]
pub unsafe extern "C" fn zmq_proxy_steerable(
    frontend: *mut c_void,
    backend: *mut c_void,
    capture: *mut c_void,
    control: *mut c_void,
) -> i32 {
    guard(-1, || {
        if frontend.is_null() || backend.is_null() {
            return fail(libc::EFAULT);
        }
        // SAFETY: the sockets came from zmq_socket, and the proxy is the
        // only user of all of them while it runs (the contract).
        let (frontend, backend, capture, control) = unsafe {
            (
                &FfiSocket::from_ptr(frontend)?.socket,
                &FfiSocket::from_ptr(backend)?.socket,
                optional(capture)?,
                optional(control)?,
            )
        };
        ferromq::proxy_steerable(frontend, backend, capture, control)?;
        Ok(0)
    })
}

/// `int zmq_device(int type, void *frontend, void *backend)`: the 2.x
/// devices (ZMQ_STREAMER, ZMQ_FORWARDER, ZMQ_QUEUE), which are proxies.
#[no_mangle]
pub unsafe extern "C" fn zmq_device(kind: i32, frontend: *mut c_void, backend: *mut c_void) -> i32 {
    guard(-1, || {
        let Some(kind) = DeviceKind::from_raw(kind) else {
            return fail(libc::EINVAL);
        };
        if frontend.is_null() || backend.is_null() {
            return fail(libc::EFAULT);
        }
        // SAFETY: as for zmq_proxy_steerable.
        let (frontend, backend) = unsafe {
            (
                &FfiSocket::from_ptr(frontend)?.socket,
                &FfiSocket::from_ptr(backend)?.socket,
            )
        };
        ferromq::device(kind, frontend, backend)?;
        Ok(0)
    })
}
