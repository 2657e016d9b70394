//! Single-precision matrix products `C = A · B (+ bias) (+ C)` for the encoder's linear layers
//! and attention.
//!
//! `B` is packed into panels of [`NR`] columns, each stored `k`-major, so the micro-kernel reads
//! it as one contiguous stream. Weights are packed once when a model loads (PyTorch's `Linear`
//! keeps them `[out, in]`, which is `B` transposed); attention packs its keys and values per
//! head. `A` is read in place. The micro-kernel keeps an `MR × NR` block of `C` in registers:
//! 8 × 32 on AVX-512 (the inner loop of a full 8-row tile in assembly), 6 × 16 twice on AVX2,
//! 4 × 8 four times portable. (12 × 32 from intrinsics would fill 24 of AVX-512's 32 registers
//! and was no faster in a release build, but evcxr's build, opt-level 2 with debug assertions,
//! spilled its accumulators to memory.)
//! Threads share the panels (`schedule`): each first streams its own range of the weights, so
//! that with a handful of rows (one short sentence) the product reads the weights once, which
//! is its memory bound.

use super::{Isa, KernelTuning, Level, Lines, StridedMut};

/// Columns per packed panel of `B`: two AVX-512 registers.
pub(crate) const NR: usize = 32;

/// Below this many multiply-adds a product runs on the calling thread: waking another costs
/// more than it saves.
const PARALLEL_MIN_FLOPS: usize = 1 << 17;

/// `B` (`k × n`) packed into `ceil(n / NR)` panels of `k × NR` values, zero-padded.
#[derive(Clone, Debug, Default)]
pub(crate) struct PackedB {
    k: usize,
    n: usize,
    data: Lines,
}

impl PackedB {
    /// Packs a PyTorch `Linear` weight `[n_out, k_in]` (row-major) as `B = weightᵀ`.
    pub(crate) fn from_weight(weight: &[f32], n_out: usize, k_in: usize) -> Self {
        // A weight is streamed once per pass: huge pages, asked for before the packing writes.
        let mut packed = PackedB {
            data: Lines::with_capacity(n_out.div_ceil(NR) * k_in * NR),
            ..PackedB::default()
        };
        packed.pack(weight, k_in, n_out, 1, k_in);
        packed
    }

    /// Packs `B[kk][nn] = src[kk * k_stride + nn * n_stride]`, reusing this buffer.
    pub(crate) fn pack(
        &mut self,
        src: &[f32],
        k: usize,
        n: usize,
        k_stride: usize,
        n_stride: usize,
    ) {
        let panels = n.div_ceil(NR);
        self.k = k;
        self.n = n;
        self.data.refill_zeroed(panels * k * NR);
        if k == 0 || n == 0 {
            return;
        }
        assert!(src.len() > (k - 1) * k_stride + (n - 1) * n_stride);
        for (p, panel) in (self.data.as_mut_slice::<f32>().chunks_exact_mut(k * NR)).enumerate() {
            let cols = NR.min(n - p * NR);
            // Walk the source in its contiguous direction.
            if n_stride == 1 {
                for kk in 0..k {
                    let from = kk * k_stride + p * NR;
                    panel[kk * NR..kk * NR + cols].copy_from_slice(&src[from..from + cols]);
                }
            } else {
                // A transpose: the panel's rows are written whole, each gathered from `cols`
                // places (scattering the writes instead made every store another cache line).
                let first = p * NR * n_stride;
                let done = if cols == NR && k_stride == 1 {
                    transpose_into_panel(src, first, n_stride, panel)
                } else {
                    0
                };
                for (kk, row) in panel.chunks_exact_mut(NR).enumerate().skip(done) {
                    let from = first + kk * k_stride;
                    for (j, value) in row[..cols].iter_mut().enumerate() {
                        *value = src[from + j * n_stride];
                    }
                }
            }
        }
    }

    /// A packing of `k × n` whose panels `data` holds.
    pub(super) fn from_parts(k: usize, n: usize, data: Lines) -> Self {
        PackedB { k, n, data }
    }

    /// Bytes this packing holds (the padding of the last panel included).
    pub(crate) fn held_bytes(&self) -> usize {
        self.data.held_bytes()
    }

    /// Rows of `B` (the shared dimension).
    pub(crate) fn k(&self) -> usize {
        self.k
    }

    /// Columns of `B`.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    fn panel(&self, p: usize) -> &[f32] {
        self.panels(p, 1)
    }

    /// Panels `p..p + count`, one after the other.
    fn panels(&self, p: usize, count: usize) -> &[f32] {
        &self.data.as_slice::<f32>()[p * self.k * NR..(p + count) * self.k * NR]
    }
}

