//! `zmq_msg_t` and the zmq_msg_* functions.
//!
//! A `zmq_msg_t` is 64 bytes of caller-owned storage (usually on the C
//! stack). We keep a frame in it in a compact form of ferromq's [`Msg`]
//! ([`Frame`]: a `Msg` inlines bodies of up to 70 bytes and is larger
//! than the struct), so a frame goes from `zmq_msg_recv` to `zmq_msg_send`
//! without a copy of large bodies, small bodies stay inside the struct,
//! and the others are reference-counted buffers.

use crate::errno::{fail, guard, Errno};
use crate::socket::FfiSocket;
use bytes::Bytes;
use ferromq::{MessageProperties, Msg};
use std::ffi::{c_char, c_void};
use std::mem::{align_of, size_of, MaybeUninit};
use std::sync::Arc;

/// `sizeof(zmq_msg_t)`, fixed by libzmq's ABI.
pub(crate) const ZMQ_MSG_T_SIZE: usize = 64;

const ZMQ_MORE: i32 = 1;
const ZMQ_SRCFD: i32 = 2;
const ZMQ_SHARED: i32 = 3;

/// Tags the storage of an initialised message, so a `zmq_msg_t` that
/// was never initialised (or was closed) is refused with EFAULT.
const MSG_TAG: u32 = 0x6d73_6721;

/// The C type: 64 bytes aligned like a pointer.
#[repr(C, align(8))]
pub struct zmq_msg_t {
    _storage: [MaybeUninit<u8>; ZMQ_MSG_T_SIZE],
}

/// Bodies up to this size stay inside the `zmq_msg_t`: libzmq's
/// max_vsm_size on 64-bit targets, so ZMQ_SHARED after zmq_msg_copy
/// answers as libzmq's does for every size.
const FRAME_INLINE: usize = 33;

#[derive(Clone)]
enum FrameBody {
    Inline { len: u8, buf: [u8; FRAME_INLINE] },
    Shared(Bytes),
}

/// A [`Msg`] as a `zmq_msg_t` holds it: small bodies inline, the others
/// shared. Converting from a `Msg` copies only a body it holds inline and
/// that is too long for the struct (one allocation, as a `Msg` made such
/// a body before it inlined 70 bytes); converting back never copies a
/// shared body, so a foreign buffer's free function runs when the last
/// frame holding it goes, as before.
#[derive(Clone)]
pub(crate) struct Frame {
    body: FrameBody,
    more: bool,
}

impl Frame {
    fn from_msg(msg: Msg) -> Frame {
        let more = msg.more();
        let body = if msg.shared_body().is_some() {
            FrameBody::Shared(msg.into_bytes())
        } else if msg.len() <= FRAME_INLINE {
            let mut buf = [0u8; FRAME_INLINE];
            buf[..msg.len()].copy_from_slice(&msg);
            FrameBody::Inline {
                len: msg.len() as u8,
                buf,
            }
        } else {
            FrameBody::Shared(Bytes::copy_from_slice(&msg))
        };
        Frame { body, more }
    }

    fn into_msg(self) -> Msg {
        let msg = match self.body {
            FrameBody::Inline { len, buf } => Msg::copy_from_slice(&buf[..usize::from(len)]),
            FrameBody::Shared(b) => Msg::from_shared(b),
        };
        msg.with_more(self.more)
    }

