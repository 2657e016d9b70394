//! Hostile input to the public API: each family of the reliability issue, every answer either
//! `Ok` or an error whose kind and message say what was wrong. Everything runs on tiny generated
//! models except where the real tokenizer's behaviour is the point (named `*_real_model`).

use std::path::Path;

use crate::util::{TinyConfig, minilm, tiny_bert, write_tiny_bert};
use transformer_nb::embed::Pooling;
use transformer_nb::prelude::*;

fn message<T: std::fmt::Debug>(result: Result<T>) -> String {
    result.expect_err("expected an error").to_string()
}

/// Texts a learner may paste: control characters, NUL, bidi overrides, joiners, combining
/// marks, private-use and non-characters, emoji sequences, mixed scripts.
const ODD_TEXTS: &[&str] = &[
    "nul \0 inside",
    "bell \u{7} tab\tcr\rvt\u{b}ff\u{c} del \u{7f} c1 \u{85}\u{9f}",
    "bidi \u{202e}override\u{202c} and \u{2067}isolate\u{2069}",
    "zero\u{200b}width\u{200c}non\u{200d}joiner \u{2060} \u{feff}",
    "combining e\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\u{301} and a\u{20dd}",
    "private \u{e000}\u{f8ff}\u{f0000}\u{10fffd}",
    "non-characters \u{fdd0}\u{fffe}\u{ffff}\u{1fffe}\u{10ffff}",
    "family \u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467} flag \u{1f1fb}\u{1f1f3}",
    "Tôi đọc một cuốn tiểu thuyết hay. 我读了一本好小说。 أنا أقرأ",
    "\u{300}\u{301} leading combining marks",
];

#[test]
fn odd_characters_tokenize_run_and_embed_real_model() {
    let bert = minilm();
    for &text in ODD_TEXTS {
        let enc = bert.tokenizer().encode(text).unwrap();
        assert_eq!(enc.tokens().first().map(String::as_str), Some("[CLS]"));
        assert_eq!(enc.tokens().last().map(String::as_str), Some("[SEP]"));
        assert_eq!(enc.ids().len(), enc.attention_mask().len());
        let out = bert.forward(&enc).unwrap();
        assert_eq!(out.last_hidden_state().dims(), [1, enc.len(), 384]);
        let emb = bert.embed(&[text]).unwrap();
        let norm: f32 = emb.vectors()[0].iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{text:?}: norm {norm}");
    }
}

#[test]
fn control_characters_alone_are_like_an_empty_text_real_model() {
    // HF's BERT normaliser drops control characters: nothing is left to tokenize.
    let bert = minilm();
    let enc = bert.tokenizer().encode("\0\u{7}\u{200b}").unwrap();
    assert_eq!(enc.tokens(), ["[CLS]", "[SEP]"]);
}

#[test]
fn hundreds_of_thousands_of_characters_are_truncated_real_model() {
    let bert = minilm();
    let text = "a good novel, ".repeat(30_000); // 420,000 characters
    let enc = bert.tokenizer().encode(&text).unwrap();
    assert!(enc.is_truncated());
    assert_eq!(enc.len(), bert.tokenizer().max_length());
    let one_word = "x".repeat(300_000); // one word longer than any the vocabulary holds
    let enc = bert.tokenizer().encode(&one_word).unwrap();
    assert_eq!(enc.tokens(), ["[CLS]", "[UNK]", "[SEP]"]);
    let emb = bert.embed(&[text.as_str(), one_word.as_str()]).unwrap();
    assert_eq!(emb.len(), 2);
}

#[test]
fn max_length_zero_one_and_huge() {
    let (_dir, bert) = tiny_bert();
    for max_length in [0, 1] {
        let err = bert.tokenizer().with_max_length(max_length).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }));
        assert!(err.to_string().contains("use at least 2"), "{err}");
    }
    // A huge maximum is allowed for tokenizing; the model then refuses what it cannot hold.
    let huge = bert.tokenizer().with_max_length(usize::MAX).unwrap();
    let enc = huge.encode(&"a ".repeat(100)).unwrap();
    assert_eq!(enc.len(), 102);
    assert!(message(bert.forward(&enc)).contains("more than this model's 32 positions"));
}

