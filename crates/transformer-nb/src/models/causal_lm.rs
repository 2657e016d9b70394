//! [`CausalLm`]: one type for every decoder-only language model, whatever its architecture or
//! file format, and [`CausalLmOutput`], what a forward pass shows.

use std::path::{Path, PathBuf};

use super::attention_head::AttentionHead;
use super::decoder::{Decoder, DecoderConfig, ModuleInfo, Want};
use super::gpt2::Gpt2;
use super::layers::KvCache;
use super::llama::Llama;
use super::safetensors::SafeTensors;
use crate::bert::Precision;
use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::hub;
use crate::tensor::Tensor;
use crate::tokenize::{Encoding, Tokenizer};

/// The architectures [`CausalLm`] runs, as `config.json`'s `model_type` or GGUF's
/// `general.architecture` names them.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "gpt2"];

/// The most f32 values one forward pass with every hidden state and attention map may hold
/// (2^28: 1 GiB): a longer text is an error, not an allocation failure.
const MAX_OUTPUT_VALUES: usize = 1 << 28;

/// A decoder-only language model (Llama family: SmolLM2, TinyLlama, Llama 3; GPT-2) with its
/// tokenizer, ready to run and to generate.
///
/// A `CausalLm` is `Send + Sync`: threads can share one model (in an `Arc`).
///
/// ```no_run
/// use transformer_nb::prelude::*;
///
/// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
/// let enc = lm.tokenizer().encode("The capital of France is")?;
/// let out = lm.forward(&enc)?;
/// assert_eq!(out.logits().dims(), [1, enc.len(), 49152]);
/// let g = lm.generate("The capital of France is", &GenerateOptions::greedy().max_new_tokens(8))?;
/// println!("{}", g.text());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CausalLm {
    pub(crate) model: Box<dyn Decoder>,
    pub(crate) tokenizer: Tokenizer,
    source: PathBuf,
    precision: Precision,
    /// Ids that end an answer: the tokenizer's end-of-sequence token, and those of
    /// `generation_config.json`.
    pub(crate) stop_ids: Vec<u32>,
}

impl std::fmt::Debug for CausalLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CausalLm")
            .field("source", &self.source)
            .field("config", self.model.config())
            .field("precision", &self.precision)
            .finish()
    }
}

/// The architecture a file names, if this crate runs it.
fn check_architecture(name: &str, path: &Path) -> Result<&'static str> {
    SUPPORTED_ARCHITECTURES
        .iter()
        .find(|a| **a == name)
        .copied()
        .ok_or_else(|| Error::InvalidFile {
            path: path.to_path_buf(),
            what: "decoder model",
            message: format!(
                "its architecture is {name:?}, which CausalLm does not run: it runs {} (BERT-style \
                 encoders load with Bert)",
                SUPPORTED_ARCHITECTURES.join(", ")
            ),
        })
}

