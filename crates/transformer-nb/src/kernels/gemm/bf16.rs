//! The opt-in bf16 matrix product: `B` (the weights) stored as bfloat16, `A` rounded to bfloat16
//! as the product reads it, products summed in f32 by `vdpbf16ps` (AVX512_BF16).
//!
//! bfloat16 keeps f32's exponent and 8 of its 24 significand bits, so rounding moves each
//! factor by at most 2⁻⁸ of itself; the sums stay f32. The weights take half the bytes, which
//! is what a product over a few rows is bound by, and one `vdpbf16ps` does 32 multiply-adds
//! where an f32 FMA does 16.
//!
//! Where `vdpbf16ps` issues less often than FMAs, the vector kernel instead widens each weight
//! to its f32, which for a bfloat16 is a shift or a mask, and multiplies with FMAs
//! ([`Bf16Madd`]); `A` is then rounded to bfloat16 values kept as f32, so the products are the
//! same.
//!
//! `vdpbf16ps` multiplies pairs: lane `j` adds `a[2q]·b[2q][j] + a[2q+1]·b[2q+1][j]`. So a
//! panel of `B` holds, for each pair of rows `q` of `B`, its `NR` columns as `u32`s whose low
//! half is row `2q` and high half row `2q + 1`; a row of `A` becomes its values in pairs. An odd
//! `k` is padded with a zero row.

#[cfg(target_arch = "x86_64")]
use super::avx512::{Madd, tile_asm_avx512};
use super::{NR, Output, PackedB, Tile, Tiles, schedule, threads_for};
use crate::kernels::{AlignedBuffer, Bf16Isa, Bf16Madd, KernelTuning, Level, StridedMut};

/// Below this many values of `A` to convert, one thread does it.
const PARALLEL_CONVERT_MIN: usize = 1 << 16;

