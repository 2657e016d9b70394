//! The buffers of dropped [`Tensor`](super::Tensor)s, kept for the next pass's outputs.
//!
//! A pass that keeps every hidden state and attention map writes tens of MB of outputs
//! (BERT-base, 8 × 128: 116 MB). Fresh memory costs the kernel a fault and a zeroed page per
//! 4 KiB, and memory the C library hands back is zeroed again by `calloc`. So the large buffers
//! of dropped tensors come here (a notebook re-running a cell, a loop over a dataset that keeps
//! a statistic of each output), up to [`POOL_BYTES`], and a pass takes its output buffers from
//! here first (`scripts/bench.sh`, case all-MiniLM-L6-v2, 8 × 128, all hidden states +
//! attentions). PyTorch gets the same from the C library's heap, ONNX Runtime from its arena.

use std::sync::Mutex;

/// Buffers smaller than this many values (1 MiB) are left to the allocator: for them a fresh
/// allocation is cheap.
const MIN_VALUES: usize = 1 << 18;

/// The most the pool holds (256 MiB: the outputs of two of BERT-base's full forwards on
/// 8 × 128 tokens, 116 MB each); a buffer that would take it past this is freed. Two, because
/// a pass usually runs while the previous pass's outputs are still held (`out = forward(..)`
/// in a loop, a re-run cell): with room for one set, dropping the held set after the pool had
/// taken the one before freed it, and every other pass started on fresh memory.
const POOL_BYTES: usize = 256 << 20;

struct Pool {
    buffers: Vec<Vec<f32>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    buffers: Vec::new(),
    bytes: 0,
});

fn bytes(buffer: &Vec<f32>) -> usize {
    buffer.capacity() * size_of::<f32>()
}

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    // The pool is consistent between any two of its statements: a panic elsewhere while it
    // was held leaves nothing half done.
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps `buffer` for a later [`take_for_overwrite`] if it is large and the pool has room.
pub(crate) fn recycle(buffer: Vec<f32>) {
    if buffer.capacity() < MIN_VALUES {
        return;
    }
    let mut pool = lock();
    if pool.bytes + bytes(&buffer) <= POOL_BYTES {
        pool.bytes += bytes(&buffer);
        pool.buffers.push(buffer);
    }
}

/// Whether a kept buffer of `capacity` values serves a request for `len`: it holds them and
/// at least half of it is used.
fn fits(capacity: usize, len: usize) -> bool {
    capacity >= len && capacity / 2 <= len
}

/// A buffer of `len` values whose contents are unspecified (zeros, or what a dropped tensor
/// held): for an output that its producer overwrites whole. The smallest kept buffer that
/// holds `len` values without wasting more than half of itself, else a new one.
pub(crate) fn take_for_overwrite(len: usize) -> Vec<f32> {
    let taken = if len < MIN_VALUES {
        None
    } else {
        let mut pool = lock();
        let best = (pool.buffers.iter().enumerate())
            .filter(|(_, b)| fits(b.capacity(), len))
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        best.map(|i| {
            let buffer = pool.buffers.swap_remove(i);
            pool.bytes -= bytes(&buffer);
            buffer
        })
    };
    match taken {
        Some(mut buffer) => {
            // Zeroes only what the buffer did not hold before (nothing, for a pass of the
            // same shape as the one whose output was dropped).
            buffer.resize(len, 0.0);
            buffer
        }
        // Zeroed memory this large comes straight from the kernel, untouched: no pass over it.
        None => vec![0.0; len],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests share the one pool with each other (and with every other test of the crate
    /// that drops a large tensor): each uses a length of its own, so that it finds its own
    /// buffers.
    #[test]
    fn a_dropped_buffer_is_taken_again_for_the_same_length() {
        let len = MIN_VALUES + 12_345;
        let mut buffer = take_for_overwrite(len);
        buffer[0] = 7.0;
        let address = buffer.as_ptr();
        recycle(buffer);
        let again = take_for_overwrite(len);
        assert_eq!(again.len(), len);
        // Either this buffer again (its contents left as they were) or, if another test took
        // it in between, another one of the right length.
        if again.as_ptr() == address {
            assert_eq!(again[0], 7.0);
        }
    }

    #[test]
    fn small_buffers_are_not_kept_and_lengths_are_always_right() {
        recycle(vec![1.0; 100]);
        assert!(lock().buffers.iter().all(|b| b.capacity() >= MIN_VALUES));
        let len = 3 * MIN_VALUES + 777;
        recycle(vec![1.0; 4 * MIN_VALUES + 777]);
        assert_eq!(take_for_overwrite(len).len(), len);
        assert_eq!(take_for_overwrite(MIN_VALUES + 1).len(), MIN_VALUES + 1);
    }

    #[test]
    fn a_buffer_serves_requests_down_to_half_its_size() {
        assert!(fits(1000, 1000) && fits(1000, 500) && fits(1001, 501));
        assert!(!fits(1000, 1001) && !fits(1000, 499));
    }

    #[test]
    fn the_pool_never_holds_more_than_its_limit() {
        for _ in 0..(POOL_BYTES / (MIN_VALUES * 4) + 8) {
            recycle(vec![0.0; MIN_VALUES]);
        }
        let pool = lock();
        assert!(pool.bytes <= POOL_BYTES);
        assert_eq!(pool.bytes, pool.buffers.iter().map(bytes).sum::<usize>());
    }
}
