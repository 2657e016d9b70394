//! Single-precision matrix products `C = A · B (+ bias) (+ C)` for the encoder's linear layers
//! and attention.
//!
//! `B` is packed into panels of [`NR`] columns, each stored `k`-major, so the micro-kernel reads
//! it as one contiguous stream. Weights are packed once when a model loads (PyTorch's `Linear`
//! keeps them `[out, in]`, which is `B` transposed); attention packs its keys and values per
//! head. `A` is read in place. The micro-kernel keeps an `MR × NR` block of `C` in registers:
//! 8 × 32 on AVX-512 (the inner loop of a full 8-row tile in assembly), 6 × 16 twice on AVX2,
//! 4 × 8 four times portable. (12 × 32 from intrinsics would fill 24 of AVX-512's 32 registers
//! and was no faster in a release build, but evcxr's build, opt-level 2 with debug assertions,
//! spilled its accumulators to memory.)
//! Threads share the panels (`schedule`): each first streams its own range of the weights, so
//! that with a handful of rows (one short sentence) the product reads the weights once, which
//! is its memory bound.

#[macro_use]
mod macros;

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod bf16;
mod pack;
mod portable;
mod schedule;
mod store;
#[cfg(test)]
mod tests;
mod tiles;

pub(crate) use bf16::{PackedBf16, gemm_bf16};
pub(crate) use pack::PackedB;

use super::{Isa, KernelTuning, StridedMut};
use tiles::{Prefetch, Tile, Tiles};

/// Columns per packed panel of `B`: two AVX-512 registers.
pub(crate) const NR: usize = 32;

/// Below this many multiply-adds a product runs on the calling thread: waking another costs
/// more than it saves.
const PARALLEL_MIN_FLOPS: usize = 1 << 17;

/// How a product writes `C`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output<'a> {
    /// Added to every row (a `Linear` bias), `n` long.
    pub bias: Option<&'a [f32]>,
    /// Add to what `C` holds (a residual connection) instead of overwriting it.
    pub accumulate: bool,
}

/// `C[m × n] (+)= A[m × k] · B + bias`, rows of `A` and `C` `lda` and `ldc` apart.
///
/// With `parallel`, large products are split across rayon's threads; attention calls it
/// with `false` from inside its own parallel loop.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    isa: Isa,
    a: &[f32],
    lda: usize,
    m: usize,
    b: &PackedB,
    output: Output<'_>,
    c: &mut [f32],
    ldc: usize,
    parallel: bool,
) {
    let c = StridedMut::new(c, m, b.n, ldc).expect("C is too small");
    gemm_view(isa, a, lda, b, output, c, parallel);
}

/// [`gemm`] into a view of `C` (`m = c.rows()`, `c.cols() == b.n()`), for callers whose threads
/// write interleaved parts of one buffer (attention heads are column ranges of the same rows).
pub(crate) fn gemm_view(
    isa: Isa,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    output: Output<'_>,
    c: StridedMut<'_>,
    parallel: bool,
) {
    let (m, k, n) = (c.rows(), b.k, b.n);
    assert_eq!(c.cols(), n, "C has {} columns, B {n}", c.cols());
    if m == 0 || n == 0 {
        return;
    }
    // The micro-kernels read A through raw pointers: these bounds make every read valid.
    assert!(lda >= k && a.len() >= (m - 1) * lda + k, "A is too small");
    if let Some(bias) = output.bias {
        assert!(bias.len() >= n, "bias is too short");
    }
    let tiles = Tiles::f32(isa, a, lda, b, output, KernelTuning::detect(), m);
    schedule::for_each_item(
        c,
        tiles.block_rows(m),
        tiles.panels_per_item(),
        threads_for(m * n * k, parallel),
        |item, first_row, p| tiles.run_item(isa, b, item, first_row, p),
    );
}

/// How many of rayon's threads a product of `flops` multiply-adds takes: one below
/// [`PARALLEL_MIN_FLOPS`] or when `parallel` is off (attention calls the product from inside
/// its own parallel loop).
fn threads_for(flops: usize, parallel: bool) -> usize {
    match parallel && flops >= PARALLEL_MIN_FLOPS {
        true => rayon::current_num_threads(),
        false => 1,
    }
}