    fn empty() -> Frame {
        Frame {
            body: FrameBody::Inline {
                len: 0,
                buf: [0; FRAME_INLINE],
            },
            more: false,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.body {
            FrameBody::Inline { len, buf } => &buf[..usize::from(*len)],
            FrameBody::Shared(b) => b,
        }
    }

    pub(crate) fn more(&self) -> bool {
        self.more
    }

    /// libzmq's ZMQ_SHARED: the body has another owner.
    pub(crate) fn is_shared(&self) -> bool {
        match &self.body {
            FrameBody::Shared(b) => !b.is_unique(),
            FrameBody::Inline { .. } => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }
}

/// What we keep inside a `zmq_msg_t`.
struct MsgCell {
    msg: Frame,
    /// The connection's properties, for zmq_msg_gets (received only).
    props: Option<Arc<MessageProperties>>,
    tag: u32,
}

const _: () = assert!(size_of::<MsgCell>() <= ZMQ_MSG_T_SIZE);
const _: () = assert!(align_of::<MsgCell>() <= align_of::<zmq_msg_t>());
const _: () = assert!(size_of::<zmq_msg_t>() == ZMQ_MSG_T_SIZE);

/// Writes a fresh message into `raw`, whatever it held (zmq_msg_init*
/// may be given garbage).
///
/// # Safety
/// `raw` is NULL or points to a writable `zmq_msg_t`.
unsafe fn init(raw: *mut zmq_msg_t, msg: Msg) -> Result<(), Errno> {
    if raw.is_null() {
        return fail(libc::EFAULT);
    }
    let fresh = MsgCell {
        msg: Frame::from_msg(msg),
        props: None,
        tag: MSG_TAG,
    };
    // SAFETY: raw is writable and 64 bytes, enough and aligned for a
    // MsgCell (checked above); write does not drop the old bytes.
    unsafe { (raw as *mut MsgCell).write(fresh) };
    Ok(())
}

/// The message in `raw`, if it was initialised.
///
/// # Safety
/// As for [`full_cell`].
pub(crate) unsafe fn cell<'a>(raw: *mut zmq_msg_t) -> Result<&'a mut Frame, Errno> {
    // SAFETY: the caller's contract.
    Ok(&mut unsafe { full_cell(raw)? }.msg)
}

/// The message and its properties in `raw`, if it was initialised.
///
/// # Safety
/// `raw` is NULL or points to a `zmq_msg_t` that is either initialised by
/// us or at least readable (a tag mismatch is reported, not trusted).
unsafe fn full_cell<'a>(raw: *mut zmq_msg_t) -> Result<&'a mut MsgCell, Errno> {
    if raw.is_null() {
        return fail(libc::EFAULT);
    }
    let cell = raw as *mut MsgCell;
    // SAFETY: raw is readable for 64 bytes; the tag is a plain u32 at a
    // fixed offset, read before trusting the rest.
    let tag = unsafe { std::ptr::addr_of!((*cell).tag).read() };
    if tag != MSG_TAG {
        return fail(libc::EFAULT);
    }
    // SAFETY: the tag says we wrote a MsgCell here and it was not closed.
    Ok(unsafe { &mut *cell })
}

/// Takes the message out of `raw`, leaving it an empty, initialised one
/// (what libzmq leaves after a successful send).
///
/// # Safety
/// As for [`cell`].
pub(crate) unsafe fn take(
    raw: *mut zmq_msg_t,
) -> Result<(Msg, Option<Arc<MessageProperties>>), Errno> {
    // SAFETY: the caller's contract.
    let cell = unsafe { full_cell(raw)? };
    let frame = std::mem::replace(&mut cell.msg, Frame::empty());
    Ok((frame.into_msg(), cell.props.take()))
}

/// Puts `msg` into `raw`, which holds an initialised message (dropped).
///
/// # Safety
/// As for [`cell`].
pub(crate) unsafe fn put(
    raw: *mut zmq_msg_t,
    msg: Msg,
    props: Option<Arc<MessageProperties>>,
) -> Result<(), Errno> {
    // SAFETY: the caller's contract.
    let cell = unsafe { full_cell(raw)? };
    cell.msg = Frame::from_msg(msg);
    cell.props = props;
    Ok(())
}

/// A buffer that C owns, with the function that frees it.
struct ForeignBuffer {
    data: *mut c_void,
    len: usize,
    free: Option<ZmqFreeFn>,
    hint: *mut c_void,
}

type ZmqFreeFn = unsafe extern "C" fn(data: *mut c_void, hint: *mut c_void);

// SAFETY: zmq_msg_init_data's contract: the buffer stays valid and
// unchanged until the free function runs, and that function may be called
// from any thread (libzmq calls it from its I/O threads too).
unsafe impl Send for ForeignBuffer {}

impl AsRef<[u8]> for ForeignBuffer {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller of zmq_msg_init_data promised `len` readable
        // bytes at `data` until we call `free`, which happens only in drop.
        unsafe { std::slice::from_raw_parts(self.data as *const u8, self.len) }
    }
}

impl Drop for ForeignBuffer {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: called exactly once (drop runs once), with the data
            // and hint the caller gave, as zmq_msg_init_data specifies.
            unsafe { free(self.data, self.hint) }
        }
    }
}

