//! `B` packed into panels of [`NR`] columns, each `k`-major, for the micro-kernels to stream.

use super::NR;
use crate::kernels::{AlignedBuffer, Isa, Level};

/// `B` (`k × n`) packed into `ceil(n / NR)` panels of `k × NR` values, zero-padded.
#[derive(Clone, Debug, Default)]
pub(crate) struct PackedB {
    pub(super) k: usize,
    pub(super) n: usize,
    pub(super) data: AlignedBuffer,
}

impl PackedB {
    /// Packs a PyTorch `Linear` weight `[n_out, k_in]` (row-major) as `B = weightᵀ`.
    pub(crate) fn from_weight(weight: &[f32], n_out: usize, k_in: usize) -> Self {
        // A weight is streamed once per pass: huge pages, asked for before the packing writes.
        let mut packed = PackedB {
            data: AlignedBuffer::with_capacity(n_out.div_ceil(NR) * k_in * NR),
            ..PackedB::default()
        };
        packed.pack(weight, k_in, n_out, 1, k_in);
        packed
    }

    /// Packs `B[kk][nn] = src[kk * k_stride + nn * n_stride]`, reusing this buffer.
    pub(crate) fn pack(
        &mut self,
        src: &[f32],
        k: usize,
        n: usize,
        k_stride: usize,
        n_stride: usize,
    ) {
        let panels = n.div_ceil(NR);
        self.k = k;
        self.n = n;
        self.data.refill_zeroed(panels * k * NR);
        if k == 0 || n == 0 {
            return;
        }
        assert!(src.len() > (k - 1) * k_stride + (n - 1) * n_stride);
        for (p, panel) in (self.data.as_mut_slice::<f32>().chunks_exact_mut(k * NR)).enumerate() {
            let cols = NR.min(n - p * NR);
            // Walk the source in its contiguous direction.
            if n_stride == 1 {
                for kk in 0..k {
                    let from = kk * k_stride + p * NR;
                    panel[kk * NR..kk * NR + cols].copy_from_slice(&src[from..from + cols]);
                }
            } else {
                // A transpose: the panel's rows are written whole, each gathered from `cols`
                // places (scattering the writes instead made every store another cache line).
                let first = p * NR * n_stride;
                let done = if cols == NR && k_stride == 1 {
                    transpose_into_panel(src, first, n_stride, panel)
                } else {
                    0
                };
                for (kk, row) in panel.chunks_exact_mut(NR).enumerate().skip(done) {
                    let from = first + kk * k_stride;
                    for (j, value) in row[..cols].iter_mut().enumerate() {
                        *value = src[from + j * n_stride];
                    }
                }
            }
        }
    }

    /// A packing of `k × n` whose panels `data` holds.
    pub(super) fn from_parts(k: usize, n: usize, data: AlignedBuffer) -> Self {
        PackedB { k, n, data }
    }

    /// Bytes this packing holds (the padding of the last panel included).
    pub(crate) fn held_bytes(&self) -> usize {
        self.data.held_bytes()
    }

    /// Rows of `B` (the shared dimension).
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// Columns of `B`.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    pub(super) fn panel(&self, p: usize) -> &[f32] {
        self.panels(p, 1)
    }

    /// Panels `p..p + count`, one after the other.
    pub(super) fn panels(&self, p: usize, count: usize) -> &[f32] {
        &self.data.as_slice::<f32>()[p * self.k * NR..(p + count) * self.k * NR]
    }
}

/// Writes the panel rows of a full transposing panel (`panel[kk · NR + j] = src[first +
/// j · n_stride + kk]`) in whole 16 × 16 blocks transposed in registers, where the CPU has
/// AVX-512; returns how many panel rows it wrote (a multiple of 16, 0 without AVX-512), the
/// rest being the caller's. Gathering one value at a time would make packing (attention's keys
/// on every pass, and the weights at load) slower (`scripts/bench.sh`, case BERT-base shape,
/// 8 × 128).
fn transpose_into_panel(src: &[f32], first: usize, n_stride: usize, panel: &mut [f32]) -> usize {
    let k = panel.len() / NR;
    let rows = k / 16 * 16;
    if rows == 0 || Isa::detect().level() != Level::Avx512 {
        return 0;
    }
    // Every read below is of source column j < NR at depth kk < rows.
    assert!(
        first + (NR - 1) * n_stride + rows <= src.len(),
        "source too short"
    );
    // SAFETY: the level says the CPU has AVX-512 F; the assert bounds every read, and the
    // panel holds `k · NR` values.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        transpose_avx512(src, first, n_stride, panel, rows);
        rows
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// The blocks of [`transpose_into_panel`]: 16 source columns (16 values deep each) in, 16 panel
/// half-rows out, by the usual four rounds of shuffles (32-bit, 64-bit, then 128-bit lanes twice).
///
/// # Safety
/// The CPU must have AVX-512 F; `src` holds `first + (NR − 1) · n_stride + rows` values and
/// `panel` `rows · NR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_avx512(
    src: &[f32],
    first: usize,
    n_stride: usize,
    panel: &mut [f32],
    rows: usize,
) {
    use std::arch::x86_64::*;
    let src = src.as_ptr();
    let out = panel.as_mut_ptr();
    for kk in (0..rows).step_by(16) {
        for half in 0..NR / 16 {
            let mut v = [_mm512_setzero_ps(); 16];
            for (j, v) in v.iter_mut().enumerate() {
                // SAFETY: in bounds by this function's contract (column < NR, depth < rows).
                *v = unsafe {
                    _mm512_maskz_loadu_ps(!0, src.add(first + (half * 16 + j) * n_stride + kk))
                };
            }
            // Round 1: pairs of columns interleaved in 32-bit steps within each 128-bit lane.
            let mut t = [_mm512_setzero_ps(); 16];
            for i in 0..8 {
                t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
            }
            // Round 2: 64-bit steps, four columns per 128-bit lane.
            for g in 0..4 {
                let (a, b, c, d) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
                let pd = _mm512_castps_pd;
                v[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a), pd(c)));
                v[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a), pd(c)));
                v[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(b), pd(d)));
                v[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(b), pd(d)));
            }
            // Rounds 3 and 4: 128-bit lanes, across groups of four columns, then of eight.
            for g in 0..2 {
                for i in 0..4 {
                    let (a, b) = (v[8 * g + i], v[8 * g + 4 + i]);
                    t[8 * g + i] = _mm512_shuffle_f32x4::<0x88>(a, b);
                    t[8 * g + 4 + i] = _mm512_shuffle_f32x4::<0xdd>(a, b);
                }
            }
            for i in 0..8 {
                v[i] = _mm512_shuffle_f32x4::<0x88>(t[i], t[8 + i]);
                v[8 + i] = _mm512_shuffle_f32x4::<0xdd>(t[i], t[8 + i]);
            }
            for (r, v) in v.iter().enumerate() {
                // SAFETY: panel row kk + r < rows, columns half · 16 .. + 16 < NR.
                unsafe { _mm512_mask_storeu_ps(out.add((kk + r) * NR + half * 16), !0, *v) };
            }
        }
    }
}
