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