impl CausalLm {
    /// Loads a model from a GGUF file, its weights kept in the file's quantized blocks
    /// ([`Precision::Quantized`]); the tokenizer and chat template come from its metadata.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
    /// assert_eq!(lm.config().layers, 30);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_gguf(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_gguf_with(path, Precision::Quantized)
    }

    /// [`from_gguf`](Self::from_gguf) in another precision: [`Precision::F32`] dequantizes
    /// every weight at load (about six times the memory of Q4_1), for parity with HF
    /// transformers, which does the same, and for looking at the numbers.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm32 = CausalLm::from_gguf_with("SmolLM2-135M-Instruct.Q4_1.gguf", Precision::F32)?;
    /// assert_eq!(lm32.precision(), Precision::F32);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_gguf_with(path: impl AsRef<Path>, precision: Precision) -> Result<Self> {
        let path = path.as_ref();
        if precision == Precision::Bf16 {
            return Err(Error::invalid(
                "a GGUF model runs in Precision::Quantized (its blocks as stored) or \
                 Precision::F32 (dequantized at load); bf16 is for BERT checkpoints",
            ));
        }
        let file = GgufFile::open(path)?;
        let arch = file
            .get("general.architecture")
            .and_then(|v| v.as_str())
            .unwrap_or("(none)")
            .to_string();
        check_architecture(&arch, path)?;
        let model: Box<dyn Decoder> = match arch.as_str() {
            "llama" => Box::new(Llama::from_gguf(&file, precision)?),
            _ => {
                return Err(Error::InvalidFile {
                    path: path.to_path_buf(),
                    what: "decoder model",
                    message: format!(
                        "GGUF files of architecture {arch:?} are not read yet: GGUF files of \
                         llama are, and GPT-2 loads from its HF directory (from_dir)"
                    ),
                });
            }
        };
        let tokenizer = Tokenizer::from_gguf(path)?;
        let mut stop_ids: Vec<u32> = tokenizer.eos_token_id().into_iter().collect();
        if let Some(eot) = file
            .get("tokenizer.ggml.eot_token_id")
            .and_then(|v| v.as_u64())
        {
            stop_ids.push(eot as u32);
        }
        Self::assemble(model, tokenizer, path, precision, stop_ids)
    }

    /// Loads a model from a folder in HF's layout: `config.json`, `model.safetensors`, and
    /// `tokenizer.json` (or GPT-2's `vocab.json` + `merges.txt`); `generation_config.json`
    /// adds its end-of-sequence ids. A folder holding only a `.gguf` file loads that.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let gpt2 = CausalLm::from_dir("models/gpt2")?;
    /// assert_eq!(gpt2.config().architecture, "gpt2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let config_path = dir.join("config.json");
        if !config_path.exists() {
            if let Some(gguf) = find_gguf(dir) {
                return Self::from_gguf(gguf);
            }
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                file: "config.json".into(),
                hint: "a decoder folder needs config.json, model.safetensors and its tokenizer \
                       files (or one .gguf file)"
                    .into(),
            });
        }
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| Error::io("read", &config_path, e))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::json(&config_path, "config.json", e))?;
        let arch = json
            .get("model_type")
            .and_then(|v| v.as_str())
            .unwrap_or("(none)");
        let arch = check_architecture(arch, &config_path)?;
        let weights_path = dir.join("model.safetensors");
        if !weights_path.exists() {
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                file: "model.safetensors".into(),
                hint: "download it with the checkpoint (checkpoints with only pytorch_model.bin \
                       can be converted with HF's safetensors convert script)"
                    .into(),
            });
        }
        let weights = SafeTensors::open(&weights_path)?;
        let model: Box<dyn Decoder> = match arch {
            "llama" => Box::new(Llama::from_safetensors(&config_path, &weights)?),
            _ => Box::new(Gpt2::from_safetensors(&config_path, &weights)?),
        };
        drop(weights);
        let tokenizer = if dir.join("tokenizer.json").exists() {
            Tokenizer::from_file(dir.join("tokenizer.json"))?
        } else if dir.join("vocab.json").exists() && dir.join("merges.txt").exists() {
            Tokenizer::from_vocab_merges(dir.join("vocab.json"), dir.join("merges.txt"))?
        } else {
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                file: "tokenizer.json (or vocab.json and merges.txt)".into(),
                hint: "download the checkpoint's tokenizer files with it".into(),
            });
        };
        let mut stop_ids: Vec<u32> = tokenizer.eos_token_id().into_iter().collect();
        stop_ids.extend(generation_eos_ids(dir));
        if let Some(id) = json.get("eos_token_id").and_then(|v| v.as_u64()) {
            stop_ids.push(id as u32);
        }
        Self::assemble(model, tokenizer, dir, Precision::F32, stop_ids)
    }

    /// Loads `model_id` from the local Hugging Face cache, or else from the Hub (as
    /// `Bert::from_pretrained`): an HF checkpoint when the cache or the Hub has one, else a
    /// `.gguf` file of the cached snapshot. `scripts/fetch-model.sh` puts
    /// `HuggingFaceTB/SmolLM2-135M-Instruct` (as a Q4_1 GGUF) into the cache offline.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pretrained(model_id: &str) -> Result<Self> {
        if let Some(dir) = hub::cached_snapshot(model_id) {
            if dir.join("config.json").exists() && dir.join("model.safetensors").exists() {
                return Self::from_dir(dir);
            }
            if let Some(gguf) = find_gguf(&dir) {
                return Self::from_gguf(gguf);
            }
        }
        let dir = hub::snapshot_dir(
            model_id,
            &[
                &["config.json"],
                &["model.safetensors"],
                &["tokenizer.json", "vocab.json"],
            ],
            &[
                "merges.txt",
                "generation_config.json",
                "tokenizer_config.json",
            ],
        )?;
        Self::from_dir(dir)
    }

    /// Downloads (or finds in the cache) one GGUF file of a Hub repository and loads it, as
    /// HF's `from_pretrained(model_id, gguf_file=file)`.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_pretrained_gguf(
    ///     "bartowski/SmolLM2-135M-Instruct-GGUF",
    ///     "SmolLM2-135M-Instruct-Q8_0.gguf",
    /// )?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pretrained_gguf(model_id: &str, file: &str) -> Result<Self> {
        let dir = hub::snapshot_dir(model_id, &[&[file]], &[])?;
        Self::from_gguf(dir.join(file))
    }

    fn assemble(
        model: Box<dyn Decoder>,
        tokenizer: Tokenizer,
        source: &Path,
        precision: Precision,
        mut stop_ids: Vec<u32>,
    ) -> Result<Self> {
        let vocab = model.config().vocab;
        if tokenizer.vocab_size() > vocab {
            return Err(Error::InvalidFile {
                path: source.to_path_buf(),
                what: "decoder model",
                message: format!(
                    "its tokenizer has {} tokens but the model only {vocab} embeddings: the \
                     tokenizer and the weights come from different checkpoints",
                    tokenizer.vocab_size()
                ),
            });
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();
        Ok(CausalLm {
            model,
            tokenizer,
            source: source.to_path_buf(),
            precision,
            stop_ids,
        })
    }

    /// The tokenizer the model was trained with.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model's sizes.
    pub fn config(&self) -> &DecoderConfig {
        self.model.config()
    }

    /// The number format of the weights.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Where the model was loaded from (a folder or a GGUF file).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The ids generation stops at (the end-of-sequence tokens).
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// Each module: name, parameters, bytes held, number format.
    pub fn modules(&self) -> Vec<ModuleInfo> {
        self.model.modules()
    }

    /// Parameters, as HF counts them (a tied output layer once).
    pub fn parameters(&self) -> usize {
        self.modules().iter().map(|m| m.parameters).sum()
    }

    /// Bytes the weights hold in memory.
    pub fn held_bytes(&self) -> usize {
        self.modules().iter().map(|m| m.held_bytes).sum()
    }

    /// Checks `ids` before a pass: not empty, within the vocabulary and the context.
    pub(crate) fn check_ids(&self, ids: &[u32], past: usize) -> Result<()> {
        let c = self.config();
        if ids.is_empty() {
            return Err(Error::EmptyText {
                index: 0,
                hint: "a decoder needs at least one token: pass some text".into(),
            });
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= c.vocab) {
            return Err(Error::OutOfRange {
                what: "token id",
                index: bad as usize,
                len: c.vocab,
            });
        }
        if past + ids.len() > c.max_positions {
            return Err(Error::invalid(format!(
                "{} tokens are more than the {} this model takes (its context length): shorten \
                 the text",
                past + ids.len(),
                c.max_positions
            )));
        }
        Ok(())
    }

    /// An empty key/value cache for [`forward_cached`](Self::forward_cached).
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.config().layers)
    }

    /// Runs `ids`, the tokens after those `cache` holds, adds their keys and values to `cache`,
    /// and returns the logits `[vocab]` for the token after the last one: what each step of
    /// [`generate`](Self::generate) does. With an empty cache it is the prompt's pass; then one
    /// token at a time, each step costs one token's work, not the whole text's.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let ids = lm.tokenizer().encode("The capital of France is")?.ids().to_vec();
    /// let mut cache = lm.new_cache();
    /// let first = lm.forward_cached(&ids, &mut cache)?;
    /// assert_eq!(cache.len(), ids.len());
    /// # let _ = first;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forward_cached(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        if cache.layers.len() != self.config().layers {
            return Err(Error::invalid(
                "this cache was made for another model: make one with this model's new_cache()",
            ));
        }
        self.check_ids(ids, cache.len())?;
        let pass = self.model.forward(ids, cache, Want::default())?;
        let vocab = pass.logits.len();
        Ok(Tensor::from_parts(pass.logits, [vocab]))
    }

    /// Opens up head `head` of layer `layer` for one text: each token's query and key as
    /// attention uses them (after the rotary embedding, for Llama) and, for a model with a
    /// rotary embedding, as the projections make them, and each token's value; with
    /// grouped-query attention the key and value are those of the key/value head this query
    /// head reads. The head's
    /// [`attention`](AttentionHead::attention) is the one [`forward`](Self::forward) returns.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let enc = lm.tokenizer().encode("The capital of France is")?;
    /// let head = lm.attention_head(&enc, 3, 1)?;
    /// assert!(head.is_causal() && head.queries_before_rope().is_some());
    /// assert_eq!(head.keys()[0].len(), 64);
    /// assert_eq!(head.context().len(), enc.len());
    /// let out = lm.forward(&enc)?;
    /// assert!((head.attention()[4][0] - out.attention(3, 1)?[4][0]).abs() < 1e-4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_head(
        &self,
        encoding: &Encoding,
        layer: usize,
        head: usize,
    ) -> Result<AttentionHead> {
        let c = self.config();
        Error::check_index("layer", layer, c.layers)?;
        Error::check_index("head", head, c.heads)?;
        self.check_ids(encoding.ids(), 0)?;
        let mut cache = self.new_cache();
        let pass = self.model.forward(
            encoding.ids(),
            &mut cache,
            Want {
                capture: Some(layer),
                ..Want::default()
            },
        )?;
        let captured = pass
            .captured
            .ok_or_else(|| Error::invalid("the model kept no queries for this layer"))?;
        let d = c.head_dim;
        let kv_head = head / (c.heads / c.kv_heads.max(1)).max(1);
        let rows = |values: &[f32], width: usize, h: usize| -> Vec<Vec<f32>> {
            values
                .chunks_exact(width)
                .map(|row| row[h * d..(h + 1) * d].to_vec())
                .collect()
        };
        let (q_width, kv_width) = (c.heads * d, c.kv_heads * d);
        let before_rope = c.rope_theta.is_some().then(|| {
            (
                rows(&captured.queries_before_rope, q_width, head),
                rows(&captured.keys_before_rope, kv_width, kv_head),
            )
        });
        Ok(AttentionHead {
            layer,
            head,
            tokens: encoding.texts().to_vec(),
            type_ids: vec![0; encoding.len()],
            queries: rows(&captured.queries, q_width, head),
            keys: rows(&captured.keys, kv_width, kv_head),
            values: rows(&captured.values, kv_width, kv_head),
            before_rope,
            causal: true,
        })
    }

    /// Runs the model on one encoded text and keeps everything: the logits at every position,
    /// every hidden state and every (causal) attention map.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let out = lm.forward(&lm.tokenizer().encode("The capital of France is")?)?;
    /// assert_eq!(out.hidden_states().len(), 31);   // the embeddings and 30 layers
    /// assert_eq!(out.attentions()[0].dims(), [1, 9, 5, 5]);
    /// let best = &out.top_next_tokens(3)?[0];
    /// println!("{:?} {:.2}", best.text, best.probability); // " Paris" 0.9…
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forward(&self, encoding: &Encoding) -> Result<CausalLmOutput> {
        self.forward_batch(std::slice::from_ref(encoding))
    }

    /// Runs several texts at once, padded on the left (as decoders are, so that every text's
    /// last token is in the last column); each text gets exactly the results it gets alone,
    /// and the padded positions hold zeros. [`CausalLmOutput::attention_mask`] says which are
    /// real.
    pub fn forward_batch(&self, encodings: &[Encoding]) -> Result<CausalLmOutput> {
        if encodings.is_empty() {
            return Err(Error::EmptyBatch { what: "encodings" });
        }
        let c = self.config().clone();
        let seq = encodings.iter().map(Encoding::len).max().unwrap_or(0);
        for e in encodings {
            self.check_ids(e.ids(), 0)?;
        }
        let batch = encodings.len();
        let values = batch
            * (seq * c.vocab + (c.layers + 1) * seq * c.hidden + c.layers * c.heads * seq * seq);
        if values > MAX_OUTPUT_VALUES {
            return Err(Error::invalid(format!(
                "{batch} texts of {seq} tokens would keep {values} values of logits, hidden states \
                 and attentions, more than the {MAX_OUTPUT_VALUES} one pass may hold: pass fewer \
                 or shorter texts, or use generate for long ones"
            )));
        }
        let mut logits = vec![0.0f32; batch * seq * c.vocab];
        let mut hidden = vec![vec![0.0f32; batch * seq * c.hidden]; c.layers + 1];
        let mut attentions = vec![vec![0.0f32; batch * c.heads * seq * seq]; c.layers];
        let mut mask = Vec::with_capacity(batch);
        for (b, e) in encodings.iter().enumerate() {
            let (n, pad) = (e.len(), seq - e.len());
            let mut cache = KvCache::new(c.layers);
            let pass = self.model.forward(
                e.ids(),
                &mut cache,
                Want {
                    all_logits: true,
                    internals: true,
                    capture: None,
                },
            )?;
            logits[(b * seq + pad) * c.vocab..(b + 1) * seq * c.vocab]
                .copy_from_slice(&pass.logits);
            for (to, from) in hidden.iter_mut().zip(&pass.hidden_states) {
                to[(b * seq + pad) * c.hidden..(b + 1) * seq * c.hidden].copy_from_slice(from);
            }
            for (to, from) in attentions.iter_mut().zip(&pass.attentions) {
                for h in 0..c.heads {
                    for r in 0..n {
                        let row = ((b * c.heads + h) * seq + pad + r) * seq + pad;
                        to[row..row + n].copy_from_slice(&from[(h * n + r) * n..][..n]);
                    }
                }
            }
            let mut m = vec![0u32; pad];
            m.resize(seq, 1);
            mask.push(m);
        }
        let tokens = encodings.iter().map(|e| e.tokens().to_vec()).collect();
        let texts = encodings.iter().map(|e| e.texts().to_vec()).collect();
        Ok(CausalLmOutput {
            logits: Tensor::from_parts(logits, [batch, seq, c.vocab]),
            hidden_states: hidden
                .into_iter()
                .map(|h| Tensor::from_parts(h, [batch, seq, c.hidden]))
                .collect(),
            attentions: attentions
                .into_iter()
                .map(|a| Tensor::from_parts(a, [batch, c.heads, seq, seq]))
                .collect(),
            attention_mask: mask,
            tokens,
            texts,
            vocab: c.vocab,
            tokenizer: self.tokenizer.clone(),
            config: c,
        })
    }
}

