//! One encoder layer rebuilt by hand from a head's parts and the checkpoint's weights, as
//! notebook 07 does: every head's context (`attention · values`), the heads side by side, the
//! output projection `W_O`, the residual and LayerNorm, the feed-forward, the second residual
//! and LayerNorm, which must give the layer's hidden state that `forward` returns.

use std::collections::HashMap;

use candle_core::Device;
use transformer_nb::prelude::*;

use crate::util::{TinyConfig, write_tiny_bert};

type Weights = HashMap<String, candle_core::Tensor>;

fn values(weights: &Weights, name: &str) -> Vec<f32> {
    weights[name].flatten_all().unwrap().to_vec1().unwrap()
}

/// `x · Wᵀ + b` for a PyTorch `Linear` of `out × in` weights, row by row.
fn linear(weights: &Weights, prefix: &str, x: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let w = values(weights, &format!("{prefix}.weight"));
    let b = values(weights, &format!("{prefix}.bias"));
    x.iter()
        .map(|row| {
            b.iter()
                .enumerate()
                .map(|(o, bias)| {
                    let w_row = &w[o * row.len()..(o + 1) * row.len()];
                    bias + w_row.iter().zip(row).map(|(w, x)| w * x).sum::<f32>()
                })
                .collect()
        })
        .collect()
}

fn layer_norm_rows(weights: &Weights, prefix: &str, x: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let gamma = values(weights, &format!("{prefix}.weight"));
    let beta = values(weights, &format!("{prefix}.bias"));
    x.iter()
        .map(|row| {
            let n = row.len() as f32;
            let mean = row.iter().sum::<f32>() / n;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
            let scale = 1.0 / (var + 1e-12).sqrt();
            row.iter()
                .zip(gamma.iter().zip(&beta))
                .map(|(v, (g, b))| (v - mean) * scale * g + b)
                .collect()
        })
        .collect()
}

fn add(a: &[Vec<f32>], b: &[Vec<f32>]) -> Vec<Vec<f32>> {
    a.iter()
        .zip(b)
        .map(|(a, b)| a.iter().zip(b).map(|(a, b)| a + b).collect())
        .collect()
}

/// GELU with erf, as BERT's `hidden_act: "gelu"`; erf from Abramowitz and Stegun 7.1.26 is too
/// coarse for 1e-5, so it is summed from its Taylor series, which converges for these inputs.
fn gelu_by_series(x: f32) -> f32 {
    let z = f64::from(x) / std::f64::consts::SQRT_2;
    let (mut term, mut sum) = (z, z);
    for n in 1..200 {
        term *= -z * z / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    let erf = sum * 2.0 / std::f64::consts::PI.sqrt();
    (0.5 * f64::from(x) * (1.0 + erf)) as f32
}

fn rows(tensor: &Tensor, n: usize) -> Vec<Vec<f32>> {
    let width = tensor.dims()[2];
    tensor.values()[..n * width]
        .chunks(width)
        .map(<[f32]>::to_vec)
        .collect()
}

/// A tiny random BERT in a temporary folder, and its checkpoint's tensors read by candle.
fn tiny_bert_and_its_weights() -> (tempfile::TempDir, Bert, Weights) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, shape| shape);
    let bert = Bert::from_dir(dir.path()).unwrap();
    let weights =
        candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
    (dir, bert, weights)
}

