//! ggml's block-quantized weights (Q4_0, Q4_1, Q8_0) and products with them.
//!
//! Each format stores a row of a weight matrix as blocks of 32 values with an f16 scale (and,
//! for Q4_1, an f16 minimum), as llama.cpp's `ggml-quants.c` defines them
//! (<https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-common.h>).
//!
//! A product `x · Wᵀ` with a few rows of `x` (a decoding step) widens each block of `W` in
//! registers and multiplies it with the activations in f32 (`quant/x86.rs`), so every
//! quantized byte is read once per product and no dequantized row is written: a step is bound
//! by reading the weights. With many rows (a prompt) blocks of `W` are dequantized into packed
//! panels for the f32 matrix kernel, paid once for all rows. Either way the sums are f32 sums of
//! the values that dequantizing the whole matrix gives (what HF transformers computes with a
//! GGUF), in a different order; the activations are not quantized.

use rayon::prelude::*;

use super::gemm::{Output, PackedB, gemm_view};
use super::{Isa, Level, StridedMut};

mod kind;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use kind::TensorKind;

/// Values per quantized block.
pub(crate) const BLOCK: usize = 32;

/// Weight rows per parallel task: enough work per task that handing it out costs little.
const ROWS_PER_TASK: usize = 16;

/// From this many rows of activations on, a product dequantizes blocks of weight rows into
/// packed panels for the f32 matrix kernel instead of taking one dot product per row pair.
const PACKED_MIN_ROWS: usize = 8;

/// Weight rows a packed task dequantizes: a multiple of the kernel's panel width.
const PACKED_BLOCK_ROWS: usize = 4 * super::gemm::NR;

/// Below this many multiply-adds a product runs on the calling thread.
const PARALLEL_MIN_FLOPS: usize = 1 << 16;

/// Calls `$generic` (an `#[inline(always)]` function) compiled for the best instruction set
/// `$isa` names, with fused multiply-adds where the set has them; returns what it returns.
macro_rules! best_isa {
    ($isa:expr, $generic:ident($($arg:ident: $ty:ty),*) -> $ret:ty) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) -> $ret {
                $generic($($arg),*)
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) -> $ret {
                $generic($($arg),*)
            }
            match $isa.level() {
                // SAFETY: an `Isa` of level AVX-512 only comes from run-time detection of
                // AVX-512 F, BW, DQ and VL, AVX2 and FMA (`kernels::isa`).
                Level::Avx512 => return unsafe { avx512($($arg),*) },
                // SAFETY: an `Isa` of level AVX2 only comes from run-time detection of AVX2
                // and FMA.
                Level::Avx2 => return unsafe { avx2($($arg),*) },
                Level::Generic => {}
            }
        }
        let _ = $isa;
        $generic($($arg),*)
    }};
}

/// IEEE 754 half precision to single, exactly (every f16 is an f32).
pub(crate) fn f16_to_f32(half: u16) -> f32 {
    let sign = u32::from(half >> 15) << 31;
    let exponent = u32::from((half >> 10) & 0x1f);
    let mantissa = u32::from(half & 0x3ff);
    let magnitude = match (exponent, mantissa) {
        (0, 0) => 0,
        // Subnormal: mantissa · 2⁻²⁴, exact in f32.
        (0, m) => (m as f32 * f32::powi(2.0, -24)).to_bits(),
        (0x1f, 0) => 0x7f80_0000,
        (0x1f, m) => 0x7fc0_0000 | (m << 13),
        (e, m) => ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(sign | magnitude)
}

fn half_at(bytes: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// Dequantizes whole blocks: `out.len()` values from `bytes` of `kind`.
///
/// `bytes` holds exactly `out.len()` values (checked by the GGUF reader for file data).
pub(crate) fn dequantize(kind: TensorKind, bytes: &[u8], out: &mut [f32]) {
    dequantize_inline(kind, bytes, out)
}

#[inline(always)]
fn dequantize_inline(kind: TensorKind, bytes: &[u8], out: &mut [f32]) {
    let block_bytes = kind.block_bytes();
    let block_len = kind.block_len();
    assert_eq!(bytes.len() / block_bytes * block_len, out.len());
    match kind {
        TensorKind::F32 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        TensorKind::F16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            }
        }
        TensorKind::Q4_0 => {
            for (o, b) in out
                .chunks_exact_mut(BLOCK)
                .zip(bytes.chunks_exact(block_bytes))
            {
                let d = half_at(b, 0);
                // Byte j holds value j in its low nibble and value j + 16 in its high one.
                for (j, &q) in b[2..18].iter().enumerate() {
                    o[j] = d * ((q & 0xf) as i32 - 8) as f32;
                    o[j + 16] = d * ((q >> 4) as i32 - 8) as f32;
                }
            }
        }
        TensorKind::Q4_1 => {
            for (o, b) in out
                .chunks_exact_mut(BLOCK)
                .zip(bytes.chunks_exact(block_bytes))
            {
                let (d, m) = (half_at(b, 0), half_at(b, 2));
                for (j, &q) in b[4..20].iter().enumerate() {
                    o[j] = (q & 0xf) as f32 * d + m;
                    o[j + 16] = (q >> 4) as f32 * d + m;
                }
            }
        }
        TensorKind::Q8_0 => {
            for (o, b) in out
                .chunks_exact_mut(BLOCK)
                .zip(bytes.chunks_exact(block_bytes))
            {
                let d = half_at(b, 0);
                for (o, &q) in o.iter_mut().zip(&b[2..34]) {
                    *o = d * (q as i8) as f32;
                }
            }
        }
    }
}

