//! The Rust side of the side-by-side benchmark (`scripts/bench.sh` drives it).
//!
//! A worker that reads one JSON request per line on stdin and answers one JSON line on stdout,
//! so that `scripts/bench/bench.py` can alternate it with the PyTorch peer, same inputs, same
//! threads. Requests:
//!
//! - `{"op": "load", "name": N, "dir": D, "impl": I}`: loads the model folder `D` as `N`, with
//!   this crate's encoder (`"impl": "ours"`, the default; `"ours-bf16"` with
//!   `Precision::Bf16`, an error on a CPU without AVX512_BF16) or candle-transformers'
//!   `BertModel` (`"candle"`, the reference point the performance work started from).
//! - `{"op": "forward", "model": N, "texts": [...], "max_length": L, "collect": false,
//!   "iters": K}`: tokenizes once (truncating to `L` tokens), then times `K` forward passes;
//!   `collect` keeps every hidden state and attention map, else only the last hidden state.
//!   With `"dump": PATH`, the last pass's whole last hidden state is written to `PATH` as
//!   little-endian f32, for the driver to compare with the peer's.
//! - `{"op": "tokenize", "model": N, "texts": [...], "iters": K}`: times `K` batch
//!   tokenizations of the whole corpus.
//! - `{"op": "rss"}`: the process's peak and current resident memory.
//! - `{"op": "limits", "n": N}`: what this machine allows: the crate's own matrix kernel on an
//!   `N × N × N` product (f32, and bf16 where the CPU has it) in GFLOP/s, the read
//!   bandwidth from memory in GB/s, and (AVX-512 CPUs) what the multiply-add units issue with
//!   no memory traffic, in GFLOP/s, on rayon's threads: f32 FMAs, and `vdpbf16ps` where the CPU
//!   has AVX512_BF16.
//! - `{"op": "product", "m": M, "k": K, "n": N, "bf16": false, "iters": K}`: the crate's
//!   matrix kernel on one `M × K` by `K × N` product (a layer's shape), fastest of `K`, in
//!   GFLOP/s (`null` for bf16 on a CPU without it).
//!
//! `cargo bench --bench forward -- peak DIR SEQS LEN` instead loads `DIR` in a fresh process,
//! runs one forward of `SEQS × LEN` random-word texts and prints the peak resident memory (with
//! `bf16` after `LEN`, converting the model to bf16 first).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel as CandleBert, Config as CandleConfig};
use serde_json::{Value, json};
use transformer_nb::prelude::*;

/// A loaded model: ours, or candle-transformers' on the same folder (tokenized by ours).
struct Loaded {
    bert: Bert,
    candle: Option<CandleBert>,
}

/// A last hidden state as each implementation returns it: converted only after the clock stops.
enum Hidden {
    /// Every hidden state and attention: the full `forward` a notebook calls.
    Full(EncoderOutput),
    Ours(transformer_nb::Tensor),
    Candle(Tensor),
}

impl Hidden {
    fn dims(&self) -> Vec<usize> {
        match self {
            Hidden::Full(out) => out.last_hidden_state().dims().to_vec(),
            Hidden::Ours(t) => t.dims().to_vec(),
            Hidden::Candle(t) => t.dims().to_vec(),
        }
    }

    fn into_values(self) -> Result<Vec<f32>> {
        Ok(match self {
            Hidden::Full(out) => out.last_hidden_state().values().to_vec(),
            Hidden::Ours(t) => t.into_values(),
            Hidden::Candle(t) => t.flatten_all()?.to_vec1::<f32>()?,
        })
    }
}

impl Loaded {
    fn last_hidden_state(&self, batch: &Batch, collect: bool) -> Result<Hidden> {
        match &self.candle {
            Some(model) => {
                let rows = |f: fn(&Encoding) -> &[u32]| {
                    let flat: Vec<u32> = batch
                        .encodings()
                        .iter()
                        .flat_map(|e| f(e).to_vec())
                        .collect();
                    Tensor::from_vec(flat, (batch.len(), batch.seq_len()), &Device::Cpu)
                };
                let mask = rows(Encoding::attention_mask)?;
                Ok(Hidden::Candle(model.forward(
                    &rows(Encoding::ids)?,
                    &rows(Encoding::type_ids)?,
                    Some(&mask),
                )?))
            }
            None if collect => Ok(Hidden::Full(self.bert.forward_batch(batch)?)),
            None => Ok(Hidden::Ours(self.bert.last_hidden_state(batch)?)),
        }
    }
}