/// Rounds to the nearest bfloat16, ties to even (what `vcvtne2ps2bf16` does, except that it
/// also flushes subnormal inputs to zero); a NaN stays a NaN.
pub(crate) fn to_bf16(value: f32) -> u16 {
    let bits = value.to_bits();
    if value.is_nan() {
        // Keep the sign and make sure some significand bit survives the truncation.
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// The f32 a bfloat16 stands for (exact).
pub(crate) fn from_bf16(value: u16) -> f32 {
    f32::from_bits(u32::from(value) << 16)
}

/// Two values as one `vdpbf16ps` lane: `first` in the low half.
fn pair(first: f32, second: f32) -> u32 {
    u32::from(to_bf16(first)) | (u32::from(to_bf16(second)) << 16)
}

/// `B` (`k × n`) as bfloat16 pairs in panels of [`NR`] columns: `ceil(n / NR)` panels of
/// `ceil(k / 2) × NR` `u32`s. Made only with a [`Bf16Isa`], so holding one proves the CPU can
/// multiply with it.
#[derive(Clone, Debug)]
pub(crate) struct PackedBf16 {
    k: usize,
    n: usize,
    data: AlignedBuffer,
    isa: Bf16Isa,
}

impl PackedBf16 {
    /// Rounds an f32 packing to bfloat16.
    pub(crate) fn from_f32(b: &PackedB, isa: Bf16Isa) -> Self {
        let (k, n) = (b.k(), b.n());
        let pairs = k.div_ceil(2);
        let panels = n.div_ceil(NR);
        let mut data = AlignedBuffer::zeroed(panels * pairs * NR);
        let mut lanes = data.as_mut_slice::<u32>().chunks_exact_mut(NR);
        for p in 0..panels {
            let panel = b.panel(p);
            for (q, lanes) in (0..pairs).zip(&mut lanes) {
                let first = &panel[2 * q * NR..(2 * q + 1) * NR];
                let second = panel.get((2 * q + 1) * NR..(2 * q + 2) * NR);
                for (j, lane) in lanes.iter_mut().enumerate() {
                    *lane = pair(first[j], second.map_or(0.0, |row| row[j]));
                }
            }
        }
        PackedBf16 { k, n, data, isa }
    }

    /// Widens back to f32 (the rounding stays).
    pub(crate) fn to_f32(&self) -> PackedB {
        let (k, pairs) = (self.k, self.pairs());
        let mut data = AlignedBuffer::zeroed(self.n.div_ceil(NR) * k * NR);
        let mut rows = data.as_mut_slice::<f32>().chunks_exact_mut(NR);
        for panel in self
            .data
            .as_slice::<u32>()
            .chunks_exact((pairs * NR).max(1))
        {
            for (kk, row) in (0..k).zip(&mut rows) {
                let lanes = &panel[kk / 2 * NR..(kk / 2 + 1) * NR];
                let half = 16 * (kk % 2);
                for (value, &lane) in row.iter_mut().zip(lanes) {
                    *value = from_bf16((lane >> half) as u16);
                }
            }
        }
        PackedB::from_parts(k, self.n, data)
    }

    /// Rows of `B` (the shared dimension).
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// Columns of `B`.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// Bytes this packing holds.
    pub(crate) fn held_bytes(&self) -> usize {
        self.data.held_bytes()
    }

    fn pairs(&self) -> usize {
        self.k.div_ceil(2)
    }

    /// Panel `p` as the widening kernel reads it: the same lanes, typed as f32 bits.
    fn panel_bits(&self, p: usize) -> &[f32] {
        let panel = self.panel(p);
        // SAFETY: u32 and f32 have the same size and alignment, and every bit pattern is an f32.
        unsafe { std::slice::from_raw_parts(panel.as_ptr().cast::<f32>(), panel.len()) }
    }

    fn panel(&self, p: usize) -> &[u32] {
        let len = self.pairs() * NR;
        &self.data.as_slice::<u32>()[p * len..(p + 1) * len]
    }
}

/// `C[m × n] (+)= A[m × k] · B + bias` with `B` in bfloat16, `A` rounded to bfloat16, f32 sums;
/// rows of `A` and `C` `lda` and `ldc` apart. With `parallel`, large products are split across
/// rayon's threads. `tuning` picks the vector kernel's multiply-add (callers pass
/// [`KernelTuning::detect`]; the tests run both on one CPU).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_bf16(
    a: &[f32],
    lda: usize,
    m: usize,
    b: &PackedBf16,
    output: Output<'_>,
    c: &mut [f32],
    ldc: usize,
    parallel: bool,
    tuning: KernelTuning,
) {
    let (k, n) = (b.k, b.n);
    let c = StridedMut::new(c, m, n, ldc).expect("C is too small");
    if m == 0 || n == 0 {
        return;
    }
    assert!(lda >= k && a.len() >= (m - 1) * lda + k, "A is too small");
    if let Some(bias) = output.bias {
        assert!(bias.len() >= n, "bias is too short");
    }
    let pairs = b.pairs();
    let threads = threads_for(m * n * k, parallel);
    // Every row on the tiles where the weights' depth is whole tile steps (every BERT layer's
    // is); one row (the pooler's) stays on the vector kernel, which is no slower for it than the
    // tiles (the forward worker's op `product` with `m` 1, `benches/forward.rs`).
    #[cfg(target_arch = "x86_64")]
    if let Some(amx) =
        super::amx::Amx::detect().filter(|_| m >= 2 && pairs.is_multiple_of(super::amx::STEP_PAIRS))
    {
        let a_pairs = to_pairs(a, lda, m, k, parallel);
        // Under a block of rows (a short sentence or two) every panel is read once, from
        // memory: up to four panels an item while every thread still gets four items (each
        // item costs a little to hand out and to start; `scripts/bench.sh`, case
        // all-MiniLM-L6-v2, 1 × 8). A thread that runs out takes whole items from the other.
        let panels = n.div_ceil(NR);
        let panels_per_item = if m < super::amx::BLOCK_ROWS {
            (panels / (4 * threads)).clamp(1, 4)
        } else {
            1
        };
        schedule::for_each_item(c, m, panels_per_item, threads, |item, _, p| {
            let panel = |p: usize| b.panel(p);
            super::amx::run_panels(amx, &a_pairs, pairs, pairs, panel, output, item, p)
        });
        return;
    }
    match tuning.bf16_madd {
        Bf16Madd::Dot => {
            let a = to_pairs(a, lda, m, k, parallel);
            // SAFETY: `A`'s rows and the panels are bfloat16 pairs.
            let kernel =
                |tile: &Tile<'_, u32>| unsafe { tile.run_bf16::<{ Madd::BF16_DOT }>(b.isa) };
            let tiles = vector_tiles(&a, pairs, pairs, output, tuning);
            run_vector(&tiles, c, threads, |p| b.panel(p), kernel);
        }
        Bf16Madd::Widen => {
            let a = to_rounded(a, lda, m, k, parallel);
            // SAFETY: `A`'s rows are rounded f32, `2 · pairs` a row; the panels are pairs as
            // f32 bits.
            let kernel =
                |tile: &Tile<'_, f32>| unsafe { tile.run_bf16::<{ Madd::BF16_WIDEN }>(b.isa) };
            let tiles = vector_tiles(&a, 2 * pairs, pairs, output, tuning);
            run_vector(&tiles, c, threads, |p| b.panel_bits(p), kernel);
        }
    }
}

/// The vector kernel's tiles over `A` (in the multiply-add's form, rows `lda` apart) for
/// weights `pairs` pairs deep.
fn vector_tiles<'a, E>(
    a: &'a [E],
    lda: usize,
    pairs: usize,
    output: Output<'a>,
    tuning: KernelTuning,
) -> Tiles<'a, E> {
    Tiles {
        a,
        lda,
        depth: pairs,
        tile_rows: Level::Avx512.tile_rows(),
        wide: false,
        output,
        tuning,
    }
}

