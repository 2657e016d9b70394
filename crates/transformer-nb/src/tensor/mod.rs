//! [`Tensor`]: the owned, row-major `f32` array that a forward pass returns.
//!
//! The crate's own type, not candle's: nothing in the forward pass needs candle (the kernels
//! are our own), and handing out candle's tensor would have every notebook compile candle-core
//! and its 50-odd dependencies, and evcxr's rust-analyzer load and resolve all of their
//! sources, before each first result. This type keeps what a notebook does with an output —
//! its shape, one sequence or position of it, its numbers as nested `Vec`s — and nothing else.
//! To use candle (or ndarray) on an output, build its tensor from [`Tensor::values`] and
//! [`Tensor::dims`]:
//!
//! ```
//! # use transformer_nb::prelude::*;
//! let ours: Tensor = positional_encoding(4, 8)?.to_tensor()?;
//! let theirs = candle_core::Tensor::from_slice(ours.values(), ours.dims(), &candle_core::Device::Cpu)?;
//! assert_eq!(theirs.dims(), ours.dims());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use crate::error::{Error, Result};

pub(crate) mod pool;

/// An n-dimensional array of `f32`, stored row-major (the last axis varies fastest), as the
/// forward pass returns its hidden states `[batch, seq, hidden]` and attentions
/// `[batch, heads, seq, seq]`.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3])?;
/// assert_eq!(t.dims(), [2, 3]);
/// assert_eq!(t.get(1)?.to_vec1()?, [4.0, 5.0, 6.0]);      // the second row
/// assert_eq!(t.value(&[0, 2])?, 3.0);
/// assert_eq!(t.to_vec2()?, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
/// assert!(t.get(2).is_err());                             // an error, never a panic
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Tensor {
    dims: Vec<usize>,
    values: Vec<f32>,
}

/// A large tensor's buffer goes to the pool that the next forward pass takes its outputs from.
impl Drop for Tensor {
    fn drop(&mut self) {
        pool::recycle(std::mem::take(&mut self.values));
    }
}

