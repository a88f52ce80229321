//! Sockets: zmq_socket/close, options, bind/connect, zmq_send/recv.

use crate::ctx::FfiContext;
use crate::errno::{fail, guard, Errno};
use crate::msg::{bytes_from, clamp_len};
use ferromq::{Msg, Socket, SocketType};
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const SOCKET_TAG: u32 = 0xbadd_ecaf;
const CURVE_PUBLICKEY: i32 = 48;
const CURVE_SERVERKEY: i32 = 50;
const SOCKET_DEAD: u32 = 0xdead_ecaf;

/// What `zmq_socket` returns.
pub(crate) struct FfiSocket {
    tag: u32,
    pub(crate) socket: Socket,
    open_sockets: Arc<AtomicUsize>,
}

impl FfiSocket {
    /// The socket behind a C pointer, if it is one of ours and open.
    ///
    /// # Safety
    /// `ptr` is NULL or was returned by `zmq_socket` and not yet closed,
    /// and no other thread uses the socket during the call (libzmq's rule:
    /// a socket is used by one thread at a time).
    pub(crate) unsafe fn from_ptr<'a>(ptr: *mut c_void) -> Result<&'a FfiSocket, Errno> {
        // SAFETY: the caller's contract; the tag catches closed and foreign
        // pointers in the common cases, as libzmq's check_tag does.
        match unsafe { (ptr as *const FfiSocket).as_ref() } {
            Some(s) if s.tag == SOCKET_TAG => Ok(s),
            _ => fail(libc::ENOTSOCK),
        }
    }
}

/// How libzmq encodes an option's value, which decides the size checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OptionKind {
    Int,
    Int64,
    /// Bytes as given, no terminator.
    Binary,
    /// Text; read back with a terminating NUL.
    Text,
}

fn option_kind(opt: i32) -> OptionKind {
    match opt {
        // AFFINITY, MAXMSGSIZE, VMCI_BUFFER_SIZE/MIN/MAX
        4 | 22 | 85..=87 => OptionKind::Int64,
        // ROUTING_ID, (UN)SUBSCRIBE, CURVE keys, CONNECT_ROUTING_ID,
        // XPUB_WELCOME_MSG, and the draft HELLO/DISCONNECT/HICCUP messages
        5..=7 | 48..=50 | 61 | 72 | 110 | 111 | 114 => OptionKind::Binary,
        // TCP_ACCEPT_FILTER, LAST_ENDPOINT, PLAIN_USERNAME/PASSWORD,
        // ZAP_DOMAIN, GSSAPI principals, SOCKS_PROXY, BINDTODEVICE, METADATA,
        // SOCKS_USERNAME/PASSWORD, WSS options
        38 | 32 | 45 | 46 | 55 | 63 | 64 | 68 | 92 | 95 | 99 | 100 | 103..=106 => OptionKind::Text,
        _ => OptionKind::Int,
    }
}

/// A C string argument as `&str`.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string valid for 'a.
unsafe fn c_str<'a>(s: *const c_char, what: &str) -> Result<&'a str, Errno> {
    if s.is_null() {
        return fail(libc::EINVAL);
    }
    // SAFETY: the caller's contract.
    let text = unsafe { CStr::from_ptr(s) };
    text.to_str().or_else(|_| {
        let _ = what;
        fail(libc::EINVAL)
    })
}

/// `void *zmq_socket(void *context, int type)`
#[no_mangle]
pub unsafe extern "C" fn zmq_socket(context: *mut c_void, socket_type: i32) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: context came from zmq_ctx_new (the contract).
        let ctx = unsafe { FfiContext::from_ptr(context)? };
        let Some(kind) = SocketType::from_raw(socket_type) else {
            return fail(libc::EINVAL);
        };
        let (context, defaults) = ctx.for_new_socket()?;
        let socket = context.socket(kind)?;
        if defaults.ipv6 {
            socket.set_ipv6(true)?;
        }
        if !defaults.blocky {
            // ZMQ_BLOCKY=0: sockets start with LINGER 0, so zmq_ctx_term
            // never waits on them.
            socket.set_linger(0)?;
        }
        ctx.open_sockets.fetch_add(1, Ordering::Relaxed);
        let boxed = Box::new(FfiSocket {
            tag: SOCKET_TAG,
            socket,
            open_sockets: ctx.open_sockets.clone(),
        });
        Ok(Box::into_raw(boxed) as *mut c_void)
    })
}

