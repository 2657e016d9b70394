//! The number formats of weights: f32, f16 and ggml's block-quantized formats, as llama.cpp's
//! `ggml-common.h` defines them. The GGUF reader names them by ggml's type ids; the kernels
//! multiply with them.

use std::fmt;

/// The number format of a tensor's data (ggml's `ggml_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TensorKind {
    /// 32-bit floats.
    F32,
    /// IEEE half precision.
    F16,
    /// Blocks of 32 values: an f16 scale `d`, 32 four-bit values `q`; value = `d · (q − 8)`.
    Q4_0,
    /// Blocks of 32 values: f16 scale `d` and minimum `m`, 32 four-bit `q`; value = `d · q + m`.
    Q4_1,
    /// Blocks of 32 values: an f16 scale `d`, 32 signed bytes `q`; value = `d · q`.
    Q8_0,
}

impl TensorKind {
    /// Values per block.
    pub fn block_len(self) -> usize {
        match self {
            TensorKind::F32 | TensorKind::F16 => 1,
            TensorKind::Q4_0 | TensorKind::Q4_1 | TensorKind::Q8_0 => 32,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            TensorKind::F32 => 4,
            TensorKind::F16 => 2,
            TensorKind::Q4_0 => 18,
            TensorKind::Q4_1 => 20,
            TensorKind::Q8_0 => 34,
        }
    }

    /// Bytes that `values` values of this kind take, or `None` when `values` is not a whole
    /// number of blocks or the size overflows.
    pub fn bytes_for(self, values: u64) -> Option<u64> {
        let block = self.block_len() as u64;
        if !values.is_multiple_of(block) {
            return None;
        }
        (values / block).checked_mul(self.block_bytes() as u64)
    }

    /// Whether the values are stored in quantized blocks.
    pub fn is_quantized(self) -> bool {
        self.block_len() > 1
    }
}

impl fmt::Display for TensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TensorKind::F32 => "F32",
            TensorKind::F16 => "F16",
            TensorKind::Q4_0 => "Q4_0",
            TensorKind::Q4_1 => "Q4_1",
            TensorKind::Q8_0 => "Q8_0",
        })
    }
}
