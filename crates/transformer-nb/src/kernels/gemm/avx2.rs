//! The AVX2 + FMA micro-kernel.

use super::{NR, Tile};

/// AVX2 + FMA micro-kernel: `MR × 16` accumulators in `2 · MR` ymm registers (with the two
/// `B` vectors and a broadcast, 15 of the 16), run once per half of the 32-column panel.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `tile.rows == MR <= 6`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile_avx2<const MR: usize>(tile: &Tile<'_>) {
    use std::arch::x86_64::*;
    const HALF: usize = NR / 2;
    let rows = tile.row_pointers::<MR>();
    for half in 0..2 {
        if tile.cols <= half * HALF {
            break;
        }
        let mut b = tile.panel[half * HALF..].as_ptr();
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for p in 0..tile.k {
            // SAFETY: as in `tile_avx512`; `b` is at this half's 16 values of row `p` of the
            // panel.
            unsafe {
                // As in `tile_avx512`: a load without a debug-build overlap check.
                let all = _mm256_set1_epi32(-1);
                let b0 = _mm256_maskload_ps(b, all);
                let b1 = _mm256_maskload_ps(b.add(8), all);
                for_each_row!(MR, |i| {
                    let ai = _mm256_broadcastss_ps(_mm_load_ss(rows[i].add(p)));
                    acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
                });
                // Wrapping: after the last row the second half points past the panel.
                b = b.wrapping_add(NR);
            }
        }
        for (i, acc_row) in acc.iter().enumerate() {
            let mut row = [0f32; HALF];
            // SAFETY: `row` holds 16 values, 8 per store.
            unsafe {
                _mm256_storeu_ps(row.as_mut_ptr(), acc_row[0]);
                _mm256_storeu_ps(row.as_mut_ptr().add(8), acc_row[1]);
            }
            tile.store(i, half * HALF, &row);
        }
    }
}
