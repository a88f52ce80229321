//! `Msg`: one message frame.

use bytes::Bytes;
use std::fmt;
use std::num::NonZeroU8;
use std::ops::Deref;

/// Bodies up to this many bytes are stored inside the `Msg` itself.
///
/// 70 fills a `Msg`'s 72 bytes with the length and flags bytes. It was
/// 30: a 64-byte message then cost an allocation on the receiving I/O
/// thread freed by the application thread, and on a PUB a shared body
/// whose reference count every subscriber's clone and every engine's drop
/// pulled between threads; perf put the allocator at a quarter of a
/// 100-SUB process and the count's traffic at a seventh of the PUB's.
pub const INLINE_CAPACITY: usize = 70;

/// An inline body. The bytes come first and the length and flags last,
/// so that the length's niche (it is stored plus one, never zero) tells
/// the two kinds of body apart and no tag byte goes in front: the bytes
/// start at offset 0 and a `Msg` is 72 bytes that move in aligned pieces.
/// With a tag first (and the flags in a field of their own after the
/// body) the bytes started at offset 2, every move of a frame just built
/// read across the narrower stores that built it, and perf put those
/// store-forwarding stalls at most of an async send's time.
#[derive(Clone, Copy)]
#[repr(C)]
struct Inline {
    buf: [u8; INLINE_CAPACITY],
    len_plus_one: NonZeroU8,
    flags: u8,
}

impl Inline {
    #[inline]
    fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len_plus_one.get() - 1)]
    }
}

#[derive(Clone)]
enum Body {
    Inline(Inline),
    Shared { bytes: Bytes, flags: u8 },
}

impl Body {
    #[inline]
    fn flags(&self) -> u8 {
        match self {
            Body::Inline(inline) => inline.flags,
            Body::Shared { flags, .. } => *flags,
        }
    }

    #[inline]
    fn flags_mut(&mut self) -> &mut u8 {
        match self {
            Body::Inline(inline) => &mut inline.flags,
            Body::Shared { flags, .. } => flags,
        }
    }
}

/// One frame of a message. Small bodies live inline (no allocation); larger
/// ones are a shared [`Bytes`], so sending a `Bytes` and receiving into one
/// never copies, and cloning for fan-out (PUB) is a reference-count bump.
///
/// ```
/// use ferromq::Msg;
/// let small = Msg::from("hello");
/// assert_eq!(&small[..], b"hello");
/// let big = Msg::from(vec![7u8; 4096]);
/// let copy = big.clone(); // shares the buffer
/// assert_eq!(copy.len(), 4096);
/// ```
#[derive(Clone)]
pub struct Msg {
    body: Body,
}

const MORE: u8 = 1;
/// Internal: a subscription travelling from SUB/XSUB to an engine, or from
/// an engine to PUB/XPUB (a ZMTP 3.1 SUBSCRIBE command).
const SUBSCRIBE: u8 = 2;
/// Internal: a subscription cancel (a ZMTP 3.1 CANCEL command).
const CANCEL: u8 = 4;

impl Msg {
    /// An empty frame.
    pub const fn new() -> Msg {
        Msg {
            body: Body::Inline(Inline {
                buf: [0; INLINE_CAPACITY],
                len_plus_one: NonZeroU8::MIN,
                flags: 0,
            }),
        }
    }

    /// A frame holding a copy of `data` (inline when small).
    #[inline]
    pub fn copy_from_slice(data: &[u8]) -> Msg {
        if data.len() <= INLINE_CAPACITY {
            // Built whole, then filled in place: copying a separately
            // filled buffer in read across the stores that filled it.
            let mut msg = Msg {
                body: Body::Inline(Inline {
                    buf: [0; INLINE_CAPACITY],
                    // In range: data.len() <= INLINE_CAPACITY < 255.
                    len_plus_one: NonZeroU8::MIN.saturating_add(data.len() as u8),
                    flags: 0,
                }),
            };
            if let Body::Inline(inline) = &mut msg.body {
                inline.buf[..data.len()].copy_from_slice(data);
            }
            msg
        } else {
            Msg::with_shared_body(Bytes::copy_from_slice(data))
        }
    }

    /// A frame whose body is `owner`'s bytes, without copying them; `owner`
    /// is dropped (its "free" runs) when the last clone of the frame goes
    /// away, on whatever thread that happens. This is how a foreign buffer
    /// with a free callback becomes a `Msg`. Even a small body is kept,
    /// not copied inline, so the owner lives exactly as long as the frame.
    pub fn from_owner<T>(owner: T) -> Msg
    where
        T: AsRef<[u8]> + Send + 'static,
    {
        Msg::with_shared_body(Bytes::from_owner(owner))
    }

