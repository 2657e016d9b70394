//! Times our tokenizer against Hugging Face's `tokenizers` crate (what `BertTokenizerFast` runs)
//! on 10,000 generated sentences of 6 to 30 words, tokenized and padded as one batch, alternating
//! the two, fastest of five rounds; checks that both give the same ids.
//! `cargo run --release --example tokenizer_speed` (needs the default model: scripts/fetch-model.sh)

use std::time::{Duration, Instant};

use transformer_nb::prelude::*;

fn main() -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let words = [
        "the",
        "quick",
        "brown",
        "fox",
        "reads",
        "a",
        "good",
        "novel",
        "Tokenization",
        "unbelievably",
        "café",
        "naïve",
        "don't",
        "U.S.A.",
        "25",
        "sách",
        "đọc",
        "读书",
        "🤗",
        "market,",
        "fell",
        "sharply!",
        "today?",
    ];
    // A fixed linear congruential sequence: the same corpus on every run.
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let corpus: Vec<String> = (0..10_000)
        .map(|_| {
            let n = 6 + next() % 25;
            (0..n)
                .map(|_| words[next() % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();

    let ours = Tokenizer::from_pretrained(transformer_nb::hub::DEFAULT_MODEL)?;
    let mut theirs = tokenizers::Tokenizer::from_file(ours.source().join("tokenizer.json"))?;
    theirs.with_padding(Some(tokenizers::PaddingParams::default()));
    theirs.with_truncation(Some(tokenizers::TruncationParams {
        max_length: ours.max_length(),
        ..Default::default()
    }))?;

    let (mut ours_best, mut theirs_best) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        let start = Instant::now();
        let batch = ours.encode_batch(&texts)?;
        ours_best = ours_best.min(start.elapsed());
        let start = Instant::now();
        let hf = theirs.encode_batch_char_offsets(texts.clone(), true)?;
        theirs_best = theirs_best.min(start.elapsed());
        for (o, t) in batch.encodings().iter().zip(&hf) {
            assert_eq!(o.ids(), t.get_ids(), "the two tokenizers disagree");
        }
    }
    let tokens: usize = texts
        .iter()
        .map(|t| ours.encode(t).map(|e| e.len()))
        .sum::<Result<usize>>()?;
    println!(
        "{} sentences ({tokens} tokens): transformer-nb {:.1} ms, tokenizers {:.1} ms",
        texts.len(),
        ours_best.as_secs_f64() * 1e3,
        theirs_best.as_secs_f64() * 1e3
    );
    Ok(())
}
