//! The decoder views on GPT-2 (the seeded model of scripts/make-references.py, fast enough for
//! a debug build): every view builds for an architecture without a rotary embedding, and the
//! logit lens reads each layer through `ln_f` and the tied embeddings, checked here with candle
//! on the checkpoint's own tensors.

use crate::util::write_seeded_gpt2;
use candle_core::{D, Device, Tensor as CandleTensor};
use transformer_nb::prelude::*;

fn gpt2() -> (tempfile::TempDir, CausalLm) {
    let dir = tempfile::tempdir().unwrap();
    write_seeded_gpt2(dir.path());
    let lm = CausalLm::from_dir(dir.path()).unwrap();
    (dir, lm)
}

#[test]
fn every_view_builds_for_gpt2_whose_heads_have_no_rotary_embedding() {
    let (_dir, lm) = gpt2();
    let enc = lm.tokenizer().encode("The cat sat on the mat.").unwrap();
    let out = lm.forward(&enc).unwrap();
    let head = lm.attention_head(&enc, 1, 2).unwrap();
    assert!(head.is_causal() && head.queries_before_rope().is_none());
    assert!(head.attention_before_rope().is_none());
    for (a, b) in head
        .attention()
        .iter()
        .flatten()
        .zip(out.attention(1, 2).unwrap().iter().flatten())
    {
        assert!((a - b).abs() < 1e-5);
    }
    let neuron = lm.neuron_view(&enc, 1, 2).unwrap();
    let params = neuron.spec()["params"].as_array().unwrap();
    assert!(
        params.iter().all(|p| p["name"] != "rope"),
        "no switch without RoPE"
    );
    for view in [
        out.attention_view().unwrap(),
        out.model_view().unwrap(),
        out.next_token(5).unwrap(),
        lm.logit_lens(&enc).unwrap().view().unwrap(),
        neuron,
    ] {
        assert!(view.fallback().to_png().unwrap().starts_with(b"\x89PNG"));
        assert!(view.to_vega_lite().len() < 500_000, "{view}");
    }
    let summary = lm.summary();
    assert_eq!(summary.total_parameters(), lm.parameters());
    assert_eq!(summary.groups()[0].name, "transformer.wte");
    // Nothing generated: still a view, and a picture.
    let none = lm
        .generate("The cat", &GenerateOptions::greedy().max_new_tokens(0))
        .unwrap();
    assert!(none.view().fallback().to_png().is_ok());
}

#[test]
fn the_logit_lens_is_ln_f_and_the_tied_embeddings_on_each_layer() {
    let (dir, lm) = gpt2();
    let enc = lm.tokenizer().encode("I read a good novel").unwrap();
    let out = lm.forward(&enc).unwrap();
    let lens = lm.logit_lens(&enc).unwrap();
    assert_eq!(lens.layers(), 3);
    let tensors =
        candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
    let (wte, weight, bias) = (
        &tensors["wte.weight"],
        &tensors["ln_f.weight"],
        &tensors["ln_f.bias"],
    );
    let n = enc.len();
    // Layers 0 and 1: the hidden state before ln_f; layer 2 is HF's last, already normed.
    for layer in 0..2 {
        let h = out.hidden_states()[layer].values().to_vec();
        let h = CandleTensor::from_vec(h, (n, 32), &Device::Cpu).unwrap();
        let mean = h.mean_keepdim(D::Minus1).unwrap();
        let centred = h.broadcast_sub(&mean).unwrap();
        let var = centred.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
        let normed = centred
            .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(weight)
            .unwrap()
            .broadcast_add(bias)
            .unwrap();
        let logits = normed.matmul(&wte.t().unwrap()).unwrap();
        let probs = candle_nn::ops::softmax_last_dim(&logits).unwrap();
        let probs: Vec<Vec<f32>> = probs.to_vec2().unwrap();
        for (position, row) in probs.iter().enumerate() {
            let top = lens.top(layer, position).unwrap();
            let best = (0..row.len())
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap();
            assert_eq!(
                top[0].id as usize, best,
                "layer {layer}, position {position}"
            );
            for t in top {
                assert!((t.probability - row[t.id as usize]).abs() < 1e-5);
            }
        }
    }
    let model = out.top_tokens_at(n - 1, 5).unwrap();
    let last: Vec<u32> = lens.top(2, n - 1).unwrap().iter().map(|t| t.id).collect();
    assert_eq!(last, model.iter().map(|t| t.id).collect::<Vec<_>>());
}
