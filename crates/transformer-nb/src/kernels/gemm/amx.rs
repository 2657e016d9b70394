//! AMX tiles for the bf16 product, on the Xeons that have them (Sapphire Rapids and later).
//!
//! `tdpbf16ps` multiplies a 16 × 32 block of `A` by a 32 × 16 block of `B` into 16 × 16 f32
//! sums: 8192 multiply-adds in one instruction, where `vdpbf16ps` does 32. Where `vdpbf16ps`
//! runs no faster than f32 FMAs, the bf16 path without the tiles gains only where it is bound
//! by reading weights; with them the products of many rows gain too (`scripts/bench.sh`, case
//! BERT-base shape, 8 × 128).
//!
//! The layouts are the bf16 kernel's own: a tile of `A` is 16 rows of 16 pairs (64 bytes), a
//! tile of `B` 16 pair-rows of a panel's first or second 16 columns (64 of its 128 bytes). A
//! block of `C` is 32 × 32: four accumulator tiles, two of `A` and two of `B`, the eight tile
//! registers. The sums go through a small buffer so that bias and residual are added as the
//! vector kernel adds them.
//!
//! Rows past the last whole block go in one block of as many ([`run_panels`]): up to 16 take
//! one tile of `A` and two `tdpbf16ps` a step, 17 to 31 the block's loop with shorter lower
//! tiles, so that every row is on the tiles. A product of a few rows (one short sentence)
//! reads each weight once, so it is bound by reading them: the first block over a panel asks
//! for its lines ahead of its loads. The vector kernel spends eight multiply-adds on every 16
//! weights there, which can keep it from streaming them as fast as memory allows, where two
//! `tdpbf16ps` do a step of 512 weights (`scripts/bench.sh`, case BERT-base shape, 1 × 8).
//!
//! Rust has no stable AMX intrinsics, so the few instructions are inline assembly. Linux gives
//! a process the tiles' 8 KiB of register state only when asked
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), once; each thread loads a tile configuration for the
//! rows of its block when it changes, and keeps it.

use std::sync::OnceLock;

use super::{NR, Output, Tile};
use crate::kernels::StridedMut;

/// Rows of `C` per block: two tiles of 16.
pub(super) const BLOCK_ROWS: usize = 32;

/// Pairs of `k` per step: a tile row of `A` holds 16 pairs.
pub(super) const STEP_PAIRS: usize = 16;

/// Turns the tiles off (`0`) for comparing with the vector kernel on one machine; read only
/// with the `bench-knobs` feature.
#[cfg(feature = "bench-knobs")]
pub(crate) const AMX_ENV: &str = "TRANSFORMER_NB_AMX";

/// Whether `AMX_ENV` leaves the tiles on (always, without the `bench-knobs` feature).
fn tiles_allowed() -> bool {
    #[cfg(feature = "bench-knobs")]
    match std::env::var(AMX_ENV).as_deref() {
        Ok("0") => return false,
        Ok("1") | Ok("") | Err(_) => {}
        Ok(value) => {
            eprintln!("transformer-nb: {AMX_ENV}={value:?} is neither 0 nor 1; the tiles stay on")
        }
    }
    true
}

/// Proof, checked at run time, that this CPU has AMX-TILE and AMX-BF16 and that Linux lets this
/// process use them; made only by [`Amx::detect`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Amx(());

impl Amx {
    /// The tiles, when this CPU has them, Linux grants them and `TRANSFORMER_NB_AMX` is not
    /// `0` (with the `bench-knobs` feature); detected (and asked for) once per process.
    pub(crate) fn detect() -> Option<Amx> {
        static GRANTED: OnceLock<bool> = OnceLock::new();
        GRANTED
            .get_or_init(|| tiles_allowed() && request_tiles())
            .then_some(Amx(()))
    }
}