/// Writes the panel rows of a full transposing panel (`panel[kk · NR + j] = src[first +
/// j · n_stride + kk]`) in whole 16 × 16 blocks transposed in registers, where the CPU has
/// AVX-512; returns how many panel rows it wrote (a multiple of 16, 0 without AVX-512), the
/// rest being the caller's. Gathering one value at a time would make packing (attention's keys
/// on every pass, and the weights at load) slower (`scripts/bench.sh`, case BERT-base shape,
/// 8 × 128).
fn transpose_into_panel(src: &[f32], first: usize, n_stride: usize, panel: &mut [f32]) -> usize {
    let k = panel.len() / NR;
    let rows = k / 16 * 16;
    if rows == 0 || Isa::detect().level() != Level::Avx512 {
        return 0;
    }
    // Every read below is of source column j < NR at depth kk < rows.
    assert!(
        first + (NR - 1) * n_stride + rows <= src.len(),
        "source too short"
    );
    // SAFETY: the level says the CPU has AVX-512 F; the assert bounds every read, and the
    // panel holds `k · NR` values.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        transpose_avx512(src, first, n_stride, panel, rows);
        rows
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// The blocks of [`transpose_into_panel`]: 16 source columns (16 values deep each) in, 16 panel
/// half-rows out, by the usual four rounds of shuffles (32-bit, 64-bit, then 128-bit lanes twice).
///
/// # Safety
/// The CPU must have AVX-512 F; `src` holds `first + (NR − 1) · n_stride + rows` values and
/// `panel` `rows · NR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_avx512(
    src: &[f32],
    first: usize,
    n_stride: usize,
    panel: &mut [f32],
    rows: usize,
) {
    use std::arch::x86_64::*;
    let src = src.as_ptr();
    let out = panel.as_mut_ptr();
    for kk in (0..rows).step_by(16) {
        for half in 0..NR / 16 {
            let mut v = [_mm512_setzero_ps(); 16];
            for (j, v) in v.iter_mut().enumerate() {
                // SAFETY: in bounds by this function's contract (column < NR, depth < rows).
                *v = unsafe {
                    _mm512_maskz_loadu_ps(!0, src.add(first + (half * 16 + j) * n_stride + kk))
                };
            }
            // Round 1: pairs of columns interleaved in 32-bit steps within each 128-bit lane.
            let mut t = [_mm512_setzero_ps(); 16];
            for i in 0..8 {
                t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
            }
            // Round 2: 64-bit steps, four columns per 128-bit lane.
            for g in 0..4 {
                let (a, b, c, d) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
                let pd = _mm512_castps_pd;
                v[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a), pd(c)));
                v[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a), pd(c)));
                v[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(b), pd(d)));
                v[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(b), pd(d)));
            }
            // Rounds 3 and 4: 128-bit lanes, across groups of four columns, then of eight.
            for g in 0..2 {
                for i in 0..4 {
                    let (a, b) = (v[8 * g + i], v[8 * g + 4 + i]);
                    t[8 * g + i] = _mm512_shuffle_f32x4::<0x88>(a, b);
                    t[8 * g + 4 + i] = _mm512_shuffle_f32x4::<0xdd>(a, b);
                }
            }
            for i in 0..8 {
                v[i] = _mm512_shuffle_f32x4::<0x88>(t[i], t[8 + i]);
                v[8 + i] = _mm512_shuffle_f32x4::<0xdd>(t[i], t[8 + i]);
            }
            for (r, v) in v.iter().enumerate() {
                // SAFETY: panel row kk + r < rows, columns half · 16 .. + 16 < NR.
                unsafe { _mm512_mask_storeu_ps(out.add((kk + r) * NR + half * 16), !0, *v) };
            }
        }
    }
}

/// How a product writes `C`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output<'a> {
    /// Added to every row (a `Linear` bias), `n` long.
    pub bias: Option<&'a [f32]>,
    /// Add to what `C` holds (a residual connection) instead of overwriting it.
    pub accumulate: bool,
}

/// `C[m × n] (+)= A[m × k] · B + bias`, rows of `A` and `C` `lda` and `ldc` apart.
///
/// With `parallel`, large products are split across rayon's threads; attention calls it
/// with `false` from inside its own parallel loop.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    isa: Isa,
    a: &[f32],
    lda: usize,
    m: usize,
    b: &PackedB,
    output: Output<'_>,
    c: &mut [f32],
    ldc: usize,
    parallel: bool,
) {
    let c = StridedMut::new(c, m, b.n, ldc).expect("C is too small");
    gemm_view(isa, a, lda, b, output, c, parallel);
}

/// [`gemm`] into a view of `C` (`m = c.rows()`, `c.cols() == b.n()`), for callers whose threads
/// write interleaved parts of one buffer (attention heads are column ranges of the same rows).
pub(crate) fn gemm_view(
    isa: Isa,
    a: &[f32],
    lda: usize,
    b: &PackedB,
    output: Output<'_>,
    c: StridedMut<'_>,
    parallel: bool,
) {
    let (m, k, n) = (c.rows(), b.k, b.n);
    assert_eq!(c.cols(), n, "C has {} columns, B {n}", c.cols());
    if m == 0 || n == 0 {
        return;
    }
    // The micro-kernels read A through raw pointers: these bounds make every read valid.
    assert!(lda >= k && a.len() >= (m - 1) * lda + k, "A is too small");
    if let Some(bias) = output.bias {
        assert!(bias.len() >= n, "bias is too short");
    }
    let tiles = Tiles::f32(isa, a, lda, b, output, KernelTuning::detect(), m);
    schedule::for_each_item(
        c,
        tiles.block_rows(m),
        tiles.panels_per_item(),
        threads_for(m * n * k, parallel),
        |item, first_row, p| tiles.run_item(isa, b, item, first_row, p),
    );
}

/// Rows of the wide tile ([`tile_wide_avx512`]): `WIDE_ROWS × 2 · NR` accumulators.
const WIDE_ROWS: usize = 6;

