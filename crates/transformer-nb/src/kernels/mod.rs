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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    /// Plain Rust that the compiler vectorises for the baseline target.
    Generic,
    /// AVX2 with FMA (x86-64-v3).
    Avx2,
    /// AVX-512 F, BW, DQ and VL (x86-64-v4).
    Avx512,
}

/// Caps the instruction set the kernels use: `generic`, `avx2` or `avx512`. For comparing
/// the kernels and for testing the fallbacks on a machine that has more; a value this CPU
/// cannot run (or an unknown one) leaves the best available.
pub(crate) const KERNELS_ENV: &str = "TRANSFORMER_NB_KERNELS";

impl Isa {
    /// The best instruction set this CPU has, capped by [`KERNELS_ENV`].
    pub(crate) fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let cap = std::env::var(KERNELS_ENV).ok().and_then(|v| Isa::parse(&v));
            Isa::available()
                .into_iter()
                .rfind(|&isa| cap.is_none_or(|cap| isa <= cap))
                .unwrap_or(Isa::Generic)
        })
    }

    fn parse(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "generic" => Some(Isa::Generic),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_order_by_capability() {
        assert_eq!(Isa::parse(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(Isa::parse("sse"), None);
        assert!(Isa::Generic < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
        assert!(Isa::available().contains(&Isa::detect()));
    }
}
