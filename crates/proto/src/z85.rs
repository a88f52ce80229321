//! Z85 (RFC 32): the printable encoding of binary keys, 5 characters per 4
//! octets.
//!
//! ```
//! use ferromq_proto::z85;
//! let bytes = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
//! assert_eq!(z85::encode(&bytes).unwrap(), "HelloWorld");
//! assert_eq!(z85::decode("HelloWorld").unwrap(), bytes);
//! ```

//= rfc32#implementation
//# The encoding and decoding SHALL use this representation for each
//# base-85 value from zero to 84.
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

const INVALID: u8 = 0xFF;

const fn decode_table() -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 85 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
}

static DECODE: [u8; 256] = decode_table();

/// Why a Z85 conversion failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Z85Error {
    /// Binary input must be a multiple of 4 octets.
    #[error("Z85 input length {0} is not a multiple of 4")]
    BadBinaryLength(usize),
    /// Text input must be a multiple of 5 characters (octets).
    #[error("Z85 text of {0} bytes is not a multiple of 5")]
    BadTextLength(usize),
    /// A character outside the Z85 alphabet.
    #[error("invalid Z85 character {0:?} at position {1}")]
    BadCharacter(char, usize),
    /// A 5-character group whose value exceeds 2^32-1.
    #[error("Z85 group at position {0} overflows 32 bits")]
    Overflow(usize),
    /// A CURVE key in Z85 is exactly 40 characters.
    #[error("a Z85 key is 40 characters, not {0}")]
    BadKeyLength(usize),
}

/// Encodes `data` (length a multiple of 4) as Z85 text.
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    //# The binary frame SHALL have a length that is divisible by 4 with no
    //# remainder.
    if data.len() % 4 != 0 {
        return Err(Z85Error::BadBinaryLength(data.len()));
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut group = [0u8; 5];
        for slot in group.iter_mut().rev() {
            *slot = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        group.iter().for_each(|&c| out.push(char::from(c)));
    }
    Ok(out)
}

/// Decodes Z85 text (length a multiple of 5) to bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    //# The string frame SHALL have a length that is divisible by 5 with no
    //# remainder.
    let bytes = text.as_bytes();
    if bytes.len() % 5 != 0 {
        return Err(Z85Error::BadTextLength(bytes.len()));
    }
    let mut out = Vec::with_capacity(bytes.len() / 5 * 4);
    for (group_index, group) in bytes.chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (i, &c) in group.iter().enumerate() {
            let digit = DECODE[usize::from(c)];
            if digit == INVALID {
                let pos = group_index * 5 + i;
                // Report the whole character even when it is multi-byte.
                let ch = text
                    .get(pos..)
                    .and_then(|s| s.chars().next())
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(Z85Error::BadCharacter(ch, pos));
            }
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow(group_index * 5))?;
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

/// Length of a 32-octet CURVE key in Z85 text.
pub const KEY_TEXT_LEN: usize = 40;

/// Encodes a 32-octet CURVE key as its 40 characters of Z85 text (the
/// form `zmq_curve_keypair` produces and socket options accept).
///
/// ```
/// use ferromq_proto::z85;
/// let key = [0u8; 32];
/// let text = z85::encode_key(&key);
/// assert_eq!(text.len(), 40);
/// assert_eq!(z85::decode_key(&text).unwrap(), key);
/// ```
pub fn encode_key(key: &[u8; 32]) -> String {
    // 32 is a multiple of 4.
    encode(key).unwrap_or_default()
}

/// Decodes 40 characters of Z85 text into a 32-octet CURVE key.
pub fn decode_key(text: &str) -> Result<[u8; 32], Z85Error> {
    if text.len() != KEY_TEXT_LEN {
        return Err(Z85Error::BadKeyLength(text.len()));
    }
    let raw = decode(text)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&raw);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc32_test_vector() {
        //= rfc32#test-case
        //# 0x86 0x4F 0xD2 0x6F 0xB5 0x59 0xF7 0x5B  ->  "HelloWorld"
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), data);
    }

    #[test]
    fn curve_key_vector_from_libzmq_docs() {
        // The public key used in zmq_curve's man page example.
        let text = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
        let raw = decode(text).unwrap();
        assert_eq!(raw.len(), 32);
        assert_eq!(encode(&raw).unwrap(), text);
    }

    #[test]
    fn error_cases() {
        assert_eq!(encode(&[1, 2, 3]), Err(Z85Error::BadBinaryLength(3)));
        assert_eq!(decode("abcd"), Err(Z85Error::BadTextLength(4)));
        assert_eq!(decode("abc~e"), Err(Z85Error::BadCharacter('~', 3)));
        assert_eq!(decode("ab\"de"), Err(Z85Error::BadCharacter('"', 2)));
        // "%nSc1" is 2^32 (one past u32::MAX); "%nSc0" is u32::MAX.
        assert_eq!(decode("%nSc0").unwrap(), [0xFF; 4]);
        assert_eq!(decode("%nSc1"), Err(Z85Error::Overflow(0)));
        assert_eq!(decode("#####"), Err(Z85Error::Overflow(0)));
        assert!(decode("").unwrap().is_empty());
        assert_eq!(encode(&[]).unwrap(), "");
    }

    #[test]
    fn keys() {
        let text = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
        let key = decode_key(text).unwrap();
        assert_eq!(encode_key(&key), text);
        assert_eq!(decode_key("HelloWorld"), Err(Z85Error::BadKeyLength(10)));
        assert!(matches!(
            decode_key("~q:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"),
            Err(Z85Error::BadCharacter('~', 0))
        ));
    }

    #[test]
    fn multibyte_character_reported_whole() {
        let err = decode("abcé").unwrap_err();
        assert!(matches!(err, Z85Error::BadCharacter('é', 3)), "{err:?}");
    }
}