/// `int zmq_msg_init(zmq_msg_t *msg)`
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init(msg: *mut zmq_msg_t) -> i32 {
    // SAFETY: msg points to a zmq_msg_t (the function's contract).
    guard(-1, || unsafe { init(msg, Msg::new()) }.map(|()| 0))
}

/// `int zmq_msg_init_size(zmq_msg_t *msg, size_t size)`: an uninitialised
/// body of `size` bytes for the caller to fill through zmq_msg_data.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init_size(msg: *mut zmq_msg_t, size: usize) -> i32 {
    guard(-1, || {
        if isize::try_from(size).is_err() {
            return fail(libc::ENOMEM);
        }
        let body = if size <= FRAME_INLINE {
            Msg::copy_from_slice(&[0u8; FRAME_INLINE][..size])
        } else {
            let mut buf = Vec::new();
            buf.try_reserve_exact(size)
                .or_else(|_| fail(libc::ENOMEM))?;
            buf.resize(size, 0);
            Msg::from_shared(Bytes::from(buf))
        };
        // SAFETY: msg points to a zmq_msg_t (the function's contract).
        unsafe { init(msg, body)? };
        Ok(0)
    })
}

/// `int zmq_msg_init_buffer(zmq_msg_t *msg, const void *buf, size_t size)`
/// (libzmq 4.3.5's copying constructor).
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init_buffer(
    msg: *mut zmq_msg_t,
    buf: *const c_void,
    size: usize,
) -> i32 {
    guard(-1, || {
        // SAFETY: buf holds size readable bytes (the function's contract).
        let data = unsafe { bytes_from(buf, size)? };
        // SAFETY: msg points to a zmq_msg_t.
        unsafe { init(msg, Msg::copy_from_slice(data))? };
        Ok(0)
    })
}

/// `int zmq_msg_init_data(zmq_msg_t *msg, void *data, size_t size,
/// zmq_free_fn *ffn, void *hint)`: zero-copy; `ffn(data, hint)` runs once,
/// when the last reference to the body goes (possibly on an I/O thread).
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init_data(
    msg: *mut zmq_msg_t,
    data: *mut c_void,
    size: usize,
    ffn: Option<ZmqFreeFn>,
    hint: *mut c_void,
) -> i32 {
    guard(-1, || {
        if data.is_null() && size != 0 {
            return fail(libc::EINVAL);
        }
        let body = Msg::from_owner(ForeignBuffer {
            data,
            len: size,
            free: ffn,
            hint,
        });
        // SAFETY: msg points to a zmq_msg_t.
        unsafe { init(msg, body)? };
        Ok(0)
    })
}

/// `int zmq_msg_close(zmq_msg_t *msg)`
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_close(msg: *mut zmq_msg_t) -> i32 {
    guard(-1, || {
        // SAFETY: msg points to a zmq_msg_t; cell checks it was initialised.
        unsafe { cell(msg)? };
        let cell = msg as *mut MsgCell;
        // SAFETY: it holds an initialised MsgCell (checked); we drop its
        // contents in place once and clear the tag so a second close is
        // EFAULT.
        unsafe {
            std::ptr::drop_in_place(std::ptr::addr_of_mut!((*cell).msg));
            std::ptr::drop_in_place(std::ptr::addr_of_mut!((*cell).props));
            std::ptr::addr_of_mut!((*cell).tag).write(0);
        }
        Ok(0)
    })
}

