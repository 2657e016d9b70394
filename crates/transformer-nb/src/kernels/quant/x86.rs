//! Quantized weight rows dotted with one f32 row, in AVX-512 and AVX2 registers: each
//! block's nibbles (or bytes) are widened to f32 lanes, multiplied with the activations and
//! scaled by the block's `d` (plus `m · Σx` for Q4_1), so the rows are never written out.
//!
//! Each call takes `R` consecutive rows: the activations are loaded once for all of them, the
//! `R` accumulators are independent chains of multiply-adds, and `R` streams of weights are
//! in flight at once.
//!
//! Each function takes `R` rows of `x.len() / 32` blocks of its format, `stride` bytes apart,
//! and checks that `rows` holds them; the only thing a caller must ensure is the CPU's
//! instruction sets.

use std::arch::x86_64::*;

use super::BLOCK;

/// `$body` once for each of the first `$rows` (a constant, at most 4) values of `$r`, written
/// out rather than looped, so that every row's accumulator stays in a register and no index
/// is computed at run time, whatever the optimisation level (a notebook's build unrolls less).
macro_rules! each_row {
    ($rows:expr, $r:ident => $body:block) => {{
        const { assert!($rows <= 4, "each_row! writes out at most four rows") };
        if $rows > 0 {
            let $r = 0;
            $body
        }
        if $rows > 1 {
            let $r = 1;
            $body
        }
        if $rows > 2 {
            let $r = 2;
            $body
        }
        if $rows > 3 {
            let $r = 3;
            $body
        }
    }};
}

/// Panics unless `rows` holds `R` rows of `x.len() / 32` blocks of `block_bytes`, `stride`
/// apart: what makes the kernels' reads in bounds.
#[inline(always)]
fn check<const R: usize>(rows: &[u8], stride: usize, x: &[f32], block_bytes: usize) {
    let row = x.len() / BLOCK * block_bytes;
    assert!(
        x.len().is_multiple_of(BLOCK)
            && R > 0
            && stride >= row
            && rows.len() >= (R - 1) * stride + row,
        "quantized rows out of bounds"
    );
}

/// Asks for the same block of the next call's rows (the next `R` rows), which the hardware
/// prefetcher, following each row on its own, would fetch only after it starts on them.
#[inline(always)]
fn prefetch_next_rows<const R: usize>(block: *const u8, stride: usize) {
    // SAFETY: a prefetch reads nothing architecturally and never faults, whatever the address;
    // `wrapping_add` keeps the pointer arithmetic defined past the end of the rows.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(block.wrapping_add(R * stride).cast()) }
}

/// `(d, m)` from the first four bytes of a block, through the F16C conversion.
#[inline(always)]
unsafe fn halves(b: *const u8) -> __m128 {
    // SAFETY: the caller passes four readable bytes and runs where F16C is.
    unsafe { _mm_cvtph_ps(_mm_cvtsi32_si128(b.cast::<i32>().read_unaligned())) }
}

/// Q4_1: `Σ (q·d + m)·x` for `R` rows.
///
/// # Safety
/// The CPU has AVX-512 F, BW, DQ, VL, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")]
pub(super) unsafe fn q4_1_avx512<const R: usize>(
    rows: &[u8],
    stride: usize,
    x: &[f32],
) -> [f32; R] {
    check::<R>(rows, stride, x, 20);
    let nibble = _mm512_set1_epi32(0xf);
    let mut acc = [_mm512_setzero_ps(); R];
    for i in 0..x.len() / BLOCK {
        // SAFETY: block `i` of each row lies within `rows` and `x` (`check`).
        unsafe {
            let xp = x.as_ptr().add(i * BLOCK);
            let (x_lo, x_hi) = (_mm512_loadu_ps(xp), _mm512_loadu_ps(xp.add(16)));
            let x_sum = _mm512_add_ps(x_lo, x_hi);
            each_row!(R, r => {
                let acc = &mut acc[r];
                let b = rows.as_ptr().add(r * stride + i * 20);
                prefetch_next_rows::<R>(b, stride);
                let dm = halves(b);
                let q = _mm512_cvtepu8_epi32(_mm_loadu_si128(b.add(4).cast()));
                let lo = _mm512_cvtepi32_ps(_mm512_and_si512(q, nibble));
                let hi = _mm512_cvtepi32_ps(_mm512_srli_epi32::<4>(q));
                let block = _mm512_fmadd_ps(hi, x_hi, _mm512_mul_ps(lo, x_lo));
                *acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dm), block, *acc);
                let m = _mm512_broadcastss_ps(_mm_movehdup_ps(dm));
                *acc = _mm512_fmadd_ps(m, x_sum, *acc);
            });
        }
    }
    acc.map(|acc| _mm512_reduce_add_ps(acc))
}

