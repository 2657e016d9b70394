//! The number format a model multiplies its weights in.

use std::fmt;

use crate::kernels::Isa;

/// The number format of the weights in a model's matrix products (see
/// [`Bert::with_precision`](crate::Bert::with_precision) and
/// [`CausalLm::from_gguf_with`](crate::CausalLm::from_gguf_with)).
///
/// - `F32`, the default for checkpoints in HF's layout: the checkpoint's values, results within
///   1e-4 of PyTorch's. A GGUF file's quantized blocks are dequantized at load (four to eight
///   times the memory), for parity and for looking at the numbers.
/// - `Quantized`, the default for GGUF files: the weights stay in the file's blocks (Q4_0, Q4_1,
///   Q8_0: 4.5 to 8.5 bits a weight) and are dequantized inside each product, row by row, so the
///   results are those of the dequantized model up to the order of the sums. A checkpoint of
///   f32 or f16 tensors has nothing to keep quantized: it runs in f32.
/// - `Bf16`: the weights rounded to bfloat16 (8 significant bits, f32's range) and multiplied
///   with `vdpbf16ps` (on Xeons with AMX tiles, batches of 32 rows or more with `tdpbf16ps`),
///   sums in f32. Half the memory for the weights and faster on CPUs with AVX512_BF16 (AMD
///   Zen 4 and later, Intel Cooper Lake and Sapphire Rapids and later), at the cost of a small
///   error (`scripts/bench.sh` measures the speed, `cargo test --release --test encoder -- bf16::` the
///   error). Embedding tables, biases, layer norms, softmax and attention stay f32.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// assert_eq!(Precision::default(), Precision::F32);
/// assert_eq!(Precision::Bf16.to_string(), "bf16");
/// // Whether this CPU runs bf16 (else a model asked for it stays f32, and says so):
/// let _ = Precision::Bf16.is_available();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// 32-bit floats throughout.
    #[default]
    F32,
    /// bfloat16 weights in the matrix products, f32 sums and everything else f32.
    Bf16,
    /// A GGUF file's quantized blocks as stored, f32 activations and sums.
    Quantized,
}

impl Precision {
    /// Whether this CPU runs this precision: always for `F32`; for `Bf16`, when it has
    /// AVX-512 with AVX512_BF16 and `TRANSFORMER_NB_KERNELS` does not cap the kernels below
    /// `avx512`.
    pub fn is_available(self) -> bool {
        match self {
            Precision::F32 => true,
            Precision::Bf16 => Isa::detect().bf16().is_some(),
            Precision::Quantized => true,
        }
    }

    /// Bytes one weight takes (for `Quantized`, that of Q8_0, the widest block format: Q4_0
    /// and Q4_1 take a little over half a byte).
    pub fn bytes_per_weight(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::Bf16 => 2,
            Precision::Quantized => 1,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Quantized => "quantized",
        })
    }
}

/// What a model asked for bf16 on a CPU without it says (on stderr, once per model).
pub(crate) const BF16_UNAVAILABLE: &str = "transformer-nb: bf16 needs AVX-512 with AVX512_BF16 \
     (vdpbf16ps), which this CPU does not have (or TRANSFORMER_NB_KERNELS caps the kernels below \
     avx512); the model stays f32, with the same results as without with_precision";

/// What a BERT checkpoint asked to stay quantized says (on stderr).
pub(crate) const NOT_QUANTIZED: &str = "transformer-nb: this checkpoint's weights are not \
     quantized (Precision::Quantized is for GGUF files); the model runs in f32";
