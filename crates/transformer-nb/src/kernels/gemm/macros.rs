//! The micro-kernels' row unrolling and row-count dispatch, shared by the f32 and bf16 tiles.

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
