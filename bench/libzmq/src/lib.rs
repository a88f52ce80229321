//! The libzmq the bench measures ferromq against: libzmq 4.3.5 from
//! zeromq-src, built here as a static library with CURVE on libsodium (see
//! `build.rs`), and a small safe layer over the libzmq calls the bench makes.
//!
//! Only what the bench needs is declared: contexts, sockets, integer and
//! byte options, bind/connect, `zmq_send`, `zmq_msg_send`/`zmq_msg_recv` on
//! reusable messages, `zmq_proxy`, and the capability and version queries.
//! Each safe call maps onto one libzmq call, so the bench measures libzmq,
//! not this layer.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

/// The declarations of `zmq.h` (libzmq 4.3.5) that this crate calls.
mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    /// `zmq_msg_t`: 64 opaque bytes, aligned like a pointer (as zmq.h asks
    /// of GCC-compatible compilers).
    #[repr(C)]
    pub struct ZmqMsg {
        pub opaque: [usize; 64 / std::mem::size_of::<usize>()],
    }

    extern "C" {
        pub fn zmq_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int);
        pub fn zmq_has(capability: *const c_char) -> c_int;
        pub fn zmq_errno() -> c_int;
        pub fn zmq_strerror(errnum: c_int) -> *const c_char;

        pub fn zmq_ctx_new() -> *mut c_void;
        pub fn zmq_ctx_term(context: *mut c_void) -> c_int;
        pub fn zmq_ctx_shutdown(context: *mut c_void) -> c_int;

        pub fn zmq_socket(context: *mut c_void, kind: c_int) -> *mut c_void;
        pub fn zmq_close(socket: *mut c_void) -> c_int;
        pub fn zmq_setsockopt(
            socket: *mut c_void,
            option: c_int,
            value: *const c_void,
            len: usize,
        ) -> c_int;
        pub fn zmq_getsockopt(
            socket: *mut c_void,
            option: c_int,
            value: *mut c_void,
            len: *mut usize,
        ) -> c_int;
        pub fn zmq_bind(socket: *mut c_void, endpoint: *const c_char) -> c_int;
        pub fn zmq_connect(socket: *mut c_void, endpoint: *const c_char) -> c_int;
        pub fn zmq_send(socket: *mut c_void, buf: *const c_void, len: usize, flags: c_int)
            -> c_int;

        pub fn zmq_msg_init(msg: *mut ZmqMsg) -> c_int;
        pub fn zmq_msg_close(msg: *mut ZmqMsg) -> c_int;
        pub fn zmq_msg_send(msg: *mut ZmqMsg, socket: *mut c_void, flags: c_int) -> c_int;
        pub fn zmq_msg_recv(msg: *mut ZmqMsg, socket: *mut c_void, flags: c_int) -> c_int;
        pub fn zmq_msg_data(msg: *mut ZmqMsg) -> *mut c_void;
        pub fn zmq_msg_size(msg: *const ZmqMsg) -> usize;
        pub fn zmq_msg_more(msg: *const ZmqMsg) -> c_int;

        pub fn zmq_proxy(
            frontend: *mut c_void,
            backend: *mut c_void,
            capture: *mut c_void,
        ) -> c_int;

        pub fn zmq_curve_keypair(z85_public: *mut c_char, z85_secret: *mut c_char) -> c_int;
        pub fn zmq_z85_decode(dest: *mut u8, text: *const c_char) -> *mut u8;
    }
}

/// Socket options (the `ZMQ_*` numbers of zmq.h) the bench sets or reads.
pub mod opt {
    /// ZMQ_SUBSCRIBE (bytes): a SUB socket's topic prefix.
    pub const SUBSCRIBE: i32 = 6;
    /// ZMQ_LINGER (int, ms): how long unsent messages may delay a close.
    pub const LINGER: i32 = 17;
    /// ZMQ_BACKLOG (int): the listen backlog of later binds.
    pub const BACKLOG: i32 = 19;
    /// ZMQ_RCVTIMEO (int, ms): bound on a blocking receive (-1: none).
    pub const RCVTIMEO: i32 = 27;
    /// ZMQ_SNDTIMEO (int, ms): bound on a blocking send (-1: none).
    pub const SNDTIMEO: i32 = 28;
    /// ZMQ_LAST_ENDPOINT (string): the endpoint the last bind resolved to.
    pub const LAST_ENDPOINT: i32 = 32;
    /// ZMQ_CURVE_SERVER (int, 0/1): act as a CURVE server.
    pub const CURVE_SERVER: i32 = 47;
    /// ZMQ_CURVE_PUBLICKEY (32 bytes or 40 Z85 characters).
    pub const CURVE_PUBLICKEY: i32 = 48;
    /// ZMQ_CURVE_SECRETKEY (32 bytes or 40 Z85 characters).
    pub const CURVE_SECRETKEY: i32 = 49;
    /// ZMQ_CURVE_SERVERKEY (32 bytes or 40 Z85 characters): a client's
    /// trusted server public key.
    pub const CURVE_SERVERKEY: i32 = 50;
}

