//! NaCl's `crypto_secretbox` (XSalsa20-Poly1305), for CURVE traffic.
//!
//! CURVE seals every MESSAGE under the key both peers precompute from
//! their short-term keys (NaCl's `crypto_box_beforenm`), so this is the
//! data path's whole cost. The RustCrypto crates are used for the
//! handshake; this module is what a MESSAGE goes through.
//!
//! The construction (NaCl, "Cryptography in NaCl", section 9):
//!
//! * HSalsa20 turns the key and the first 16 nonce octets into a subkey.
//!   A CURVE MESSAGE nonce starts with a fixed 16-octet prefix
//!   (`CurveZMQMESSAGEC` or `...S`), so [`PrefixedKey`] keeps the subkey
//!   for a prefix and a MESSAGE costs no HSalsa20 at all.
//! * Salsa20/20 under the subkey, with the last 8 nonce octets and a
//!   64-bit block counter from 0, makes the keystream. Its first 32 octets
//!   are the one-time Poly1305 key; the message is XORed with the
//!   keystream from octet 32 on.
//! * The tag is Poly1305 of the ciphertext.
//!
//! Salsa20 runs in two shapes:
//!
//! * one block in the "diagonal" layout: four rows of four words, each
//!   row holding one word of each of the four quarter-rounds of a round,
//!   so a round is 20 lane-wise operations and three lane rotations
//!   (for the first blocks of a box, the short tails, and HSalsa20);
//! * a batch of blocks lane-wise: sixteen vectors of words, lane `j`
//!   belonging to block `counter + j`, so a round has no shuffles at
//!   all; the blocks are transposed once at the end.
//!
//! [`Engine`] picks the code: on x86_64, SSE2 intrinsics (one block; four
//! side by side), AVX2 when the CPU has it (two blocks in one register;
//! eight side by side) and AVX-512 (the same with one-instruction
//! rotates; sixteen side by side) when both the CPU and the compiler
//! (Rust 1.89, see build.rs) have it; see [`x86`] for why intrinsics.
//! Elsewhere, the same shapes as plain arrays.
//!
//! Poly1305 keeps the accumulator in radix 2^64 (two full limbs and a few
//! bits) and multiplies with `u128` products: four 64x64 multiplications
//! per 16-octet block. That is few instructions but one long dependent
//! chain, so on long boxes, when the CPU has AVX2, the whole groups of
//! four blocks go through [`poly_x86`] instead: four interleaved chains in
//! `r^4`, 26-bit limbs, one 64-bit lane each (eight chains in `r^8` with
//! AVX-512, on the longest boxes).

use zeroize::Zeroize;

/// Octets in a key.
pub(crate) const KEY_LEN: usize = 32;
/// Octets in a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;

/// "expand 32-byte k".
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Blocks the wide Salsa20 path computes at once.
const LANES: usize = 4;
/// Octets of keystream one wide step makes.
const WIDE: usize = 64 * LANES;

/// The tag did not match: the box was forged, damaged, or sealed under
/// another key or nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenError;

/// A secretbox key (for CURVE, the precomputed box key of the two
/// short-term keys). Wiped when dropped.
#[derive(Clone)]
pub(crate) struct Key {
    words: [u32; 8],
}

impl Key {
    /// The key from its 32 octets.
    #[cfg(test)]
    pub(crate) fn new(bytes: &[u8; KEY_LEN]) -> Key {
        Key {
            words: words8(bytes),
        }
    }

    /// NaCl's `crypto_box_beforenm` from the X25519 shared secret: its
    /// HSalsa20 under a zero input.
    pub(crate) fn from_shared_secret(shared: &[u8; KEY_LEN]) -> Key {
        let mut words = words8(shared);
        let key = Key {
            words: Engine::detect().hsalsa20(&words, &[0; 16]),
        };
        words.zeroize();
        key
    }

    /// The subkey for every nonce that starts with `prefix` (HSalsa20 of
    /// the key and the prefix).
    pub(crate) fn with_prefix(&self, prefix: &[u8; 16]) -> PrefixedKey {
        PrefixedKey {
            words: Engine::detect().hsalsa20(&self.words, prefix),
        }
    }

    /// Encrypts `buf` in place under a 24-octet nonce and returns the tag.
    pub(crate) fn seal(&self, nonce: &[u8; 24], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let (prefix, tail) = split_nonce(nonce);
        self.with_prefix(prefix).seal(tail, buf)
    }

    /// Checks `tag` against `buf` and, only if it matches, decrypts `buf`
    /// in place. On failure `buf` is left as it was.
    pub(crate) fn open(
        &self,
        nonce: &[u8; 24],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        let (prefix, tail) = split_nonce(nonce);
        self.with_prefix(prefix).open(tail, buf, tag)
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.words.zeroize();
    }
}