/// A weight matrix `[rows, cols]` (PyTorch's `Linear` layout, `[out, in]`) kept in its
/// quantized blocks, each row `cols / 32` blocks.
#[derive(Clone, Debug)]
pub(crate) struct QuantMatrix {
    kind: TensorKind,
    rows: usize,
    cols: usize,
    data: Vec<u8>,
}

impl QuantMatrix {
    /// Wraps `data` of `kind` as a `rows × cols` matrix; `None` when the sizes do not agree
    /// or `kind` is not a block format.
    pub(crate) fn new(kind: TensorKind, rows: usize, cols: usize, data: Vec<u8>) -> Option<Self> {
        let row_bytes = cols
            .is_multiple_of(BLOCK)
            .then(|| cols / BLOCK * kind.block_bytes())?;
        (kind.is_quantized() && data.len() == rows.checked_mul(row_bytes)?).then_some(QuantMatrix {
            kind,
            rows,
            cols,
            data,
        })
    }

    pub(crate) fn kind(&self) -> TensorKind {
        self.kind
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    pub(crate) fn held_bytes(&self) -> usize {
        self.data.capacity()
    }

    fn row_bytes(&self) -> usize {
        self.cols / BLOCK * self.kind.block_bytes()
    }

    /// Row `r` dequantized into `out` (`cols` long).
    pub(crate) fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let rb = self.row_bytes();
        dequantize(self.kind, &self.data[r * rb..(r + 1) * rb], out);
    }

    /// Every value, dequantized (row-major).
    #[cfg(test)]
    pub(crate) fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        dequantize(self.kind, &self.data, &mut out);
        out
    }

    /// The same matrix with its rows reordered: row `i` of the result is row `order[i]`.
    pub(crate) fn permute_rows(&self, order: &[usize]) -> Self {
        let rb = self.row_bytes();
        let mut data = Vec::with_capacity(self.data.len());
        for &r in order {
            data.extend_from_slice(&self.data[r * rb..(r + 1) * rb]);
        }
        QuantMatrix { data, ..*self }
    }

    /// `c[m × rows] = a[m × cols] · selfᵀ`, rows of `a` and `c` contiguous.
    pub(crate) fn matmul(&self, isa: Isa, a: &[f32], m: usize, c: &mut [f32]) {
        let (n, k) = (self.rows, self.cols);
        assert!(a.len() >= m * k && c.len() >= m * n, "buffers too small");
        if m == 0 || n == 0 {
            return;
        }
        if m >= PACKED_MIN_ROWS {
            return self.matmul_packed(isa, a, m, c);
        }
        // Row r of W dotted with every row of a gives column r of c: computed as row r of cᵀ.
        let mut c_t = vec![0.0f32; n * m];
        let task = |(t, out): (usize, &mut [f32])| {
            self.row_products(isa, t * ROWS_PER_TASK, &a[..m * k], m, out);
        };
        if m * n * k < PARALLEL_MIN_FLOPS {
            c_t.chunks_mut(ROWS_PER_TASK * m).enumerate().for_each(task);
        } else {
            c_t.par_chunks_mut(ROWS_PER_TASK * m)
                .enumerate()
                .for_each(task);
        }
        for (r, column) in c_t.chunks_exact(m).enumerate() {
            for (i, &v) in column.iter().enumerate() {
                c[i * n + r] = v;
            }
        }
    }
}

