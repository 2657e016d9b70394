//! GPT-2 against HF transformers: the seeded tiny `GPT2LMHeadModel` of
//! scripts/make-references.py with GPT-2's real vocabulary (tests/reference/gpt2-seeded.json),
//! every hidden state and attention map in full, the logits' probes and 20 greedy tokens.

use std::sync::OnceLock;

use crate::util::{as_f32s, as_u32s, gpt2_seeded_reference, write_seeded_gpt2};
use transformer_nb::prelude::*;

fn gpt2() -> &'static CausalLm {
    static LM: OnceLock<(tempfile::TempDir, CausalLm)> = OnceLock::new();
    &LM.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write_seeded_gpt2(dir.path());
        let lm = CausalLm::from_dir(dir.path()).unwrap();
        (dir, lm)
    })
    .1
}

#[test]
fn every_hidden_state_attention_and_logit_matches_hf() {
    let lm = gpt2();
    assert_eq!(lm.config().architecture, "gpt2");
    for case in gpt2_seeded_reference()["texts"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let enc = lm.tokenizer().encode(text).unwrap();
        assert_eq!(enc.ids(), as_u32s(&case["ids"]), "ids of {text:?}");
        let out = lm.forward(&enc).unwrap();
        let seq = enc.len();
        for (layer, (ours, want)) in out
            .hidden_states()
            .iter()
            .zip(case["hidden_states"].as_array().unwrap())
            .enumerate()
        {
            let want: Vec<f32> = want.as_array().unwrap().iter().flat_map(as_f32s).collect();
            crate::util::assert_close(
                ours.values(),
                &want,
                1e-4,
                &format!("{text:?} hidden {layer}"),
            );
        }
        for (layer, (ours, want)) in out
            .attentions()
            .iter()
            .zip(case["attentions"].as_array().unwrap())
            .enumerate()
        {
            let want: Vec<f32> = want
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|head| head.as_array().unwrap().iter().flat_map(as_f32s))
                .collect();
            assert_eq!(ours.dims(), [1, 4, seq, seq]);
            crate::util::assert_close(
                ours.values(),
                &want,
                1e-4,
                &format!("{text:?} attention {layer}"),
            );
        }
        let vocab = lm.config().vocab;
        let probe = &case["logits"];
        let stride = probe["vocab_stride"].as_u64().unwrap() as usize;
        for p in 0..seq {
            let row = &out.logits().values()[p * vocab..(p + 1) * vocab];
            let ours: Vec<f32> = row.iter().step_by(stride).copied().collect();
            crate::util::assert_close(&ours, &as_f32s(&probe["probe"][p]), 1e-4, "logits");
            let sum: f64 = row.iter().map(|v| f64::from(v.abs())).sum();
            let want = probe["abs_sums"][p].as_f64().unwrap();
            assert!((sum - want).abs() / want < 1e-5, "{text:?} abs sum at {p}");
        }
        let generation = &case["generation"];
        let n = generation["max_new_tokens"].as_u64().unwrap() as usize;
        let g = lm
            .generate(text, &GenerateOptions::greedy().max_new_tokens(n))
            .unwrap();
        assert_eq!(g.ids(), as_u32s(&generation["new_ids"]), "{text:?} greedy");
    }
}

#[test]
fn a_left_padded_batch_gives_each_text_its_own_results() {
    let lm = gpt2();
    let texts = ["Hello world", "A longer text, with more tokens in it."];
    let encs: Vec<Encoding> = texts
        .iter()
        .map(|t| lm.tokenizer().encode(t).unwrap())
        .collect();
    let batch = lm.forward_batch(&encs).unwrap();
    let seq = encs[1].len();
    let pad = seq - encs[0].len();
    assert_eq!(batch.attention_mask()[0][..pad], vec![0; pad][..]);
    let alone = lm.forward(&encs[0]).unwrap();
    let vocab = lm.config().vocab;
    let padded = &batch.logits().values()[pad * vocab..seq * vocab];
    crate::util::assert_close(padded, alone.logits().values(), 1e-5, "left-padded logits");
    assert!(
        batch.logits().values()[..pad * vocab]
            .iter()
            .all(|&v| v == 0.0)
    );
}

#[test]
fn a_generation_shows_its_tokens_shaded_by_probability() {
    let lm = gpt2();
    let g = lm
        .generate("Hello world", &GenerateOptions::greedy().max_new_tokens(6))
        .unwrap();
    let html = g.to_html();
    assert_eq!(html.matches("<td style=").count(), 2 * g.steps().len());
    for step in g.steps() {
        let alt = &step.alternatives[0];
        // The chosen token of greedy decoding is the likeliest one.
        assert_eq!(alt.id, step.chosen.id);
        assert!(html.contains(&format!("{:.0}%", step.chosen.probability * 100.0)));
    }
    assert!(!html.contains("<script") && !html.contains("<style"));
    let text = g.to_string();
    assert!(text.starts_with(g.text()) && text.contains("6 tokens"));
    let out = lm
        .forward(&lm.tokenizer().encode("Hello world").unwrap())
        .unwrap();
    let top = out.top_next_tokens(5).unwrap();
    assert_eq!(top[0].id, g.ids()[0]);
    assert!(out.to_html().contains("logits"));
    let map = out.attention(1, 2).unwrap();
    assert!(
        map.iter()
            .enumerate()
            .all(|(r, row)| row[r + 1..].iter().all(|&v| v == 0.0))
    );
    let svg = out.attention_heatmap(1, 2).unwrap().to_svg();
    assert!(svg.contains("Hello") && svg.contains("world"));
    assert!(out.attention_heatmap(2, 0).is_err());
}
