//! AVX-512 micro-kernels: 8 × 32 (f32 and bf16) and the wide 6 × 64 f32 tile.

use super::tiles::{L2_TO_L1_AHEAD, PREFETCH_AHEAD, Prefetch};
use super::{NR, Tile};

/// AVX-512 micro-kernel: `MR × 32` accumulators in `2 · MR` zmm registers.
///
/// # Safety
/// The CPU must have AVX-512 F; `tile.rows == MR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn tile_avx512<const MR: usize>(tile: &Tile<'_>) {
    // SAFETY: the CPU has AVX-512 F, the tile `MR` rows of `k` values and an f32 panel (this
    // function's contract, and `gemm_view`'s checks).
    unsafe { tile_asm_avx512::<f32, { Madd::F32 }, MR>(tile) }
}

/// The multiply-adds an AVX-512 tile can run, as the `u8` const parameter of
/// [`tile_asm_avx512`] (an enum cannot be one on stable Rust).
pub(super) struct Madd;

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl Madd {
    /// `vfmadd231ps`: `A` and the panel f32.
    pub(super) const F32: u8 = 0;
    /// `vdpbf16ps`: `A` and the panel bfloat16 pairs in 32-bit lanes; a step is a pair of rows
    /// of `B`.
    pub(super) const BF16_DOT: u8 = 1;
    /// The panel bfloat16 pairs, widened to f32 by a shift and a mask, then `vfmadd231ps`;
    /// `A` f32 (already rounded to bfloat16 values, so the products are the same as
    /// `vdpbf16ps`'s); a step is a pair of rows of `B`, two values of each row of `A`.
    pub(super) const BF16_WIDEN: u8 = 2;
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
pub(super) unsafe fn tile_asm_avx512<E, const MADD: u8, const MR: usize>(tile: &Tile<'_, E>) {
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
/// ([`KernelTuning::wide_tile`](crate::kernels::KernelTuning::wide_tile)): 24 accumulators, and a step of `k` is four loads of `B`, six
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
pub(super) unsafe fn tile_wide_avx512<const MR: usize>(tile: &Tile<'_>) {
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