fn load(dir: &str, implementation: &str) -> Result<Loaded> {
    let precision = match implementation {
        "ours-bf16" if !Precision::Bf16.is_available() => {
            bail!("this CPU has no AVX512_BF16: no bf16 row")
        }
        "ours-bf16" => Precision::Bf16,
        _ => Precision::F32,
    };
    let bert = Bert::from_dir_with(dir, precision)?;
    let candle = match implementation {
        "ours" | "ours-bf16" => None,
        "candle" => {
            let config: CandleConfig = serde_json::from_str(&std::fs::read_to_string(
                std::path::Path::new(dir).join("config.json"),
            )?)?;
            let weights = std::path::Path::new(dir).join("model.safetensors");
            // SAFETY: the benchmark's own files, not modified while mapped.
            let vb = unsafe {
                candle_nn::VarBuilder::from_mmaped_safetensors(
                    &[weights],
                    DType::F32,
                    &Device::Cpu,
                )?
            };
            Some(CandleBert::load(vb, &config)?)
        }
        other => bail!("unknown impl {other:?}: ours, ours-bf16 or candle"),
    };
    Ok(Loaded { bert, candle })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; the worker ignores flags it does not know.
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.as_slice() {
        ["peak", dir, seqs, len] => peak(dir, seqs.parse()?, len.parse()?, Precision::F32),
        ["peak", dir, seqs, len, "bf16"] => peak(dir, seqs.parse()?, len.parse()?, Precision::Bf16),
        [] | ["worker"] => worker(),
        _ => bail!("usage: forward [worker] | peak DIR SEQS LEN [bf16]"),
    }
}

fn worker() -> Result<()> {
    let mut models: HashMap<String, Loaded> = HashMap::new();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let request: Value = serde_json::from_str(&line?)?;
        let reply = match handle(&mut models, &request) {
            Ok(reply) => reply,
            Err(e) => json!({ "error": format!("{e:#}") }),
        };
        writeln!(stdout, "{reply}")?;
        stdout.flush()?;
    }
    Ok(())
}

fn handle(models: &mut HashMap<String, Loaded>, request: &Value) -> Result<Value> {
    let str_field = |key: &str| {
        request[key]
            .as_str()
            .with_context(|| format!("request lacks the string {key:?}"))
    };
    let texts = || -> Result<Vec<String>> { Ok(serde_json::from_value(request["texts"].clone())?) };
    let iters = request["iters"].as_u64().unwrap_or(1) as usize;
    match str_field("op")? {
        "load" => {
            let start = Instant::now();
            let loaded = load(
                str_field("dir")?,
                request["impl"].as_str().unwrap_or("ours"),
            )?;
            let seconds = start.elapsed().as_secs_f64();
            models.insert(str_field("name")?.to_string(), loaded);
            Ok(json!({ "load_s": seconds }))
        }
        "forward" => {
            let loaded = model(models, str_field("model")?)?;
            let max_length = request["max_length"].as_u64().unwrap_or(512) as usize;
            let tokenizer = loaded.bert.tokenizer().with_max_length(max_length)?;
            let batch = tokenizer.encode_batch(&texts()?)?;
            let collect = request["collect"].as_bool().unwrap_or(false);
            let mut times = Vec::with_capacity(iters);
            let mut last = None;
            for _ in 0..iters {
                let start = Instant::now();
                let hidden = loaded.last_hidden_state(&batch, collect)?;
                times.push(start.elapsed().as_secs_f64());
                last = Some(hidden);
            }
            let hidden = last.context("iters must be at least 1")?;
            let shape = hidden.dims();
            let values = hidden.into_values()?;
            if let Some(path) = request["dump"].as_str() {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                std::fs::write(path, bytes).with_context(|| format!("cannot write {path}"))?;
            }
            Ok(json!({
                "times": times,
                "shape": shape,
                "ids": batch.encodings().iter().map(|e| e.ids().to_vec()).collect::<Vec<_>>(),
                "mean_abs": values.iter().map(|v| f64::from(v.abs())).sum::<f64>()
                    / values.len() as f64,
            }))
        }
        "tokenize" => {
            let bert = &model(models, str_field("model")?)?.bert;
            let texts = texts()?;
            let mut times = Vec::with_capacity(iters);
            let mut tokens = 0;
            for _ in 0..iters {
                let start = Instant::now();
                let batch = bert.tokenizer().encode_batch(&texts)?;
                times.push(start.elapsed().as_secs_f64());
                tokens = batch
                    .encodings()
                    .iter()
                    .map(|e| e.attention_mask().iter().filter(|&&m| m == 1).count())
                    .sum::<usize>();
            }
            Ok(json!({ "times": times, "tokens": tokens }))
        }
        "rss" => Ok(json!({ "peak_mib": rss_mib("VmHWM")?, "now_mib": rss_mib("VmRSS")? })),
        "product" => {
            let dim = |name: &str| request[name].as_u64().map(|v| v as usize);
            let (Some(m), Some(k), Some(n)) = (dim("m"), dim("k"), dim("n")) else {
                bail!("product needs m, k and n");
            };
            let bf16 = request["bf16"].as_bool().unwrap_or(false);
            let flops = transformer_nb::bench_support::product_flops(m, k, n, iters.max(1), bf16);
            Ok(json!({ "gflops": flops.map(|flops| flops / 1e9) }))
        }
        "limits" => {
            let n = request["n"].as_u64().unwrap_or(2048) as usize;
            let passes = iters.max(3);
            let gflops = |bf16| {
                transformer_nb::bench_support::square_product_flops(n, passes, bf16)
                    .map(|flops| flops / 1e9)
            };
            Ok(json!({
                "n": n,
                "gemm_f32_gflops": gflops(false),
                "gemm_bf16_gflops": gflops(true),
                "read_gb_per_s": read_bandwidth(passes) / 1e9,
                "fma_issue_gflops": issue_flops(passes, false).map(|flops| flops / 1e9),
                "bf16_dot_issue_gflops": issue_flops(passes, true).map(|flops| flops / 1e9),
            }))
        }
        other => bail!("unknown op {other:?}"),
    }
}

