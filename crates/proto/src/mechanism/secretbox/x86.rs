//! Salsa20 with x86_64 vector instructions: SSE2 (which every x86_64 CPU
//! has and every x86_64 target enables) and, when the CPU has them, AVX2
//! and (built with Rust 1.89 or later) AVX-512F and AVX-512VL.
//!
//! The same two shapes as the portable code: one block in the diagonal
//! layout (two blocks side by side with AVX2, one per 128-bit half) and
//! lane-wise batches (four blocks in SSE2 registers, eight in AVX2 ones,
//! sixteen in AVX-512 ones).
//!
//! Why intrinsics: written as plain `[u32; 4]` arithmetic, LLVM costs a
//! vector rotate at several times a scalar `rol` and leaves most of the
//! rounds scalar (callgrind: 63,000 instructions for seal+open of
//! 1,025 octets, against 24,400 for libsodium), so the vector code is
//! spelled out here.
//!
//! `unsafe`: before Rust 1.87 every `core::arch` intrinsic is an `unsafe
//! fn` (later ones are safe where the target feature is enabled, hence
//! `unused_unsafe` allowed); the loads and stores take pointers, which
//! come from references to arrays of the exact size; the AVX2 and AVX-512
//! functions are `unsafe fn`s the caller may only call once the CPU
//! features were detected.
#![allow(unsafe_code, unused_unsafe)]

use super::SIGMA;
use core::arch::x86_64::*;

/// `v <<< n` on every 32-bit lane, SSE2.
macro_rules! rotl4 {
    ($v:expr, $n:literal) => {{
        let v = $v;
        _mm_or_si128(_mm_slli_epi32(v, $n), _mm_srli_epi32(v, 32 - $n))
    }};
}

/// `y ^ ((a + b) <<< n)`, SSE2.
macro_rules! step4 {
    ($y:expr, $a:expr, $b:expr, $n:literal) => {
        _mm_xor_si128($y, rotl4!(_mm_add_epi32($a, $b), $n))
    };
}

/// `v <<< n` on every 32-bit lane, AVX2.
macro_rules! rotl8 {
    ($v:expr, $n:literal) => {{
        let v = $v;
        _mm256_or_si256(_mm256_slli_epi32(v, $n), _mm256_srli_epi32(v, 32 - $n))
    }};
}

/// `y ^ ((a + b) <<< n)`, AVX2.
macro_rules! step8 {
    ($y:expr, $a:expr, $b:expr, $n:literal) => {
        _mm256_xor_si256($y, rotl8!(_mm256_add_epi32($a, $b), $n))
    };
}

// Lane rotations of the diagonal layout, as `_mm_shuffle_epi32` (and its
// AVX2 form, which shuffles each 128-bit half alike) immediates.
/// `[v1, v2, v3, v0]`.
const LANES1: i32 = 0x39;
/// `[v2, v3, v0, v1]`.
const LANES2: i32 = 0x4e;
/// `[v3, v0, v1, v2]`.
const LANES3: i32 = 0x93;

fn sigma4() -> __m128i {
    // SAFETY: SSE2 only (see the module comment).
    unsafe {
        _mm_setr_epi32(
            SIGMA[0] as i32,
            SIGMA[1] as i32,
            SIGMA[2] as i32,
            SIGMA[3] as i32,
        )
    }
}

/// The diagonal-layout rows b, c, d of a block (see `diagonal_input` in
/// the parent module), as four `i32` each.
fn diagonal_rows(k: &[u32; 8], n: [u32; 2], m: [u32; 2]) -> [[i32; 4]; 3] {
    let k = k.map(|w| w as i32);
    let n = n.map(|w| w as i32);
    let m = m.map(|w| w as i32);
    [
        [k[3], m[1], k[7], k[2]],
        [m[0], k[6], k[1], n[1]],
        [k[5], k[0], n[0], k[4]],
    ]
}

