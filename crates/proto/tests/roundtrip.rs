//! Property tests: everything this crate encodes decodes to the same value,
//! however the bytes are chopped up on the way.

use bytes::{Bytes, BytesMut};
use ferromq_proto::{
    encode_frame, Command, Connection, ConnectionOptions, Event, Frame, FrameDecoder, FrameHeader,
    FrameKind, Greeting, GreetingReader, LocalProperties, MechanismName, Metadata, NullMechanism,
    OutBuf, ProtocolError, SocketType, ZmtpVersion, GREETING_LEN, MAX_PING_CONTEXT,
    ZERO_COPY_THRESHOLD,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::HashSet;
use std::io::IoSlice;

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

/// Deterministic filler so large bodies are cheap to generate and shrink,
/// yet no two positions or seeds look alike.
fn fill(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 11) as u8
        })
        .collect()
}

/// Body sizes biased towards the short/long boundary and the empty frame,
/// with the occasional few-KiB body.
fn body_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => Just(0usize),
        2 => Just(255usize),
        2 => Just(256usize),
        1 => Just(254usize),
        1 => Just(257usize),
        8 => 0usize..600,
        1 => 1024usize..5000,
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    (body_len(), any::<u8>()).prop_map(|(len, seed)| fill(len, seed))
}

fn small_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(0usize), Just(255usize), Just(256usize), 0usize..300]
        .prop_flat_map(|len| (Just(len), any::<u8>()))
        .prop_map(|(len, seed)| fill(len, seed))
}

fn kind() -> impl Strategy<Value = FrameKind> {
    prop_oneof![
        1 => Just(FrameKind::Command),
        3 => any::<bool>().prop_map(|more| FrameKind::Message { more }),
    ]
}

fn frame_from(body: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Frame> {
    (kind(), body).prop_map(|(kind, body)| Frame {
        kind,
        body: body.into(),
    })
}

fn encode_all(frames: &[Frame]) -> Vec<u8> {
    let mut wire = Vec::new();
    for f in frames {
        encode_frame(&mut wire, f.kind, &f.body);
    }
    wire
}

/// Feeds `wire` to one decoder in pieces ending at each of `cuts` (sorted,
/// within bounds; the rest goes in last), decoding after every piece.
fn decode_in_pieces(wire: &[u8], cuts: &[usize]) -> Result<Vec<Frame>, ProtocolError> {
    let mut dec = FrameDecoder::new(None);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        buf.extend_from_slice(&wire[start..end]);
        start = end;
        while let Some(f) = dec.decode(&mut buf)? {
            frames.push(f);
        }
    }
    assert!(buf.is_empty(), "{} bytes left undecoded", buf.len());
    assert_eq!(dec.decode(&mut buf)?, None);
    Ok(frames)
}

fn cut_points(wire_len: usize, picks: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = picks.iter().map(|i| i.index(wire_len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

const KNOWN_COMMANDS: [&str; 6] = ["READY", "ERROR", "SUBSCRIBE", "CANCEL", "PING", "PONG"];

fn property_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9_.+-]{1,16}",
        1 => "[A-Za-z0-9_.+-]{200,255}",
    ]
}

/// Valid metadata: names unique ignoring case (a repeated name would
/// collapse to one property on parse, by design).
fn metadata() -> impl Strategy<Value = Metadata> {
    vec((property_name(), vec(any::<u8>(), 0..300)), 0..6).prop_map(|props| {
        let mut seen = HashSet::new();
        let mut md = Metadata::new();
        for (name, value) in props {
            if seen.insert(name.to_ascii_lowercase()) {
                md.insert(&name, value).expect("generated name is valid");
            }
        }
        md
    })
}