impl<'a> Tiles<'a, f32> {
    /// How an f32 product of `m` rows by `b` is cut into tiles on `isa` with `tuning`: the wide
    /// tile where the tuning asks for it, the CPU has AVX-512 and there are more rows than one
    /// 8-row tile and more than one panel (a product of a few rows streams its weights, which
    /// bounds it either way).
    fn f32(
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
    fn panels_per_item(&self) -> usize {
        if self.wide { 2 } else { 1 }
    }

    /// Runs one item of the schedule (`c`, rows `first_row..` of `A`, panels from `first_panel`
    /// on): with the wide tile where it has two panels, else panel by panel.
    fn run_item(
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

/// How many of rayon's threads a product of `flops` multiply-adds takes: one below
/// [`PARALLEL_MIN_FLOPS`] or when `parallel` is off (attention calls the product from inside
/// its own parallel loop).
fn threads_for(flops: usize, parallel: bool) -> usize {
    match parallel && flops >= PARALLEL_MIN_FLOPS {
        true => rayon::current_num_threads(),
        false => 1,
    }
}

/// How a product's items (`schedule`) are cut into micro-kernel tiles: `A` (`E` per value, rows
/// `lda` apart, `depth` of them per row and per panel row), the tile height and the output.
struct Tiles<'a, E> {
    a: &'a [E],
    lda: usize,
    depth: usize,
    tile_rows: usize,
    /// Whether the f32 items are two panels wide, for [`tile_wide_avx512`].
    wide: bool,
    output: Output<'a>,
    /// Prefetching and row blocks.
    tuning: KernelTuning,
}

impl<'a, E> Tiles<'a, E> {
    /// Rows per block (whole tiles, at least one): every panel passes over one block of rows
    /// before the next block, as the tuning says; all `m` rows when it says nothing.
    fn block_rows(&self, m: usize) -> usize {
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
    fn run_rows(
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
struct Tile<'a, E = f32> {
    k: usize,
    a: &'a [E],
    lda: usize,
    panel: &'a [E],
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    bias: Option<&'a [f32]>,
    accumulate: bool,
    /// Where to ask for the panel, [`PREFETCH_AHEAD`] values ahead of the one read.
    prefetch: Prefetch,
}

/// Whether, and into which cache, a micro-kernel asks for its panel ahead of its reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prefetch {
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
const PREFETCH_AHEAD: usize = 32 * NR;

/// How far ahead a tile that streams its panel ([`Prefetch::L2`]) asks for it again, into L1:
/// 16 steps of `k`, 2 KiB, half way to the L2 request. Without it the panel's loads wait on
/// L2; 1 KiB and 3 KiB ahead gain less (`scripts/bench.sh`, case BERT-base shape, 1 × 8, in
/// bf16).
const L2_TO_L1_AHEAD: usize = 16 * NR;

/// Runs `$body` for `i` in `0..MR`, written out row by row rather than as a loop: at evcxr's
/// opt-level 2 the compiler does not unroll the row loop, and the accumulators then live in
/// memory instead of registers. For the same reason the kernels load `A` through intrinsics,
/// not `*ptr`: with debug assertions on (as evcxr builds) every raw dereference gets an
/// alignment and null check.
macro_rules! for_each_row {
    ($mr:expr, |$i:ident| $body:block) => {
        for_each_row!(@rows $mr, $i, $body, 0 1 2 3 4 5 6 7)
    };
    (@rows $mr:expr, $i:ident, $body:block, $($n:literal)*) => {
        const { assert!($mr <= 8, "for_each_row! unrolls at most 8 rows") };
        $(
            if $n < $mr {
                let $i = $n;
                $body
            }
        )*
    };
}

/// Calls `$kernel::<R>` (or `$kernel::<G.., R>`) with `R = $tile.rows`, for the row counts up
/// to `$level`'s tile rows.
macro_rules! dispatch_rows {
    ($tile:expr, $kernel:ident, $level:expr) => {
        dispatch_rows!(@arms $tile, $kernel, [], $level, 1 2 3 4 5 6 7 8)
    };
    ($tile:expr, $kernel:ident::<$($generic:tt),+>, $level:expr) => {
        dispatch_rows!(@arms $tile, $kernel, [$($generic,)+], $level, 1 2 3 4 5 6 7 8)
    };
    (@arms $tile:expr, $kernel:ident, $generics:tt, $level:expr, $($rows:literal)*) => {{
        const MR: usize = $level.tile_rows();
        const { assert!(MR <= 8, "dispatch_rows! covers at most 8 rows") };
        match $tile.rows {
            $($rows if $rows <= MR => dispatch_rows!(@call $kernel, $generics, $rows, $tile),)*
            _ => unreachable!("tile rows exceed the kernel's tile rows"),
        }
    }};
    (@call $kernel:ident, [$($generic:tt)*], $rows:literal, $tile:expr) => {
        $kernel::<$($generic)* $rows>($tile)
    };
}

// After the macros, which it uses.
#[cfg(target_arch = "x86_64")]
mod amx;
mod bf16;
mod schedule;
pub(crate) use bf16::{PackedBf16, gemm_bf16};

impl Tile<'_> {
    fn run(&self, isa: Isa) {
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
    fn row_pointers<const MR: usize>(&self) -> [*const E; MR] {
        std::array::from_fn(|i| self.a[i * self.lda..].as_ptr())
    }

    /// Pointers to 8 rows of this tile's `A`: its `rows` rows, then the last of them again
    /// (the assembly loop takes all eight as operands, and reads only the first `rows`).
    #[cfg(target_arch = "x86_64")]
    fn padded_row_pointers(&self) -> [*const E; 8] {
        std::array::from_fn(|i| self.a[i.min(self.rows.max(1) - 1) * self.lda..].as_ptr())
    }

    /// Writes the `MR × 16 · V` accumulators of an AVX-512 micro-kernel to the tile's part of
    /// `C` (adding the bias and what `C` holds when asked), masking the columns past `cols`.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F; `MR <= rows`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_avx512<const MR: usize, const V: usize>(
        &self,
        acc: &[[std::arch::x86_64::__m512; V]; MR],
    ) {
        use std::arch::x86_64::*;
        let mask = |from: usize| -> __mmask16 {
            let cols = self.cols.saturating_sub(from).min(16);
            ((1u32 << cols) - 1) as __mmask16
        };
        let masks: [__mmask16; V] = std::array::from_fn(|v| mask(16 * v));
        for (i, acc_row) in acc.iter().enumerate() {
            for (half, &m) in masks.iter().enumerate() {
                if m == 0 {
                    // No column of this half is in the tile (nor, maybe, in C or the bias).
                    continue;
                }
                // SAFETY: the half starts inside the tile's `cols` columns of C and of the bias,
                // which exist (checked in `gemm_view`); masked loads and stores touch only those
                // columns; masked-off lanes are not accessed.
                unsafe {
                    let out = self.c.add(i * self.ldc + half * 16);
                    let mut v = acc_row[half];
                    if let Some(bias) = self.bias {
                        v = _mm512_add_ps(
                            v,
                            _mm512_maskz_loadu_ps(m, bias.as_ptr().add(half * 16)),
                        );
                    }
                    if self.accumulate {
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, out));
                    }
                    _mm512_mask_storeu_ps(out, m, v);
                }
            }
        }
    }

    /// Asks for the lines of the tile's `MR` rows of `C` in the state for writing (`prefetchw`),
    /// while the tile's multiply-adds run: its stores at the end otherwise wait for each line
    /// to come from L3 or memory (`scripts/bench.sh`, case BERT-base shape, 8 × 128). A row's
    /// 32 values are 128 bytes, over three lines when not aligned; a wide tile's 64, 256 bytes
    /// over five.
    ///
    /// # Safety
    /// The CPU is an x86-64 one with `prefetchw` (every CPU with AVX-512 has it; older ones
    /// treat it as a no-op). Prefetches never fault, so any address is allowed.
    #[cfg(target_arch = "x86_64")]
    unsafe fn prefetch_c_for_writing<const MR: usize>(&self) {
        for i in 0..MR {
            let row = self.c.wrapping_add(i * self.ldc);
            // SAFETY: a prefetch reads and writes nothing (this function's contract).
            unsafe {
                std::arch::asm!(
                    "prefetchw [{row}]",
                    "prefetchw [{row} + 64]",
                    "prefetchw [{row} + 124]",
                    row = in(reg) row,
                    options(nostack, readonly, preserves_flags),
                )
            };
            if self.cols > NR {
                // SAFETY: as above.
                unsafe {
                    std::arch::asm!(
                        "prefetchw [{row} + 128]",
                        "prefetchw [{row} + 192]",
                        "prefetchw [{row} + 252]",
                        row = in(reg) row,
                        options(nostack, readonly, preserves_flags),
                    )
                };
            }
        }
    }

    /// Writes finished values for row `i` of `C` from column `col` on (those of the tile's
    /// `cols` columns that `values` covers).
    fn store(&self, i: usize, col: usize, values: &[f32]) {
        let len = values.len().min(self.cols.saturating_sub(col));
        // SAFETY: row `i < rows`, columns `col..col + len` lie within the tile, which lies
        // inside the block of C that `run_panels` holds exclusively.
        let out = unsafe { std::slice::from_raw_parts_mut(self.c.add(i * self.ldc + col), len) };
        for (j, value) in out.iter_mut().enumerate() {
            let mut v = values[j];
            if let Some(bias) = self.bias {
                v += bias[col + j];
            }
            if self.accumulate {
                v += *value;
            }
            *value = v;
        }
    }
}

/// Portable micro-kernel, one 8-column slice of the panel at a time: `MR × 8` accumulators fit
/// the 16 SSE registers of the baseline x86-64 target and leave room on NEON, so the compiler
/// keeps them in registers and vectorises the columns.
fn tile_generic<const MR: usize>(tile: &Tile<'_>) {
    const COLS: usize = 8;
    for slice in 0..NR / COLS {
        let col = slice * COLS;
        if tile.cols <= col {
            break;
        }
        let rows: [&[f32]; MR] =
            std::array::from_fn(|i| &tile.a[i * tile.lda..i * tile.lda + tile.k]);
        let mut acc = [[0f32; COLS]; MR];
        for (p, panel_row) in tile.panel.chunks_exact(NR).enumerate() {
            let b = &panel_row[col..col + COLS];
            for (acc_row, row) in acc.iter_mut().zip(&rows) {
                let a = row[p];
                for (acc_v, &b_v) in acc_row.iter_mut().zip(b) {
                    *acc_v = multiply_add(a, b_v, *acc_v);
                }
            }
        }
        for (i, acc_row) in acc.iter().enumerate() {
            tile.store(i, col, acc_row);
        }
    }
}

/// `a · b + c`: fused where every CPU of the target has FMA (aarch64), else two operations
/// (a software `mul_add` would be far slower).
#[inline(always)]
fn multiply_add(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_arch = "aarch64") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// AVX-512 micro-kernel: `MR × 32` accumulators in `2 · MR` zmm registers.
///
/// # Safety
/// The CPU must have AVX-512 F; `tile.rows == MR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const MR: usize>(tile: &Tile<'_>) {
    // SAFETY: the CPU has AVX-512 F, the tile `MR` rows of `k` values and an f32 panel (this
    // function's contract, and `gemm_view`'s checks).
    unsafe { tile_asm_avx512::<f32, { Madd::F32 }, MR>(tile) }
}