impl QuantMatrix {
    /// Rows `first..` of `cᵀ` (`out`, `m` values a row): each weight row's blocks are
    /// widened in registers and multiplied with the matching block of every row of `a`,
    /// without writing the dequantized row anywhere.
    ///
    /// Per block, `Σ wⱼ·xⱼ = d·Σ qⱼ·xⱼ (+ m·Σ xⱼ for Q4_1)`: the sum of the dequantized
    /// row's products, rounded in a different order.
    fn row_products(&self, isa: Isa, first: usize, a: &[f32], m: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            macro_rules! with {
                ($kernel:ident) => {
                    // An `Isa` of level AVX-512 comes only from run-time detection of AVX-512 F,
                    // BW, DQ, VL and of AVX2, FMA and F16C; one of level AVX2 from that of
                    // AVX2, FMA and F16C (`kernels::isa`). The kernels check their bounds.
                    return self.rows_by(
                        first,
                        a,
                        m,
                        out,
                        // SAFETY: the instruction sets, as above.
                        |rows, stride, x| unsafe { x86::$kernel::<4>(rows, stride, x) },
                        // SAFETY: the instruction sets, as above.
                        |rows, stride, x| unsafe { x86::$kernel::<1>(rows, stride, x) },
                    )
                };
            }
            match (isa.level(), self.kind) {
                (Level::Avx512, TensorKind::Q4_1) => with!(q4_1_avx512),
                (Level::Avx512, TensorKind::Q4_0) => with!(q4_0_avx512),
                (Level::Avx512, TensorKind::Q8_0) => with!(q8_0_avx512),
                (Level::Avx2, TensorKind::Q4_1) => with!(q4_1_avx2),
                (Level::Avx2, TensorKind::Q4_0) => with!(q4_0_avx2),
                (Level::Avx2, TensorKind::Q8_0) => with!(q8_0_avx2),
                _ => {}
            }
        }
        let _ = isa;
        let row_dot = match self.kind {
            TensorKind::Q4_0 => row_dot_q4_0,
            TensorKind::Q8_0 => row_dot_q8_0,
            // `QuantMatrix::new` takes only block formats.
            _ => row_dot_q4_1,
        };
        self.rows_by(
            first,
            a,
            m,
            out,
            |rows, stride, x| std::array::from_fn(|r| row_dot(&rows[r * stride..], x)),
            |rows, _, x| [row_dot(rows, x)],
        )
    }

    /// [`row_products`](Self::row_products) with a kernel for four rows and one for a single
    /// row; each takes the rows' bytes, the bytes from one row to the next, and one row of `a`.
    fn rows_by(
        &self,
        first: usize,
        a: &[f32],
        m: usize,
        out: &mut [f32],
        four: impl Fn(&[u8], usize, &[f32]) -> [f32; 4],
        one: impl Fn(&[u8], usize, &[f32]) -> [f32; 1],
    ) {
        let (k, rb) = (self.cols, self.row_bytes());
        let rows = out.len() / m;
        let data = &self.data[first * rb..(first + rows) * rb];
        let mut quads = data.chunks_exact(4 * rb);
        let mut outs = out.chunks_exact_mut(4 * m);
        for (quad, out) in (&mut quads).zip(&mut outs) {
            for (i, x) in a.chunks_exact(k).enumerate() {
                for (r, v) in four(quad, rb, x).into_iter().enumerate() {
                    out[r * m + i] = v;
                }
            }
        }
        for (row, out) in quads
            .remainder()
            .chunks_exact(rb)
            .zip(outs.into_remainder().chunks_exact_mut(m))
        {
            for (o, x) in out.iter_mut().zip(a.chunks_exact(k)) {
                *o = one(row, rb, x)[0];
            }
        }
    }

    /// [`matmul`](Self::matmul) for many rows (a prompt): each task dequantizes a block of
    /// weight rows into a packed panel and runs the f32 matrix kernel on it, so the
    /// dequantizing is paid once per block for all `m` rows.
    fn matmul_packed(&self, isa: Isa, a: &[f32], m: usize, c: &mut [f32]) {
        let (n, k) = (self.rows, self.cols);
        let c = StridedMut::new(c, m, n, n).expect("C holds m × n values");
        let blocks = c.column_blocks(PACKED_BLOCK_ROWS);
        blocks.into_par_iter().enumerate().for_each(|(b, block)| {
            let first = b * PACKED_BLOCK_ROWS;
            let rows = block.cols();
            let mut dense = vec![0.0f32; rows * k];
            for (r, out) in dense.chunks_exact_mut(k).enumerate() {
                self.dequantize_row(first + r, out);
            }
            let mut packed = PackedB::default();
            packed.pack(&dense, k, rows, 1, k);
            let output = Output {
                bias: None,
                accumulate: false,
            };
            gemm_view(isa, a, k, &packed, output, block, false);
        });
    }
}

