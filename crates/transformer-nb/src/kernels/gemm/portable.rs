//! The micro-kernel for CPUs without AVX2 or AVX-512 (and other architectures).

use super::{NR, Tile};

/// Portable micro-kernel, one 8-column slice of the panel at a time: `MR × 8` accumulators fit
/// the 16 SSE registers of the baseline x86-64 target and leave room on NEON, so the compiler
/// keeps them in registers and vectorises the columns.
pub(super) fn tile_generic<const MR: usize>(tile: &Tile<'_>) {
    const COLS: usize = 8;
    for slice in 0..NR / COLS {
        let col = slice * COLS;
        if tile.cols <= col {
            break;
        }
        let rows: [&[f32]; MR] =
            std::array::from_fn(|i| &tile.a[i * tile.lda..i * tile.lda + tile.k]);
        let mut acc = [[0f32; COLS]; MR];
        for (p, panel_row) in tile.panel.chunks_exact(NR).enumerate() {
            let b = &panel_row[col..col + COLS];
            for (acc_row, row) in acc.iter_mut().zip(&rows) {
                let a = row[p];
                for (acc_v, &b_v) in acc_row.iter_mut().zip(b) {
                    *acc_v = multiply_add(a, b_v, *acc_v);
                }
            }
        }
        for (i, acc_row) in acc.iter().enumerate() {
            tile.store(i, col, acc_row);
        }
    }
}

/// `a · b + c`: fused where every CPU of the target has FMA (aarch64), else two operations
/// (a software `mul_add` would be far slower).
#[inline(always)]
fn multiply_add(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_arch = "aarch64") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}
