//! Our side of the decoder benchmark (`scripts/bench.sh`, `scripts/bench/decoder.py`): one
//! measurement per process, so that each peer's peak memory is its own.
//!
//! - `cargo bench --bench decoder -- ids GGUF TEXT N`: the first `N` token ids of `TEXT`
//!   repeated, as JSON (the prompt every peer is given).
//! - `cargo bench --bench decoder -- run GGUF PRECISION IDS NEW`: loads `GGUF` at `PRECISION`
//!   (`quantized` or `f32`), then prefills the first 64 and all of the ids in `IDS` (a JSON
//!   file of ids) and greedily decodes `NEW` tokens after the first 64, KV cache on; prints one
//!   JSON line: seconds for the load, each prefill, each decoding step and the whole decode,
//!   the greedy tokens, the peak resident memory (`VmHWM`, at the end and after the load), the
//!   bytes of weights held and of
//!   KV cache per token.
//! - `cargo bench --bench decoder -- generate GGUF NEW`: seconds of `lm.generate` for `NEW`
//!   tokens, greedy and sampled (the whole loop: the passes, the draws, the steps kept).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;
use transformer_nb::prelude::*;

/// Tokens of the short prompt, prefilled alone and decoded after.
const SHORT: usize = 64;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn argmax(values: &[f32]) -> u32 {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u32)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["ids", gguf, text, n] => {
            let lm = CausalLm::from_gguf(gguf)?;
            let n: usize = n.parse()?;
            let mut ids: Vec<u32> = Vec::new();
            while ids.len() < n {
                ids.extend(lm.tokenizer().encode(text)?.ids());
            }
            ids.truncate(n);
            println!("{}", json!(ids));
        }
        ["run", gguf, precision, ids, new] => {
            let precision = match precision {
                "quantized" => Precision::Quantized,
                "f32" => Precision::F32,
                other => bail!("precision {other:?}: use quantized or f32"),
            };
            let ids: Vec<u32> = serde_json::from_str(
                &std::fs::read_to_string(ids).with_context(|| format!("reading {ids}"))?,
            )?;
            let new: usize = new.parse()?;
            let t = Instant::now();
            let lm = CausalLm::from_gguf_with(gguf, precision)?;
            let load = t.elapsed().as_secs_f64();
            let peak_after_load = peak_rss_mib();
            // A first short pass: the thread pool and the page faults of the first use.
            lm.forward_cached(&ids[..8], &mut lm.new_cache())?;
            let prefill = |ids: &[u32]| -> Result<f64> {
                let t = Instant::now();
                lm.forward_cached(ids, &mut lm.new_cache())?;
                Ok(t.elapsed().as_secs_f64())
            };
            let prefill_long = prefill(&ids)?;
            let prefill_short = prefill(&ids[..SHORT])?;
            let mut cache = lm.new_cache();
            let mut logits = lm.forward_cached(&ids[..SHORT], &mut cache)?;
            let (mut steps, mut tokens) = (Vec::with_capacity(new), Vec::with_capacity(new));
            let start = Instant::now();
            for _ in 0..new {
                let next = argmax(logits.values());
                tokens.push(next);
                let t = Instant::now();
                logits = lm.forward_cached(&[next], &mut cache)?;
                steps.push(t.elapsed().as_secs_f64());
            }
            let whole = start.elapsed().as_secs_f64();
            println!(
                "{}",
                json!({
                    "load_s": load,
                    "prefill_short_s": prefill_short,
                    "prefill_long_s": prefill_long,
                    "long_tokens": ids.len(),
                    "steps_s": steps,
                    "decode_s": whole,
                    "tokens": tokens,
                    "peak_rss_mib": peak_rss_mib(),
                    "peak_after_load_mib": peak_after_load,
                    "weight_bytes": lm.held_bytes(),
                    "kv_bytes_per_token": lm.summary().kv_cache_bytes(1),
                    "threads": rayon::current_num_threads(),
                })
            );
        }
        ["generate", gguf, new] => {
            // What notebook 06's sampling cell does: the generation loop, sampling included.
            let lm = CausalLm::from_gguf(gguf)?;
            let new: usize = new.parse()?;
            let prompt = "Once upon a time, in a small village,";
            lm.generate(prompt, &GenerateOptions::greedy().max_new_tokens(2))?;
            let mut cases = Vec::new();
            for (name, options) in [
                ("greedy", GenerateOptions::greedy()),
                ("sampling", GenerateOptions::sampling(0.8).seed(42)),
            ] {
                let t = Instant::now();
                let g = lm.generate(prompt, &options.max_new_tokens(new))?;
                let s = t.elapsed().as_secs_f64();
                cases.push(json!({"case": name, "tokens": g.ids().len(), "seconds": s}));
            }
            println!("{}", json!(cases));
        }
        _ => bail!(
            "usage: decoder ids GGUF TEXT N | decoder run GGUF quantized|f32 IDS NEW | \
             decoder generate GGUF NEW"
        ),
    }
    Ok(())
}
