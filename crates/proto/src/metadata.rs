//! Metadata properties: the name/value list carried by READY (and by the
//! PLAIN and CURVE handshake commands).
//!
//! ```text
//! property = name value
//! name     = short-size 1*255name-char
//! value    = 4OCTET *OCTET        ; size in network byte order
//! ```

use crate::error::{ProtocolError, Result};
use bytes::{BufMut, Bytes};

/// Property name of the sender's socket type.
pub const SOCKET_TYPE: &str = "Socket-Type";
/// Property name of the sender's routing identity.
pub const IDENTITY: &str = "Identity";
/// Property name of the requested resource (ZMTP 3.1).
pub const RESOURCE: &str = "Resource";
/// Property name ZAP handlers use for the authenticated user.
pub const USER_ID: &str = "User-Id";

//= rfc37#the-null-security-mechanism
//# The value SHALL be 0 to 2,147,483,647 (2^31-1 or INT32_MAX in C/C++)
//# octets of opaque binary data.
const MAX_VALUE_LEN: usize = i32::MAX as usize;

/// An ordered list of metadata properties. Lookups ignore the case of
/// names, as RFC 37 requires; the original spelling is kept for encoding.
///
/// ```
/// use ferromq_proto::Metadata;
/// let mut md = Metadata::new();
/// md.insert("Socket-Type", &b"REQ"[..]).unwrap();
/// md.insert("X-Color", &b"blue"[..]).unwrap();
/// assert_eq!(md.get("socket-type").map(|v| &v[..]), Some(&b"REQ"[..]));
/// let wire = md.to_bytes();
/// assert_eq!(Metadata::parse(&wire).unwrap(), md);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    props: Vec<(String, Bytes)>,
}

fn check_name(name: &[u8]) -> Result<()> {
    if name.is_empty() {
        return Err(ProtocolError::EmptyPropertyName);
    }
    //= rfc37#the-null-security-mechanism
    //# name-char = ALPHA | DIGIT | "-" | "_" | "." | "+"
    if name.len() > 255
        || !name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
    {
        return Err(ProtocolError::BadPropertyName);
    }
    Ok(())
}

impl Metadata {
    /// An empty property list.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// Adds a property, replacing any with the same name (ignoring case).
    /// Fails if the name is empty, longer than 255 octets or has characters
    /// outside `A-Z a-z 0-9 - _ . +`, or the value exceeds 2^31-1 octets.
    pub fn insert(&mut self, name: &str, value: impl Into<Bytes>) -> Result<()> {
        check_name(name.as_bytes())?;
        let value = value.into();
        if value.len() > MAX_VALUE_LEN {
            return Err(ProtocolError::Encode(
                "metadata value exceeds 2^31-1 octets",
            ));
        }
        match self
            .props
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.props.push((name.to_owned(), value)),
        }
        Ok(())
    }

    /// The value of property `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Iterates over (name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.props.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    /// True if there are no properties.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// Encoded size in octets.
    pub fn encoded_len(&self) -> usize {
        self.props
            .iter()
            .map(|(n, v)| 1 + n.len() + 4 + v.len())
            .sum()
    }

    /// Appends the wire encoding to `dst`.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        for (name, value) in &self.props {
            dst.put_u8(name.len() as u8);
            dst.put_slice(name.as_bytes());
            dst.put_u32(value.len() as u32);
            dst.put_slice(value);
        }
    }

    /// The wire encoding as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Parses a property list occupying all of `wire`. Every property must
    /// be complete: a name or value that runs past the end, an empty or
    /// malformed name, or a value size above 2^31-1 is an error. A repeated
    /// name keeps the last value.
    pub fn parse(wire: &[u8]) -> Result<Metadata> {
        Metadata::parse_shared(&Bytes::copy_from_slice(wire))
    }

    /// Like [`parse`](Metadata::parse) but the values share `wire`'s memory.
    pub fn parse_shared(wire: &Bytes) -> Result<Metadata> {
        let mut md = Metadata::new();
        let mut pos = 0usize;
        while pos < wire.len() {
            let name_len = usize::from(wire[pos]);
            pos += 1;
            let name = wire
                .get(pos..pos + name_len)
                .ok_or(ProtocolError::TruncatedProperty("name"))?;
            check_name(name)?;
            pos += name_len;
            let size = wire
                .get(pos..pos + 4)
                .ok_or(ProtocolError::TruncatedProperty("value size"))?;
            let value_len = u32::from_be_bytes([size[0], size[1], size[2], size[3]]);
            if value_len as usize > MAX_VALUE_LEN {
                return Err(ProtocolError::PropertyValueTooLarge(value_len));
            }
            pos += 4;
            let end = pos
                .checked_add(value_len as usize)
                .filter(|&end| end <= wire.len())
                .ok_or(ProtocolError::TruncatedProperty("value"))?;
            // check_name accepted ASCII only.
            let name = String::from_utf8_lossy(name).into_owned();
            let value = wire.slice(pos..end);
            pos = end;
            match md
                .props
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            {
                Some(slot) => slot.1 = value,
                None => md.props.push((name, value)),
            }
        }
        Ok(md)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_property_lists() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"\x00\0\0\0\0", ProtocolError::EmptyPropertyName),
            (b"\x05Ab", ProtocolError::TruncatedProperty("name")),
            (
                b"\x02Ab\0\0",
                ProtocolError::TruncatedProperty("value size"),
            ),
            (
                b"\x02Ab\0\0\0\x05abc",
                ProtocolError::TruncatedProperty("value"),
            ),
            (
                b"\x02Ab\xff\xff\xff\xff",
                ProtocolError::PropertyValueTooLarge(u32::MAX),
            ),
            (b"\x02A b\0\0\0\0", ProtocolError::BadPropertyName),
            (b"\x02A\x00\0\0\0\0", ProtocolError::BadPropertyName),
        ];
        for (wire, err) in cases {
            assert_eq!(&Metadata::parse(wire).unwrap_err(), err, "{wire:?}");
        }
    }

    #[test]
    fn empty_list_and_empty_values() {
        assert!(Metadata::parse(b"").unwrap().is_empty());
        let md = Metadata::parse(b"\x08Identity\0\0\0\0").unwrap();
        assert_eq!(md.get("IDENTITY").map(|v| v.len()), Some(0));
    }

    #[test]
    fn insert_validates() {
        let mut md = Metadata::new();
        assert_eq!(
            md.insert("", &b""[..]),
            Err(ProtocolError::EmptyPropertyName)
        );
        assert_eq!(
            md.insert("a b", &b""[..]),
            Err(ProtocolError::BadPropertyName)
        );
        assert_eq!(
            md.insert(&"x".repeat(256), &b""[..]),
            Err(ProtocolError::BadPropertyName)
        );
        md.insert("X-A", &b"1"[..]).unwrap();
        md.insert("x-a", &b"2"[..]).unwrap();
        assert_eq!(md.len(), 1);
        assert_eq!(&md.get("X-A").unwrap()[..], b"2");
    }
}
