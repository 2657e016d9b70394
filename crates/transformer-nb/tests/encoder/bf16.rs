//! The opt-in bf16 precision (`Bert::with_precision(Precision::Bf16)`): its error against HF's
//! f32 outputs stays within bounds that follow from bfloat16's rounding, and a CPU (or a kernel
//! cap) without AVX512_BF16 keeps the model f32 and says so.

use crate::util::{as_f32s, as_strings, last_hidden_values, minilm, reference, tiny_bert};
use transformer_nb::prelude::*;

/// The model in bf16, or `None` (the test is skipped, saying why) on a CPU without AVX512_BF16.
fn bf16_minilm() -> Option<Bert> {
    if !Precision::Bf16.is_available() {
        eprintln!("skipped: this CPU has no AVX512_BF16 (or TRANSFORMER_NB_KERNELS caps it)");
        return None;
    }
    let bert = Bert::from_dir_with(minilm().dir(), Precision::Bf16).unwrap();
    assert_eq!(bert.precision(), Precision::Bf16);
    Some(bert)
}

#[test]
fn hidden_states_stay_within_the_bf16_bound_real_model() {
    let Some(bert) = bf16_minilm() else { return };
    let layers = bert.config().num_hidden_layers;
    let mut worst = vec![0f32; layers + 1];
    // Sum of squares and count of HF's values per layer, for their root mean square.
    let mut squares = vec![(0f64, 0usize); layers + 1];
    for (name, case) in reference()["cases"].as_object().unwrap() {
        let inputs = as_strings(&case["inputs"]);
        let tokenizer = bert.tokenizer();
        let out = match case["kind"].as_str().unwrap() {
            "text" => bert.forward(&tokenizer.encode(&inputs[0]).unwrap()),
            "pair" => bert.forward(&tokenizer.encode_pair(&inputs[0], &inputs[1]).unwrap()),
            _ => bert.forward_batch(&tokenizer.encode_batch(&inputs).unwrap()),
        }
        .unwrap();
        for (b, hf) in case["model"].as_array().unwrap().iter().enumerate() {
            let stride = hf["dim_stride"].as_u64().unwrap() as usize;
            let positions = hf["positions"].as_array().unwrap();
            for (l, hf_layer) in hf["hidden_states"].as_array().unwrap().iter().enumerate() {
                let h: Vec<Vec<f32>> = out.hidden_states()[l].get(b).unwrap().to_vec2().unwrap();
                for (p, hf_row) in positions.iter().zip(hf_layer.as_array().unwrap()) {
                    let p = p.as_u64().unwrap() as usize;
                    for (ours, theirs) in h[p].iter().step_by(stride).zip(as_f32s(hf_row)) {
                        let error = (ours - theirs).abs();
                        squares[l].0 += f64::from(theirs * theirs);
                        squares[l].1 += 1;
                        if error > worst[l] {
                            worst[l] = error;
                        }
                        assert!(error.is_finite(), "{name}[{b}] layer {l} position {p}");
                    }
                }
            }
        }
    }
    eprintln!("bf16: max |error| of the hidden states per layer (0 = embeddings): {worst:?}");
    // The embeddings do not go through a matrix product: exact as in f32.
    assert!(worst[0] <= 1e-4, "embeddings: {}", worst[0]);
    for (l, error) in worst.iter().enumerate().skip(1) {
        let rms = (squares[l].0 / squares[l].1 as f64).sqrt() as f32;
        let bound = bound(l, rms);
        eprintln!(
            "bf16: layer {l}: max |error| {error:.4}, rms of the values {rms:.3}, bound {bound:.4}"
        );
        assert!(*error <= bound, "layer {l}: max |error| {error} > {bound}");
    }
}

/// The bound on any hidden-state value of layer `layer` (from 1), whose values have root mean
/// square `rms`.
///
/// Rounding to nearest bfloat16 moves a value by a uniformly distributed fraction of at most
/// u = 2⁻⁸ of itself (standard deviation u/√3). In a product `y = Σ xᵢwᵢ` both factors are
/// rounded, so `y` moves by `Σ xᵢwᵢ(εᵢ + ηᵢ)`, whose standard deviation is `u·√(2/3)·‖x∘w‖`:
/// about `u·√(2/3)` of `y`'s own scale when the terms have unrelated signs. A layer has four
/// products; errors of independent products add in quadrature, and each layer's output is
/// normalised, so after `layer` layers a value's error has standard deviation about
/// `√(4·layer)·u·√(2/3)·rms`. Over the thousands of values compared the largest of them
/// reaches about 4 of those standard deviations; the bound allows 6.
fn bound(layer: usize, rms: f32) -> f32 {
    const U: f32 = 1.0 / 256.0;
    let sigma = (4.0 * layer as f32).sqrt() * U * (2.0f32 / 3.0).sqrt() * rms;
    6.0 * sigma
}