/// The `.gguf` file of a folder, if it holds exactly one.
fn find_gguf(dir: &Path) -> Option<PathBuf> {
    let mut found = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// The end-of-sequence ids of a folder's `generation_config.json` (an id or a list).
fn generation_eos_ids(dir: &Path) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(dir.join("generation_config.json")) else {
        return Vec::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    match json.get("eos_token_id") {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|v| v as u32).into_iter().collect(),
        Some(serde_json::Value::Array(ids)) => ids
            .iter()
            .filter_map(|v| v.as_u64().map(|v| v as u32))
            .collect(),
        _ => Vec::new(),
    }
}

/// One candidate for the next token: its id, its text and the probability the model gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenProb {
    /// The token id.
    pub id: u32,
    /// The token as the tokenizer shows it (`Ġthe` in byte-level BPE).
    pub token: String,
    /// The text it stands for (` the`); a byte that is no whole character (part of an
    /// emoji's UTF-8, say) is written `\xNN`.
    pub text: String,
    /// Its probability (softmax of the logits).
    pub probability: f32,
}

/// What [`CausalLm::forward`] returns: the logits at every position, every hidden state and
/// every attention map, with the tokens they belong to.
#[derive(Clone)]
pub struct CausalLmOutput {
    logits: Tensor,
    hidden_states: Vec<Tensor>,
    attentions: Vec<Tensor>,
    attention_mask: Vec<Vec<u32>>,
    tokens: Vec<Vec<String>>,
    texts: Vec<Vec<String>>,
    vocab: usize,
    pub(crate) tokenizer: Tokenizer,
    config: DecoderConfig,
}