/// Sixteen lanes, summed by a fixed tree (the same on every instruction set).
#[inline(always)]
fn sum_lanes(mut acc: [f32; 16]) -> f32 {
    let mut width = 8;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0]
}

/// A Q4_0 row (`x.len() / 32` blocks in `row`) dotted with `x`: the portable kernel.
fn row_dot_q4_0(row: &[u8], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    for (b, x) in row.chunks_exact(18).zip(x.chunks_exact(BLOCK)) {
        let d = half_at(b, 0);
        let (q, (x_lo, x_hi)) = (&b[2..18], x.split_at(16));
        let mut block = [0.0f32; 16];
        for l in 0..16 {
            let lo = ((q[l] & 0xf) as i32 - 8) as f32;
            let hi = ((q[l] >> 4) as i32 - 8) as f32;
            block[l] = lo * x_lo[l] + hi * x_hi[l];
        }
        for l in 0..16 {
            acc[l] += d * block[l];
        }
    }
    sum_lanes(acc)
}

/// A Q4_1 row dotted with `x`.
fn row_dot_q4_1(row: &[u8], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    for (b, x) in row.chunks_exact(20).zip(x.chunks_exact(BLOCK)) {
        let (d, m) = (half_at(b, 0), half_at(b, 2));
        let (q, (x_lo, x_hi)) = (&b[4..20], x.split_at(16));
        for l in 0..16 {
            let block = (q[l] & 0xf) as f32 * x_lo[l] + (q[l] >> 4) as f32 * x_hi[l];
            acc[l] += d * block + m * (x_lo[l] + x_hi[l]);
        }
    }
    sum_lanes(acc)
}

/// A Q8_0 row dotted with `x`.
fn row_dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    for (b, x) in row.chunks_exact(34).zip(x.chunks_exact(BLOCK)) {
        let d = half_at(b, 0);
        let (q, (x_lo, x_hi)) = (&b[2..34], x.split_at(16));
        let mut block = [0.0f32; 16];
        for l in 0..16 {
            block[l] = (q[l] as i8) as f32 * x_lo[l] + (q[l + 16] as i8) as f32 * x_hi[l];
        }
        for l in 0..16 {
            acc[l] += d * block[l];
        }
    }
    sum_lanes(acc)
}

/// `Σ a[i] · b[i]`, with sixteen partial sums so that it vectorises.
#[inline(always)]
fn dot_generic(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0.0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    // A fixed tree, the same on every instruction set.
    let mut width = 8;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0] + tail
}