/// `zmq_send` / `zmq_msg_send` flag: more frames of this message follow.
pub const SNDMORE: i32 = 2;
/// Send/receive flag: fail with EAGAIN instead of blocking.
pub const DONTWAIT: i32 = 1;

/// Resource temporarily unavailable: a receive or send timed out (or would
/// have blocked).
pub const EAGAIN: i32 = libc::EAGAIN;
/// Invalid argument (an unknown option, a bad value, an endpoint with a NUL).
pub const EINVAL: i32 = libc::EINVAL;
/// Interrupted by a signal.
pub const EINTR: i32 = libc::EINTR;
/// Not supported (libzmq uses the system's value where errno.h has one).
pub const ENOTSUP: i32 = libc::ENOTSUP;
/// Protocol not supported (e.g. a transport this libzmq was built without).
pub const EPROTONOSUPPORT: i32 = libc::EPROTONOSUPPORT;
/// libzmq's own: the context was terminated.
pub const ETERM: i32 = 156_384_712 + 53;

/// A libzmq error: its errno value, shown with `zmq_strerror`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error(i32);

impl Error {
    /// The error of the last failed libzmq call on this thread.
    fn last() -> Error {
        // SAFETY: zmq_errno takes nothing and only reads this thread's errno.
        Error(unsafe { ffi::zmq_errno() })
    }

    /// An error with this errno value.
    pub fn from_errno(errno: i32) -> Error {
        Error(errno)
    }