fn bytes_up_to(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        metadata().prop_map(Command::Ready),
        bytes_up_to(255).prop_map(|reason| Command::Error { reason }),
        bytes_up_to(64).prop_map(Command::Subscribe),
        bytes_up_to(64).prop_map(Command::Cancel),
        (any::<u16>(), bytes_up_to(MAX_PING_CONTEXT))
            .prop_map(|(ttl, context)| Command::Ping { ttl, context }),
        bytes_up_to(MAX_PING_CONTEXT).prop_map(|context| Command::Pong { context }),
        (
            "[A-Za-z]{1,20}".prop_filter("a known command name", |n| !KNOWN_COMMANDS
                .contains(&n.as_str())),
            bytes_up_to(64)
        )
            .prop_map(|(name, data)| Command::Unknown {
                name: Bytes::from(name.into_bytes()),
                data
            }),
    ]
}

// ---------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frames_round_trip(frames in vec(frame_from(body()), 0..12)) {
        let wire = encode_all(&frames);
        // Header form: short for 0..=255, long from 256 on.
        let expected_len: usize = frames
            .iter()
            .map(|f| f.body.len() + if f.body.len() <= 255 { 2 } else { 9 })
            .sum();
        prop_assert_eq!(wire.len(), expected_len);
        // Frame::encode and encode_frame agree.
        let mut via_frame = Vec::new();
        for f in &frames {
            f.encode(&mut via_frame);
        }
        prop_assert_eq!(&via_frame, &wire);

        let decoded = decode_in_pieces(&wire, &[]).unwrap();
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn frames_split_at_random_positions(
        frames in vec(frame_from(body()), 1..10),
        picks in vec(any::<Index>(), 0..24),
    ) {
        let wire = encode_all(&frames);
        let cuts = cut_points(wire.len(), &picks);
        prop_assert_eq!(decode_in_pieces(&wire, &cuts).unwrap(), frames);
    }

    #[test]
    fn frame_size_limit_is_exact(
        frames in vec(frame_from(small_body()), 1..8),
        limit in 0u64..300,
        picks in vec(any::<Index>(), 0..8),
    ) {
        let wire = encode_all(&frames);
        let cuts = cut_points(wire.len(), &picks);
        let mut dec = FrameDecoder::new(Some(limit));
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut err = None;
        let mut start = 0;
        'feed: for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
            buf.extend_from_slice(&wire[start..end]);
            start = end;
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(f)) => got.push(f),
                    Ok(None) => break,
                    Err(e) => {
                        err = Some(e);
                        break 'feed;
                    }
                }
            }
        }
        match frames.iter().position(|f| f.body.len() as u64 > limit) {
            Some(bad) => {
                prop_assert_eq!(&got[..], &frames[..bad]);
                prop_assert_eq!(
                    err,
                    Some(ProtocolError::FrameTooLarge {
                        size: frames[bad].body.len() as u64,
                        max: limit,
                    })
                );
            }
            None => {
                prop_assert_eq!(err, None);
                prop_assert_eq!(got, frames);
            }
        }
    }
}

proptest! {
    // Quadratic in the stream length: keep the streams small and few.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn frames_split_at_every_position(frames in vec(frame_from(small_body()), 1..5)) {
        let wire = encode_all(&frames);
        for cut in 0..=wire.len() {
            let decoded = decode_in_pieces(&wire, &[cut]).unwrap();
            prop_assert_eq!(&decoded, &frames, "split at {}", cut);
        }
    }

    #[test]
    fn frames_one_byte_at_a_time(frames in vec(frame_from(body()), 1..6)) {
        let wire = encode_all(&frames);
        let cuts: Vec<usize> = (1..wire.len()).collect();
        prop_assert_eq!(decode_in_pieces(&wire, &cuts).unwrap(), frames);
    }
}

