//! Our forward pass against candle-transformers' BertModel on the same weights: a tiny random
//! BERT, and the real all-MiniLM-L6-v2. (candle-transformers returns the last hidden state
//! only, which is why this crate has its own encoder; the two must agree on it.)

use crate::util::{assert_close, minilm, tiny_bert};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{BertModel, Config};
use transformer_nb::prelude::*;

fn candle_transformers_last_hidden(bert: &Bert, batch: &Batch) -> Vec<f32> {
    let dir = bert.dir();
    let config: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let weights = dir.join("model.safetensors");
    // SAFETY: test-owned files, not modified while mapped.
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu)
            .unwrap()
    };
    let model = BertModel::load(vb, &config).unwrap();
    let rows = |f: fn(&Encoding) -> &[u32]| {
        let flat: Vec<u32> = batch
            .encodings()
            .iter()
            .flat_map(|e| f(e).to_vec())
            .collect();
        Tensor::from_vec(flat, (batch.len(), batch.seq_len()), &Device::Cpu).unwrap()
    };
    let out = model
        .forward(
            &rows(Encoding::ids),
            &rows(Encoding::type_ids),
            Some(&rows(Encoding::attention_mask)),
        )
        .unwrap();
    out.flatten_all().unwrap().to_vec1().unwrap()
}

fn ours_last_hidden(bert: &Bert, batch: &Batch) -> Vec<f32> {
    let out = bert.forward_batch(batch).unwrap();
    out.last_hidden_state().values().to_vec()
}

/// Compares only unpadded positions: what a padded query row contains is irrelevant and the
/// two implementations may differ there.
fn assert_same_on_real_tokens(bert: &Bert, batch: &Batch, tol: f32) {
    let ours = ours_last_hidden(bert, batch);
    let theirs = candle_transformers_last_hidden(bert, batch);
    let hidden = bert.config().hidden_size;
    for (b, enc) in batch.encodings().iter().enumerate() {
        for (p, &mask) in enc.attention_mask().iter().enumerate() {
            if mask == 1 {
                let start = (b * batch.seq_len() + p) * hidden;
                assert_close(
                    &ours[start..start + hidden],
                    &theirs[start..start + hidden],
                    tol,
                    &format!("sequence {b}, position {p}"),
                );
            }
        }
    }
}

#[test]
fn tiny_random_bert_agrees_with_candle_transformers() {
    let (_dir, bert) = tiny_bert();
    let batch = bert
        .tokenizer()
        .encode_batch(&["i read a good novel .", "the cat", "dogs"])
        .unwrap();
    assert_same_on_real_tokens(&bert, &batch, 1e-5);
}

#[test]
fn all_minilm_agrees_with_candle_transformers_real_model() {
    let bert = minilm();
    let batch = bert
        .tokenizer()
        .encode_batch(&[
            "I read a good novel.",
            "Tôi đọc một cuốn tiểu thuyết hay.",
            "short",
        ])
        .unwrap();
    assert_same_on_real_tokens(bert, &batch, 1e-4);
}