#[test]
fn absurd_positional_encoding_sizes_are_errors_before_allocating() {
    for (positions, d_model) in [
        (200_000, 200_000),
        (usize::MAX, 2),
        (2, usize::MAX - 1),
        (usize::MAX, usize::MAX - 1),
        (1 << 26, 4),
    ] {
        let err = positional_encoding(positions, d_model).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
        assert!(err.to_string().contains("would hold more than"), "{err}");
    }
    // The largest allowed one works, and so does every view of it that has a size limit.
    assert_eq!(
        positional_encoding(1 << 20, 64).unwrap().shape(),
        (1 << 20, 64)
    );
    let pe = positional_encoding(10_000, 2).unwrap();
    let err = pe.similarity_matrix().unwrap_err();
    assert!(
        err.to_string().contains("similarity of 10000 positions"),
        "{err}"
    );
    assert!(message(pe.similarity()).contains("fewer positions"));
}

#[test]
fn empty_batches_are_errors() {
    let (_dir, bert) = tiny_bert();
    let none: [&str; 0] = [];
    for err in [
        bert.tokenizer().encode_batch(&none).unwrap_err(),
        bert.embed(&none).unwrap_err(),
    ] {
        assert!(matches!(err, Error::EmptyBatch { what: "texts" }), "{err}");
    }
}

#[test]
fn batches_too_large_to_hold_are_refused_before_running() {
    let (_dir, bert) = tiny_bert();
    let texts = vec!["i read a good novel"; 300_000];
    let batch = bert.tokenizer().encode_batch(&texts).unwrap();
    let err = bert.forward_batch(&batch).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    let err = err.to_string();
    assert!(
        err.contains("300000 texts × 7 tokens") && err.contains("bert.embed"),
        "{err}"
    );
    // Without the attention maps a large batch fits, and runs.
    let batch = bert.tokenizer().encode_batch(&texts[..2000]).unwrap();
    assert_eq!(
        bert.last_hidden_state(&batch).unwrap().dims(),
        [2000, 7, 16]
    );
    assert_eq!(bert.embed(&texts[..2000]).unwrap().len(), 2000);
}

#[test]
fn indices_out_of_range_including_usize_max() {
    let (_dir, bert) = tiny_bert();
    let out = bert
        .forward(&bert.tokenizer().encode("i read").unwrap())
        .unwrap();
    let range = |result: Result<_>, what: &str, len: usize| {
        let err = result.unwrap_err();
        assert!(
            matches!(err, Error::OutOfRange { what: w, index: usize::MAX, len: l } if w == what && l == len),
            "{err}"
        );
    };
    range(out.attention_heatmap(usize::MAX, 0).map(|_| ()), "layer", 2);
    range(out.attention_heatmap(0, usize::MAX).map(|_| ()), "head", 4);
    range(out.attention_heads(usize::MAX).map(|_| ()), "layer", 2);
    range(
        out.attention_heatmap_of(usize::MAX, 0, 0).map(|_| ()),
        "sequence",
        1,
    );
    range(out.attention(usize::MAX, 0, 0).map(|_| ()), "sequence", 1);
    range(out.attention(0, usize::MAX, 0).map(|_| ()), "layer", 2);
    range(out.attention(0, 0, usize::MAX).map(|_| ()), "head", 4);
    range(out.real_tokens(usize::MAX).map(|_| ()), "sequence", 1);
    let pe = positional_encoding(10, 8).unwrap();
    range(pe.try_get(usize::MAX, 0).map(|_| ()), "position", 10);
    range(pe.try_get(0, usize::MAX).map(|_| ()), "dimension", 8);
    assert!(pe.get(usize::MAX, usize::MAX).is_nan());
    assert!(pe.row(usize::MAX).is_empty());
    let title = pe.curves(&[usize::MAX, 0]).title().to_string();
    assert!(
        title.contains(&format!("left out [{}]", usize::MAX)),
        "{title}"
    );
    let tok = bert.tokenizer();
    assert_eq!(tok.id_to_token(u32::MAX), None);
    let err = tok.decode(&[5, u32::MAX]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfRange {
                what: "token id",
                ..
            }
        ),
        "{err}"
    );
}

/// A tiny model folder with `edit` applied to its config.json.
fn with_config(edit: impl FnOnce(&mut serde_json::Value)) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
    let err = message(Bert::from_dir(dir.path()));
    (dir, err)
}