/// `int zmq_close(void *socket)`: queued messages keep going out for up to
/// LINGER; the call itself does not wait.
#[no_mangle]
pub unsafe extern "C" fn zmq_close(socket: *mut c_void) -> i32 {
    guard(-1, || {
        // SAFETY: socket came from zmq_socket (the contract).
        unsafe { FfiSocket::from_ptr(socket)? };
        let raw = socket as *mut FfiSocket;
        // SAFETY: checked to be a live FfiSocket made by Box::into_raw; the
        // caller may not use it after zmq_close. The tag is cleared first so
        // a stray later call is refused with ENOTSOCK more often than not.
        let owned = unsafe {
            (*raw).tag = SOCKET_DEAD;
            Box::from_raw(raw)
        };
        owned.open_sockets.fetch_sub(1, Ordering::Relaxed);
        drop(owned);
        Ok(0)
    })
}

/// `int zmq_setsockopt(void *socket, int option, const void *optval,
/// size_t optvallen)`
#[no_mangle]
pub unsafe extern "C" fn zmq_setsockopt(
    socket: *mut c_void,
    opt: i32,
    optval: *const c_void,
    optvallen: usize,
) -> i32 {
    guard(-1, || {
        // SAFETY: socket came from zmq_socket (the contract).
        let s = unsafe { FfiSocket::from_ptr(socket)? };
        // SAFETY: optval holds optvallen bytes (the contract).
        let value = unsafe { bytes_from(optval, optvallen)? };
        match option_kind(opt) {
            OptionKind::Int if value.len() != 4 => return fail(libc::EINVAL),
            OptionKind::Int64 if value.len() != 8 => return fail(libc::EINVAL),
            _ => {}
        }
        s.socket.set_option_raw(opt, value)?;
        Ok(0)
    })
}

/// `int zmq_getsockopt(void *socket, int option, void *optval,
/// size_t *optvallen)`
#[no_mangle]
pub unsafe extern "C" fn zmq_getsockopt(
    socket: *mut c_void,
    opt: i32,
    optval: *mut c_void,
    optvallen: *mut usize,
) -> i32 {
    guard(-1, || {
        // SAFETY: socket came from zmq_socket (the contract).
        let s = unsafe { FfiSocket::from_ptr(socket)? };
        if optvallen.is_null() || optval.is_null() {
            return fail(libc::EFAULT);
        }
        // SAFETY: optvallen points to a size_t (the contract).
        let room = unsafe { *optvallen };
        let kind = option_kind(opt);
        let needed = match kind {
            OptionKind::Int => Some(4),
            OptionKind::Int64 => Some(8),
            OptionKind::Binary | OptionKind::Text => None,
        };
        if needed.is_some_and(|n| room < n) {
            return fail(libc::EINVAL);
        }
        let mut value = s.socket.get_option_raw(opt)?;
        if kind == OptionKind::Text && value.last() != Some(&0) {
            value.push(0);
        }
        if (CURVE_PUBLICKEY..=CURVE_SERVERKEY).contains(&opt) {
            // libzmq: a 32-byte buffer gets the raw key, a 41-byte one its
            // Z85 text and a NUL; any other size is EINVAL.
            value = match (room, <[u8; 32]>::try_from(&value[..])) {
                (32, Ok(_)) => value,
                (41, Ok(key)) => {
                    let mut text = ferromq::z85_encode_key(&key).into_bytes();
                    text.push(0);
                    text
                }
                _ => return fail(libc::EINVAL),
            };
        }
        if room < value.len() {
            return fail(libc::EINVAL);
        }
        // SAFETY: optval has room bytes (the contract), and room >= len.
        unsafe {
            std::ptr::copy_nonoverlapping(value.as_ptr(), optval as *mut u8, value.len());
            *optvallen = value.len();
        }
        Ok(0)
    })
}

/// Runs `f` on the socket and an endpoint argument.
///
/// # Safety
/// As for [`FfiSocket::from_ptr`], and `endpoint` is NULL or a C string.
unsafe fn with_endpoint(
    socket: *mut c_void,
    endpoint: *const c_char,
    f: impl FnOnce(&Socket, &str) -> ferromq::Result<()>,
) -> i32 {
    guard(-1, || {
        // SAFETY: the caller's contract.
        let s = unsafe { FfiSocket::from_ptr(socket)? };
        // SAFETY: the caller's contract.
        let endpoint = unsafe { c_str(endpoint, "endpoint")? };
        f(&s.socket, endpoint)?;
        Ok(0)
    })
}