/// The multiply-adds an AVX-512 tile can run, as the `u8` const parameter of
/// [`tile_asm_avx512`] (an enum cannot be one on stable Rust).
struct Madd;

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl Madd {
    /// `vfmadd231ps`: `A` and the panel f32.
    const F32: u8 = 0;
    /// `vdpbf16ps`: `A` and the panel bfloat16 pairs in 32-bit lanes; a step is a pair of rows
    /// of `B`.
    const BF16_DOT: u8 = 1;
    /// The panel bfloat16 pairs, widened to f32 by a shift and a mask, then `vfmadd231ps`;
    /// `A` f32 (already rounded to bfloat16 values, so the products are the same as
    /// `vdpbf16ps`'s); a step is a pair of rows of `B`, two values of each row of `A`.
    const BF16_WIDEN: u8 = 2;
}

/// What one row of a tile does in one step, as assembly text: row `$row` of `A` (base
/// register `{a$row}`), accumulators `zmm$lo` and `zmm$hi`; the panel's 32 values are in zmm16
/// and zmm17 (with [`Madd::BF16_WIDEN`], the odd rows of `B` there and the even ones in zmm20
/// and zmm21).
#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
macro_rules! row_step {
    ([madd $madd:literal], $row:literal, $lo:literal, $hi:literal) => {
        concat!(
            "vbroadcastss zmm18, [{a", $row, "} + {k}]\n",
            $madd, " zmm", $lo, ", zmm18, zmm16\n",
            $madd, " zmm", $hi, ", zmm18, zmm17\n",
        )
    };
    ([widen], $row:literal, $lo:literal, $hi:literal) => {
        concat!(
            "vbroadcastss zmm18, [{a", $row, "} + {k}]\n",
            "vbroadcastss zmm19, [{a", $row, "} + {k} + 4]\n",
            "vfmadd231ps zmm", $lo, ", zmm18, zmm20\n",
            "vfmadd231ps zmm", $hi, ", zmm18, zmm21\n",
            "vfmadd231ps zmm", $lo, ", zmm19, zmm16\n",
            "vfmadd231ps zmm", $hi, ", zmm19, zmm17\n",
        )
    };
}

