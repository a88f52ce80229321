//! Poly1305 four blocks at a time with AVX2, for long messages.
//!
//! The scalar Poly1305 (radix 2^64 in the parent module) is a chain: each
//! block's multiplication waits for the previous one, so a 64 KiB box is
//! bound by the latency of that chain, not by how many multiplications
//! it makes. Here the message is split into four interleaved streams
//! (block `4k + j` goes to lane `j`), each a Horner chain in `r^4`:
//!
//! ```text
//! A_j <- (A_j + c_{4k+j}) * r^4        for every group of four but the last
//! h   =  (A_0 + c) r^4 + (A_1 + c) r^3 + (A_2 + c) r^2 + (A_3 + c) r
//! ```
//!
//! which is the same polynomial as `(((h + c_1) r + c_2) r + ...) r`
//! (block `c_i` of `n` ends up multiplied by `r^(n - i + 1)` either way),
//! with the incoming accumulator `h` added to lane 0's first block.
//!
//! Numbers are five 26-bit limbs, one 64-bit lane per stream, so the
//! products are `_mm256_mul_epu32` (32x32 -> 64) and the sums of five of
//! them stay far below 2^64. `2^130 = 5 (mod p)` folds the high half of
//! the schoolbook product into the low one through `5 r_i`.
//!
//! `unsafe`: before Rust 1.87 every `core::arch` intrinsic is an `unsafe
//! fn` (hence `unused_unsafe` allowed for later compilers); the loads
//! take pointers from slices whose length is checked first; [`blocks4`]
//! is an `unsafe fn` the caller may only call once AVX2 was detected.
#![allow(unsafe_code, unused_unsafe)]

use super::{Limbs, MASK26};
use core::arch::x86_64::*;

/// One number per lane, limb `i` of every lane in `v[i]`.
type Vec5 = [__m256i; 5];

/// `a * b` lane by lane, where `s[i] = 5 * b[i]`, not carried.
///
/// Bounds: `a`'s limbs below 2^28.4 (a carried number plus a block, or
/// the incoming accumulator plus a block), `b`'s below 2^26 + 2^11 and
/// `s`'s below 2^28.4: each product is below 2^56.8, a sum of five below
/// 2^59.2, and the sum of two such products (what the loop carries)
/// below 2^60.2, which [`carry`] takes.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn mul_wide(a: &Vec5, b: &Vec5, s: &Vec5) -> Vec5 {
    // Macros, not closures: a closure would not inherit AVX2 before
    // Rust 1.86 (and would then not inline the intrinsics).
    macro_rules! m {
        ($x:expr, $y:expr $(,)?) => {
            _mm256_mul_epu32($x, $y)
        };
    }
    macro_rules! add {
        ($x:expr, $y:expr $(,)?) => {
            _mm256_add_epi64($x, $y)
        };
    }
    // Schoolbook, with a_i b_j for i + j >= 5 taken as a_i (5 b_j) at
    // limb i + j - 5.
    let d0 = add!(
        add!(m!(a[0], b[0]), m!(a[1], s[4])),
        add!(add!(m!(a[2], s[3]), m!(a[3], s[2])), m!(a[4], s[1])),
    );
    let d1 = add!(
        add!(m!(a[0], b[1]), m!(a[1], b[0])),
        add!(add!(m!(a[2], s[4]), m!(a[3], s[3])), m!(a[4], s[2])),
    );
    let d2 = add!(
        add!(m!(a[0], b[2]), m!(a[1], b[1])),
        add!(add!(m!(a[2], b[0]), m!(a[3], s[4])), m!(a[4], s[3])),
    );
    let d3 = add!(
        add!(m!(a[0], b[3]), m!(a[1], b[2])),
        add!(add!(m!(a[2], b[1]), m!(a[3], b[0])), m!(a[4], s[4])),
    );
    let d4 = add!(
        add!(m!(a[0], b[4]), m!(a[1], b[3])),
        add!(add!(m!(a[2], b[2]), m!(a[3], b[1])), m!(a[4], b[0])),
    );
    [d0, d1, d2, d3, d4]
}

/// `a * b` lane by lane (see [`mul_wide`]), partly reduced (see [`carry`]).
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn mul(a: &Vec5, b: &Vec5, s: &Vec5) -> Vec5 {
    carry(mul_wide(a, b, s))
}