impl Tensor {
    /// A tensor of shape `dims` holding `values` in row-major order; an error when their
    /// counts differ.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let t = Tensor::from_vec(vec![0.5; 12], [1, 3, 4])?;
    /// assert_eq!(t.rank(), 3);
    /// assert!(Tensor::from_vec(vec![0.5; 12], [5, 3]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_vec(values: Vec<f32>, dims: impl Into<Vec<usize>>) -> Result<Self> {
        let dims = dims.into();
        let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if count != Some(values.len()) {
            return Err(Error::invalid(format!(
                "a tensor of shape {dims:?} holds {} values, but {} were given: pass as many \
                 values as the dimensions multiply to",
                count.map_or_else(|| "more than usize::MAX".to_string(), |n| n.to_string()),
                values.len()
            )));
        }
        Ok(Tensor { dims, values })
    }

    /// For the crate's own outputs, whose shapes are right by construction.
    pub(crate) fn from_parts(values: Vec<f32>, dims: impl Into<Vec<usize>>) -> Self {
        let dims = dims.into();
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        Tensor { dims, values }
    }

    /// The size of each axis, e.g. `[1, 8, 384]`.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.dims.len()
    }

    /// The size of axis `axis`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let t = Tensor::from_vec(vec![0.0; 6], [2, 3])?;
    /// assert_eq!(t.dim(1)?, 3);
    /// assert!(t.dim(2).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dim(&self, axis: usize) -> Result<usize> {
        Error::check_index("axis", axis, self.dims.len())?;
        Ok(self.dims[axis])
    }

    /// How many values the tensor holds (the product of its dimensions).
    pub fn elem_count(&self) -> usize {
        self.values.len()
    }

    /// All values, row-major: index `[i, j, k]` of a `[I, J, K]` tensor is at
    /// `(i * J + j) * K + k`.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The values, without copying them.
    pub fn into_values(mut self) -> Vec<f32> {
        std::mem::take(&mut self.values)
    }

    /// The rows along the last axis, in order: for hidden states `[batch, seq, hidden]`, one
    /// token's vector after another.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let t = Tensor::from_vec(vec![3.0, 4.0, 0.0, 1.0], [1, 2, 2])?;
    /// let norms: Vec<f32> = t.rows().map(|v| v.iter().map(|x| x * x).sum::<f32>().sqrt()).collect();
    /// assert_eq!(norms, [5.0, 1.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        // A zero-length last axis has no values, so the chunk size only has to be non-zero.
        let width = self.dims.last().copied().unwrap_or(1).max(1);
        self.values.chunks_exact(width)
    }

    /// Entry `index` of the first axis, one rank lower: `hidden.get(0)` is the first
    /// sequence's `[seq, hidden]`.
    pub fn get(&self, index: usize) -> Result<Tensor> {
        let Some((&first, rest)) = self.dims.split_first() else {
            return Err(Error::invalid(
                "a tensor of rank 0 (one number) has no axis to index: use values()[0]",
            ));
        };
        Error::check_index("index on the first axis", index, first)?;
        let size: usize = rest.iter().product();
        Ok(Tensor {
            dims: rest.to_vec(),
            values: self.values[index * size..(index + 1) * size].to_vec(),
        })
    }

    /// `len` entries of axis `axis` from `start`, the other axes whole: e.g. the first `n`
    /// tokens of `[seq, hidden]` with `narrow(0, 0, n)`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let t = Tensor::from_vec((0..6).map(|v| v as f32).collect(), [2, 3])?;
    /// assert_eq!(t.narrow(1, 1, 2)?.to_vec2()?, [[1.0, 2.0], [4.0, 5.0]]);
    /// assert!(t.narrow(1, 2, 2).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Result<Tensor> {
        let size = self.dim(axis)?;
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::invalid(format!(
                "narrow({axis}, {start}, {len}) reaches past the end of axis {axis}, which has \
                 {size} entries: start + len must be at most {size}"
            )));
        }
        let outer: usize = self.dims[..axis].iter().product();
        let inner: usize = self.dims[axis + 1..].iter().product();
        let mut values = Vec::with_capacity(outer * len * inner);
        for block in self.values.chunks_exact((size * inner).max(1)).take(outer) {
            values.extend_from_slice(&block[start * inner..(start + len) * inner]);
        }
        let mut dims = self.dims.clone();
        dims[axis] = len;
        Ok(Tensor { dims, values })
    }

    /// The value at `index`, one position per axis.
    pub fn value(&self, index: &[usize]) -> Result<f32> {
        if index.len() != self.dims.len() {
            return Err(Error::invalid(format!(
                "index {index:?} has {} positions, but the tensor has {} axes {:?}: give one \
                 per axis",
                index.len(),
                self.dims.len(),
                self.dims
            )));
        }
        let mut offset = 0;
        for (&i, &d) in index.iter().zip(&self.dims) {
            Error::check_index("index", i, d)?;
            offset = offset * d + i;
        }
        Ok(self.values[offset])
    }

    /// The values of a rank-1 tensor.
    pub fn to_vec1(&self) -> Result<Vec<f32>> {
        self.check_rank(1)?;
        Ok(self.values.clone())
    }

    /// The rows of a rank-2 tensor.
    pub fn to_vec2(&self) -> Result<Vec<Vec<f32>>> {
        self.check_rank(2)?;
        Ok(self.rows().map(<[f32]>::to_vec).collect())
    }

    /// A rank-3 tensor as nested `Vec`s, e.g. `[batch][seq][hidden]`.
    pub fn to_vec3(&self) -> Result<Vec<Vec<Vec<f32>>>> {
        self.check_rank(3)?;
        (0..self.dims[0]).map(|i| self.get(i)?.to_vec2()).collect()
    }

    fn check_rank(&self, rank: usize) -> Result<()> {
        if self.dims.len() == rank {
            return Ok(());
        }
        Err(Error::invalid(format!(
            "to_vec{rank} needs a tensor of rank {rank}, this one has shape {:?} (rank {}): \
             use to_vec{} or select with get(i) first",
            self.dims,
            self.dims.len(),
            self.dims.len()
        )))
    }
}

