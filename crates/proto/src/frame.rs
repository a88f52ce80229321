//! Frames: the flags octet, the size field, the body.
//!
//! Encoding never copies a body the caller does not want copied:
//! [`FrameHeader`] is the 2 or 9 header octets on their own, so a large body
//! can go out as a separate slice of a vectored write. Decoding works on a
//! caller-owned [`BytesMut`] so received bodies are handed out as slices of
//! the read buffer (`Bytes`), never copied.

use crate::error::{ProtocolError, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};

//= rfc37#framing
//# Bit 0 (MORE): More frames to follow.
const MORE: u8 = 0x01;
//# Bit 1 (LONG): Long frame.
const LONG: u8 = 0x02;
//# Bit 2 (COMMAND): Command frame.
const COMMAND: u8 = 0x04;
//# Bits 7-3: Reserved. Bits 7-3 are reserved for future use and MUST be zero.
const RESERVED: u8 = 0xF8;

/// The largest body a short frame can carry.
pub const MAX_SHORT_BODY: usize = 255;
/// The longest header: flags octet plus an 8-octet size.
pub const MAX_HEADER_LEN: usize = 9;

/// What a frame carries and whether more frames of the message follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A message frame; `more` is the MORE flag.
    Message {
        /// More frames of the same message follow.
        more: bool,
    },
    /// A command frame (never has MORE).
    Command,
}

impl FrameKind {
    /// A message frame that is the last of its message.
    pub const LAST: FrameKind = FrameKind::Message { more: false };
    /// A message frame with more frames following.
    pub const MORE: FrameKind = FrameKind::Message { more: true };

    /// True for a message frame with the MORE flag.
    pub fn more(self) -> bool {
        matches!(self, FrameKind::Message { more: true })
    }

    /// True for a command frame.
    pub fn is_command(self) -> bool {
        matches!(self, FrameKind::Command)
    }

    fn flag_bits(self) -> u8 {
        match self {
            FrameKind::Message { more: false } => 0,
            FrameKind::Message { more: true } => MORE,
            FrameKind::Command => COMMAND,
        }
    }
}

/// The encoded header of one frame (2 or 9 octets), kept apart from the
/// body so a large body can be written with vectored I/O.
///
/// ```
/// use ferromq_proto::{FrameHeader, FrameKind};
/// assert_eq!(FrameHeader::new(FrameKind::MORE, 5).as_bytes(), &[0x01, 5]);
/// assert_eq!(
///     FrameHeader::new(FrameKind::LAST, 256).as_bytes(),
///     &[0x02, 0, 0, 0, 0, 0, 0, 1, 0]
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl FrameHeader {
    /// The header for a body of `body_len` octets: short when it fits in
    /// one octet, long otherwise.
    pub fn new(kind: FrameKind, body_len: usize) -> FrameHeader {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        //= rfc37#framing
        //# A short frame has a body of 0 to 255 octets. A long frame has a
        //# body of 0 to 2^63-1 octets.
        if body_len <= MAX_SHORT_BODY {
            bytes[0] = kind.flag_bits();
            bytes[1] = body_len as u8;
            FrameHeader { bytes, len: 2 }
        } else {
            bytes[0] = kind.flag_bits() | LONG;
            bytes[1..9].copy_from_slice(&(body_len as u64).to_be_bytes());
            FrameHeader { bytes, len: 9 }
        }
    }

    /// The header octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Header length in octets (2 or 9).
    #[allow(clippy::len_without_is_empty)] // a header is never empty
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

/// Appends a whole frame (header and a copy of `body`) to `dst`.
///
/// ```
/// use ferromq_proto::{encode_frame, FrameKind};
/// let mut out = Vec::new();
/// encode_frame(&mut out, FrameKind::LAST, b"hi");
/// assert_eq!(out, b"\x00\x02hi");
/// ```
pub fn encode_frame<B: BufMut>(dst: &mut B, kind: FrameKind, body: &[u8]) {
    let header = FrameHeader::new(kind, body.len());
    dst.put_slice(header.as_bytes());
    dst.put_slice(body);
}

/// One decoded frame. The body shares the receive buffer's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Message (with MORE flag) or command.
    pub kind: FrameKind,
    /// The body octets.
    pub body: Bytes,
}

