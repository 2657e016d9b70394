//! How a product's items are cut into micro-kernel tiles, and the tile each kernel runs on.

#[cfg(target_arch = "x86_64")]
use super::avx2::tile_avx2;
#[cfg(target_arch = "x86_64")]
use super::avx512::{tile_avx512, tile_wide_avx512};
use super::portable::tile_generic;
use super::{NR, Output, PackedB};
use crate::kernels::{Isa, KernelTuning, Level, StridedMut};

/// Rows of the wide tile ([`tile_wide_avx512`]): `WIDE_ROWS × 2 · NR` accumulators.
const WIDE_ROWS: usize = 6;

impl<'a> Tiles<'a, f32> {
    /// How an f32 product of `m` rows by `b` is cut into tiles on `isa` with `tuning`: the wide
    /// tile where the tuning asks for it, the CPU has AVX-512 and there are more rows than one
    /// 8-row tile and more than one panel (a product of a few rows streams its weights, which
    /// bounds it either way).
    pub(super) fn f32(
        isa: Isa,
        a: &'a [f32],
        lda: usize,
        b: &PackedB,
        output: Output<'a>,
        tuning: KernelTuning,
        m: usize,
    ) -> Self {
        let wide = cfg!(target_arch = "x86_64")
            && tuning.wide_tile
            && isa.level() == Level::Avx512
            && m > Level::Avx512.tile_rows()
            && b.n > NR;
        Tiles {
            a,
            lda,
            depth: b.k,
            tile_rows: if wide {
                WIDE_ROWS
            } else {
                isa.level().tile_rows()
            },
            wide,
            output,
            tuning,
        }
    }

    /// Panels per item of the schedule: two for the wide tile.
    pub(super) fn panels_per_item(&self) -> usize {
        if self.wide { 2 } else { 1 }
    }

    /// Runs one item of the schedule (`c`, rows `first_row..` of `A`, panels from `first_panel`
    /// on): with the wide tile where it has two panels, else panel by panel.
    pub(super) fn run_item(
        &self,
        isa: Isa,
        b: &'a PackedB,
        c: StridedMut<'_>,
        first_row: usize,
        first_panel: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.wide && c.cols() > NR {
            // SAFETY: `wide` is only set on AVX-512 (`Tiles::f32`); the item has two panels.
            unsafe { self.run_rows_wide(c, first_row, first_panel, b.panels(first_panel, 2)) };
            return;
        }
        let panel = |p: usize| b.panel(p);
        let kernel = |tile: &Tile<'_>| tile.run(isa);
        self.run_rows(c, first_row, first_panel, &panel, &kernel);
    }

    /// As [`Tiles::run_rows`] for a view of two panels' columns, `panels` the two panels one
    /// after the other, with the wide tile.
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `c` has more than `NR` columns and at most `2 · NR`; `panels`
    /// holds two panels.
    #[cfg(target_arch = "x86_64")]
    unsafe fn run_rows_wide(
        &self,
        mut c: StridedMut<'_>,
        first_row: usize,
        first_panel: usize,
        panels: &[f32],
    ) {
        let a = &self.a[first_row * self.lda..];
        let m = c.rows();
        // Many tiles read these panels again: into L1 (see `run_rows`).
        let prefetch = match self.tuning.prefetch {
            false => Prefetch::Off,
            true => Prefetch::L1,
        };
        let col = first_panel * NR;
        let cols = c.cols();
        let bias = self.output.bias.map(|bias| &bias[col..col + cols]);
        let ldc = c.stride();
        // SAFETY: the tiles below write rows `row..row + rows` of this view, columns
        // `0..cols`, which is inside it.
        let c = unsafe { c.as_mut_ptr() };
        let mut row = 0;
        while row < m {
            let rows = WIDE_ROWS.min(m - row);
            let tile = Tile {
                k: self.depth,
                a: &a[row * self.lda..],
                lda: self.lda,
                panel: panels,
                // In bounds: row `row < m` of the view.
                c: c.wrapping_add(row * ldc),
                ldc,
                rows,
                cols,
                bias,
                accumulate: self.output.accumulate,
                prefetch,
            };
            // SAFETY: the CPU has AVX-512 F, the tile `rows` rows and two panels (this
            // function's contract).
            unsafe {
                match rows {
                    1 => tile_wide_avx512::<1>(&tile),
                    2 => tile_wide_avx512::<2>(&tile),
                    3 => tile_wide_avx512::<3>(&tile),
                    4 => tile_wide_avx512::<4>(&tile),
                    5 => tile_wide_avx512::<5>(&tile),
                    _ => tile_wide_avx512::<6>(&tile),
                }
            }
            row += rows;
        }
    }
}

/// How a product's items (`schedule`) are cut into micro-kernel tiles: `A` (`E` per value, rows
/// `lda` apart, `depth` of them per row and per panel row), the tile height and the output.
pub(super) struct Tiles<'a, E> {
    pub(super) a: &'a [E],
    pub(super) lda: usize,
    pub(super) depth: usize,
    pub(super) tile_rows: usize,
    /// Whether the f32 items are two panels wide, for [`tile_wide_avx512`].
    pub(super) wide: bool,
    pub(super) output: Output<'a>,
    /// Prefetching and row blocks.
    pub(super) tuning: KernelTuning,
}

impl<'a, E> Tiles<'a, E> {
    /// Rows per block (whole tiles, at least one): every panel passes over one block of rows
    /// before the next block, as the tuning says; all `m` rows when it says nothing.
    pub(super) fn block_rows(&self, m: usize) -> usize {
        match self.tuning.a_block_bytes {
            Some(bytes) => {
                let rows = bytes / (self.depth.max(1) * size_of::<E>());
                rows.max(self.tile_rows) / self.tile_rows * self.tile_rows
            }
            None => m.max(1),
        }
    }

