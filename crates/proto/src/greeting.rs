//! The 64-octet greeting: signature, version, mechanism, as-server, filler.
//!
//! ```text
//! signature    version  mechanism   as-server  filler
//! FF 00*8 7F   03 01    "NULL"+NULs 00         00*31
//! 0     1-8 9  10 11    12-31       32         33-63
//! ```

use crate::error::{ProtocolError, Result};
use std::fmt;

/// Size of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;
/// Size of the signature that starts every ZMTP 2.0+ greeting.
pub const SIGNATURE_LEN: usize = 10;

const MAJOR_POS: usize = 10;
const MINOR_POS: usize = 11;
const MECHANISM_POS: usize = 12;
const AS_SERVER_POS: usize = 32;

/// A security mechanism name: up to 20 characters `A-Z 0-9 - _ . +`,
/// null-padded to 20 octets on the wire.
///
/// ```
/// use ferromq_proto::MechanismName;
/// assert_eq!(MechanismName::NULL.as_str(), "NULL");
/// assert!(MechanismName::new("curve").is_err()); // lower case is not allowed
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MechanismName([u8; 20]);

impl MechanismName {
    /// The NULL mechanism (no security).
    pub const NULL: MechanismName = MechanismName::from_static("NULL");
    /// The PLAIN mechanism (RFC 24).
    pub const PLAIN: MechanismName = MechanismName::from_static("PLAIN");
    /// The CURVE mechanism (RFC 25).
    pub const CURVE: MechanismName = MechanismName::from_static("CURVE");

    const fn from_static(name: &str) -> MechanismName {
        let bytes = name.as_bytes();
        let mut out = [0u8; 20];
        let mut i = 0;
        while i < bytes.len() {
            out[i] = bytes[i];
            i += 1;
        }
        MechanismName(out)
    }

    /// Validates and builds a mechanism name.
    pub fn new(name: &str) -> Result<MechanismName> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() > 20 {
            return Err(ProtocolError::BadMechanismName);
        }
        let mut raw = [0u8; 20];
        raw[..bytes.len()].copy_from_slice(bytes);
        MechanismName::from_wire(&raw)
    }

    /// Validates the 20 octets of a greeting's mechanism field: name
    /// characters, then only NULs.
    pub fn from_wire(raw: &[u8; 20]) -> Result<MechanismName> {
        //= rfc37#formal-grammar
        //# mechanism-char = "A"-"Z" | DIGIT | "-" | "_" | "." | "+" | %x0
        let len = raw.iter().position(|&b| b == 0).unwrap_or(20);
        let valid_name = raw[..len]
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_.+".contains(&b));
        if len == 0 || !valid_name || raw[len..].iter().any(|&b| b != 0) {
            return Err(ProtocolError::BadMechanismName);
        }
        Ok(MechanismName(*raw))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(20);
        // Validated on construction: ASCII only.
        std::str::from_utf8(&self.0[..len]).unwrap_or("?")
    }

    /// The 20 octets as they appear on the wire.
    pub fn as_wire(&self) -> &[u8; 20] {
        &self.0
    }
}

impl fmt::Debug for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MechanismName({})", self.as_str())
    }
}

impl fmt::Display for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ZMTP revision a connection runs after version negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZmtpVersion {
    /// ZMTP 3.0 (RFC 23): subscriptions travel as messages prefixed with
    /// 0x01 (subscribe) or 0x00 (cancel).
    V3_0,
    /// ZMTP 3.1 (RFC 37): subscriptions travel as SUBSCRIBE and CANCEL
    /// commands; PING/PONG heartbeats.
    V3_1,
}

/// A parsed ZMTP 3.x greeting.
///
/// ```
/// use ferromq_proto::{Greeting, MechanismName};
/// let g = Greeting::new(MechanismName::NULL, false);
/// let bytes = g.encode();
/// assert_eq!(&bytes[..12], b"\xff\0\0\0\0\0\0\0\0\x7f\x03\x01");
/// assert_eq!(Greeting::parse(&bytes).unwrap(), g);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    /// Major version (3 for every peer this crate accepts).
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Announced security mechanism.
    pub mechanism: MechanismName,
    /// Whether the sender acts as server in the security handshake.
    pub as_server: bool,
}