/// The shape and the first values: a hidden state has thousands.
impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 6;
        write!(f, "Tensor{:?} f32 [", self.dims)?;
        for (i, v) in self.values.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v:.4}")?;
        }
        if self.values.len() > SHOWN {
            write!(f, ", … {} more", self.values.len() - SHOWN)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting(dims: &[usize]) -> Tensor {
        let n = dims.iter().product::<usize>();
        Tensor::from_vec((0..n).map(|v| v as f32).collect(), dims).unwrap()
    }

    #[test]
    fn get_selects_along_the_first_axis() {
        let t = counting(&[2, 3, 4]);
        let second = t.get(1).unwrap();
        assert_eq!(second.dims(), [3, 4]);
        assert_eq!(second.values()[0], 12.0);
        assert_eq!(
            second.get(2).unwrap().to_vec1().unwrap(),
            [20.0, 21.0, 22.0, 23.0]
        );
        assert!(matches!(t.get(2), Err(Error::OutOfRange { len: 2, .. })));
        let scalar = Tensor::from_vec(vec![1.0], Vec::new()).unwrap();
        assert!(scalar.get(0).is_err());
    }

    #[test]
    fn narrow_keeps_the_other_axes_whole() {
        let t = counting(&[2, 3, 4]);
        let middle = t.narrow(1, 1, 1).unwrap();
        assert_eq!(middle.dims(), [2, 1, 4]);
        assert_eq!(middle.values(), [4., 5., 6., 7., 16., 17., 18., 19.]);
        let last = t.narrow(2, 3, 1).unwrap();
        assert_eq!(last.values(), [3., 7., 11., 15., 19., 23.]);
        assert_eq!(t.narrow(0, 0, 2).unwrap(), t);
        assert_eq!(t.narrow(0, 2, 0).unwrap().dims(), [0, 3, 4]);
        assert!(t.narrow(1, 2, 2).is_err());
        assert!(t.narrow(1, usize::MAX, 2).is_err());
        assert!(t.narrow(3, 0, 1).is_err());
    }

    #[test]
    fn value_is_row_major_and_checked() {
        let t = counting(&[2, 3, 4]);
        assert_eq!(t.value(&[1, 2, 3]).unwrap(), 23.0);
        assert_eq!(t.value(&[0, 1, 0]).unwrap(), 4.0);
        assert!(t.value(&[0, 3, 0]).is_err());
        assert!(t.value(&[0, 0]).is_err());
    }

    #[test]
    fn to_vec_checks_the_rank() {
        let t = counting(&[2, 2, 2]);
        assert_eq!(
            t.to_vec3().unwrap(),
            [[[0., 1.], [2., 3.]], [[4., 5.], [6., 7.]]]
        );
        let err = t.to_vec2().unwrap_err().to_string();
        assert!(
            err.contains("[2, 2, 2]") && err.contains("to_vec3"),
            "{err}"
        );
        assert!(t.to_vec1().is_err());
    }

    #[test]
    fn from_vec_refuses_a_wrong_count() {
        assert!(Tensor::from_vec(vec![0.0; 5], [2, 3]).is_err());
        assert!(Tensor::from_vec(Vec::new(), [usize::MAX, 2]).is_err());
        assert_eq!(
            Tensor::from_vec(Vec::new(), [0, 3]).unwrap().rows().count(),
            0
        );
    }

    #[test]
    fn debug_shows_the_shape_and_a_few_values() {
        let text = format!("{:?}", counting(&[2, 5]));
        assert_eq!(
            text,
            "Tensor[2, 5] f32 [0.0000, 1.0000, 2.0000, 3.0000, 4.0000, 5.0000, … 4 more]"
        );
    }
}