/// `int zmq_bind(void *socket, const char *endpoint)`
#[no_mangle]
pub unsafe extern "C" fn zmq_bind(socket: *mut c_void, endpoint: *const c_char) -> i32 {
    // SAFETY: zmq_bind's contract is with_endpoint's.
    unsafe { with_endpoint(socket, endpoint, Socket::bind) }
}

/// `int zmq_connect(void *socket, const char *endpoint)`
#[no_mangle]
pub unsafe extern "C" fn zmq_connect(socket: *mut c_void, endpoint: *const c_char) -> i32 {
    // SAFETY: as for zmq_bind.
    unsafe { with_endpoint(socket, endpoint, Socket::connect) }
}

/// `int zmq_unbind(void *socket, const char *endpoint)`
#[no_mangle]
pub unsafe extern "C" fn zmq_unbind(socket: *mut c_void, endpoint: *const c_char) -> i32 {
    // SAFETY: as for zmq_bind.
    unsafe { with_endpoint(socket, endpoint, Socket::unbind) }
}

/// `int zmq_disconnect(void *socket, const char *endpoint)`
#[no_mangle]
pub unsafe extern "C" fn zmq_disconnect(socket: *mut c_void, endpoint: *const c_char) -> i32 {
    // SAFETY: as for zmq_bind.
    unsafe { with_endpoint(socket, endpoint, Socket::disconnect) }
}

/// `int zmq_send(void *socket, const void *buf, size_t len, int flags)`
#[no_mangle]
pub unsafe extern "C" fn zmq_send(
    socket: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: i32,
) -> i32 {
    guard(-1, || {
        // SAFETY: socket came from zmq_socket (the contract).
        let s = unsafe { FfiSocket::from_ptr(socket)? };
        // SAFETY: buf holds len bytes (the contract).
        let data = unsafe { bytes_from(buf, len)? };
        s.socket.send_msg(Msg::copy_from_slice(data), flags)?;
        Ok(clamp_len(len))
    })
}

/// A buffer the caller promises never to change or free.
struct ConstBuffer {
    data: *const u8,
    len: usize,
}

// SAFETY: zmq_send_const's contract: the buffer is constant and lives for
// the rest of the program, so any thread may read it.
unsafe impl Send for ConstBuffer {}

impl AsRef<[u8]> for ConstBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: zmq_send_const's contract (non-NULL checked at creation).
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

/// `int zmq_send_const(void *socket, const void *buf, size_t len, int
/// flags)`: like zmq_send, without copying the (constant) buffer.
#[no_mangle]
pub unsafe extern "C" fn zmq_send_const(
    socket: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: i32,
) -> i32 {
    guard(-1, || {
        // SAFETY: socket came from zmq_socket (the contract).
        let s = unsafe { FfiSocket::from_ptr(socket)? };
        let body = if len == 0 {
            Msg::new()
        } else if buf.is_null() {
            return fail(libc::EFAULT);
        } else {
            Msg::from_owner(ConstBuffer {
                data: buf as *const u8,
                len,
            })
        };
        s.socket.send_msg(body, flags)?;
        Ok(clamp_len(len))
    })
}

/// `int zmq_recv(void *socket, void *buf, size_t len, int flags)`: copies
/// at most `len` bytes and returns the frame's full size.
#[no_mangle]
pub unsafe extern "C" fn zmq_recv(
    socket: *mut c_void,
    buf: *mut c_void,
    len: usize,
    flags: i32,
) -> i32 {
    guard(-1, || {
        // SAFETY: socket came from zmq_socket (the contract).
        let s = unsafe { FfiSocket::from_ptr(socket)? };
        if buf.is_null() && len > 0 {
            return fail(libc::EFAULT);
        }
        let msg = s.socket.recv(flags)?;
        let n = msg.len().min(len);
        if n > 0 {
            // SAFETY: buf has len >= n writable bytes (the contract).
            unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), buf as *mut u8, n) };
        }
        Ok(clamp_len(msg.len()))
    })
}