    /// Runs `kernel` on every tile of the view `c`, whose rows are rows `first_row..` of `A`
    /// and whose first column is the first of panel `first_panel`; `panel(p)` is panel `p`
    /// of `B`.
    pub(super) fn run_rows(
        &self,
        c: StridedMut<'_>,
        first_row: usize,
        first_panel: usize,
        panel: &impl Fn(usize) -> &'a [E],
        kernel: &impl Fn(&Tile<'_, E>),
    ) {
        let a = &self.a[first_row * self.lda..];
        let m = c.rows();
        // A panel under one tile of rows is read once, as a stream: it is asked for into L2,
        // and then into L1 nearer its loads (`scripts/bench.sh`, case BERT-base shape, 1 × 8);
        // a panel that many tiles read again is slower that way (case BERT-base shape,
        // 8 × 128), so it goes to L1.
        let prefetch = match (self.tuning.prefetch, m <= self.tile_rows) {
            (false, _) => Prefetch::Off,
            (true, true) => Prefetch::L2,
            (true, false) => Prefetch::L1,
        };
        for (p, mut block) in (first_panel..).zip(c.column_blocks(NR)) {
            let panel = panel(p);
            let col = p * NR;
            let cols = block.cols();
            let bias = self.output.bias.map(|bias| &bias[col..col + cols]);
            let ldc = block.stride();
            // SAFETY: the tiles below write rows `row..row + rows` of this block, columns
            // `0..cols`, which is inside the block.
            let c = unsafe { block.as_mut_ptr() };
            let mut row = 0;
            while row < m {
                let rows = self.tile_rows.min(m - row);
                let tile = Tile {
                    k: self.depth,
                    a: &a[row * self.lda..],
                    lda: self.lda,
                    panel,
                    // In bounds: row `row < m` of the block.
                    c: c.wrapping_add(row * ldc),
                    ldc,
                    rows,
                    cols,
                    bias,
                    accumulate: self.output.accumulate,
                    prefetch,
                };
                kernel(&tile);
                row += rows;
            }
        }
    }
}

/// One `rows × cols` block of `C` (`rows <= MR`, `cols <= NR`) over the whole `k`. `E` is what
/// `A` and the panel hold: `f32`, or (the bf16 kernel) a pair of bf16 in a `u32`, `k` of them.
pub(super) struct Tile<'a, E = f32> {
    pub(super) k: usize,
    pub(super) a: &'a [E],
    pub(super) lda: usize,
    pub(super) panel: &'a [E],
    pub(super) c: *mut f32,
    pub(super) ldc: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) bias: Option<&'a [f32]>,
    pub(super) accumulate: bool,
    /// Where to ask for the panel, [`PREFETCH_AHEAD`] values ahead of the one read.
    pub(super) prefetch: Prefetch,
}

/// Whether, and into which cache, a micro-kernel asks for its panel ahead of its reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Prefetch {
    Off,
    /// `prefetcht0`.
    L1,
    /// `prefetcht1`, and `prefetcht0` [`L2_TO_L1_AHEAD`] values ahead: a stream that only
    /// this tile reads, brought into L2 early and then into L1 in time for the loads.
    L2,
}

/// How far ahead of its reads a micro-kernel prefetches the panel, in values: 32 steps of
/// `k`, 4 KiB. (1, 2 and 4 thousand values do as well; 256 gains less: `scripts/bench.sh`,
/// case BERT-base shape, 1 × 8.)
pub(super) const PREFETCH_AHEAD: usize = 32 * NR;

/// How far ahead a tile that streams its panel ([`Prefetch::L2`]) asks for it again, into L1:
/// 16 steps of `k`, 2 KiB, half way to the L2 request. Without it the panel's loads wait on
/// L2; 1 KiB and 3 KiB ahead gain less (`scripts/bench.sh`, case BERT-base shape, 1 × 8, in
/// bf16).
pub(super) const L2_TO_L1_AHEAD: usize = 16 * NR;

impl Tile<'_> {
    pub(super) fn run(&self, isa: Isa) {
        match isa.level() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an `Isa` of level AVX-512 only comes from run-time detection of AVX-512 F
            // (`kernels::isa`).
            Level::Avx512 => unsafe { dispatch_rows!(self, tile_avx512, Level::Avx512) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an `Isa` of level AVX2 only comes from run-time detection of AVX2 and FMA.
            Level::Avx2 => unsafe { dispatch_rows!(self, tile_avx2, Level::Avx2) },
            _ => dispatch_rows!(self, tile_generic, Level::Generic),
        }
    }
}

impl<E> Tile<'_, E> {
    /// Pointers to the first `MR` rows of this tile's `A`, computed once so that the
    /// micro-kernels' inner loops hold no index arithmetic (which evcxr's profile would
    /// overflow-check, keeping the accumulators out of registers).
    pub(super) fn row_pointers<const MR: usize>(&self) -> [*const E; MR] {
        std::array::from_fn(|i| self.a[i * self.lda..].as_ptr())
    }

    /// Pointers to 8 rows of this tile's `A`: its `rows` rows, then the last of them again
    /// (the assembly loop takes all eight as operands, and reads only the first `rows`).
    #[cfg(target_arch = "x86_64")]
    pub(super) fn padded_row_pointers(&self) -> [*const E; 8] {
        std::array::from_fn(|i| self.a[i.min(self.rows.max(1) - 1) * self.lda..].as_ptr())
    }
}
