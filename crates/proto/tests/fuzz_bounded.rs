//! Bounded, deterministic fuzz-style tests that run with `cargo test`.
//!
//! The coverage-guided fuzz targets live in `fuzz/` (they need nightly and
//! cargo-fuzz); these tests run a fixed number of iterations from fixed
//! seeds, so every run checks exactly the same inputs:
//!
//! * random bytes, and random frame-shaped bytes, through [`FrameDecoder`]
//!   cut at random points: no panic, the same frames and error however the
//!   input is cut, every frame re-encodes to itself;
//! * a valid peer stream (greeting, READY, messages, commands) with random
//!   mutations, fed to a [`Connection`] in random pieces: no panic, `Closed`
//!   after the first error, a receive buffer bounded by what was fed, and
//!   an unmutated stream always yields the handshake and every message.

use bytes::{Bytes, BytesMut};
use ferromq_proto::{
    encode_frame, Command, Connection, ConnectionOptions, Event, Frame, FrameDecoder, FrameKind,
    Greeting, LocalProperties, MechanismName, Metadata, NullMechanism, PeerInfo, ProtocolError,
    SocketType, ZmtpVersion, GREETING_LEN, MAX_READ_CHUNK,
};

/// How much the receive buffer may exceed the bytes fed so far when the
/// caller only appends what it read.
const SLACK: usize = 2 << 20;

/// The largest receive buffer allowed after `fed` bytes. A caller that only
/// appends gets `fed + SLACK`. One that reserves `read_hint()` before each
/// read (as a transport loop does) may see `BytesMut` double its
/// allocation, so it gets twice what it received plus one read chunk. In
/// both cases a length field declared by the peer must not matter.
fn capacity_bound(fed: usize, reserves: bool) -> usize {
    if reserves {
        2 * (fed + MAX_READ_CHUNK)
    } else {
        fed + SLACK
    }
}

/// SplitMix64: tiny, fast, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform-ish in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Cuts `len` bytes into pieces, in one of several styles.
fn split_points(rng: &mut Rng, len: usize) -> Vec<usize> {
    let style = rng.below(5);
    let mut cuts = Vec::new();
    let mut pos = 0;
    while pos < len {
        let n = match style {
            0 => len - pos,
            1 => 1,
            2 => rng.range(1, 8),
            3 => rng.range(1, 300),
            _ => {
                if rng.chance(2) {
                    1
                } else {
                    rng.range(1, 2048)
                }
            }
        };
        pos = (pos + n).min(len);
        cuts.push(pos);
    }
    cuts
}

// ---------------------------------------------------------------------------
// (a) FrameDecoder on random input.

/// Decodes every whole frame in `buf` into `out`; the error that stopped
/// decoding, if any.
fn drain(
    dec: &mut FrameDecoder,
    buf: &mut BytesMut,
    out: &mut Vec<Frame>,
) -> Option<ProtocolError> {
    loop {
        match dec.decode(buf) {
            Ok(Some(frame)) => out.push(frame),
            Ok(None) => {
                let hint = dec.read_hint(buf.len());
                assert!((1..=MAX_READ_CHUNK).contains(&hint), "read_hint {hint}");
                return None;
            }
            Err(err) => return Some(err),
        }
    }
}

