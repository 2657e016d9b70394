//! Decoders against HF transformers: SmolLM2-135M-Instruct from its GGUF file (dequantized to
//! f32, and kept quantized), with the references of scripts/make-references.py
//! (tests/reference/smollm2-135m-instruct.json).
//!
//! How close is close: a logit is within 1e-4 of the largest |logit| at its position (the
//! logits' scale: ~20 for SmolLM2, so about 2e-3), a hidden state within 1e-4 of its layer's
//! largest |value| (the residual stream grows to a few hundred in the last layers), an
//! attention probability within 1e-4 absolutely. The quantized model multiplies by exactly the
//! values that dequantizing gives (kernels::quant's tests), so it is held to the same bounds:
//! only the order of the sums differs.
//!
//! A 135M-parameter model is slow unoptimised, so these run in release builds only
//! (scripts/test.sh: `cargo test --release --test decoders -- decoder_parity::`, on every kernel set).
#![cfg(not(debug_assertions))]

use std::sync::OnceLock;

use crate::util::{as_f32s, as_u32s, smollm2_gguf};
use serde_json::Value;
use transformer_nb::prelude::*;

fn reference() -> &'static Value {
    crate::util::smollm2_reference()
}

fn f32_model() -> &'static CausalLm {
    static LM: OnceLock<CausalLm> = OnceLock::new();
    LM.get_or_init(|| CausalLm::from_gguf_with(smollm2_gguf(), Precision::F32).unwrap())
}

fn quantized_model() -> &'static CausalLm {
    static LM: OnceLock<CausalLm> = OnceLock::new();
    LM.get_or_init(|| CausalLm::from_gguf(smollm2_gguf()).unwrap())
}

fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Every probe of one prompt: logits, hidden states, attentions.
fn check_prompt(lm: &CausalLm, case: &Value) {
    let text = case["text"].as_str().unwrap();
    let enc = lm.tokenizer().encode(text).unwrap();
    assert_eq!(enc.ids(), as_u32s(&case["ids"]), "ids of {text:?}");
    let out = lm.forward(&enc).unwrap();
    let (seq, vocab) = (enc.len(), lm.config().vocab);
    let logits = out.logits().values();
    let probe = &case["logits"];
    let stride = probe["vocab_stride"].as_u64().unwrap() as usize;
    let mut worst = 0.0f32;
    for p in 0..seq {
        let row = &logits[p * vocab..(p + 1) * vocab];
        let want = as_f32s(&probe["probe"][p]);
        let scale = probe["abs_max"][p].as_f64().unwrap() as f32;
        let ours: Vec<f32> = row.iter().step_by(stride).copied().collect();
        assert_eq!(ours.len(), want.len());
        for (i, (a, b)) in ours.iter().zip(&want).enumerate() {
            let err = (a - b).abs() / scale;
            worst = worst.max(err);
            assert!(
                err <= 1e-4,
                "{text:?} position {p} id {}: {a} vs {b}",
                i * stride
            );
        }
        for (id, value) in as_u32s(&probe["top_ids"][p])
            .iter()
            .zip(as_f32s(&probe["top_values"][p]))
        {
            assert!(
                (row[*id as usize] - value).abs() / scale <= 1e-4,
                "{text:?} position {p} top id {id}"
            );
        }
        let abs_sum: f64 = row.iter().map(|v| f64::from(v.abs())).sum();
        let want_sum = probe["abs_sums"][p].as_f64().unwrap();
        assert!(
            (abs_sum - want_sum).abs() / want_sum < 1e-4,
            "{text:?} abs sum at {p}"
        );
    }
    eprintln!("{text:?}: largest logit error {worst:.1e} of the scale");
    let positions: Vec<usize> = as_u32s(&case["positions"])
        .iter()
        .map(|&p| p as usize)
        .collect();
    let dim_stride = case["dim_stride"].as_u64().unwrap() as usize;
    let hidden = lm.config().hidden;
    assert_eq!(out.hidden_states().len(), 31);
    for (layer, (ours, want)) in out
        .hidden_states()
        .iter()
        .zip(case["hidden_states"].as_array().unwrap())
        .enumerate()
    {
        let values = ours.values();
        let scale = max_abs(values).max(1.0);
        for (k, &p) in positions.iter().enumerate() {
            let row: Vec<f32> = values[p * hidden..(p + 1) * hidden]
                .iter()
                .step_by(dim_stride)
                .copied()
                .collect();
            for (a, b) in row.iter().zip(as_f32s(&want[k])) {
                assert!(
                    (a - b).abs() / scale <= 1e-4,
                    "{text:?} hidden {layer} pos {p}"
                );
            }
        }
        let sum: f64 = values.iter().map(|v| f64::from(v.abs())).sum();
        let want_sum = case["hidden_abs_sums"][layer].as_f64().unwrap();
        assert!(
            (sum - want_sum).abs() / want_sum < 1e-4,
            "{text:?} hidden {layer} sum"
        );
    }
    for (layer, (ours, want)) in out
        .attentions()
        .iter()
        .zip(case["attentions"].as_array().unwrap())
        .enumerate()
    {
        let heads = lm.config().heads;
        assert_eq!(ours.dims(), [1, heads, seq, seq]);
        let values = ours.values();
        for h in 0..heads {
            for (k, &p) in positions.iter().enumerate() {
                let row = &values[(h * seq + p) * seq..][..seq];
                let want = as_f32s(&want[h][k]);
                for (j, (a, b)) in row.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4,
                        "{text:?} layer {layer} head {h} {p}→{j}"
                    );
                }
                assert!(
                    row[p + 1..].iter().all(|&v| v == 0.0),
                    "causal: zero right of {p}"
                );
            }
        }
    }
}

