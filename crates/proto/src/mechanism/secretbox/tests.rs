//! Known answers (NaCl's tests, the Salsa20 specification, RFC 8439) and
//! differential tests against RustCrypto's `crypto_secretbox`, `salsa20`
//! and `crypto_box`.

use super::*;
use crypto_secretbox::aead::AeadInPlace;
use crypto_secretbox::{KeyInit, XSalsa20Poly1305};

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert_eq!(s.len() % 2, 0);
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn hex_n<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().unwrap()
}

/// A small deterministic generator (SplitMix64) for the differential
/// tests: reproducible, and no extra dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        self.fill(&mut a);
        a
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// --- Salsa20 and HSalsa20 ---------------------------------------------------

fn bytes_of(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn salsa20_expansion_example_from_the_specification() {
    // Salsa20 specification, section 10: k = 1..16 || 201..216,
    // n = 101..116 (the nonce, then the block counter, little-endian).
    let mut k = [0u8; 32];
    for i in 0..16 {
        k[i] = 1 + i as u8;
        k[16 + i] = 201 + i as u8;
    }
    let n: Vec<u8> = (101..=116).collect();
    let nonce = [le32(&n[0..]), le32(&n[4..])];
    let counter = le64(&n[8..]);
    let expected = [
        69u8, 37, 68, 39, 41, 15, 107, 193, 255, 139, 122, 6, 170, 233, 217, 98, 89, 144, 182, 106,
        21, 51, 200, 65, 239, 49, 222, 34, 215, 114, 40, 126, 104, 197, 7, 225, 197, 153, 31, 2,
        102, 78, 76, 176, 84, 245, 246, 184, 177, 160, 133, 130, 6, 72, 149, 119, 192, 195, 132,
        236, 234, 103, 246, 74,
    ];
    let key = words8(&k);
    assert_eq!(bytes_of(&block(&key, nonce, counter)), expected);
    // Every engine, every way it makes blocks, with the block in every
    // position.
    for engine in Engine::available() {
        for blocks in 1..=engine.wide() / 64 {
            for at in 0..blocks {
                let mut out = vec![0u8; 64 * blocks];
                engine.fill(&key, nonce, counter - at as u64, &mut out);
                assert_eq!(
                    &out[64 * at..64 * at + 64],
                    expected,
                    "{engine:?} {blocks} {at}"
                );
            }
        }
        let mut out = vec![0u8; engine.wide()];
        for at in 0..engine.wide() / 64 {
            out.fill(0);
            engine.xor_wide(&key, nonce, counter - at as u64, &mut out);
            assert_eq!(
                &out[64 * at..64 * at + 64],
                expected,
                "{engine:?} wide {at}"
            );
        }
    }
}

#[test]
fn hsalsa20_nacl_core1_and_core2() {
    // NaCl tests/core1.c: the crypto_box_beforenm key of Alice and Bob.
    let shared = hex_n::<32>("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    for engine in Engine::available() {
        let firstkey = engine.hsalsa20(&words8(&shared), &[0; 16]);
        assert_eq!(
            bytes_of(&firstkey),
            hex("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
        );
        // tests/core2.c: the XSalsa20 subkey for the secretbox nonce.
        let prefix = hex_n::<16>("69696ee955b62b73cd62bda875fc73d6");
        let secondkey = engine.hsalsa20(&firstkey, &prefix);
        assert_eq!(
            bytes_of(&secondkey),
            hex("dc908dda0b9344a953629b733820778880f3ceb421bb61b91cbd4c3e66256ce4")
        );
    }
}

#[test]
fn xsalsa20_nacl_stream3() {
    // NaCl tests/stream3.c: the first 32 keystream octets, which are the
    // secretbox's Poly1305 key.
    let key = Key::new(&hex_n(
        "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389",
    ));
    let sub = key.with_prefix(&hex_n("69696ee955b62b73cd62bda875fc73d6"));
    for engine in Engine::available() {
        for len in [0, 100, 1000] {
            let mut stream =
                Stream::<MAX_WIDE>::new(engine, &sub.words, &hex_n("8219e0036b7a0b37"));
            stream.start(len);
            assert_eq!(
                stream.ahead[..32].to_vec(),
                hex("eea6a7251c1e72916d11c2cb214d3c252539121d8e234e652d651fa4c8cff880")
            );
        }
    }
}

#[test]
fn hsalsa20_matches_rustcrypto() {
    use salsa20::cipher::consts::U10;
    let mut rng = Rng(1);
    for _ in 0..200 {
        let k: [u8; 32] = rng.array();
        let input: [u8; 16] = rng.array();
        let theirs = salsa20::hsalsa::<U10>((&k).into(), (&input).into());
        for engine in Engine::available() {
            let ours = engine.hsalsa20(&words8(&k), &input);
            assert_eq!(bytes_of(&ours), theirs.to_vec());
        }
    }
}

/// Every keystream path (one block, the wide step, the tails) against
/// the `salsa20` crate, from block counters that carry into the high word.
#[test]
fn salsa20_keystream_matches_rustcrypto() {
    let mut rng = Rng(2);
    let starts = [0u64, 1, 5, 0xffff_fffd, 0xffff_ffff, u64::MAX / 64 - 40];
    let lens = [
        0usize, 1, 63, 64, 65, 128, 129, 200, 256, 257, 320, 511, 512, 513, 700, 1031, 1600,
    ];
    for engine in Engine::available() {
        for &start in &starts {
            for len in lens {
                keystream_case(&mut rng, engine, start, len);
            }
        }
    }
}

fn keystream_case(rng: &mut Rng, engine: Engine, start: u64, len: usize) {
    use salsa20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
    {
        {
            let k: [u8; 32] = rng.array();
            let n: [u8; 8] = rng.array();
            let mut data = vec![0u8; len];
            rng.fill(&mut data);
            let mut theirs = data.clone();
            let mut c = salsa20::Salsa20::new((&k).into(), (&n).into());
            c.seek(start * 64);
            c.apply_keystream(&mut theirs);

            let key = words8(&k);
            let nonce = [le32(&n[0..]), le32(&n[4..])];
            let mut ours = data.clone();
            let mut counter = start;
            let wide = engine.wide();
            let mut chunks = ours.chunks_exact_mut(wide);
            for chunk in &mut chunks {
                engine.xor_wide(&key, nonce, counter, chunk);
                counter = counter.wrapping_add((wide / 64) as u64);
            }
            let tail = chunks.into_remainder();
            let mut ks = vec![0u8; tail.len().div_ceil(64) * 64];
            engine.fill(&key, nonce, counter, &mut ks);
            xor_into(tail, &ks);
            assert_eq!(ours, theirs, "{engine:?} start {start} len {len}");
        }
    }
}

// --- Poly1305 ---------------------------------------------------------------

/// The scalar Poly1305 tag.
fn mac(key: &[u8], msg: &[u8]) -> [u8; 16] {
    Poly1305::new(key, Engine::Portable).tag(msg, WIDE_MIN)
}

/// The vector Poly1305s from their smallest group on (so short messages
/// take them too).
const LOWEST: WideMin = WideMin {
    avx2: 64,
    avx512: 128,
};

/// The tag on every path the CPU has: `(what, tag)` for each engine, both
/// with the real thresholds of the vector Poly1305s and with them lowered
/// to one group.
fn macs(key: &[u8], msg: &[u8]) -> Vec<(String, [u8; 16])> {
    let mut all = Vec::new();
    for engine in Engine::available() {
        for wide_min in [WIDE_MIN, LOWEST] {
            let tag = Poly1305::new(key, engine).tag(msg, wide_min);
            all.push((format!("{engine:?} from {wide_min:?}"), tag));
        }
    }
    all
}

impl Poly1305 {
    fn tag(mut self, msg: &[u8], wide_min: WideMin) -> [u8; 16] {
        self.update_from(msg, wide_min);
        self.finish()
    }
}

const IETF_TEXT: &str = "Any submission to the IETF intended by the Contributor for publication \
    as all or part of an IETF Internet-Draft or RFC and any statement made within the context of \
    an IETF activity is considered an \"IETF Contribution\". Such statements include oral \
    statements in IETF sessions, as well as written and electronic communications made at any \
    time or place, which are addressed to";

#[test]
fn poly1305_rfc8439_section_2_5_2() {
    let key = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
    for (what, tag) in macs(&key, b"Cryptographic Forum Research Group") {
        assert_eq!(
            tag.to_vec(),
            hex("a8061dc1305136c6c22b8baf0c0127a9"),
            "{what}"
        );
    }
}

#[test]
fn poly1305_rfc8439_appendix_a_3() {
    assert_eq!(IETF_TEXT.len(), 375);
    let cases: &[(&str, Vec<u8>, &str)] = &[
        // #1: all zero.
        (
            "0000000000000000000000000000000000000000000000000000000000000000",
            vec![0; 64],
            "00000000000000000000000000000000",
        ),
        // #2: r = 0, so the tag is s.
        (
            "0000000000000000000000000000000036e5f6b5c5e06070f0efca96227a863e",
            IETF_TEXT.as_bytes().to_vec(),
            "36e5f6b5c5e06070f0efca96227a863e",
        ),
        // #3: s = 0.
        (
            "36e5f6b5c5e06070f0efca96227a863e00000000000000000000000000000000",
            IETF_TEXT.as_bytes().to_vec(),
            "f3477e7cd95417af89a6b8794c310cf0",
        ),
        // #4
        (
            "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
            b"'Twas brillig, and the slithy toves\nDid gyre and gimble in the wabe:\n\
              All mimsy were the borogoves,\nAnd the mome raths outgrabe."
                .to_vec(),
            "4541669a7eaaee61e708dc7cbcc5eb62",
        ),
        // #5: h reaches p exactly.
        (
            "0200000000000000000000000000000000000000000000000000000000000000",
            hex("ffffffffffffffffffffffffffffffff"),
            "03000000000000000000000000000000",
        ),
        // #6: h + s overflows 2^128.
        (
            "02000000000000000000000000000000ffffffffffffffffffffffffffffffff",
            hex("02000000000000000000000000000000"),
            "03000000000000000000000000000000",
        ),
        // #7: carries through every limb.
        (
            "0100000000000000000000000000000000000000000000000000000000000000",
            hex("ffffffffffffffffffffffffffffffff\
                 f0ffffffffffffffffffffffffffffff\
                 11000000000000000000000000000000"),
            "05000000000000000000000000000000",
        ),
        // #8: h is exactly p at the end.
        (
            "0100000000000000000000000000000000000000000000000000000000000000",
            hex("ffffffffffffffffffffffffffffffff\
                 fbfefefefefefefefefefefefefefefe\
                 01010101010101010101010101010101"),
            "00000000000000000000000000000000",
        ),
        // #9: h is p - 1.
        (
            "0200000000000000000000000000000000000000000000000000000000000000",
            hex("fdffffffffffffffffffffffffffffff"),
            "faffffffffffffffffffffffffffffff",
        ),
        // #10: the 5*H+L reduction makes a 131-bit intermediate.
        (
            "0100000000000000040000000000000000000000000000000000000000000000",
            hex("e33594d7505e43b90000000000000000\
                 3394d7505e4379cd0100000000000000\
                 00000000000000000000000000000000\
                 01000000000000000000000000000000"),
            "14000000000000005500000000000000",
        ),
        // #11: ... and a 131-bit final result.
        (
            "0100000000000000040000000000000000000000000000000000000000000000",
            hex("e33594d7505e43b90000000000000000\
                 3394d7505e4379cd0100000000000000\
                 00000000000000000000000000000000"),
            "13000000000000000000000000000000",
        ),
    ];
    // #1 (64 octets), #2 and #3 (375) and #4 (127) are long enough for
    // the vector path; `macs` runs them through it.
    for (i, (key, msg, tag)) in cases.iter().enumerate() {
        for (what, ours) in macs(&hex(key), msg) {
            assert_eq!(ours.to_vec(), hex(tag), "vector #{}, {what}", i + 1);
        }
    }
}

#[test]
fn poly1305_nacl_auth_vector() {
    // NaCl tests/onetimeauth.c: the secretbox vector's tag.
    let key = hex("eea6a7251c1e72916d11c2cb214d3c252539121d8e234e652d651fa4c8cff880");
    for (what, tag) in macs(&key, &NACL_CIPHERTEXT()) {
        assert_eq!(
            tag.to_vec(),
            hex("f3ffc7703f9400e52a7dfb4b3d3305d9"),
            "{what}"
        );
    }
}

#[test]
fn poly1305_donna_self_test() {
    // poly1305-donna's self-test: the tag over the tags of every length
    // 0..256 of repeated octets, under keys of repeated octets.
    let total_key = hex("01020304050607fffefdfcfbfaf9ffffffffffffffffffffffffffff00000000");
    let paths = macs(&[0; 32], &[]).len();
    for path in 0..paths {
        let mut tags = Vec::new();
        for i in 0..256usize {
            let key = [i as u8; 32];
            let msg = vec![i as u8; i];
            tags.extend_from_slice(&macs(&key, &msg)[path].1);
        }
        // 4096 octets of tags.
        let (what, total) = &macs(&total_key, &tags)[path];
        assert_eq!(
            total.to_vec(),
            hex("64afe2e8d6ad7bbdd287f97c44623d39"),
            "{what}"
        );
    }
}

/// Every path (scalar, and the vector one from its threshold and from a
/// single group) against the `poly1305` crate: every length to past 2100
/// (across the threshold and every group and block boundary), 64 KiB
/// and around, and 1 MiB + 7.
#[test]
fn poly1305_matches_rustcrypto() {
    use crypto_secretbox::aead::generic_array::GenericArray;
    use poly1305::universal_hash::KeyInit as _;
    let mut rng = Rng(3);
    let lens = (0..=2100).chain([4095, 4096, 4097, 65535, 65536, 65537, 65552, (1 << 20) + 7]);
    for len in lens {
        // Keys and messages full of ones exercise the carries (and the
        // largest limbs the vector path's bounds allow for); zeros the
        // other end.
        let (key, msg): ([u8; 32], Vec<u8>) = match len % 5 {
            0 => ([0xff; 32], vec![0xff; len]),
            1 => {
                let mut key = [0xff; 32];
                key[16..].fill(0);
                (key, vec![0; len])
            }
            _ => {
                let mut m = vec![0u8; len];
                rng.fill(&mut m);
                (rng.array(), m)
            }
        };
        let theirs = poly1305::Poly1305::new(GenericArray::from_slice(&key)).compute_unpadded(&msg);
        assert_eq!(mac(&key, &msg).to_vec(), theirs.to_vec(), "len {len}");
        for (what, ours) in macs(&key, &msg) {
            assert_eq!(ours.to_vec(), theirs.to_vec(), "len {len}, {what}");
        }
    }
}

/// The vector path picks up from whatever accumulator the blocks before
/// it left (not only zero), including the largest the scalar path keeps.
#[test]
fn poly1305_vector_path_continues_any_accumulator() {
    let mut rng = Rng(9);
    for case in 0..2000 {
        let key: [u8; 32] = if case % 4 == 0 {
            [0xff; 32]
        } else {
            rng.array()
        };
        let len = 64 + rng.below(1000);
        let mut msg = vec![0u8; len];
        if case % 4 == 0 {
            msg.fill(0xff);
        } else {
            rng.fill(&mut msg);
        }
        // Some whole blocks one at a time, then the rest as a message.
        let before = rng.below(6);
        let (head, tail) = msg.split_at(16 * before.min(len / 16));
        let run = |engine: Engine| {
            let mut p = Poly1305::new(&key, engine);
            for b in head.chunks_exact(16) {
                p.block(le64(&b[0..]), le64(&b[8..]), 1);
            }
            p.tag(tail, LOWEST)
        };
        let scalar = run(Engine::Portable);
        assert_eq!(scalar, mac(&key, &msg), "case {case}");
        for engine in Engine::available() {
            assert_eq!(run(engine), scalar, "{engine:?} case {case}");
        }
    }
    // The largest accumulator: h2 = 4 and the rest all ones.
    for engine in Engine::available() {
        let mut a = Poly1305::new(&[0x5a; 32], engine);
        let mut b = Poly1305::new(&[0x5a; 32], Engine::Portable);
        for p in [&mut a, &mut b] {
            (p.h0, p.h1, p.h2) = (u64::MAX, u64::MAX, 4);
        }
        let msg = vec![0xffu8; 640];
        assert_eq!(a.tag(&msg, LOWEST), b.tag(&msg, LOWEST), "{engine:?}");
    }
}

#[test]
fn poly1305_limb_conversions_round_trip() {
    let mut rng = Rng(10);
    for _ in 0..10_000 {
        let (h0, h1, h2) = (rng.next(), rng.next(), rng.next() % 5);
        assert_eq!(from_limbs(carry_limbs(to_limbs(h0, h1, h2))), {
            // Limbs keep the value modulo p; compare reduced below 2^130.
            let over = h2 >> 2;
            let (lo, c) = h0.overflowing_add(5 * over);
            let (mid, c2) = h1.overflowing_add(c as u64);
            (lo, mid, (h2 & 3) + c2 as u64)
        });
    }
}

// --- secretbox --------------------------------------------------------------

#[allow(non_snake_case)]
fn NACL_CIPHERTEXT() -> Vec<u8> {
    hex(
        "8e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186a\
         c0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738\
         b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da\
         99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74\
         e355a5",
    )
}

#[test]
fn secretbox_nacl_vector() {
    // NaCl tests/secretbox.c and secretbox2.c.
    let key = Key::new(&hex_n(
        "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389",
    ));
    let nonce = hex_n::<24>("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37");
    let plain = hex(
        "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc\
                     e5ecbaaf33bd751a1ac728d45e6c61296cdc3c01233561f41db66cce314adb31\
                     0e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde\
                     048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864\
                     5e0705",
    );
    let tag = hex_n::<16>("f3ffc7703f9400e52a7dfb4b3d3305d9");
    let mut buf = plain.clone();
    assert_eq!(key.seal(&nonce, &mut buf), tag);
    assert_eq!(buf, NACL_CIPHERTEXT());
    assert_eq!(key.open(&nonce, &mut buf, &tag), Ok(()));
    assert_eq!(buf, plain);
}

/// Seals with both implementations, opens each other's boxes, and checks
/// that a flipped bit (in the tag or the ciphertext) fails to open and
/// leaves the buffer as it was.
fn differential(rng: &mut Rng, len: usize, flips: Option<usize>) {
    let k: [u8; 32] = rng.array();
    let nonce: [u8; 24] = rng.array();
    let mut plain = vec![0u8; len];
    rng.fill(&mut plain);
    let theirs_key = XSalsa20Poly1305::new((&k).into());
    let ours_key = Key::new(&k);
    let (prefix, tail) = split_nonce(&nonce);
    let sub = ours_key.with_prefix(prefix);

    let mut theirs = plain.clone();
    let theirs_tag: [u8; 16] = theirs_key
        .encrypt_in_place_detached((&nonce).into(), b"", &mut theirs)
        .unwrap()
        .into();
    let mut ours = plain.clone();
    let ours_tag = ours_key.seal(&nonce, &mut ours);
    assert_eq!(ours_tag, theirs_tag, "tag, len {len}");
    assert!(ours == theirs, "ciphertext, len {len}");
    for engine in Engine::available() {
        let mut again = plain.clone();
        assert_eq!(sub.seal_with(engine, tail, &mut again), theirs_tag);
        assert!(again == theirs, "{engine:?} ciphertext, len {len}");
        assert_eq!(sub.open_with(engine, tail, &mut again, &theirs_tag), Ok(()));
        assert!(again == plain, "{engine:?} open, len {len}");
    }

    // Ours opens theirs; theirs opens ours.
    let mut opened = theirs.clone();
    assert_eq!(ours_key.open(&nonce, &mut opened, &theirs_tag), Ok(()));
    assert!(opened == plain, "open, len {len}");
    let mut opened = ours.clone();
    theirs_key
        .decrypt_in_place_detached((&nonce).into(), b"", &mut opened, (&ours_tag).into())
        .unwrap();
    assert!(opened == plain);

    // Forgeries: every bit (flips None) or some random ones.
    let bits = 8 * (16 + len);
    let mut check = |bit: usize| {
        let mut tag = ours_tag;
        let mut buf = ours.clone();
        if bit < 128 {
            tag[bit / 8] ^= 1 << (bit % 8);
        } else {
            buf[(bit - 128) / 8] ^= 1 << (bit % 8);
        }
        let before = buf.clone();
        for engine in Engine::available() {
            assert_eq!(
                sub.open_with(engine, tail, &mut buf, &tag),
                Err(OpenError),
                "{engine:?} bit {bit}, len {len}"
            );
            assert!(buf == before, "buffer changed, bit {bit}, len {len}");
        }
    };
    match flips {
        None => (0..bits).for_each(&mut check),
        Some(n) => (0..n).for_each(|_| check(rng.below(bits))),
    }

    // A wrong nonce or key fails too.
    let mut buf = ours.clone();
    let mut other = nonce;
    other[rng.below(24)] ^= 0x80;
    assert_eq!(ours_key.open(&other, &mut buf, &ours_tag), Err(OpenError));
    assert!(buf == ours);
    let mut k2 = k;
    k2[rng.below(32)] ^= 1;
    assert_eq!(
        Key::new(&k2).open(&nonce, &mut buf, &ours_tag),
        Err(OpenError)
    );
    assert!(buf == ours);
}

#[test]
fn secretbox_matches_rustcrypto_at_every_length() {
    let mut rng = Rng(4);
    for len in 0..=2100 {
        differential(&mut rng, len, Some(4));
    }
}

#[test]
fn secretbox_rejects_every_flipped_bit() {
    let mut rng = Rng(5);
    for len in [
        0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127, 128, 129, 223, 224, 225, 256,
        289, 480, 481,
    ] {
        differential(&mut rng, len, None);
    }
}

#[test]
fn secretbox_matches_rustcrypto_on_large_boxes() {
    let mut rng = Rng(6);
    for len in [65535, 65536, 65537, (1 << 20) + 7] {
        differential(&mut rng, len, Some(16));
    }
}

#[test]
fn prefixed_key_equals_the_full_nonce() {
    let mut rng = Rng(7);
    let key = Key::new(&rng.array());
    let nonce: [u8; 24] = rng.array();
    let (prefix, tail) = split_nonce(&nonce);
    let sub = key.with_prefix(prefix);
    for len in [0, 1, 97, 1000] {
        let mut a = vec![7u8; len];
        let mut b = a.clone();
        assert_eq!(key.seal(&nonce, &mut a), sub.seal(tail, &mut b));
        assert_eq!(a, b);
    }
}

/// CURVE's traffic key: `crypto_box_beforenm` is HSalsa20 of the X25519
/// shared secret; a box under it equals `crypto_box`'s.
#[test]
fn boxes_match_crypto_box() {
    use crypto_box::{SalsaBox, SecretKey};
    let mut rng = Rng(8);
    for len in [0, 33, 65, 1025] {
        let a = SecretKey::from(rng.array::<32>());
        let b = SecretKey::from(rng.array::<32>());
        let theirs = SalsaBox::new(&b.public_key(), &a);
        let shared = a.to_scalar() * curve25519_dalek::MontgomeryPoint(*b.public_key().as_bytes());
        let ours = Key {
            words: hsalsa20(&words8(&shared.0), &[0; 16]),
        };
        let nonce: [u8; 24] = rng.array();
        let mut x = vec![3u8; len];
        let mut y = x.clone();
        let tag = theirs
            .encrypt_in_place_detached((&nonce).into(), b"", &mut x)
            .unwrap();
        assert_eq!(ours.seal(&nonce, &mut y).to_vec(), tag.to_vec());
        assert_eq!(x, y);
    }
}

/// Seal+open per size, in release builds:
/// `cargo test --release -p ferromq-proto secretbox::tests::bench -- --ignored --nocapture`
#[test]
#[ignore]
fn bench() {
    use std::time::Instant;
    // SECRETBOX_BENCH="size:count,..." picks the sizes and counts (for
    // callgrind, which wants few).
    let plan: Vec<(usize, usize)> = match std::env::var("SECRETBOX_BENCH") {
        Ok(s) => s
            .split(',')
            .map(|p| {
                let (a, b) = p.split_once(':').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect(),
        Err(_) => [1usize, 33, 65, 257, 1025, 16385, 65537]
            .iter()
            .map(|&s| (s, (20_000_000 / (s + 200)).max(100)))
            .collect(),
    };
    let key = Key::new(&[9; 32]).with_prefix(b"CurveZMQMESSAGEC");
    for (size, n) in plan {
        let mut buf = vec![0u8; size];
        let t = Instant::now();
        let mut acc = 0u8;
        for i in 0..n as u64 {
            let tail = i.to_be_bytes();
            let tag = key.seal(&tail, &mut buf);
            key.open(&tail, &mut buf, &tag).unwrap();
            acc ^= tag[0];
        }
        let el = t.elapsed();
        println!(
            "seal+open size={size} {:.0} ns/pair ({acc})",
            el.as_nanos() as f64 / n as f64
        );
    }
}

/// Salsa20 (every engine) alone over 64 KiB, and Poly1305 alone on every
/// path from 64 octets to 64 KiB (where the vector paths' thresholds come
/// from), in release builds:
/// `... secretbox::tests::bench_parts -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_parts() {
    use std::time::Instant;
    let mut buf = vec![0u8; 65536];
    let key = words8(&[9; 32]);
    for engine in Engine::available() {
        let t = Instant::now();
        for i in 0..2000u64 {
            for (c, chunk) in buf.chunks_exact_mut(engine.wide()).enumerate() {
                engine.xor_wide(&key, [i as u32, 0], (c * engine.wide() / 64) as u64, chunk);
            }
        }
        println!(
            "{engine:?} salsa20 64KiB {:.0} ns",
            t.elapsed().as_nanos() as f64 / 2000.0
        );
    }
    // Poly1305 per path and size (the vector path from one group on, to
    // see where it starts to pay). The fastest of many short runs: on a
    // shared machine that is the one least disturbed.
    for size in [64usize, 128, 192, 256, 320, 384, 512, 1024, 4096, 65536] {
        let paths = Engine::available().into_iter().map(|e| (e, LOWEST)).chain(
            // AVX-512 engine, AVX2 Poly1305.
            [(
                Engine::detect(),
                WideMin {
                    avx2: 64,
                    avx512: usize::MAX,
                },
            )],
        );
        for (engine, wide) in paths {
            let n = 5_000_000 / (size + 100);
            let mut best = f64::MAX;
            let mut acc = 0u8;
            for _ in 0..40 {
                let t = Instant::now();
                for i in 0..n as u64 {
                    let mut k = [7u8; 32];
                    k[0] = i as u8;
                    acc ^= Poly1305::new(&k, engine).tag(&buf[..size], wide)[0];
                }
                best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
            }
            println!(
                "poly1305 {engine:?} {wide:?} {size} octets {best:.1} ns, {:.3} ns/octet ({acc})",
                best / size as f64
            );
        }
    }
}