impl std::fmt::Debug for CausalLmOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CausalLmOutput")
            .field("logits", &self.logits.dims())
            .field("hidden_states", &self.hidden_states.len())
            .field("attentions", &self.attentions.len())
            .finish()
    }
}

impl CausalLmOutput {
    /// The logits `[batch, seq, vocab]`: at position `i`, the model's scores for token `i + 1`.
    pub fn logits(&self) -> &Tensor {
        &self.logits
    }

    /// As HF's `hidden_states`: the embeddings, then the output of each layer (the last one
    /// after the final norm), each `[batch, seq, hidden]`.
    pub fn hidden_states(&self) -> &[Tensor] {
        &self.hidden_states
    }

    /// The last hidden state (after the final norm), `[batch, seq, hidden]`.
    pub fn last_hidden_state(&self) -> &Tensor {
        self.hidden_states.last().expect("a model has layers")
    }

    /// Each layer's attention probabilities `[batch, heads, seq, seq]`: row `i` holds how much
    /// position `i` attends to each position; causal, so zero right of the diagonal.
    pub fn attentions(&self) -> &[Tensor] {
        &self.attentions
    }

    /// 1 for each real token, 0 for left padding, per text.
    pub fn attention_mask(&self) -> &[Vec<u32>] {
        &self.attention_mask
    }