    /// The errno value.
    pub fn errno(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: zmq_strerror accepts any value.
        let text = unsafe { ffi::zmq_strerror(self.0) };
        // SAFETY: it returned a NUL-terminated string: libzmq's own text for
        // its errors, else the C library's strerror text, valid until this
        // thread's next strerror call; it is copied out below before any
        // other call is made.
        let text = unsafe { CStr::from_ptr(text) };
        write!(f, "{} (errno {})", text.to_string_lossy(), self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// Result with a libzmq [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A libzmq return code: -1 means failure, described by errno.
fn check(rc: c_int) -> Result<c_int> {
    if rc == -1 {
        Err(Error::last())
    } else {
        Ok(rc)
    }
}

/// A C string for libzmq; text with a NUL inside is an invalid argument.
fn c_string(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error(EINVAL))
}

/// The linked libzmq's version, (major, minor, patch).
pub fn version() -> (i32, i32, i32) {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: the three pointers are to live, writable ints.
    unsafe { ffi::zmq_version(&mut major, &mut minor, &mut patch) };
    (major, minor, patch)
}

/// The version of the libsodium libzmq's CURVE runs on
/// (`sodium_version_string`): the release libsodium-sys-stable ships, or a
/// system one it found through pkg-config.
pub fn sodium_version() -> String {
    // SAFETY: sodium_version_string takes nothing.
    let text = unsafe { libsodium_sys::sodium_version_string() };
    // SAFETY: it returned a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// Whether the linked libzmq has `capability` (`zmq_has`: "curve", "ipc"...).
pub fn has(capability: &str) -> bool {
    let Ok(name) = c_string(capability) else {
        return false;
    };
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    unsafe { ffi::zmq_has(name.as_ptr()) == 1 }
}

/// A fresh CURVE key pair from libzmq (libsodium's generator), as
/// (public, secret) in 40-character Z85 text. Fails with ENOTSUP where
/// libzmq has no CURVE.
pub fn curve_keypair() -> Result<(String, String)> {
    let mut public = [0 as c_char; 41];
    let mut secret = [0 as c_char; 41];
    // SAFETY: each buffer has the 41 bytes libzmq writes (40 Z85 characters
    // and a NUL).
    check(unsafe { ffi::zmq_curve_keypair(public.as_mut_ptr(), secret.as_mut_ptr()) })?;
    let text = |buf: &[c_char; 41]| {
        // SAFETY: after a successful call the buffer holds a NUL-terminated
        // string within its 41 bytes.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((text(&public), text(&secret)))
}

/// A 40-character Z85 key as its 32 bytes (`zmq_z85_decode`), or None if the
/// text is not such a key.
pub fn z85_decode_key(text: &str) -> Option<[u8; 32]> {
    if text.len() != 40 {
        return None;
    }
    let text = c_string(text).ok()?;
    let mut key = [0u8; 32];
    // SAFETY: `text` is NUL-terminated and 40 characters long, so libzmq
    // writes at most 40 * 4 / 5 = 32 bytes, the size of `key`.
    let out = unsafe { ffi::zmq_z85_decode(key.as_mut_ptr(), text.as_ptr()) };
    (!out.is_null()).then_some(key)
}

/// The raw context, terminated when the last [`Context`] clone and the last
/// socket made in it are gone.
struct RawContext(NonNull<c_void>);

// SAFETY: libzmq contexts are thread safe: every context call may be made
// from any thread, concurrently.
unsafe impl Send for RawContext {}
// SAFETY: as above.
unsafe impl Sync for RawContext {}

impl Drop for RawContext {
    fn drop(&mut self) {
        // Every socket holds a clone of the context, so all are closed by
        // now (zmq_ctx_term still lets their LINGER run out for unsent
        // messages); it may return EINTR, after which it must be called
        // again.
        loop {
            // SAFETY: the pointer came from zmq_ctx_new and is terminated
            // only here, once it succeeds.
            let rc = unsafe { ffi::zmq_ctx_term(self.0.as_ptr()) };
            if rc == 0 || Error::last().errno() != EINTR {
                break;
            }
        }
    }
}

/// A libzmq context with the default settings (one I/O thread). Clones share
/// it.
#[derive(Clone)]
pub struct Context(Arc<RawContext>);

impl Context {
    /// A new context (`zmq_ctx_new`).
    pub fn new() -> Result<Context> {
        // SAFETY: zmq_ctx_new takes nothing; it returns NULL on failure.
        let raw = unsafe { ffi::zmq_ctx_new() };
        NonNull::new(raw)
            .map(|p| Context(Arc::new(RawContext(p))))
            .ok_or_else(Error::last)
    }

    /// Ends every blocking call in this context and fails later ones with
    /// ETERM (`zmq_ctx_shutdown`); the sockets still need closing, and the
    /// context is terminated when the last handle to it is gone.
    pub fn shutdown(&self) {
        // SAFETY: the context pointer is live (held by `self`); shutting a
        // context down more than once is allowed.
        unsafe { ffi::zmq_ctx_shutdown((self.0).0.as_ptr()) };
    }

    /// A new socket of `kind` in this context (`zmq_socket`).
    pub fn socket(&self, kind: SocketType) -> Result<Socket> {
        // SAFETY: the context pointer is live (held by `self`).
        let raw = unsafe { ffi::zmq_socket((self.0).0.as_ptr(), kind as c_int) };
        NonNull::new(raw)
            .map(|raw| Socket {
                raw,
                _ctx: self.clone(),
            })
            .ok_or_else(Error::last)
    }
}

/// The socket types the bench uses (zmq.h's numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum SocketType {
    /// ZMQ_PUB.
    Pub = 1,
    /// ZMQ_SUB.
    Sub = 2,
    /// ZMQ_REQ.
    Req = 3,
    /// ZMQ_REP.
    Rep = 4,
    /// ZMQ_DEALER.
    Dealer = 5,
    /// ZMQ_ROUTER.
    Router = 6,
    /// ZMQ_PULL.
    Pull = 7,
    /// ZMQ_PUSH.
    Push = 8,
}

/// A libzmq socket, closed on drop (`zmq_close`, which does not wait: LINGER
/// applies in the background, until the context is terminated).
pub struct Socket {
    raw: NonNull<c_void>,
    // Dropped after the socket is closed: the context outlives its sockets.
    _ctx: Context,
}

// SAFETY: a libzmq socket may be used from another thread once ownership
// has passed to it with a full memory barrier, which moving a value between
// threads in Rust implies; it is never used from two threads at once, as
// `Socket` is not Sync and every call takes `&mut self` or `&self` of the
// one owner.
unsafe impl Send for Socket {}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: the socket pointer came from zmq_socket and is closed only
        // here; zmq_close fails only for a pointer that is not a socket.
        unsafe { ffi::zmq_close(self.raw.as_ptr()) };
    }
}

impl Socket {
    fn ptr(&self) -> *mut c_void {
        self.raw.as_ptr()
    }