/// [`dot_generic`] compiled for the best instruction set `isa` names.
pub(crate) fn dot(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    best_isa!(isa, dot_generic(a: &[f32], b: &[f32]) -> f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bits(x: f32) -> [u8; 2] {
        // Values used here are exact in f16 (small multiples of powers of two).
        let bits = x.to_bits();
        let sign = ((bits >> 16) & 0x8000) as u16;
        let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
        let mant = ((bits >> 13) & 0x3ff) as u16;
        let half = if x == 0.0 {
            sign
        } else {
            sign | ((exp as u16) << 10) | mant
        };
        half.to_le_bytes()
    }

    /// A Q4_1 block of `d`, `m` and nibbles `q[0..32]`.
    fn q4_1_block(d: f32, m: f32, q: &[u8; 32]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(f16_bits(d));
        b.extend(f16_bits(m));
        for j in 0..16 {
            b.push(q[j] | (q[j + 16] << 4));
        }
        b
    }

    #[test]
    fn block_formats_decode_as_ggml_defines_them() {
        let q: [u8; 32] = std::array::from_fn(|j| (j % 16) as u8);
        let mut out = [0.0f32; 32];
        dequantize(TensorKind::Q4_1, &q4_1_block(0.5, -2.0, &q), &mut out);
        for (j, v) in out.iter().enumerate() {
            assert_eq!(*v, (j % 16) as f32 * 0.5 - 2.0);
        }
        let mut q4_0 = f16_bits(0.25).to_vec();
        q4_0.extend((0..16).map(|j| (j as u8) | (((15 - j) as u8) << 4)));
        dequantize(TensorKind::Q4_0, &q4_0, &mut out);
        assert_eq!(out[1], 0.25 * (1.0 - 8.0));
        assert_eq!(out[17], 0.25 * (14.0 - 8.0));
        let mut q8 = f16_bits(2.0).to_vec();
        q8.extend((0..32).map(|j| (j as i8 - 16) as u8));
        dequantize(TensorKind::Q8_0, &q8, &mut out);
        assert_eq!(out[0], -32.0);
        assert_eq!(out[31], 30.0);
    }

    #[test]
    fn products_equal_the_dequantized_matrix_on_every_isa() {
        // Every format, one row and a few (one dot product per pair), and enough rows for the
        // packed path; 137 rows leave a remainder after groups of four.
        for (kind, m) in [
            (TensorKind::Q4_1, 1),
            (TensorKind::Q4_1, 5),
            (TensorKind::Q4_1, 9),
            (TensorKind::Q4_0, 1),
            (TensorKind::Q4_0, 3),
            (TensorKind::Q8_0, 1),
            (TensorKind::Q8_0, 2),
        ] {
            let (rows, cols) = (137, 96);
            let mut data = Vec::new();
            for r in 0..rows {
                for b in 0..cols / BLOCK {
                    let q: [u8; 32] = std::array::from_fn(|j| ((r * 7 + b * 3 + j * 5) % 16) as u8);
                    let d = 0.125 * (1 + r % 3) as f32;
                    match kind {
                        TensorKind::Q4_1 => data.extend(q4_1_block(d, -1.0, &q)),
                        TensorKind::Q4_0 => {
                            data.extend(f16_bits(d));
                            data.extend((0..16).map(|j| q[j] | (q[j + 16] << 4)));
                        }
                        _ => {
                            data.extend(f16_bits(d));
                            data.extend(
                                q.iter().enumerate().map(|(j, &v)| {
                                    (v as i8 * if j % 2 == 0 { 8 } else { -5 }) as u8
                                }),
                            );
                        }
                    }
                }
            }
            let w = QuantMatrix::new(kind, rows, cols, data).unwrap();
            let dense = w.to_f32();
            let a: Vec<f32> = (0..m * cols)
                .map(|i| ((i * 13) % 17) as f32 / 8.0 - 1.0)
                .collect();
            for isa in Isa::available() {
                let mut c = vec![0.0; m * rows];
                w.matmul(isa, &a, m, &mut c);
                for i in 0..m {
                    for r in 0..rows {
                        let want: f64 = (0..cols)
                            .map(|j| a[i * cols + j] as f64 * dense[r * cols + j] as f64)
                            .sum();
                        let got = c[i * rows + r] as f64;
                        assert!(
                            (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                            "{isa:?} {kind:?} {i} {r}"
                        );
                    }
                }
            }
        }
        let (rows, cols) = (137, 96);
        let w = QuantMatrix::new(
            TensorKind::Q4_1,
            rows,
            cols,
            (0..rows * cols / BLOCK)
                .flat_map(|b| q4_1_block(0.5, -1.0, &std::array::from_fn(|j| ((b + j) % 16) as u8)))
                .collect(),
        )
        .unwrap();
        let dense = w.to_f32();
        let order: Vec<usize> = (0..rows).rev().collect();
        let flipped = w.permute_rows(&order).to_f32();
        assert_eq!(flipped[..cols], dense[(rows - 1) * cols..]);
    }

    #[test]
    fn halves_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), f32::powi(2.0, -24));
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