impl Frame {
    /// A message frame.
    pub fn message(body: impl Into<Bytes>, more: bool) -> Frame {
        Frame {
            kind: FrameKind::Message { more },
            body: body.into(),
        }
    }

    /// Appends this frame's encoding to `dst`.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        encode_frame(dst, self.kind, &self.body);
    }
}

/// Reads how much input to ask for at most while a large body is still
/// arriving: the decoder never makes its caller hold more than what was
/// received plus this much.
pub const MAX_READ_CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
enum DecodeState {
    Header,
    Body { kind: FrameKind, len: usize },
}

/// Incremental frame decoder over a caller-owned buffer.
///
/// Feed it by appending received bytes to a `BytesMut` and calling
/// [`decode`](FrameDecoder::decode) until it returns `Ok(None)`. Bytes may
/// arrive one at a time or many frames at once; the frames are the same.
/// A declared size is checked against the limit as soon as the header is
/// complete, before any body byte is buffered.
///
/// ```
/// use bytes::BytesMut;
/// use ferromq_proto::{FrameDecoder, FrameKind};
/// let mut dec = FrameDecoder::new(None);
/// let mut buf = BytesMut::from(&b"\x01\x03abc\x00\x00"[..]);
/// let f1 = dec.decode(&mut buf).unwrap().unwrap();
/// assert_eq!((f1.kind, &f1.body[..]), (FrameKind::MORE, &b"abc"[..]));
/// let f2 = dec.decode(&mut buf).unwrap().unwrap();
/// assert_eq!((f2.kind, f2.body.len()), (FrameKind::LAST, 0));
/// assert!(dec.decode(&mut buf).unwrap().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: u64,
    state: DecodeState,
}

impl FrameDecoder {
    /// A decoder rejecting frames larger than `max_frame_size` octets
    /// (`None` = no limit beyond what the machine can address). Like
    /// libzmq's ZMQ_MAXMSGSIZE, the limit applies to each frame (a libzmq
    /// "message part"), commands included.
    pub fn new(max_frame_size: Option<u64>) -> FrameDecoder {
        // Nothing larger than isize::MAX can ever be held in memory.
        let addressable = isize::MAX as u64;
        FrameDecoder {
            max_frame_size: max_frame_size.map_or(addressable, |m| m.min(addressable)),
            state: DecodeState::Header,
        }
    }

    /// Changes the size limit (applies from the next frame header on).
    pub fn set_max_frame_size(&mut self, max_frame_size: Option<u64>) {
        self.max_frame_size = FrameDecoder::new(max_frame_size).max_frame_size;
    }

    /// How many more octets the frame in progress needs, capped at
    /// [`MAX_READ_CHUNK`]; at least 1. A caller sizing its next read with
    /// this never buffers more than it received plus one chunk.
    pub fn read_hint(&self, buffered: usize) -> usize {
        let needed = match self.state {
            DecodeState::Header => 2usize.saturating_sub(buffered),
            DecodeState::Body { len, .. } => len.saturating_sub(buffered),
        };
        needed.clamp(1, MAX_READ_CHUNK)
    }

    /// Octets of the frame in progress still to arrive, once its header has
    /// been decoded; 0 between frames.
    pub fn body_missing(&self, buffered: usize) -> usize {
        match self.state {
            DecodeState::Header => 0,
            DecodeState::Body { len, .. } => len.saturating_sub(buffered),
        }
    }

    /// Decodes the next frame from the front of `src`, consuming its bytes.
    /// Returns `Ok(None)` when `src` does not yet hold a whole frame.
    #[inline]
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>> {
        if let DecodeState::Header = self.state {
            match self.decode_header(src)? {
                Some(state) => self.state = state,
                None => return Ok(None),
            }
        }
        let DecodeState::Body { kind, len } = self.state else {
            return Ok(None);
        };
        if src.len() < len {
            return Ok(None);
        }
        self.state = DecodeState::Header;
        Ok(Some(Frame {
            kind,
            body: src.split_to(len).freeze(),
        }))
    }

