//! CPU kernels for the BERT forward pass.
//!
//! Generic tensor ops (candle's, for one) cost an encoder a separate pass over memory for every
//! elementwise step, an allocation per op, AVX2 matrix products on AVX-512 machines and a
//! scalar `erf`. The encoder needs only a handful of operations, so they are written here on
//! plain `f32` slices:
//!
//! - [`gemm`]: `C = A · B (+ bias) (+ C)` with `B` packed once (the weights are packed when the
//!   model loads), an AVX-512 or AVX2+FMA micro-kernel picked at run time, and a portable
//!   fallback; split across rayon's threads.
//!   With AVX512_BF16, an opt-in variant keeps the weights in bf16 (half the bytes to read)
//!   and multiplies with `vdpbf16ps` (f32 sums, twice the multiply-adds per instruction), or
//!   with the Intel tuning widens them to f32 for FMAs, for CPUs where those do more
//!   multiply-adds per cycle; on Xeons with AMX, blocks of 32 rows go to the tile unit
//!   (`tdpbf16ps`, `gemm/amx.rs`).
//!   On Intel the micro-kernels also prefetch the weights they stream and take the rows in
//!   blocks that stay in L2 (`isa::KernelTuning`).
//! - [`huge_pages`]: the packed weights in 2 MiB pages, for the page walks of streaming them.
//! - [`aligned`]: buffers that start on a cache line, so that no load of a packed weight straddles
//!   two.
//! - [`math`]: vectorisable `exp`, `erf`, GELU, softmax and layer norm.
//! - [`pass`]: a whole forward pass on one of rayon's threads, the others kept awake.
//!
//! Every kernel has the same result on every instruction set up to float rounding; the tests
//! run each available one against a plain reference.

mod aligned;
pub(crate) mod gemm;
mod huge_pages;
mod isa;
pub(crate) mod math;
pub(crate) mod pass;
#[cfg(feature = "bench-knobs")]
pub mod probe;
pub(crate) mod quant;
mod strided;

pub(crate) use aligned::AlignedBuffer;
pub(crate) use isa::{Bf16Isa, Bf16Madd, Isa, KernelTuning, Level};
pub(crate) use strided::StridedMut;
