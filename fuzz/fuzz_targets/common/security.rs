//! Shared harness of the PLAIN and CURVE handshake targets.
//!
//! Byte 0 of the input picks:
//! - bit 0: the victim is the server (1) or the client (0);
//! - bits 1-3: how many genuine exchanges (0-7) run between a genuine peer
//!   and the victim first, so the fuzzer starts in any handshake state,
//!   or in traffic (then the genuine peer queues two messages);
//! - bit 4: the rest of the input is XORed onto the genuine peer's next
//!   bytes (mutation) instead of replacing them;
//! - bits 5-6: how the bytes are cut into pieces.
//!
//! Checks: no panic; after an `Err` every later poll is `Err(Closed)`; no
//! event after a failure; the receive buffer stays within what was fed
//! plus a bounded chunk.
//!
//! CURVE makes its short-term keys and nonces from the OS random source,
//! so the same input takes slightly different paths from run to run.

use ferromq_proto::{Connection, ProtocolError, ZapReply};

/// Receive-buffer slack allowed beyond the bytes fed.
const SLACK: usize = 2 << 20;

fn settle(conn: &mut Connection) {
    loop {
        match conn.poll_event() {
            Ok(Some(_)) => {}
            Ok(None) => match conn.zap_request() {
                Some(_) => {
                    if conn.zap_reply(ZapReply::allow("fuzz")).is_err() {
                        return;
                    }
                }
                None => return,
            },
            Err(_) => return,
        }
    }
}

fn transfer(from: &mut Connection, to: &mut Connection) {
    let bytes = from.output().take_all();
    to.recv_buf().extend_from_slice(&bytes);
    settle(to);
}

fn piece_len(pattern: u8, data: &[u8], pos: usize) -> usize {
    match pattern {
        0 => data.len() - pos,
        1 => 1,
        2 => 1 + usize::from(data[pos] % 8),
        _ => 1 + usize::from(data[pos] % 64),
    }
}

/// Runs one input against a (client, server) pair made by `make`.
pub fn run(data: &[u8], make: impl FnOnce() -> (Connection, Connection)) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let (mut client, mut server) = make();
    let (peer, victim) = if control & 1 != 0 {
        (&mut client, &mut server)
    } else {
        (&mut server, &mut client)
    };
    let greeting = victim.output().take_all();
    peer.recv_buf().extend_from_slice(&greeting);
    settle(peer);
    for _ in 0..(control >> 1) & 7 {
        transfer(peer, victim);
        transfer(victim, peer);
    }
    if peer.is_ready() && victim.is_ready() {
        let _ = peer.send_message(b"genuine", true);
        let _ = peer.send_message(&[7u8; 300], false);
    }
    let genuine = peer.output().take_all();
    let stream: Vec<u8> = if control & 0x10 != 0 {
        let mut s = genuine;
        for (i, b) in rest.iter().enumerate() {
            match s.get_mut(i) {
                Some(g) => *g ^= b,
                None => s.push(*b),
            }
        }
        s
    } else {
        rest.to_vec()
    };
    let pattern = (control >> 5) & 3;

    let mut fed = victim.recv_buf().len();
    let mut failed = victim.is_failed();
    let mut pos = 0;
    while pos < stream.len() {
        let n = piece_len(pattern, &stream, pos).min(stream.len() - pos);
        victim.recv_buf().extend_from_slice(&stream[pos..pos + n]);
        pos += n;
        fed += n;
        loop {
            let cap = victim.recv_buf().capacity();
            assert!(
                cap <= fed + SLACK,
                "recv buffer {cap} after {fed} bytes fed"
            );
            match victim.poll_event() {
                Ok(Some(_)) => assert!(!failed, "event after a failure"),
                Ok(None) => {
                    if victim.zap_request().is_some() {
                        let _ = victim.zap_reply(ZapReply::allow("fuzz"));
                        continue;
                    }
                    break;
                }
                Err(ProtocolError::Closed) => {
                    assert!(failed, "Closed as the first error");
                    break;
                }
                Err(_) => {
                    assert!(!failed, "a second error after the first");
                    failed = true;
                    assert!(victim.is_failed() && !victim.is_ready());
                    assert_eq!(victim.poll_event(), Err(ProtocolError::Closed));
                    assert_eq!(victim.send_message(b"x", false), Err(ProtocolError::Closed));
                }
            }
        }
        let _ = victim.output().take_all();
    }
}