/// A key bound to the first 16 octets of the nonce (the HSalsa20
/// subkey): boxes under it take the remaining 8 octets. Wiped when
/// dropped.
#[derive(Clone)]
pub(crate) struct PrefixedKey {
    words: [u32; 8],
}

impl PrefixedKey {
    /// Encrypts `buf` in place under the nonce `prefix || tail` and
    /// returns the tag.
    pub(crate) fn seal(&self, tail: &[u8; 8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        self.seal_with(Engine::detect(), tail, buf)
    }

    fn seal_with(&self, engine: Engine, tail: &[u8; 8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        // Small boxes (most CURVE traffic) make two blocks at most: keep
        // their keystream in a small buffer.
        if buf.len() <= SMALL - 32 {
            self.seal_in::<SMALL>(engine, tail, buf)
        } else {
            self.seal_in::<MAX_WIDE>(engine, tail, buf)
        }
    }

    fn seal_in<const N: usize>(
        &self,
        engine: Engine,
        tail: &[u8; 8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        let mut stream = Stream::<N>::new(engine, &self.words, tail);
        let mut mac = stream.start(buf.len());
        stream.xor(buf);
        mac.update(buf);
        mac.finish()
    }

    /// Checks `tag` against `buf` (in constant time) and, only if it
    /// matches, decrypts `buf` in place. On failure `buf` is left as it
    /// was.
    pub(crate) fn open(
        &self,
        tail: &[u8; 8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        self.open_with(Engine::detect(), tail, buf, tag)
    }

    fn open_with(
        &self,
        engine: Engine,
        tail: &[u8; 8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        if buf.len() <= SMALL - 32 {
            self.open_in::<SMALL>(engine, tail, buf, tag)
        } else {
            self.open_in::<MAX_WIDE>(engine, tail, buf, tag)
        }
    }

    fn open_in<const N: usize>(
        &self,
        engine: Engine,
        tail: &[u8; 8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        let mut stream = Stream::<N>::new(engine, &self.words, tail);
        let mut mac = stream.start(buf.len());
        mac.update(buf);
        if !mac.verify(tag) {
            // Keystream for a nonce whose genuine box may still come.
            stream.ahead.zeroize();
            return Err(OpenError);
        }
        stream.xor(buf);
        Ok(())
    }
}

impl Drop for PrefixedKey {
    fn drop(&mut self) {
        self.words.zeroize();
    }
}

fn split_nonce(nonce: &[u8; 24]) -> (&[u8; 16], &[u8; 8]) {
    let (prefix, tail) = nonce.split_at(16);
    (
        prefix.try_into().expect("16 octets"),
        tail.try_into().expect("8 octets"),
    )
}

fn le32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn le64(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(raw)
}

fn words8(bytes: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (w, b) in w.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = le32(b);
    }
    w
}

// ---------------------------------------------------------------------------
// Lane-wise arithmetic on arrays of words. Every function is a plain loop
// over lanes; inlined, LLVM emits one vector instruction per operation.

type Row = [u32; 4];

#[inline(always)]
fn add<const N: usize>(a: [u32; N], b: [u32; N]) -> [u32; N] {
    let mut r = [0u32; N];
    for i in 0..N {
        r[i] = a[i].wrapping_add(b[i]);
    }
    r
}

#[inline(always)]
fn xor<const N: usize>(a: [u32; N], b: [u32; N]) -> [u32; N] {
    let mut r = [0u32; N];
    for i in 0..N {
        r[i] = a[i] ^ b[i];
    }
    r
}

#[inline(always)]
fn rotl<const N: usize>(a: [u32; N], by: u32) -> [u32; N] {
    let mut r = [0u32; N];
    for i in 0..N {
        r[i] = a[i].rotate_left(by);
    }
    r
}

/// `y ^= (a + b) <<< by`, Salsa20's one step.
#[inline(always)]
fn step<const N: usize>(y: [u32; N], a: [u32; N], b: [u32; N], by: u32) -> [u32; N] {
    xor(y, rotl(add(a, b), by))
}

// ---------------------------------------------------------------------------
// Salsa20, one block, diagonal layout.
//
// The state words x0..x15 sit in four rows so that a column round is four
// quarter-rounds side by side:
//   a = (x0, x5, x10, x15)   b = (x4, x9, x14, x3)
//   c = (x8, x13, x2, x7)    d = (x12, x1, x6, x11)
// The quarter-round (y0, y1, y2, y3) is then (a, b, c, d) lane by lane.
// Rotating b, c, d by one, two and three lanes (and swapping b and d)
// lines up the row round's quarter-rounds the same way, and the same
// rotation brings the column layout back.

/// `[v1, v2, v3, v0]`.
#[inline(always)]
fn lanes1(v: Row) -> Row {
    [v[1], v[2], v[3], v[0]]
}

/// `[v2, v3, v0, v1]`.
#[inline(always)]
fn lanes2(v: Row) -> Row {
    [v[2], v[3], v[0], v[1]]
}

/// `[v3, v0, v1, v2]`.
#[inline(always)]
fn lanes3(v: Row) -> Row {
    [v[3], v[0], v[1], v[2]]
}

/// Salsa20's 20 rounds on a state in the diagonal layout, without the
/// final addition of the input.
#[inline(always)]
fn rounds_diagonal(s: [Row; 4]) -> [Row; 4] {
    let [mut a, mut b, mut c, mut d] = s;
    for _ in 0..20 {
        b = step(b, a, d, 7);
        c = step(c, b, a, 9);
        d = step(d, c, b, 13);
        a = step(a, d, c, 18);
        (b, c, d) = (lanes1(d), lanes2(c), lanes3(b));
    }
    [a, b, c, d]
}

/// The input of the Salsa20 core in the diagonal layout: the key, the
/// words at positions 6 and 7 (`n`) and 8 and 9 (`m`).
#[inline(always)]
fn diagonal_input(k: &[u32; 8], n: [u32; 2], m: [u32; 2]) -> [Row; 4] {
    [
        SIGMA,
        [k[3], m[1], k[7], k[2]],
        [m[0], k[6], k[1], n[1]],
        [k[5], k[0], n[0], k[4]],
    ]
}

/// HSalsa20: 32 octets from a key and 16 input octets.
fn hsalsa20(k: &[u32; 8], input: &[u8; 16]) -> [u32; 8] {
    let n = [le32(&input[0..]), le32(&input[4..])];
    let m = [le32(&input[8..]), le32(&input[12..])];
    let [a, b, c, d] = rounds_diagonal(diagonal_input(k, n, m));
    // z0, z5, z10, z15, z6, z7, z8, z9.
    [a[0], a[1], a[2], a[3], d[2], c[3], c[0], b[1]]
}

/// One Salsa20 keystream block (block `counter` of nonce `n`), as words.
#[inline(always)]
fn block(k: &[u32; 8], n: [u32; 2], counter: u64) -> [u32; 16] {
    let input = diagonal_input(k, n, [counter as u32, (counter >> 32) as u32]);
    let out = rounds_diagonal(input);
    let [a, b, c, d] = [
        add(out[0], input[0]),
        add(out[1], input[1]),
        add(out[2], input[2]),
        add(out[3], input[3]),
    ];
    [
        a[0], d[1], c[2], b[3], //
        b[0], a[1], d[2], c[3], //
        c[0], b[1], a[2], d[3], //
        d[0], c[1], b[2], a[3],
    ]
}

// ---------------------------------------------------------------------------
// Salsa20, LANES blocks at once: word i of block counter + j is x[i][j].

/// Salsa20's quarter-round on four words of lane vectors.
#[inline(always)]
fn quarter<const N: usize>(x: &mut [[u32; N]; 16], a: usize, b: usize, c: usize, d: usize) {
    x[b] = step(x[b], x[a], x[d], 7);
    x[c] = step(x[c], x[b], x[a], 9);
    x[d] = step(x[d], x[c], x[b], 13);
    x[a] = step(x[a], x[d], x[c], 18);
}

/// Keystream blocks `counter .. counter + N`, lane-wise (with the input
/// added).
#[inline(always)]
fn blocks_wide<const N: usize>(k: &[u32; 8], n: [u32; 2], counter: u64) -> [[u32; N]; 16] {
    let words = [
        SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], n[0], n[1], 0, 0, SIGMA[2], k[4], k[5], k[6],
        k[7], SIGMA[3],
    ];
    let mut input = [[0u32; N]; 16];
    for (lanes, &w) in input.iter_mut().zip(words.iter()) {
        *lanes = [w; N];
    }
    let [.., lo, hi, _, _, _, _, _, _] = &mut input;
    for (j, (lo, hi)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
        let c = counter.wrapping_add(j as u64);
        *lo = c as u32;
        *hi = (c >> 32) as u32;
    }
    let mut x = input;
    for _ in 0..10 {
        quarter(&mut x, 0, 4, 8, 12);
        quarter(&mut x, 5, 9, 13, 1);
        quarter(&mut x, 10, 14, 2, 6);
        quarter(&mut x, 15, 3, 7, 11);
        quarter(&mut x, 0, 1, 2, 3);
        quarter(&mut x, 5, 6, 7, 4);
        quarter(&mut x, 10, 11, 8, 9);
        quarter(&mut x, 15, 12, 13, 14);
    }
    for i in 0..16 {
        x[i] = add(x[i], input[i]);
    }
    x
}

/// XORs `WIDE` octets of `data` with keystream blocks `counter ..`.
#[inline(always)]
fn xor_wide(k: &[u32; 8], n: [u32; 2], counter: u64, data: &mut [u8; WIDE]) {
    let x = blocks_wide::<LANES>(k, n, counter);
    for (j, block) in data.chunks_exact_mut(64).enumerate() {
        for (i, word) in block.chunks_exact_mut(4).enumerate() {
            let w = le32(word) ^ x[i][j];
            word.copy_from_slice(&w.to_le_bytes());
        }
    }
}

fn keystream_block(k: &[u32; 8], n: [u32; 2], counter: u64, out: &mut [u8; 64]) {
    let w = block(k, n, counter);
    for (o, w) in out.chunks_exact_mut(4).zip(w.iter()) {
        o.copy_from_slice(&w.to_le_bytes());
    }
}

fn xor_into(data: &mut [u8], keystream: &[u8]) {
    for (d, k) in data.iter_mut().zip(keystream) {
        *d ^= *k;
    }
}

/// The most octets of keystream any engine makes in one step.
const MAX_WIDE: usize = if cfg!(all(target_arch = "x86_64", ferromq_avx512)) {
    1024
} else {
    512
};

/// How Salsa20 runs: chosen once per box from what the CPU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// Plain arrays (every architecture; on x86_64 only in tests).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    Portable,
    /// SSE2 intrinsics: one block, or four side by side.
    #[cfg(target_arch = "x86_64")]
    Sse2,
    /// AVX2 intrinsics: two blocks, or eight side by side.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 intrinsics: two blocks, or sixteen side by side.
    #[cfg(all(target_arch = "x86_64", ferromq_avx512))]
    Avx512,
}

impl Engine {
    /// The best engine this CPU runs.
    #[inline]
    fn detect() -> Engine {
        #[cfg(target_arch = "x86_64")]
        {
            #[cfg(ferromq_avx512)]
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx2")
            {
                return Engine::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") {
                Engine::Avx2
            } else {
                Engine::Sse2
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Engine::Portable
        }
    }

    /// The vector Poly1305 that goes with this engine: the CPU features
    /// that chose the engine are the ones it needs.
    fn poly_lanes(self) -> PolyLanes {
        match self {
            #[cfg(target_arch = "x86_64")]
            Engine::Avx2 => PolyLanes::Avx2,
            #[cfg(all(target_arch = "x86_64", ferromq_avx512))]
            Engine::Avx512 => PolyLanes::Avx512,
            _ => PolyLanes::Scalar,
        }
    }

    /// Octets of keystream one wide step makes.
    fn wide(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Engine::Avx2 => 512,
            #[cfg(all(target_arch = "x86_64", ferromq_avx512))]
            Engine::Avx512 => 1024,
            _ => WIDE,
        }
    }

    /// XORs `data` (`self.wide()` octets) with keystream blocks from
    /// `counter` on.
    fn xor_wide(self, k: &[u32; 8], n: [u32; 2], counter: u64, data: &mut [u8]) {
        match self {
            Engine::Portable => xor_wide(k, n, counter, data.try_into().expect("WIDE")),
            #[cfg(target_arch = "x86_64")]
            Engine::Sse2 => x86::xor_wide4(k, n, counter, data.try_into().expect("256")),
            #[cfg(target_arch = "x86_64")]
            Engine::Avx2 => {
                let data = data.try_into().expect("512");
                // SAFETY: `Engine::Avx2` is only chosen when the CPU has
                // AVX2 (`detect`, and `available` in tests).
                #[allow(unsafe_code)]
                unsafe {
                    x86::xor_wide8(k, n, counter, data)
                }
            }
            #[cfg(all(target_arch = "x86_64", ferromq_avx512))]
            Engine::Avx512 => {
                let data = data.try_into().expect("1024");
                // SAFETY: `Engine::Avx512` is only chosen when the CPU has
                // AVX-512F, AVX-512VL and AVX2.
                #[allow(unsafe_code)]
                unsafe {
                    x86::xor_wide16(k, n, counter, data)
                }
            }
        }
    }

    /// Keystream blocks `counter ..` into `out` (a multiple of 64 octets,
    /// at most `self.wide()`), the cheapest way for that many.
    fn fill(self, k: &[u32; 8], n: [u32; 2], counter: u64, out: &mut [u8]) {
        let blocks = out.len() / 64;
        debug_assert!(out.len() % 64 == 0 && out.len() <= self.wide());
        match self {
            #[cfg(target_arch = "x86_64")]
            Engine::Avx2 if blocks <= 4 => {
                let mut c = counter;
                for pair in out.chunks_mut(128) {
                    let mut two = [0u8; 128];
                    // SAFETY: as in `xor_wide`.
                    #[allow(unsafe_code)]
                    unsafe {
                        x86::blocks2(k, n, c, &mut two)
                    };
                    pair.copy_from_slice(&two[..pair.len()]);
                    c = c.wrapping_add(2);
                }
            }
            #[cfg(all(target_arch = "x86_64", ferromq_avx512))]
            Engine::Avx512 if blocks <= 4 => {
                let mut c = counter;
                for pair in out.chunks_mut(128) {
                    let mut two = [0u8; 128];
                    // SAFETY: as in `xor_wide`.
                    #[allow(unsafe_code)]
                    unsafe {
                        x86::blocks2_avx512(k, n, c, &mut two)
                    };
                    pair.copy_from_slice(&two[..pair.len()]);
                    c = c.wrapping_add(2);
                }
            }
            #[cfg(all(target_arch = "x86_64", ferromq_avx512))]
            Engine::Avx512 if blocks <= 8 => Engine::Avx2.fill(k, n, counter, out),
            #[cfg(target_arch = "x86_64")]
            Engine::Sse2 if blocks <= 3 => {
                for (i, b) in out.chunks_exact_mut(64).enumerate() {
                    x86::block(
                        k,
                        n,
                        counter.wrapping_add(i as u64),
                        b.try_into().expect("64"),
                    );
                }
            }
            Engine::Portable if blocks <= 2 => {
                for (i, b) in out.chunks_exact_mut(64).enumerate() {
                    keystream_block(
                        k,
                        n,
                        counter.wrapping_add(i as u64),
                        b.try_into().expect("64"),
                    );
                }
            }
            _ => {
                let wide = self.wide();
                if out.len() == wide {
                    out.fill(0);
                    self.xor_wide(k, n, counter, out);
                } else {
                    let mut ks = [0u8; MAX_WIDE];
                    self.xor_wide(k, n, counter, &mut ks[..wide]);
                    out.copy_from_slice(&ks[..out.len()]);
                    // Perhaps the Poly1305 key.
                    ks[..32].zeroize();
                }
            }
        }
    }

    /// HSalsa20.
    fn hsalsa20(self, k: &[u32; 8], input: &[u8; 16]) -> [u32; 8] {
        match self {
            #[cfg(target_arch = "x86_64")]
            _ if self != Engine::Portable => x86::hsalsa20(
                k,
                [le32(&input[0..]), le32(&input[4..])],
                [le32(&input[8..]), le32(&input[12..])],
            ),
            _ => hsalsa20(k, input),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "x86_64")]
mod poly_x86;

#[cfg(test)]
impl Engine {
    /// Every engine this CPU runs.
    fn available() -> Vec<Engine> {
        #[allow(unused_mut)]
        let mut all = vec![Engine::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            all.push(Engine::Sse2);
            if std::is_x86_feature_detected!("avx2") {
                all.push(Engine::Avx2);
            }
            #[cfg(ferromq_avx512)]
            if Engine::detect() == Engine::Avx512 {
                all.push(Engine::Avx512);
            }
        }
        all
    }
}

/// Keystream buffer of the small boxes: two blocks.
const SMALL: usize = 128;

/// The XSalsa20 keystream of one box, made `N` octets at a time at most:
/// its first 32 octets (the Poly1305 key) and the start of the rest are
/// made together; [`Stream::xor`] uses what was made before making more.
struct Stream<'a, const N: usize> {
    engine: Engine,
    key: &'a [u32; 8],
    nonce: [u32; 2],
    /// Keystream made ahead: `ahead[32..ahead_len]` has not been used.
    ahead: [u8; N],
    ahead_len: usize,
}

impl<'a, const N: usize> Stream<'a, N> {
    fn new(engine: Engine, key: &'a [u32; 8], tail: &[u8; 8]) -> Stream<'a, N> {
        Stream {
            engine,
            key,
            nonce: [le32(&tail[0..]), le32(&tail[4..])],
            ahead: [0; N],
            ahead_len: 0,
        }
    }

    /// Makes the keystream's first blocks (enough for a box of `len`
    /// octets, up to one wide step or `N` octets) and returns Poly1305
    /// under the key they start with.
    fn start(&mut self, len: usize) -> Poly1305 {
        let most = self.engine.wide().min(N) / 64;
        let len = (32 + len).div_ceil(64).min(most) * 64;
        self.engine
            .fill(self.key, self.nonce, 0, &mut self.ahead[..len]);
        self.ahead_len = len;
        Poly1305::new(&self.ahead[..32], self.engine)
    }

    /// XORs `buf` with the keystream from octet 32 on.
    fn xor(&mut self, buf: &mut [u8]) {
        let ready = (self.ahead_len - 32).min(buf.len());
        let (head, rest) = buf.split_at_mut(ready);
        xor_into(head, &self.ahead[32..32 + ready]);
        let mut counter = (self.ahead_len / 64) as u64;
        let wide = self.engine.wide();
        let mut chunks = rest.chunks_exact_mut(wide);
        for chunk in &mut chunks {
            self.engine.xor_wide(self.key, self.nonce, counter, chunk);
            counter += (wide / 64) as u64;
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            // Only when N is a wide step: a small stream holds its box's
            // whole keystream.
            let len = tail.len().div_ceil(64) * 64;
            self.engine
                .fill(self.key, self.nonce, counter, &mut self.ahead[..len]);
            xor_into(tail, &self.ahead[..len]);
        }
    }
}

impl<const N: usize> Drop for Stream<'_, N> {
    fn drop(&mut self) {
        // The Poly1305 key. The rest of the keystream is the XOR of the
        // plaintext and the ciphertext, which the caller holds both of
        // (a failed open wipes it all).
        self.ahead[..32].zeroize();
    }
}

// ---------------------------------------------------------------------------
// Poly1305, radix 2^64.

/// Poly1305 with its key: the accumulator `h` is `h0 + h1 * 2^64 + h2 *
/// 2^128`, kept below 2^130 + 2^128 between blocks (so `h2 <= 4`).
/// A block takes four 64x64 products and two small ones.
struct Poly1305 {
    r0: u64,
    r1: u64,
    pad0: u64,
    pad1: u64,
    h0: u64,
    h1: u64,
    h2: u64,
    /// The vector path long messages may take.
    lanes: PolyLanes,
}

/// The vector Poly1305 a box may use, from what the CPU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolyLanes {
    /// None: every block in the scalar chain.
    Scalar,
    /// Four lanes of AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Eight lanes of AVX-512F (four of AVX2 for shorter messages).
    #[cfg(all(target_arch = "x86_64", ferromq_avx512))]
    Avx512,
}

/// The shortest messages (in octets) each vector Poly1305 takes.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct WideMin {
    avx2: usize,
    #[cfg_attr(not(ferromq_avx512), allow(dead_code))]
    avx512: usize,
}

impl Poly1305 {
    /// Poly1305 under the first 32 octets of `key`, on the fastest path
    /// `engine` says the CPU has.
    fn new(key: &[u8], engine: Engine) -> Poly1305 {
        Poly1305 {
            lanes: engine.poly_lanes(),
            // Clamped: the top four bits of every 32-bit word and the low
            // two bits of the upper three cleared.
            r0: le64(&key[0..]) & 0x0fff_fffc_0fff_ffff,
            r1: le64(&key[8..]) & 0x0fff_fffc_0fff_fffc,
            pad0: le64(&key[16..]),
            pad1: le64(&key[24..]),
            h0: 0,
            h1: 0,
            h2: 0,
        }
    }

