//! What the matrix kernel reaches on this machine, for the benchmark's "how close to the
//! limits" figures (`benches/forward.rs`, op `limits`). Not part of the crate's API.

use std::time::Instant;

use super::Isa;
use super::gemm::{Output, PackedB, PackedBf16, gemm, gemm_bf16};

/// Multiply-adds per second (×2 for FLOP/s) of the crate's own kernel on an `n × n × n`
/// product on rayon's threads, as the fastest of `passes`; with `bf16`, the bf16 kernel, or
/// `None` when this CPU has no AVX512_BF16.
pub fn square_product_flops(n: usize, passes: usize, bf16: bool) -> Option<f64> {
    let isa = Isa::detect();
    let a: Vec<f32> = (0..n * n)
        .map(|i| ((i % 97) as f32 - 48.0) / 97.0)
        .collect();
    let packed = PackedB::from_weight(&a, n, n);
    let packed_bf16 = match bf16 {
        true => Some(PackedBf16::from_f32(&packed, isa.bf16()?)),
        false => None,
    };
    let mut c = vec![0f32; n * n];
    let output = Output {
        bias: None,
        accumulate: false,
    };
    let mut fastest = f64::INFINITY;
    for _ in 0..passes.max(1) {
        let start = Instant::now();
        match &packed_bf16 {
            Some(b) => gemm_bf16(&a, n, n, b, output, &mut c, n, true),
            None => gemm(isa, &a, n, n, &packed, output, &mut c, n, true),
        }
        fastest = fastest.min(start.elapsed().as_secs_f64());
    }
    Some(2.0 * (n * n * n) as f64 / fastest)
}