    /// The tokens of text `0` as the tokenizer shows them (without padding).
    pub fn tokens(&self) -> &[String] {
        &self.tokens[0]
    }

    /// The readable text of each token of text `0`.
    pub fn texts(&self) -> &[String] {
        &self.texts[0]
    }

    /// The model's sizes.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// One head's attention over the real tokens of text 0 (`n × n`; zero right of the
    /// diagonal).
    pub fn attention(&self, layer: usize, head: usize) -> Result<Vec<Vec<f32>>> {
        Error::check_index("layer", layer, self.attentions.len())?;
        Error::check_index("head", head, self.config.heads)?;
        let seq = self.logits.dims()[1];
        let n = self.attention_mask[0].iter().filter(|&&m| m == 1).count();
        let pad = seq - n;
        let map = &self.attentions[layer].values()[head * seq * seq..(head + 1) * seq * seq];
        Ok((pad..seq)
            .map(|r| map[r * seq + pad..(r + 1) * seq].to_vec())
            .collect())
    }

    /// The readable texts of the real tokens of text 0, for labels.
    pub fn real_texts(&self) -> Vec<String> {
        let n = self.attention_mask[0].iter().filter(|&&m| m == 1).count();
        let texts = &self.texts[0];
        texts[texts.len() - n..].to_vec()
    }

