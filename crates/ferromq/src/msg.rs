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
    flags: Flags,
}

/// A frame's flag bits (`MORE`, `SUBSCRIBE`, `CANCEL`) as a type with
/// only their 8 values valid. The other 248 are free for the compiler to
/// tell enums apart with: `Body` takes one for its `Shared` tag and
/// `Option<Msg>` another, so an `Option<Msg>` (a pipe read, a future's
/// frame) is 72 bytes that move as a `Msg` does, not 80 with a tag in
/// front.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Flags {
    Bits0 = 0,
    Bits1,
    Bits2,
    Bits3,
    Bits4,
    Bits5,
    Bits6,
    Bits7,
}

impl Flags {
    #[inline]
    fn from_bits(bits: u8) -> Flags {
        match bits & 7 {
            0 => Flags::Bits0,
            1 => Flags::Bits1,
            2 => Flags::Bits2,
            3 => Flags::Bits3,
            4 => Flags::Bits4,
            5 => Flags::Bits5,
            6 => Flags::Bits6,
            _ => Flags::Bits7,
        }
    }

    #[inline]
    fn bits(self) -> u8 {
        self as u8
    }
}

impl Inline {
    /// Writes `data` (at most `INLINE_CAPACITY` bytes) and `flags` into
    /// this body, whose bytes are all zero.
    ///
    /// A frame is moved (into a future, a pipe's slot, out again) in
    /// 16-byte pieces and a last 8-byte one. A load is served from the
    /// store buffer only when one earlier store covers it; if the frame was
    /// filled by narrower stores (`memcpy`'s byte store for a 1-byte body,
    /// the length and flags bytes), its first move waits for those stores
    /// to reach the cache instead. perf put that wait at three quarters of
    /// building a 1-byte frame, and at most of what an async send adds to
    /// a sync one. So on x86_64 a short body and the last 8 bytes are each
    /// written with one store of the width they are moved in.
    #[inline(always)]
    fn fill(&mut self, data: &[u8], flags: Flags) {
        debug_assert!(data.len() <= INLINE_CAPACITY);
        // In range: data.len() <= INLINE_CAPACITY < 255.
        let len_plus_one = NonZeroU8::MIN.saturating_add(data.len() as u8);
        #[cfg(target_arch = "x86_64")]
        wide::fill(self, data, len_plus_one, flags);
        #[cfg(not(target_arch = "x86_64"))]
        {
            self.buf[..data.len()].copy_from_slice(data);
            self.len_plus_one = len_plus_one;
            self.flags = flags;
        }
    }

    #[inline]
    fn as_slice(&self) -> &[u8] {
        &self.buf[..usize::from(self.len_plus_one.get() - 1)]
    }
}

/// Filling an [`Inline`] with whole-piece stores (see [`Inline::fill`]).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod wide {
    use super::{Flags, Inline, INLINE_CAPACITY};
    use std::arch::x86_64::{__m128i, _mm_set_epi64x, _mm_storeu_si128};
    use std::num::NonZeroU8;

    /// A frame moves in 16-byte pieces up to `TAIL_AT`; the rest (the
    /// last 6 body bytes, the length and the flags) is one 8-byte piece.
    const PIECE: usize = 16;
    const TAIL_AT: usize = 64;

    /// Writes `data`, its length and `flags` into `inline`, whose bytes
    /// are all zero.
    ///
    /// Up to 16 bytes go in one vector store. Longer bodies are copied by
    /// `memcpy`, whose stores for them are 16 or 32 bytes wide, though not
    /// always where the moves read (a 64-byte frame, which they fit, was
    /// measured slower built piece by piece here). The last 8 bytes are
    /// always one store: that piece holds the length and flags.
    #[inline(always)]
    pub(super) fn fill(inline: &mut Inline, data: &[u8], len_plus_one: NonZeroU8, flags: Flags) {
        let (head, tail_data) = data.split_at(data.len().min(TAIL_AT));
        if head.len() > PIECE {
            inline.buf[..head.len()].copy_from_slice(head);
        }
        let base = (inline as *mut Inline).cast::<u8>();
        if head.len() <= PIECE {
            // SAFETY: `base` points at the 72 bytes of `inline`, borrowed
            // mutably; this writes its first 16, body bytes, where any
            // value is valid (an unaligned store needs no alignment).
            unsafe { _mm_storeu_si128(base.cast::<__m128i>(), piece_of(head)) };
        }
        let tail =
            word(tail_data) | u64::from(len_plus_one.get()) << 48 | u64::from(flags.bits()) << 56;
        // SAFETY: bytes 64..72 of `inline`: the body's last 6 bytes, then
        // `len_plus_one` (byte 6 of `tail`, a NonZeroU8's value) and
        // `flags` (byte 7, a Flags' value); an unaligned write needs no
        // alignment.
        unsafe { base.add(TAIL_AT).cast::<u64>().write_unaligned(tail) };
        const _: () = assert!(TAIL_AT + 6 == INLINE_CAPACITY);
    }

    /// Up to 16 bytes, zero-padded, as one vector, reading no byte
    /// outside `bytes`.
    #[inline(always)]
    fn piece_of(bytes: &[u8]) -> __m128i {
        let (low, high) = if bytes.len() <= 8 {
            (word(bytes), 0)
        } else {
            let (low, high) = bytes.split_at(8);
            (word(low), word(high))
        };
        // SAFETY: SSE2 is part of every x86_64 target, so the instruction
        // exists; it reads and writes registers only.
        unsafe { _mm_set_epi64x(high as i64, low as i64) }
    }

    /// Up to 8 bytes as a little-endian word, zero-padded, reading no
    /// byte outside `bytes`.
    #[inline(always)]
    fn word(bytes: &[u8]) -> u64 {
        let n = bytes.len();
        if n == 8 {
            u64::from_le_bytes([
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            ])
        } else if n >= 4 {
            // Two overlapping 4-byte reads; the shared bytes agree.
            let low = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            let high = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
            u64::from(low) | u64::from(high) << ((n - 4) * 8)
        } else if n > 0 {
            u64::from(bytes[0])
                | u64::from(bytes[n / 2]) << (n / 2 * 8)
                | u64::from(bytes[n - 1]) << ((n - 1) * 8)
        } else {
            0
        }
    }
}

