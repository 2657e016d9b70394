//! What the matrix kernel reaches on this machine, for the benchmark's "how close to the
//! limits" figures (`benches/forward.rs`, op `limits`). Not part of the crate's API.

use std::time::Instant;

use super::gemm::{Output, PackedB, PackedBf16, gemm, gemm_bf16};
use super::{Isa, KernelTuning};

/// Multiply-adds per second (×2 for FLOP/s) of the crate's own kernel on an `n × n × n`
/// product on rayon's threads, as the fastest of `passes`; with `bf16`, the bf16 kernel, or
/// `None` when this CPU has no AVX512_BF16.
pub fn square_product_flops(n: usize, passes: usize, bf16: bool) -> Option<f64> {
    product_flops(n, n, n, passes, bf16)
}

/// As [`square_product_flops`] for an `m × k` by `k × n` product, `B` packed as a weight is:
/// the shapes of a model's layers.
pub fn product_flops(m: usize, k: usize, n: usize, passes: usize, bf16: bool) -> Option<f64> {
    let isa = Isa::detect();
    let values =
        |len: usize| -> Vec<f32> { (0..len).map(|i| ((i % 97) as f32 - 48.0) / 97.0).collect() };
    let a = values(m * k);
    let packed = PackedB::from_weight(&values(n * k), n, k);
    let packed_bf16 = match bf16 {
        true => Some(PackedBf16::from_f32(&packed, isa.bf16()?)),
        false => None,
    };
    let mut c = vec![0f32; m * n];
    let output = Output {
        bias: None,
        accumulate: false,
    };
    let mut fastest = f64::INFINITY;
    for _ in 0..passes.max(1) {
        let start = Instant::now();
        match &packed_bf16 {
            Some(b) => gemm_bf16(&a, k, m, b, output, &mut c, n, true, KernelTuning::detect()),
            None => gemm(isa, &a, k, m, &packed, output, &mut c, n, true),
        }
        fastest = fastest.min(start.elapsed().as_secs_f64());
    }
    Some(2.0 * (m * k * n) as f64 / fastest)
}