#[test]
fn inconsistent_config_json_is_refused_with_the_field_named() {
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "num_attention_heads",
            3.into(),
            "does not divide among 3 attention heads",
        ),
        ("num_hidden_layers", 5.into(), "no tensor encoder.layer.2."),
        (
            "hidden_size",
            32.into(),
            "has shape [16, 16], config.json implies [32, 32]",
        ),
        ("vocab_size", (-1).into(), "invalid value: integer `-1`"),
        (
            "hidden_size",
            1.5.into(),
            "invalid type: floating point `1.5`",
        ),
        (
            "layer_norm_eps",
            (-1.0).into(),
            "layer_norm_eps must be positive",
        ),
        (
            "hidden_size",
            (1u64 << 40).into(),
            "hidden_size 1099511627776 is larger than",
        ),
        (
            "vocab_size",
            u64::MAX.into(),
            "vocab_size 18446744073709551615 is larger than",
        ),
        (
            "num_hidden_layers",
            100_000.into(),
            "num_hidden_layers 100000 is larger than",
        ),
        (
            "max_position_embeddings",
            0.into(),
            "max_position_embeddings is 0",
        ),
        ("hidden_act", "swish".into(), "unknown variant `swish`"),
    ];
    for (field, value, expected) in cases {
        let (_dir, err) = with_config(|config| config[field] = value.clone());
        assert!(err.contains(expected), "{field} = {value}: {err}");
    }
    let (_dir, err) = with_config(|config| *config = serde_json::json!([1, 2, 3]));
    assert!(err.contains("not a valid BERT config.json"), "{err}");
}

/// Writes `bytes` as the tiny model's model.safetensors and returns the load error.
fn weights_error(bytes: &[u8]) -> Error {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
    std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
    Bert::from_dir(dir.path()).unwrap_err()
}

fn safetensors_bytes(header: &str, data_len: usize) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.resize(bytes.len() + data_len, 0);
    bytes
}

#[test]
fn broken_safetensors_files_are_refused_before_allocating() {
    let good = {
        let dir = tempfile::tempdir().unwrap();
        write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
        std::fs::read(dir.path().join("model.safetensors")).unwrap()
    };
    let invalid = |err: Error, expected: &str| {
        assert!(
            matches!(
                err,
                Error::InvalidFile {
                    what: "safetensors file",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(expected), "{err}");
    };
    invalid(weights_error(b""), "too short for a safetensors header");
    invalid(
        weights_error(&[1, 0, 0]),
        "too short for a safetensors header",
    );
    invalid(weights_error(&good[..good.len() / 2]), "ends before");
    invalid(weights_error(&good[..20]), "header of");
    invalid(
        weights_error(&u64::MAX.to_le_bytes()),
        "header of 18446744073709551615 bytes",
    );
    let mut long_header = (200u64 << 20).to_le_bytes().to_vec();
    long_header.extend_from_slice(b"{}");
    invalid(weights_error(&long_header), "header of 209715200 bytes");
    invalid(
        weights_error(&safetensors_bytes("not json at all", 0)),
        "expected",
    );
    invalid(
        weights_error(&safetensors_bytes("[1, 2]", 0)),
        "invalid type",
    );
    let offsets = |begin: u64, end: u64| {
        format!(
            r#"{{"embeddings.word_embeddings.weight": {{"dtype": "F32", "shape": [15, 16], "data_offsets": [{begin}, {end}]}}}}"#
        )
    };
    invalid(
        weights_error(&safetensors_bytes(&offsets(0, 960), 100)),
        "ends before",
    );
    invalid(
        weights_error(&safetensors_bytes(&offsets(960, 0), 960)),
        "offsets",
    );
    invalid(
        weights_error(&safetensors_bytes(&offsets(0, u64::MAX), 960)),
        "ends before",
    );
    invalid(
        weights_error(&safetensors_bytes(&offsets(0, 100), 960)),
        "do not match its shape",
    );
    let huge_shape = r#"{"embeddings.word_embeddings.weight": {"dtype": "F32", "shape": [18446744073709551615, 16], "data_offsets": [0, 960]}}"#;
    invalid(
        weights_error(&safetensors_bytes(huge_shape, 960)),
        "do not match its shape [18446744073709551615, 16]",
    );
    // An unknown dtype is refused when the model needs the tensor (the first it reads).
    let odd_dtype = r#"{"embeddings.word_embeddings.weight": {"dtype": "F32", "shape": [15, 16], "data_offsets": [0, 960]},
        "encoder.layer.0.attention.self.query.weight": {"dtype": "Q4", "shape": [16, 16], "data_offsets": [960, 1000]}}"#;
    let err = weights_error(&safetensors_bytes(odd_dtype, 1000));
    assert!(err.to_string().contains("is Q4, not a float type"), "{err}");
    // Its hint is about the type, not about a config that does not match.
    assert!(err.to_string().contains("f32, f16 or bf16"), "{err}");
    assert!(!err.to_string().contains("same checkpoint"), "{err}");

    // A folder where the file should be.
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
    let weights = dir.path().join("model.safetensors");
    std::fs::remove_file(&weights).unwrap();
    std::fs::create_dir(&weights).unwrap();
    let err = message(Bert::from_dir(dir.path()));
    assert!(err.contains("model.safetensors is a folder"), "{err}");
}

#[test]
fn missing_or_garbage_tokenizer_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
    std::fs::write(dir.path().join("tokenizer.json"), b"\xff\xfe garbage {").unwrap();
    let err = Bert::from_dir(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidJson {
                what: "tokenizer.json",
                ..
            }
        ),
        "{err}"
    );
    // The parser's error is the source, for a caller that walks the chain.
    let source = std::error::Error::source(&err).expect("a source");
    assert!(source.is::<serde_json::Error>(), "{source}");
    std::fs::write(dir.path().join("tokenizer.json"), "{\"model\": 3}").unwrap();
    assert!(message(Bert::from_dir(dir.path())).contains("not a valid tokenizer.json"));
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();

    // vocab.txt that is not text, and one that is empty.
    std::fs::write(dir.path().join("vocab.txt"), b"\xff\xfe\x00binary").unwrap();
    let err = message(Bert::from_dir(dir.path()));
    assert!(err.contains("vocab.txt"), "{err}");
    std::fs::write(dir.path().join("vocab.txt"), b"").unwrap();
    let err = message(Bert::from_dir(dir.path()));
    assert!(err.contains("vocab.txt") && err.contains("[UNK]"), "{err}");
    std::fs::write(dir.path().join("tokenizer_config.json"), "{ not json").unwrap();
    let err = message(Bert::from_dir(dir.path()));
    assert!(err.contains("tokenizer_config.json"), "{err}");
}

