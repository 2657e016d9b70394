//! Parity with HF transformers: tokenizer outputs, hidden states, attentions, pooler output and
//! sentence embeddings of all-MiniLM-L6-v2, against tests/reference/all-MiniLM-L6-v2.json
//! (made by scripts/make-references.py with torch + transformers + sentence-transformers).

use crate::util::{as_f32s, as_strings, as_u32s, assert_close, minilm, reference};
use serde_json::Value;
use transformer_nb::prelude::*;

/// Hidden states, attentions and pooler output: HF's tolerance for "the same numbers".
const TOLERANCE: f32 = 1e-4;

fn case(name: &str) -> &'static Value {
    &reference()["cases"][name]
}

fn encode_case(name: &str) -> Vec<Encoding> {
    let case = case(name);
    let inputs = as_strings(&case["inputs"]);
    let tok = minilm().tokenizer();
    match case["kind"].as_str().unwrap() {
        "text" => vec![tok.encode(&inputs[0]).unwrap()],
        "pair" => vec![tok.encode_pair(&inputs[0], &inputs[1]).unwrap()],
        "batch" => tok.encode_batch(&inputs).unwrap().encodings().to_vec(),
        other => panic!("unknown case kind {other}"),
    }
}

fn expected_encodings(name: &str) -> Vec<&'static Value> {
    let case = case(name);
    match case["encodings"].as_array() {
        Some(list) => list.iter().collect(),
        None => vec![case],
    }
}

fn assert_tokenizer_parity(name: &str) {
    let actual = encode_case(name);
    let expected = expected_encodings(name);
    assert_eq!(actual.len(), expected.len(), "{name}: number of encodings");
    for (i, (enc, hf)) in actual.iter().zip(expected).enumerate() {
        let what = format!("{name}[{i}]");
        assert_eq!(enc.tokens(), as_strings(&hf["tokens"]), "{what}: tokens");
        assert_eq!(enc.ids(), as_u32s(&hf["input_ids"]), "{what}: input_ids");
        assert_eq!(
            enc.type_ids(),
            as_u32s(&hf["token_type_ids"]),
            "{what}: token_type_ids"
        );
        assert_eq!(
            enc.attention_mask(),
            as_u32s(&hf["attention_mask"]),
            "{what}: attention_mask"
        );
        assert_eq!(
            enc.special_tokens_mask(),
            as_u32s(&hf["special_tokens_mask"]),
            "{what}: special_tokens_mask"
        );
        let offsets: Vec<(usize, usize)> = hf["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o[0].as_u64().unwrap() as usize,
                    o[1].as_u64().unwrap() as usize,
                )
            })
            .collect();
        assert_eq!(enc.offsets(), offsets, "{what}: offsets");
        let word_ids: Vec<Option<u32>> = hf["word_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_u64().map(|w| w as u32))
            .collect();
        assert_eq!(enc.word_ids(), word_ids, "{what}: word_ids");
    }
}

