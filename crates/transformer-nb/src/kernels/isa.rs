//! The instruction-set token: proof, checked at run time, that this CPU can run a kernel set.
//!
//! The AVX2 and AVX-512 kernels are `unsafe` to call on a CPU without those instructions. Every
//! safe function that reaches them takes an [`Isa`], and an `Isa` can only be obtained here, from
//! run-time detection: its field is private to this module, so no other code of the crate can
//! make one up. That is what makes the safe wrappers sound.

use std::sync::OnceLock;

/// The kernel sets, in order of capability. Matching on a level is how a kernel picks its
/// code; only an [`Isa`] says that a level is available.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Plain Rust that the compiler vectorises for the baseline target.
    Generic,
    /// AVX2 with FMA and F16C (x86-64-v3).
    Avx2,
    /// AVX-512 F, BW, DQ and VL (x86-64-v4).
    Avx512,
}

impl Level {
    /// Rows of `C` that one micro-kernel tile of the matrix product holds in registers (the one
    /// table of them; see `gemm`'s module docs for why these numbers).
    pub(crate) const fn tile_rows(self) -> usize {
        match self {
            Level::Generic => 4,
            Level::Avx2 => 6,
            Level::Avx512 => 8,
        }
    }

    fn parse(name: &str) -> Option<Level> {
        match name.trim().to_ascii_lowercase().as_str() {
            "generic" => Some(Level::Generic),
            "avx2" => Some(Level::Avx2),
            "avx512" => Some(Level::Avx512),
            _ => None,
        }
    }

    /// Whether this CPU can run the level's instructions.
    fn is_supported(self) -> bool {
        match self {
            Level::Generic => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                // F16C (the half-precision conversions) came before AVX2 on every CPU that has it.
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512vl")
                    // The AVX-512 builds also enable AVX2 and FMA.
                    && Level::Avx2.is_supported()
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// A kernel set this CPU was found to support. Only [`Isa::detect`] and [`Isa::available`]
/// make one, so holding an `Isa` of level AVX-512 proves the CPU has AVX-512.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Isa(Level);

/// Caps the instruction set the kernels use: `generic`, `avx2` or `avx512`. For comparing
/// the kernels and for testing the fallbacks on a machine that has more; a cap above what this
/// CPU runs leaves the best available, and another value is reported on stderr and ignored.
pub(crate) const KERNELS_ENV: &str = "TRANSFORMER_NB_KERNELS";

impl Isa {
    /// The best instruction set this CPU has, capped by [`KERNELS_ENV`]; detected once per
    /// process.
    pub(crate) fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let cap = std::env::var(KERNELS_ENV).ok().and_then(|value| {
                let level = Level::parse(&value);
                if level.is_none() && !value.trim().is_empty() {
                    eprintln!(
                        "transformer-nb: {KERNELS_ENV}={value:?} is not one of generic, avx2, \
                         avx512; the kernels use the best this CPU has"
                    );
                }
                level
            });
            Isa::available()
                .into_iter()
                .rfind(|isa| cap.is_none_or(|cap| isa.0 <= cap))
                .unwrap_or(Isa(Level::Generic))
        })
    }

    /// Every instruction set this CPU can run, the portable one first.
    pub(crate) fn available() -> Vec<Isa> {
        [Level::Generic, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|level| level.is_supported())
            .map(Isa)
            .collect()
    }

    /// Which kernel set to run.
    pub(crate) fn level(self) -> Level {
        self.0
    }

    /// The bf16 matrix kernel, when this kernel set is AVX-512 and the CPU also has AVX512_BF16
    /// (`vdpbf16ps`): Zen 4 and later, Cooper Lake and Sapphire Rapids and later; not the
    /// Skylake/Cascade Lake Xeons of an ml.t3.medium. Capping the kernels below AVX-512 (see
    /// [`KERNELS_ENV`]) turns it off too.
    pub(crate) fn bf16(self) -> Option<Bf16Isa> {
        #[cfg(target_arch = "x86_64")]
        if self.0 == Level::Avx512 && is_x86_feature_detected!("avx512bf16") {
            return Some(Bf16Isa(()));
        }
        None
    }
}

/// Chooses the matrix kernels' tuning instead of the CPU's vendor: `intel` or `plain`,
/// optionally followed by choices that change one field each, `+name` or `-name` with the
/// names `prefetch`, `blocks`, `widen` and `wide-tile` (e.g. `plain,+wide-tile`), or
/// `blocks=KIB` for row blocks of that many KiB. For comparing tunings, or one choice of one,
/// on one machine; read only with the `bench-knobs` feature, and a value that does not parse is
/// reported on stderr and ignored.
#[cfg(feature = "bench-knobs")]
pub(crate) const TUNING_ENV: &str = "TRANSFORMER_NB_TUNING";