/// An AVX-512 tile of `MR <= 8` rows, its inner loop written out in assembly: `A`'s rows from
/// a base register each and one offset that counts up from minus the rows' length to zero (so
/// that its own zero flag ends the loop), which makes a step of `k` two loads of `B`, eight
/// broadcasts, sixteen FMAs and two integer operations. From the intrinsics (the shorter tiles
/// above) the compiler made a chain of adds to reach the rows, twelve integer operations a
/// step, some of them on the two ports that also run the FMAs, which slowed the products of
/// many rows (`scripts/bench.sh`, case BERT-base shape, 8 × 128). From intrinsics the compiler
/// also stored every accumulator to the stack after each multiply-add (tiles of 1–7 rows, and
/// the bf16 tile), so that a 7-row tile was slower than an 8-row one. The assembly is the same
/// in evcxr's build as in release. Stores the tile's rows of `C`.
///
/// `MADD` is one of [`Madd`]'s; `tile.k` counts steps.
///
/// # Safety
/// The CPU must have AVX-512 F, and AVX512_BF16 for [`Madd::BF16_DOT`]; `tile.rows == MR`; the
/// tile's `A` and panel hold what `MADD` says: `k` values of `A` per row and `k · NR` of the
/// panel, twice as many values of `A` for [`Madd::BF16_WIDEN`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_asm_avx512<E, const MADD: u8, const MR: usize>(tile: &Tile<'_, E>) {
    use std::arch::x86_64::*;
    const {
        assert!(
            size_of::<E>() == 4,
            "A's values and the panel's are 32-bit lanes"
        )
    };
    const { assert!(MR >= 1 && MR <= 8, "a tile has 1 to 8 rows") };
    let mut acc = [[_mm512_setzero_ps(); 2]; 8];
    let a_step = match MADD {
        Madd::BF16_WIDEN => 2 * size_of::<E>(),
        _ => size_of::<E>(),
    };
    let end = tile.k * a_step;
    // Each row's end: the offset reaches the row's first value at `-end`.
    let [a0, a1, a2, a3, a4, a5, a6, a7] = tile
        .padded_row_pointers()
        .map(|row| row.wrapping_byte_add(end));
    // The high half of every lane: a bfloat16 in the high half is its f32.
    let high_halves = _mm512_castsi512_ps(_mm512_set1_epi32(0xffff_0000_u32 as i32));
    /// The loop: `$pre` widens the panel's values (or nothing), `$mode` is a mode of
    /// [`row_step!`], `$rows` the rows' (row, accumulator, accumulator), `$prefetch` asks for
    /// the panel ahead (or nothing).
    macro_rules! tile_loop {
        (
            [$($pre:literal)*],
            $mode:tt,
            [$(($row:literal, $lo:literal, $hi:literal))*],
            $($prefetch:literal,)*
        ) => {
            // SAFETY: rows 0..MR of A hold `end` bytes each and the panel `k · NR` values
            // (this function's contract); the loop reads each row from `end` bytes before its
            // end pointer up to it and `k` panel rows of 128 bytes; prefetches are hints,
            // which never fault. zmm16–21 hold the panel, its widened values and broadcasts.
            unsafe {
                std::arch::asm!(
                    // Every row's register is an operand; the loop reads those of its rows.
                    "/* rows at {a0} {a1} {a2} {a3} {a4} {a5} {a6} {a7} */",
                    "2:",
                    "vmovups zmm16, [{b}]",
                    "vmovups zmm17, [{b} + 64]",
                    $($prefetch,)*
                    $($pre,)*
                    $(row_step!($mode, $row, $lo, $hi),)*
                    "add {b}, 128",
                    "add {k}, {a_step}",
                    "jnz 2b",
                    a0 = in(reg) a0,
                    a1 = in(reg) a1,
                    a2 = in(reg) a2,
                    a3 = in(reg) a3,
                    a4 = in(reg) a4,
                    a5 = in(reg) a5,
                    a6 = in(reg) a6,
                    a7 = in(reg) a7,
                    b = inout(reg) tile.panel.as_ptr() => _,
                    k = inout(reg) end.wrapping_neg() => _,
                    a_step = in(reg) a_step,
                    ahead = const PREFETCH_AHEAD * size_of::<f32>(),
                    near = const L2_TO_L1_AHEAD * size_of::<f32>(),
                    in("zmm22") high_halves,
                    out("zmm16") _,
                    out("zmm17") _,
                    out("zmm18") _,
                    out("zmm19") _,
                    out("zmm20") _,
                    out("zmm21") _,
                    inout("zmm0") acc[0][0],
                    inout("zmm1") acc[0][1],
                    inout("zmm2") acc[1][0],
                    inout("zmm3") acc[1][1],
                    inout("zmm4") acc[2][0],
                    inout("zmm5") acc[2][1],
                    inout("zmm6") acc[3][0],
                    inout("zmm7") acc[3][1],
                    inout("zmm8") acc[4][0],
                    inout("zmm9") acc[4][1],
                    inout("zmm10") acc[5][0],
                    inout("zmm11") acc[5][1],
                    inout("zmm12") acc[6][0],
                    inout("zmm13") acc[6][1],
                    inout("zmm14") acc[7][0],
                    inout("zmm15") acc[7][1],
                    options(nostack, readonly),
                )
            }
        };
    }
    /// The loop for the tile's prefetch, with `$pre`, `$mode` and `$rows` as in `tile_loop!`.
    macro_rules! for_prefetch {
        ($pre:tt, $mode:tt, $rows:tt) => {
            match tile.prefetch {
                Prefetch::L1 => tile_loop!(
                    $pre,
                    $mode,
                    $rows,
                    "prefetcht0 [{b} + {ahead}]",
                    "prefetcht0 [{b} + {ahead} + 64]",
                    "/* {near} unused */",
                ),
                Prefetch::L2 => tile_loop!(
                    $pre,
                    $mode,
                    $rows,
                    "prefetcht1 [{b} + {ahead}]",
                    "prefetcht1 [{b} + {ahead} + 64]",
                    "prefetcht0 [{b} + {near}]",
                    "prefetcht0 [{b} + {near} + 64]",
                ),
                Prefetch::Off => {
                    tile_loop!(
                        $pre,
                        $mode,
                        $rows,
                        "/* no prefetch, {ahead} {near} unused */",
                    )
                }
            }
        };
    }
    /// The loop for the tile's `MR` rows.
    macro_rules! for_rows {
        ($pre:tt, $mode:tt) => {
            match MR {
                1 => for_prefetch!($pre, $mode, [(0, 0, 1)]),
                2 => for_prefetch!($pre, $mode, [(0, 0, 1)(1, 2, 3)]),
                3 => for_prefetch!($pre, $mode, [(0, 0, 1)(1, 2, 3)(2, 4, 5)]),
                4 => for_prefetch!($pre, $mode, [(0, 0, 1)(1, 2, 3)(2, 4, 5)(3, 6, 7)]),
                5 => for_prefetch!($pre, $mode, [(0, 0, 1)(1, 2, 3)(2, 4, 5)(3, 6, 7)(4, 8, 9)]),
                6 => for_prefetch!(
                    $pre,
                    $mode,
                    [(0, 0, 1)(1, 2, 3)(2, 4, 5)(3, 6, 7)(4, 8, 9)(5, 10, 11)]
                ),
                7 => for_prefetch!(
                    $pre,
                    $mode,
                    [(0, 0, 1)(1, 2, 3)(2, 4, 5)(3, 6, 7)(4, 8, 9)(5, 10, 11)(
                        6, 12, 13
                    )]
                ),
                _ => for_prefetch!(
                    $pre,
                    $mode,
                    [(0, 0, 1)(1, 2, 3)(2, 4, 5)(3, 6, 7)(4, 8, 9)(5, 10, 11)(
                        6, 12, 13
                    )(7, 14, 15)]
                ),
            }
        };
    }
    // SAFETY: the CPU has AVX-512 F (this function's contract), so it is an x86-64 one.
    unsafe { tile.prefetch_c_for_writing::<MR>() };
    if tile.k > 0 {
        match MADD {
            Madd::BF16_DOT => for_rows!([], [madd "vdpbf16ps"]),
            Madd::BF16_WIDEN => for_rows!(
                [
                    // Even rows of B: the low halves, shifted up; odd rows: the high halves.
                    "vpslld zmm20, zmm16, 16"
                    "vpslld zmm21, zmm17, 16"
                    "vpandd zmm16, zmm16, zmm22"
                    "vpandd zmm17, zmm17, zmm22"
                ],
                [widen]
            ),
            _ => for_rows!([], [madd "vfmadd231ps"]),
        }
    }
    let acc: [[__m512; 2]; MR] = std::array::from_fn(|i| acc[i]);
    // SAFETY: the CPU has AVX-512 F; the tile has `MR` rows (this function's contract).
    unsafe { tile.store_avx512(&acc) };
}

