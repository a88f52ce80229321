//! Z85 on arbitrary text and bytes: no panic, and both directions
//! round-trip whenever they succeed.

#![no_main]

use ferromq_proto::z85;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(bytes) = z85::decode(&text) {
        assert_eq!(bytes.len(), text.len() / 5 * 4);
        let back = z85::encode(&bytes).expect("decoded length is a multiple of 4");
        assert_eq!(back, text);
    }

    let binary = &data[..data.len() / 4 * 4];
    let encoded = z85::encode(binary).expect("length is a multiple of 4");
    assert_eq!(encoded.len(), binary.len() / 4 * 5);
    assert_eq!(z85::decode(&encoded).expect("own encoding decodes"), binary);
    if binary.len() != data.len() {
        assert!(z85::encode(data).is_err());
    }
});