/// Runs the product with the vector kernel `kernel` on every row of `c`, with the panels
/// `panel` gives, on `threads` threads.
fn run_vector<'a, E: Sync>(
    tiles: &Tiles<'a, E>,
    c: StridedMut<'_>,
    threads: usize,
    panel: impl Fn(usize) -> &'a [E] + Sync,
    kernel: impl Fn(&Tile<'_, E>) + Sync,
) {
    let block_rows = tiles.block_rows(c.rows());
    schedule::for_each_item(c, block_rows, 1, threads, |item, first_row, p| {
        tiles.run_rows(item, first_row, p, &panel, &kernel)
    });
}

/// `rows` rows of `A` (`lda` apart, `k` values each), each written by `convert` into `width`
/// values of the result; on rayon's threads when `parallel` and large.
fn convert_rows<T: Copy + Default + Send>(
    a: &[f32],
    lda: usize,
    rows: usize,
    k: usize,
    width: usize,
    parallel: bool,
    convert: impl Fn(&[f32], &mut [T]) + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    let mut out = vec![T::default(); rows * width];
    if width == 0 {
        return out;
    }
    let row = |(i, out_row): (usize, &mut [T])| convert(&a[i * lda..i * lda + k], out_row);
    if parallel && rows * k >= PARALLEL_CONVERT_MIN {
        out.par_chunks_mut(width).enumerate().for_each(row);
    } else {
        out.chunks_mut(width).enumerate().for_each(row);
    }
    out
}

/// The `m` rows of `A` as bfloat16 pairs, `ceil(k / 2)` per row (an odd `k` padded with zero).
fn to_pairs(a: &[f32], lda: usize, m: usize, k: usize, parallel: bool) -> Vec<u32> {
    let pairs = k.div_ceil(2);
    convert_rows(a, lda, m, k, pairs, parallel, |source, row| {
        let (whole, rest) = source.as_chunks::<2>();
        for (lane, &[first, second]) in row.iter_mut().zip(whole) {
            *lane = pair(first, second);
        }
        if let [last] = rest {
            row[pairs - 1] = pair(*last, 0.0);
        }
    })
}