/// `int zmq_sendiov(void *socket, struct iovec *iov, size_t count, int
/// flags)`: the buffers as the frames of one message.
#[no_mangle]
pub unsafe extern "C" fn zmq_sendiov(
    socket: *mut c_void,
    iov: *const libc::iovec,
    count: usize,
    flags: i32,
) -> i32 {
    guard(-1, || {
        // SAFETY: socket came from zmq_socket (the contract).
        let s = unsafe { FfiSocket::from_ptr(socket)? };
        if count == 0 || iov.is_null() {
            return fail(libc::EINVAL);
        }
        // SAFETY: iov points to count iovecs (the contract).
        let parts = unsafe { std::slice::from_raw_parts(iov, count) };
        for (i, part) in parts.iter().enumerate() {
            // SAFETY: each iovec describes readable memory (the contract).
            let data = unsafe { bytes_from(part.iov_base, part.iov_len)? };
            let more = if i + 1 < count { ferromq::SNDMORE } else { 0 };
            s.socket.send_msg(
                Msg::copy_from_slice(data),
                (flags & !ferromq::SNDMORE) | more,
            )?;
        }
        Ok(0)
    })
}

/// `int zmq_recviov(void *socket, struct iovec *iov, size_t *count, int
/// flags)`: up to `*count` frames of one message, each in a buffer from
/// malloc that the caller frees; `*count` becomes the number received.
#[no_mangle]
pub unsafe extern "C" fn zmq_recviov(
    socket: *mut c_void,
    iov: *mut libc::iovec,
    count: *mut usize,
    flags: i32,
) -> i32 {
    guard(-1, || {
        // SAFETY: socket came from zmq_socket (the contract).
        let s = unsafe { FfiSocket::from_ptr(socket)? };
        if count.is_null() || iov.is_null() {
            return fail(libc::EINVAL);
        }
        // SAFETY: count points to a size_t (the contract).
        let room = unsafe { *count };
        let mut received = 0;
        let mut total = 0usize;
        while received < room {
            let msg = s.socket.recv(if received == 0 {
                flags
            } else {
                flags & !ferromq::DONTWAIT
            })?;
            // malloc(0) may return NULL; ask for at least one byte.
            // SAFETY: plain allocation; the caller frees it, as libzmq's
            // contract says.
            let buf = unsafe { libc::malloc(msg.len().max(1)) };
            if buf.is_null() {
                return fail(libc::ENOMEM);
            }
            // SAFETY: buf has msg.len() bytes; iov has room > received
            // entries (the contract).
            unsafe {
                std::ptr::copy_nonoverlapping(msg.as_ptr(), buf as *mut u8, msg.len());
                *iov.add(received) = libc::iovec {
                    iov_base: buf,
                    iov_len: msg.len(),
                };
            }
            received += 1;
            total += msg.len();
            if !msg.more() {
                break;
            }
        }
        // SAFETY: as above.
        unsafe { *count = received };
        Ok(clamp_len(total))
    })
}

/// `int zmq_socket_monitor(void *socket, const char *endpoint, int
/// events)`: events go to a PAIR bound at `endpoint` (inproc) in libzmq's
/// two-frame format; a NULL endpoint stops monitoring.
#[no_mangle]
pub unsafe extern "C" fn zmq_socket_monitor(
    socket: *mut c_void,
    endpoint: *const c_char,
    events: i32,
) -> i32 {
    guard(-1, || {
        // SAFETY: socket came from zmq_socket (the contract).
        let s = unsafe { FfiSocket::from_ptr(socket)? };
        if endpoint.is_null() {
            s.socket.monitor_stop();
            return Ok(0);
        }
        // SAFETY: endpoint is a C string (the contract).
        let endpoint = unsafe { c_str(endpoint, "monitor endpoint")? };
        // libzmq's event numbers fit 16 bits; ZMQ_EVENT_ALL is 0xffff.
        s.socket.monitor_to(endpoint, (events & 0xffff) as u16)?;
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferromq::option;

    #[test]
    fn option_kinds_follow_libzmq() {
        assert!(option_kind(option::SNDHWM) == OptionKind::Int);
        assert!(option_kind(option::MAXMSGSIZE) == OptionKind::Int64);
        assert!(option_kind(option::ROUTING_ID) == OptionKind::Binary);
        assert!(option_kind(option::LAST_ENDPOINT) == OptionKind::Text);
    }
}