    /// The logits (`vocab` values) after position `position` of text 0.
    pub fn logits_at(&self, position: usize) -> Result<&[f32]> {
        let seq = self.logits.dims()[1];
        Error::check_index("position", position, seq)?;
        Ok(&self.logits.values()[position * self.vocab..(position + 1) * self.vocab])
    }

    /// The probability of every token of the vocabulary coming after position `position` of
    /// text `0` (softmax of its logits).
    pub fn next_token_probabilities(&self, position: usize) -> Result<Vec<f32>> {
        let seq = self.logits.dims()[1];
        Error::check_index("position", position, seq)?;
        let row = &self.logits.values()[position * self.vocab..(position + 1) * self.vocab];
        Ok(softmax(row))
    }

    /// The `k` most likely tokens after the last position, most likely first.
    pub fn top_next_tokens(&self, k: usize) -> Result<Vec<TokenProb>> {
        let seq = self.logits.dims()[1];
        self.top_tokens_at(seq - 1, k)
    }

    /// The `k` most likely tokens after position `position`, most likely first.
    pub fn top_tokens_at(&self, position: usize, k: usize) -> Result<Vec<TokenProb>> {
        let probs = self.next_token_probabilities(position)?;
        Ok(top_k(&probs, k)
            .into_iter()
            .map(|(id, probability)| token_prob(&self.tokenizer, id, probability))
            .collect())
    }
}