/// Whether the CPU has the tiles and Linux grants this process their state.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tiles() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    use std::ffi::c_long;
    if __cpuid(0).eax < 7 {
        return false;
    }
    // Leaf 7: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE.
    let features = __cpuid_count(7, 0).edx;
    if features & (1 << 22) == 0 || features & (1 << 24) == 0 {
        return false;
    }
    unsafe extern "C" {
        fn syscall(number: c_long, ...) -> c_long;
    }
    const SYS_ARCH_PRCTL: c_long = 158;
    const ARCH_REQ_XCOMP_PERM: c_long = 0x1023;
    const XFEATURE_XTILEDATA: c_long = 18;
    // SAFETY: this request only asks the kernel to let the process use the tile state; it
    // touches no memory of ours. A kernel without AMX support answers with an error.
    unsafe { syscall(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn request_tiles() -> bool {
    false
}

/// A tile configuration (palette 1).
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    /// The tiles for a block of `rows` rows (1 to 32), every tile row 64 bytes: tmm0, tmm1
    /// (the upper sums) and tmm4 (the upper rows of `A`) `min(rows, 16)` rows; tmm2, tmm3 and
    /// tmm5 the rest, if any (otherwise left unconfigured); tmm6, tmm7 (`B`) 16.
    fn for_rows(rows: usize) -> TileConfig {
        debug_assert!((1..=BLOCK_ROWS).contains(&rows));
        let upper = rows.min(16);
        let lower = rows - upper;
        let mut config = [0u8; 64];
        config[0] = 1;
        let tiles = [
            (0, upper),
            (1, upper),
            (4, upper),
            (2, lower),
            (3, lower),
            (5, lower),
        ];
        for (tile, tile_rows) in tiles.into_iter().chain([(6, 16), (7, 16)]) {
            if tile_rows > 0 {
                config[16 + 2 * tile] = 64;
                config[48 + tile] = tile_rows as u8;
            }
        }
        TileConfig(config)
    }
}

thread_local! {
    /// The rows of the [`TileConfig::for_rows`] this thread has loaded, 0 for none. A thread
    /// keeps its configuration from one item to the next instead of loading and releasing it
    /// for each, which would cost a short sentence the tiles' gain (`scripts/bench.sh`, case
    /// all-MiniLM-L6-v2, 1 × 8).
    static LOADED_ROWS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Makes this thread's tiles those of a block of `rows` rows (1 to 32), unless they are.
fn configure(_amx: Amx, rows: usize) {
    if LOADED_ROWS.get() != rows {
        let config = TileConfig::for_rows(rows);
        // SAFETY: `Amx` proves the CPU has the tiles and the process may use them; the
        // configuration is 64 bytes, aligned, and valid for 1 to 32 rows.
        unsafe { std::arch::asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack)) };
        LOADED_ROWS.set(rows);
    }
}

/// One 32 × 32 block of f32 sums, rows 128 bytes apart.
#[repr(C, align(64))]
struct Block([[f32; NR]; BLOCK_ROWS]);

/// Computes the view `c` (whose first column is the first of panel `first_panel`) as `A · B`
/// with bias and residual as `output` says: `A` as bf16 pairs, rows `lda` lanes apart, `pairs`
/// of them per row; `panel(p)` is panel `p` of `B`, `pairs × NR` lanes.
///
/// Needs `pairs` a non-zero multiple of [`STEP_PAIRS`]. The rows go in blocks of 32 (four
/// tiles of sums, two of `A`), then the last rows in one block of as many: up to 16 take one
/// tile of `A` and two `tdpbf16ps` a step with the panel asked for ahead of its loads (a short
/// sentence: bound by reading the weights), 17 to 31 the 32-row loop with shorter lower tiles.
///
/// The tile configuration stays loaded on this thread after it returns (for the next item and
/// the next product), so the thread's tile state stays in use and Linux saves its 8 KiB at
/// each switch away from the thread.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_panels<'a>(
    amx: Amx,
    a: &[u32],
    lda: usize,
    pairs: usize,
    panel: impl Fn(usize) -> &'a [u32] + Copy,
    output: Output<'_>,
    c: StridedMut<'_>,
    first_panel: usize,
) {
    let m = c.rows();
    assert!(pairs > 0 && pairs.is_multiple_of(STEP_PAIRS));
    assert!(
        lda >= pairs && (m == 0 || a.len() >= (m - 1) * lda + pairs),
        "A is too small"
    );
    let whole_rows = m / BLOCK_ROWS * BLOCK_ROWS;
    let (whole, last) = c.split_rows(whole_rows);
    let steps = pairs / STEP_PAIRS;
    for (first_row, c, block_rows) in [(0, whole, BLOCK_ROWS), (whole_rows, last, m - whole_rows)] {
        if c.rows() == 0 {
            continue;
        }
        configure(amx, block_rows);
        let a = &a[first_row * lda..];
        // Each `multiply` reads `A` from the rows of one block: `block_rows` rows, as the
        // configuration sets up, `steps · 64` bytes each. The first block over a panel reads
        // it from memory, so its loads are asked for ahead; the blocks after find it in L2.
        let multiply = |first: bool| -> Multiply {
            match (block_rows > 16, first) {
                (false, true) => multiply::<false, true>,
                (false, false) => multiply::<false, false>,
                (true, true) => multiply::<true, true>,
                (true, false) => multiply::<true, false>,
            }
        };
        let each_block = |row: usize, a: &[u32], panel: &[u32], sums: &mut Block| {
            let multiply = multiply(first_row + row == 0);
            // SAFETY: the tiles are configured for `block_rows` rows on this thread (above);
            // `a` starts that many rows of `pairs` lanes, `lda` apart (asserted), the panel
            // `pairs` rows of 128 bytes; `sums` is 32 rows of 128 bytes.
            unsafe { multiply(a.as_ptr(), lda * 4, panel.as_ptr(), steps, sums) }
        };
        for_each_block(
            a,
            lda,
            pairs,
            panel,
            output,
            c,
            first_panel,
            block_rows,
            each_block,
        );
    }
}