/// Greedy tokens as HF's `generate(do_sample=False)`.
fn check_greedy(lm: &CausalLm, generation: &Value, g: &Generation, what: &str) {
    let want = as_u32s(&generation["new_ids"]);
    assert_eq!(g.ids(), want, "{what}: greedy tokens");
    if generation["stopped_at_eos"].as_bool().unwrap() {
        assert_eq!(g.stop_reason(), StopReason::EndOfSequence, "{what}");
    }
    assert_eq!(
        g.text(),
        generation["text_skip_special"].as_str().unwrap(),
        "{what}: text"
    );
    let _ = lm;
}

#[test]
fn smollm2_f32_matches_hf_at_every_position() {
    for case in reference()["prompts"].as_array().unwrap() {
        check_prompt(f32_model(), case);
    }
}

#[test]
fn smollm2_quantized_matches_the_dequantized_hf_model() {
    for case in reference()["prompts"].as_array().unwrap() {
        check_prompt(quantized_model(), case);
    }
}

#[test]
fn smollm2_generates_hfs_greedy_tokens() {
    for lm in [f32_model(), quantized_model()] {
        for case in reference()["prompts"].as_array().unwrap() {
            let gen_ref = &case["generation"];
            let n = gen_ref["max_new_tokens"].as_u64().unwrap() as usize;
            let text = case["text"].as_str().unwrap();
            let g = lm
                .generate(text, &GenerateOptions::greedy().max_new_tokens(n))
                .unwrap();
            check_greedy(lm, gen_ref, &g, text);
        }
        for case in reference()["chats"].as_array().unwrap() {
            let messages: Vec<ChatMessage> = case["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())
                })
                .collect();
            let prompt = lm.tokenizer().apply_chat_template(&messages, true).unwrap();
            assert_eq!(prompt, case["text"].as_str().unwrap());
            let gen_ref = &case["generation"];
            let n = gen_ref["max_new_tokens"].as_u64().unwrap() as usize;
            let g = lm
                .chat(&messages, &GenerateOptions::greedy().max_new_tokens(n))
                .unwrap();
            assert_eq!(g.prompt_ids(), as_u32s(&case["ids"]));
            check_greedy(lm, gen_ref, &g, &prompt);
        }
    }
}