/// How the matrix kernels meet the CPU's caches, memory and multiply-add units: chosen per CPU
/// vendor, since what is tuned on one microarchitecture does not carry over
/// (`scripts/bench/alternate.py` compares two tunings, set by `TRANSFORMER_NB_TUNING`, on one
/// machine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KernelTuning {
    /// Whether the micro-kernels ask for their panel of `B` a few KiB ahead of their reads.
    pub prefetch: bool,
    /// How many bytes of `A` a block of rows may hold: every panel of `B` passes over one block
    /// before the next, which then stays in L2. `None`: all rows at once.
    pub a_block_bytes: Option<usize>,
    /// How the bf16 vector kernel multiplies by bfloat16 weights.
    pub bf16_madd: Bf16Madd,
    /// Whether f32 products of more than one tile of rows take two panels at a time, in tiles
    /// of 6 rows × 64 columns, instead of one, in tiles of 8 × 32 (AVX-512 only).
    pub wide_tile: bool,
}

/// The instructions of the bf16 vector kernel (the rows that AMX does not take).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bf16Madd {
    /// `vdpbf16ps`: 32 multiply-adds per instruction.
    Dot,
    /// Each bfloat16 widened to its f32 (a shift, or a mask) and `vfmadd231ps`, 16 per
    /// instruction: for CPUs where `vdpbf16ps` does fewer multiply-adds per cycle than FMAs
    /// (`scripts/bench.sh`'s limits: `bf16_dot_issue_gflops` against `fma_issue_gflops`).
    Widen,
}

impl KernelTuning {
    /// Intel's, for cores whose hardware prefetchers do not keep one core's stream of weights
    /// fed (`scripts/bench.sh`, case BERT-base shape, 1 × 8) and where a product over many rows
    /// gains from taking its rows in blocks of 1 MiB rather than all at once (case BERT-base
    /// shape, 8 × 128).
    ///
    /// There, too, `vdpbf16ps` does fewer multiply-adds per cycle than FMAs, so the bf16 vector
    /// kernel widens the weights to f32 for FMAs (with the 8-row tile in assembly; case
    /// BERT-base shape, 1 × 8, in bf16).
    ///
    /// And the f32 products of many rows gain from the wide tile, which loads `B` and `A` 10
    /// times for 24 FMAs where the 8-row tile loads them 10 times for 16 (case BERT-base shape,
    /// 8 × 128).
    pub(crate) const INTEL: KernelTuning = KernelTuning {
        prefetch: true,
        a_block_bytes: Some(1 << 20),
        bf16_madd: Bf16Madd::Widen,
        wide_tile: true,
    };

    /// Elsewhere, for CPUs that already stream the weights at close to the read bandwidth and
    /// run the products of many rows at the kernel's own 2048³ rate, so that Intel's f32
    /// choices gain nothing beyond the noise, and where `vdpbf16ps` does more multiply-adds per
    /// cycle than FMAs, so that widening the weights would slow every bf16 case
    /// (`scripts/bench.sh`'s cases and limits; `scripts/bench/alternate.py` for `intel`
    /// against `plain`).
    pub(crate) const PLAIN: KernelTuning = KernelTuning {
        prefetch: false,
        a_block_bytes: None,
        bf16_madd: Bf16Madd::Dot,
        wide_tile: false,
    };

    /// This CPU's tuning (or, with the `bench-knobs` feature, `TRANSFORMER_NB_TUNING`'s);
    /// detected once per process.
    pub(crate) fn detect() -> KernelTuning {
        static TUNING: OnceLock<KernelTuning> = OnceLock::new();
        *TUNING.get_or_init(|| {
            #[cfg(feature = "bench-knobs")]
            if let Ok(value) = std::env::var(TUNING_ENV) {
                match KernelTuning::parse(&value) {
                    Some(tuning) => return tuning,
                    None => eprintln!(
                        "transformer-nb: {TUNING_ENV}={value:?} does not parse (see its doc in \
                         kernels/isa.rs); the kernels use this CPU's tuning"
                    ),
                }
            }
            KernelTuning::for_vendor(is_intel())
        })
    }

