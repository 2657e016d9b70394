//! One model shared by several threads: the types are `Send + Sync`, and every thread gets
//! exactly what a single thread gets. One model run many times: every pass gets what a fresh
//! model gets, whatever ran before (a pass reuses the buffers of the one before it).

use std::sync::Arc;

use crate::util::{minilm, tiny_bert};
use transformer_nb::prelude::*;

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn the_public_types_are_send_and_sync() {
    assert_send_sync::<Bert>();
    assert_send_sync::<Tokenizer>();
    assert_send_sync::<EncoderOutput>();
    assert_send_sync::<Encoding>();
    assert_send_sync::<Batch>();
    assert_send_sync::<Embeddings>();
    assert_send_sync::<PositionalEncoding>();
    assert_send_sync::<Plot>();
    assert_send_sync::<Error>();
    assert_send_sync::<MaskedLm>();
    assert_send_sync::<FillMask>();
    assert_send_sync::<LayerPredictions>();
    assert_send_sync::<AttentionHead>();
    assert_send_sync::<ModelSummary>();
    assert_send_sync::<transformer_nb::view::vega::VegaView>();
}

const TEXTS: [&str; 4] = [
    "i read a good novel.",
    "the cat read",
    "a dog reads a good novel. a cat reads the novel.",
    "good",
];

/// Every output of `forward` for each text, and the embeddings of all of them.
fn results(bert: &Bert) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let forwards = TEXTS
        .iter()
        .map(|text| {
            let out = bert
                .forward(&bert.tokenizer().encode(text).unwrap())
                .unwrap();
            let mut values: Vec<f32> = out
                .hidden_states()
                .iter()
                .chain(out.attentions())
                .flat_map(|t| t.values().to_vec())
                .collect();
            values.extend(out.pooler_output().unwrap().values().to_vec());
            values
        })
        .collect();
    (forwards, bert.embed(&TEXTS).unwrap().vectors().to_vec())
}

#[test]
fn threads_sharing_one_model_get_exactly_the_sequential_results() {
    let (_dir, bert) = tiny_bert();
    let bert = Arc::new(bert);
    let sequential = results(&bert);
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let bert = Arc::clone(&bert);
            std::thread::spawn(move || (0..5).map(|_| results(&bert)).collect::<Vec<_>>())
        })
        .collect();
    for handle in handles {
        for result in handle.join().expect("a thread panicked") {
            assert_eq!(result, sequential);
        }
    }
}

/// Every hidden state and attention of a padded batch, as one list of values, after checking
/// that `last_hidden_state` gives the last of them exactly.
fn batch_values(bert: &Bert, texts: &[&str]) -> Vec<f32> {
    let batch = bert.tokenizer().encode_batch(texts).unwrap();
    let out = bert.forward_batch(&batch).unwrap();
    let values: Vec<f32> = out
        .hidden_states()
        .iter()
        .chain(out.attentions())
        .flat_map(|t| t.values().to_vec())
        .collect();
    // The pass that keeps nothing else ends with the very same values.
    let last = bert.last_hidden_state(&batch).unwrap();
    assert_eq!(last.values(), out.last_hidden_state().values());
    values
}

#[test]
fn a_pass_gets_what_a_fresh_model_gets_after_larger_and_smaller_ones() {
    let (_dir, used) = tiny_bert();
    let (_fresh_dir, fresh) = tiny_bert();
    let long = TEXTS.repeat(3);
    let long_batch = batch_values(&fresh, &long);
    let (_dir_2, fresh_2) = tiny_bert();
    let short = results(&fresh_2);
    // Larger first, then smaller ones, then larger again: the buffers shrink and grow with
    // what the earlier passes left in them.
    assert_eq!(batch_values(&used, &long), long_batch);
    assert_eq!(results(&used), short);
    assert_eq!(batch_values(&used, &long), long_batch);
    assert_eq!(
        batch_values(&used, &TEXTS[..1]),
        batch_values(&fresh, &TEXTS[..1])
    );
}

#[test]
fn outputs_in_buffers_of_dropped_outputs_are_exact_real_model() {
    // Outputs this large (8 × 12 heads × 128² probabilities) reuse the buffers of dropped
    // ones, whose old values must not show through: the padded batch has rows of zeros in its
    // attention maps where the other had probabilities.
    let bert = minilm();
    let padded: Vec<String> = (0..8).map(|i| "a good novel ".repeat(4 + 5 * i)).collect();
    let padded: Vec<&str> = padded.iter().map(String::as_str).collect();
    let full = "the ".repeat(126); // 128 tokens with [CLS] and [SEP]
    let full = vec![full.as_str(); 8];
    let first = batch_values(bert, &padded);
    drop(batch_values(bert, &full));
    assert_eq!(batch_values(bert, &padded), first);
}

#[test]
fn a_tokenizer_shared_by_threads_encodes_as_one_thread_does() {
    let (_dir, bert) = tiny_bert();
    let tokenizer = bert.tokenizer().clone();
    let expected: Vec<Vec<u32>> = TEXTS
        .iter()
        .map(|t| tokenizer.encode(t).unwrap().ids().to_vec())
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..20 {
                    let got: Vec<Vec<u32>> = TEXTS
                        .iter()
                        .map(|t| tokenizer.encode(t).unwrap().ids().to_vec())
                        .collect();
                    assert_eq!(got, expected);
                }
            });
        }
    });
}

/// The result of a forward pass was called `BertOutput` before it was `EncoderOutput`; the old
/// name stays, deprecated, for one release.
#[test]
#[allow(deprecated)]
fn the_former_name_of_the_encoder_output_still_names_it() {
    let (_dir, bert) = crate::util::tiny_bert();
    let out: transformer_nb::BertOutput = bert
        .forward(&bert.tokenizer().encode("a cat").unwrap())
        .unwrap();
    let _: &EncoderOutput = &out;
}
