//! The sinusoidal positional encoding of "Attention Is All You Need" (Vaswani et al., 2017, §3.5).
//!
//! ```text
//! PE(pos, 2i)     = sin(pos / 10000^(2i / d_model))
//! PE(pos, 2i + 1) = cos(pos / 10000^(2i / d_model))
//! ```
//!
//! Each pair of dimensions is one sine/cosine wave; wavelengths grow geometrically from 2π to
//! 10000·2π, so every position gets a distinct pattern and `PE(pos + k)` is a linear function of
//! `PE(pos)`. (BERT itself *learns* its position embeddings instead; the tutorial shows this
//! formula because it is what the Transformer paper uses.)

use crate::error::{Error, Result};
use crate::language::say;
use crate::tensor::Tensor;

/// The most values one encoding may hold (2^26 f32, 256 MiB): far beyond any model's table
/// (BERT: 512 × 768), and well below what a 4 GiB notebook machine can allocate.
pub(crate) const MAX_VALUES: usize = 1 << 26;

/// The most positions [`PositionalEncoding::similarity_matrix`] compares (their square, 2^26
/// values, is 256 MiB).
pub const MAX_SIMILARITY_POSITIONS: usize = 1 << 13;

/// How the sines and cosines are laid out along the `d_model` dimensions.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let paper = positional_encoding_with_layout(4, 8, Layout::Interleaved)?;
/// let halves = positional_encoding_with_layout(4, 8, Layout::Concatenated)?;
/// // The same numbers, in another order: dimension 1 of the paper is dimension 4 of halves.
/// assert_eq!(paper.get(3, 1), halves.get(3, 4));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The paper's layout: even dimensions sine, odd dimensions cosine.
    Interleaved,
    /// All sines in the first half, all cosines in the second, as tensor2tensor and fairseq lay
    /// them out (they also space the frequencies by `d/2 − 1` instead of `d/2`; this layout keeps
    /// the paper's frequencies).
    Concatenated,
}

/// A `num_positions × d_model` matrix of sinusoidal position vectors, one row per position.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let pe = positional_encoding(50, 128)?;
/// assert_eq!(pe.shape(), (50, 128));
/// assert_eq!(pe.get(0, 0), 0.0);   // sin(0)
/// assert_eq!(pe.get(0, 1), 1.0);   // cos(0)
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PositionalEncoding {
    values: Vec<f32>,
    num_positions: usize,
    d_model: usize,
    layout: Layout,
}

/// The positional-encoding matrix of the paper (interleaved sin/cos) for `num_positions`
/// positions of `d_model` dimensions.
///
/// `d_model` must be even, since dimensions come in sine/cosine pairs; an odd `d_model` (or a
/// zero size) is an error that says so. The matrix may hold up to 2^26 values (256 MiB, e.g.
/// 65,536 positions of 1,024); a larger request is an error, returned before anything is
/// allocated, since a failed allocation would end the notebook's kernel.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let pe = positional_encoding(50, 128)?;
/// let expected = (10.0f64 / 10000f64.powf(2.0 * 3.0 / 128.0)).sin() as f32;
/// assert!((pe.get(10, 6) - expected).abs() < 1e-6);
///
/// assert!(positional_encoding(50, 127).is_err());
/// assert!(positional_encoding(0, 128).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn positional_encoding(num_positions: usize, d_model: usize) -> Result<PositionalEncoding> {
    positional_encoding_with_layout(num_positions, d_model, Layout::Interleaved)
}