#[test]
fn embeddings_keep_their_direction_real_model() {
    let Some(bert) = bf16_minilm() else { return };
    let reference = &reference()["embeddings"];
    let texts = as_strings(&reference["texts"]);
    let emb = bert.embed(&texts).unwrap();
    let mut lowest = 1f32;
    for (ours, hf) in emb
        .vectors()
        .iter()
        .zip(reference["vectors"].as_array().unwrap())
    {
        let hf = as_f32s(hf);
        let dot: f32 = ours.iter().zip(&hf).map(|(a, b)| a * b).sum();
        let norms = ours.iter().map(|a| a * a).sum::<f32>().sqrt()
            * hf.iter().map(|b| b * b).sum::<f32>().sqrt();
        lowest = lowest.min(dot / norms);
    }
    eprintln!("bf16: lowest cosine between our embedding and sentence-transformers': {lowest}");
    // Two sentences that mean different things are below 0.9; paraphrases about 0.9. An
    // embedding within 0.999 of the f32 one ranks neighbours as the f32 one does.
    assert!(lowest >= 0.999, "lowest cosine {lowest}");
}

#[test]
fn the_summary_counts_bf16_weights_and_f32_comes_back() {
    let (_dir, bert) = tiny_bert();
    let f32_summary = bert.summary();
    if !Precision::Bf16.is_available() {
        eprintln!("skipped: this CPU has no AVX512_BF16");
        return;
    }
    let bert = bert.with_precision(Precision::Bf16);
    let summary = bert.summary();
    assert_eq!(summary.total_parameters(), f32_summary.total_parameters());
    let attention = &summary.modules()[1];
    assert_eq!(attention.name, "encoder.layer.0.attention");
    assert_eq!(attention.dtype, "bf16 + f32");
    assert!(summary.total_bytes() < f32_summary.total_bytes());
    assert!(summary.held_bytes() < f32_summary.held_bytes());
    assert_eq!(summary.modules()[0].dtype, "f32", "embeddings stay f32");
    let bert = bert.with_precision(Precision::F32);
    assert_eq!(bert.precision(), Precision::F32);
    assert_eq!(bert.summary(), f32_summary);
}

/// Runs [`capped_child`] in a process whose kernels are capped at AVX2, where bf16 is never
/// available, and checks what it printed.
#[test]
fn without_avx512_bf16_the_model_stays_f32_and_says_so() {
    let stderr =
        crate::util::run_child_test("bf16::capped_child", &[("TRANSFORMER_NB_KERNELS", "avx2")]);
    assert!(
        stderr.contains("bf16 needs AVX-512 with AVX512_BF16")
            && stderr.contains("the model stays f32"),
        "{stderr}"
    );
}

/// The child of the test above: ignored when run directly.
#[test]
#[ignore = "run by without_avx512_bf16_the_model_stays_f32_and_says_so"]
fn capped_child() {
    assert_eq!(
        std::env::var("TRANSFORMER_NB_KERNELS").as_deref(),
        Ok("avx2")
    );
    assert!(!Precision::Bf16.is_available());
    let (_dir, bert) = tiny_bert();
    let before = last_hidden_values(&bert, "a cat");
    let bert = bert.with_precision(Precision::Bf16);
    assert_eq!(bert.precision(), Precision::F32);
    assert_eq!(bert.summary().modules()[1].dtype, "f32");
    assert_eq!(last_hidden_values(&bert, "a cat"), before);
}

#[test]
fn loading_in_bf16_equals_converting_after_loading() {
    if !Precision::Bf16.is_available() {
        eprintln!("skipped: this CPU has no AVX512_BF16");
        return;
    }
    let (dir, converted) = tiny_bert();
    let converted = converted.with_precision(Precision::Bf16);
    let loaded = Bert::from_dir_with(dir.path(), Precision::Bf16).unwrap();
    assert_eq!(loaded.precision(), Precision::Bf16);
    assert_eq!(loaded.summary(), converted.summary());
    assert_eq!(
        last_hidden_values(&loaded, "a cat and a dog"),
        last_hidden_values(&converted, "a cat and a dog")
    );
}
