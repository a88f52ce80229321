//! FrameDecoder on arbitrary bytes, fed in pieces.
//!
//! Byte 0 picks the frame size limit (low 3 bits) and how the rest of the
//! input is cut into pieces (high 5 bits). Checks: no panic; the frames and
//! the error are the same however the input is cut; every decoded frame
//! re-encodes to bytes that decode to the same frame; `read_hint` stays in
//! range.

#![no_main]

use bytes::BytesMut;
use ferromq_proto::{Frame, FrameDecoder, ProtocolError, MAX_READ_CHUNK};
use libfuzzer_sys::fuzz_target;

const LIMITS: [Option<u64>; 8] = [
    None,
    None,
    Some(0),
    Some(1),
    Some(255),
    Some(256),
    Some(300),
    Some(4096),
];

/// Decodes every whole frame `buf` holds into `out`; returns the error
/// that ended decoding, if any.
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
            Err(e) => return Some(e),
        }
    }
}

/// Length of the piece starting at `pos`, per `pattern`.
fn piece_len(pattern: u8, data: &[u8], pos: usize) -> usize {
    let param = usize::from(pattern >> 2);
    match pattern & 3 {
        0 => data.len() - pos,                             // all at once
        1 => 1,                                            // one byte at a time
        2 => 1 + param,                                    // fixed-size pieces of 1..=8
        _ => 1 + usize::from(data[pos]) % (2 + 4 * param), // data-driven
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let limit = LIMITS[usize::from(control & 7)];
    let pattern = control >> 3;

    // Reference: the whole input in one go.
    let mut whole_frames = Vec::new();
    let whole_err = drain(
        &mut FrameDecoder::new(limit),
        &mut BytesMut::from(rest),
        &mut whole_frames,
    );

    // The same input in pieces.
    let mut dec = FrameDecoder::new(limit);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut err = None;
    let mut pos = 0;
    while pos < rest.len() && err.is_none() {
        let n = piece_len(pattern, rest, pos).min(rest.len() - pos);
        buf.extend_from_slice(&rest[pos..pos + n]);
        pos += n;
        err = drain(&mut dec, &mut buf, &mut frames);
    }
    assert_eq!(frames, whole_frames, "frames depend on how input was split");
    assert_eq!(err, whole_err, "error depends on how input was split");

    // Every frame re-encodes to something that decodes to the same frame,
    // under the same limit.
    for frame in &frames {
        if let Some(max) = limit {
            assert!(frame.body.len() as u64 <= max);
        }
        let mut wire = BytesMut::new();
        frame.encode(&mut wire);
        let mut redec = FrameDecoder::new(limit);
        let again = redec
            .decode(&mut wire)
            .expect("re-encoded frame must decode")
            .expect("re-encoded frame must be complete");
        assert_eq!(&again, frame);
        assert!(
            wire.is_empty(),
            "re-encoding left {} stray bytes",
            wire.len()
        );
    }
});