    /// Sets an integer option (`zmq_setsockopt` with an int).
    pub fn set_int(&mut self, option: i32, value: i32) -> Result<()> {
        let value: c_int = value;
        // SAFETY: the value pointer and length describe a live c_int.
        check(unsafe {
            ffi::zmq_setsockopt(
                self.ptr(),
                option,
                (&value as *const c_int).cast(),
                std::mem::size_of::<c_int>(),
            )
        })
        .map(drop)
    }

    /// Sets a bytes option (`zmq_setsockopt` with a buffer).
    pub fn set_bytes(&mut self, option: i32, value: &[u8]) -> Result<()> {
        // SAFETY: the pointer and length describe `value`, which libzmq only
        // reads (and copies) during the call.
        check(unsafe {
            ffi::zmq_setsockopt(self.ptr(), option, value.as_ptr().cast(), value.len())
        })
        .map(drop)
    }

    /// Reads an integer option (`zmq_getsockopt` with an int).
    pub fn get_int(&self, option: i32) -> Result<i32> {
        let mut value: c_int = 0;
        let mut len = std::mem::size_of::<c_int>();
        // SAFETY: the value pointer and `len` describe a live, writable c_int.
        check(unsafe {
            ffi::zmq_getsockopt(
                self.ptr(),
                option,
                (&mut value as *mut c_int).cast(),
                &mut len,
            )
        })?;
        Ok(value)
    }