#[test]
fn a_cached_step_equals_a_full_recompute() {
    let lm = quantized_model();
    let ids = lm
        .tokenizer()
        .encode("The cat sat on the mat because it was")
        .unwrap()
        .ids()
        .to_vec();
    let mut cache = lm.new_cache();
    let mut stepped = lm.forward_cached(&ids[..3], &mut cache).unwrap();
    for i in 3..ids.len() {
        stepped = lm.forward_cached(&ids[i..=i], &mut cache).unwrap();
    }
    assert_eq!(cache.len(), ids.len());
    let mut fresh = lm.new_cache();
    let full = lm.forward_cached(&ids, &mut fresh).unwrap();
    let scale = max_abs(full.values());
    for (a, b) in stepped.values().iter().zip(full.values()) {
        assert!((a - b).abs() / scale <= 1e-4, "{a} vs {b}");
    }
    // And the last row of a full forward with everything kept.
    let out = lm
        .forward(
            &lm.tokenizer()
                .encode("The cat sat on the mat because it was")
                .unwrap(),
        )
        .unwrap();
    let last = out.logits().get(0).unwrap().get(ids.len() - 1).unwrap();
    for (a, b) in last.values().iter().zip(full.values()) {
        assert!((a - b).abs() / scale <= 1e-4);
    }
}

#[test]
fn sampling_is_reproducible_and_differs_by_seed() {
    let lm = quantized_model();
    let opts = |seed| {
        GenerateOptions::sampling(0.8)
            .top_k(50)
            .top_p(0.95)
            .seed(seed)
            .max_new_tokens(12)
    };
    let a = lm.generate("Once upon a time", &opts(7)).unwrap();
    let b = lm.generate("Once upon a time", &opts(7)).unwrap();
    assert_eq!(a, b);
    let others: Vec<Vec<u32>> = (8..12)
        .map(|s| {
            lm.generate("Once upon a time", &opts(s))
                .unwrap()
                .ids()
                .to_vec()
        })
        .collect();
    assert!(
        others.iter().any(|ids| ids != a.ids()),
        "five seeds, one text"
    );
    for step in a.steps() {
        assert!(step.chosen.probability > 0.0 && step.chosen.probability <= 1.0);
        assert_eq!(step.alternatives.len(), 5);
        assert!(
            step.alternatives
                .windows(2)
                .all(|w| w[0].probability >= w[1].probability)
        );
    }
}

#[test]
fn stop_strings_cut_the_text() {
    let lm = quantized_model();
    let g = lm
        .generate(
            "The capital of France is",
            &GenerateOptions::greedy().max_new_tokens(32).stop("."),
        )
        .unwrap();
    assert_eq!(g.stop_reason(), StopReason::StopString);
    assert_eq!(g.text(), " Paris");
}

#[test]
fn the_model_reports_its_size() {
    let reference = reference();
    let lm = f32_model();
    assert_eq!(
        lm.parameters() as u64,
        reference["parameters"].as_u64().unwrap()
    );
    let c = lm.config();
    assert_eq!((c.layers, c.hidden, c.heads, c.kv_heads), (30, 576, 9, 3));
    assert!(c.tied_embeddings);
    // Quantized: Q4_1's 5 bits a weight and the Q8_0 table, well under half the f32 bytes.
    assert!(quantized_model().held_bytes() * 4 < lm.held_bytes());
}