/// Q4_0: `Σ (q − 8)·d·x` for `R` rows.
///
/// # Safety
/// As [`q4_1_avx512`], with Q4_0 blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")]
pub(super) unsafe fn q4_0_avx512<const R: usize>(
    rows: &[u8],
    stride: usize,
    x: &[f32],
) -> [f32; R] {
    check::<R>(rows, stride, x, 18);
    let nibble = _mm512_set1_epi32(0xf);
    let eight = _mm512_set1_epi32(8);
    let mut acc = [_mm512_setzero_ps(); R];
    for i in 0..x.len() / BLOCK {
        // SAFETY: block `i` of each row lies within `rows` and `x` (`check`).
        unsafe {
            let xp = x.as_ptr().add(i * BLOCK);
            let (x_lo, x_hi) = (_mm512_loadu_ps(xp), _mm512_loadu_ps(xp.add(16)));
            each_row!(R, r => {
                let acc = &mut acc[r];
                let b = rows.as_ptr().add(r * stride + i * 18);
                prefetch_next_rows::<R>(b, stride);
                let d = _mm512_broadcastss_ps(halves(b));
                let q = _mm512_cvtepu8_epi32(_mm_loadu_si128(b.add(2).cast()));
                let lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(q, nibble), eight));
                let hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32::<4>(q), eight));
                let block = _mm512_fmadd_ps(hi, x_hi, _mm512_mul_ps(lo, x_lo));
                *acc = _mm512_fmadd_ps(d, block, *acc);
            });
        }
    }
    acc.map(|acc| _mm512_reduce_add_ps(acc))
}

/// Q8_0: `Σ q·d·x` for `R` rows.
///
/// # Safety
/// As [`q4_1_avx512`], with Q8_0 blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")]
pub(super) unsafe fn q8_0_avx512<const R: usize>(
    rows: &[u8],
    stride: usize,
    x: &[f32],
) -> [f32; R] {
    check::<R>(rows, stride, x, 34);
    let mut acc = [_mm512_setzero_ps(); R];
    for i in 0..x.len() / BLOCK {
        // SAFETY: block `i` of each row lies within `rows` and `x` (`check`).
        unsafe {
            let xp = x.as_ptr().add(i * BLOCK);
            let (x_lo, x_hi) = (_mm512_loadu_ps(xp), _mm512_loadu_ps(xp.add(16)));
            each_row!(R, r => {
                let acc = &mut acc[r];
                let b = rows.as_ptr().add(r * stride + i * 34);
                prefetch_next_rows::<R>(b, stride);
                let d = _mm512_broadcastss_ps(halves(b));
                let lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(b.add(2).cast())));
                let hi =
                    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(b.add(18).cast())));
                let block = _mm512_fmadd_ps(hi, x_hi, _mm512_mul_ps(lo, x_lo));
                *acc = _mm512_fmadd_ps(d, block, *acc);
            });
        }
    }
    acc.map(|acc| _mm512_reduce_add_ps(acc))
}