#[derive(Clone)]
enum Body {
    Inline(Inline),
    /// `flags` is a whole word, so the variant's bytes after `bytes` are
    /// one field and not padding: a move of the frame then copies them as
    /// whole 8-byte pieces. With a 1-byte field there, the compiler moved
    /// bytes 32..48 in five pieces (1, 8, 4, 2 and 1 bytes) that straddled
    /// the 16-byte store building the frame had made, and perf put a fifth
    /// of an async sending loop's own samples on the wait that costs.
    Shared {
        bytes: Bytes,
        flags: u64,
    },
}

impl Body {
    #[inline]
    fn flags(&self) -> u8 {
        match self {
            Body::Inline(inline) => inline.flags.bits(),
            Body::Shared { flags, .. } => *flags as u8,
        }
    }

    #[inline]
    fn set_flags(&mut self, bits: u8) {
        let new = Flags::from_bits(bits);
        match self {
            Body::Inline(inline) => inline.flags = new,
            Body::Shared { flags, .. } => *flags = u64::from(new.bits()),
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
                flags: Flags::Bits0,
            }),
        }
    }

    /// A frame holding a copy of `data` (inline when small).
    #[inline]
    pub fn copy_from_slice(data: &[u8]) -> Msg {
        Msg::copy_with_flags(data, 0)
    }

    /// A frame holding a copy of `data` whose MORE flag is `more`: built
    /// whole, where setting the flag afterwards stores one byte into the
    /// frame's last word and stalls the frame's next move (see `Inline`).
    #[inline]
    pub(crate) fn copy_with_more(data: &[u8], more: bool) -> Msg {
        Msg::copy_with_flags(data, if more { MORE } else { 0 })
    }

    #[inline(always)]
    fn copy_with_flags(data: &[u8], bits: u8) -> Msg {
        let flags = Flags::from_bits(bits);
        if data.len() <= INLINE_CAPACITY {
            // Built whole, then filled in place: built from a filled
            // `Inline`, the frame was copied once more.
            let mut msg = Msg::new();
            if let Body::Inline(inline) = &mut msg.body {
                inline.fill(data, flags);
            }
            msg
        } else {
            Msg {
                body: Body::Shared {
                    bytes: Bytes::copy_from_slice(data),
                    flags: u64::from(flags.bits()),
                },
            }
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
        // Only a change is stored: a frame just built and sent without
        // SNDMORE then moves on without a byte store into its last word
        // (see `Inline`).
        let flags = self.body.flags();
        let wanted = if more { flags | MORE } else { flags & !MORE };
        if wanted != flags {
            self.body.set_flags(wanted);
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
        msg.body
            .set_flags(if subscribe { SUBSCRIBE } else { CANCEL });
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

// Inlinable into other crates: `Socket::send` is generic, so the frame
// is then built in place in the caller (19 instructions per message less
// for a 1-byte sync send).
impl From<&[u8]> for Msg {
    #[inline]
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
    #[inline]
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
        assert_eq!(std::mem::size_of::<Option<Msg>>(), 72);
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
    fn inline_bodies_of_every_length_keep_their_bytes_and_flags() {
        for len in 0..=INLINE_CAPACITY {
            // Its own allocation of exactly `len` bytes: a read past the
            // body would leave it (Miri checks that).
            let body: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(37) ^ 0xa5)
                .collect();
            for more in [false, true] {
                let built = Msg::copy_with_more(&body, more);
                let moved = std::hint::black_box(Some(built)).expect("a frame");
                let frames = [moved.clone(), moved];
                for m in &frames {
                    assert!(m.shared().is_none(), "length {len}");
                    assert_eq!(m.as_slice(), &body[..], "length {len}");
                    assert_eq!(m.more(), more, "length {len}");
                    assert!(!m.is_subscribe() && !m.is_cancel());
                }
            }
        }
    }

    #[test]
    fn flags_change_only_what_they_name() {
        let mut m = Msg::copy_from_slice(b"topic");
        assert!(!m.more());
        m.set_more(true);
        m.set_more(true);
        assert!(m.more());
        m.set_more(false);
        assert!(!m.more());
        let mut sub = Msg::subscription(b"topic", true);
        assert!(sub.is_subscribe() && !sub.is_cancel() && !sub.more());
        sub.set_more(true);
        assert!(sub.is_subscribe() && sub.more());
        let cancel = Msg::subscription(&[7u8; 200], false);
        assert!(cancel.is_cancel() && cancel.shared().is_some());
        assert_eq!(cancel.as_slice(), &[7u8; 200][..]);
        let big = Msg::copy_with_more(&[1u8; INLINE_CAPACITY + 1], true);
        assert!(big.more() && big.shared().is_some());
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