#[test]
fn a_vocabulary_larger_than_the_embedding_table_is_an_error_not_a_read_out_of_bounds() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
    // Five more words than the model's 15 embeddings.
    let mut vocab = std::fs::read_to_string(dir.path().join("vocab.txt")).unwrap();
    vocab.push_str("extra\nwords\nbeyond\nthe\ntable\n");
    std::fs::write(dir.path().join("vocab.txt"), vocab).unwrap();
    let bert = Bert::from_dir(dir.path()).unwrap();
    let enc = bert.tokenizer().encode("i read extra words").unwrap();
    let err = message(bert.forward(&enc));
    assert!(
        err.contains("token id 15 is outside this model's vocabulary of 15"),
        "{err}"
    );
    assert!(message(bert.embed(&["beyond the table"])).contains("outside this model's vocabulary"));
    // Words inside the table still work.
    assert!(bert.embed(&["i read a good novel"]).is_ok());
}

#[test]
fn model_ids_with_path_tricks_or_empty_are_refused() {
    for id in [
        "../../etc/passwd",
        "",
        "  ",
        "a/../../b",
        "/etc/passwd",
        "org/name/extra",
    ] {
        let err = Bert::from_pretrained(id).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ModelUnavailable { .. } | Error::InvalidArgument { .. }
            ),
            "{id:?}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains("model id"), "{id:?}: {text}");
        let err = Tokenizer::from_pretrained(id).unwrap_err().to_string();
        assert!(err.contains("model id"), "{id:?}: {err}");
    }
}

