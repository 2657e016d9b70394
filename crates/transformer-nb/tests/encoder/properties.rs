//! Property tests: generated inputs (shrunk to a minimal case when one fails) through the public
//! API. Every answer must be `Ok` with the documented invariants, or a clear error; a panic fails
//! the test. Case counts are set per test so that the whole file runs in seconds.
//!
//! The kernels' own property test (any matrix shape on every instruction set against an f64
//! reference) is beside them, in `src/kernels/gemm.rs`.

use std::path::Path;
use std::sync::OnceLock;

use crate::util::{TinyConfig, minilm, write_tiny_bert};
use proptest::prelude::*;
use transformer_nb::prelude::*;

/// A tiny model, written and loaded once per test binary.
fn tiny() -> &'static (tempfile::TempDir, Bert) {
    static TINY: OnceLock<(tempfile::TempDir, Bert)> = OnceLock::new();
    TINY.get_or_init(crate::util::tiny_bert)
}

/// Text of any Unicode scalar values, biased towards the awkward ones: controls, NUL, bidi
/// marks, joiners, combining marks, private use, non-characters, and the tiny model's words.
fn any_text() -> impl Strategy<Value = String> {
    let awkward = prop_oneof![
        Just('\0'),
        Just('\u{7}'),
        Just('\u{202e}'),
        Just('\u{200d}'),
        Just('\u{301}'),
        Just('\u{e000}'),
        Just('\u{ffff}'),
        Just('\u{10ffff}'),
        Just(' '),
        Just('.'),
    ];
    let words = prop_oneof![
        Just("i".to_string()),
        Just("read".to_string()),
        Just("novel".to_string()),
        Just("cats".to_string()),
    ];
    let piece = prop_oneof![
        4 => any::<char>().prop_map(String::from),
        3 => awkward.prop_map(String::from),
        3 => words.prop_map(|w| format!(" {w} ")),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Tokenize → forward → embed on the tiny model: shapes agree, attention rows sum to 1,
    /// embeddings have length 1; an empty text is the documented error.
    #[test]
    fn any_text_tokenizes_runs_and_embeds(text in any_text()) {
        let bert = &tiny().1;
        let enc = bert.tokenizer().encode(&text).unwrap();
        prop_assert_eq!(enc.tokens().first().map(String::as_str), Some("[CLS]"));
        prop_assert_eq!(enc.tokens().last().map(String::as_str), Some("[SEP]"));
        prop_assert!(enc.len() <= bert.tokenizer().max_length());
        prop_assert_eq!(enc.ids().len(), enc.type_ids().len());
        let out = bert.forward(&enc).unwrap();
        prop_assert_eq!(out.last_hidden_state().dims(), &[1, enc.len(), 16]);
        for row in out.attention(0, 1, 3).unwrap() {
            let sum: f32 = row.iter().sum();
            prop_assert!((sum - 1.0).abs() < 1e-4, "attention row sums to {}", sum);
        }
        match bert.embed(&[text.as_str()]) {
            Ok(emb) => {
                let norm: f32 = emb.vectors()[0].iter().map(|v| v * v).sum::<f32>().sqrt();
                prop_assert!((norm - 1.0).abs() < 1e-4, "norm {}", norm);
            }
            Err(Error::EmptyText { index: 0, .. }) => prop_assert!(text.trim().is_empty()),
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The real tokenizer on any text and any pair: invariants HF guarantees, and offsets that
    /// point inside the text.
    #[test]
    fn the_real_tokenizer_keeps_its_invariants(first in any_text(), second in any_text()) {
        let tokenizer = minilm().tokenizer();
        let enc = tokenizer.encode_pair(&first, &second).unwrap();
        prop_assert!(enc.len() <= tokenizer.max_length());
        prop_assert_eq!(enc.tokens().iter().filter(|t| *t == "[SEP]").count(), 2);
        let chars = first.chars().count().max(second.chars().count());
        for &(start, end) in enc.offsets() {
            prop_assert!(start <= end && end <= chars, "offset ({}, {}) beyond {} chars", start, end, chars);
        }
        let decoded = tokenizer.decode(enc.ids()).unwrap();
        prop_assert!(decoded.starts_with("[CLS]"));
    }
}

/// Loads the tiny model with `file` replaced by `bytes`; returns the load's result.
fn load_with(dir: &Path, file: &str, bytes: &[u8]) -> Result<Bert> {
    write_tiny_bert(dir, &TinyConfig::default(), |_, s| s);
    std::fs::write(dir.join(file), bytes).unwrap();
    Bert::from_dir(dir)
}

/// JSON-ish text: structurally plausible config or tokenizer files with odd values.
fn json_ish() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:e}")),
        Just("null".to_string()),
        Just("\"gelu\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        "[a-z_]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ];
    let key = prop_oneof![
        Just("vocab_size"),
        Just("hidden_size"),
        Just("num_hidden_layers"),
        Just("num_attention_heads"),
        Just("intermediate_size"),
        Just("max_position_embeddings"),
        Just("type_vocab_size"),
        Just("layer_norm_eps"),
        Just("hidden_act"),
        Just("model"),
        Just("vocab"),
        Just("normalizer"),
    ];
    proptest::collection::vec((key, value), 0..14).prop_map(|fields| {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect();
        format!("{{{}}}", body.join(", ")).into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Arbitrary bytes or JSON-ish text as config.json: a clear error (or, by chance, a model).
    #[test]
    fn any_bytes_as_config_json(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        json_ish(),
    ]) {
        let dir = tempfile::tempdir().unwrap();
        if let Err(err) = load_with(dir.path(), "config.json", &bytes) {
            prop_assert!(err.to_string().contains("config.json") || err.to_string().contains("model.safetensors"), "{}", err);
        }
    }

    /// Arbitrary bytes or JSON-ish text as tokenizer.json.
    #[test]
    fn any_bytes_as_tokenizer_json(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        json_ish(),
    ]) {
        let dir = tempfile::tempdir().unwrap();
        let err = load_with(dir.path(), "tokenizer.json", &bytes).unwrap_err();
        prop_assert!(
            matches!(err, Error::InvalidJson { what: "tokenizer.json", .. }
                | Error::InvalidFile { what: "tokenizer.json", .. }),
            "{}", err
        );
    }

    /// A safetensors file whose header is arbitrary bytes (with a matching or arbitrary length
    /// prefix) and whose data is short: a clear error, nothing allocated from the stated sizes.
    #[test]
    fn any_safetensors_header(
        header in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            json_ish(),
            (any::<u64>(), any::<u64>(), proptest::collection::vec(0u64..1 << 40, 0..3)).prop_map(|(begin, end, shape)| {
                format!(
                    r#"{{"embeddings.word_embeddings.weight": {{"dtype": "F32", "shape": {shape:?}, "data_offsets": [{begin}, {end}]}}}}"#
                ).into_bytes()
            }),
        ],
        stated_len in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
        data_len in 0usize..2000,
    ) {
        let mut bytes = stated_len.unwrap_or(header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&header);
        bytes.resize(bytes.len() + data_len, 0);
        let dir = tempfile::tempdir().unwrap();
        let err = load_with(dir.path(), "model.safetensors", &bytes).unwrap_err();
        prop_assert!(
            matches!(err, Error::InvalidFile { what: "safetensors file", .. } | Error::Weights { .. }),
            "{}", err
        );
    }
}
