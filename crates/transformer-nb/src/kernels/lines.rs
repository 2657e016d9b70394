//! Buffers of 32-bit values that start on a cache line, for the packed weights.
//!
//! A micro-kernel reads a panel 64 bytes at a time. From a `Vec<f32>`, whose allocation glibc
//! aligns to 16 bytes only (a large one starts 16 bytes into its first page), every one of those
//! loads straddled two cache lines, and a split load takes two of L1's accesses.

/// One cache line: the unit of a [`Lines`] buffer's allocation, so that it starts on a line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Line([u32; 16]);

/// 32-bit values (`f32` or `u32`) in memory that starts on a 64-byte boundary.
#[derive(Clone, Debug, Default)]
pub(crate) struct Lines {
    lines: Vec<Line>,
    len: usize,
}

/// A 32-bit plain value that every bit pattern is: what [`Lines`] can hold.
pub(crate) trait Lane: Copy + sealed::Sealed {}
impl Lane for f32 {}
impl Lane for u32 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u32 {}
}

impl Lines {
    /// An empty buffer with room for `len` values, backed by huge pages where that room covers
    /// whole 2 MiB blocks (asked for before anything is written, [`super::huge_pages`]).
    pub(crate) fn with_capacity(len: usize) -> Lines {
        let mut lines = Vec::with_capacity(len.div_ceil(16));
        super::huge_pages::advise(&mut lines);
        Lines { lines, len: 0 }
    }

    /// Makes this buffer `len` zeros, reusing its allocation where it is large enough.
    pub(crate) fn refill_zeroed(&mut self, len: usize) {
        self.lines.clear();
        self.lines.resize(len.div_ceil(16), Line::default());
        self.len = len;
    }

    /// Bytes allocated.
    pub(crate) fn held_bytes(&self) -> usize {
        self.lines.capacity() * size_of::<Line>()
    }

    pub(crate) fn as_slice<T: Lane>(&self) -> &[T] {
        // SAFETY: the lines hold at least `len` 32-bit values, contiguous (`Line` is `repr(C)`,
        // 64 bytes with no padding); `T` is 32 bits with the alignment of `u32` or less, and any
        // bit pattern is a `T` (`Lane`).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }

    pub(crate) fn as_mut_slice<T: Lane>(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; the borrow is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }
}

impl PartialEq for Lines {
    fn eq(&self, other: &Lines) -> bool {
        self.as_slice::<u32>() == other.as_slice::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_start_on_a_line_and_keep_their_length() {
        for len in [0, 1, 15, 16, 17, 1000, 3 << 20] {
            let mut buffer = Lines::with_capacity(len);
            assert!(buffer.as_slice::<f32>().is_empty());
            buffer.refill_zeroed(len);
            assert_eq!(buffer.as_slice::<f32>().len(), len);
            assert_eq!(buffer.as_slice::<f32>().as_ptr() as usize % 64, 0);
            assert!(buffer.as_slice::<u32>().iter().all(|&v| v == 0));
            for (i, v) in buffer.as_mut_slice::<f32>().iter_mut().enumerate() {
                *v = i as f32;
            }
            assert!((buffer.as_slice::<f32>().iter().enumerate()).all(|(i, &v)| v == i as f32));
            buffer.refill_zeroed(len / 2);
            assert_eq!(buffer.as_slice::<u32>(), vec![0; len / 2]);
            assert_eq!(buffer.as_slice::<u32>().as_ptr() as usize % 64, 0);
        }
    }
}