/// What one row of the wide tile does in one step, as assembly text: row `$row` of `A` (base
/// register `{a$row}`), accumulators `zmm$c0`–`zmm$c3`; the two panels' 64 values are in
/// zmm24–27.
#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
macro_rules! row_step_wide {
    ($row:literal, $c0:literal, $c1:literal, $c2:literal, $c3:literal) => {
        concat!(
            "vbroadcastss zmm28, [{a", $row, "} + {k}]\n",
            "vfmadd231ps zmm", $c0, ", zmm28, zmm24\n",
            "vfmadd231ps zmm", $c1, ", zmm28, zmm25\n",
            "vfmadd231ps zmm", $c2, ", zmm28, zmm26\n",
            "vfmadd231ps zmm", $c3, ", zmm28, zmm27\n",
        )
    };
}

/// An f32 AVX-512 tile of `MR <= 6` rows by two panels (64 columns), for products of many rows
/// ([`KernelTuning::wide_tile`]): 24 accumulators, and a step of `k` is four loads of `B`, six
/// broadcasts of `A` and 24 FMAs, where [`tile_asm_avx512`]'s 8 × 32 is two loads, eight
/// broadcasts and 16 FMAs. Every panel is read from L2 once per tile, so the wider tile also
/// reads `B` a quarter less often per multiply-add, which the f32 products of many rows gain
/// from (`scripts/bench.sh`, case BERT-base shape, 8 × 128). The loop is the 8-row tile's, two
/// panels apart (`{second}` bytes); the sums come out in the same order, so the products are
/// the same to the bit. Stores the tile's rows of `C`.
///
/// # Safety
/// The CPU must have AVX-512 F; `tile.rows == MR`; the tile's panel holds two panels, one
/// after the other (`2 · k · NR` values), and its `A` `k` values a row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_wide_avx512<const MR: usize>(tile: &Tile<'_>) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 4]; 6];
    let end = tile.k * size_of::<f32>();
    let [a0, a1, a2, a3, a4, a5, _, _] = tile
        .padded_row_pointers()
        .map(|row| row.wrapping_byte_add(end));
    let second = tile.k * NR * size_of::<f32>();
    /// The loop for the rows `$rows` (row, four accumulators), with `$prefetch` asking for
    /// both panels ahead (or nothing).
    macro_rules! wide_loop {
        (
            [$(($row:literal, $c0:literal, $c1:literal, $c2:literal, $c3:literal))*],
            $($prefetch:literal,)*
        ) => {
            // SAFETY: rows 0..MR of A hold `end` bytes each and the two panels `2 · k · NR`
            // values (this function's contract); the loop reads each row from `end` bytes
            // before its end pointer up to it, and `k` rows of 128 bytes of each panel;
            // prefetches are hints, which never fault. zmm24–28 hold the panels and a
            // broadcast.
            unsafe {
                std::arch::asm!(
                    "/* rows at {a0} {a1} {a2} {a3} {a4} {a5} */",
                    "2:",
                    "vmovups zmm24, [{b}]",
                    "vmovups zmm25, [{b} + 64]",
                    "vmovups zmm26, [{b} + {second}]",
                    "vmovups zmm27, [{b} + {second} + 64]",
                    $($prefetch,)*
                    $(row_step_wide!($row, $c0, $c1, $c2, $c3),)*
                    "add {b}, 128",
                    "add {k}, 4",
                    "jnz 2b",
                    a0 = in(reg) a0,
                    a1 = in(reg) a1,
                    a2 = in(reg) a2,
                    a3 = in(reg) a3,
                    a4 = in(reg) a4,
                    a5 = in(reg) a5,
                    b = inout(reg) tile.panel.as_ptr() => _,
                    k = inout(reg) end.wrapping_neg() => _,
                    second = in(reg) second,
                    ahead = const PREFETCH_AHEAD * size_of::<f32>(),
                    out("zmm24") _,
                    out("zmm25") _,
                    out("zmm26") _,
                    out("zmm27") _,
                    out("zmm28") _,
                    inout("zmm0") acc[0][0],
                    inout("zmm1") acc[0][1],
                    inout("zmm2") acc[0][2],
                    inout("zmm3") acc[0][3],
                    inout("zmm4") acc[1][0],
                    inout("zmm5") acc[1][1],
                    inout("zmm6") acc[1][2],
                    inout("zmm7") acc[1][3],
                    inout("zmm8") acc[2][0],
                    inout("zmm9") acc[2][1],
                    inout("zmm10") acc[2][2],
                    inout("zmm11") acc[2][3],
                    inout("zmm12") acc[3][0],
                    inout("zmm13") acc[3][1],
                    inout("zmm14") acc[3][2],
                    inout("zmm15") acc[3][3],
                    inout("zmm16") acc[4][0],
                    inout("zmm17") acc[4][1],
                    inout("zmm18") acc[4][2],
                    inout("zmm19") acc[4][3],
                    inout("zmm20") acc[5][0],
                    inout("zmm21") acc[5][1],
                    inout("zmm22") acc[5][2],
                    inout("zmm23") acc[5][3],
                    options(nostack, readonly),
                )
            }
        };
    }
    /// The loop for the tile's prefetch, `$rows` as in `wide_loop!`.
    macro_rules! wide_prefetch {
        ($rows:tt) => {
            match tile.prefetch {
                Prefetch::Off => wide_loop!($rows, "/* {ahead} */",),
                _ => wide_loop!(
                    $rows,
                    "prefetcht0 [{b} + {ahead}]",
                    "prefetcht0 [{b} + {ahead} + 64]",
                    "prefetcht0 [{b} + {second} + {ahead}]",
                    "prefetcht0 [{b} + {second} + {ahead} + 64]",
                ),
            }
        };
    }
    // SAFETY: the CPU has AVX-512 F (this function's contract), so it is an x86-64 one.
    unsafe { tile.prefetch_c_for_writing::<MR>() };
    if tile.k > 0 {
        match MR {
            1 => wide_prefetch!([(0, 0, 1, 2, 3)]),
            2 => wide_prefetch!([(0, 0, 1, 2, 3)(1, 4, 5, 6, 7)]),
            3 => wide_prefetch!([(0, 0, 1, 2, 3)(1, 4, 5, 6, 7)(2, 8, 9, 10, 11)]),
            4 => wide_prefetch!([(0, 0, 1, 2, 3)(1, 4, 5, 6, 7)(2, 8, 9, 10, 11)(
                3, 12, 13, 14, 15
            )]),
            5 => wide_prefetch!([(0, 0, 1, 2, 3)(1, 4, 5, 6, 7)(2, 8, 9, 10, 11)(
                3, 12, 13, 14, 15
            )(4, 16, 17, 18, 19)]),
            _ => wide_prefetch!([(0, 0, 1, 2, 3)(1, 4, 5, 6, 7)(2, 8, 9, 10, 11)(
                3, 12, 13, 14, 15
            )(4, 16, 17, 18, 19)(5, 20, 21, 22, 23)]),
        }
    }
    let acc: [[__m512; 4]; MR] = std::array::from_fn(|i| acc[i]);
    // SAFETY: the CPU has AVX-512 F; the tile has `MR` rows (this function's contract).
    unsafe { tile.store_avx512(&acc) };
}