#[test]
fn saving_a_plot_into_a_missing_folder_or_with_an_unknown_extension() {
    let plot = positional_encoding(10, 8).unwrap().heatmap();
    let dir = tempfile::tempdir().unwrap();
    let err = plot
        .save(dir.path().join("no/such/folder/pe.png"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io {
                action: "write",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("No such file or directory"),
        "{err}"
    );
    for name in ["pe.jpg", "pe", "pe.png.txt", ".png"] {
        let err = plot.save(dir.path().join(name)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("something.png"), "{err}");
    }
    plot.save(dir.path().join("pe.PNG")).unwrap();
    assert!(Path::new(&dir.path().join("pe.PNG")).is_file());
}

#[test]
fn embeddings_similarity_of_too_many_texts_is_an_error() {
    let texts: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    let vectors = vec![vec![1.0f32]; 10_000];
    let emb = Embeddings::new(texts, vectors, Pooling::default()).unwrap();
    let err = emb.similarity().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    assert!(
        err.to_string().contains("similarity of 10000 texts"),
        "{err}"
    );
    // The views show a readable part and say so.
    let plot = emb.heatmap();
    assert!(
        plot.title().contains("the first 64 of 10000 texts"),
        "{}",
        plot.title()
    );
    let html = emb.to_html();
    assert!(html.contains("The first 30 of 10000 texts"));
    assert_eq!(html.matches("<td").count(), 30 * 30);
}

/// A GGUF file's bytes: header, metadata and tensor records as given (values pre-encoded),
/// then `data_len` zero bytes of tensor data at the default alignment.
fn gguf_bytes(counts: (u64, u64), body: &[u8], data_len: usize) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(counts.0.to_le_bytes());
    out.extend(counts.1.to_le_bytes());
    out.extend(body);
    out.resize(out.len().div_ceil(32) * 32 + data_len, 0);
    out
}

fn gguf_string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend(s.as_bytes());
    out
}

/// A key-value pair with a string value.
fn gguf_kv(key: &str, value: &str) -> Vec<u8> {
    let mut out = gguf_string(key);
    out.extend(8u32.to_le_bytes());
    out.extend(gguf_string(value));
    out
}

/// A tensor record: name, dims, ggml type id, offset.
fn gguf_tensor(name: &str, dims: &[u64], type_id: u32, offset: u64) -> Vec<u8> {
    let mut out = gguf_string(name);
    out.extend((dims.len() as u32).to_le_bytes());
    for d in dims {
        out.extend(d.to_le_bytes());
    }
    out.extend(type_id.to_le_bytes());
    out.extend(offset.to_le_bytes());
    out
}

fn gguf_error(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    std::fs::write(&path, bytes).unwrap();
    let err = CausalLm::from_gguf(&path).unwrap_err();
    assert!(matches!(err, Error::InvalidFile { .. }), "{err}");
    err.to_string()
}

#[test]
fn broken_gguf_files_are_refused_before_allocating() {
    assert!(gguf_error(b"").contains("too short"));
    assert!(gguf_error(b"GGML\x03\0\0\0").contains("not a GGUF file"));
    let arch = gguf_kv("general.architecture", "llama");
    // Counts no file could hold.
    assert!(gguf_error(&gguf_bytes((u64::MAX, 1), &arch, 0)).contains("tensor count"));
    assert!(gguf_error(&gguf_bytes((0, u64::MAX / 2), &arch, 0)).contains("metadata count"));
    // A string claiming more bytes than the file has.
    let mut long_key = (u64::MAX - 3).to_le_bytes().to_vec();
    long_key.extend(b"key");
    assert!(gguf_error(&gguf_bytes((0, 1), &long_key, 0)).contains("cut short"));
    // An array of 2^60 strings.
    let mut array = gguf_string("tokenizer.ggml.tokens");
    array.extend(9u32.to_le_bytes());
    array.extend(8u32.to_le_bytes());
    array.extend((1u64 << 60).to_le_bytes());
    assert!(gguf_error(&gguf_bytes((0, 1), &array, 0)).contains("array"));
    // An unknown value type.
    let mut odd = gguf_string("x");
    odd.extend(77u32.to_le_bytes());
    assert!(gguf_error(&gguf_bytes((0, 1), &odd, 0)).contains("unknown value type"));
    // A tensor type this crate does not read, named.
    let mut body = arch.clone();
    body.extend(gguf_tensor("token_embd.weight", &[256, 4], 12, 0));
    let message = gguf_error(&gguf_bytes((1, 1), &body, 4096));
    assert!(
        message.contains("Q4_K") && message.contains("Q4_0"),
        "{message}"
    );
    // Absurd dimensions, and data past the end.
    let mut body = arch.clone();
    body.extend(gguf_tensor("w", &[u64::MAX, u64::MAX], 0, 0));
    assert!(gguf_error(&gguf_bytes((1, 1), &body, 0)).contains("absurd"));
    let mut body = arch.clone();
    body.extend(gguf_tensor("w", &[1024, 1024], 0, 0));
    assert!(gguf_error(&gguf_bytes((1, 1), &body, 64)).contains("past the end"));
    // A misaligned offset.
    let mut body = arch.clone();
    body.extend(gguf_tensor("w", &[4], 0, 3));
    assert!(gguf_error(&gguf_bytes((1, 1), &body, 64)).contains("alignment"));
    // Five dimensions.
    let mut body = arch;
    body.extend(gguf_tensor("w", &[1, 1, 1, 1, 1], 0, 0));
    assert!(gguf_error(&gguf_bytes((1, 1), &body, 64)).contains("dimensions"));
}

