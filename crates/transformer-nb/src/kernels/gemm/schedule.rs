//! How one product's work is shared between threads.
//!
//! `C` is cut into items, one block of rows under one panel of `B` each (two for the wide
//! tile, which reads two at a time). Every thread owns a
//! contiguous range of panels (so it streams its own part of the weights, which bounds a
//! product of a few rows) and takes its items from the front of that range, block of rows by
//! block of rows. A thread that runs out takes items from the back of another's range, the
//! last block of rows first, until none is left. A fixed split would leave the faster of two
//! threads idle at the end (two vCPUs of a shared machine do not run at the same speed;
//! `scripts/bench.sh`, case BERT-base shape, 8 × 128); taking from the back keeps both ends of
//! a range with one thread each, so they meet once, at most one item apart.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::NR;
use crate::kernels::StridedMut;

/// Runs `work(item, first_row, panel)` once for every item of `c`: rows in blocks of
/// `block_rows` (`first_row` is the item's first row in `c`), `panels_per_item · NR` columns
/// (`panel`, counted from `c`'s first column, the first of its panels; the last item of a row
/// may have fewer) each. On `threads` of rayon's threads when more than one; with one, blocks
/// in order and each block's items left to right.
pub(super) fn for_each_item(
    c: StridedMut<'_>,
    block_rows: usize,
    panels_per_item: usize,
    threads: usize,
    work: impl Fn(StridedMut<'_>, usize, usize) + Sync,
) {
    let block_rows = block_rows.max(1);
    let per_item = panels_per_item.max(1);
    let item_cols = per_item * NR;
    let panels = c.cols().div_ceil(item_cols);
    let blocks = c.rows().div_ceil(block_rows);
    let threads = threads.min(panels);
    let blocks_of_c = c.row_blocks(block_rows);
    if threads <= 1 {
        for (block, rows) in blocks_of_c.into_iter().enumerate() {
            for (panel, item) in rows.column_blocks(item_cols).into_iter().enumerate() {
                work(item, block * block_rows, panel * per_item);
            }
        }
        return;
    }
    // Item `block · panels + panel`, each taken exactly once (the cursors below hand out every
    // index once), so a lock is never waited for; it makes the hand-over safe code.
    let items: Vec<Mutex<Option<StridedMut<'_>>>> = blocks_of_c
        .into_iter()
        .flat_map(|rows| rows.column_blocks(item_cols))
        .map(|item| Mutex::new(Some(item)))
        .collect();
    let cursors = Cursors::new(threads, blocks, panels);
    let run = |block: usize, panel: usize| {
        let item = items[block * panels + panel]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .expect("every item is handed out once");
        work(item, block * block_rows, panel * per_item);
    };
    let share = |thread: usize| {
        for block in 0..blocks {
            while let Some(panel) = cursors.take_front(thread, block) {
                run(block, panel);
            }
        }
        while let Some((block, panel)) = cursors.steal() {
            run(block, panel);
        }
    };
    let share = &share;
    rayon::scope(|scope| {
        for thread in 1..threads {
            scope.spawn(move |_| share(thread));
        }
        // The first share runs here, on this thread, while the others are picked up.
        share(0);
    });
}

/// For every (thread, block of rows), the panels of its range not yet taken: `front..back`,
/// packed in one `u64` so that the owner (at the front) and a thief (at the back) can never
/// both take the last one.
struct Cursors {
    threads: usize,
    blocks: usize,
    ranges: Vec<AtomicU64>,
}

impl Cursors {
    /// Thread `t` owns panels `panels · t / threads ..` of every block.
    fn new(threads: usize, blocks: usize, panels: usize) -> Cursors {
        let ranges = (0..threads)
            .flat_map(|t| {
                let (front, back) = (panels * t / threads, panels * (t + 1) / threads);
                (0..blocks).map(move |_| AtomicU64::new(pack(front, back)))
            })
            .collect();
        Cursors {
            threads,
            blocks,
            ranges,
        }
    }

    fn range(&self, thread: usize, block: usize) -> &AtomicU64 {
        &self.ranges[thread * self.blocks + block]
    }

    /// The next panel of `thread`'s own range in `block`, from the front.
    fn take_front(&self, thread: usize, block: usize) -> Option<usize> {
        self.take(self.range(thread, block), true)
    }

    /// A panel from the back of the range with the most left, in the last block that has one.
    fn steal(&self) -> Option<(usize, usize)> {
        loop {
            let (block, victim) = (0..self.blocks).rev().find_map(|block| {
                let (thread, left) = (0..self.threads)
                    .map(|thread| {
                        let (front, back) =
                            unpack(self.range(thread, block).load(Ordering::Acquire));
                        (thread, back.saturating_sub(front))
                    })
                    .max_by_key(|&(_, left)| left)?;
                (left > 0).then_some((block, thread))
            })?;
            // Another thread may have taken it meanwhile: then look again.
            if let Some(panel) = self.take(self.range(victim, block), false) {
                return Some((block, panel));
            }
        }
    }

    fn take(&self, range: &AtomicU64, front_end: bool) -> Option<usize> {
        let mut current = range.load(Ordering::Acquire);
        loop {
            let (front, back) = unpack(current);
            if front >= back {
                return None;
            }
            let (next, taken) = match front_end {
                true => (pack(front + 1, back), front),
                false => (pack(front, back - 1), back - 1),
            };
            match range.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(taken),
                Err(now) => current = now,
            }
        }
    }
}

