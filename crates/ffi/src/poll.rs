//! zmq_poll: ferromq sockets and raw file descriptors in one wait.

use crate::errno::{fail, guard};
use crate::socket::FfiSocket;
use ferromq::PollItem;
use std::ffi::{c_long, c_short, c_void};

/// `zmq_pollitem_t`: a socket, or (when `socket` is NULL) a descriptor.
#[repr(C)]
pub struct zmq_pollitem_t {
    socket: *mut c_void,
    fd: i32,
    events: c_short,
    revents: c_short,
}

/// `int zmq_poll(zmq_pollitem_t *items, int nitems, long timeout)`:
/// `timeout` in milliseconds, -1 for none. Returns how many items have
/// events.
#[no_mangle]
pub unsafe extern "C" fn zmq_poll(items: *mut zmq_pollitem_t, nitems: i32, timeout: c_long) -> i32 {
    guard(-1, || {
        let count = usize::try_from(nitems).or_else(|_| fail(libc::EINVAL))?;
        if count == 0 {
            // Nothing to watch: libzmq just waits out the timeout.
            if timeout > 0 {
                std::thread::sleep(std::time::Duration::from_millis(timeout as u64));
            }
            return Ok(0);
        }
        if items.is_null() {
            return fail(libc::EFAULT);
        }
        // SAFETY: items points to nitems zmq_pollitem_t's (the contract).
        let items = unsafe { std::slice::from_raw_parts_mut(items, count) };
        let mut waits = Vec::with_capacity(count);
        for item in items.iter() {
            let events = i32::from(item.events);
            if item.socket.is_null() {
                waits.push(PollItem::fd(item.fd, events));
            } else {
                // SAFETY: a non-NULL socket came from zmq_socket (the
                // contract); only this thread uses it during the poll.
                let socket = unsafe { FfiSocket::from_ptr(item.socket)? };
                waits.push(PollItem::new(&socket.socket, events));
            }
        }
        #[allow(clippy::useless_conversion)] // c_long is 32 bits on some targets
        let ready = ferromq::poll(&mut waits, i64::from(timeout))?;
        for (item, wait) in items.iter_mut().zip(&waits) {
            item.revents = wait.revents() as c_short;
        }
        Ok(ready as i32)
    })
}