/// Carries limbs of up to 2^61 down to 26 bits (limbs 1 and 4 to
/// 2^26 + 2^11),
/// folding the carry out of limb 4 back into limb 0 times five. Two
/// chains side by side (0 -> 1 -> 2 -> 3 and 3 -> 4 -> 0 -> 1) halve the
/// dependent steps.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn carry(d: Vec5) -> Vec5 {
    let mask = _mm256_set1_epi64x(MASK26 as i64);
    let [mut d0, mut d1, mut d2, mut d3, mut d4] = d;
    // 0 -> 1 and 3 -> 4.
    let c0 = _mm256_srli_epi64(d0, 26);
    let c3 = _mm256_srli_epi64(d3, 26);
    d0 = _mm256_and_si256(d0, mask);
    d3 = _mm256_and_si256(d3, mask);
    d1 = _mm256_add_epi64(d1, c0);
    d4 = _mm256_add_epi64(d4, c3);
    // 1 -> 2 and 4 -> 0 (times five: c + 4c).
    let c1 = _mm256_srli_epi64(d1, 26);
    let c4 = _mm256_srli_epi64(d4, 26);
    d1 = _mm256_and_si256(d1, mask);
    d4 = _mm256_and_si256(d4, mask);
    d2 = _mm256_add_epi64(d2, c1);
    d0 = _mm256_add_epi64(d0, _mm256_add_epi64(c4, _mm256_slli_epi64(c4, 2)));
    // 2 -> 3 and 0 -> 1.
    let c2 = _mm256_srli_epi64(d2, 26);
    let c0 = _mm256_srli_epi64(d0, 26);
    d2 = _mm256_and_si256(d2, mask);
    d0 = _mm256_and_si256(d0, mask);
    d3 = _mm256_add_epi64(d3, c2);
    d1 = _mm256_add_epi64(d1, c0);
    // 3 -> 4.
    let c3 = _mm256_srli_epi64(d3, 26);
    d3 = _mm256_and_si256(d3, mask);
    d4 = _mm256_add_epi64(d4, c3);
    [d0, d1, d2, d3, d4]
}

/// The four blocks of `chunk` (64 octets), with the 2^128 bit set, as
/// 26-bit limbs: lanes hold blocks 0, 2, 1, 3 (the order the unpacks
/// leave them in; [`blocks4`] pairs each lane with its own power of `r`).
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_blocks(chunk: &[u8; 64]) -> Vec5 {
    let mask = _mm256_set1_epi64x(MASK26 as i64);
    // `chunk` is 64 readable octets; loadu has no alignment needs.
    let v0 = _mm256_loadu_si256(chunk.as_ptr().cast());
    let v1 = _mm256_loadu_si256(chunk[32..].as_ptr().cast());
    // Low and high 64 bits of blocks 0, 2, 1, 3.
    let lo = _mm256_unpacklo_epi64(v0, v1);
    let hi = _mm256_unpackhi_epi64(v0, v1);
    [
        _mm256_and_si256(lo, mask),
        _mm256_and_si256(_mm256_srli_epi64(lo, 26), mask),
        _mm256_and_si256(
            _mm256_or_si256(_mm256_srli_epi64(lo, 52), _mm256_slli_epi64(hi, 12)),
            mask,
        ),
        _mm256_and_si256(_mm256_srli_epi64(hi, 14), mask),
        _mm256_or_si256(_mm256_srli_epi64(hi, 40), _mm256_set1_epi64x(1 << 24)),
    ]
}

/// Lane-wise sum.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn add5(a: &Vec5, b: &Vec5) -> Vec5 {
    let mut r = *a;
    for (r, b) in r.iter_mut().zip(b) {
        *r = _mm256_add_epi64(*r, *b);
    }
    r
}

/// `(limbs, 5 * limbs)` of one number per lane, lanes as given.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn multiplier(lanes: [&Limbs; 4]) -> (Vec5, Vec5) {
    let mut b = [_mm256_setzero_si256(); 5];
    let mut s = [_mm256_setzero_si256(); 5];
    for i in 0..5 {
        let l = [lanes[0][i], lanes[1][i], lanes[2][i], lanes[3][i]];
        // `l` is 32 readable octets; loadu has no alignment needs.
        b[i] = _mm256_loadu_si256(l.as_ptr().cast());
        s[i] = _mm256_add_epi64(b[i], _mm256_slli_epi64(b[i], 2));
    }
    (b, s)
}