fn model<'a>(models: &'a HashMap<String, Loaded>, name: &str) -> Result<&'a Loaded> {
    models
        .get(name)
        .with_context(|| format!("no model {name:?} loaded"))
}

/// One forward in a fresh process, for its peak resident memory.
fn peak(dir: &str, seqs: usize, len: usize, precision: Precision) -> Result<()> {
    let bert = Bert::from_dir_with(dir, precision)?;
    if bert.precision() != precision {
        bail!("this CPU cannot run {precision}");
    }
    let after_load = rss_mib("VmHWM")?;
    let tokenizer = bert.tokenizer().with_max_length(len)?;
    // Enough words that every text reaches `len` tokens.
    let text = vec!["novel"; len].join(" ");
    let batch = tokenizer.encode_batch(&vec![text; seqs])?;
    let hidden = bert.last_hidden_state(&batch)?;
    let weights = std::fs::metadata(std::path::Path::new(dir).join("model.safetensors"))?.len();
    println!(
        "{}",
        json!({
            "shape": hidden.dims(),
            "weights_mib": weights as f64 / (1 << 20) as f64,
            "peak_after_load_mib": after_load,
            "peak_mib": rss_mib("VmHWM")?,
            "now_mib": rss_mib("VmRSS")?,
        })
    );
    Ok(())
}

/// Bytes per second that rayon's threads read from memory, summing disjoint parts of a buffer
/// far larger than any cache (512 MiB); the fastest of `passes`.
fn read_bandwidth(passes: usize) -> f64 {
    use rayon::prelude::*;
    const LANES: usize = 16;
    let values = vec![1f32; 128 << 20];
    let per_thread = values.len() / rayon::current_num_threads();
    let mut fastest = f64::INFINITY;
    let mut total = 0.0;
    for _ in 0..passes {
        let start = Instant::now();
        total += values
            .par_chunks(per_thread)
            .map(|part| {
                // Independent partial sums, so the loads are not serialised on one addition.
                let mut sums = [0f32; LANES];
                for chunk in part.chunks_exact(LANES) {
                    for (sum, v) in sums.iter_mut().zip(chunk) {
                        *sum += v;
                    }
                }
                sums.iter().sum::<f32>()
            })
            .sum::<f32>();
        fastest = fastest.min(start.elapsed().as_secs_f64());
    }
    // Keep the sums observable, so the reads are not optimised away.
    assert!(total > 0.0);
    (values.len() * size_of::<f32>()) as f64 / fastest
}