    /// A frame whose body is `body`, kept shared even when small (a
    /// clone shares it; nothing is copied inline), unlike `Msg::from`.
    pub fn from_shared(body: Bytes) -> Msg {
        Msg::with_shared_body(body)
    }

    #[inline]
    fn with_shared_body(bytes: Bytes) -> Msg {
        Msg {
            body: Body::Shared { bytes, flags: 0 },
        }
    }

    /// The body if it is stored shared (a reference-counted buffer), not
    /// inline.
    pub fn shared_body(&self) -> Option<&Bytes> {
        self.shared()
    }

    /// Whether more frames of the same message follow (set on received
    /// frames; on send, [`crate::SNDMORE`] decides).
    #[inline]
    pub fn more(&self) -> bool {
        self.body.flags() & MORE != 0
    }

    /// Sets the MORE flag.
    #[inline]
    pub fn set_more(&mut self, more: bool) {
        if more {
            *self.body.flags_mut() |= MORE;
        } else {
            *self.body.flags_mut() &= !MORE;
        }
    }

    /// Builder form of [`set_more`](Msg::set_more).
    #[inline]
    pub fn with_more(mut self, more: bool) -> Msg {
        self.set_more(more);
        self
    }

    /// A subscription (`subscribe`) or cancel for `topic`, as it travels
    /// between SUB/XSUB sockets and engines.
    pub(crate) fn subscription(topic: &[u8], subscribe: bool) -> Msg {
        let mut msg = Msg::copy_from_slice(topic);
        *msg.body.flags_mut() = if subscribe { SUBSCRIBE } else { CANCEL };
        msg
    }

    /// True for a subscription made with [`Msg::subscription`].
    pub(crate) fn is_subscribe(&self) -> bool {
        self.body.flags() & SUBSCRIBE != 0
    }

    /// True for a cancel made with [`Msg::subscription`].
    pub(crate) fn is_cancel(&self) -> bool {
        self.body.flags() & CANCEL != 0
    }

    /// The body.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.body {
            Body::Inline(inline) => inline.as_slice(),
            Body::Shared { bytes: b, .. } => b,
        }
    }

    /// Whether another frame may share this body (libzmq's ZMQ_SHARED):
    /// a reference-counted buffer with more than one owner. Small bodies
    /// are always private.
    pub fn is_shared(&self) -> bool {
        match &self.body {
            Body::Shared { bytes: b, .. } => !b.is_unique(),
            Body::Inline(_) => false,
        }
    }

    /// The body as `Bytes` (free for large frames, a small copy for inline ones).
    pub fn into_bytes(self) -> Bytes {
        match self.body {
            Body::Inline(inline) => Bytes::copy_from_slice(inline.as_slice()),
            Body::Shared { bytes: b, .. } => b,
        }
    }

    /// The body as `Bytes` if it is stored shared, for zero-copy writes.
    #[inline]
    pub(crate) fn shared(&self) -> Option<&Bytes> {
        match &self.body {
            Body::Shared { bytes: b, .. } => Some(b),
            Body::Inline(_) => None,
        }
    }

    /// The body as text, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_slice()).ok()
    }
}

impl Default for Msg {
    fn default() -> Msg {
        Msg::new()
    }
}

impl Deref for Msg {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Msg {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Msg {
    fn eq(&self, other: &Msg) -> bool {
        self.body.flags() == other.body.flags() && self.as_slice() == other.as_slice()
    }
}

impl Eq for Msg {}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.as_slice();
        let shown = &body[..body.len().min(64)];
        write!(
            f,
            "Msg({} bytes{}, ",
            body.len(),
            if self.more() { ", more" } else { "" }
        )?;
        match std::str::from_utf8(shown) {
            Ok(s) => write!(f, "{s:?}")?,
            Err(_) => write!(f, "{shown:02x?}")?,
        }
        if body.len() > shown.len() {
            f.write_str("...")?;
        }
        f.write_str(")")
    }
}

impl From<Bytes> for Msg {
    #[inline]
    fn from(b: Bytes) -> Msg {
        if b.len() <= INLINE_CAPACITY {
            Msg::copy_from_slice(&b)
        } else {
            Msg::with_shared_body(b)
        }
    }
}

impl From<Vec<u8>> for Msg {
    fn from(v: Vec<u8>) -> Msg {
        Msg::from(Bytes::from(v))
    }
}

impl From<&[u8]> for Msg {
    fn from(s: &[u8]) -> Msg {
        Msg::copy_from_slice(s)
    }
}