impl Greeting {
    /// Our own greeting: always ZMTP 3.1.
    pub fn new(mechanism: MechanismName, as_server: bool) -> Greeting {
        Greeting {
            major: 3,
            minor: 1,
            mechanism,
            as_server,
        }
    }

    /// The 64 octets to send. Padding and filler are zero.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut out = [0u8; GREETING_LEN];
        out[0] = 0xFF;
        out[9] = 0x7F;
        out[MAJOR_POS] = self.major;
        out[MINOR_POS] = self.minor;
        out[MECHANISM_POS..AS_SERVER_POS].copy_from_slice(self.mechanism.as_wire());
        out[AS_SERVER_POS] = u8::from(self.as_server);
        out
    }

    /// Parses a complete 64-octet greeting, rejecting legacy versions and
    /// malformed fields.
    pub fn parse(bytes: &[u8; GREETING_LEN]) -> Result<Greeting> {
        let mut reader = GreetingReader::new();
        match reader.feed(bytes)? {
            (Some(g), _) => Ok(g),
            // 64 bytes always complete a greeting or fail.
            (None, _) => Err(ProtocolError::BadSignature),
        }
    }

    /// The revision both sides speak: 3.0 rules for a 3.0 peer, 3.1 for a
    /// 3.1 or later peer ("A peer MUST accept higher protocol versions").
    pub fn negotiated_version(&self) -> ZmtpVersion {
        if self.major == 3 && self.minor == 0 {
            ZmtpVersion::V3_0
        } else {
            ZmtpVersion::V3_1
        }
    }
}

/// Reads a peer's greeting from however many bytes arrive at a time, and
/// recognises ZMTP 1.0 and 2.0 peers from their first bytes, as RFC 37's
/// "Detecting ZMTP 1.0 and 2.0 Peers" describes.
#[derive(Debug, Clone)]
pub struct GreetingReader {
    buf: [u8; GREETING_LEN],
    len: usize,
}

impl Default for GreetingReader {
    fn default() -> GreetingReader {
        GreetingReader::new()
    }
}

impl GreetingReader {
    /// A reader that has seen nothing yet.
    pub fn new() -> GreetingReader {
        GreetingReader {
            buf: [0; GREETING_LEN],
            len: 0,
        }
    }

    /// Bytes still needed to complete the greeting.
    pub fn remaining(&self) -> usize {
        GREETING_LEN - self.len
    }

    /// Consumes bytes from `input`. Returns the greeting once all 64 octets
    /// have arrived (or `None` if more are needed) and how many bytes of
    /// `input` were used; bytes after the greeting are left for the caller.
    pub fn feed(&mut self, input: &[u8]) -> Result<(Option<Greeting>, usize)> {
        let take = input.len().min(self.remaining());
        let start = self.len;
        self.buf[start..start + take].copy_from_slice(&input[..take]);
        self.len += take;
        self.check_prefix(start)?;
        if self.len < GREETING_LEN {
            return Ok((None, take));
        }
        let mut mech = [0u8; 20];
        mech.copy_from_slice(&self.buf[MECHANISM_POS..AS_SERVER_POS]);
        let mechanism = MechanismName::from_wire(&mech)?;
        Ok((
            Some(Greeting {
                major: self.buf[MAJOR_POS],
                minor: self.buf[MINOR_POS],
                mechanism,
                // libzmq treats any non-zero octet as "server"; so do we.
                as_server: self.buf[AS_SERVER_POS] != 0,
            }),
            take,
        ))
    }