/// What the cores' fused multiply-add units issue on rayon's threads, with nothing read from
/// memory: 16 independent AVX-512 multiply-add chains per thread (enough to cover their
/// latency on two pipes), in FLOP per second; the fastest of `passes`. With `bf16_dot`, of
/// `vdpbf16ps` (64 FLOP an instruction) instead of `vfmadd231ps` (32). The f32 bound is the one
/// that no f32 matrix kernel passes, to set the kernel's own peak against; the two together say
/// which instruction the bf16 vector kernel should use. `None` without AVX-512 F (and
/// AVX512_BF16 for `bf16_dot`).
fn issue_flops(passes: usize, bf16_dot: bool) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && (!bf16_dot || std::arch::is_x86_feature_detected!("avx512bf16"))
    {
        use rayon::prelude::*;
        const STEPS: u64 = 20_000_000;
        let threads = rayon::current_num_threads();
        let mut fastest = f64::INFINITY;
        for _ in 0..passes {
            let start = Instant::now();
            (0..threads).into_par_iter().for_each(|_| match bf16_dot {
                // SAFETY: the CPU has AVX-512 F and AVX512_BF16 (checked above).
                true => unsafe { dot_bf16_chains(STEPS) },
                // SAFETY: the CPU has AVX-512 F (checked above).
                false => unsafe { fma_chains(STEPS) },
            });
            fastest = fastest.min(start.elapsed().as_secs_f64());
        }
        // 16 instructions a step, 16 lanes each, 2 FLOP a lane (a pair of products for bf16).
        let per_lane = if bf16_dot { 4 } else { 2 };
        return Some((threads as u64 * STEPS * 16 * 16 * per_lane) as f64 / fastest);
    }
    let _ = (passes, bf16_dot);
    None
}

/// `steps` rounds of 16 independent `zmm` multiply-adds `$madd`, from zeroed registers (so no
/// input is subnormal).
#[cfg(target_arch = "x86_64")]
macro_rules! madd_chains {
    ($steps:expr, $madd:literal) => {
        std::arch::asm!(
            "vxorps zmm0, zmm0, zmm0",
            "2:",
            concat!($madd, " zmm1, zmm0, zmm0"),
            concat!($madd, " zmm2, zmm0, zmm0"),
            concat!($madd, " zmm3, zmm0, zmm0"),
            concat!($madd, " zmm4, zmm0, zmm0"),
            concat!($madd, " zmm5, zmm0, zmm0"),
            concat!($madd, " zmm6, zmm0, zmm0"),
            concat!($madd, " zmm7, zmm0, zmm0"),
            concat!($madd, " zmm8, zmm0, zmm0"),
            concat!($madd, " zmm9, zmm0, zmm0"),
            concat!($madd, " zmm10, zmm0, zmm0"),
            concat!($madd, " zmm11, zmm0, zmm0"),
            concat!($madd, " zmm12, zmm0, zmm0"),
            concat!($madd, " zmm13, zmm0, zmm0"),
            concat!($madd, " zmm14, zmm0, zmm0"),
            concat!($madd, " zmm15, zmm0, zmm0"),
            concat!($madd, " zmm16, zmm0, zmm0"),
            "dec {steps}",
            "jnz 2b",
            steps = inout(reg) $steps => _,
            out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _,
            out("zmm5") _, out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _,
            out("zmm10") _, out("zmm11") _, out("zmm12") _, out("zmm13") _, out("zmm14") _,
            out("zmm15") _, out("zmm16") _,
            options(nostack, nomem),
        )
    };
}

/// `steps` rounds of 16 independent `vfmadd231ps`.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_chains(steps: u64) {
    // SAFETY: register-only arithmetic (this function's contract gives AVX-512 F).
    unsafe { madd_chains!(steps, "vfmadd231ps") }
}

/// `steps` rounds of 16 independent `vdpbf16ps`.
///
/// # Safety
/// The CPU must have AVX-512 F and AVX512_BF16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn dot_bf16_chains(steps: u64) {
    // SAFETY: register-only arithmetic (this function's contract gives AVX512_BF16).
    unsafe { madd_chains!(steps, "vdpbf16ps") }
}

/// A `/proc/self/status` memory line (`VmHWM`, `VmRSS`) in MiB.
fn rss_mib(key: &str) -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("no {key} in /proc/self/status"))?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .context("malformed /proc/self/status")?
        .parse()?;
    Ok(kib / 1024.0)
}
