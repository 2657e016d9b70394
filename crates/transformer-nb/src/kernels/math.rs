//! Elementwise and row-wise kernels: GELU, softmax, layer norm, tanh.
//!
//! Each is written once as branch-free scalar code over a slice and compiled three times (for
//! the baseline target, AVX2+FMA and AVX-512), so the compiler vectorises it at each width;
//! [`Isa::detect`] picks one at run time. `exp` and `erf` are polynomial approximations (Cephes'
//! `expf`, Eigen's rational `erf`) accurate to a few units in the last place of an `f32`, where
//! the standard library's versions are scalar calls. The softmax has an AVX-512 version written
//! with intrinsics as well (see [`scaled_masked_softmax`] for why).

use super::{Isa, Level};

/// Compiles `$generic` (an `#[inline(always)]` function over slices) for each instruction set
/// and defines `$name` to call the best one: with fused multiply-adds where the set has them.
macro_rules! multiversion {
    ($(#[$meta:meta])* $name:ident => $generic:ident($($arg:ident: $ty:ty),*)) => {
        $(#[$meta])*
        pub(crate) fn $name(isa: Isa, $($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) { $generic::<Fused>($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) { $generic::<Fused>($($arg),*) }
                match isa.level() {
                    // SAFETY: an `Isa` of level AVX-512 only comes from run-time detection of
                    // AVX-512 F, BW, DQ and VL, AVX2 and FMA (`kernels::isa`).
                    Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: an `Isa` of level AVX2 only comes from run-time detection of AVX2
                    // and FMA.
                    Level::Avx2 => return unsafe { avx2($($arg),*) },
                    Level::Generic => {}
                }
            }
            let _ = isa;
            $generic::<Unfused>($($arg),*)
        }
    };
}

/// How the kernels compute `a · b + c`: as one fused multiply-add ([`Fused`], one rounding)
/// where the instruction set has it, else as a multiply and an add ([`Unfused`]: on the
/// baseline target `f32::mul_add` is a call into a software `fmaf`). Halves the instructions of
/// the `exp` and `erf` polynomials (GELU, softmax) on AVX2 and AVX-512.
trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

struct Fused;
struct Unfused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Unfused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding then subtracting `1.5 · 2^23` rounds an `f32` of magnitude below `2^22` to an integer
/// without a rounding instruction the baseline target lacks.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Cephes expf's minimax polynomial for `e^r` on `|r| <= ln2 / 2`, highest degree first (after
/// `1 + r`): [`exp`] and the AVX-512 softmax's `exp_nonpositive_avx512` evaluate it alike.
const EXP_POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5e-1,
];

/// `e^x` for `x` in `[-87, 88]`, and `0` below; relative error about 2 ulp.
#[inline(always)]
fn exp<F: MulAdd>(x: f32) -> f32 {
    let clamped = x.clamp(-87.0, 88.0);
    // x = n·ln2 + r with |r| <= ln2 / 2, then e^x = 2^n · e^r. (Fused or not, `shifted` rounds
    // to an integer plus the magic number, and `r` is taken from that same `n`.)
    let shifted = F::mul_add(clamped, std::f32::consts::LOG2_E, ROUND_MAGIC);
    let n = shifted - ROUND_MAGIC;
    let r = F::mul_add(-n, LN2_LO, F::mul_add(-n, LN2_HI, clamped));
    // EXP_POLY for e^r on that interval, by Horner's rule.
    let mut p = EXP_POLY[0];
    p = F::mul_add(p, r, EXP_POLY[1]);
    p = F::mul_add(p, r, EXP_POLY[2]);
    p = F::mul_add(p, r, EXP_POLY[3]);
    p = F::mul_add(p, r, EXP_POLY[4]);
    p = F::mul_add(p, r, EXP_POLY[5]);
    let er = F::mul_add(p * r, r, r + 1.0);
    // 2^n straight into the exponent bits: the low bits of `shifted` hold n + 2^22.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    if x < -87.0 { 0.0 } else { er * scale }
}

/// The error function; absolute error below `1e-6` (Eigen's rational approximation, exact to
/// `f32` beyond |x| = 4).
#[inline(always)]
fn erf<F: MulAdd>(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = F::mul_add(p, x2, 2.770_681_4e-8);
    p = F::mul_add(p, x2, -2.101_024e-6);
    p = F::mul_add(p, x2, -5.692_506_4e-5);
    p = F::mul_add(p, x2, -7.349_906_3e-4);
    p = F::mul_add(p, x2, -2.954_6e-3);
    p = F::mul_add(p, x2, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5_f32;
    q = F::mul_add(q, x2, -2.133_740_6e-4);
    q = F::mul_add(q, x2, -1.682_827e-3);
    q = F::mul_add(q, x2, -7.373_329_2e-3);
    q = F::mul_add(q, x2, -1.426_474e-2);
    x * p / q
}

/// `tanh(x) = 1 - 2 / (e^{2x} + 1)`; absolute error about `1e-7`.
#[inline(always)]
fn tanh<F: MulAdd>(x: f32) -> f32 {
    1.0 - 2.0 / (exp::<F>(2.0 * x) + 1.0)
}

#[inline(always)]
fn gelu_erf_generic<F: MulAdd>(values: &mut [f32]) {
    for v in values {
        let x = *v;
        let half = 0.5 * x;
        *v = F::mul_add(half, erf::<F>(x * std::f32::consts::FRAC_1_SQRT_2), half);
    }
}

#[inline(always)]
fn gelu_tanh_generic<F: MulAdd>(values: &mut [f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for v in values {
        let x = *v;
        let inner = SQRT_2_OVER_PI * F::mul_add(0.044_715 * x * x, x, x);
        let half = 0.5 * x;
        *v = F::mul_add(half, tanh::<F>(inner), half);
    }
}

#[inline(always)]
fn tanh_generic<F: MulAdd>(values: &mut [f32]) {
    for v in values {
        *v = tanh::<F>(*v);
    }
}

/// Lanes of the partial sums below: enough independent chains for the compiler to keep one
/// vector register of them (floating-point sums are not reassociated for us).
const LANES: usize = 16;

#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    lanes.iter().sum::<f32>() + tail
}

#[inline(always)]
fn lane_max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = if v > *lane { v } else { *lane };
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    lanes.iter().fold(tail, |m, &v| if v > m { v } else { m })
}

/// `softmax(row · scale + mask)` in place, for each `row` of `rows` (`mask` as long as a row).
#[inline(always)]
fn scaled_masked_softmax_generic<F: MulAdd>(
    rows: &mut [f32],
    width: usize,
    scale: f32,
    mask: &[f32],
) {
    for row in rows.chunks_exact_mut(width) {
        for (v, &m) in row.iter_mut().zip(mask) {
            *v = F::mul_add(*v, scale, m);
        }
        let max = lane_max(row);
        for v in row.iter_mut() {
            *v = exp::<F>(*v - max);
        }
        let inv = 1.0 / lane_sum(row, |v| v);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// [`layer_norm_generic`] of `rows + residual`, added in place first (`rows` then holds the
/// sum exactly as a product accumulating into `residual` would have left it).
#[inline(always)]
fn add_layer_norm_generic<F: MulAdd>(
    rows: &mut [f32],
    residual: &[f32],
    width: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    for (v, &r) in rows.iter_mut().zip(residual) {
        *v += r;
    }
    layer_norm_generic::<F>(rows, width, gamma, beta, eps);
}

/// Layer norm of each `width`-long row, in place: `(x - mean) / sqrt(var + eps) · gamma + beta`.
#[inline(always)]
fn layer_norm_generic<F: MulAdd>(
    rows: &mut [f32],
    width: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let inv_width = 1.0 / width as f32;
    for row in rows.chunks_exact_mut(width) {
        let mean = lane_sum(row, |v| v) * inv_width;
        let var = lane_sum(row, |v| (v - mean) * (v - mean)) * inv_width;
        let inv_std = 1.0 / (var + eps).sqrt();
        for ((v, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = F::mul_add((*v - mean) * inv_std, g, b);
        }
    }
}

multiversion!(
    /// Exact (erf) GELU in place, as PyTorch's `gelu`.
    gelu_erf => gelu_erf_generic(values: &mut [f32])
);
multiversion!(
    /// Tanh-approximated GELU in place, as PyTorch's `gelu(approximate="tanh")`.
    gelu_tanh => gelu_tanh_generic(values: &mut [f32])
);
multiversion!(
    /// `tanh` in place.
    tanh_inplace => tanh_generic(values: &mut [f32])
);
multiversion!(
    /// [`scaled_masked_softmax`] without AVX-512.
    scaled_masked_softmax_portable => scaled_masked_softmax_generic(
        rows: &mut [f32], width: usize, scale: f32, mask: &[f32])
);

/// Scaled, masked softmax of each `width`-long row, in place (`mask` holds `width` values).
///
/// With AVX-512 written with intrinsics: compiled from the scalar code, each row's maximum and
/// sum ended in a chain of 16 dependent operations (the lanes folded one by one), the vector
/// loops kept their accumulators on the stack and `e^x` took 22 operations for 16 values;
/// here the lanes fold as a tree, the accumulators stay in registers and `e^x` takes 14
/// (`scripts/bench.sh`, case all-MiniLM-L6-v2, 8 × 128).
pub(crate) fn scaled_masked_softmax(
    isa: Isa,
    rows: &mut [f32],
    width: usize,
    scale: f32,
    mask: &[f32],
) {
    assert!(
        mask.len() >= width,
        "softmax: the mask is shorter than a row"
    );
    #[cfg(target_arch = "x86_64")]
    if isa.level() == Level::Avx512 && width > 0 {
        // SAFETY: the level says the CPU has AVX-512 F; `mask` holds `width` values.
        unsafe { scaled_masked_softmax_avx512(rows, width, scale, &mask[..width]) };
        return;
    }
    scaled_masked_softmax_portable(isa, rows, width, scale, mask);
}

/// # Safety
/// The CPU must have AVX-512 F; `mask.len() == width > 0`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scaled_masked_softmax_avx512(rows: &mut [f32], width: usize, scale: f32, mask: &[f32]) {
    use std::arch::x86_64::*;
    // Whole vectors (all lanes on), then the last `width % 16` values under a mask.
    let (vectors, full) = (width.div_ceil(16), width / 16);
    let tail: __mmask16 = ((1u32 << (width % 16)) - 1) as u16;
    let lanes = |v: usize| -> __mmask16 { if v < full { !0 } else { tail } };
    let scale = _mm512_set1_ps(scale);
    let m = mask.as_ptr();
    for row in rows.chunks_exact_mut(width) {
        let r = row.as_mut_ptr();
        // SAFETY: in each loop, vector `v < vectors` covers values `16 v..` of the row and of
        // the mask, `width` long, lanes `k` of it inside; masked loads and stores touch only
        // those.
        unsafe {
            let mut max = _mm512_set1_ps(f32::NEG_INFINITY);
            for v in 0..vectors {
                let k = lanes(v);
                let x = _mm512_maskz_loadu_ps(k, r.add(16 * v));
                let logit = _mm512_fmadd_ps(x, scale, _mm512_maskz_loadu_ps(k, m.add(16 * v)));
                _mm512_mask_storeu_ps(r.add(16 * v), k, logit);
                max = _mm512_mask_max_ps(max, k, max, logit);
            }
            let max = _mm512_set1_ps(_mm512_reduce_max_ps(max));
            let mut sum = _mm512_setzero_ps();
            for v in 0..vectors {
                let k = lanes(v);
                let x = _mm512_maskz_loadu_ps(k, r.add(16 * v));
                let e = exp_nonpositive_avx512(_mm512_sub_ps(x, max));
                _mm512_mask_storeu_ps(r.add(16 * v), k, e);
                sum = _mm512_mask_add_ps(sum, k, sum, e);
            }
            let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(sum));
            for v in 0..vectors {
                let k = lanes(v);
                let e = _mm512_maskz_loadu_ps(k, r.add(16 * v));
                _mm512_mask_storeu_ps(r.add(16 * v), k, _mm512_mul_ps(e, inv));
            }
        }
    }
}

/// `e^x` on 16 lanes for `x <= 0` (softmax's shifted logits): [`exp`]'s reduction and
/// polynomial, with AVX-512's rounding and `2^n` scaling instructions in place of the bit
/// tricks that the portable code needs (14 operations instead of 22). Below `-104` it is 0,
/// like `expf`, which rounds `e^-104` to zero.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn exp_nonpositive_avx512(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let set = _mm512_set1_ps;
    // Keeps `x · log2 e` finite for a masked logit (`f32::MIN`); `e^-104` rounds to 0 anyway.
    let x = _mm512_max_ps(x, set(-104.0));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, set(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, set(LN2_LO), _mm512_fnmadd_ps(n, set(LN2_HI), x));
    let mut p = set(EXP_POLY[0]);
    p = _mm512_fmadd_ps(p, r, set(EXP_POLY[1]));
    p = _mm512_fmadd_ps(p, r, set(EXP_POLY[2]));
    p = _mm512_fmadd_ps(p, r, set(EXP_POLY[3]));
    p = _mm512_fmadd_ps(p, r, set(EXP_POLY[4]));
    p = _mm512_fmadd_ps(p, r, set(EXP_POLY[5]));
    let er = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, set(1.0)));
    _mm512_scalef_ps(er, n)
}
multiversion!(
    /// Layer norm of each `width`-long row, in place.
    layer_norm => layer_norm_generic(
        rows: &mut [f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32)
);
multiversion!(
    /// Layer norm of each `width`-long row of `rows + residual`, in place.
    add_layer_norm => add_layer_norm_generic(
        rows: &mut [f32], residual: &[f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32)
);

/// `dst = src` (same length) without reading `dst`'s lines into the caches first, and without
/// keeping them there: for outputs that the caller keeps and this pass does not read again (the
/// attention maps), so that writing them neither waits on memory nor evicts what the next
/// products read (their weights).
pub(crate) fn copy_streaming(isa: Isa, dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy_streaming: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if isa.level() == Level::Avx512 {
        // SAFETY: the level says the CPU has AVX-512 F; the lengths are equal.
        unsafe { copy_streaming_avx512(dst, src) };
        return;
    }
    let _ = isa;
    dst.copy_from_slice(src);
}

/// # Safety
/// The CPU must have AVX-512 F; `dst.len() == src.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn copy_streaming_avx512(dst: &mut [f32], src: &[f32]) {
    use std::arch::x86_64::*;
    // Streaming stores need 64-byte aligned addresses: plain copies up to the first one and
    // after the last whole vector.
    let head = dst.as_ptr().align_offset(64).min(dst.len());
    dst[..head].copy_from_slice(&src[..head]);
    let body = (dst.len() - head) / 16 * 16;
    let (d, s) = (dst[head..].as_mut_ptr(), src[head..].as_ptr());
    for i in (0..body).step_by(16) {
        // SAFETY: `head + i + 16 <= len` for both; `d + i` is 64-byte aligned.
        unsafe { _mm512_stream_ps(d.add(i), _mm512_maskz_loadu_ps(!0, s.add(i))) };
    }
    dst[head + body..].copy_from_slice(&src[head + body..]);
    // Streaming stores are weakly ordered: make them visible before anything that follows.
    _mm_sfence();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_copies_are_exact_at_every_alignment_and_length() {
        let src: Vec<f32> = (0..300).map(|i| i as f32 * 0.5 - 7.0).collect();
        for isa in Isa::available() {
            for start in 0..17 {
                for len in [0, 1, 15, 16, 17, 100, 283 - start] {
                    let mut dst = vec![f32::NAN; 300];
                    copy_streaming(isa, &mut dst[start..start + len], &src[..len]);
                    assert_eq!(
                        &dst[start..start + len],
                        &src[..len],
                        "{isa:?} {start} {len}"
                    );
                    assert!(
                        dst[..start]
                            .iter()
                            .chain(&dst[start + len..])
                            .all(|v| v.is_nan())
                    );
                }
            }
        }
    }

    fn grid(lo: f32, hi: f32, count: usize) -> Vec<f32> {
        (0..count)
            .map(|i| lo + (hi - lo) * i as f32 / (count - 1) as f32)
            .collect()
    }

    #[test]
    fn exp_is_within_a_few_ulp_of_std() {
        fn check<F: MulAdd>(name: &str) {
            for x in grid(-87.0, 88.0, 100_001) {
                let (got, want) = (exp::<F>(x), x.exp());
                assert!(
                    ((got - want) / want).abs() < 4e-7,
                    "{name} exp({x}) = {got}, want {want}"
                );
            }
            assert_eq!(exp::<F>(-100.0), 0.0);
            assert_eq!(exp::<F>(f32::MIN), 0.0);
        }
        check::<Fused>("fused");
        check::<Unfused>("unfused");
    }

    /// erf from its Taylor series (small |x|) and continued fraction, in f64.
    fn erf_f64(x: f64) -> f64 {
        // Numerical integration of 2/sqrt(pi) e^{-t^2} with Simpson's rule is plenty here.
        let steps = 2000;
        let h = x / steps as f64;
        let f = |t: f64| (-t * t).exp();
        let mut sum = f(0.0) + f(x);
        for i in 1..steps {
            sum += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        sum * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_matches_the_integral() {
        for x in grid(-6.0, 6.0, 2401) {
            let want = erf_f64(f64::from(x));
            for (name, got) in [("fused", erf::<Fused>(x)), ("unfused", erf::<Unfused>(x))] {
                let got = f64::from(got);
                assert!(
                    (got - want).abs() < 1e-6,
                    "{name} erf({x}) = {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn every_isa_computes_the_same_gelu() {
        let input = grid(-12.0, 12.0, 1001);
        let want: Vec<f64> = input
            .iter()
            .map(|&x| {
                let x = f64::from(x);
                0.5 * x * (1.0 + erf_f64(x / std::f64::consts::SQRT_2))
            })
            .collect();
        for isa in Isa::available() {
            let mut values = input.clone();
            gelu_erf(isa, &mut values);
            for ((&got, &want), &x) in values.iter().zip(&want).zip(&input) {
                assert!(
                    (f64::from(got) - want).abs() < 1e-5,
                    "{isa:?} gelu({x}) = {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn tanh_gelu_and_tanh_match_std() {
        let input = grid(-10.0, 10.0, 1001);
        for isa in Isa::available() {
            let mut t = input.clone();
            tanh_inplace(isa, &mut t);
            let mut g = input.clone();
            gelu_tanh(isa, &mut g);
            for ((&x, &t), &g) in input.iter().zip(&t).zip(&g) {
                assert!((t - x.tanh()).abs() < 1e-6, "{isa:?} tanh({x}) = {t}");
                let u = 0.797_884_6 * (x + 0.044_715 * x * x * x);
                let want = 0.5 * x * (1.0 + u.tanh());
                assert!((g - want).abs() < 1e-5, "{isa:?} gelu_tanh({x}) = {g}");
            }
        }
    }

    /// The AVX-512 softmax's `e^x`, against `f64` over the range it sees (and below it).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_exp_is_within_a_few_ulp() {
        use std::arch::x86_64::*;
        if Isa::detect().level() != Level::Avx512 {
            return;
        }
        let xs: Vec<f32> = grid(-110.0, 0.0, 160_000);
        for chunk in xs.chunks_exact(16) {
            let mut got = [0f32; 16];
            // SAFETY: the CPU has AVX-512 F (checked above); both arrays hold 16 values.
            unsafe {
                let e = exp_nonpositive_avx512(_mm512_loadu_ps(chunk.as_ptr()));
                _mm512_storeu_ps(got.as_mut_ptr(), e);
            }
            for (&x, &e) in chunk.iter().zip(&got) {
                let want = f64::from(x).exp();
                if x < -103.97 {
                    assert!(e == 0.0 || e <= 1.5e-45, "exp({x}) = {e}");
                } else if want > f64::from(f32::MIN_POSITIVE) {
                    assert!(
                        ((f64::from(e) - want) / want).abs() < 4e-7,
                        "exp({x}) = {e}, want {want}"
                    );
                } else {
                    // Subnormal results: within one of their (absolute) steps.
                    assert!(
                        (f64::from(e) - want).abs() <= 1.5e-45,
                        "exp({x}) = {e}, want {want}"
                    );
                }
            }
        }
        let masked = [f32::MIN; 16];
        let mut got = [1f32; 16];
        // SAFETY: as above.
        unsafe {
            let e = exp_nonpositive_avx512(_mm512_loadu_ps(masked.as_ptr()));
            _mm512_storeu_ps(got.as_mut_ptr(), e);
        }
        assert_eq!(got, [0.0; 16]);
    }

    #[test]
    fn softmax_masks_scales_and_sums_to_one() {
        // Shorter than a vector, whole vectors, and whole vectors plus a part.
        for width in [1, 5, 16, 37, 128] {
            softmax_of_width_matches_the_definition(width);
        }
    }

    fn softmax_of_width_matches_the_definition(width: usize) {
        let rows = grid(-30.0, 30.0, width * 3);
        let mask: Vec<f32> = (0..width)
            .map(|j| if j % 5 == 4 { f32::MIN } else { 0.0 })
            .collect();
        for isa in Isa::available() {
            let mut got = rows.clone();
            scaled_masked_softmax(isa, &mut got, width, 0.125, &mask);
            for (row, input) in got.chunks(width).zip(rows.chunks(width)) {
                let logits: Vec<f64> = input
                    .iter()
                    .zip(&mask)
                    .map(|(&x, &m)| f64::from(x) * 0.125 + f64::from(m))
                    .collect();
                let max = logits.iter().cloned().fold(f64::MIN, f64::max);
                let sum: f64 = logits.iter().map(|l| (l - max).exp()).sum();
                for (j, (&p, l)) in row.iter().zip(&logits).enumerate() {
                    let want = (l - max).exp() / sum;
                    assert!(
                        (f64::from(p) - want).abs() < 1e-6,
                        "{isa:?} [{j}] {p} vs {want}"
                    );
                    if mask[j] != 0.0 {
                        assert_eq!(p, 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn layer_norm_matches_the_definition() {
        let width = 50;
        let rows = grid(-3.0, 7.0, width * 4);
        let gamma = grid(0.5, 1.5, width);
        let beta = grid(-0.1, 0.1, width);
        for isa in Isa::available() {
            let mut got = rows.clone();
            layer_norm(isa, &mut got, width, &gamma, &beta, 1e-12);
            for (row, input) in got.chunks(width).zip(rows.chunks(width)) {
                let mean = input.iter().map(|&v| f64::from(v)).sum::<f64>() / width as f64;
                let var = input
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / width as f64;
                for j in 0..width {
                    let want = (f64::from(input[j]) - mean) / (var + 1e-12).sqrt()
                        * f64::from(gamma[j])
                        + f64::from(beta[j]);
                    assert!((f64::from(row[j]) - want).abs() < 1e-5, "{isa:?} [{j}]");
                }
            }
        }
    }
}
