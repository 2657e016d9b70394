//! A mutable view of some columns of some rows of a row-major matrix, which threads can share out
//! without overlapping.
//!
//! Attention heads are column ranges of the same rows, and the matrix product's threads each take
//! a range of columns: neither is a contiguous slice, so `split_at_mut` cannot hand them out. A
//! [`StridedMut`] can only be made from an exclusive borrow of the whole buffer and split into
//! views that cover disjoint cells, so two views never alias; that is what makes it `Send`.

use std::marker::PhantomData;

/// `rows × cols` values, row `i` starting `i · stride` values after the first; borrowed
/// exclusively for `'a`.
pub(crate) struct StridedMut<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    stride: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

// SAFETY: a view is an exclusive borrow of its cells (no other view covers them: views only come
// from `new`, which borrows the whole buffer mutably, and from the splits, which divide a view's
// cells between the two halves), so moving it to another thread is like moving a `&mut [f32]`.
unsafe impl Send for StridedMut<'_> {}

impl<'a> StridedMut<'a> {
    /// The first `rows` rows of `cols` values of `buffer`, rows `stride` apart; `None` when the
    /// buffer is too short or `cols > stride`.
    pub(crate) fn new(
        buffer: &'a mut [f32],
        rows: usize,
        cols: usize,
        stride: usize,
    ) -> Option<Self> {
        let needed = match rows {
            0 => 0,
            _ => (rows - 1).checked_mul(stride)?.checked_add(cols)?,
        };
        (cols <= stride && needed <= buffer.len()).then_some(StridedMut {
            ptr: buffer.as_mut_ptr(),
            rows,
            cols,
            stride,
            _borrow: PhantomData,
        })
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// Columns `..at` and `at..` (`at` is clamped to the width).
    pub(crate) fn split_columns(self, at: usize) -> (Self, Self) {
        let at = at.min(self.cols);
        let right = StridedMut {
            // In bounds (or one past the first row's columns when `at == cols`, never read).
            ptr: self.ptr.wrapping_add(at),
            cols: self.cols - at,
            ..self
        };
        (StridedMut { cols: at, ..self }, right)
    }

    /// Rows `..at` and `at..` (`at` is clamped to the height).
    pub(crate) fn split_rows(self, at: usize) -> (Self, Self) {
        let at = at.min(self.rows);
        let below = StridedMut {
            ptr: self.ptr.wrapping_add(at * self.stride),
            rows: self.rows - at,
            ..self
        };
        (StridedMut { rows: at, ..self }, below)
    }

    /// Consecutive blocks of `width` columns (the last may be narrower), left to right.
    pub(crate) fn column_blocks(self, width: usize) -> Vec<Self> {
        let mut blocks = Vec::with_capacity(self.cols.div_ceil(width.max(1)));
        let mut rest = self;
        while rest.cols > 0 {
            let (block, tail) = rest.split_columns(width.max(1));
            blocks.push(block);
            rest = tail;
        }
        blocks
    }

    /// Consecutive blocks of `height` rows (the last may be shorter), top to bottom.
    pub(crate) fn row_blocks(self, height: usize) -> Vec<Self> {
        let mut blocks = Vec::with_capacity(self.rows.div_ceil(height.max(1)));
        let mut rest = self;
        while rest.rows > 0 {
            let (block, tail) = rest.split_rows(height.max(1));
            blocks.push(block);
            rest = tail;
        }
        blocks
    }

    /// Row `i` of the view (its `cols` values): how the tests write through views.
    #[cfg(test)]
    pub(crate) fn row_mut(&mut self, i: usize) -> &mut [f32] {
        assert!(i < self.rows, "row {i} of a view of {} rows", self.rows);
        // SAFETY: row `i < rows` of the view lies inside the borrowed buffer (checked in `new`
        // and kept by the splits), and `&mut self` makes this the only access to it.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.stride), self.cols) }
    }

    /// The first value, for kernels that write the view through a pointer.
    ///
    /// # Safety
    /// Writes through the pointer must stay within the view: rows `0..rows` (`stride` apart),
    /// columns `0..cols`; the view must stay borrowed while they happen.
    pub(crate) unsafe fn as_mut_ptr(&mut self) -> *mut f32 {
        self.ptr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_refuse_a_buffer_that_is_too_short() {
        let mut buffer = vec![0.0; 10];
        assert!(StridedMut::new(&mut buffer, 3, 2, 4).is_some()); // needs 2·4 + 2 = 10
        assert!(StridedMut::new(&mut buffer, 3, 3, 4).is_none());
        assert!(StridedMut::new(&mut buffer, 2, 5, 4).is_none()); // wider than the stride
        assert!(StridedMut::new(&mut buffer, usize::MAX, 1, usize::MAX).is_none());
        assert!(StridedMut::new(&mut buffer, 0, 0, 0).is_some());
    }

    #[test]
    fn blocks_cover_every_cell_once() {
        let (rows, cols, stride) = (5, 7, 9);
        let mut buffer = vec![0.0f32; rows * stride];
        let view = StridedMut::new(&mut buffer, rows, cols, stride).unwrap();
        let blocks: Vec<_> = view
            .row_blocks(2)
            .into_iter()
            .flat_map(|block| block.column_blocks(3))
            .collect();
        assert_eq!(blocks.len(), 3 * 3);
        std::thread::scope(|scope| {
            for mut block in blocks {
                scope.spawn(move || {
                    for i in 0..block.rows() {
                        block.row_mut(i).iter_mut().for_each(|v| *v += 1.0);
                    }
                });
            }
        });
        for (index, &value) in buffer.iter().enumerate() {
            let expected = if index % stride < cols { 1.0 } else { 0.0 };
            assert_eq!(value, expected, "cell {index}");
        }
    }
}
