//! A whole Connection (NULL mechanism) fed arbitrary peer bytes.
//!
//! Byte 0 picks:
//! - bits 0-3: our socket type, among the eleven classic ones;
//! - bit 4: prepend a valid 64-byte NULL ZMTP 3.1 greeting, so the fuzzer
//!   starts past the greeting;
//! - bit 5 (with bit 4): also prepend a valid READY from a compatible peer,
//!   so the fuzzer starts in the traffic state;
//! - bits 6-7: how the peer bytes are cut into pieces.
//!
//! Checks: no panic; events come in a sane order; after an `Err` every
//! later poll is `Err(Closed)`; the receive buffer never grows past what
//! was fed plus a bounded chunk.

#![no_main]

use ferromq_proto::{
    Command, Connection, ConnectionOptions, Event, Greeting, LocalProperties, MechanismName,
    NullMechanism, ProtocolError, SocketType,
};
use libfuzzer_sys::fuzz_target;

const CLASSIC: [SocketType; 11] = [
    SocketType::Pair,
    SocketType::Pub,
    SocketType::Sub,
    SocketType::Req,
    SocketType::Rep,
    SocketType::Dealer,
    SocketType::Router,
    SocketType::Pull,
    SocketType::Push,
    SocketType::Xpub,
    SocketType::Xsub,
];

/// Receive-buffer slack allowed beyond the bytes fed.
const SLACK: usize = 2 << 20;

fn piece_len(pattern: u8, data: &[u8], pos: usize) -> usize {
    match pattern {
        0 => data.len() - pos,
        1 => 1,
        2 => 1 + usize::from(data[pos] % 8),
        _ => 1 + usize::from(data[pos] % 64),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let ours = CLASSIC[usize::from(control & 0x0F) % CLASSIC.len()];
    let mut stream = Vec::with_capacity(rest.len() + 128);
    if control & 0x10 != 0 {
        stream.extend_from_slice(&Greeting::new(MechanismName::NULL, false).encode());
        if control & 0x20 != 0 {
            let peer = CLASSIC
                .into_iter()
                .find(|&t| ours.is_compatible(t))
                .expect("every classic type has a partner");
            Command::Ready(LocalProperties::new(peer).to_metadata()).encode_frame(&mut stream);
        }
    }
    stream.extend_from_slice(rest);
    let pattern = control >> 6;

    let mechanism = NullMechanism::new(LocalProperties::new(ours));
    let mut conn = Connection::new(Box::new(mechanism), ConnectionOptions::default());
    let _ = conn.output().take_all();

    let mut fed = 0usize;
    let mut handshake_done = false;
    let mut pos = 0;
    'feed: while pos < stream.len() {
        let n = piece_len(pattern, &stream, pos).min(stream.len() - pos);
        conn.recv_buf().extend_from_slice(&stream[pos..pos + n]);
        pos += n;
        fed += n;
        loop {
            let cap = conn.recv_buf().capacity();
            assert!(
                cap <= fed + SLACK,
                "recv buffer {cap} after {fed} bytes fed"
            );
            match conn.poll_event() {
                Ok(None) => break,
                Ok(Some(Event::HandshakeComplete(info))) => {
                    assert!(!handshake_done, "second HandshakeComplete");
                    assert!(ours.is_compatible(info.socket_type));
                    assert!(conn.is_ready());
                    handshake_done = true;
                    conn.send_message(b"reply", false)
                        .expect("send after handshake");
                }
                Ok(Some(event)) => {
                    assert!(handshake_done, "{event:?} before the handshake");
                    if let Event::Ping { .. } = event {
                        assert!(!conn.output().is_empty(), "PING without a PONG queued");
                    }
                }
                Err(ProtocolError::Closed) => panic!("Closed as the first error"),
                Err(_) => {
                    assert!(conn.is_failed());
                    assert!(!conn.is_ready());
                    assert_eq!(conn.poll_event(), Err(ProtocolError::Closed));
                    assert_eq!(conn.send_message(b"x", false), Err(ProtocolError::Closed));
                    // More bytes change nothing.
                    conn.recv_buf().extend_from_slice(&stream[pos..]);
                    assert_eq!(conn.poll_event(), Err(ProtocolError::Closed));
                    break 'feed;
                }
            }
            let _ = conn.output().take_all();
        }
    }
});