/// AVX2 + FMA micro-kernel: `MR × 16` accumulators in `2 · MR` ymm registers (with the two
/// `B` vectors and a broadcast, 15 of the 16), run once per half of the 32-column panel.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `tile.rows == MR <= 6`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<const MR: usize>(tile: &Tile<'_>) {
    use std::arch::x86_64::*;
    const HALF: usize = NR / 2;
    let rows = tile.row_pointers::<MR>();
    for half in 0..2 {
        if tile.cols <= half * HALF {
            break;
        }
        let mut b = tile.panel[half * HALF..].as_ptr();
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for p in 0..tile.k {
            // SAFETY: as in `tile_avx512`; `b` is at this half's 16 values of row `p` of the
            // panel.
            unsafe {
                // As in `tile_avx512`: a load without a debug-build overlap check.
                let all = _mm256_set1_epi32(-1);
                let b0 = _mm256_maskload_ps(b, all);
                let b1 = _mm256_maskload_ps(b.add(8), all);
                for_each_row!(MR, |i| {
                    let ai = _mm256_broadcastss_ps(_mm_load_ss(rows[i].add(p)));
                    acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
                });
                // Wrapping: after the last row the second half points past the panel.
                b = b.wrapping_add(NR);
            }
        }
        for (i, acc_row) in acc.iter().enumerate() {
            let mut row = [0f32; HALF];
            // SAFETY: `row` holds 16 values, 8 per store.
            unsafe {
                _mm256_storeu_ps(row.as_mut_ptr(), acc_row[0]);
                _mm256_storeu_ps(row.as_mut_ptr().add(8), acc_row[1]);
            }
            tile.store(i, half * HALF, &row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random matrix in [-1, 1).
    fn matrix(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// `A · Wᵀ + bias (+ C)` in f64, the plain way.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        a: &[f32],
        lda: usize,
        m: usize,
        w: &[f32],
        n: usize,
        k: usize,
        bias: &[f32],
        c: &[f32],
        ldc: usize,
        accumulate: bool,
    ) -> Vec<f32> {
        let mut out = c.to_vec();
        for i in 0..m {
            for j in 0..n {
                let mut sum = f64::from(bias[j]);
                for p in 0..k {
                    sum += f64::from(a[i * lda + p]) * f64::from(w[j * k + p]);
                }
                if accumulate {
                    sum += f64::from(c[i * ldc + j]);
                }
                out[i * ldc + j] = sum as f32;
            }
        }
        out
    }

    #[test]
    fn every_isa_matches_the_reference_on_awkward_shapes() {
        // Shapes around the tile edges: partial row blocks, partial panels, k = 1.
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (8, 384, 384),
            (13, 33, 17),
            (25, 64, 100),
            (12, 32, 1),
            (37, 97, 65),
            // Tiles of every height from 1 to 8 rows (each its own assembly loop).
            (2, 40, 9),
            (6, 31, 20),
            (7, 64, 33),
            (15, 50, 70),
        ];
        for isa in Isa::available() {
            for &(m, n, k) in &shapes {
                for accumulate in [false, true] {
                    let (lda, ldc) = (k + 3, n + 5);
                    let a = matrix(m * lda, 1);
                    let w = matrix(n * k, 2);
                    let bias = matrix(n, 3);
                    let mut c = matrix(m * ldc, 4);
                    let expected = reference(&a, lda, m, &w, n, k, &bias, &c, ldc, accumulate);
                    let b = PackedB::from_weight(&w, n, k);
                    let output = Output {
                        bias: Some(&bias),
                        accumulate,
                    };
                    gemm(isa, &a, lda, m, &b, output, &mut c, ldc, true);
                    for (i, (got, want)) in c.iter().zip(&expected).enumerate() {
                        let tolerance = 1e-5 * (k as f32).sqrt() * 4.0;
                        assert!(
                            (got - want).abs() <= tolerance,
                            "{isa:?} {m}x{n}x{k} accumulate={accumulate}: [{i}] {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_cache_tuning_gives_the_same_products() {
        // Row blocks change which rows run under a panel first, not any value's sum; the
        // prefetch is a hint. 40 rows of depth 100 in blocks of 256 bytes: 8 rows a block.
        let (m, n, k) = (40, 70, 100);
        let a = matrix(m * k, 1);
        let w = matrix(n * k, 2);
        let bias = matrix(n, 3);
        let b = PackedB::from_weight(&w, n, k);
        let expected = reference(&a, k, m, &w, n, k, &bias, &vec![0.0; m * n], n, false);
        let tunings = [
            KernelTuning::PLAIN,
            KernelTuning::INTEL,
            KernelTuning {
                prefetch: false,
                a_block_bytes: Some(256),
                ..KernelTuning::PLAIN
            },
            KernelTuning {
                prefetch: true,
                a_block_bytes: Some(1),
                ..KernelTuning::INTEL
            },
            KernelTuning {
                wide_tile: false,
                ..KernelTuning::INTEL
            },
            KernelTuning {
                wide_tile: true,
                ..KernelTuning::PLAIN
            },
        ];
        for isa in Isa::available() {
            let products: Vec<Vec<f32>> = tunings
                .iter()
                .map(|&tuning| {
                    let mut c = vec![0.0; m * n];
                    let output = Output {
                        bias: Some(&bias),
                        accumulate: false,
                    };
                    let tiles = Tiles::f32(isa, &a, k, &b, output, tuning, m);
                    let view = StridedMut::new(&mut c, m, n, n).unwrap();
                    let (blocks, per_item) = (tiles.block_rows(m), tiles.panels_per_item());
                    schedule::for_each_item(view, blocks, per_item, 2, |item, row, p| {
                        tiles.run_item(isa, &b, item, row, p)
                    });
                    c
                })
                .collect();
            for (tuning, product) in tunings.iter().zip(&products) {
                assert_eq!(product, &products[0], "{isa:?} {tuning:?}");
            }
            for (got, want) in products[0].iter().zip(&expected) {
                assert!((got - want).abs() <= 1e-5 * (k as f32).sqrt() * 4.0);
            }
        }
    }

    #[test]
    fn transposing_packs_agree_with_the_definition() {
        // Depths with and without whole 16-blocks, full and partial panels, and the weight case
        // (the source's rows are the panel's columns) as well as attention's keys (rows far apart).
        for (k, n, n_stride) in [
            (64, 128, 64),
            (64, 100, 2304),
            (37, 70, 37),
            (16, 32, 17),
            (5, 40, 9),
        ] {
            let src = matrix((n - 1) * n_stride + k, 11);
            let mut packed = PackedB::default();
            packed.pack(&src, k, n, 1, n_stride);
            for j in 0..n.div_ceil(NR) * NR {
                for kk in 0..k {
                    let expected = if j < n { src[j * n_stride + kk] } else { 0.0 };
                    let got = packed.panel(j / NR)[kk * NR + j % NR];
                    assert_eq!(got, expected, "k {k} n {n} at ({kk}, {j})");
                }
            }
        }
    }

    #[test]
    fn packing_a_row_major_b_equals_packing_its_transpose() {
        let (k, n) = (19, 45);
        let b_rows = matrix(k * n, 5); // B itself, [k, n]
        let mut transposed = vec![0.0; k * n]; // [n, k], a weight
        for kk in 0..k {
            for j in 0..n {
                transposed[j * k + kk] = b_rows[kk * n + j];
            }
        }
        let mut direct = PackedB::default();
        direct.pack(&b_rows, k, n, n, 1);
        let from_weight = PackedB::from_weight(&transposed, n, k);
        assert_eq!(direct.data, from_weight.data);
        assert_eq!((direct.k(), direct.n()), (k, n));
    }

    #[test]
    fn large_products_split_across_threads_agree_with_one_thread() {
        let (m, n, k) = (64, 300, 128);
        let a = matrix(m * k, 6);
        let w = matrix(n * k, 7);
        let b = PackedB::from_weight(&w, n, k);
        let output = Output {
            bias: None,
            accumulate: false,
        };
        // A pool of its own, so that the product really splits whatever the machine has.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        for isa in Isa::available() {
            let mut serial = vec![0.0; m * n];
            let mut threaded = vec![0.0; m * n];
            gemm(isa, &a, k, m, &b, output, &mut serial, n, false);
            let threads_used = pool.install(|| {
                gemm(isa, &a, k, m, &b, output, &mut threaded, n, true);
                rayon::current_num_threads()
            });
            assert_eq!(threads_used, 4);
            assert!(
                m * n * k >= PARALLEL_MIN_FLOPS,
                "the product must be large enough to split"
            );
            assert_eq!(serial, threaded, "{isa:?}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        // Each case runs every kernel set: 64 cases keep `cargo test` within seconds.
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any shape, any padding of the rows, with or without bias and accumulation: every
        /// kernel set agrees with the f64 reference. Sizes cross every tile edge (rows 4, 6, 8;
        /// columns 8, 16, 32) and include 1 × k and k × 1.
        #[test]
        fn any_shape_matches_the_f64_reference_on_every_isa(
            m in 1usize..40,
            n in 1usize..80,
            k in 1usize..70,
            lda_pad in 0usize..3,
            ldc_pad in 0usize..3,
            accumulate: bool,
            with_bias: bool,
            parallel: bool,
            seed in 0u64..1000,
        ) {
            let (lda, ldc) = (k + lda_pad, n + ldc_pad);
            let a = matrix(m * lda, seed);
            let w = matrix(n * k, seed + 1);
            let bias = if with_bias { matrix(n, seed + 2) } else { vec![0.0; n] };
            let c0 = matrix(m * ldc, seed + 3);
            let expected = reference(&a, lda, m, &w, n, k, &bias, &c0, ldc, accumulate);
            let b = PackedB::from_weight(&w, n, k);
            for isa in Isa::available() {
                let mut c = c0.clone();
                let output = Output { bias: with_bias.then_some(&bias[..]), accumulate };
                gemm(isa, &a, lda, m, &b, output, &mut c, ldc, parallel);
                let tolerance = 1e-5 * (k as f32).sqrt() * 4.0;
                for (i, (got, want)) in c.iter().zip(&expected).enumerate() {
                    // Padding between rows must be left as it was.
                    prop_assert!(
                        (got - want).abs() <= tolerance,
                        "{:?} {}x{}x{} [{}] {} vs {}", isa, m, n, k, i, got, want
                    );
                }
            }
        }
    }
}