    /// Offers the next frame to `accept` by reference, without splitting
    /// it off `src`, when it is a message frame (not a command) shorter
    /// than `limit` whose body has fully arrived. If `accept` returns true
    /// the frame is consumed. Returns `Ok(None)` when the next frame is not
    /// such a frame (or is incomplete): use [`decode`](Self::decode) then.
    ///
    /// For small messages the caller copies anyway, and splitting each one
    /// off a shared buffer costs two refcount updates.
    #[inline]
    pub fn decode_small(
        &mut self,
        src: &mut BytesMut,
        limit: usize,
        accept: impl FnOnce(&[u8], bool) -> bool,
    ) -> Result<Option<bool>> {
        if let DecodeState::Header = self.state {
            // Only a complete small message frame is worth starting here.
            let Some(&flags) = src.first() else {
                return Ok(None);
            };
            if flags & (COMMAND | LONG) != 0 {
                return Ok(None);
            }
            match src.get(1) {
                Some(&size) if (size as usize) < limit && src.len() >= 2 + size as usize => {}
                _ => return Ok(None),
            }
            match self.decode_header(src)? {
                Some(state) => self.state = state,
                None => return Ok(None),
            }
        }
        let DecodeState::Body {
            kind: FrameKind::Message { more },
            len,
        } = self.state
        else {
            return Ok(None);
        };
        if len >= limit || src.len() < len {
            return Ok(None);
        }
        if !accept(&src[..len], more) {
            return Ok(Some(false));
        }
        src.advance(len);
        self.state = DecodeState::Header;
        Ok(Some(true))
    }