fn set4(r: [i32; 4]) -> __m128i {
    // SAFETY: SSE2 only.
    unsafe { _mm_setr_epi32(r[0], r[1], r[2], r[3]) }
}

/// Salsa20's 20 rounds, one block in the diagonal layout, SSE2.
#[inline(always)]
fn rounds4(s: [__m128i; 4]) -> [__m128i; 4] {
    let [mut a, mut b, mut c, mut d] = s;
    // SAFETY: SSE2 only.
    unsafe {
        for _ in 0..20 {
            b = step4!(b, a, d, 7);
            c = step4!(c, b, a, 9);
            d = step4!(d, c, b, 13);
            a = step4!(a, d, c, 18);
            (b, c, d) = (
                _mm_shuffle_epi32(d, LANES1),
                _mm_shuffle_epi32(c, LANES2),
                _mm_shuffle_epi32(b, LANES3),
            );
        }
    }
    [a, b, c, d]
}

/// `[r0, r1, r2, r3]` (rows of 32-bit lanes) transposed, in each 128-bit
/// half.
#[inline(always)]
fn transpose4(r: [__m128i; 4]) -> [__m128i; 4] {
    // SAFETY: SSE2 only.
    unsafe {
        let t0 = _mm_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm_unpacklo_epi32(r[2], r[3]);
        let t2 = _mm_unpackhi_epi32(r[0], r[1]);
        let t3 = _mm_unpackhi_epi32(r[2], r[3]);
        [
            _mm_unpacklo_epi64(t0, t1),
            _mm_unpackhi_epi64(t0, t1),
            _mm_unpacklo_epi64(t2, t3),
            _mm_unpackhi_epi64(t2, t3),
        ]
    }
}

/// The output rows (words 0-3, 4-7, 8-11, 12-15) of a block in the
/// diagonal layout. Row r holds lane r of a and of b, c, d rotated into
/// line, in an order that turns with r.
#[inline(always)]
fn diagonal_to_rows4(s: [__m128i; 4]) -> [__m128i; 4] {
    let [a, b, c, d] = s;
    // SAFETY: SSE2 only.
    unsafe {
        let t = transpose4([
            a,
            _mm_shuffle_epi32(d, LANES1),
            _mm_shuffle_epi32(c, LANES2),
            _mm_shuffle_epi32(b, LANES3),
        ]);
        [
            t[0],
            _mm_shuffle_epi32(t[1], LANES3),
            _mm_shuffle_epi32(t[2], LANES2),
            _mm_shuffle_epi32(t[3], LANES1),
        ]
    }
}

fn store16(out: &mut [u8; 16], v: __m128i) {
    // SAFETY: `out` is 16 writable octets; storeu has no alignment needs.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), v) }
}