/// A tile loop: `sums = A · panel` over `steps` steps, `A`'s rows `lda_bytes` apart.
type Multiply = unsafe fn(*const u32, usize, *const u32, usize, &mut Block);

/// `sums[0..rows] = A · panel` over `steps` steps of 16 pairs, `rows` those of the loaded
/// configuration: the upper 16 rows of `A` in tmm4 and their sums in tmm0, tmm1 (the panel's
/// left and right 16 columns, tmm6 and tmm7); with `LOWER`, rows 17 to 32 in tmm5 and tmm2,
/// tmm3. With `STREAM`, each step asks for the panel's lines 8 KiB ahead into L2 and 2 KiB
/// ahead into L1, for a panel read once from memory, as the vector kernel does for a panel it
/// streams (`scripts/bench.sh`, case BERT-base shape, 1 × 8, shows what they gain).
///
/// # Safety
/// This thread has loaded [`TileConfig::for_rows`] of `rows` rows, 17 to 32 with `LOWER`, 16
/// or fewer without; `a` starts that many rows, `lda_bytes` apart, of at least `steps · 64`
/// readable bytes; `panel` holds `steps · 16` rows of 128 bytes.
#[cfg(target_arch = "x86_64")]
unsafe fn multiply<const LOWER: bool, const STREAM: bool>(
    a: *const u32,
    lda_bytes: usize,
    panel: *const u32,
    steps: usize,
    sums: &mut Block,
) {
    let lower_a = a.wrapping_byte_add(16 * lda_bytes);
    // SAFETY: the reads stay in the rows the caller vouches for (prefetches are hints, which
    // never fault); the stores fill the first `rows` rows of `sums`.
    unsafe {
        std::arch::asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            ".if {lower}",
            "tilezero tmm2",
            "tilezero tmm3",
            ".endif",
            "2:",
            ".if {stream}",
            // The step's 2 KiB of the panel, line by line.
            ".irp line, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "prefetcht1 [{b} + 8192 + 64 * \\line]",
            "prefetcht0 [{b} + 2048 + 64 * \\line]",
            ".endr",
            ".endif",
            "tileloadd tmm4, [{a} + {lda}*1]",
            "tileloadd tmm6, [{b} + {row}*1]",
            "tileloadd tmm7, [{b} + {row}*1 + 64]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            ".if {lower}",
            "tileloadd tmm5, [{lower_a} + {lda}*1]",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            ".endif",
            "add {a}, 64",
            "add {lower_a}, 64",
            "add {b}, 2048",
            "dec {steps}",
            "jnz 2b",
            "tilestored [{sums} + {row}*1], tmm0",
            "tilestored [{sums} + {row}*1 + 64], tmm1",
            ".if {lower}",
            "tilestored [{sums} + {row}*1 + 2048], tmm2",
            "tilestored [{sums} + {row}*1 + 2112], tmm3",
            ".endif",
            a = inout(reg) a => _,
            lower_a = inout(reg) lower_a => _,
            b = inout(reg) panel => _,
            steps = inout(reg) steps => _,
            lda = in(reg) lda_bytes,
            row = in(reg) NR * 4,
            sums = in(reg) sums.0.as_mut_ptr(),
            lower = const LOWER as u8,
            stream = const STREAM as u8,
            options(nostack),
        );
    }
}

