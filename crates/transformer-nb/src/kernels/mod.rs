//! CPU kernels for the BERT forward pass, below candle.
//!
//! candle's generic ops cost the encoder a separate pass over memory for every elementwise step,
//! an allocation per op, AVX2 matrix products on AVX-512 machines and a scalar `erf`. The encoder
//! needs only a handful of operations, so they are written here on plain `f32` slices:
//!
//! - [`gemm`]: `C = A · B (+ bias) (+ C)` with `B` packed once (the weights are packed when the
//!   model loads), an AVX-512 or AVX2+FMA micro-kernel picked at run time, and a portable
//!   fallback; split across rayon's threads.
//! - [`math`]: vectorisable `exp`, `erf`, GELU, softmax and layer norm.
//!
//! Every kernel has the same result on every instruction set up to float rounding; the tests
//! run each available one against a plain reference.

pub(crate) mod gemm;
pub(crate) mod math;

use std::sync::OnceLock;

/// The instruction set the kernels run with, detected once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Plain Rust that the compiler vectorises for the baseline target.
    Generic,
    /// AVX2 with FMA (x86-64-v3).
    Avx2,
    /// AVX-512 F, BW, DQ and VL (x86-64-v4).
    Avx512,
}

impl Isa {
    /// The best instruction set this CPU has.
    pub(crate) fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| Isa::available().into_iter().last().unwrap_or(Isa::Generic))
    }

    /// Every instruction set this CPU can run, the portable one first.
    pub(crate) fn available() -> Vec<Isa> {
        let mut isas = vec![Isa::Generic];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                isas.push(Isa::Avx2);
            }
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
            {
                isas.push(Isa::Avx512);
            }
        }
        isas
    }
}

/// A raw pointer that rayon's threads may share: each writes a disjoint part of the buffer.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub *mut f32);

impl SharedMut {
    /// The pointer `offset` values further on. A method, so that closures capture the whole
    /// `SharedMut` (which is `Sync`) rather than its raw pointer field.
    ///
    /// # Safety
    /// As `pointer::add`: the result must stay inside the buffer.
    pub(crate) unsafe fn add(self, offset: usize) -> *mut f32 {
        // SAFETY: the caller's guarantee.
        unsafe { self.0.add(offset) }
    }
}

// SAFETY: only used to hand disjoint regions of one buffer to scoped threads, which all finish
// before the buffer's borrow ends.
unsafe impl Send for SharedMut {}
// SAFETY: as above.
unsafe impl Sync for SharedMut {}