/// `(limbs, 5 * limbs)` of the same number in every lane.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn broadcast(x: &Limbs) -> (Vec5, Vec5) {
    let mut b = [_mm256_setzero_si256(); 5];
    let mut s = [_mm256_setzero_si256(); 5];
    for i in 0..5 {
        b[i] = _mm256_set1_epi64x(x[i] as i64);
        s[i] = _mm256_set1_epi64x(5 * x[i] as i64);
    }
    (b, s)
}

/// The low 32 bits of every lane, computed where it is used.
///
/// LLVM turns the 32-bit masking that `_mm256_mul_epu32` implies into
/// plain IR, hoists it out of the loop for loop-invariant multipliers,
/// and its instruction selection, one basic block at a time, then no
/// longer sees that those fit in 32 bits: it emulates a 64x32 product
/// (three multiplications where one does; the loop ran at a third of the
/// speed). Masking the multipliers in the loop, as loop-carried values
/// that start from ones it cannot see through, keeps that knowledge in
/// the block, for one `vpand` each.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn low32(v: &mut Vec5) {
    let low = _mm256_set1_epi64x(u32::MAX as i64);
    v[0] = _mm256_and_si256(v[0], low);
    v[1] = _mm256_and_si256(v[1], low);
    v[2] = _mm256_and_si256(v[2], low);
    v[3] = _mm256_and_si256(v[3], low);
    v[4] = _mm256_and_si256(v[4], low);
}

/// Poly1305 over `data` (a nonzero multiple of 64 octets: whole blocks,
/// each with its 2^128 bit) from the accumulator `h`: returns the new
/// accumulator, limbs below 2^28.1. `powers` are `r, r^2, r^3, r^4` and
/// `r8` is `r^8` (used from three groups of four blocks on), limbs below
/// 2^26 + 2^11.
///
/// Two groups a step: `A <- (A + M_0) r^8 + M_1 r^4` makes two
/// independent products and one carry per eight blocks.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn blocks4(h: &Limbs, powers: &[Limbs; 4], r8: &Limbs, data: &[u8]) -> Limbs {
    debug_assert!(!data.is_empty() && data.len() % 64 == 0);
    let [r1, r2, r3, r4] = powers;
    let mut acc = [_mm256_setzero_si256(); 5];
    for (i, limb) in acc.iter_mut().enumerate() {
        *limb = _mm256_setr_epi64x(h[i] as i64, 0, 0, 0);
    }
    let (rest, last) = data.split_at(data.len() - 64);

    let (b4, s4) = broadcast(r4);
    let (mut b4, mut s4) = core::hint::black_box((b4, s4));
    let mut pairs = rest.chunks_exact(128);
    if pairs.len() > 0 {
        let (b8, s8) = broadcast(r8);
        let (mut b8, mut s8) = core::hint::black_box((b8, s8));
        for pair in &mut pairs {
            low32(&mut b4);
            low32(&mut s4);
            low32(&mut b8);
            low32(&mut s8);
            let m0 = load_blocks(pair[..64].try_into().expect("64 octets"));
            let m1 = load_blocks(pair[64..].try_into().expect("64 octets"));
            let d0 = mul_wide(&add5(&acc, &m0), &b8, &s8);
            let d1 = mul_wide(&m1, &b4, &s4);
            acc = carry(add5(&d0, &d1));
        }
    }
    let odd = pairs.remainder();
    if !odd.is_empty() {
        low32(&mut b4);
        low32(&mut s4);
        let m = load_blocks(odd.try_into().expect("64 octets"));
        acc = mul(&add5(&acc, &m), &b4, &s4);
    }
    // Lanes hold blocks 0, 2, 1, 3 of each group (see `load_blocks`).
    let (bl, sl) = multiplier([r4, r2, r3, r1]);
    let m = load_blocks(last.try_into().expect("64 octets"));
    acc = mul(&add5(&acc, &m), &bl, &sl);

    // Sum the lanes: four limbs below 2^26 + 2^11 make one below 2^28.1.
    let mut out = [0u64; 5];
    for (o, limb) in out.iter_mut().zip(acc) {
        let mut lanes = [0u64; 4];
        // `lanes` is 32 writable octets; storeu has no alignment needs.
        _mm256_storeu_si256(lanes.as_mut_ptr().cast(), limb);
        *o = lanes.iter().sum();
    }
    out
}