// ---------------------------------------------------------------------------
// Commands and metadata
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn commands_round_trip(cmd in command()) {
        prop_assert!(cmd.validate().is_ok());
        let body = cmd.to_body();
        prop_assert_eq!(body.len(), cmd.body_len());
        // command-name = short-size 1*255command-name-char
        let name_len = usize::from(body[0]);
        prop_assert_eq!(&body[1..1 + name_len], cmd.name());
        prop_assert_eq!(Command::parse(body.clone()).unwrap(), cmd.clone());

        // As a whole frame: Command::encode_frame is header + body.
        let mut wire = Vec::new();
        cmd.encode_frame(&mut wire);
        let header = FrameHeader::new(FrameKind::Command, body.len());
        prop_assert_eq!(&wire[..header.len()], header.as_bytes());
        prop_assert_eq!(&wire[header.len()..], &body[..]);
        let mut generic = Vec::new();
        encode_frame(&mut generic, FrameKind::Command, &body);
        prop_assert_eq!(&generic, &wire);

        let mut buf = BytesMut::from(&wire[..]);
        let frame = FrameDecoder::new(None).decode(&mut buf).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(frame.kind, FrameKind::Command);
        prop_assert_eq!(Command::parse(frame.body).unwrap(), cmd);
    }

    #[test]
    fn command_streams_split_anywhere(
        cmds in vec(command(), 1..6),
        picks in vec(any::<Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        for c in &cmds {
            c.encode_frame(&mut wire);
        }
        let cuts = cut_points(wire.len(), &picks);
        let frames = decode_in_pieces(&wire, &cuts).unwrap();
        let parsed: Vec<Command> = frames
            .into_iter()
            .map(|f| {
                assert_eq!(f.kind, FrameKind::Command);
                Command::parse(f.body).unwrap()
            })
            .collect();
        prop_assert_eq!(parsed, cmds);
    }

    #[test]
    fn metadata_round_trips(md in metadata()) {
        let wire = md.to_bytes();
        prop_assert_eq!(wire.len(), md.encoded_len());
        let parsed = Metadata::parse(&wire).unwrap();
        prop_assert_eq!(&parsed, &md);
        prop_assert_eq!(&Metadata::parse_shared(&Bytes::from(wire)).unwrap(), &md);
        // Lookups ignore case; order and spelling are kept.
        for (name, value) in md.iter() {
            prop_assert_eq!(parsed.get(&name.to_ascii_uppercase()), Some(value));
            prop_assert_eq!(parsed.get(&name.to_ascii_lowercase()), Some(value));
        }
        let names: Vec<&str> = parsed.iter().map(|(n, _)| n).collect();
        let original: Vec<&str> = md.iter().map(|(n, _)| n).collect();
        prop_assert_eq!(names, original);
    }
}

// ---------------------------------------------------------------------------
// Greeting
// ---------------------------------------------------------------------------

