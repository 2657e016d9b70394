//! Writing a finished tile to `C`: the bias, the residual, the masked last columns.

use super::{NR, Tile};

impl<E> Tile<'_, E> {
    /// Writes the `MR × 16 · V` accumulators of an AVX-512 micro-kernel to the tile's part of
    /// `C` (adding the bias and what `C` holds when asked), masking the columns past `cols`.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F; `MR <= rows`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn store_avx512<const MR: usize, const V: usize>(
        &self,
        acc: &[[std::arch::x86_64::__m512; V]; MR],
    ) {
        use std::arch::x86_64::*;
        let mask = |from: usize| -> __mmask16 {
            let cols = self.cols.saturating_sub(from).min(16);
            ((1u32 << cols) - 1) as __mmask16
        };
        let masks: [__mmask16; V] = std::array::from_fn(|v| mask(16 * v));
        for (i, acc_row) in acc.iter().enumerate() {
            for (half, &m) in masks.iter().enumerate() {
                if m == 0 {
                    // No column of this half is in the tile (nor, maybe, in C or the bias).
                    continue;
                }
                // SAFETY: the half starts inside the tile's `cols` columns of C and of the bias,
                // which exist (checked in `gemm_view`); masked loads and stores touch only those
                // columns; masked-off lanes are not accessed.
                unsafe {
                    let out = self.c.add(i * self.ldc + half * 16);
                    let mut v = acc_row[half];
                    if let Some(bias) = self.bias {
                        v = _mm512_add_ps(
                            v,
                            _mm512_maskz_loadu_ps(m, bias.as_ptr().add(half * 16)),
                        );
                    }
                    if self.accumulate {
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, out));
                    }
                    _mm512_mask_storeu_ps(out, m, v);
                }
            }
        }
    }

    /// Asks for the lines of the tile's `MR` rows of `C` in the state for writing (`prefetchw`),
    /// while the tile's multiply-adds run: its stores at the end otherwise wait for each line
    /// to come from L3 or memory (`scripts/bench.sh`, case BERT-base shape, 8 × 128). A row's
    /// 32 values are 128 bytes, over three lines when not aligned; a wide tile's 64, 256 bytes
    /// over five.
    ///
    /// # Safety
    /// The CPU is an x86-64 one with `prefetchw` (every CPU with AVX-512 has it; older ones
    /// treat it as a no-op). Prefetches never fault, so any address is allowed.
    #[cfg(target_arch = "x86_64")]
    pub(super) unsafe fn prefetch_c_for_writing<const MR: usize>(&self) {
        for i in 0..MR {
            let row = self.c.wrapping_add(i * self.ldc);
            // SAFETY: a prefetch reads and writes nothing (this function's contract).
            unsafe {
                std::arch::asm!(
                    "prefetchw [{row}]",
                    "prefetchw [{row} + 64]",
                    "prefetchw [{row} + 124]",
                    row = in(reg) row,
                    options(nostack, readonly, preserves_flags),
                )
            };
            if self.cols > NR {
                // SAFETY: as above.
                unsafe {
                    std::arch::asm!(
                        "prefetchw [{row} + 128]",
                        "prefetchw [{row} + 192]",
                        "prefetchw [{row} + 252]",
                        row = in(reg) row,
                        options(nostack, readonly, preserves_flags),
                    )
                };
            }
        }
    }

    /// Writes finished values for row `i` of `C` from column `col` on (those of the tile's
    /// `cols` columns that `values` covers).
    pub(super) fn store(&self, i: usize, col: usize, values: &[f32]) {
        let len = values.len().min(self.cols.saturating_sub(col));
        // SAFETY: row `i < rows`, columns `col..col + len` lie within the tile, which lies
        // inside the block of C that `run_panels` holds exclusively.
        let out = unsafe { std::slice::from_raw_parts_mut(self.c.add(i * self.ldc + col), len) };
        for (j, value) in out.iter_mut().enumerate() {
            let mut v = values[j];
            if let Some(bias) = self.bias {
                v += bias[col + j];
            }
            if self.accumulate {
                v += *value;
            }
            *value = v;
        }
    }
}