/// The panel loop: for each panel of `c` (whose first column is the first of panel
/// `first_panel`) and each block of up to `block_rows` rows, `multiply(the block's first row,
/// A from that row, panel, sums)` fills `sums` with the block's `A · panel`, and the sums go to
/// `C` with bias and residual as `output` says.
#[allow(clippy::too_many_arguments)]
fn for_each_block<'a>(
    a: &[u32],
    lda: usize,
    pairs: usize,
    panel: impl Fn(usize) -> &'a [u32],
    output: Output<'_>,
    c: StridedMut<'_>,
    first_panel: usize,
    block_rows: usize,
    multiply: impl Fn(usize, &[u32], &[u32], &mut Block),
) {
    let m = c.rows();
    let mut sums = Block([[0.0; NR]; BLOCK_ROWS]);
    for (p, mut block) in (first_panel..).zip(c.column_blocks(NR)) {
        let panel = panel(p);
        assert_eq!(panel.len(), pairs * NR, "a panel holds pairs × NR lanes");
        let col = p * NR;
        let cols = block.cols();
        let ldc = block.stride();
        // SAFETY: the stores below write rows `0..m` of this block, columns `0..cols`, which
        // is inside the block.
        let c = unsafe { block.as_mut_ptr() };
        for row in (0..m).step_by(block_rows) {
            multiply(row, &a[row * lda..], panel, &mut sums);
            let tile = Tile {
                k: pairs,
                a,
                lda,
                panel,
                // In bounds: row `row < m` of the block.
                c: c.wrapping_add(row * ldc),
                ldc,
                rows: block_rows.min(m - row),
                cols,
                bias: output.bias.map(|bias| &bias[col..col + cols]),
                accumulate: output.accumulate,
                prefetch: super::Prefetch::Off,
            };
            // SAFETY: the CPU has AVX-512 F (AMX-BF16 comes with it on every CPU that has
            // it, and the bf16 path that calls this holds a `Bf16Isa`); `tile.rows <= 32`.
            unsafe { store(&tile, &sums) };
        }
    }
}

/// Writes the first `tile.rows` rows of `sums` to the tile's part of `C`, with bias and residual.
///
/// # Safety
/// The CPU must have AVX-512 F; `tile.rows <= 32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn store(tile: &Tile<'_, u32>, sums: &Block) {
    use std::arch::x86_64::*;
    // SAFETY: each row of `sums` is 32 values, 64-byte aligned.
    let row = |i: usize| unsafe {
        [
            _mm512_load_ps(sums.0[i].as_ptr()),
            _mm512_load_ps(sums.0[i][16..].as_ptr()),
        ]
    };
    if tile.rows == BLOCK_ROWS {
        let rows: [[__m512; 2]; BLOCK_ROWS] = std::array::from_fn(row);
        // SAFETY: the CPU has AVX-512 F (this function's contract); the tile has 32 rows.
        unsafe { tile.store_avx512(&rows) };
        return;
    }
    for i in 0..tile.rows {
        let one_row = Tile {
            // In bounds: row `i < rows` of the tile.
            c: tile.c.wrapping_add(i * tile.ldc),
            rows: 1,
            ..*tile
        };
        // SAFETY: as above; `one_row` is one row.
        unsafe { one_row.store_avx512(&[row(i)]) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where Linux lists the tiles among the CPU's flags, this process gets them (unless
    /// turned off), so the bf16 tests on such a machine run the tiles.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_tiles_are_granted_where_linux_lists_them() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("/proc/cpuinfo");
        let flags = cpuinfo
            .lines()
            .find(|line| line.starts_with("flags"))
            .expect("a flags line");
        let listed = ["amx_tile", "amx_bf16"]
            .iter()
            .all(|flag| flags.split_whitespace().any(|f| f == *flag));
        if !tiles_allowed() {
            assert!(Amx::detect().is_none());
        } else {
            assert_eq!(
                Amx::detect().is_some(),
                listed,
                "/proc/cpuinfo lists the tiles: {listed}"
            );
        }
    }
}
