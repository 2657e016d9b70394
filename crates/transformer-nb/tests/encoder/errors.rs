//! Bad input gets a clear error, never a panic: one test per case, each checking that the
//! message names what was wrong.

use crate::util::{TinyConfig, minilm, tiny_bert, write_tiny_bert};
use transformer_nb::prelude::*;

fn message<T: std::fmt::Debug>(result: Result<T>) -> String {
    result.expect_err("expected an error").to_string()
}

#[test]
fn empty_text_tokenizes_like_hf_but_cannot_be_embedded() {
    let (_dir, bert) = tiny_bert();
    assert_eq!(
        bert.tokenizer().encode("").unwrap().tokens(),
        ["[CLS]", "[SEP]"]
    );
    let err = message(bert.embed(&["a cat", ""]));
    assert!(err.contains("text 1 is empty"), "{err}");
}

#[test]
fn whitespace_only_text_cannot_be_embedded() {
    let (_dir, bert) = tiny_bert();
    let err = message(bert.embed(&[" \t\n "]));
    assert!(err.contains("text 0 is empty or only whitespace"), "{err}");
}

#[test]
fn text_over_the_maximum_is_truncated_and_runs() {
    let (_dir, bert) = tiny_bert(); // 32 positions
    let enc = bert.tokenizer().encode(&"novel ".repeat(700)).unwrap();
    assert!(enc.is_truncated());
    let out = bert.forward(&enc).unwrap();
    assert_eq!(out.last_hidden_state().dims(), [1, 32, 16]);
}

#[test]
fn unknown_characters_become_unk_tokens() {
    let (_dir, bert) = tiny_bert();
    let enc = bert.tokenizer().encode("\u{2603} cat").unwrap();
    assert_eq!(enc.tokens(), ["[CLS]", "[UNK]", "cat", "[SEP]"]);
}

#[test]
fn missing_model_folder_says_what_a_folder_needs() {
    let err = message(Bert::from_dir("/no/such/model"));
    assert!(
        err.contains("config.json") && err.contains("model.safetensors"),
        "{err}"
    );
}

#[test]
fn partial_model_folder_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = message(Bert::from_dir(dir.path()));
    assert!(err.contains("has no model.safetensors"), "{err}");

    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
    std::fs::remove_file(dir.path().join("vocab.txt")).unwrap();
    let err = message(Bert::from_dir(dir.path()));
    assert!(err.contains("tokenizer.json or vocab.txt"), "{err}");
}

#[test]
fn malformed_config_json_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
    std::fs::write(dir.path().join("config.json"), "{\"hidden_size\": \"big\"}").unwrap();
    let err = message(Bert::from_dir(dir.path()));
    assert!(
        err.contains("config.json is not a valid BERT config.json"),
        "{err}"
    );
}

#[test]
fn weights_of_the_wrong_shape_name_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |name, shape| {
        if name == "encoder.layer.1.intermediate.dense.weight" {
            vec![shape[0] + 1, shape[1]]
        } else {
            shape
        }
    });
    let err = message(Bert::from_dir(dir.path()));
    assert!(
        err.contains("encoder.layer.1.intermediate.dense.weight"),
        "{err}"
    );
    assert!(err.contains("same checkpoint"), "{err}");
}

#[test]
fn weights_file_that_is_not_safetensors_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, s| s);
    std::fs::write(
        dir.path().join("model.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    let err = message(Bert::from_dir(dir.path()));
    assert!(err.contains("safetensors"), "{err}");
}

#[test]
fn layer_and_head_out_of_range_are_errors_that_give_the_range() {
    let (_dir, bert) = tiny_bert();
    let out = bert
        .forward(&bert.tokenizer().encode("i read").unwrap())
        .unwrap();
    assert_eq!(
        message(out.attention_heatmap(2, 0)),
        "layer 2 is out of range: valid values are 0..2"
    );
    assert_eq!(
        message(out.attention_heatmap(0, 4)),
        "head 4 is out of range: valid values are 0..4"
    );
    assert!(message(out.attention_heads(9)).contains("layer 9"));
    assert!(message(out.attention_heatmap_of(1, 0, 0)).contains("sequence 1"));
}

#[test]
fn positional_encoding_with_zero_or_odd_sizes_is_an_error() {
    assert!(message(positional_encoding(0, 128)).contains("at least 1"));
    assert!(message(positional_encoding(50, 0)).contains("at least 1"));
    assert!(message(positional_encoding(50, 127)).contains("must be even"));
    assert!(
        positional_encoding(49, 128).is_ok(),
        "an odd number of positions is fine"
    );
}

#[test]
fn empty_batch_is_an_error() {
    let (_dir, bert) = tiny_bert();
    let none: [&str; 0] = [];
    assert!(message(bert.tokenizer().encode_batch(&none)).contains("list of texts is empty"));
    assert!(message(bert.embed(&none)).contains("list of texts is empty"));
}

#[test]
fn encodings_from_a_bigger_vocabulary_are_refused_real_model() {
    let (_dir, tiny) = tiny_bert();
    let enc = minilm().tokenizer().encode("I read a good novel.").unwrap();
    let err = message(tiny.forward(&enc));
    assert!(
        err.contains("outside this model's vocabulary") && err.contains("bert.tokenizer()"),
        "{err}"
    );
}

#[test]
fn longer_than_the_model_positions_is_refused_real_model() {
    let (_dir, tiny) = tiny_bert(); // 32 positions, but its vocab.txt tokenizer allows 32 too
    let long = minilm().tokenizer().with_max_length(40).unwrap();
    let enc = long.encode(&"a ".repeat(60)).unwrap();
    let err = message(tiny.forward(&enc));
    assert!(err.contains("more than this model's 32 positions"), "{err}");
}

#[test]
fn layer_norms_saved_as_gamma_and_beta_load_like_weight_and_bias() {
    use candle_core::safetensors;
    let (dir, bert) = tiny_bert();
    let text = "i read a good novel .";
    let want = crate::util::last_hidden_values(&bert, text);
    let path = dir.path().join("model.safetensors");
    let renamed = crate::util::gamma_beta_layer_norms(&path);
    assert!(renamed.contains_key("embeddings.LayerNorm.gamma"));
    safetensors::save(&renamed, &path).unwrap();
    let old_names = Bert::from_dir(dir.path()).unwrap();
    assert_eq!(crate::util::last_hidden_values(&old_names, text), want);
}

/// A value of `TRANSFORMER_NB_KERNELS` the library does not understand is reported once on
/// stderr (a typo would otherwise change nothing, silently), and the forward pass still runs.
#[test]
fn an_unknown_kernel_cap_is_reported_once() {
    let stderr = crate::util::run_child_test(
        "errors::unknown_kernel_cap_child",
        &[("TRANSFORMER_NB_KERNELS", "avx51")],
    );
    let warning = "TRANSFORMER_NB_KERNELS=\"avx51\" is not one of generic, avx2, avx512";
    assert_eq!(stderr.matches(warning).count(), 1, "{stderr}");
}

/// The child of the test above: ignored when run directly.
#[test]
#[ignore = "run by an_unknown_kernel_cap_is_reported_once"]
fn unknown_kernel_cap_child() {
    let (_dir, bert) = tiny_bert();
    for _ in 0..2 {
        let out = bert
            .forward(&bert.tokenizer().encode("a cat").unwrap())
            .unwrap();
        assert!(out.last_hidden_state().dims()[0] > 0);
    }
}