/// Random bytes shaped like a run of frames: mostly valid headers, with
/// random flags, sizes and long/short forms, then possibly garbage.
fn frame_shaped(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.range(0, 8) {
        let flags = if rng.chance(10) {
            rng.byte()
        } else {
            rng.pick(&[0x00u8, 0x01, 0x02, 0x03, 0x04, 0x06])
        };
        out.push(flags);
        let len = if rng.chance(4) {
            rng.range(0, 700)
        } else {
            rng.range(0, 40)
        };
        if flags & 0x02 == 0 {
            out.push(len.min(255) as u8);
        } else if rng.chance(20) {
            out.extend_from_slice(&rng.next().to_be_bytes());
        } else {
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend(rng.bytes(len));
    }
    if rng.chance(3) {
        let extra = rng.range(0, 16);
        out.extend(rng.bytes(extra));
    }
    out
}

#[test]
fn frame_decoder_random_input() {
    const CASES: usize = 50_000;
    let limits = [
        None,
        None,
        Some(0),
        Some(1),
        Some(255),
        Some(256),
        Some(500),
    ];
    let mut rng = Rng(0x5EED_F00D_0000_0001);
    let (mut frames_seen, mut errors_seen) = (0usize, 0usize);
    for case in 0..CASES {
        let input = if case % 2 == 0 {
            let len = rng.range(0, 600);
            rng.bytes(len)
        } else {
            frame_shaped(&mut rng)
        };
        let limit = rng.pick(&limits);

        let mut whole = Vec::new();
        let whole_err = drain(
            &mut FrameDecoder::new(limit),
            &mut BytesMut::from(&input[..]),
            &mut whole,
        );

        let mut dec = FrameDecoder::new(limit);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        let mut err = None;
        let mut start = 0;
        for end in split_points(&mut rng, input.len()) {
            buf.extend_from_slice(&input[start..end]);
            start = end;
            err = drain(&mut dec, &mut buf, &mut frames);
            if err.is_some() {
                break;
            }
        }
        assert_eq!(frames, whole, "case {case}: frames depend on the split");
        assert_eq!(err, whole_err, "case {case}: error depends on the split");

        for frame in &frames {
            if let Some(max) = limit {
                assert!(frame.body.len() as u64 <= max, "case {case}");
            }
            let mut wire = BytesMut::new();
            frame.encode(&mut wire);
            let again = FrameDecoder::new(limit)
                .decode(&mut wire)
                .expect("re-encoded frame decodes")
                .expect("re-encoded frame is complete");
            assert_eq!(&again, frame, "case {case}");
            assert!(
                wire.is_empty(),
                "case {case}: stray bytes after re-encoding"
            );
        }
        frames_seen += frames.len();
        errors_seen += usize::from(err.is_some());
    }
    eprintln!("frame decoder: {CASES} cases, {frames_seen} frames, {errors_seen} errors");
    // The frame-shaped half must reach past the first header often.
    assert!(frames_seen > CASES / 2, "only {frames_seen} frames decoded");
}

// ---------------------------------------------------------------------------
// (b) Connection on mutated valid peer streams.

const CLASSIC_PAIRS: [(SocketType, SocketType); 12] = [
    (SocketType::Req, SocketType::Rep),
    (SocketType::Rep, SocketType::Req),
    (SocketType::Req, SocketType::Router),
    (SocketType::Router, SocketType::Dealer),
    (SocketType::Dealer, SocketType::Router),
    (SocketType::Dealer, SocketType::Dealer),
    (SocketType::Pub, SocketType::Xsub),
    (SocketType::Xpub, SocketType::Sub),
    (SocketType::Sub, SocketType::Pub),
    (SocketType::Pull, SocketType::Push),
    (SocketType::Push, SocketType::Pull),
    (SocketType::Pair, SocketType::Pair),
];

/// A valid stream from the peer, with where its length fields are.
struct PeerStream {
    ours: SocketType,
    bytes: Vec<u8>,
    /// (offset, header length) of every frame header.
    frame_headers: Vec<(usize, usize)>,
    /// Offset of every metadata value-size field in the READY.
    property_sizes: Vec<usize>,
    /// What an unmutated stream must produce, in order.
    expected: Vec<Event>,
}

fn push_frame(s: &mut PeerStream, kind: FrameKind, body: &[u8]) {
    let start = s.bytes.len();
    encode_frame(&mut s.bytes, kind, body);
    let header_len = s.bytes.len() - start - body.len();
    s.frame_headers.push((start, header_len));
}

fn random_topic(rng: &mut Rng, max: usize) -> Bytes {
    let len = rng.range(0, max);
    Bytes::from(rng.bytes(len))
}

fn peer_stream(rng: &mut Rng) -> PeerStream {
    let (ours, peer) = rng.pick(&CLASSIC_PAIRS);
    let mut s = PeerStream {
        ours,
        bytes: Vec::new(),
        frame_headers: Vec::new(),
        property_sizes: Vec::new(),
        expected: Vec::new(),
    };

    // Greeting: ours, libzmq's (non-zero padding), 3.0, or a later 3.x/4.x.
    let mut greeting = Greeting::new(MechanismName::NULL, false).encode();
    match rng.below(5) {
        0 => greeting[8] = 1,
        1 => greeting[11] = 0,
        2 => greeting[11] = 7,
        3 => {
            greeting[10] = 4;
            greeting[11] = 0;
        }
        _ => {}
    }
    let version = if greeting[10] == 3 && greeting[11] == 0 {
        ZmtpVersion::V3_0
    } else {
        ZmtpVersion::V3_1
    };
    s.bytes.extend_from_slice(&greeting);

    // READY with the peer's socket type, maybe an identity and extras.
    let mut local = LocalProperties::new(peer);
    local.identity = random_topic(rng, 12);
    for i in 0..rng.range(0, 3) {
        let value = random_topic(rng, 40);
        local
            .extra
            .insert(&format!("X-Prop{i}"), value)
            .expect("valid property name");
    }
    let metadata: Metadata = local.to_metadata();
    let ready = Command::Ready(metadata.clone()).to_body();
    push_frame(&mut s, FrameKind::Command, &ready);
    // Value-size fields: after the frame header, "\x05READY", then each
    // property's name-size octet and name.
    let mut pos = s.bytes.len() - ready.len() + 6;
    for (name, value) in metadata.iter() {
        pos += 1 + name.len();
        let size = u32::try_from(value.len()).expect("small value");
        assert_eq!(
            s.bytes[pos..pos + 4],
            size.to_be_bytes(),
            "offset of {name}"
        );
        s.property_sizes.push(pos);
        pos += 4 + value.len();
    }
    s.expected.push(Event::HandshakeComplete(PeerInfo {
        socket_type: peer,
        metadata,
        version,
    }));

    // Traffic: messages (some long, some multipart) and commands.
    for _ in 0..rng.range(2, 10) {
        match rng.below(8) {
            0 => {
                let topic = random_topic(rng, 20);
                push_frame(
                    &mut s,
                    FrameKind::Command,
                    &Command::Subscribe(topic.clone()).to_body(),
                );
                s.expected.push(Event::Subscribe(topic));
            }
            1 => {
                let topic = random_topic(rng, 20);
                push_frame(
                    &mut s,
                    FrameKind::Command,
                    &Command::Cancel(topic.clone()).to_body(),
                );
                s.expected.push(Event::Cancel(topic));
            }
            2 => {
                let ttl = rng.next() as u16;
                let context = random_topic(rng, 20);
                push_frame(
                    &mut s,
                    FrameKind::Command,
                    &Command::Ping { ttl, context }.to_body(),
                );
                s.expected.push(Event::Ping { ttl });
            }
            3 => {
                let context = random_topic(rng, 16);
                let pong = Command::Pong {
                    context: context.clone(),
                };
                push_frame(&mut s, FrameKind::Command, &pong.to_body());
                s.expected.push(Event::Pong { context });
            }
            4 => {
                let unknown = Command::Unknown {
                    name: Bytes::from_static(b"XYZZY"),
                    data: random_topic(rng, 30),
                };
                push_frame(&mut s, FrameKind::Command, &unknown.to_body());
                s.expected.push(Event::Command(unknown));
            }
            _ => {
                let parts = rng.range(1, 3);
                for part in 0..parts {
                    let len = if rng.chance(5) {
                        rng.range(256, 5000)
                    } else {
                        rng.range(0, 100)
                    };
                    let frame = Frame::message(rng.bytes(len), part + 1 < parts);
                    push_frame(&mut s, frame.kind, &frame.body);
                    s.expected.push(Event::Message(frame));
                }
            }
        }
    }
    s
}

/// Lengths a hostile peer might declare.
fn hostile_size(rng: &mut Rng, remaining: usize) -> u64 {
    let random = rng.next();
    rng.pick(&[
        u64::MAX,
        1 << 63,
        (1 << 63) - 1,
        1 << 62,
        1 << 40,
        u64::from(u32::MAX),
        isize::MAX as u64,
        (MAX_READ_CHUNK * 4) as u64,
        remaining as u64 + 1,
        random,
    ])
}

/// Applies 1 to 4 random mutations to `s.bytes`.
fn mutate(rng: &mut Rng, s: &PeerStream) -> Vec<u8> {
    let mut bytes = s.bytes.clone();
    let count = rng.range(1, 4);
    // Structural mutations first (their offsets refer to the original
    // stream), from the back so earlier offsets stay valid.
    let mut structural: Vec<(usize, bool)> = Vec::new();
    let mut byte_level = 0;
    for _ in 0..count {
        match rng.below(10) {
            0 | 1 => {
                let (off, _) = rng.pick(&s.frame_headers);
                structural.push((off, true));
            }
            2 => {
                if let Some(&off) = s
                    .property_sizes
                    .get(rng.below(s.property_sizes.len().max(1)))
                {
                    structural.push((off, false));
                }
            }
            _ => byte_level += 1,
        }
    }
    structural.sort_unstable_by_key(|m| std::cmp::Reverse(m.0));
    structural.dedup_by_key(|m| m.0);
    for (off, is_frame) in structural {
        if is_frame {
            let header_len = s
                .frame_headers
                .iter()
                .find(|h| h.0 == off)
                .map_or(2, |h| h.1);
            let flags = bytes[off] | 0x02;
            let size = hostile_size(rng, bytes.len() - off);
            let mut header = vec![flags];
            header.extend_from_slice(&size.to_be_bytes());
            bytes.splice(off..off + header_len, header);
        } else {
            let random = rng.next() as u32;
            let size: u32 = rng.pick(&[u32::MAX, 0x8000_0000, 0x7FFF_FFFF, 0x10_0000, random]);
            bytes[off..off + 4].copy_from_slice(&size.to_be_bytes());
        }
    }
    for _ in 0..byte_level {
        if bytes.is_empty() {
            break;
        }
        let pos = rng.below(bytes.len());
        match rng.below(7) {
            0 | 1 => bytes[pos] ^= 1 << rng.below(8),
            2 => bytes[pos] = rng.pick(&[0x00, 0xFF, 0x7F, 0x80, 0x02, 0x04, 0x06, 0x01]),
            3 => {
                let n = rng.range(1, 4);
                let extra = rng.bytes(n);
                bytes.splice(pos..pos, extra);
            }
            4 => {
                let end = (pos + rng.range(1, 4)).min(bytes.len());
                bytes.drain(pos..end);
            }
            5 => bytes.truncate(pos),
            _ => {
                // Copy a slice elsewhere (repeated frames, repeated READY).
                let end = (pos + rng.range(1, 64)).min(bytes.len());
                let chunk = bytes[pos..end].to_vec();
                let at = rng.below(bytes.len() + 1);
                bytes.splice(at..at, chunk);
            }
        }
    }
    bytes
}

/// What happened when a stream was fed to a connection.
struct Outcome {
    events: Vec<Event>,
    error: Option<ProtocolError>,
    past_greeting: bool,
    /// A declared frame larger than one read chunk was pending at some point.
    huge_pending: bool,
}

/// Feeds `input` to a fresh connection in random pieces, polling to
/// exhaustion after each, and checks the invariants that hold for any input.
fn run_connection(
    rng: &mut Rng,
    ours: SocketType,
    options: ConnectionOptions,
    input: &[u8],
) -> Outcome {
    let mut conn = Connection::new(
        Box::new(NullMechanism::new(LocalProperties::new(ours))),
        options,
    );
    // Half the runs reserve what read_hint asks for before each "read", as
    // a real transport loop would.
    let reserve = rng.chance(2);
    let mut outcome = Outcome {
        events: Vec::new(),
        error: None,
        past_greeting: false,
        huge_pending: false,
    };
    let mut fed = 0;
    let mut start = 0;
    'feed: for end in split_points(rng, input.len()) {
        let hint = conn.read_hint();
        assert!((1..=MAX_READ_CHUNK).contains(&hint), "read_hint {hint}");
        if reserve {
            conn.recv_buf().reserve(hint);
        }
        conn.recv_buf().extend_from_slice(&input[start..end]);
        fed += end - start;
        start = end;
        loop {
            let result = conn.poll_event();
            let capacity = conn.recv_buf().capacity();
            assert!(
                capacity <= capacity_bound(fed, reserve),
                "receive buffer of {capacity} bytes after {fed} bytes fed"
            );
            match result {
                Ok(None) => {
                    // In the greeting state the hint is what the greeting lacks.
                    let hint = conn.read_hint();
                    if hint > GREETING_LEN {
                        outcome.past_greeting = true;
                    }
                    if hint == MAX_READ_CHUNK {
                        outcome.huge_pending = true;
                    }
                    break;
                }
                Ok(Some(event)) => {
                    outcome.past_greeting = true;
                    match &event {
                        Event::HandshakeComplete(info) => {
                            assert!(
                                outcome.events.is_empty(),
                                "handshake after {:?}",
                                outcome.events
                            );
                            assert!(ours.is_compatible(info.socket_type));
                            assert!(conn.is_ready());
                            conn.send_message(b"hello", true)
                                .expect("send after handshake");
                        }
                        other => assert!(
                            matches!(outcome.events.first(), Some(Event::HandshakeComplete(_))),
                            "{other:?} before the handshake"
                        ),
                    }
                    if let Event::Ping { .. } = event {
                        assert!(!conn.output().is_empty(), "no PONG queued");
                    }
                    outcome.events.push(event);
                }
                Err(err) => {
                    assert_ne!(err, ProtocolError::Closed, "Closed before any error");
                    assert!(conn.is_failed() && !conn.is_ready());
                    assert_eq!(conn.poll_event(), Err(ProtocolError::Closed));
                    assert_eq!(conn.send_message(b"x", false), Err(ProtocolError::Closed));
                    conn.recv_buf().extend_from_slice(&input[start..]);
                    assert_eq!(conn.poll_event(), Err(ProtocolError::Closed));
                    outcome.error = Some(err);
                    break 'feed;
                }
            }
            // The transport writes everything out now and then.
            if rng.chance(4) {
                let _ = conn.output().take_all();
            }
        }
    }
    outcome
}