fn greeting() -> impl Strategy<Value = Greeting> {
    ("[A-Z0-9_.+-]{1,20}", any::<bool>(), 3u8..=255, any::<u8>()).prop_map(
        |(mech, as_server, major, minor)| Greeting {
            major,
            minor,
            mechanism: MechanismName::new(&mech).expect("generated name is valid"),
            as_server,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn greeting_round_trips_in_random_pieces(
        g in greeting(),
        trailer in vec(any::<u8>(), 0..40),
        picks in vec(any::<Index>(), 0..10),
    ) {
        let encoded = g.encode();
        prop_assert_eq!(encoded.len(), GREETING_LEN);
        prop_assert_eq!(Greeting::parse(&encoded).unwrap(), g);

        let mut stream = encoded.to_vec();
        stream.extend_from_slice(&trailer);
        let cuts = cut_points(stream.len(), &picks);

        let mut reader = GreetingReader::new();
        let mut consumed = 0;
        let mut start = 0;
        let mut result = None;
        for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
            let piece = &stream[start..end];
            start = end;
            let (got, used) = reader.feed(piece).unwrap();
            consumed += used;
            match got {
                None => {
                    prop_assert_eq!(used, piece.len(), "an incomplete greeting takes everything");
                    prop_assert_eq!(reader.remaining(), GREETING_LEN - consumed);
                }
                Some(parsed) => {
                    // Exactly the 64 greeting octets are used; the rest of
                    // this piece (and later pieces) belong to the caller.
                    prop_assert_eq!(consumed, GREETING_LEN);
                    prop_assert_eq!(&piece[used..], &stream[GREETING_LEN..end]);
                    result = Some(parsed);
                    break;
                }
            }
        }
        prop_assert_eq!(result, Some(g));
        prop_assert_eq!(reader.remaining(), 0);
    }
}

// ---------------------------------------------------------------------------
// Two connections talking
// ---------------------------------------------------------------------------

const PAIRS: [(SocketType, SocketType); 11] = [
    (SocketType::Dealer, SocketType::Router),
    (SocketType::Req, SocketType::Rep),
    (SocketType::Req, SocketType::Router),
    (SocketType::Dealer, SocketType::Rep),
    (SocketType::Dealer, SocketType::Dealer),
    (SocketType::Router, SocketType::Router),
    (SocketType::Pub, SocketType::Sub),
    (SocketType::Xpub, SocketType::Xsub),
    (SocketType::Push, SocketType::Pull),
    (SocketType::Pair, SocketType::Pair),
    (SocketType::Client, SocketType::Server),
];

/// Sides that send application messages (SUB and PULL only receive).
fn sends_messages(t: SocketType) -> bool {
    !matches!(t, SocketType::Sub | SocketType::Pull)
}

fn subscribes(t: SocketType) -> bool {
    matches!(t, SocketType::Sub | SocketType::Xsub)
}

#[derive(Debug, Clone)]
enum Op {
    /// One multipart message; `true` = send with `send_message_shared`.
    Send {
        from_a: bool,
        parts: Vec<(Vec<u8>, bool)>,
    },
    Ping {
        from_a: bool,
        ttl: u16,
        context: Vec<u8>,
    },
    Subscription {
        from_a: bool,
        topic: Vec<u8>,
        subscribe: bool,
    },
    /// Move up to this many chunks from one side to the other.
    Pump { from_a: bool, chunks: usize },
}

fn part() -> impl Strategy<Value = (Vec<u8>, bool)> {
    let len = prop_oneof![
        6 => body_len(),
        1 => ZERO_COPY_THRESHOLD..ZERO_COPY_THRESHOLD * 3,
        1 => Just(ZERO_COPY_THRESHOLD),
        1 => Just(ZERO_COPY_THRESHOLD - 1),
    ];
    (len, any::<u8>(), any::<bool>()).prop_map(|(len, seed, shared)| (fill(len, seed), shared))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), vec(part(), 1..5))
            .prop_map(|(from_a, parts)| Op::Send { from_a, parts }),
        1 => (any::<bool>(), any::<u16>(), vec(any::<u8>(), 0..=MAX_PING_CONTEXT))
            .prop_map(|(from_a, ttl, context)| Op::Ping { from_a, ttl, context }),
        1 => (any::<bool>(), vec(any::<u8>(), 0..8), any::<bool>())
            .prop_map(|(from_a, topic, subscribe)| Op::Subscription { from_a, topic, subscribe }),
        3 => (any::<bool>(), 0usize..6).prop_map(|(from_a, chunks)| Op::Pump { from_a, chunks }),
    ]
}

/// How each write is chopped: a cycle of byte limits and of how many
/// `IoSlice`s the "writer" offers.
#[derive(Debug, Clone)]
struct Chopper {
    sizes: Vec<usize>,
    slots: Vec<usize>,
    i: usize,
}

impl Chopper {
    fn next(&mut self) -> (usize, usize) {
        let r = (
            self.sizes[self.i % self.sizes.len()],
            self.slots[self.i % self.slots.len()],
        );
        self.i += 1;
        r
    }
}

/// One partial vectored write: copies at most `limit` bytes out of at most
/// `slots` slices, then advances the queue by what was "written".
fn write_some(out: &mut OutBuf, limit: usize, slots: usize) -> Vec<u8> {
    let before = out.len();
    let mut written = Vec::new();
    {
        let mut slices = [IoSlice::new(&[]); 8];
        let slots = slots.clamp(1, slices.len());
        let n = out.io_slices(&mut slices[..slots]);
        assert!(n <= slots);
        assert!(n > 0 || before == 0);
        for s in &slices[..n] {
            let take = (limit - written.len()).min(s.len());
            written.extend_from_slice(&s[..take]);
            if written.len() == limit {
                break;
            }
        }
    }
    out.advance(written.len());
    assert_eq!(out.len(), before - written.len());
    written
}