    /// The endpoint the last bind resolved to (ZMQ_LAST_ENDPOINT), e.g. with
    /// the port the system chose for "tcp://127.0.0.1:*".
    pub fn last_endpoint(&self) -> Result<Vec<u8>> {
        // Longer than any endpoint libzmq makes (an IPv6 address with scope
        // and port, or a unix socket path).
        let mut buf = vec![0u8; 1024];
        let mut len = buf.len();
        // SAFETY: the pointer and `len` describe `buf`, which libzmq fills
        // with a NUL-terminated string of `len` bytes, NUL included.
        check(unsafe {
            ffi::zmq_getsockopt(
                self.ptr(),
                opt::LAST_ENDPOINT,
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        })?;
        buf.truncate(len);
        if let Some(nul) = buf.iter().position(|&b| b == 0) {
            buf.truncate(nul);
        }
        Ok(buf)
    }

    /// Binds to `endpoint` (`zmq_bind`).
    pub fn bind(&mut self, endpoint: &str) -> Result<()> {
        let endpoint = c_string(endpoint)?;
        // SAFETY: `endpoint` is NUL-terminated and outlives the call.
        check(unsafe { ffi::zmq_bind(self.ptr(), endpoint.as_ptr()) }).map(drop)
    }

    /// Connects to `endpoint` (`zmq_connect`; the connection is made in the
    /// background).
    pub fn connect(&mut self, endpoint: &str) -> Result<()> {
        let endpoint = c_string(endpoint)?;
        // SAFETY: `endpoint` is NUL-terminated and outlives the call.
        check(unsafe { ffi::zmq_connect(self.ptr(), endpoint.as_ptr()) }).map(drop)
    }

    /// Sends a copy of `data` as one frame (`zmq_send`: one copy into a new
    /// message, inline up to libzmq's small-message size).
    #[inline]
    pub fn send(&mut self, data: &[u8], flags: i32) -> Result<()> {
        // SAFETY: the pointer and length describe `data`, which libzmq copies
        // during the call.
        check(unsafe { ffi::zmq_send(self.ptr(), data.as_ptr().cast(), data.len(), flags) })
            .map(drop)
    }

    /// Sends `msg` as one frame without copying its data (`zmq_msg_send`).
    /// On success libzmq leaves `msg` empty, ready for the next receive; on
    /// failure it is unchanged.
    #[inline]
    pub fn send_msg(&mut self, msg: &mut Message, flags: i32) -> Result<()> {
        // SAFETY: `msg` holds an initialised zmq_msg_t, borrowed mutably for
        // the call; the socket pointer is live.
        check(unsafe { ffi::zmq_msg_send(msg.raw(), self.ptr(), flags) }).map(drop)
    }

    /// Receives one frame into `msg`, replacing (and releasing) what it held
    /// (`zmq_msg_recv`).
    #[inline]
    pub fn recv_msg(&mut self, msg: &mut Message, flags: i32) -> Result<()> {
        // SAFETY: as for send_msg.
        check(unsafe { ffi::zmq_msg_recv(msg.raw(), self.ptr(), flags) }).map(drop)
    }
}

/// Runs libzmq's built-in proxy between `frontend` and `backend` in this
/// thread (`zmq_proxy`, no capture socket). It returns only when it stops,
/// always with the error that stopped it (ETERM once the context is being
/// terminated).
pub fn proxy(frontend: &mut Socket, backend: &mut Socket) -> Error {
    // SAFETY: both socket pointers are live and borrowed mutably for the
    // whole call (nothing else uses them meanwhile); the capture socket may
    // be NULL.
    let rc = unsafe { ffi::zmq_proxy(frontend.ptr(), backend.ptr(), std::ptr::null_mut()) };
    match check(rc) {
        Err(e) => e,
        // zmq_proxy has no success return; should one appear, say so.
        Ok(_) => Error(ETERM),
    }
}

/// A libzmq message (`zmq_msg_t`), reusable across receives and sends.
///
/// The `zmq_msg_t` lives on the heap and never moves: libzmq only promises
/// that its own functions may move one (zmq_msg_move, zmq_msg_copy).
pub struct Message(Box<ffi::ZmqMsg>);

// SAFETY: a zmq_msg_t may be handed to another thread (libzmq's own
// pipes do so); its shared contents are reference-counted atomically.
unsafe impl Send for Message {}

impl Default for Message {
    fn default() -> Self {
        Message::new()
    }
}

impl Message {
    /// An empty message (`zmq_msg_init`).
    pub fn new() -> Message {
        let mut raw = Box::new(ffi::ZmqMsg {
            opaque: [0; 64 / std::mem::size_of::<usize>()],
        });
        // SAFETY: `raw` is a writable, pointer-aligned zmq_msg_t;
        // zmq_msg_init cannot fail.
        unsafe { ffi::zmq_msg_init(&mut *raw) };
        Message(raw)
    }

    fn raw(&mut self) -> *mut ffi::ZmqMsg {
        &mut *self.0
    }

    /// The frame's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let msg: *const ffi::ZmqMsg = &*self.0;
        // SAFETY: `msg` is an initialised zmq_msg_t, only read.
        let len = unsafe { ffi::zmq_msg_size(msg) };
        if len == 0 {
            return &[];
        }
        // SAFETY: zmq_msg_data only reads the message to find its data (it
        // takes a non-const pointer in the C API, but writes nothing).
        let data = unsafe { ffi::zmq_msg_data(msg.cast_mut()) }.cast::<u8>();
        // SAFETY: a non-empty message's data is `len` bytes at a non-null
        // address, valid and unchanged until the message is next received
        // into, sent or dropped, all of which need `&mut self` or `self`, so
        // not while the returned borrow lives.
        unsafe { std::slice::from_raw_parts(data, len) }
    }

    /// Whether more frames of the same message follow (`zmq_msg_more`).
    #[inline]
    pub fn more(&self) -> bool {
        // SAFETY: the message is initialised and only read.
        unsafe { ffi::zmq_msg_more(&*self.0) == 1 }
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        // SAFETY: the message is initialised (zmq_msg_init, then only libzmq
        // calls that leave it initialised) and is closed only here.
        unsafe { ffi::zmq_msg_close(self.raw()) };
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("len", &self.data().len())
            .field("more", &self.more())
            .finish()
    }
}

#[cfg(test)]
mod tests;