fn load16(bytes: &[u8; 16]) -> __m128i {
    // SAFETY: `bytes` is 16 readable octets; loadu has no alignment needs.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

fn chunk16(bytes: &mut [u8], at: usize) -> &mut [u8; 16] {
    (&mut bytes[at..at + 16]).try_into().expect("16 octets")
}

/// HSalsa20 of the key and 16 input octets.
pub(super) fn hsalsa20(k: &[u32; 8], n: [u32; 2], m: [u32; 2]) -> [u32; 8] {
    let [b, c, d] = diagonal_rows(k, n, m);
    let [a, b, c, d] = rounds4([sigma4(), set4(b), set4(c), set4(d)]);
    let mut rows = [[0u8; 16]; 4];
    for (out, v) in rows.iter_mut().zip([a, b, c, d]) {
        store16(out, v);
    }
    let w = |r: usize, i: usize| super::le32(&rows[r][4 * i..]);
    // z0, z5, z10, z15 (all of a), z6 (d2), z7 (c3), z8 (c0), z9 (b1).
    [
        w(0, 0),
        w(0, 1),
        w(0, 2),
        w(0, 3),
        w(3, 2),
        w(2, 3),
        w(2, 0),
        w(1, 1),
    ]
}

/// One keystream block, SSE2.
pub(super) fn block(k: &[u32; 8], n: [u32; 2], counter: u64, out: &mut [u8; 64]) {
    let [b, c, d] = diagonal_rows(k, n, [counter as u32, (counter >> 32) as u32]);
    let input = [sigma4(), set4(b), set4(c), set4(d)];
    let mut s = rounds4(input);
    for (s, i) in s.iter_mut().zip(input) {
        // SAFETY: SSE2 only.
        *s = unsafe { _mm_add_epi32(*s, i) };
    }
    for (r, row) in diagonal_to_rows4(s).into_iter().enumerate() {
        store16(chunk16(out, 16 * r), row);
    }
}

/// Four of Salsa20's quarter-rounds, side by side (one round): each
/// step of the four is written together so that the four dependency
/// chains interleave.
macro_rules! round {
    ($step:ident, $x:ident, [$($a:literal, $b:literal, $c:literal, $d:literal);*]) => {
        $( $x[$b] = $step!($x[$b], $x[$a], $x[$d], 7); )*
        $( $x[$c] = $step!($x[$c], $x[$b], $x[$a], 9); )*
        $( $x[$d] = $step!($x[$d], $x[$c], $x[$b], 13); )*
        $( $x[$a] = $step!($x[$a], $x[$d], $x[$c], 18); )*
    };
}

/// Ten double rounds on a lane-wise state.
macro_rules! double_rounds {
    ($step:ident, $x:ident) => {
        for _ in 0..10 {
            round!($step, $x, [0, 4, 8, 12]);
            round!($step, $x, [5, 9, 13, 1]);
            round!($step, $x, [10, 14, 2, 6]);
            round!($step, $x, [15, 3, 7, 11]);
            round!($step, $x, [0, 1, 2, 3]);
            round!($step, $x, [5, 6, 7, 4]);
            round!($step, $x, [10, 11, 8, 9]);
            round!($step, $x, [15, 12, 13, 14]);
        }
    };
}

/// The sixteen input words, `counter` aside.
fn input_words(k: &[u32; 8], n: [u32; 2]) -> [i32; 16] {
    [
        SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], n[0], n[1], 0, 0, SIGMA[2], k[4], k[5], k[6],
        k[7], SIGMA[3],
    ]
    .map(|w| w as i32)
}

/// XORs 256 octets with keystream blocks `counter .. counter + 4`, SSE2,
/// four blocks side by side.
pub(super) fn xor_wide4(k: &[u32; 8], n: [u32; 2], counter: u64, data: &mut [u8; 256]) {
    let words = input_words(k, n);
    let c: [u64; 4] = core::array::from_fn(|j| counter.wrapping_add(j as u64));
    // SAFETY: SSE2 only; the loads and stores go through `load16` and
    // `store16`.
    unsafe {
        let mut input = words.map(|w| _mm_set1_epi32(w));
        input[8] = _mm_setr_epi32(c[0] as i32, c[1] as i32, c[2] as i32, c[3] as i32);
        input[9] = _mm_setr_epi32(
            (c[0] >> 32) as i32,
            (c[1] >> 32) as i32,
            (c[2] >> 32) as i32,
            (c[3] >> 32) as i32,
        );
        let mut x = input;
        double_rounds!(step4, x);
        for (x, i) in x.iter_mut().zip(input) {
            *x = _mm_add_epi32(*x, i);
        }
        for g in 0..4 {
            let t = transpose4([x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]]);
            for (j, t) in t.into_iter().enumerate() {
                let at = 64 * j + 16 * g;
                let d = chunk16(data, at);
                store16(d, _mm_xor_si128(load16(d), t));
            }
        }
    }
}