impl<const N: usize> From<&[u8; N]> for Msg {
    fn from(s: &[u8; N]) -> Msg {
        Msg::copy_from_slice(s)
    }
}

impl From<&str> for Msg {
    fn from(s: &str) -> Msg {
        Msg::copy_from_slice(s.as_bytes())
    }
}

impl From<String> for Msg {
    fn from(s: String) -> Msg {
        Msg::from(s.into_bytes())
    }
}

impl From<&String> for Msg {
    fn from(s: &String) -> Msg {
        Msg::copy_from_slice(s.as_bytes())
    }
}

impl From<&Msg> for Msg {
    fn from(m: &Msg) -> Msg {
        m.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn inline_form_stays_small() {
        // The inline body, its length and the flags fill the space the
        // shared form and the enum take anyway.
        assert_eq!(std::mem::size_of::<Msg>(), 72);
    }

    #[test]
    fn inline_bytes_start_the_frame() {
        // The length's niche is the tag, so the bytes are at offset 0 and
        // a frame moves in aligned pieces (see `Inline`). A compiler that
        // lays the enum out otherwise is slower, not wrong; this says so.
        let m = Msg::from("abc");
        let Body::Inline(inline) = &m.body else {
            panic!("a 3-byte body is inline");
        };
        assert_eq!(inline.buf.as_ptr() as usize, &m as *const Msg as usize);
        assert_eq!(inline.as_slice(), b"abc");
        assert_eq!(Msg::new().len(), 0);
    }

    #[test]
    fn inline_boundary() {
        let at = Msg::from(vec![1u8; INLINE_CAPACITY]);
        assert!(at.shared().is_none());
        let over = Msg::from(vec![1u8; INLINE_CAPACITY + 1]);
        assert!(over.shared().is_some());
        assert_eq!(over.len(), INLINE_CAPACITY + 1);
    }

    #[test]
    fn owner_is_dropped_once_after_last_clone() {
        struct Foreign(Vec<u8>, Arc<AtomicUsize>);
        impl AsRef<[u8]> for Foreign {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
        impl Drop for Foreign {
            fn drop(&mut self) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        let freed = Arc::new(AtomicUsize::new(0));
        let msg = Msg::from_owner(Foreign(vec![9; 100], freed.clone()));
        let clone = msg.clone();
        drop(msg);
        assert_eq!(freed.load(Ordering::SeqCst), 0);
        let handle = std::thread::spawn(move || drop(clone));
        handle.join().unwrap();
        assert_eq!(freed.load(Ordering::SeqCst), 1);
    }
}

/// The properties of the connection a message came in on, as libzmq's
/// zmq_msg_gets reads them: the peer's handshake metadata (`Socket-Type`,
/// `Identity`, application properties) and `Peer-Address` (the peer's IP,
/// tcp only). Names compare without regard to case, as in ZMTP.
///
/// ```
/// use ferromq::{Context, SocketType};
/// let ctx = Context::new();
/// let router = ctx.socket(SocketType::Router)?;
/// router.bind("tcp://127.0.0.1:*")?;
/// let dealer = ctx.socket(SocketType::Dealer)?;
/// dealer.connect(&router.last_endpoint()?)?;
/// dealer.send("hi", 0)?;
/// let (_routing_id, props) = router.recv_with_properties(0)?;
/// let props = props.expect("a tcp peer has properties");
/// assert_eq!(props.get("socket-type"), Some(&b"DEALER"[..]));
/// assert_eq!(props.get("Peer-Address"), Some(&b"127.0.0.1"[..]));
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    /// (name, value followed by a NUL, so C can read it in place).
    entries: Vec<(String, Vec<u8>)>,
}

impl MessageProperties {
    /// An empty set.
    pub fn new() -> MessageProperties {
        MessageProperties::default()
    }

    /// Adds (or replaces) a property.
    pub fn insert(&mut self, name: &str, value: &[u8]) {
        let mut stored = Vec::with_capacity(value.len() + 1);
        stored.extend_from_slice(value);
        stored.push(0);
        match self
            .entries
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(entry) => entry.1 = stored,
            None => self.entries.push((name.to_owned(), stored)),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_with_nul(name).map(|v| &v[..v.len() - 1])
    }

    /// The value of `name` followed by a NUL byte (for C callers; a value
    /// holding a NUL reads shorter there, as in libzmq).
    pub fn get_with_nul(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }

    /// Every (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries
            .iter()
            .map(|(n, v)| (n.as_str(), &v[..v.len() - 1]))
    }
}