    /// Checks the signature and version octets as soon as they arrive, so a
    /// legacy peer is recognised without waiting for 64 bytes it will never
    /// send. `checked` is how many bytes were already validated.
    fn check_prefix(&self, checked: usize) -> Result<()> {
        let have = self.len;
        //= rfc37#detecting-zmtp-1-0-and-2-0-peers
        //# If this first octet is not %FF, then the other peer is using ZMTP
        //# 1.0, and has sent us a short frame length for its identity.
        if checked < 1 && have >= 1 && self.buf[0] != 0xFF {
            return Err(ProtocolError::UnsupportedVersion("1.0"));
        }
        //# If the least significant bit is 0, then the other peer is using
        //# ZMTP 1.0 and has sent us a long length for its identity.
        if checked < SIGNATURE_LEN && have >= SIGNATURE_LEN && self.buf[9] & 0x01 == 0 {
            return Err(ProtocolError::UnsupportedVersion("1.0"));
        }
        //# If this is 1 or 2, we have a ZMTP 2.0 peer. If this is 3, we have
        //# a ZMTP 3.x peer.
        if checked <= MAJOR_POS && have > MAJOR_POS {
            match self.buf[MAJOR_POS] {
                // libzmq numbers revision 0 "ZMTP 1.0 with a signature".
                0 => return Err(ProtocolError::UnsupportedVersion("1.0")),
                1 | 2 => return Err(ProtocolError::UnsupportedVersion("2.0")),
                _ => {}
            }
        }
        // Only the low bit of octet 9 is significant for detection; the rest
        // of the signature is padding ("MUST NOT validate this").
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn libzmq_null_greeting() -> [u8; 64] {
        // What libzmq 4.3 sends as a NULL client: the padding field holds the
        // ZMTP 1.0 identity length (0 + 1) as a 64-bit big-endian number.
        let mut g = [0u8; 64];
        g[0] = 0xFF;
        g[8] = 0x01;
        g[9] = 0x7F;
        g[10] = 3;
        g[11] = 1;
        g[12..16].copy_from_slice(b"NULL");
        g
    }

    #[test]
    fn parses_libzmq_greeting_with_nonzero_padding() {
        let g = Greeting::parse(&libzmq_null_greeting()).unwrap();
        assert_eq!(g.mechanism, MechanismName::NULL);
        assert!(!g.as_server);
        assert_eq!(g.negotiated_version(), ZmtpVersion::V3_1);
    }

    #[test]
    fn version_negotiation() {
        let mut g = Greeting::new(MechanismName::NULL, false);
        g.minor = 0;
        assert_eq!(g.negotiated_version(), ZmtpVersion::V3_0);
        g.minor = 7;
        assert_eq!(g.negotiated_version(), ZmtpVersion::V3_1);
        g.major = 4;
        g.minor = 0;
        assert_eq!(g.negotiated_version(), ZmtpVersion::V3_1);
        assert_eq!(Greeting::parse(&g.encode()).unwrap().major, 4);
    }

    #[test]
    fn detects_zmtp_1_0_from_first_byte() {
        let mut r = GreetingReader::new();
        // A ZMTP 1.0 peer starts with its identity frame: length 1, flags 0.
        assert_eq!(
            r.feed(&[0x01]).unwrap_err(),
            ProtocolError::UnsupportedVersion("1.0")
        );
    }

    #[test]
    fn detects_zmtp_1_0_long_identity() {
        let mut r = GreetingReader::new();
        let mut bytes = [0u8; 10];
        bytes[0] = 0xFF;
        bytes[8] = 0x20; // 8-octet length
        bytes[9] = 0x00; // flags octet of a ZMTP 1.0 frame: low bit clear
        assert_eq!(r.feed(&bytes[..9]).unwrap(), (None, 9));
        assert_eq!(
            r.feed(&bytes[9..]).unwrap_err(),
            ProtocolError::UnsupportedVersion("1.0")
        );
    }

    #[test]
    fn detects_zmtp_2_0_from_revision() {
        for rev in [1u8, 2] {
            let mut bytes = libzmq_null_greeting();
            bytes[10] = rev;
            let mut r = GreetingReader::new();
            assert_eq!(
                r.feed(&bytes[..11]).unwrap_err(),
                ProtocolError::UnsupportedVersion("2.0")
            );
        }
    }

    #[test]
    fn rejects_bad_mechanism_names() {
        for name in [&b"null"[..], b"", b"NU LL", b"NULL\0X"] {
            let mut bytes = libzmq_null_greeting();
            bytes[12..32].fill(0);
            bytes[12..12 + name.len()].copy_from_slice(name);
            assert_eq!(
                Greeting::parse(&bytes).unwrap_err(),
                ProtocolError::BadMechanismName,
                "{name:?}"
            );
        }
    }

    #[test]
    fn truncated_greeting_waits_for_more() {
        let bytes = libzmq_null_greeting();
        let mut r = GreetingReader::new();
        assert_eq!(r.feed(&bytes[..63]).unwrap(), (None, 63));
        assert_eq!(r.remaining(), 1);
        let (g, used) = r.feed(&[0, 0xAA, 0xBB]).unwrap();
        assert!(g.is_some());
        assert_eq!(used, 1);
    }
}
