//! Hex encoding of message parts for the peer line protocol: lower-case
//! hex digits, and `-` for an empty part (so every part is one token).

/// Encodes a part: lower-case hex, or `-` when it is empty.
pub fn encode_part(data: &[u8]) -> String {
    if data.is_empty() {
        return "-".to_owned();
    }
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes a part written by [`encode_part`] (either case of hex digits).
pub fn decode_part(token: &str) -> Result<Vec<u8>, String> {
    if token == "-" {
        return Ok(Vec::new());
    }
    let bytes = token.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err(format!(
            "{token:?} is not hex: odd number of digits (write an empty part as -)"
        ));
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => Err(format!(
                "{token:?} is not hex: bad digit in {:?}",
                String::from_utf8_lossy(pair)
            )),
        })
        .collect()
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte_and_the_empty_part() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_part(&encode_part(&all)).unwrap(), all);
        assert_eq!(encode_part(b""), "-");
        assert_eq!(decode_part("-").unwrap(), b"");
        assert_eq!(encode_part(b"\x01A"), "0141");
        assert_eq!(decode_part("0A0b").unwrap(), b"\x0a\x0b");
    }

    #[test]
    fn rejects_bad_hex_with_a_reason() {
        assert!(decode_part("abc").unwrap_err().contains("odd"));
        assert!(decode_part("zz").unwrap_err().contains("bad digit"));
        assert!(decode_part("é1").is_err());
    }
}