struct Side {
    conn: Connection,
    local: LocalProperties,
    events: Vec<Event>,
    /// What the other side must receive from us (PONGs excluded), in order.
    sent: Vec<Event>,
    /// Contexts of our PINGs, whose PONGs we must receive in order.
    pings: Vec<Bytes>,
}

impl Side {
    fn new(socket_type: SocketType, identity: &[u8]) -> Side {
        let mut local = LocalProperties::new(socket_type);
        local.identity = Bytes::copy_from_slice(identity);
        let conn = Connection::new(
            Box::new(NullMechanism::new(local.clone())),
            ConnectionOptions::default(),
        );
        Side {
            conn,
            local,
            events: Vec::new(),
            sent: Vec::new(),
            pings: Vec::new(),
        }
    }

    fn poll_all(&mut self) {
        loop {
            match self.conn.poll_event() {
                Ok(Some(ev)) => self.events.push(ev),
                Ok(None) => break,
                Err(e) => panic!("{} side failed: {e}", self.local.socket_type),
            }
        }
    }
}

/// Moves up to `chunks` chopped writes from `from` to `to`, polling `to`
/// after each. Returns the number of bytes moved.
fn pump(from: &mut Side, to: &mut Side, chunks: usize, chop: &mut Chopper) -> usize {
    let mut moved = 0;
    for _ in 0..chunks {
        if from.conn.output().is_empty() {
            break;
        }
        let (limit, slots) = chop.next();
        let bytes = write_some(from.conn.output(), limit, slots);
        moved += bytes.len();
        to.conn.recv_buf().extend_from_slice(&bytes);
        to.poll_all();
    }
    moved
}

fn pump_until_quiet(a: &mut Side, b: &mut Side, chop: &mut Chopper) {
    for _ in 0..100_000 {
        let moved = pump(a, b, usize::MAX, chop) + pump(b, a, usize::MAX, chop);
        if moved == 0 {
            return;
        }
    }
    panic!("connections never went quiet");
}

fn apply(op: &Op, a: &mut Side, b: &mut Side, chop: &mut Chopper) {
    let from_a = match op {
        Op::Send { from_a, .. }
        | Op::Ping { from_a, .. }
        | Op::Subscription { from_a, .. }
        | Op::Pump { from_a, .. } => *from_a,
    };
    let (me, peer) = if from_a { (a, b) } else { (b, a) };
    match op {
        Op::Pump { chunks, .. } => {
            pump(me, peer, *chunks, chop);
        }
        _ if !me.conn.is_ready() => {
            // Nothing but the handshake may go out before it completes.
            assert!(matches!(
                me.conn.send_message(b"early", false),
                Err(ProtocolError::Encode(_))
            ));
        }
        Op::Send { parts, .. } => {
            if !sends_messages(me.local.socket_type) {
                return;
            }
            for (i, (body, shared)) in parts.iter().enumerate() {
                let more = i + 1 < parts.len();
                let body = Bytes::from(body.clone());
                if *shared {
                    me.conn.send_message_shared(body.clone(), more).unwrap();
                    if body.len() >= ZERO_COPY_THRESHOLD {
                        // Queued by reference: one of the output slices is
                        // the caller's own buffer.
                        let mut slices = [IoSlice::new(&[]); 64];
                        let n = me.conn.output().io_slices(&mut slices);
                        assert!(
                            slices[..n]
                                .iter()
                                .any(|s| s.as_ptr() == body.as_ptr() && s.len() == body.len()),
                            "large shared body was copied"
                        );
                    }
                } else {
                    me.conn.send_message(&body, more).unwrap();
                }
                me.sent.push(Event::Message(Frame::message(body, more)));
            }
        }
        Op::Ping { ttl, context, .. } => {
            let context = Bytes::from(context.clone());
            me.conn
                .send_command(&Command::Ping {
                    ttl: *ttl,
                    context: context.clone(),
                })
                .unwrap();
            me.sent.push(Event::Ping { ttl: *ttl });
            me.pings.push(context);
        }
        Op::Subscription {
            topic, subscribe, ..
        } => {
            if !subscribes(me.local.socket_type) {
                return;
            }
            me.conn.send_subscription(topic, *subscribe).unwrap();
            let topic = Bytes::from(topic.clone());
            me.sent.push(if *subscribe {
                Event::Subscribe(topic)
            } else {
                Event::Cancel(topic)
            });
        }
    }
}