    /// Adds the 16-octet block `m0 + m1 * 2^64 + hibit * 2^128` and
    /// multiplies by `r` modulo 2^130 - 5 (partly reduced).
    #[inline(always)]
    fn block(&mut self, m0: u64, m1: u64, hibit: u64) {
        let (r0, r1) = (self.r0, self.r1);
        // 5 * r1 / 4: exact, clamping cleared r1's low two bits.
        let s1 = r1 + (r1 >> 2);
        // h += m
        let a = self.h0 as u128 + m0 as u128;
        let b = self.h1 as u128 + m1 as u128 + (a >> 64);
        let (h0, h1) = (a as u64, b as u64);
        // h2 <= 4 before, so at most 6 here.
        let h2 = self.h2 + (b >> 64) as u64 + hibit;

        // h * r, folding 2^130 = 5 (mod p) into the products:
        //   h1 r1 2^128 = h1 (r1 / 4) 2^130 = h1 s1
        //   h2 r1 2^192 = h2 (r1 / 4) 2^194 = h2 s1 2^64
        // r0, r1 < 2^60, s1 < 2^61 and h2 <= 6: no sum overflows.
        let d0 = h0 as u128 * r0 as u128 + h1 as u128 * s1 as u128;
        let d1 = h0 as u128 * r1 as u128 + h1 as u128 * r0 as u128 + (h2 * s1) as u128 + (d0 >> 64);
        let d2 = h2 * r0 + (d1 >> 64) as u64;

        // h = d0 + d1 2^64 + d2 2^128: keep d2's low two bits and fold
        // the rest, 2^130 (d2 >> 2), in as 5 (d2 >> 2).
        let c = (d2 & !3) + (d2 >> 2);
        let a = d0 as u64 as u128 + c as u128;
        let b = d1 as u64 as u128 + (a >> 64);
        self.h0 = a as u64;
        self.h1 = b as u64;
        self.h2 = (d2 & 3) + (b >> 64) as u64;
    }