/// The body of `blocks2`, with the step (rotate by shifts with AVX2, by
/// `vprold` with AVX-512) as a parameter.
macro_rules! blocks2_body {
    ($step:ident, $k:ident, $n:ident, $counter:ident, $out:ident) => {{
        let c1 = $counter.wrapping_add(1);
        let [b0, c0, d0] = diagonal_rows($k, $n, [$counter as u32, ($counter >> 32) as u32]);
        let [b1, cc1, d1] = diagonal_rows($k, $n, [c1 as u32, (c1 >> 32) as u32]);
        let s = [
            SIGMA[0] as i32,
            SIGMA[1] as i32,
            SIGMA[2] as i32,
            SIGMA[3] as i32,
        ];
        let input = [set8(s, s), set8(b0, b1), set8(c0, cc1), set8(d0, d1)];
        let [mut a, mut b, mut c, mut d] = input;
        for _ in 0..20 {
            b = $step!(b, a, d, 7);
            c = $step!(c, b, a, 9);
            d = $step!(d, c, b, 13);
            a = $step!(a, d, c, 18);
            (b, c, d) = (
                _mm256_shuffle_epi32(d, LANES1),
                _mm256_shuffle_epi32(c, LANES2),
                _mm256_shuffle_epi32(b, LANES3),
            );
        }
        let a = _mm256_add_epi32(a, input[0]);
        let b = _mm256_add_epi32(b, input[1]);
        let c = _mm256_add_epi32(c, input[2]);
        let d = _mm256_add_epi32(d, input[3]);
        // As diagonal_to_rows4, in both halves.
        let t = transpose8([
            a,
            _mm256_shuffle_epi32(d, LANES1),
            _mm256_shuffle_epi32(c, LANES2),
            _mm256_shuffle_epi32(b, LANES3),
        ]);
        let rows = [
            t[0],
            _mm256_shuffle_epi32(t[1], LANES3),
            _mm256_shuffle_epi32(t[2], LANES2),
            _mm256_shuffle_epi32(t[3], LANES1),
        ];
        // Block 0 is the low halves, block 1 the high ones.
        let out = $out;
        store32(
            chunk32(out, 0),
            _mm256_permute2x128_si256(rows[0], rows[1], 0x20),
        );
        store32(
            chunk32(out, 32),
            _mm256_permute2x128_si256(rows[2], rows[3], 0x20),
        );
        store32(
            chunk32(out, 64),
            _mm256_permute2x128_si256(rows[0], rows[1], 0x31),
        );
        store32(
            chunk32(out, 96),
            _mm256_permute2x128_si256(rows[2], rows[3], 0x31),
        );
    }};
}

/// AVX2: two blocks in the diagonal layout, block `counter` in the low
/// 128-bit half and `counter + 1` in the high one.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn blocks2(k: &[u32; 8], n: [u32; 2], counter: u64, out: &mut [u8; 128]) {
    blocks2_body!(step8, k, n, counter, out)
}

/// Eight lanes: `lo` then `hi`.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn set8(lo: [i32; 4], hi: [i32; 4]) -> __m256i {
    _mm256_setr_epi32(lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3])
}

/// `transpose4` in each 128-bit half.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn transpose8(r: [__m256i; 4]) -> [__m256i; 4] {
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm256_unpacklo_epi32(r[2], r[3]);
    let t2 = _mm256_unpackhi_epi32(r[0], r[1]);
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    [
        _mm256_unpacklo_epi64(t0, t1),
        _mm256_unpackhi_epi64(t0, t1),
        _mm256_unpacklo_epi64(t2, t3),
        _mm256_unpackhi_epi64(t2, t3),
    ]
}

fn chunk32(bytes: &mut [u8], at: usize) -> &mut [u8; 32] {
    (&mut bytes[at..at + 32]).try_into().expect("32 octets")
}

/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store32(out: &mut [u8; 32], v: __m256i) {
    // `out` is 32 writable octets; storeu has no alignment needs.
    _mm256_storeu_si256(out.as_mut_ptr().cast(), v)
}

