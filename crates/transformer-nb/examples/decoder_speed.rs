//! Times SmolLM2-135M-Instruct from its GGUF file, quantized (as stored) and dequantized to
//! f32, one after the other in one process: load time and memory held, prefill of a 64-token
//! prompt and greedy decoding of 128 tokens after it (KV cache on), on rayon's threads
//! (`RAYON_NUM_THREADS`, default: every core). Medians of `ROUNDS` rounds.
//! `cargo run --release --example decoder_speed [quantized|f32]` (needs scripts/fetch-model.sh);
//! with an argument, only that precision.

use std::time::{Duration, Instant};

use transformer_nb::prelude::*;

const ROUNDS: usize = 3;
const PROMPT_TOKENS: usize = 64;
const NEW_TOKENS: usize = 128;

/// A process's resident memory (`VmRSS`) or its peak (`VmHWM`), in MiB.
fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!("CPU: {cpu}, {} threads", rayon::current_num_threads());
    let id = "HuggingFaceTB/SmolLM2-135M-Instruct";
    let probe = CausalLm::from_pretrained(id)?;
    let path = probe.source().to_path_buf();
    let gguf_mib = std::fs::metadata(&path)?.len() as f64 / (1 << 20) as f64;
    drop(probe);
    println!("GGUF: {} ({gguf_mib:.1} MiB)", path.display());
    println!(
        "| precision | load | weights held | RSS after load | prefill {PROMPT_TOKENS} | decode {NEW_TOKENS} (per token, median) | decode {NEW_TOKENS} (whole) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let only = std::env::args().nth(1);
    for precision in [Precision::Quantized, Precision::F32] {
        if only.as_ref().is_some_and(|p| *p != precision.to_string()) {
            continue;
        }
        let before = rss_mib("VmRSS");
        let t = Instant::now();
        let lm = CausalLm::from_gguf_with(&path, precision)?;
        let load = t.elapsed();
        let rss = rss_mib("VmRSS") - before;
        let text =
            "The history of the printing press begins in the fifteenth century, when ".repeat(8);
        let ids: Vec<u32> = lm.tokenizer().encode(&text)?.ids()[..PROMPT_TOKENS].to_vec();
        let (mut prefill, mut per_token, mut whole) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let mut cache = lm.new_cache();
            let t = Instant::now();
            let mut logits = lm.forward_cached(&ids, &mut cache)?;
            prefill.push(t.elapsed());
            let start = Instant::now();
            let mut steps = Vec::with_capacity(NEW_TOKENS);
            for _ in 0..NEW_TOKENS {
                let next = logits
                    .values()
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i as u32)
                    .unwrap_or(0);
                let t = Instant::now();
                logits = lm.forward_cached(&[next], &mut cache)?;
                steps.push(t.elapsed());
            }
            whole.push(start.elapsed());
            per_token.push(median(steps));
        }
        let prefill = median(prefill);
        let per_token = median(per_token);
        let whole = median(whole);
        println!(
            "| {precision} | {:.2} s | {:.0} MiB | {rss:.0} MiB | {:.0} tokens/s ({:.0} ms) | {:.1} tokens/s ({:.1} ms) | {:.1} tokens/s |",
            load.as_secs_f64(),
            lm.held_bytes() as f64 / (1 << 20) as f64,
            PROMPT_TOKENS as f64 / prefill.as_secs_f64(),
            prefill.as_secs_f64() * 1e3,
            1.0 / per_token.as_secs_f64(),
            per_token.as_secs_f64() * 1e3,
            NEW_TOKENS as f64 / whole.as_secs_f64(),
        );
    }
    Ok(())
}