#[test]
fn an_architecture_we_do_not_run_is_named_with_the_ones_we_do() {
    let body = gguf_kv("general.architecture", "mamba");
    let message = gguf_error(&gguf_bytes((0, 1), &body, 0));
    assert!(
        message.contains("mamba") && message.contains("llama, gpt2"),
        "{message}"
    );
    let (dir, _) = tiny_gpt2();
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["model_type"] = "t5".into();
    std::fs::write(&path, config.to_string()).unwrap();
    let message = CausalLm::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("\"t5\"") && message.contains("llama, gpt2"),
        "{message}"
    );
}

fn tiny_gpt2() -> (tempfile::TempDir, CausalLm) {
    let dir = tempfile::tempdir().unwrap();
    crate::util::write_seeded_gpt2(dir.path());
    let lm = CausalLm::from_dir(dir.path()).unwrap();
    (dir, lm)
}

#[test]
fn generation_options_and_prompts_at_their_limits() {
    let (_dir, lm) = tiny_gpt2();
    let greedy = GenerateOptions::greedy();
    // An empty prompt: nothing to continue.
    assert!(matches!(
        lm.generate("", &greedy),
        Err(Error::EmptyText { .. })
    ));
    // A prompt longer than the context (64 positions).
    let long = "word ".repeat(200);
    assert!(message(lm.generate(&long, &greedy)).contains("context length"));
    assert!(message(lm.forward(&lm.tokenizer().encode(&long).unwrap())).contains("context"));
    // usize::MAX new tokens: generation stops where the context ends.
    let g = lm
        .generate(
            "Hello",
            &GenerateOptions::greedy().max_new_tokens(usize::MAX),
        )
        .unwrap();
    assert!(matches!(
        g.stop_reason(),
        StopReason::ContextFull | StopReason::EndOfSequence
    ));
    assert!(g.prompt_ids().len() + g.ids().len() <= lm.config().max_positions);
    // A stop string that never comes: the limit ends it.
    let g = lm
        .generate(
            "Hello",
            &GenerateOptions::greedy()
                .max_new_tokens(5)
                .stop("never ever"),
        )
        .unwrap();
    assert!(g.ids().len() <= 5);
    // Zero new tokens: an empty generation.
    let g = lm
        .generate("Hello", &GenerateOptions::greedy().max_new_tokens(0))
        .unwrap();
    assert!(g.ids().is_empty() && g.text().is_empty());
    for (options, needle) in [
        (GenerateOptions::sampling(0.0), "temperature"),
        (GenerateOptions::sampling(-1.0), "temperature"),
        (GenerateOptions::sampling(f32::INFINITY), "temperature"),
        (GenerateOptions::sampling(1.0).top_p(0.0), "top_p"),
        (GenerateOptions::sampling(1.0).top_p(f32::NAN), "top_p"),
        (GenerateOptions::sampling(1.0).top_p(1.5), "top_p"),
        (GenerateOptions::greedy().stop(""), "stop"),
    ] {
        let m = message(lm.generate("Hello", &options));
        assert!(m.contains(needle), "{options:?}: {m}");
    }
    // top-k larger than the vocabulary is no limit; 0 is none.
    for k in [0, usize::MAX] {
        let opts = GenerateOptions::sampling(1.0)
            .top_k(k)
            .seed(1)
            .max_new_tokens(3);
        assert!(lm.generate("Hello", &opts).is_ok());
    }
    // Ids outside the vocabulary, a cache of another model.
    assert!(matches!(
        lm.generate_ids(&[u32::MAX], &greedy),
        Err(Error::OutOfRange { .. }) | Err(Error::Tokenizer(_))
    ));
    let mut wrong = transformer_nb::models::KvCache::default();
    assert!(lm.forward_cached(&[1], &mut wrong).is_err());
    // No chat template in GPT-2's files.
    assert!(lm.chat(&[ChatMessage::user("Hi")], &greedy).is_err());
    assert!(matches!(
        lm.chat(&[], &greedy),
        Err(Error::EmptyBatch { .. })
    ));
}

#[test]
fn causal_lm_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<CausalLm>();
    check::<CausalLmOutput>();
    check::<Generation>();
}