/// A token's id, forms and probability.
pub(crate) fn token_prob(tokenizer: &Tokenizer, id: u32, probability: f32) -> TokenProb {
    TokenProb {
        id,
        token: tokenizer.id_to_token(id).unwrap_or_default(),
        text: tokenizer.token_text(id).unwrap_or_default(),
        probability,
    }
}

/// Softmax of `logits`, summed in f64 (a vocabulary of 50,000 f32 terms would lose digits).
pub(crate) fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut probs: Vec<f32> = logits.iter().map(|&v| (v - max).exp()).collect();
    let sum: f64 = probs.iter().map(|&e| f64::from(e)).sum();
    for p in &mut probs {
        *p = (f64::from(*p) / sum) as f32;
    }
    probs
}

/// Up to this `k`, [`top_k`] keeps a short sorted list in one pass instead of partitioning
/// every id (each generated token asks for its few most likely alternatives).
const SHORT_TOP: usize = 16;

/// The `k` largest values' ids and values, largest first (ties: lower id first).
pub(crate) fn top_k(values: &[f32], k: usize) -> Vec<(u32, f32)> {
    if k <= SHORT_TOP {
        let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
        for (i, &v) in values.iter().enumerate() {
            if best.len() == k && best.last().is_none_or(|last| v.total_cmp(&last.1).is_le()) {
                continue;
            }
            // After every kept value at least as large: an equal one has a lower id.
            let at = best.partition_point(|&(_, b)| b.total_cmp(&v).is_ge());
            best.insert(at, (i as u32, v));
            best.truncate(k);
        }
        return best;
    }
    let mut ids: Vec<u32> = (0..values.len() as u32).collect();
    let k = k.min(ids.len());
    let by_value = |a: &u32, b: &u32| {
        values[*b as usize]
            .total_cmp(&values[*a as usize])
            .then(a.cmp(b))
    };
    if k < ids.len() && k > 0 {
        ids.select_nth_unstable_by(k - 1, by_value);
    }
    ids.truncate(k);
    ids.sort_by(by_value);
    ids.into_iter().map(|i| (i, values[i as usize])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_ranks_by_value_then_id_on_both_paths() {
        // Many ties, infinities and a negative zero: the short list and the partition must give
        // the first k of the full order.
        let mut values: Vec<f32> = (0..500).map(|i| ((i * 37) % 23) as f32 / 4.0).collect();
        values[7] = f32::INFINITY;
        values[300] = f32::NEG_INFINITY;
        values[42] = -0.0;
        let mut order: Vec<u32> = (0..values.len() as u32).collect();
        order.sort_by(|a, b| {
            values[*b as usize]
                .total_cmp(&values[*a as usize])
                .then(a.cmp(b))
        });
        for k in [0, 1, 2, 5, 16, 17, 64, 500, 600] {
            let want: Vec<u32> = order.iter().take(k).copied().collect();
            let got: Vec<u32> = top_k(&values, k).into_iter().map(|(i, _)| i).collect();
            assert_eq!(got, want, "k = {k}");
        }
        let probs = softmax(&[1.0, 2.0, 3.0]);
        let sum: f32 = probs.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6 && probs[2] > probs[1]);
    }
}
