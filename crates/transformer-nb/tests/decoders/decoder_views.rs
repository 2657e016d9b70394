//! What the decoder views show, on the real SmolLM2-135M-Instruct (its cached GGUF): each view's
//! data is the model's own numbers (attention, probabilities, the logit lens's last row), the
//! rotary embedding is what the neuron view switches, the summary counts as HF does, and the
//! BPE table counts tokens per word. Release builds only, like decoder_parity.
#![cfg(not(debug_assertions))]

use std::sync::OnceLock;

use crate::util::smollm2_gguf;
use transformer_nb::prelude::*;

fn lm() -> &'static CausalLm {
    static LM: OnceLock<CausalLm> = OnceLock::new();
    LM.get_or_init(|| CausalLm::from_gguf(smollm2_gguf()).unwrap())
}

const SENTENCE: &str = "The cat sat on the mat because it was tired.";

#[test]
fn the_attention_head_is_the_forward_passs_and_rope_turns_q_and_k() {
    let lm = lm();
    let enc = lm.tokenizer().encode(SENTENCE).unwrap();
    let out = lm.forward(&enc).unwrap();
    for (layer, head) in [(0, 0), (3, 1), (29, 8)] {
        let h = lm.attention_head(&enc, layer, head).unwrap();
        assert!(h.is_causal());
        let ours = h.attention();
        let model = out.attention(layer, head).unwrap();
        for (a, b) in ours.iter().flatten().zip(model.iter().flatten()) {
            assert!(
                (a - b).abs() < 1e-4,
                "layer {layer} head {head}: {a} vs {b}"
            );
        }
        // Causal: nothing right of the diagonal.
        assert!(
            ours.iter()
                .enumerate()
                .all(|(i, row)| row[i + 1..].iter().all(|&p| p == 0.0))
        );
        // Position 0 is rotated by angle 0: the same vectors; later ones are turned, and keep
        // their length (a rotation).
        let (q0, k0) = (
            h.queries_before_rope().unwrap(),
            h.keys_before_rope().unwrap(),
        );
        assert_eq!(q0[0], h.queries()[0]);
        assert_eq!(k0[0], h.keys()[0]);
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (q0, q) in q0.iter().zip(h.queries()).skip(1) {
            assert_ne!(q0, q);
            assert!((norm(q0) - norm(q)).abs() < 1e-3 * norm(q0));
        }
        assert_ne!(h.attention_before_rope().unwrap(), ours);
    }
    // Grouped-query attention: heads 0, 1 and 2 read key/value head 0.
    let a = lm.attention_head(&enc, 3, 0).unwrap();
    let b = lm.attention_head(&enc, 3, 2).unwrap();
    let c = lm.attention_head(&enc, 3, 3).unwrap();
    assert_eq!(a.keys(), b.keys());
    assert_ne!(a.keys(), c.keys());
    let err = lm.attention_head(&enc, 3, 9).unwrap_err().to_string();
    assert!(
        err.contains("head 9 is out of range: valid values are 0..9"),
        "{err}"
    );
}

