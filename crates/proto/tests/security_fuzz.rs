//! Bounded, deterministic fuzz-style tests of the PLAIN and CURVE
//! handshakes (the coverage-guided versions are `fuzz/fuzz_targets/
//! plain_handshake.rs` and `curve_handshake.rs`).
//!
//! A genuine peer drives the victim (either role) to each handshake state
//! in turn, including traffic; then the victim gets random bytes, or the
//! genuine peer's next bytes mutated (bits flipped, cut short, spliced,
//! replayed), fed in random pieces. Whatever happens: no panic, `Closed`
//! after the first error, a receive buffer bounded by what was fed, and a
//! bounded output. The mutation choices come from fixed seeds; the key
//! material is random, so the bytes differ between runs but every run
//! exercises the same shapes.

use ferromq_proto::{
    Connection, ConnectionOptions, CurveClient, CurveKeyPair, CurveServer, LocalProperties,
    PlainClient, PlainServer, ProtocolError, SocketType, ZapContext, ZapReply,
};

/// Receive-buffer slack allowed beyond the bytes fed.
const SLACK: usize = 2 << 20;
/// Iterations per (mechanism, victim role, state).
const ROUNDS: u64 = 100;
/// Handshake states to stop in: after 0..STATES exchanges.
const STATES: usize = 5;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Between `min` and `min + spread - 1` random octets.
    fn some_bytes(&mut self, min: usize, spread: usize) -> Vec<u8> {
        let len = min + self.below(spread);
        self.bytes(len)
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Plain,
    Curve,
}

/// A fresh (client, server) pair of connections.
fn pair(kind: Kind, rng: &mut Rng) -> (Connection, Connection) {
    let opts = ConnectionOptions {
        max_frame_size: if rng.below(2) == 0 { None } else { Some(4096) },
    };
    let zap = ZapContext::new("fuzz", "127.0.0.1");
    match kind {
        Kind::Plain => (
            Connection::new(
                Box::new(
                    PlainClient::new(LocalProperties::new(SocketType::Dealer), "u", "p").unwrap(),
                ),
                opts,
            ),
            Connection::new(
                Box::new(PlainServer::new(LocalProperties::new(SocketType::Router)).with_zap(zap)),
                opts,
            ),
        ),
        Kind::Curve => {
            let server_keys = CurveKeyPair::generate();
            let client = CurveClient::new(
                LocalProperties::new(SocketType::Dealer),
                CurveKeyPair::generate(),
                *server_keys.public(),
            );
            let server = CurveServer::new(LocalProperties::new(SocketType::Router), server_keys)
                .with_zap(zap);
            (
                Connection::new(Box::new(client), opts),
                Connection::new(Box::new(server), opts),
            )
        }
    }
}

/// Polls until more input is needed or an error; answers ZAP with 200.
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

/// What the victim gets: random bytes, or `genuine` mutated.
fn hostile_input(rng: &mut Rng, genuine: &[u8]) -> Vec<u8> {
    let mut input = genuine.to_vec();
    match rng.below(7) {
        0 => return rng.some_bytes(0, 600),
        1 if !input.is_empty() => {
            // Flip a few bits.
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(input.len());
                input[at] ^= 1 << rng.below(8);
            }
        }
        2 if !input.is_empty() => input.truncate(rng.below(input.len())),
        3 => {
            // Random bytes spliced in.
            let at = rng.below(input.len() + 1);
            let junk = rng.some_bytes(1, 40);
            input.splice(at..at, junk);
        }
        4 => {
            // Replay: the genuine bytes twice.
            input.extend_from_slice(genuine);
        }
        5 if input.len() > 4 => {
            // Overwrite a range with random octets.
            let at = rng.below(input.len() - 2);
            let len = 1 + rng.below(input.len() - at - 1);
            let junk = rng.bytes(len);
            input[at..at + len].copy_from_slice(&junk);
        }
        _ => input.extend(rng.some_bytes(0, 64)),
    }
    input
}