/// `int zmq_msg_move(zmq_msg_t *dest, zmq_msg_t *src)`: dest takes src's
/// content, src becomes empty.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_move(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> i32 {
    guard(-1, || {
        // SAFETY: both point to zmq_msg_t's (the function's contract).
        let (body, props) = unsafe { take(src)? };
        // SAFETY: as above; dest's old content is released, as libzmq does.
        unsafe { replace(dest, body, props) }
    })
}

/// `int zmq_msg_copy(zmq_msg_t *dest, zmq_msg_t *src)`: dest shares src's
/// body (no copy of large bodies, as in libzmq).
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_copy(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> i32 {
    guard(-1, || {
        // SAFETY: both point to zmq_msg_t's (the function's contract).
        let src = unsafe { full_cell(src)? };
        let (body, props) = (src.msg.clone().into_msg(), src.props.clone());
        // SAFETY: as above.
        unsafe { replace(dest, body, props) }
    })
}

/// Stores `body` in `dest`, releasing what an initialised `dest` held.
///
/// # Safety
/// `dest` is NULL or points to a zmq_msg_t, initialised or not.
unsafe fn replace(
    dest: *mut zmq_msg_t,
    body: Msg,
    props: Option<Arc<MessageProperties>>,
) -> Result<i32, Errno> {
    // libzmq requires dest to be initialised but tolerates garbage in
    // practice (it closes what looks valid); we initialise it.
    // SAFETY: the caller's contract.
    if unsafe { full_cell(dest) }.is_err() {
        // SAFETY: the caller's contract.
        unsafe { init(dest, Msg::new())? };
    }
    // SAFETY: the caller's contract; dest is initialised now.
    unsafe { put(dest, body, props)? };
    Ok(0)
}

/// `void *zmq_msg_data(zmq_msg_t *msg)`: the body, writable (to fill a
/// zmq_msg_init_size message).
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_data(msg: *mut zmq_msg_t) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: msg points to a zmq_msg_t.
        let body = unsafe { cell(msg)? };
        // Writing through this pointer is C's business, as in libzmq: the
        // bytes are the message's own (inline in the struct, or a buffer
        // it holds), and no Rust reference to them is alive meanwhile.
        Ok(body.as_slice().as_ptr() as *mut c_void)
    })
}

/// `size_t zmq_msg_size(const zmq_msg_t *msg)`
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_size(msg: *const zmq_msg_t) -> usize {
    guard(0, || {
        // SAFETY: msg points to a zmq_msg_t; cell only reads through it here.
        let body = unsafe { cell(msg as *mut zmq_msg_t)? };
        Ok(body.len())
    })
}

/// `int zmq_msg_more(const zmq_msg_t *msg)`
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_more(msg: *const zmq_msg_t) -> i32 {
    guard(0, || {
        // SAFETY: as in zmq_msg_size.
        let body = unsafe { cell(msg as *mut zmq_msg_t)? };
        Ok(i32::from(body.more()))
    })
}

/// `int zmq_msg_get(const zmq_msg_t *msg, int property)`
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_get(msg: *const zmq_msg_t, property: i32) -> i32 {
    guard(-1, || {
        // SAFETY: as in zmq_msg_size.
        let body = unsafe { cell(msg as *mut zmq_msg_t)? };
        match property {
            ZMQ_MORE => Ok(i32::from(body.more())),
            // No message carries its connection's descriptor here.
            ZMQ_SRCFD => Ok(-1),
            ZMQ_SHARED => Ok(i32::from(body.is_shared())),
            _ => fail(libc::EINVAL),
        }
    })
}

/// `int zmq_msg_set(zmq_msg_t *msg, int property, int optval)`: libzmq
/// defines no settable property.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_set(msg: *mut zmq_msg_t, _property: i32, _optval: i32) -> i32 {
    guard(-1, || {
        // SAFETY: msg points to a zmq_msg_t.
        unsafe { cell(msg)? };
        fail(libc::EINVAL)
    })
}