/// SmolLM2 rewritten in HF's layout (config.json, model.safetensors with HF's names and row
/// order, vocab.json + merges.txt from the GGUF's metadata), as `save_pretrained` of HF's
/// dequantized model would write it.
fn write_hf_layout(dir: &std::path::Path) {
    use transformer_nb::gguf::GgufFile;
    let file = GgufFile::open(smollm2_gguf()).unwrap();
    let c = &reference()["config"];
    let (heads, kv_heads, head_dim) = (9, 3, 64);
    // HF's row h·d + j·d/2 + i is GGUF row h·d + 2i + j (transformers' reverse_permute_weights).
    let unpermute = |values: Vec<f32>, n_heads: usize, cols: usize| -> Vec<f32> {
        let mut out = Vec::with_capacity(values.len());
        for h in 0..n_heads {
            for j in 0..2 {
                for i in 0..head_dim / 2 {
                    let r = h * head_dim + 2 * i + j;
                    out.extend_from_slice(&values[r * cols..(r + 1) * cols]);
                }
            }
        }
        out
    };
    let mut tensors = std::collections::HashMap::new();
    for info in file.tensors() {
        let mut values = file.tensor_f32(info).unwrap();
        let shape = info.shape();
        let name = match info.name.as_str() {
            "token_embd.weight" => "model.embed_tokens.weight".to_string(),
            "output_norm.weight" => "model.norm.weight".to_string(),
            other => {
                let mut parts = other.splitn(3, '.');
                let (_, layer, part) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
                let hf = match part {
                    "attn_norm.weight" => "input_layernorm.weight",
                    "ffn_norm.weight" => "post_attention_layernorm.weight",
                    "attn_q.weight" => "self_attn.q_proj.weight",
                    "attn_k.weight" => "self_attn.k_proj.weight",
                    "attn_v.weight" => "self_attn.v_proj.weight",
                    "attn_output.weight" => "self_attn.o_proj.weight",
                    "ffn_gate.weight" => "mlp.gate_proj.weight",
                    "ffn_up.weight" => "mlp.up_proj.weight",
                    "ffn_down.weight" => "mlp.down_proj.weight",
                    other => panic!("unexpected tensor {other}"),
                };
                if part == "attn_q.weight" {
                    values = unpermute(values, heads, shape[1]);
                } else if part == "attn_k.weight" {
                    values = unpermute(values, kv_heads, shape[1]);
                }
                format!("model.layers.{layer}.{hf}")
            }
        };
        let tensor =
            candle_core::Tensor::from_vec(values, shape.as_slice(), &candle_core::Device::Cpu)
                .unwrap();
        tensors.insert(name, tensor);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("config.json"), c.to_string()).unwrap();
    let tokens = file
        .get("tokenizer.ggml.tokens")
        .unwrap()
        .as_array()
        .unwrap();
    let vocab: serde_json::Map<String, Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str().unwrap().to_string(), Value::from(i)))
        .collect();
    std::fs::write(dir.join("vocab.json"), Value::Object(vocab).to_string()).unwrap();
    let merges: Vec<&str> = file
        .get("tokenizer.ggml.merges")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    std::fs::write(
        dir.join("merges.txt"),
        format!("#version: 0.2\n{}\n", merges.join("\n")),
    )
    .unwrap();
}

#[test]
fn smollm2_in_hfs_layout_gives_the_gguf_models_logits() {
    let dir = tempfile::tempdir().unwrap();
    write_hf_layout(dir.path());
    let hf = CausalLm::from_dir(dir.path()).unwrap();
    assert_eq!(hf.config(), f32_model().config());
    for case in reference()["prompts"].as_array().unwrap() {
        let ids = as_u32s(&case["ids"]);
        let ours = hf.forward_cached(&ids, &mut hf.new_cache()).unwrap();
        let gguf = f32_model()
            .forward_cached(&ids, &mut f32_model().new_cache())
            .unwrap();
        let scale = max_abs(gguf.values());
        for (a, b) in ours.values().iter().zip(gguf.values()) {
            assert!((a - b).abs() / scale <= 1e-5, "{a} vs {b}");
        }
    }
}