/// Feeds `input` to `victim` in random pieces and checks the invariants.
fn feed(rng: &mut Rng, victim: &mut Connection, input: &[u8], what: &str) {
    let mut fed = victim.recv_buf().len();
    let mut pos = 0;
    let mut failed = victim.is_failed();
    while pos < input.len() {
        let n = match rng.below(3) {
            0 => input.len() - pos,
            1 => 1,
            _ => 1 + rng.below(64),
        }
        .min(input.len() - pos);
        victim.recv_buf().extend_from_slice(&input[pos..pos + n]);
        pos += n;
        fed += n;
        loop {
            let cap = victim.recv_buf().capacity();
            assert!(
                cap <= fed + SLACK,
                "{what}: recv buffer {cap} after {fed} fed"
            );
            match victim.poll_event() {
                Ok(Some(_)) => assert!(!failed, "{what}: event after failure"),
                Ok(None) => {
                    if let Some(_request) = victim.zap_request() {
                        let _ = victim.zap_reply(ZapReply::allow("fuzz"));
                        continue;
                    }
                    break;
                }
                Err(ProtocolError::Closed) => {
                    assert!(failed, "{what}: Closed as the first error");
                    break;
                }
                Err(_) => {
                    assert!(!failed, "{what}: second distinct error");
                    failed = true;
                    assert!(victim.is_failed());
                    assert!(!victim.is_ready());
                    assert_eq!(victim.poll_event(), Err(ProtocolError::Closed));
                    assert_eq!(victim.send_message(b"x", false), Err(ProtocolError::Closed));
                }
            }
        }
        // Whatever the victim answers stays small.
        let out = victim.output().take_all();
        assert!(
            out.len() <= 64 * 1024 + fed,
            "{what}: {} octets out",
            out.len()
        );
    }
}

fn run(kind: Kind, victim_is_server: bool, seed: u64) {
    let mut rng = Rng(seed);
    let mut in_traffic = 0;
    for state in 0..STATES {
        for round in 0..ROUNDS {
            let (mut client, mut server) = pair(kind, &mut rng);
            let (peer, victim) = if victim_is_server {
                (&mut client, &mut server)
            } else {
                (&mut server, &mut client)
            };
            // Greetings and `state` genuine exchanges.
            let greeting = victim.output().take_all();
            peer.recv_buf().extend_from_slice(&greeting);
            settle(peer);
            for _ in 0..state {
                transfer(peer, victim);
                transfer(victim, peer);
            }
            // In traffic, the genuine peer has messages to mutate.
            if peer.is_ready() && victim.is_ready() {
                in_traffic += 1;
                let body = rng.some_bytes(0, 300);
                let _ = peer.send_message(&body, rng.below(2) == 0);
                let _ = peer.send_message(b"", false);
            }
            let genuine = peer.output().take_all();
            let input = hostile_input(&mut rng, &genuine);
            let what = format!(
                "{kind:?} victim={} state={state} round={round}",
                if victim_is_server { "server" } else { "client" }
            );
            feed(&mut rng, victim, &input, &what);
        }
    }
    // The later states are past the handshake: traffic was fuzzed too.
    assert!(
        in_traffic >= ROUNDS,
        "{kind:?}: only {in_traffic} rounds in traffic"
    );
}

#[test]
fn plain_server_survives_hostile_clients() {
    run(Kind::Plain, true, 0x5EC0_0001);
}

#[test]
fn plain_client_survives_hostile_servers() {
    run(Kind::Plain, false, 0x5EC0_0002);
}

#[test]
fn curve_server_survives_hostile_clients() {
    run(Kind::Curve, true, 0x5EC0_0003);
}

#[test]
fn curve_client_survives_hostile_servers() {
    run(Kind::Curve, false, 0x5EC0_0004);
}

/// A genuine, unmutated stream always completes, in any piece sizes.
#[test]
fn genuine_streams_always_complete() {
    let mut rng = Rng(0x5EC0_0005);
    for kind in [Kind::Plain, Kind::Curve] {
        for _ in 0..20 {
            let (mut client, mut server) = pair(kind, &mut rng);
            for _ in 0..6 {
                transfer(&mut client, &mut server);
                transfer(&mut server, &mut client);
            }
            assert!(client.is_ready() && server.is_ready(), "{kind:?}");
            let body = rng.some_bytes(0, 3000);
            client.send_message(&body, false).unwrap();
            let wire = client.output().take_all();
            let mut got = None;
            let mut pos = 0;
            while pos < wire.len() {
                let n = (1 + rng.below(100)).min(wire.len() - pos);
                server.recv_buf().extend_from_slice(&wire[pos..pos + n]);
                pos += n;
                if let Some(ev) = server.poll_event().unwrap() {
                    got = Some(ev);
                }
            }
            match got {
                Some(ferromq_proto::Event::Message(f)) => assert_eq!(&f.body[..], &body[..]),
                other => panic!("{kind:?}: {other:?}"),
            }
        }
    }
}
