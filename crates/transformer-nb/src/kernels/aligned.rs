//! Buffers of 32-bit values that start on a cache line, for the packed weights.
//!
//! A micro-kernel reads a panel 64 bytes at a time. From a `Vec<f32>`, whose allocation glibc
//! aligns to 16 bytes only (a large one starts 16 bytes into its first page), every one of those
//! loads would straddle two cache lines, and a split load takes two of L1's accesses.
//!
//! The values start at the first line boundary inside a plain `Vec<u32>` allocated 15 values
//! larger, rather than in an allocation aligned to 64 bytes: glibc serves those from its heap
//! by another path, and loading BERT-base in bf16 (each layer packed in f32, then rounded)
//! then holds more memory after a forward (`scripts/bench.sh`'s peak memory of BERT-base
//! 8 × 128 in bf16).

/// Values a line holds, and so the most an [`AlignedBuffer`] skips to reach one.
const LINE_VALUES: usize = 16;

/// 32-bit values (`f32` or `u32`) in memory that starts on a 64-byte boundary.
#[derive(Debug, Default)]
pub(crate) struct AlignedBuffer {
    values: Vec<u32>,
    /// Where the values start in `values`: its first element on a line boundary.
    start: usize,
    len: usize,
}

/// A 32-bit plain value that every bit pattern is: what [`AlignedBuffer`] can hold.
pub(crate) trait Lane: Copy + sealed::Sealed {}
impl Lane for f32 {}
impl Lane for u32 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u32 {}
}

impl AlignedBuffer {
    /// An empty buffer with room for `len` values, backed by huge pages where that room covers
    /// whole 2 MiB blocks (asked for before anything is written, [`super::huge_pages`]).
    pub(crate) fn with_capacity(len: usize) -> AlignedBuffer {
        let mut values = Vec::with_capacity(len + LINE_VALUES - 1);
        super::huge_pages::advise(&mut values);
        AlignedBuffer {
            values,
            start: 0,
            len: 0,
        }
    }

    /// `len` zeros, in an allocation of their own (huge pages as in [`AlignedBuffer::with_capacity`]).
    pub(crate) fn zeroed(len: usize) -> AlignedBuffer {
        let mut lines = AlignedBuffer::with_capacity(len);
        lines.refill_zeroed(len);
        lines
    }

    /// Makes this buffer `len` zeros, reusing its allocation where it is large enough.
    pub(crate) fn refill_zeroed(&mut self, len: usize) {
        self.values.clear();
        self.values.resize(len + LINE_VALUES - 1, 0);
        // A `u32` pointer is 4-byte aligned, so a line boundary is at most 15 values on.
        self.start = self.values.as_ptr().align_offset(64);
        debug_assert!(self.start < LINE_VALUES);
        self.len = len;
    }

    /// Bytes of the values this buffer has room for, as a model's summary counts what its
    /// weights hold: the allocation less the at most 60 bytes before the first line, which
    /// are what the alignment costs, not room for values.
    pub(crate) fn held_bytes(&self) -> usize {
        self.values.capacity().saturating_sub(LINE_VALUES - 1) * size_of::<u32>()
    }

    pub(crate) fn as_slice<T: Lane>(&self) -> &[T] {
        let values = &self.values[self.start..self.start + self.len];
        // SAFETY: `T` is 32 bits with the alignment of `u32` or less, and any bit pattern is a
        // `T` (`Lane`).
        unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<T>(), values.len()) }
    }

    pub(crate) fn as_mut_slice<T: Lane>(&mut self) -> &mut [T] {
        let values = &mut self.values[self.start..self.start + self.len];
        // SAFETY: as in `as_slice`; the borrow is exclusive.
        unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<T>(), values.len()) }
    }
}

impl Clone for AlignedBuffer {
    /// The same values, in an allocation of its own, which they start on a line of (a copy of
    /// the `Vec` keeps the offset, but not the alignment).
    fn clone(&self) -> AlignedBuffer {
        let mut copy = AlignedBuffer::zeroed(self.len);
        copy.as_mut_slice::<u32>()
            .copy_from_slice(self.as_slice::<u32>());
        copy
    }
}

impl PartialEq for AlignedBuffer {
    fn eq(&self, other: &AlignedBuffer) -> bool {
        self.as_slice::<u32>() == other.as_slice::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_start_on_a_line_and_keep_their_length() {
        for len in [0, 1, 15, 16, 17, 1000, 3 << 20] {
            let mut buffer = AlignedBuffer::with_capacity(len);
            assert!(buffer.as_slice::<f32>().is_empty());
            buffer.refill_zeroed(len);
            assert_eq!(buffer.as_slice::<f32>().len(), len);
            assert_eq!(buffer.held_bytes(), 4 * len);
            assert_eq!(buffer.as_slice::<f32>().as_ptr() as usize % 64, 0);
            assert!(buffer.as_slice::<u32>().iter().all(|&v| v == 0));
            for (i, v) in buffer.as_mut_slice::<f32>().iter_mut().enumerate() {
                *v = i as f32;
            }
            assert!((buffer.as_slice::<f32>().iter().enumerate()).all(|(i, &v)| v == i as f32));
            let copy = buffer.clone();
            assert_eq!(copy, buffer);
            assert_eq!(copy.as_slice::<f32>().as_ptr() as usize % 64, 0);
            // Growing past the allocation moves the values to a new one, on a line again.
            buffer.refill_zeroed(2 * len + 64);
            assert_eq!(buffer.as_slice::<u32>().as_ptr() as usize % 64, 0);
            buffer.refill_zeroed(len / 2);
            assert_eq!(buffer.as_slice::<u32>(), vec![0; len / 2]);
            assert_eq!(buffer.as_slice::<u32>().as_ptr() as usize % 64, 0);
        }
    }
}