/// Like [`positional_encoding`], with the sines and cosines laid out as `layout` says.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let pe = positional_encoding_with_layout(10, 4, Layout::Concatenated)?;
/// assert_eq!(pe.row(0), [0.0, 0.0, 1.0, 1.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn positional_encoding_with_layout(
    num_positions: usize,
    d_model: usize,
    layout: Layout,
) -> Result<PositionalEncoding> {
    if num_positions == 0 || d_model == 0 {
        return Err(Error::invalid(say!(
            "positional_encoding({num_positions}, {d_model}): both sizes must be at least 1, \
             e.g. positional_encoding(50, 128)",
            "positional_encoding({num_positions}, {d_model}): cả hai kích thước phải ít nhất là \
             1, ví dụ positional_encoding(50, 128)"
        )));
    }
    if d_model % 2 == 1 {
        let (below, above) = (d_model - 1, d_model + 1);
        return Err(Error::invalid(say!(
            "positional_encoding: d_model = {d_model} is odd, but it must be even: dimensions \
             come in pairs, sine at 2i and cosine at 2i+1. Use {below} or {above}",
            "positional_encoding: d_model = {d_model} là số lẻ, nhưng nó phải chẵn: các chiều \
             đi theo cặp, sin ở 2i và cos ở 2i+1. Hãy dùng {below} hoặc {above}"
        )));
    }
    // Checked before allocating: an allocation that fails aborts the process, which in a notebook
    // kills the kernel and every variable in it.
    let cells = num_positions
        .checked_mul(d_model)
        .filter(|&n| n <= MAX_VALUES)
        .ok_or_else(|| {
            Error::invalid(format!(
                "positional_encoding({num_positions}, {d_model}) would hold more than {MAX_VALUES} \
                 values ({} MiB): BERT uses 512 positions of 768; ask for fewer positions or \
                 dimensions",
                (MAX_VALUES * 4) >> 20
            ))
        })?;
    let half = d_model / 2;
    let mut values = vec![0f32; cells];
    for pos in 0..num_positions {
        let row = &mut values[pos * d_model..(pos + 1) * d_model];
        for i in 0..half {
            // Computed in f64 and rounded once, so each value is the formula's to within 1e-7.
            let angle = pos as f64 / 10000f64.powf(2.0 * i as f64 / d_model as f64);
            let (sin, cos) = angle.sin_cos();
            let (sin_at, cos_at) = match layout {
                Layout::Interleaved => (2 * i, 2 * i + 1),
                Layout::Concatenated => (i, half + i),
            };
            row[sin_at] = sin as f32;
            row[cos_at] = cos as f32;
        }
    }
    Ok(PositionalEncoding {
        values,
        num_positions,
        d_model,
        layout,
    })
}