    /// Processes `data` as a whole message (the last block may be short).
    fn update(&mut self, data: &[u8]) {
        self.update_from(data, WIDE_MIN);
    }

    /// [`Poly1305::update`], taking the vector paths (where the CPU has
    /// them) from `wide_min` octets on; tests lower it to reach them with
    /// short messages.
    #[inline]
    fn update_from(&mut self, data: &[u8], wide_min: WideMin) {
        let data = self.update_wide(data, wide_min);
        let mut blocks = data.chunks_exact(16);
        for b in &mut blocks {
            self.block(le64(&b[0..]), le64(&b[8..]), 1);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            // The short block, then a 1 octet, then zeros (built without
            // a call to memcpy).
            let mut m = 1u128 << (8 * rest.len());
            for (i, &b) in rest.iter().enumerate() {
                m |= (b as u128) << (8 * i);
            }
            self.block(m as u64, (m >> 64) as u64, 0);
        }
    }

    /// On a CPU with AVX2 (AVX-512) and a message of at least
    /// `wide_min.avx2` (`.avx512`) octets, processes its whole groups of
    /// four (eight) blocks side by side and returns the rest; otherwise
    /// returns all of `data`.
    #[inline]
    fn update_wide<'d>(&mut self, data: &'d [u8], wide_min: WideMin) -> &'d [u8] {
        // Unused where there are no vector paths.
        let _ = wide_min;
        match self.lanes {
            #[cfg(target_arch = "x86_64")]
            PolyLanes::Avx2 if data.len() >= wide_min.avx2.max(64) => {
                self.run_lanes::<4>(data, |h, powers, r2n, groups| {
                    // SAFETY: `PolyLanes::Avx2` is only chosen for engines
                    // chosen when the CPU has AVX2 (`Engine::poly_lanes`);
                    // `groups` is a nonzero multiple of 64 octets.
                    #[allow(unsafe_code)]
                    unsafe {
                        poly_x86::avx2::blocks(h, powers, r2n, groups)
                    }
                })
            }
            #[cfg(all(target_arch = "x86_64", ferromq_avx512))]
            PolyLanes::Avx512 if data.len() >= wide_min.avx512.max(128) => {
                self.run_lanes::<8>(data, |h, powers, r2n, groups| {
                    // SAFETY: `PolyLanes::Avx512` is only chosen for the
                    // engine chosen when the CPU has AVX-512F (and AVX2);
                    // `groups` is a nonzero multiple of 128 octets.
                    #[allow(unsafe_code)]
                    unsafe {
                        poly_x86::avx512::blocks(h, powers, r2n, groups)
                    }
                })
            }
            #[cfg(all(target_arch = "x86_64", ferromq_avx512))]
            PolyLanes::Avx512 if data.len() >= wide_min.avx2.max(64) => {
                self.run_lanes::<4>(data, |h, powers, r2n, groups| {
                    // SAFETY: as for `PolyLanes::Avx512` above (AVX2 too).
                    #[allow(unsafe_code)]
                    unsafe {
                        poly_x86::avx2::blocks(h, powers, r2n, groups)
                    }
                })
            }
            _ => data,
        }
    }

    /// Runs `blocks` (a vector Poly1305 in `N` lanes) over the whole
    /// groups of `N` blocks of `data` (at least one) and returns the rest.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn run_lanes<'d, const N: usize>(
        &mut self,
        data: &'d [u8],
        blocks: impl FnOnce(&Limbs, &[Limbs; N], &Limbs, &[u8]) -> Limbs,
    ) -> &'d [u8] {
        let group = 16 * N;
        let (groups, rest) = data.split_at(data.len() / group * group);
        let mut powers = self.powers::<N>();
        // r^(2N) for the two-group steps, when there are any.
        let mut r2n = if groups.len() >= 3 * group {
            mul_limbs(&powers[N - 1], &powers[N - 1])
        } else {
            [0; 5]
        };
        let h = to_limbs(self.h0, self.h1, self.h2);
        let h = blocks(&h, &powers, &r2n, groups);
        powers.zeroize();
        r2n.zeroize();
        (self.h0, self.h1, self.h2) = from_limbs(carry_limbs(h));
        rest
    }

    /// `r, r^2, .. r^N` in radix 2^26, limbs below 2^26 + 2^11: each a
    /// scalar block step (four 64x64 products) from the one before,
    /// cheaper than products in radix 2^26 (25 each).
    #[cfg(target_arch = "x86_64")]
    fn powers<const N: usize>(&self) -> [Limbs; N] {
        let mut p = Poly1305 {
            r0: self.r0,
            r1: self.r1,
            pad0: 0,
            pad1: 0,
            h0: self.r0,
            h1: self.r1,
            h2: 0,
            lanes: PolyLanes::Scalar,
        };
        let mut powers = [[0; 5]; N];
        for (i, power) in powers.iter_mut().enumerate() {
            if i > 0 {
                p.block(0, 0, 0);
            }
            *power = carry_limbs(to_limbs(p.h0, p.h1, p.h2));
        }
        powers
    }

    /// The tag.
    fn finish(&mut self) -> [u8; TAG_LEN] {
        // h < 2^130 + 2^128 < 2p: subtract p once if h >= p, which is when
        // h + 5 reaches 2^130. Selected with masks, not branches.
        let g0 = self.h0 as u128 + 5;
        let g1 = self.h1 as u128 + (g0 >> 64);
        let g2 = self.h2 + (g1 >> 64) as u64;
        let take_g = (g2 >> 2).wrapping_neg();
        let h0 = (self.h0 & !take_g) | (g0 as u64 & take_g);
        let h1 = (self.h1 & !take_g) | (g1 as u64 & take_g);
        // tag = (h + pad) mod 2^128
        let s0 = h0 as u128 + self.pad0 as u128;
        let s1 = (h1 as u128 + self.pad1 as u128 + (s0 >> 64)) as u64;
        let mut tag = [0u8; TAG_LEN];
        tag[..8].copy_from_slice(&(s0 as u64).to_le_bytes());
        tag[8..].copy_from_slice(&s1.to_le_bytes());
        tag
    }

    /// Whether the tag equals `expected`, compared in constant time.
    fn verify(&mut self, expected: &[u8; TAG_LEN]) -> bool {
        let tag = self.finish();
        let diff = u128::from_le_bytes(tag) ^ u128::from_le_bytes(*expected);
        // Fold to one bit without data-dependent branches.
        let folded = (diff as u64) | ((diff >> 64) as u64);
        let nonzero = (folded | folded.wrapping_neg()) >> 63;
        core::hint::black_box(nonzero) == 0
    }
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.r0.zeroize();
        self.r1.zeroize();
        self.pad0.zeroize();
        self.pad1.zeroize();
        self.h0.zeroize();
        self.h1.zeroize();
        self.h2.zeroize();
    }
}

