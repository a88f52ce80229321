//! Poly1305 four blocks at a time with AVX2 (eight with AVX-512), for
//! long messages.
//!
//! The scalar Poly1305 (radix 2^64 in the parent module) is a chain: each
//! block's multiplication waits for the previous one, so a 64 KiB box is
//! bound by the latency of that chain, not by how many multiplications
//! it makes. Here the message is split into four interleaved streams
//! (block `4k + j` goes to lane `j`; below, four lanes), each a Horner chain in `r^4`:
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
//! The same code, written once in the `lanes!` macro, makes [`avx2`] (four
//! lanes in `__m256i`) and, built with Rust 1.89 or later (see build.rs),
//! `avx512` (eight in `__m512i`: chains in `r^8`).
//!
//! `unsafe`: before Rust 1.87 every `core::arch` intrinsic is an `unsafe
//! fn` (hence `unused_unsafe` allowed for later compilers); the loads
//! take pointers from slices whose length is checked first; each
//! module's `blocks` is an `unsafe fn` the caller may only call once the
//! CPU features were detected.
#![allow(unsafe_code, unused_unsafe)]

/// One module of Poly1305 in `$lanes` 64-bit lanes, from the vector type
/// and the intrinsics that work on it.
macro_rules! lanes {
    (
        $(#[$attr:meta])*
        mod $name:ident: $feat:literal, $V:ty, $lanes:literal,
        $mul:ident, $add:ident, $and:ident, $or:ident, $srli:ident, $slli:ident,
        $set1:ident, $zero:ident, $loadu:ident, $storeu:ident, $unlo:ident, $unhi:ident $(,)?
    ) => {
        $(#[$attr])*
        pub(super) mod $name {
            use super::super::{Limbs, MASK26};
            use core::arch::x86_64::*;

            /// Numbers side by side.
            const LANES: usize = $lanes;

            /// One number per lane, limb `i` of every lane in `v[i]`.
            type Vec5 = [$V; 5];

            /// `a * b` lane by lane, where `s[i] = 5 * b[i]`, not carried.
            ///
            /// Bounds: `a`'s limbs below 2^28.4 (a carried number plus a block, or
            /// the incoming accumulator plus a block), `b`'s below 2^26 + 2^11 and
            /// `s`'s below 2^28.4: each product is below 2^56.8, a sum of five below
            /// 2^59.2, and the sum of two such products (what the loop carries)
            /// below 2^60.2, which [`carry`] takes.
            ///
            /// # Safety
            /// The CPU must have the features of this module.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn mul_wide(a: &Vec5, b: &Vec5, s: &Vec5) -> Vec5 {
                // Schoolbook, with a_i b_j for i + j >= 5 taken as a_i (5 b_j) at
                // limb i + j - 5.
                let d0 = $add(
                    $add($mul(a[0], b[0]), $mul(a[1], s[4])),
                    $add($add($mul(a[2], s[3]), $mul(a[3], s[2])), $mul(a[4], s[1])),
                );
                let d1 = $add(
                    $add($mul(a[0], b[1]), $mul(a[1], b[0])),
                    $add($add($mul(a[2], s[4]), $mul(a[3], s[3])), $mul(a[4], s[2])),
                );
                let d2 = $add(
                    $add($mul(a[0], b[2]), $mul(a[1], b[1])),
                    $add($add($mul(a[2], b[0]), $mul(a[3], s[4])), $mul(a[4], s[3])),
                );
                let d3 = $add(
                    $add($mul(a[0], b[3]), $mul(a[1], b[2])),
                    $add($add($mul(a[2], b[1]), $mul(a[3], b[0])), $mul(a[4], s[4])),
                );
                let d4 = $add(
                    $add($mul(a[0], b[4]), $mul(a[1], b[3])),
                    $add($add($mul(a[2], b[2]), $mul(a[3], b[1])), $mul(a[4], b[0])),
                );
                [d0, d1, d2, d3, d4]
            }

            /// `a * b` lane by lane (see [`mul_wide`]), partly reduced (see [`carry`]).
            ///
            /// # Safety
            /// The CPU must have the features of this module.
            #[target_feature(enable = $feat)]
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
            /// The CPU must have the features of this module.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn carry(d: Vec5) -> Vec5 {
                let mask = $set1(MASK26 as i64);
                let [mut d0, mut d1, mut d2, mut d3, mut d4] = d;
                // 0 -> 1 and 3 -> 4.
                let c0 = $srli(d0, 26);
                let c3 = $srli(d3, 26);
                d0 = $and(d0, mask);
                d3 = $and(d3, mask);
                d1 = $add(d1, c0);
                d4 = $add(d4, c3);
                // 1 -> 2 and 4 -> 0 (times five: c + 4c).
                let c1 = $srli(d1, 26);
                let c4 = $srli(d4, 26);
                d1 = $and(d1, mask);
                d4 = $and(d4, mask);
                d2 = $add(d2, c1);
                d0 = $add(d0, $add(c4, $slli(c4, 2)));
                // 2 -> 3 and 0 -> 1.
                let c2 = $srli(d2, 26);
                let c0 = $srli(d0, 26);
                d2 = $and(d2, mask);
                d0 = $and(d0, mask);
                d3 = $add(d3, c2);
                d1 = $add(d1, c0);
                // 3 -> 4.
                let c3 = $srli(d3, 26);
                d3 = $and(d3, mask);
                d4 = $add(d4, c3);
                [d0, d1, d2, d3, d4]
            }

            /// The blocks of one group (`16 * LANES` octets), with the 2^128 bit
            /// set, as 26-bit limbs. The unpacks pair the 64-bit halves of block `k`
            /// (128-bit lane `k` of the first load) with those of block
            /// `k + LANES / 2` (lane `k` of the second), so lane `2k` holds block `k`
            /// and lane `2k + 1` block `k + LANES / 2` (see [`block_in_lane`]).
            ///
            /// # Safety
            /// The CPU must have the features of this module.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn load_blocks(group: &[u8]) -> Vec5 {
                let group: &[u8; 16 * LANES] = group.try_into().expect("one group");
                let mask = $set1(MASK26 as i64);
                // `group` has two loads' worth of readable octets; loadu has no
                // alignment needs.
                let v0 = $loadu(group.as_ptr().cast());
                let v1 = $loadu(group[8 * LANES..].as_ptr().cast());
                // Low and high 64 bits of each lane's block.
                let lo = $unlo(v0, v1);
                let hi = $unhi(v0, v1);
                [
                    $and(lo, mask),
                    $and($srli(lo, 26), mask),
                    $and($or($srli(lo, 52), $slli(hi, 12)), mask),
                    $and($srli(hi, 14), mask),
                    $or($srli(hi, 40), $set1(1 << 24)),
                ]
            }

            /// Which block of its group lane `lane` holds (see [`load_blocks`]).
            const fn block_in_lane(lane: usize) -> usize {
                lane / 2 + (lane % 2) * (LANES / 2)
            }

            /// Lane-wise sum.
            ///
            /// # Safety
            /// The CPU must have the features of this module.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn add5(a: &Vec5, b: &Vec5) -> Vec5 {
                let mut r = *a;
                for (r, b) in r.iter_mut().zip(b) {
                    *r = $add(*r, *b);
                }
                r
            }

            /// `(limbs, 5 * limbs)` of one number per lane, lanes as given.
            ///
            /// # Safety
            /// The CPU must have the features of this module.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn multiplier(lanes: [&Limbs; LANES]) -> (Vec5, Vec5) {
                let mut b = [$zero(); 5];
                let mut s = [$zero(); 5];
                for i in 0..5 {
                    let l: [u64; LANES] = core::array::from_fn(|j| lanes[j][i]);
                    // `l` is one vector's worth of readable octets; loadu has no
                    // alignment needs.
                    b[i] = $loadu(l.as_ptr().cast());
                    s[i] = $add(b[i], $slli(b[i], 2));
                }
                (b, s)
            }

            /// `(limbs, 5 * limbs)` of the same number in every lane.
            ///
            /// # Safety
            /// The CPU must have the features of this module.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn broadcast(x: &Limbs) -> (Vec5, Vec5) {
                let mut b = [$zero(); 5];
                let mut s = [$zero(); 5];
                for i in 0..5 {
                    b[i] = $set1(x[i] as i64);
                    s[i] = $set1(5 * x[i] as i64);
                }
                (b, s)
            }

            /// The low 32 bits of every lane, computed where it is used.
            ///
            /// LLVM turns the 32-bit masking that the `mul_epu32` intrinsics imply into
            /// plain IR, hoists it out of the loop for loop-invariant multipliers,
            /// and its instruction selection, one basic block at a time, then no
            /// longer sees that those fit in 32 bits: it emulates a 64x32 product
            /// (three multiplications where one does; the loop ran at about half the
            /// speed). Masking the multipliers in the loop, as loop-carried values
            /// that start from ones it cannot see through, keeps that knowledge in
            /// the block, for one `vpand` each.
            ///
            /// # Safety
            /// The CPU must have the features of this module.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn low32(v: &mut Vec5) {
                let low = $set1(u32::MAX as i64);
                v[0] = $and(v[0], low);
                v[1] = $and(v[1], low);
                v[2] = $and(v[2], low);
                v[3] = $and(v[3], low);
                v[4] = $and(v[4], low);
            }

            /// Poly1305 over `data` (a nonzero multiple of `16 * LANES` octets:
            /// whole blocks, each with its 2^128 bit) from the accumulator `h`:
            /// returns the new accumulator, limbs below 2^26 + 2^11 times `LANES`.
            /// `powers` are `r, r^2, .. r^LANES` and `r2n` is `r^(2 LANES)` (used
            /// from three groups on), limbs below 2^26 + 2^11.
            ///
            /// Two groups a step: `A <- (A + M_0) r^(2 LANES) + M_1 r^LANES` makes
            /// two independent products and one carry per two groups.
            ///
            /// # Safety
            /// The CPU must have the features of this module.
            #[target_feature(enable = $feat)]
            pub(in crate::mechanism::secretbox) unsafe fn blocks(
                h: &Limbs,
                powers: &[Limbs; LANES],
                r2n: &Limbs,
                data: &[u8],
            ) -> Limbs {
                const GROUP: usize = 16 * LANES;
                debug_assert!(!data.is_empty() && data.len() % GROUP == 0);
                let mut acc = [$zero(); 5];
                for (i, limb) in acc.iter_mut().enumerate() {
                    let mut lanes = [0u64; LANES];
                    lanes[0] = h[i];
                    // `lanes` is one vector's worth of readable octets.
                    *limb = $loadu(lanes.as_ptr().cast());
                }
                let (rest, last) = data.split_at(data.len() - GROUP);

                let (bn, sn) = broadcast(&powers[LANES - 1]);
                let (mut bn, mut sn) = core::hint::black_box((bn, sn));
                let mut pairs = rest.chunks_exact(2 * GROUP);
                if pairs.len() > 0 {
                    let (b2n, s2n) = broadcast(r2n);
                    let (mut b2n, mut s2n) = core::hint::black_box((b2n, s2n));
                    for pair in &mut pairs {
                        low32(&mut bn);
                        low32(&mut sn);
                        low32(&mut b2n);
                        low32(&mut s2n);
                        let m0 = load_blocks(&pair[..GROUP]);
                        let m1 = load_blocks(&pair[GROUP..]);
                        let d0 = mul_wide(&add5(&acc, &m0), &b2n, &s2n);
                        let d1 = mul_wide(&m1, &bn, &sn);
                        acc = carry(add5(&d0, &d1));
                    }
                }
                let odd = pairs.remainder();
                if !odd.is_empty() {
                    low32(&mut bn);
                    low32(&mut sn);
                    let m = load_blocks(odd);
                    acc = mul(&add5(&acc, &m), &bn, &sn);
                }
                // The last group: each lane's block times the power of `r` that
                // block still needs.
                let lane_powers: [&Limbs; LANES] =
                    core::array::from_fn(|lane| &powers[LANES - 1 - block_in_lane(lane)]);
                let (bl, sl) = multiplier(lane_powers);
                let m = load_blocks(last);
                acc = mul(&add5(&acc, &m), &bl, &sl);

                // Sum the lanes.
                let mut out = [0u64; 5];
                for (o, limb) in out.iter_mut().zip(acc) {
                    let mut lanes = [0u64; LANES];
                    // `lanes` is one vector's worth of writable octets; storeu has no
                    // alignment needs.
                    $storeu(lanes.as_mut_ptr().cast(), limb);
                    *o = lanes.iter().sum();
                }
                out
            }
        }
    };
}

lanes!(
    /// Four lanes, AVX2.
    mod avx2: "avx2", __m256i, 4,
    _mm256_mul_epu32, _mm256_add_epi64, _mm256_and_si256, _mm256_or_si256,
    _mm256_srli_epi64, _mm256_slli_epi64, _mm256_set1_epi64x, _mm256_setzero_si256,
    _mm256_loadu_si256, _mm256_storeu_si256, _mm256_unpacklo_epi64, _mm256_unpackhi_epi64,
);

lanes!(
    /// Eight lanes, AVX-512F.
    #[cfg(ferromq_avx512)]
    // build.rs sets the cfg from Rust 1.89 on, where these are stable.
    #[allow(clippy::incompatible_msrv)]
    mod avx512: "avx512f", __m512i, 8,
    _mm512_mul_epu32, _mm512_add_epi64, _mm512_and_si512, _mm512_or_si512,
    _mm512_srli_epi64, _mm512_slli_epi64, _mm512_set1_epi64, _mm512_setzero_si512,
    _mm512_loadu_si512, _mm512_storeu_si512, _mm512_unpacklo_epi64, _mm512_unpackhi_epi64,
);