#[test]
fn connection_unmutated_streams_reach_traffic() {
    let mut rng = Rng(0x5EED_F00D_0000_0002);
    for case in 0..2000 {
        let s = peer_stream(&mut rng);
        let outcome = run_connection(&mut rng, s.ours, ConnectionOptions::default(), &s.bytes);
        assert_eq!(outcome.error, None, "case {case}: valid stream rejected");
        assert_eq!(outcome.events, s.expected, "case {case}");
    }
}

#[test]
fn connection_mutated_streams() {
    const CASES: usize = 60_000;
    let mut rng = Rng(0x5EED_F00D_0000_0003);
    let (mut past_greeting, mut handshakes, mut errors, mut huge) = (0, 0, 0, 0);
    let mut error_kinds = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..CASES {
        let s = peer_stream(&mut rng);
        let input = mutate(&mut rng, &s);
        let options = ConnectionOptions {
            max_frame_size: if rng.chance(4) {
                Some(rng.range(0, 6000) as u64)
            } else {
                None
            },
        };
        let outcome = run_connection(&mut rng, s.ours, options, &input);
        past_greeting += usize::from(outcome.past_greeting);
        handshakes += usize::from(matches!(
            outcome.events.first(),
            Some(Event::HandshakeComplete(_))
        ));
        huge += usize::from(outcome.huge_pending);
        if let Some(err) = &outcome.error {
            errors += 1;
            let debug = format!("{err:?}");
            let kind = debug.split(['(', ' ']).next().unwrap_or("?");
            *error_kinds.entry(kind.to_owned()).or_default() += 1;
        }
    }
    eprintln!(
        "mutated streams: {CASES} cases, {past_greeting} past the greeting, \
         {handshakes} completed the handshake, {huge} waited on a huge frame, \
         {errors} ended in an error: {error_kinds:?}"
    );
    assert!(
        past_greeting * 10 >= CASES * 6,
        "only {past_greeting} got past the greeting"
    );
    assert!(
        handshakes * 10 >= CASES * 3,
        "only {handshakes} completed the handshake"
    );
    assert!(
        errors * 10 >= CASES,
        "only {errors} mutated streams were rejected"
    );
    assert!(
        huge * 50 >= CASES,
        "only {huge} runs had a huge declared frame pending"
    );
}