fn assert_model_parity(name: &str) {
    let bert = minilm();
    let encodings = encode_case(name);
    let out = if encodings.len() == 1 {
        bert.forward(&encodings[0]).unwrap()
    } else {
        bert.forward_batch(
            &bert
                .tokenizer()
                .encode_batch(&as_strings(&case(name)["inputs"]))
                .unwrap(),
        )
        .unwrap()
    };
    let layers = bert.config().num_hidden_layers;
    assert_eq!(out.hidden_states().len(), layers + 1);
    assert_eq!(out.attentions().len(), layers);
    for (b, hf) in case(name)["model"].as_array().unwrap().iter().enumerate() {
        let positions: Vec<usize> = as_u32s(&hf["positions"])
            .into_iter()
            .map(|p| p as usize)
            .collect();
        let keys: Vec<usize> = as_u32s(&hf["keys"])
            .into_iter()
            .map(|k| k as usize)
            .collect();
        let stride = hf["dim_stride"].as_u64().unwrap() as usize;
        let n = hf["length"].as_u64().unwrap() as usize;
        for (l, hf_layer) in hf["hidden_states"].as_array().unwrap().iter().enumerate() {
            let h: Vec<Vec<f32>> = out.hidden_states()[l].get(b).unwrap().to_vec2().unwrap();
            for (p, hf_row) in positions.iter().zip(hf_layer.as_array().unwrap()) {
                let ours: Vec<f32> = h[*p].iter().step_by(stride).copied().collect();
                assert_close(
                    &ours,
                    &as_f32s(hf_row),
                    TOLERANCE,
                    &format!("{name}[{b}] hidden_states[{l}][{p}]"),
                );
            }
            let abs_sum: f64 = h[..n].iter().flatten().map(|v| f64::from(v.abs())).sum();
            let hf_sum = hf["hidden_abs_sums"][l].as_f64().unwrap();
            assert!(
                ((abs_sum - hf_sum) / hf_sum).abs() < 1e-5,
                "{name}[{b}] layer {l}: sum |h| {abs_sum} vs HF {hf_sum}"
            );
        }
        for (l, hf_layer) in hf["attentions"].as_array().unwrap().iter().enumerate() {
            for (head, hf_head) in hf_layer.as_array().unwrap().iter().enumerate() {
                let map = out.attention(b, l, head).unwrap();
                for (p, hf_row) in positions.iter().zip(hf_head.as_array().unwrap()) {
                    let ours: Vec<f32> = keys.iter().map(|&k| map[*p][k]).collect();
                    assert_close(
                        &ours,
                        &as_f32s(hf_row),
                        TOLERANCE,
                        &format!("{name}[{b}] attention[{l}][{head}][{p}]"),
                    );
                }
            }
        }
        let pooler: Vec<Vec<f32>> = out
            .pooler_output()
            .expect("MiniLM has a pooler")
            .to_vec2()
            .unwrap();
        assert_close(
            &pooler[b],
            &as_f32s(&hf["pooler_output"]),
            TOLERANCE,
            &format!("{name}[{b}] pooler_output"),
        );
    }
}

macro_rules! parity_tests {
    ($($name:ident),* $(,)?) => {
        mod tokenizer_matches_hf_real_model {
            $(#[test] fn $name() { super::assert_tokenizer_parity(stringify!($name)); })*
        }
        mod forward_matches_hf_real_model {
            $(#[test] fn $name() { super::assert_model_parity(stringify!($name)); })*
        }
    };
}

parity_tests!(
    english, vietnamese, accents, cjk, emoji, unknown, empty, whitespace, subwords, long, pair,
    batch
);

#[test]
fn the_tutorial_sentence_gives_the_tutorial_tokens_real_model() {
    let enc = minilm().tokenizer().encode("I read a good novel.").unwrap();
    // all-MiniLM-L6-v2 is uncased; bert-base-cased would keep "I".
    assert_eq!(
        enc.tokens(),
        ["[CLS]", "i", "read", "a", "good", "novel", ".", "[SEP]"]
    );
    assert_eq!(enc.attention_mask(), [1; 8]);
}

#[test]
fn a_text_over_512_tokens_is_truncated_and_says_so_real_model() {
    let long = &as_strings(&case("long")["inputs"])[0];
    let enc = minilm().tokenizer().encode(long).unwrap();
    assert_eq!(reference()["model_max_length"].as_u64(), Some(512));
    assert_eq!(enc.len(), 512);
    assert!(enc.is_truncated());
    assert!(!minilm().tokenizer().encode("short").unwrap().is_truncated());
}

#[test]
fn sentence_embeddings_match_sentence_transformers_real_model() {
    let reference = &reference()["embeddings"];
    let texts = as_strings(&reference["texts"]);
    let emb = minilm().embed(&texts).unwrap();
    for (i, (ours, hf)) in emb
        .vectors()
        .iter()
        .zip(reference["vectors"].as_array().unwrap())
        .enumerate()
    {
        assert_close(
            ours,
            &as_f32s(hf),
            TOLERANCE,
            &format!("embedding of text {i}"),
        );
    }
}

#[test]
fn decode_round_trips_like_hf_real_model() {
    let tok = minilm().tokenizer();
    let enc = tok.encode("I read a good novel.").unwrap();
    assert_eq!(
        tok.decode(enc.ids()).unwrap(),
        "[CLS] i read a good novel. [SEP]"
    );
    assert_eq!(
        tok.decode_without_special_tokens(enc.ids()).unwrap(),
        "i read a good novel."
    );
}
