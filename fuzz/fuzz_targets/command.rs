//! Command::parse on arbitrary bodies: no panic, and whatever parses
//! re-encodes to a body that parses to the same command.

#![no_main]

use bytes::Bytes;
use ferromq_proto::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(command) = Command::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    assert!(
        command.validate().is_ok(),
        "parsed {command:?} does not validate"
    );
    let body = command.to_body();
    assert_eq!(body.len(), command.body_len());
    // Only READY can be re-encoded differently (a repeated property name
    // keeps one entry); every other command is byte-for-byte the input.
    if !matches!(command, Command::Ready(_)) {
        assert_eq!(&body[..], data);
    }
    let again = Command::parse(body).expect("re-encoded command must parse");
    assert_eq!(again, command);
    if let Some(pong) = command.pong_for() {
        let again = Command::parse(pong.to_body()).expect("PONG must parse");
        assert_eq!(again, pong);
    }
});