    fn for_vendor(intel: bool) -> KernelTuning {
        if intel {
            KernelTuning::INTEL
        } else {
            KernelTuning::PLAIN
        }
    }

    /// Reads `TRANSFORMER_NB_TUNING`'s value: a base tuning, then `+name`/`-name` choices.
    #[cfg(any(test, feature = "bench-knobs"))]
    fn parse(value: &str) -> Option<KernelTuning> {
        let mut words = value.split(',').map(str::trim);
        let mut tuning = match words.next()? {
            "intel" => KernelTuning::INTEL,
            "plain" => KernelTuning::PLAIN,
            _ => return None,
        };
        for word in words {
            if let Some(kib) = word.strip_prefix("blocks=") {
                tuning.a_block_bytes = Some(kib.parse::<usize>().ok().filter(|&k| k > 0)? << 10);
                continue;
            }
            let (on, name) = match word.split_at_checked(1)? {
                ("+", name) => (true, name),
                ("-", name) => (false, name),
                _ => return None,
            };
            match name {
                "prefetch" => tuning.prefetch = on,
                "blocks" => tuning.a_block_bytes = KernelTuning::INTEL.a_block_bytes.filter(|_| on),
                "widen" => tuning.bf16_madd = if on { Bf16Madd::Widen } else { Bf16Madd::Dot },
                "wide-tile" => tuning.wide_tile = on,
                _ => return None,
            }
        }
        Some(tuning)
    }
}

/// Whether the CPU says it is an Intel one (`cpuid` leaf 0: "GenuineIntel").
fn is_intel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let vendor = std::arch::x86_64::__cpuid(0);
        let name = [vendor.ebx, vendor.edx, vendor.ecx].map(u32::to_le_bytes);
        name.concat() == b"GenuineIntel"
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Proof, checked at run time, that this CPU runs the AVX-512 kernels and AVX512_BF16; made
/// only by [`Isa::bf16`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bf16Isa(());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_order_by_capability() {
        assert_eq!(Level::parse(" AVX2 "), Some(Level::Avx2));
        assert_eq!(Level::parse("sse"), None);
        assert!(Level::Generic < Level::Avx2 && Level::Avx2 < Level::Avx512);
    }

    #[test]
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn the_vendor_agrees_with_the_kernel() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("/proc/cpuinfo");
        let vendor = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("vendor_id"))
            .and_then(|rest| rest.split(':').nth(1))
            .map(str::trim)
            .expect("a vendor_id line");
        assert_eq!(is_intel(), vendor == "GenuineIntel", "vendor_id {vendor}");
    }

    #[test]
    fn tunings_parse_with_their_choices() {
        assert_eq!(KernelTuning::parse("intel"), Some(KernelTuning::INTEL));
        assert_eq!(KernelTuning::parse("plain"), Some(KernelTuning::PLAIN));
        let wide = KernelTuning::parse("plain, +wide-tile").unwrap();
        assert_eq!(
            wide,
            KernelTuning {
                wide_tile: true,
                ..KernelTuning::PLAIN
            }
        );
        let intel_without = KernelTuning::parse("intel,-prefetch,-blocks,-widen").unwrap();
        assert!(!intel_without.prefetch && intel_without.a_block_bytes.is_none());
        assert_eq!(intel_without.bf16_madd, Bf16Madd::Dot);
        assert!(intel_without.wide_tile);
        assert_eq!(
            KernelTuning::parse("plain,+blocks").unwrap().a_block_bytes,
            Some(1 << 20)
        );
        assert_eq!(
            KernelTuning::parse("plain,blocks=512")
                .unwrap()
                .a_block_bytes,
            Some(512 << 10)
        );
        for wrong in [
            "",
            "amd",
            "plain,wide-tile",
            "plain,+fast",
            "plain,+",
            "plain,blocks=0",
            "plain,blocks=big",
        ] {
            assert_eq!(KernelTuning::parse(wrong), None, "{wrong:?}");
        }
        assert_eq!(KernelTuning::for_vendor(true), KernelTuning::INTEL);
        assert_eq!(KernelTuning::for_vendor(false), KernelTuning::PLAIN);
    }

    #[test]
    fn only_supported_levels_become_tokens() {
        let available = Isa::available();
        assert_eq!(available[0].level(), Level::Generic);
        assert!(available.iter().all(|isa| isa.level().is_supported()));
        assert!(available.contains(&Isa::detect()));
        for isa in available {
            if isa.bf16().is_some() {
                assert_eq!(isa.level(), Level::Avx512);
            }
        }
    }
}