/// Where the vector Poly1305s start to pay (`bench_parts`): below, the
/// powers of `r` and the lane sums cost more than the lanes save. AVX2
/// against scalar: level at 256 octets, 8% faster at 320, 40% at 1 KiB,
/// more than twice as fast from 4 KiB on. AVX-512 against AVX2 (whose
/// powers of `r` it needs twice as many of): 20% slower at 1 KiB, 20%
/// faster at 4 KiB, 1.5 times as fast at 64 KiB.
const WIDE_MIN: WideMin = WideMin {
    avx2: 320,
    avx512: 2048,
};

/// A number modulo 2^130 - 5 as five 26-bit limbs (each may run a little
/// over 26 bits): `l0 + l1 2^26 + l2 2^52 + l3 2^78 + l4 2^104`.
type Limbs = [u64; 5];

/// 2^26 - 1.
const MASK26: u64 = (1 << 26) - 1;

/// `h0 + h1 2^64 + h2 2^128` (`h2` a few bits) in radix 2^26.
fn to_limbs(h0: u64, h1: u64, h2: u64) -> Limbs {
    [
        h0 & MASK26,
        (h0 >> 26) & MASK26,
        ((h0 >> 52) | (h1 << 12)) & MASK26,
        (h1 >> 14) & MASK26,
        (h1 >> 40) | (h2 << 24),
    ]
}