/// The `m` rows of `A` as f32 rounded to bfloat16 values, `2 · ceil(k / 2)` per row (an odd
/// `k` padded with zero): what the widening kernel multiplies, the same products as
/// `vdpbf16ps` takes from [`to_pairs`].
fn to_rounded(a: &[f32], lda: usize, m: usize, k: usize, parallel: bool) -> Vec<f32> {
    convert_rows(a, lda, m, k, 2 * k.div_ceil(2), parallel, |source, row| {
        for (rounded, &value) in row.iter_mut().zip(source) {
            *rounded = from_bf16(to_bf16(value));
        }
    })
}

impl<E> Tile<'_, E> {
    /// Runs this tile with the vector kernel's multiply-add `MADD`, in the assembly loop of
    /// the f32 kernel.
    ///
    /// # Safety
    /// The tile is in `MADD`'s form: for [`Madd::BF16_DOT`] (`vdpbf16ps`) `E = u32`, `A`'s rows
    /// and the panel bfloat16 pairs; for [`Madd::BF16_WIDEN`] `E = f32`, the panel's pairs as
    /// f32 bits and `A`'s rows f32 rounded to bfloat16 values, two a step.
    ///
    /// [`Madd::BF16_DOT`]: super::avx512::Madd::BF16_DOT
    /// [`Madd::BF16_WIDEN`]: super::avx512::Madd::BF16_WIDEN
    unsafe fn run_bf16<const MADD: u8>(&self, _isa: Bf16Isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Bf16Isa` only comes from run-time detection of AVX-512 F, BW, DQ, VL and
        // AVX512_BF16 (`kernels::isa`); the tile's form is this function's contract.
        unsafe {
            dispatch_rows!(self, tile_asm_avx512::<E, { MADD }>, Level::Avx512)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("a Bf16Isa exists only on x86-64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Isa;

    #[test]
    fn rounding_is_to_nearest_even_and_keeps_specials() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even one, 1.
        assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        // 1 + 3 · 2⁻⁸ lies halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: to the even one, 1 + 2⁻⁶.
        assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 1.0 / 64.0);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
        assert_eq!(from_bf16(to_bf16(f32::MAX)), f32::INFINITY);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        // Every value is within half a bfloat16 step: 2⁻⁸ of itself.
        for i in 0..10_000 {
            let x = (i as f32 * 0.7361).sin() * 1000.0;
            let y = from_bf16(to_bf16(x));
            assert!((x - y).abs() <= x.abs() / 256.0, "{x} -> {y}");
        }
    }

    /// This CPU's tuning with each of the vector kernel's multiply-adds.
    fn both_madds() -> impl Iterator<Item = KernelTuning> {
        [Bf16Madd::Dot, Bf16Madd::Widen]
            .map(|bf16_madd| KernelTuning {
                bf16_madd,
                ..KernelTuning::detect()
            })
            .into_iter()
    }

    /// `A · Wᵀ + bias (+ C)` in f64 on the bfloat16-rounded factors: what the kernel computes up
    /// to f32 summation.
    fn reference(a: &[f32], m: usize, w: &[f32], n: usize, k: usize, bias: &[f32]) -> Vec<f64> {
        let round = |x: f32| f64::from(from_bf16(to_bf16(x)));
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = f64::from(bias[j])
                    + (0..k)
                        .map(|p| round(a[i * k + p]) * round(w[j * k + p]))
                        .sum::<f64>();
            }
        }
        out
    }

    fn matrix(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f32 + seed as f32 * 0.37) * 0.618).sin())
            .collect()
    }

    #[test]
    fn matches_the_rounded_reference_on_awkward_shapes() {
        let Some(isa) = Isa::detect().bf16() else {
            eprintln!("skipped: this CPU has no AVX512_BF16");
            return;
        };
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 5, 7),
            (8, 384, 384),
            // Two full tiles of 8 rows and an odd depth (a zero-padded last pair).
            (16, 70, 99),
            // Tiles of the remaining heights.
            (2, 40, 12),
            (6, 33, 30),
            (15, 64, 64),
            (13, 33, 17),
            (37, 97, 65),
            // Depths of whole AMX steps (16 pairs): on a CPU with AMX, rows in blocks of 32,
            // then a last block of one row, of a few (one tile of `A`) and of 17 to 31 (shorter
            // lower tiles).
            (96, 65, 32),
            (32, 33, 96),
            (33, 40, 32),
            (70, 40, 64),
            (63, 33, 96),
            (45, 97, 768),
            (24, 70, 64),
            // 2 to 16 rows over whole steps: on a CPU with AMX, one tile of `A`, with items of
            // one panel (a short last one), of two and of four.
            (2, 33, 32),
            (8, 97, 768),
            (16, 520, 64),
            (5, 2000, 96),
        ] {
            let a = matrix(m * k, 1);
            let w = matrix(n * k, 2);
            let bias = matrix(n, 3);
            let expected = reference(&a, m, &w, n, k, &bias);
            let b = PackedBf16::from_f32(&PackedB::from_weight(&w, n, k), isa);
            for (tuning, accumulate) in both_madds().flat_map(|t| [(t, false), (t, true)]) {
                let before = matrix(m * n, 4);
                let mut c = before.clone();
                let output = Output {
                    bias: Some(&bias),
                    accumulate,
                };
                gemm_bf16(&a, k, m, &b, output, &mut c, n, true, tuning);
                for (i, got) in c.iter().enumerate() {
                    let want = expected[i]
                        + if accumulate {
                            f64::from(before[i])
                        } else {
                            0.0
                        };
                    let tolerance = 1e-5 * (k as f64).sqrt() * 4.0;
                    assert!(
                        (f64::from(*got) - want).abs() <= tolerance,
                        "{m}x{n}x{k} {:?} accumulate={accumulate}: [{i}] {got} vs {want}",
                        tuning.bf16_madd
                    );
                }
            }
        }
    }

    #[test]
    fn widening_back_gives_the_rounded_weights() {
        let Some(isa) = Isa::detect().bf16() else {
            eprintln!("skipped: this CPU has no AVX512_BF16");
            return;
        };
        let (n, k) = (45, 19);
        let w = matrix(n * k, 8);
        let rounded: Vec<f32> = w.iter().map(|&x| from_bf16(to_bf16(x))).collect();
        let widened = PackedBf16::from_f32(&PackedB::from_weight(&w, n, k), isa).to_f32();
        assert_eq!(widened.data, PackedB::from_weight(&rounded, n, k).data);
        assert_eq!((widened.k(), widened.n()), (k, n));
    }

    #[test]
    fn threads_agree_with_one_thread() {
        let Some(isa) = Isa::detect().bf16() else {
            eprintln!("skipped: this CPU has no AVX512_BF16");
            return;
        };
        let output = Output {
            bias: None,
            accumulate: false,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        // The vector kernel, and on a CPU with AMX one tile of `A` and blocks of 32 rows with a
        // last block of 13.
        for (m, n, k) in [(64, 300, 129), (8, 1000, 512), (45, 300, 256)] {
            let a = matrix(m * k, 6);
            let b = PackedBf16::from_f32(&PackedB::from_weight(&matrix(n * k, 7), n, k), isa);
            for tuning in both_madds() {
                let mut serial = vec![0.0; m * n];
                let mut threaded = vec![0.0; m * n];
                gemm_bf16(&a, k, m, &b, output, &mut serial, n, false, tuning);
                pool.install(|| gemm_bf16(&a, k, m, &b, output, &mut threaded, n, true, tuning));
                assert_eq!(serial, threaded, "{m} × {n} × {k}, {:?}", tuning.bf16_madd);
            }
        }
    }
}