/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load32(bytes: &[u8; 32]) -> __m256i {
    // `bytes` is 32 readable octets; loadu has no alignment needs.
    _mm256_loadu_si256(bytes.as_ptr().cast())
}

/// AVX2: XORs 512 octets with keystream blocks `counter .. counter + 8`,
/// eight blocks side by side.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn xor_wide8(k: &[u32; 8], n: [u32; 2], counter: u64, data: &mut [u8; 512]) {
    let words = input_words(k, n);
    let mut c = [0u64; 8];
    for (j, c) in c.iter_mut().enumerate() {
        *c = counter.wrapping_add(j as u64);
    }
    let mut lo = [0i32; 8];
    let mut hi = [0i32; 8];
    for j in 0..8 {
        lo[j] = c[j] as i32;
        hi[j] = (c[j] >> 32) as i32;
    }
    let mut input = [_mm256_setzero_si256(); 16];
    for (v, w) in input.iter_mut().zip(words) {
        *v = _mm256_set1_epi32(w);
    }
    input[8] = _mm256_setr_epi32(lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7]);
    input[9] = _mm256_setr_epi32(hi[0], hi[1], hi[2], hi[3], hi[4], hi[5], hi[6], hi[7]);
    let mut x = input;
    double_rounds!(step8, x);
    for (x, i) in x.iter_mut().zip(input) {
        *x = _mm256_add_epi32(*x, i);
    }
    // Words 8h .. 8h + 8 of every block: the transposes give, for block j
    // (and j + 4 in the high half), words 8h .. 8h + 4 and 8h + 4 ..
    // 8h + 8; paired, they are 32 consecutive octets.
    for h in 0..2 {
        let p = transpose8([x[8 * h], x[8 * h + 1], x[8 * h + 2], x[8 * h + 3]]);
        let q = transpose8([x[8 * h + 4], x[8 * h + 5], x[8 * h + 6], x[8 * h + 7]]);
        for j in 0..4 {
            let d = chunk32(data, 64 * j + 32 * h);
            let v = _mm256_permute2x128_si256(p[j], q[j], 0x20);
            store32(d, _mm256_xor_si256(load32(d), v));
            let d = chunk32(data, 64 * (j + 4) + 32 * h);
            let v = _mm256_permute2x128_si256(p[j], q[j], 0x31);
            store32(d, _mm256_xor_si256(load32(d), v));
        }
    }
}

// ---------------------------------------------------------------------------
// AVX-512 (Rust 1.89 and later; see build.rs): a rotate is one
// instruction, and 32 registers hold sixteen blocks' state without
// spilling.

/// `y ^ ((a + b) <<< n)`, AVX-512VL on 256-bit registers.
#[cfg(ferromq_avx512)]
macro_rules! step8r {
    ($y:expr, $a:expr, $b:expr, $n:literal) => {
        _mm256_xor_si256($y, _mm256_rol_epi32(_mm256_add_epi32($a, $b), $n))
    };
}

/// `y ^ ((a + b) <<< n)`, AVX-512F.
#[cfg(ferromq_avx512)]
macro_rules! step16 {
    ($y:expr, $a:expr, $b:expr, $n:literal) => {
        _mm512_xor_si512($y, _mm512_rol_epi32(_mm512_add_epi32($a, $b), $n))
    };
}

/// `blocks2` with AVX-512VL rotates.
///
/// # Safety
/// The CPU must have AVX2, AVX-512F and AVX-512VL.
#[cfg(ferromq_avx512)]
// build.rs sets the cfg from Rust 1.89 on, where these are stable.
#[allow(clippy::incompatible_msrv)]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
pub(super) unsafe fn blocks2_avx512(k: &[u32; 8], n: [u32; 2], counter: u64, out: &mut [u8; 128]) {
    blocks2_body!(step8r, k, n, counter, out)
}