/// Carries limbs of up to 2^60 down to 26 bits (limbs 1 and 4 to
/// 2^26 + 2^11), folding the carry out of limb 4 into limb 0 times five;
/// the same steps as `poly_x86::carry`.
fn carry_limbs(l: Limbs) -> Limbs {
    let [mut l0, mut l1, mut l2, mut l3, mut l4] = l;
    l1 += l0 >> 26;
    l0 &= MASK26;
    l4 += l3 >> 26;
    l3 &= MASK26;
    l2 += l1 >> 26;
    l1 &= MASK26;
    l0 += (l4 >> 26) * 5;
    l4 &= MASK26;
    l3 += l2 >> 26;
    l2 &= MASK26;
    l1 += l0 >> 26;
    l0 &= MASK26;
    l4 += l3 >> 26;
    l3 &= MASK26;
    [l0, l1, l2, l3, l4]
}

/// Back to radix 2^64 from carried limbs (below 2^130 + 2^116, so the
/// top word is at most 4, as [`Poly1305::block`] wants).
fn from_limbs(l: Limbs) -> (u64, u64, u64) {
    let lo = l[0] as u128 + ((l[1] as u128) << 26) + ((l[2] as u128) << 52);
    let hi = (lo >> 64) + ((l[3] as u128) << 14) + ((l[4] as u128) << 40);
    (lo as u64, hi as u64, (hi >> 64) as u64)
}

/// `a * b` modulo 2^130 - 5, carried; limbs of both below 2^27.
fn mul_limbs(a: &Limbs, b: &Limbs) -> Limbs {
    let s = b.map(|x| x * 5);
    let mut d = [0u64; 5];
    for (i, &ai) in a.iter().enumerate() {
        for j in 0..5 {
            // a_i b_j lands on limb i + j, or as a_i (5 b_j) on i + j - 5.
            let k = i + j;
            d[k % 5] += ai * if k < 5 { b[j] } else { s[j] };
        }
    }
    carry_limbs(d)
}

#[cfg(test)]
mod tests;