#[test]
fn a_layer_rebuilt_from_its_heads_equals_the_forward_pass() {
    let (_dir, bert, weights) = tiny_bert_and_its_weights();
    let config = TinyConfig::default();
    let enc = bert.tokenizer().encode("i read a good novel.").unwrap();
    let out = bert.forward(&enc).unwrap();
    let n = enc.len();
    let layer = 1;
    let prefix = format!("encoder.layer.{layer}");
    let input = rows(&out.hidden_states()[layer], n);

    // The values are the input through the value projection, cut into heads.
    let all_values = linear(&weights, &format!("{prefix}.attention.self.value"), &input);
    let d = config.hidden / config.heads;
    let mut concatenated = vec![Vec::new(); n];
    for h in 0..config.heads {
        let head = bert.attention_head(&enc, layer, h).unwrap();
        for (ours, all) in head.values().iter().zip(&all_values) {
            for (a, b) in ours.iter().zip(&all[h * d..(h + 1) * d]) {
                assert!((a - b).abs() < 1e-5, "head {h}: value {a} against {b}");
            }
        }
        for (row, context) in concatenated.iter_mut().zip(head.context()) {
            row.extend(context);
        }
    }

    let projected = linear(
        &weights,
        &format!("{prefix}.attention.output.dense"),
        &concatenated,
    );
    let attended = layer_norm_rows(
        &weights,
        &format!("{prefix}.attention.output.LayerNorm"),
        &add(&projected, &input),
    );
    let inner: Vec<Vec<f32>> = linear(&weights, &format!("{prefix}.intermediate.dense"), &attended)
        .into_iter()
        .map(|row| row.into_iter().map(gelu_by_series).collect())
        .collect();
    let ffn = linear(&weights, &format!("{prefix}.output.dense"), &inner);
    let by_hand = layer_norm_rows(
        &weights,
        &format!("{prefix}.output.LayerNorm"),
        &add(&ffn, &attended),
    );

    let want = rows(&out.hidden_states()[layer + 1], n);
    for (i, (ours, theirs)) in by_hand.iter().zip(&want).enumerate() {
        for (a, b) in ours.iter().zip(theirs) {
            assert!(
                (a - b).abs() < 1e-4,
                "token {i}: {a} by hand, {b} from forward"
            );
        }
    }
}

#[test]
fn the_checkpoint_is_read_by_hf_names() {
    let (_dir, bert, weights) = tiny_bert_and_its_weights();
    let names = bert.weight_names().unwrap();
    assert_eq!(names.len(), weights.len());
    for name in &names {
        let ours = bert.weight(name).unwrap();
        assert_eq!(ours.dims(), weights[name].dims(), "{name}");
        assert_eq!(ours.values(), values(&weights, name), "{name}");
    }
    let err = bert
        .weight("encoder.layer.7.output.dense.weight")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encoder.layer.7.output.dense.weight") && err.contains("weight_names"),
        "{err}"
    );
}

#[test]
fn the_functions_of_a_layer_are_their_definitions() {
    use transformer_nb::functional::{gelu, layer_norm, linear, softmax};

    let x: Vec<f32> = (0..16).map(|i| (i as f32 - 7.5) / 3.0).collect();
    for (ours, theirs) in gelu(&x).iter().zip(x.iter().map(|&v| gelu_by_series(v))) {
        assert!(
            (ours - theirs).abs() < 1e-6,
            "gelu: {ours} against {theirs}"
        );
    }
    let p = softmax(&x);
    let z: f32 = x.iter().map(|v| v.exp()).sum();
    for (p, v) in p.iter().zip(&x) {
        assert!((p - v.exp() / z).abs() < 1e-6);
    }
    let gamma: Vec<f32> = (0..16).map(|i| 1.0 + i as f32 / 10.0).collect();
    let beta = vec![0.25; 16];
    let mut weights = Weights::new();
    weights.insert(
        "n.weight".into(),
        candle_core::Tensor::new(gamma.as_slice(), &Device::Cpu).unwrap(),
    );
    weights.insert(
        "n.bias".into(),
        candle_core::Tensor::new(beta.as_slice(), &Device::Cpu).unwrap(),
    );
    let ours = layer_norm(&x, &gamma, &beta, 1e-12).unwrap();
    let theirs = &layer_norm_rows(&weights, "n", std::slice::from_ref(&x))[0];
    for (a, b) in ours.iter().zip(theirs) {
        assert!((a - b).abs() < 1e-5, "layer_norm: {a} against {b}");
    }
    let w = Tensor::from_vec((0..48).map(|i| i as f32 / 48.0).collect(), [3, 16]).unwrap();
    let y = linear(&x, &w, None).unwrap();
    let want: f32 = (0..16).map(|i| w.values()[16 + i] * x[i]).sum();
    assert!((y[1] - want).abs() < 1e-5);
    // Sizes that do not fit are errors that say so, not panics.
    let err = linear(&x[..5], &w, None).unwrap_err().to_string();
    assert!(
        err.contains("x has 5 values") && err.contains("[3, 16]"),
        "{err}"
    );
    assert!(layer_norm(&x, &gamma[..3], &beta, 1e-12).is_err());
    let bias = Tensor::from_vec(vec![0.0; 2], [2]).unwrap();
    assert!(linear(&x, &w, Some(&bias)).is_err());
}