/// `transpose4` in each 128-bit quarter.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(ferromq_avx512)]
// build.rs sets the cfg from Rust 1.89 on, where these are stable.
#[allow(clippy::incompatible_msrv)]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn transpose16(r: [__m512i; 4]) -> [__m512i; 4] {
    let t0 = _mm512_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm512_unpacklo_epi32(r[2], r[3]);
    let t2 = _mm512_unpackhi_epi32(r[0], r[1]);
    let t3 = _mm512_unpackhi_epi32(r[2], r[3]);
    [
        _mm512_unpacklo_epi64(t0, t1),
        _mm512_unpackhi_epi64(t0, t1),
        _mm512_unpacklo_epi64(t2, t3),
        _mm512_unpackhi_epi64(t2, t3),
    ]
}

/// AVX-512: XORs 1,024 octets with keystream blocks `counter ..
/// counter + 16`, sixteen blocks side by side.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(ferromq_avx512)]
// build.rs sets the cfg from Rust 1.89 on, where these are stable.
#[allow(clippy::incompatible_msrv)]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn xor_wide16(k: &[u32; 8], n: [u32; 2], counter: u64, data: &mut [u8; 1024]) {
    let words = input_words(k, n);
    let mut lo = [0i32; 16];
    let mut hi = [0i32; 16];
    for j in 0..16 {
        let c = counter.wrapping_add(j as u64);
        lo[j] = c as i32;
        hi[j] = (c >> 32) as i32;
    }
    let mut input = [_mm512_setzero_si512(); 16];
    for (v, w) in input.iter_mut().zip(words) {
        *v = _mm512_set1_epi32(w);
    }
    // `lo` and `hi` are 64 readable octets each.
    input[8] = _mm512_loadu_si512(lo.as_ptr().cast());
    input[9] = _mm512_loadu_si512(hi.as_ptr().cast());
    let mut x = input;
    double_rounds!(step16, x);
    for (x, i) in x.iter_mut().zip(input) {
        *x = _mm512_add_epi32(*x, i);
    }
    // After the transposes, quarter q of t[g][j] is words 4g .. 4g + 4 of
    // block 4q + j; four 128-bit shuffles gather each block's quarters.
    let t = [
        transpose16([x[0], x[1], x[2], x[3]]),
        transpose16([x[4], x[5], x[6], x[7]]),
        transpose16([x[8], x[9], x[10], x[11]]),
        transpose16([x[12], x[13], x[14], x[15]]),
    ];
    #[allow(clippy::needless_range_loop)] // j picks from all four of t.
    for j in 0..4 {
        let u0 = _mm512_shuffle_i32x4(t[0][j], t[1][j], 0x44);
        let u1 = _mm512_shuffle_i32x4(t[0][j], t[1][j], 0xee);
        let u2 = _mm512_shuffle_i32x4(t[2][j], t[3][j], 0x44);
        let u3 = _mm512_shuffle_i32x4(t[2][j], t[3][j], 0xee);
        let blocks = [
            (j, _mm512_shuffle_i32x4(u0, u2, 0x88)),
            (4 + j, _mm512_shuffle_i32x4(u0, u2, 0xdd)),
            (8 + j, _mm512_shuffle_i32x4(u1, u3, 0x88)),
            (12 + j, _mm512_shuffle_i32x4(u1, u3, 0xdd)),
        ];
        for (b, v) in blocks {
            let d: &mut [u8; 64] = (&mut data[64 * b..64 * b + 64])
                .try_into()
                .expect("64 octets");
            // `d` is 64 readable and writable octets; loadu and storeu
            // have no alignment needs.
            let v = _mm512_xor_si512(_mm512_loadu_si512(d.as_ptr().cast()), v);
            _mm512_storeu_si512(d.as_mut_ptr().cast(), v);
        }
    }
}