#[test]
fn the_logit_lens_ends_in_the_models_own_prediction() {
    let lm = lm();
    let enc = lm.tokenizer().encode("The capital of France is").unwrap();
    let lens = lm.logit_lens(&enc).unwrap();
    let out = lm.forward(&enc).unwrap();
    assert_eq!(lens.layers(), 31);
    assert_eq!(lens.texts(), enc.texts());
    for position in 0..enc.len() {
        let model = out.top_tokens_at(position, 5).unwrap();
        let last = lens.top(30, position).unwrap();
        assert_eq!(
            last.iter().map(|t| t.id).collect::<Vec<_>>(),
            model.iter().map(|t| t.id).collect::<Vec<_>>()
        );
        for (a, b) in last.iter().zip(&model) {
            assert!((a.probability - b.probability).abs() < 1e-5);
        }
    }
    assert_eq!(lens.top(30, 4).unwrap()[0].text, " Paris");
    assert_eq!(lens.next_token(0), Some(enc.ids()[1]));
    assert_eq!(lens.next_token(4), None);
    // Paris is not there from the start: the early layers guess something else.
    let answer = lens.answer_layer();
    assert!(answer > 1 && answer <= 30, "{answer}");
    assert_ne!(lens.top(1, 4).unwrap()[0].text, " Paris");
    let view = lens.view().unwrap();
    let cells = view.spec()["datasets"]["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 31 * 5);
    assert!(view.to_vega_lite().len() < 300_000);
}

#[test]
fn the_next_token_view_carries_exact_probabilities_at_every_temperature() {
    let lm = lm();
    let out = lm
        .forward(&lm.tokenizer().encode("The capital of France is").unwrap())
        .unwrap();
    let view = out.next_token(10).unwrap();
    let spec = view.spec();
    let tokens = spec["datasets"]["tokens"].as_array().unwrap();
    let z: Vec<f64> = spec["params"][2]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(z.len(), 40);
    let logits = out.logits_at(4).unwrap();
    for (t_index, t) in [(1, 0.1), (9, 0.5), (19, 1.0), (39, 2.0)] {
        // The view's formula, exp(l / T - Z[T]), against the softmax of every logit at T.
        let scaled: Vec<f64> = logits.iter().map(|&l| f64::from(l) / t).collect();
        let max = scaled.iter().cloned().fold(f64::MIN, f64::max);
        let sum: f64 = scaled.iter().map(|s| (s - max).exp()).sum();
        for token in tokens {
            let id = token["id"].as_u64().unwrap() as usize;
            let l = token["l"].as_f64().unwrap();
            let view_p = (l / t - z[t_index]).exp();
            let exact = (scaled[id] - max).exp() / sum;
            assert!(
                (view_p - exact).abs() < 2e-3 * exact.max(1e-3),
                "T {t}: {view_p} vs {exact}"
            );
        }
    }
    let top = out.top_next_tokens(10).unwrap();
    assert_eq!(tokens[0]["id"].as_u64().unwrap() as u32, top[0].id);
    assert!((tokens[0]["p1"].as_f64().unwrap() - f64::from(top[0].probability)).abs() < 1e-4);
    assert!(out.next_token(0).is_err() && out.next_token(101).is_err());
}

#[test]
fn views_stay_under_a_megabyte_and_say_how_long_a_text_fits() {
    let lm = lm();
    let out = lm
        .forward(&lm.tokenizer().encode(SENTENCE).unwrap())
        .unwrap();
    for view in [out.attention_view().unwrap(), out.model_view().unwrap()] {
        let spec = view.to_vega_lite();
        let png = view.fallback().to_png().unwrap();
        assert!(2 * spec.len() + png.len() * 4 / 3 < 1_000_000, "{view}");
    }
    let long = "word ".repeat(40);
    let out = lm.forward(&lm.tokenizer().encode(&long).unwrap()).unwrap();
    let err = out.attention_view().unwrap_err().to_string();
    assert!(err.contains("at most 30 tokens"), "{err}");
    // One head of it still draws.
    assert!(out.attention_heatmap(0, 0).is_ok());
}

#[test]
fn the_summary_counts_as_hf_and_prices_the_cache() {
    let lm = lm();
    let s = lm.summary();
    assert_eq!(s.total_parameters(), 134_515_008);
    assert!(s.tied_embeddings());
    assert_eq!(s.f32_bytes(), 134_515_008 * 4);
    assert_eq!(s.held_bytes(), lm.held_bytes());
    assert!(s.held_bytes() < s.f32_bytes() / 4);
    assert_eq!(s.kv_cache_bytes(2048), 2048 * 30 * 2 * 3 * 64 * 4);
    let names: Vec<&str> = s.groups().iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "model.embed_tokens",
            "model.layers.*.input_layernorm",
            "model.layers.*.self_attn",
            "model.layers.*.post_attention_layernorm",
            "model.layers.*.mlp",
            "model.norm"
        ]
    );
    assert!(s.groups()[2].count == 30 && s.groups()[0].count == 1);
    let text = s.to_string();
    assert!(
        text.contains("134,515,008") && text.contains("tied"),
        "{text}"
    );
}

#[test]
fn byte_level_bpe_spends_more_tokens_per_vietnamese_word() {
    let tok = lm().tokenizer();
    let english = tok.encode("I read a good novel.").unwrap();
    let vietnamese = tok.encode("Tôi đọc một cuốn tiểu thuyết hay.").unwrap();
    let (en, vi) = (
        english.tokens_per_word().unwrap(),
        vietnamese.tokens_per_word().unwrap(),
    );
    assert_eq!(english.word_token_counts().len(), 6);
    assert!(vi > 1.5 * en, "{vi} vs {en}");
    // The tokens' bytes are the text's bytes.
    let bytes: Vec<u8> = vietnamese.token_bytes().unwrap().concat();
    assert_eq!(bytes, "Tôi đọc một cuốn tiểu thuyết hay.".as_bytes());
    let words: Vec<String> = vietnamese
        .word_token_counts()
        .into_iter()
        .map(|(w, _)| w)
        .collect();
    assert_eq!(
        words,
        ["Tôi", "đọc", "một", "cuốn", "tiểu", "thuyết", "hay", "."]
    );
    let html = vietnamese.to_html();
    assert!(
        html.contains("tokens per word") && html.contains("20 C4"),
        "{html}"
    );
}