    fn decode_header(&self, src: &mut BytesMut) -> Result<Option<DecodeState>> {
        let Some(&flags) = src.first() else {
            return Ok(None);
        };
        if flags & RESERVED != 0 {
            return Err(ProtocolError::ReservedFlags(flags));
        }
        //= rfc37#framing
        //# This bit SHALL be zero on command frames.
        let kind = match (flags & COMMAND != 0, flags & MORE != 0) {
            (true, true) => return Err(ProtocolError::CommandWithMore),
            (true, false) => FrameKind::Command,
            (false, more) => FrameKind::Message { more },
        };
        let (header_len, size) = if flags & LONG == 0 {
            match src.get(1) {
                Some(&size) => (2, u64::from(size)),
                None => return Ok(None),
            }
        } else {
            match src.get(1..9) {
                Some(raw) => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(raw);
                    (9, u64::from_be_bytes(be))
                }
                None => return Ok(None),
            }
        };
        if size > self.max_frame_size {
            return Err(ProtocolError::FrameTooLarge {
                size,
                max: self.max_frame_size,
            });
        }
        src.advance(header_len);
        // Bounded by max_frame_size <= isize::MAX above.
        Ok(Some(DecodeState::Body {
            kind,
            len: size as usize,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut FrameDecoder, buf: &mut BytesMut) -> Result<Vec<Frame>> {
        let mut out = Vec::new();
        while let Some(f) = dec.decode(buf)? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn short_long_boundary() {
        for len in [0usize, 1, 254, 255, 256, 257, 70_000] {
            let body = vec![0xAB; len];
            let mut wire = Vec::new();
            encode_frame(&mut wire, FrameKind::LAST, &body);
            assert_eq!(wire.len(), len + if len <= 255 { 2 } else { 9 });
            let mut buf = BytesMut::from(&wire[..]);
            let frames = decode_all(&mut FrameDecoder::new(None), &mut buf).unwrap();
            assert_eq!(frames, vec![Frame::message(body, false)]);
        }
    }

    #[test]
    fn long_frame_with_small_size_is_accepted() {
        // RFC 37 says a short body SHOULD use a short size; MUST-accept the long form.
        let mut buf = BytesMut::from(&b"\x02\0\0\0\0\0\0\0\x01x"[..]);
        let f = FrameDecoder::new(None).decode(&mut buf).unwrap().unwrap();
        assert_eq!(&f.body[..], b"x");
    }

    #[test]
    fn reserved_bits_rejected() {
        for flags in [0x08u8, 0x10, 0x20, 0x40, 0x80, 0xFF] {
            let mut buf = BytesMut::from(&[flags, 0][..]);
            assert_eq!(
                FrameDecoder::new(None).decode(&mut buf).unwrap_err(),
                ProtocolError::ReservedFlags(flags)
            );
        }
    }

    #[test]
    fn command_with_more_rejected() {
        for flags in [0x05u8, 0x07] {
            let mut buf = BytesMut::from(&[flags, 0, 0, 0, 0, 0, 0, 0, 0][..]);
            assert_eq!(
                FrameDecoder::new(None).decode(&mut buf).unwrap_err(),
                ProtocolError::CommandWithMore
            );
        }
    }

    #[test]
    fn oversize_rejected_at_header_time() {
        let mut dec = FrameDecoder::new(Some(100));
        let mut buf = BytesMut::from(&[0x00, 100][..]);
        assert!(dec.decode(&mut buf).unwrap().is_none()); // exactly the max: fine
        let mut dec = FrameDecoder::new(Some(100));
        let mut buf = BytesMut::from(&[0x00, 101][..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap_err(),
            ProtocolError::FrameTooLarge {
                size: 101,
                max: 100
            }
        );
    }

    #[test]
    fn huge_declared_size_does_not_allocate() {
        let mut dec = FrameDecoder::new(None);
        let mut buf = BytesMut::with_capacity(64);
        // A long message frame declaring 2^62 bytes, followed by a few.
        buf.extend_from_slice(&[0x02, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
        assert!(dec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() < 1024);
        assert_eq!(dec.read_hint(buf.len()), MAX_READ_CHUNK);
        // 2^63 and beyond cannot be addressed at all: rejected outright.
        let mut buf = BytesMut::from(&[0x02, 0x80, 0, 0, 0, 0, 0, 0, 0][..]);
        assert!(matches!(
            FrameDecoder::new(None).decode(&mut buf),
            Err(ProtocolError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, FrameKind::MORE, b"");
        encode_frame(&mut wire, FrameKind::Command, b"\x04PING\0\0");
        encode_frame(&mut wire, FrameKind::LAST, &[7u8; 300]);
        let expected =
            decode_all(&mut FrameDecoder::new(None), &mut BytesMut::from(&wire[..])).unwrap();
        assert_eq!(expected.len(), 3);
        let mut dec = FrameDecoder::new(None);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in &wire {
            buf.put_u8(b);
            got.extend(decode_all(&mut dec, &mut buf).unwrap());
        }
        assert_eq!(got, expected);
        assert!(buf.is_empty());
    }

    #[test]
    fn decode_small_sees_the_same_frames_as_decode() {
        let frames: Vec<(FrameKind, Vec<u8>)> = vec![
            (FrameKind::LAST, b"a".to_vec()),
            (FrameKind::MORE, vec![7; 40]),
            (FrameKind::LAST, vec![8; 300]),
            (FrameKind::Command, b"\x04PING\x00\x00".to_vec()),
            (FrameKind::LAST, Vec::new()),
            (FrameKind::LAST, vec![9; 100]),
        ];
        let mut wire = Vec::new();
        for (kind, body) in &frames {
            encode_frame(&mut wire, *kind, body);
        }
        // Fed in every chunk size, each frame comes out once, in order,
        // whichever path it took.
        for chunk in [1usize, 2, 3, 7, 64, wire.len()] {
            let mut dec = FrameDecoder::new(None);
            let mut buf = BytesMut::new();
            let mut got: Vec<(FrameKind, Vec<u8>)> = Vec::new();
            let mut refuse_next = true;
            for piece in wire.chunks(chunk) {
                buf.extend_from_slice(piece);
                loop {
                    let mut taken = None;
                    let small = dec
                        .decode_small(&mut buf, 64, |body, more| {
                            // Refuse each small frame once: it must stay.
                            if std::mem::take(&mut refuse_next) {
                                return false;
                            }
                            refuse_next = true;
                            taken = Some((FrameKind::Message { more }, body.to_vec()));
                            true
                        })
                        .unwrap();
                    match small {
                        Some(true) => got.push(taken.unwrap()),
                        Some(false) => continue,
                        None => match dec.decode(&mut buf).unwrap() {
                            Some(f) => got.push((f.kind, f.body.to_vec())),
                            None => break,
                        },
                    }
                }
            }
            assert_eq!(got, frames, "chunk {chunk}");
        }
    }
}