fn check_side(me: &Side, peer: &Side) {
    let Some(Event::HandshakeComplete(info)) = me.events.first() else {
        panic!(
            "first event is not HandshakeComplete: {:?}",
            me.events.first()
        );
    };
    let peer_type = peer.local.socket_type;
    assert_eq!(info.socket_type, peer_type);
    assert_eq!(info.version, ZmtpVersion::V3_1);
    assert_eq!(
        info.metadata.get("socket-type").map(|v| &v[..]),
        Some(peer_type.name().as_bytes())
    );
    if matches!(
        peer_type,
        SocketType::Req | SocketType::Dealer | SocketType::Router
    ) {
        assert_eq!(info.metadata.get("Identity"), Some(&peer.local.identity));
        assert_eq!(info.identity(), peer.local.identity);
    } else {
        assert_eq!(info.metadata.get("Identity"), None);
        assert!(info.identity().is_empty());
    }
    let rest = &me.events[1..];
    assert!(
        !rest
            .iter()
            .any(|e| matches!(e, Event::HandshakeComplete(_))),
        "handshake completed twice"
    );
    let pongs: Vec<Bytes> = rest
        .iter()
        .filter_map(|e| match e {
            Event::Pong { context } => Some(context.clone()),
            _ => None,
        })
        .collect();
    let others: Vec<&Event> = rest
        .iter()
        .filter(|e| !matches!(e, Event::Pong { .. }))
        .collect();
    let expected: Vec<&Event> = peer.sent.iter().collect();
    assert_eq!(others.len(), expected.len(), "event count differs");
    for (i, (got, want)) in others.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "event {i} differs");
    }
    assert_eq!(pongs, me.pings);
}

fn identity() -> impl Strategy<Value = Vec<u8>> {
    // RFC 37: identity = 0*255OCTET, first octet not zero.
    prop_oneof![
        Just(Vec::new()),
        (1u8..=255, vec(any::<u8>(), 0..255)).prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        }),
    ]
}

fn chopper() -> impl Strategy<Value = Chopper> {
    let size = prop_oneof![1usize..8, 1usize..300, 1usize..40_000];
    (vec(size, 1..12), vec(1usize..=6, 1..5)).prop_map(|(sizes, slots)| Chopper {
        sizes,
        slots,
        i: 0,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn connections_talk(
        pair in 0..PAIRS.len(),
        swap in any::<bool>(),
        id_a in identity(),
        id_b in identity(),
        mut chop in chopper(),
        handshake_chunks in vec(0usize..4, 1..8),
        ops in vec(op(), 0..40),
    ) {
        let (mut ta, mut tb) = PAIRS[pair];
        if swap {
            std::mem::swap(&mut ta, &mut tb);
        }
        let mut a = Side::new(ta, &id_a);
        let mut b = Side::new(tb, &id_b);

        // Handshake in random partial steps until one side is ready, so
        // traffic sometimes starts while the other is still handshaking.
        let mut step = 0;
        while !a.conn.is_ready() && !b.conn.is_ready() {
            let chunks = handshake_chunks[step % handshake_chunks.len()].max(1);
            if step % 2 == 0 {
                pump(&mut a, &mut b, chunks, &mut chop);
            } else {
                pump(&mut b, &mut a, chunks, &mut chop);
            }
            step += 1;
            prop_assert!(step < 100_000, "handshake never completed");
        }

        for op in &ops {
            apply(op, &mut a, &mut b, &mut chop);
        }
        pump_until_quiet(&mut a, &mut b, &mut chop);

        prop_assert!(a.conn.is_ready() && b.conn.is_ready());
        prop_assert!(!a.conn.is_failed() && !b.conn.is_failed());
        prop_assert!(a.conn.recv_buf().is_empty() && b.conn.recv_buf().is_empty());
        check_side(&a, &b);
        check_side(&b, &a);
    }
}