/// Q4_1 in AVX2, each block's sixteen bytes as two halves of eight, for `R` rows.
///
/// # Safety
/// The CPU has AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn q4_1_avx2<const R: usize>(rows: &[u8], stride: usize, x: &[f32]) -> [f32; R] {
    check::<R>(rows, stride, x, 20);
    let nibble = _mm256_set1_epi32(0xf);
    let mut acc = [_mm256_setzero_ps(); R];
    for i in 0..x.len() / BLOCK {
        // SAFETY: block `i` of each row lies within `rows` and `x` (`check`).
        unsafe {
            let xp = x.as_ptr().add(i * BLOCK);
            let xs: [__m256; 4] = std::array::from_fn(|j| _mm256_loadu_ps(xp.add(8 * j)));
            let x_sum = _mm256_add_ps(_mm256_add_ps(xs[0], xs[1]), _mm256_add_ps(xs[2], xs[3]));
            each_row!(R, r => {
                let acc = &mut acc[r];
                let b = rows.as_ptr().add(r * stride + i * 20);
                prefetch_next_rows::<R>(b, stride);
                let dm = halves(b);
                let mut block = _mm256_setzero_ps();
                for half in 0..2 {
                    let q = _mm256_cvtepu8_epi32(_mm_loadl_epi64(b.add(4 + 8 * half).cast()));
                    let lo = _mm256_cvtepi32_ps(_mm256_and_si256(q, nibble));
                    let hi = _mm256_cvtepi32_ps(_mm256_srli_epi32::<4>(q));
                    block = _mm256_fmadd_ps(lo, xs[half], block);
                    block = _mm256_fmadd_ps(hi, xs[2 + half], block);
                }
                *acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), block, *acc);
                let m = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
                *acc = _mm256_fmadd_ps(m, x_sum, *acc);
            });
        }
    }
    // SAFETY: this function runs only where AVX2 is.
    acc.map(|acc| unsafe { sum_avx2(acc) })
}

/// Q4_0 in AVX2, for `R` rows.
///
/// # Safety
/// As [`q4_1_avx2`], with Q4_0 blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn q4_0_avx2<const R: usize>(rows: &[u8], stride: usize, x: &[f32]) -> [f32; R] {
    check::<R>(rows, stride, x, 18);
    let nibble = _mm256_set1_epi32(0xf);
    let eight = _mm256_set1_epi32(8);
    let mut acc = [_mm256_setzero_ps(); R];
    for i in 0..x.len() / BLOCK {
        // SAFETY: block `i` of each row lies within `rows` and `x` (`check`).
        unsafe {
            let xp = x.as_ptr().add(i * BLOCK);
            let xs: [__m256; 4] = std::array::from_fn(|j| _mm256_loadu_ps(xp.add(8 * j)));
            each_row!(R, r => {
                let acc = &mut acc[r];
                let b = rows.as_ptr().add(r * stride + i * 18);
                prefetch_next_rows::<R>(b, stride);
                let mut block = _mm256_setzero_ps();
                for half in 0..2 {
                    let q = _mm256_cvtepu8_epi32(_mm_loadl_epi64(b.add(2 + 8 * half).cast()));
                    let lo = _mm256_sub_epi32(_mm256_and_si256(q, nibble), eight);
                    let hi = _mm256_sub_epi32(_mm256_srli_epi32::<4>(q), eight);
                    block = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), xs[half], block);
                    block = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), xs[2 + half], block);
                }
                *acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(halves(b)), block, *acc);
            });
        }
    }
    // SAFETY: this function runs only where AVX2 is.
    acc.map(|acc| unsafe { sum_avx2(acc) })
}

/// Q8_0 in AVX2, for `R` rows.
///
/// # Safety
/// As [`q4_1_avx2`], with Q8_0 blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn q8_0_avx2<const R: usize>(rows: &[u8], stride: usize, x: &[f32]) -> [f32; R] {
    check::<R>(rows, stride, x, 34);
    let mut acc = [_mm256_setzero_ps(); R];
    for i in 0..x.len() / BLOCK {
        // SAFETY: block `i` of each row lies within `rows` and `x` (`check`).
        unsafe {
            let xp = x.as_ptr().add(i * BLOCK);
            let xs: [__m256; 4] = std::array::from_fn(|j| _mm256_loadu_ps(xp.add(8 * j)));
            each_row!(R, r => {
                let acc = &mut acc[r];
                let b = rows.as_ptr().add(r * stride + i * 34);
                prefetch_next_rows::<R>(b, stride);
                let mut block = _mm256_setzero_ps();
                for (part, x) in xs.iter().enumerate() {
                    let q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(b.add(2 + 8 * part).cast()));
                    block = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q), *x, block);
                }
                *acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(halves(b)), block, *acc);
            });
        }
    }
    // SAFETY: this function runs only where AVX2 is.
    acc.map(|acc| unsafe { sum_avx2(acc) })
}

/// The eight lanes' sum.
#[inline(always)]
unsafe fn sum_avx2(v: __m256) -> f32 {
    // SAFETY: the caller runs where AVX is.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}