/// `const char *zmq_msg_gets(const zmq_msg_t *msg, const char *property)`:
/// a property of the connection the message came in on (Socket-Type,
/// Identity, Peer-Address, the peer's own metadata); NULL with EINVAL for
/// one it lacks.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_gets(
    msg: *const zmq_msg_t,
    property: *const c_char,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: msg points to a zmq_msg_t.
        let cell = unsafe { full_cell(msg as *mut zmq_msg_t)? };
        if property.is_null() {
            return fail(libc::EINVAL);
        }
        // SAFETY: property is a C string (the contract).
        let name = unsafe { std::ffi::CStr::from_ptr(property) };
        let value = name
            .to_str()
            .ok()
            .and_then(|name| cell.props.as_ref()?.get_with_nul(name));
        match value {
            // The value lives in the properties the message holds, so the
            // pointer stays valid until the message is closed or reused,
            // as libzmq promises.
            Some(value) => Ok(value.as_ptr() as *const c_char),
            None => fail(libc::EINVAL),
        }
    })
}

/// `int zmq_msg_send(zmq_msg_t *msg, void *socket, int flags)`: on success
/// the message is sent and `msg` left empty; on failure it is untouched.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_send(msg: *mut zmq_msg_t, socket: *mut c_void, flags: i32) -> i32 {
    guard(-1, || {
        // SAFETY: socket is a socket from zmq_socket (the contract).
        let socket = unsafe { FfiSocket::from_ptr(socket)? };
        // SAFETY: msg points to a zmq_msg_t.
        let (body, props) = unsafe { take(msg)? };
        let len = body.len();
        match socket.socket.send_msg_or_return(body, flags) {
            Ok(()) => Ok(clamp_len(len)),
            Err((error, body)) => {
                // SAFETY: as above; the message goes back where it was.
                unsafe { put(msg, body, props)? };
                Err(error.into())
            }
        }
    })
}

/// `int zmq_msg_recv(zmq_msg_t *msg, void *socket, int flags)`
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_recv(msg: *mut zmq_msg_t, socket: *mut c_void, flags: i32) -> i32 {
    guard(-1, || {
        // SAFETY: socket is a socket from zmq_socket (the contract).
        let socket = unsafe { FfiSocket::from_ptr(socket)? };
        // SAFETY: msg points to an initialised zmq_msg_t; checked before
        // blocking so a bad msg does not lose a received frame.
        unsafe { cell(msg)? };
        let (body, props) = socket.socket.recv_with_properties(flags)?;
        let len = body.len();
        // SAFETY: as above.
        unsafe { put(msg, body, props)? };
        Ok(clamp_len(len))
    })
}

/// `int zmq_sendmsg(void *socket, zmq_msg_t *msg, int flags)` (2.x order).
#[no_mangle]
pub unsafe extern "C" fn zmq_sendmsg(socket: *mut c_void, msg: *mut zmq_msg_t, flags: i32) -> i32 {
    // SAFETY: the same contract as zmq_msg_send.
    unsafe { zmq_msg_send(msg, socket, flags) }
}

/// `int zmq_recvmsg(void *socket, zmq_msg_t *msg, int flags)` (2.x order).
#[no_mangle]
pub unsafe extern "C" fn zmq_recvmsg(socket: *mut c_void, msg: *mut zmq_msg_t, flags: i32) -> i32 {
    // SAFETY: the same contract as zmq_msg_recv.
    unsafe { zmq_msg_recv(msg, socket, flags) }
}

/// libzmq returns a frame's size as an int; a larger frame still arrives
/// whole, the return value saturates.
pub(crate) fn clamp_len(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// `size` bytes at `buf` (none if size is 0, where buf may be NULL).
///
/// # Safety
/// If `size > 0`, `buf` points to `size` readable bytes that outlive 'a.
pub(crate) unsafe fn bytes_from<'a>(buf: *const c_void, size: usize) -> Result<&'a [u8], Errno> {
    if size == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(buf as *const u8, size) })
}