fn pack(front: usize, back: usize) -> u64 {
    // Panels of one product number far below 2^32 (a panel is 32 columns of a weight).
    ((front as u64) << 32) | back as u64
}

fn unpack(range: u64) -> (usize, usize) {
    (
        (range >> 32) as usize,
        (range & u64::from(u32::MAX)) as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds one to every cell of a `rows × cols` matrix through the items, on `threads`
    /// threads, and counts what each call saw.
    /// Adds one to every cell of a `rows × cols` matrix through the items of `per_item`
    /// panels, on `threads` threads, and counts what each call saw.
    fn cover(
        rows: usize,
        cols: usize,
        block_rows: usize,
        per_item: usize,
        threads: usize,
    ) -> (Vec<f32>, usize) {
        let mut buffer = vec![0.0f32; rows * cols];
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let view = StridedMut::new(&mut buffer, rows, cols, cols).unwrap();
        let work = |mut item: StridedMut<'_>, first_row: usize, panel: usize| {
            assert!(item.cols() <= per_item * NR && item.rows() <= block_rows.max(1));
            assert_eq!(first_row % block_rows.max(1), 0);
            assert_eq!(
                panel % per_item,
                0,
                "an item starts at a multiple of its panels"
            );
            for i in 0..item.rows() {
                for (j, value) in item.row_mut(i).iter_mut().enumerate() {
                    // Cells hold their own index, so that a wrong offset shows.
                    *value += ((first_row + i) * cols + panel * NR + j) as f32 + 1.0;
                }
            }
            calls.fetch_add(1, Ordering::Relaxed);
        };
        for_each_item(view, block_rows, per_item, threads, work);
        (buffer, calls.into_inner())
    }

    #[test]
    fn every_item_runs_once_at_its_place() {
        for threads in [1, 2, 3, 8] {
            for (rows, cols, block_rows) in [(40, 70, 8), (1, 200, 8), (33, 32, 100), (5, 300, 1)] {
                for per_item in [1, 2] {
                    let (buffer, calls) = cover(rows, cols, block_rows, per_item, threads);
                    let expected: Vec<f32> = (0..rows * cols).map(|i| i as f32 + 1.0).collect();
                    assert_eq!(
                        buffer, expected,
                        "{threads} threads, {rows}×{cols} by {block_rows}, {per_item} panels an item"
                    );
                    let items = cols.div_ceil(per_item * NR);
                    assert_eq!(calls, rows.div_ceil(block_rows) * items);
                }
            }
        }
    }

    #[test]
    fn an_empty_product_runs_nothing() {
        assert_eq!(cover(0, 64, 8, 1, 2).1, 0);
        assert_eq!(cover(8, 0, 8, 1, 2).1, 0);
    }

    #[test]
    fn owners_and_thieves_share_out_a_range_exactly() {
        // Two threads own 5 + 5 panels of 3 blocks; thread 1 never starts, so thread 0
        // takes its own and then all of thread 1's, from the back, last block first.
        let cursors = Cursors::new(2, 3, 10);
        let mut own = Vec::new();
        for block in 0..3 {
            while let Some(panel) = cursors.take_front(0, block) {
                own.push((block, panel));
            }
        }
        assert_eq!(own.len(), 15);
        assert!(own.iter().all(|&(_, panel)| panel < 5));
        let stolen: Vec<_> = std::iter::from_fn(|| cursors.steal()).collect();
        let mut expected = Vec::new();
        for block in (0..3).rev() {
            expected.extend((5..10).rev().map(|panel| (block, panel)));
        }
        assert_eq!(stolen, expected);
        assert_eq!(cursors.take_front(1, 0), None);
    }
}