impl PositionalEncoding {
    /// `(num_positions, d_model)`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(positional_encoding(50, 128)?.shape(), (50, 128));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        (self.num_positions, self.d_model)
    }

    /// The layout of the sines and cosines.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(positional_encoding(2, 2)?.layout(), Layout::Interleaved);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The value at position `pos`, dimension `i`; NaN when either is out of range
    /// (use [`try_get`](Self::try_get) for an error instead).
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let pe = positional_encoding(50, 128)?;
    /// assert!((pe.get(1, 0) - 1f32.sin()).abs() < 1e-6);
    /// assert!(pe.get(50, 0).is_nan());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, pos: usize, i: usize) -> f32 {
        self.try_get(pos, i).unwrap_or(f32::NAN)
    }

    /// The value at position `pos`, dimension `i`, or an error naming the valid range.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let pe = positional_encoding(50, 128)?;
    /// assert!(pe.try_get(0, 128).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_get(&self, pos: usize, i: usize) -> Result<f32> {
        Error::check_index("position", pos, self.num_positions)?;
        Error::check_index("dimension", i, self.d_model)?;
        Ok(self.values[pos * self.d_model + i])
    }

    /// The `d_model` values of one position; empty when `pos` is out of range.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let pe = positional_encoding(50, 128)?;
    /// assert_eq!(pe.row(0).len(), 128);
    /// assert!(pe.row(99).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn row(&self, pos: usize) -> &[f32] {
        if pos < self.num_positions {
            &self.values[pos * self.d_model..(pos + 1) * self.d_model]
        } else {
            &[]
        }
    }

    /// All values, row by row (position-major).
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(positional_encoding(3, 4)?.values().len(), 12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The matrix as a `[num_positions, d_model]` tensor.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let t = positional_encoding(50, 128)?.to_tensor()?;
    /// assert_eq!(t.dims(), [50, 128]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_tensor(&self) -> Result<Tensor> {
        Tensor::from_vec(self.values.clone(), [self.num_positions, self.d_model])
    }

    /// Dot products of every pair of position vectors: `similarity[p][q] = PE(p) · PE(q)`.
    /// Near positions are more alike than far ones, and the value depends only on `p - q`.
    /// Up to [`MAX_SIMILARITY_POSITIONS`] positions (the matrix grows with their square); more
    /// is an error that says so.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let s = positional_encoding(20, 64)?.similarity_matrix()?;
    /// assert!((s[0][0] - 32.0).abs() < 1e-3);          // each vector has norm² = d_model / 2
    /// assert!((s[3][5] - s[10][12]).abs() < 1e-3);     // depends only on the distance
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn similarity_matrix(&self) -> Result<Vec<Vec<f32>>> {
        if self.num_positions > MAX_SIMILARITY_POSITIONS {
            return Err(Error::invalid(format!(
                "the similarity of {} positions would be a {0} × {0} matrix; it is limited to \
                 {MAX_SIMILARITY_POSITIONS} positions: make the encoding with fewer positions, \
                 e.g. positional_encoding(512, {})",
                self.num_positions, self.d_model
            )));
        }
        Ok((0..self.num_positions)
            .map(|p| {
                (0..self.num_positions)
                    .map(|q| {
                        self.row(p)
                            .iter()
                            .zip(self.row(q))
                            .map(|(a, b)| a * b)
                            .sum()
                    })
                    .collect()
            })
            .collect())
    }

    /// Whether dimension `d` holds a sine or a cosine in this layout.
    pub(crate) fn wave_of(&self, d: usize) -> &'static str {
        let is_sine = match self.layout {
            Layout::Interleaved => d.is_multiple_of(2),
            Layout::Concatenated => d < self.d_model / 2,
        };
        if is_sine { "sin" } else { "cos" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's formula, written out in f64, independently of the implementation above.
    fn formula(pos: usize, dim: usize, d_model: usize) -> f64 {
        let i = (dim / 2) as f64;
        let angle = pos as f64 / 10000f64.powf(2.0 * i / d_model as f64);
        if dim.is_multiple_of(2) {
            angle.sin()
        } else {
            angle.cos()
        }
    }

    #[test]
    fn every_value_is_the_formula_to_1e_6() {
        for (n, d) in [(50, 128), (512, 768), (3, 2)] {
            let pe = positional_encoding(n, d).unwrap();
            for pos in 0..n {
                for dim in 0..d {
                    let got = f64::from(pe.get(pos, dim));
                    assert!(
                        (got - formula(pos, dim, d)).abs() < 1e-6,
                        "({pos}, {dim}) of {n}×{d}"
                    );
                }
            }
        }
    }

    #[test]
    fn concatenated_is_a_permutation_of_interleaved() {
        let a = positional_encoding_with_layout(7, 10, Layout::Interleaved).unwrap();
        let b = positional_encoding_with_layout(7, 10, Layout::Concatenated).unwrap();
        for pos in 0..7 {
            for i in 0..5 {
                assert_eq!(a.get(pos, 2 * i), b.get(pos, i));
                assert_eq!(a.get(pos, 2 * i + 1), b.get(pos, 5 + i));
            }
        }
    }

    #[test]
    fn zero_sizes_are_errors() {
        assert!(
            positional_encoding(0, 8)
                .unwrap_err()
                .to_string()
                .contains("at least 1")
        );
        assert!(
            positional_encoding(8, 0)
                .unwrap_err()
                .to_string()
                .contains("at least 1")
        );
    }

    #[test]
    fn absurd_sizes_are_an_error_before_anything_is_allocated() {
        for (n, d) in [
            (200_000, 200_000),
            (usize::MAX, 2),
            (2, usize::MAX - 1),
            (1 << 20, 1 << 8),
        ] {
            let err = positional_encoding(n, d).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, Error::InvalidArgument { .. }),
                "{n} x {d}: {err:?}"
            );
            assert!(
                text.contains("would hold more than 67108864 values (256 MiB)"),
                "{text}"
            );
            assert!(
                text.contains("ask for fewer positions or dimensions"),
                "{text}"
            );
        }
        // One position past the cap is refused; BERT's size is far below it.
        assert!(matches!(
            positional_encoding((1 << 18) + 1, 1 << 8),
            Err(Error::InvalidArgument { .. })
        ));
        assert_eq!(
            positional_encoding(1 << 18, 1 << 8).unwrap().shape(),
            (1 << 18, 1 << 8)
        );
        assert_eq!(positional_encoding(512, 768).unwrap().shape(), (512, 768));
    }

    #[test]
    fn odd_d_model_is_an_error_that_suggests_even_sizes() {
        let err = positional_encoding(50, 127).unwrap_err().to_string();
        assert!(
            err.contains("must be even") && err.contains("126 or 128"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_access_does_not_panic() {
        let pe = positional_encoding(4, 4).unwrap();
        assert!(pe.get(4, 0).is_nan());
        assert!(pe.row(4).is_empty());
        assert!(
            pe.try_get(0, 4)
                .unwrap_err()
                .to_string()
                .contains("dimension 4")
        );
    }

    #[test]
    fn tensor_matches_values() {
        let pe = positional_encoding(5, 6).unwrap();
        let t = pe.to_tensor().unwrap();
        assert_eq!(t.dims(), [5, 6]);
        assert_eq!(t.values(), pe.values());
    }
}
