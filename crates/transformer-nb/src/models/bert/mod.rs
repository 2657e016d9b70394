//! BERT (Devlin et al., 2018, <https://arxiv.org/abs/1810.04805>): load a checkpoint, run it,
//! look inside.
//!
//! [`Bert`] bundles the tokenizer, the weights and the sentence-embedding recipe of one model
//! folder. The encoder itself (the private `model` module) follows HF transformers' `modeling_bert.py` and keeps
//! every hidden state and attention map, which is what a learner wants to look at.

mod attention_head;
mod config;
mod masked_lm;
mod model;
mod output;
mod random;
mod summary;

use std::path::{Path, PathBuf};

pub use crate::models::attention_head::AttentionHead;
use crate::models::precision;
pub use crate::models::precision::Precision;
pub use config::{BertConfig, HiddenAct};
pub use masked_lm::{FillMask, LayerPredictions, MaskedLm};
#[allow(deprecated)]
pub use output::BertOutput;
pub use output::EncoderOutput;
pub use summary::{ModelSummary, ModuleSize};
pub(crate) use summary::{human_bytes, thousands};

use super::checkpoint::{Checkpoint, RandomWeights};
use super::safetensors::SafeTensors;
use crate::embed::{self, Embeddings, Pooling, PoolingMode};
use crate::error::{Error, Result};
use crate::hub;
use crate::kernels::{Bf16Isa, Isa};
use crate::tensor::Tensor;
use crate::tokenize::{Batch, Encoding, Tokenizer};
use model::{BertModel, Inputs};

/// Texts embedded per forward pass by [`Bert::embed`]; bounds memory on a 4 GiB machine.
const EMBED_CHUNK: usize = 32;

/// A BERT model ready to run: tokenizer, weights, config and pooling recipe.
///
/// A `Bert` is `Send + Sync`: threads can share one model (in an `Arc`) and each gets exactly
/// the results a single thread would.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// // Needs this model in the Hugging Face cache (see "The examples in these docs").
/// let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
/// let enc = bert.tokenizer().encode("I read a good novel.")?;
/// let out = bert.forward(&enc)?;
/// assert_eq!(out.last_hidden_state().dims(), [1, 8, 384]);
/// assert_eq!(out.attentions().len(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Bert {
    model: BertModel,
    config: BertConfig,
    tokenizer: Tokenizer,
    embed_tokenizer: Tokenizer,
    pooling: Pooling,
    dir: PathBuf,
    /// Set for a model made by [`Bert::random`]: its tensors, regenerated on demand.
    random: Option<RandomWeights>,
    precision: Precision,
}

impl std::fmt::Debug for Bert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bert")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .field("pooling", &self.pooling)
            .field("precision", &self.precision)
            .finish_non_exhaustive()
    }
}

/// Files a model folder may hold beyond the required ones.
const OPTIONAL_FILES: &[&str] = &[
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "1_Pooling/config.json",
    "sentence_bert_config.json",
];

impl Bert {
    /// Loads a model folder: `config.json`, `model.safetensors`, `tokenizer.json` (or
    /// `vocab.txt`), and for sentence-transformers checkpoints `modules.json` and
    /// `1_Pooling/config.json`.
    ///
    /// The weights are read one tensor at a time and packed for the matrix kernels, so that
    /// loading needs little more memory than the weights themselves (which matters on a 4 GiB
    /// machine).
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let bert = Bert::from_dir("models/all-MiniLM-L6-v2")?;
    /// assert_eq!(bert.config().hidden_size, 384);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_dir_with(dir, Precision::F32)
    }

    /// [`from_dir`](Self::from_dir) with the weights of the matrix products held in
    /// `precision` (see [`Precision`]). For bf16 this is better than
    /// [`with_precision`](Self::with_precision) after loading: each layer is rounded as it is
    /// read, so the process never holds the whole model in f32 (BERT-base: 418 MB of weights
    /// → about 250 MB). On a CPU without AVX512_BF16 it loads f32 and prints a line saying so.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let bert = Bert::from_dir_with("models/bert-base-uncased", Precision::Bf16)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_dir_with(dir: impl AsRef<Path>, precision: Precision) -> Result<Self> {
        let dir = dir.as_ref();
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                file: "config.json".into(),
                hint: "a model folder needs config.json, model.safetensors and tokenizer.json \
                       (or vocab.txt); check the path, or use Bert::from_pretrained"
                    .into(),
            });
        }
        let config = BertConfig::from_file(&config_path)?;
        let weights = dir.join("model.safetensors");
        if weights.is_dir() {
            return Err(Error::InvalidFile {
                path: weights,
                what: "safetensors file",
                message: "model.safetensors is a folder, not a file: put the checkpoint's \
                          weights file there"
                    .into(),
            });
        }
        if !weights.is_file() {
            let hint = if dir.join("pytorch_model.bin").is_file() {
                "only safetensors weights are supported; convert pytorch_model.bin with \
                 `safetensors` in Python (or download model.safetensors from the Hub)"
            } else {
                "copy model.safetensors of the checkpoint into this folder"
            };
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                file: "model.safetensors".into(),
                hint: hint.into(),
            });
        }
        let tokenizer = Tokenizer::from_dir(dir)?;
        let bf16 = match precision {
            Precision::F32 => None,
            Precision::Quantized => {
                eprintln!("{}", precision::NOT_QUANTIZED);
                None
            }
            Precision::Bf16 => {
                let isa = Isa::detect().bf16();
                if isa.is_none() {
                    eprintln!("{}", precision::BF16_UNAVAILABLE);
                }
                isa
            }
        };
        let model = load_weights(&weights, &config, bf16)?;
        let pooling = Pooling::from_dir(dir)?;
        let embed_tokenizer = match embed::max_seq_length(dir)? {
            Some(n) if n < tokenizer.max_length() => tokenizer.with_max_length(n)?,
            _ => tokenizer.clone(),
        };
        Ok(Bert {
            model,
            config,
            tokenizer,
            embed_tokenizer,
            pooling,
            dir: dir.to_path_buf(),
            random: None,
            precision: match bf16 {
                Some(_) => Precision::Bf16,
                None => Precision::F32,
            },
        })
    }

    /// Loads a model by its Hugging Face Hub id, from the local cache when it is there (see
    /// [`hub`](mod@crate::hub)), else downloading it unless `HF_HUB_OFFLINE=1`.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// assert_eq!(bert.config().num_hidden_layers, 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pretrained(model_id: &str) -> Result<Self> {
        Self::from_pretrained_with(model_id, Precision::F32)
    }

    /// [`from_pretrained`](Self::from_pretrained) with the weights of the matrix products
    /// held in `precision`; see [`from_dir_with`](Self::from_dir_with).
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let bert = Bert::from_pretrained_with("sentence-transformers/all-MiniLM-L6-v2", Precision::Bf16)?;
    /// println!("running in {}", bert.precision()); // f32 where the CPU has no AVX512_BF16
    /// let emb = bert.embed(&["I read a good novel."])?;
    /// assert_eq!(emb.vectors()[0].len(), 384);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pretrained_with(model_id: &str, precision: Precision) -> Result<Self> {
        let dir = hub::snapshot_dir(
            model_id,
            &[
                &["config.json"],
                &["model.safetensors"],
                &["tokenizer.json", "vocab.txt"],
            ],
            OPTIONAL_FILES,
        )?;
        Self::from_dir_with(dir, precision)
    }

    /// The tokenizer that belongs to the model.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let enc = bert.tokenizer().encode("I read a good novel.")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model's `config.json`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// assert_eq!(bert.config().num_attention_heads, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// How [`embed`](Self::embed) pools token vectors for this checkpoint.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// assert!(bert.pooling().normalize);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The folder the model was loaded from.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// assert!(bert.dir().join("config.json").is_file());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One tensor of the checkpoint, by its name in HF's `BertModel` (what
    /// `model.state_dict()[name]` holds in PyTorch), read from `model.safetensors` as f32:
    /// for computing a layer by hand (notebook 07). A checkpoint that stores the names under
    /// `bert.`, or LayerNorms as `gamma`/`beta`, is found by the same names.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let w_o = bert.weight("encoder.layer.1.attention.output.dense.weight")?;
    /// assert_eq!(w_o.dims(), [32, 32]);   // [out, in], as PyTorch's Linear keeps it
    /// assert!(bert.weight("encoder.layer.2.output.dense.weight").is_err()); // 2 layers
    /// assert!(bert.weight_names()?.contains(&"pooler.dense.bias".to_string()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn weight(&self, name: &str) -> Result<Tensor> {
        let file = self.checkpoint()?;
        let old_name = name
            .strip_suffix(".LayerNorm.weight")
            .map(|stem| format!("{stem}.LayerNorm.gamma"))
            .or_else(|| {
                name.strip_suffix(".LayerNorm.bias")
                    .map(|stem| format!("{stem}.LayerNorm.beta"))
            });
        let mut candidates = vec![name.to_string(), format!("bert.{name}")];
        if let Some(old) = old_name {
            candidates.extend([format!("bert.{old}"), old]);
        }
        for candidate in &candidates {
            if let Some(shape) = file.shape(candidate) {
                let shape = shape.to_vec();
                let values = file.read(candidate, &shape)?;
                return Tensor::from_vec(values, shape);
            }
        }
        Err(Error::weights_missing(
            file.path(),
            format!(
                "there is no tensor {name}: the names are HF's, such as \
                 encoder.layer.0.attention.output.dense.weight (bert.weight_names() lists them)"
            ),
        ))
    }

    /// The names of the checkpoint's tensors, sorted, as [`weight`](Self::weight) takes them
    /// (without a `bert.` prefix the file may have).
    pub fn weight_names(&self) -> Result<Vec<String>> {
        let file = self.checkpoint()?;
        let mut names: Vec<String> = file
            .names()
            .into_iter()
            .map(|name| name.strip_prefix("bert.").unwrap_or(name).to_string())
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    /// The tensors this model was read from: its `model.safetensors`, opened again, or the
    /// random ones of [`Bert::random`].
    pub(crate) fn checkpoint(&self) -> Result<Checkpoint> {
        Ok(match &self.random {
            Some(random) => Checkpoint::Random(random.clone()),
            None => Checkpoint::File(SafeTensors::open(&self.dir.join("model.safetensors"))?),
        })
    }

    /// The model's parameters per module (embeddings, each layer's attention, intermediate and
    /// output, pooler) with their dtype and bytes, the totals, and the memory this process
    /// holds for them: the tutorial's "check memory usage". The total is what HF's
    /// `sum(p.numel() for p in model.parameters())` gives.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let summary = bert.summary();
    /// assert_eq!(summary.total_parameters(), 22_713_216);
    /// assert_eq!(summary.modules()[1].name, "encoder.layer.0.attention");
    /// assert!(summary.to_html().contains("22,713,216"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn summary(&self) -> ModelSummary {
        let sizes = self.model.module_sizes();
        ModelSummary {
            held_bytes: sizes.iter().map(|(_, sizes)| sizes.held_bytes).sum(),
            modules: sizes
                .into_iter()
                .map(|(name, sizes)| {
                    let f32_parameters = sizes.parameters - sizes.bf16_parameters;
                    ModuleSize {
                        name,
                        parameters: sizes.parameters,
                        dtype: if sizes.bf16_parameters == 0 {
                            "f32"
                        } else {
                            "bf16 + f32"
                        },
                        bytes: f32_parameters * size_of::<f32>() + sizes.bf16_parameters * 2,
                    }
                })
                .collect(),
        }
    }

    /// The same model with the weights of its matrix products held and multiplied in
    /// `precision` (see [`Precision`]); to load a model in bf16, prefer
    /// [`from_pretrained_with`](Self::from_pretrained_with), which needs less memory. Asking for [`Precision::Bf16`] on a CPU without
    /// AVX512_BF16 leaves the model f32 and prints a line saying so on stderr (the notebook
    /// shows it): check [`precision`](Self::precision) or [`Precision::is_available`]. Going
    /// back to `F32` widens the bf16 weights, which keep their rounding: load the model again
    /// for its exact values.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let bert = Bert::tiny_random()?.with_precision(Precision::Bf16);
    /// let expected = if Precision::Bf16.is_available() { Precision::Bf16 } else { Precision::F32 };
    /// assert_eq!(bert.precision(), expected);
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// assert_eq!(out.last_hidden_state().dims(), [1, 8, 32]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_precision(mut self, precision: Precision) -> Self {
        match precision {
            Precision::F32 => {
                self.model.set_bf16(None);
                self.precision = Precision::F32;
            }
            Precision::Bf16 => match self.model.isa().bf16() {
                Some(isa) => {
                    self.model.set_bf16(Some(isa));
                    self.precision = Precision::Bf16;
                }
                None => eprintln!("{}", precision::BF16_UNAVAILABLE),
            },
            Precision::Quantized => eprintln!("{}", precision::NOT_QUANTIZED),
        }
        self
    }

    /// The precision the matrix products run in: `F32` unless
    /// [`with_precision`](Self::with_precision) made it `Bf16`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// assert_eq!(bert.precision(), Precision::F32);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// An estimate of the memory a [`forward_batch`](Self::forward_batch) of `batch` texts of
    /// `seq_len` tokens holds at its peak: every hidden state and attention map it returns, and
    /// the buffers of one layer while it runs. `None` when the number does not fit a `usize`.
    /// A pass that would need more than 1 GiB is refused with an error.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let bytes = bert.activation_bytes(8, 128).unwrap();
    /// assert!(bytes > 8 * 2 * 4 * 128 * 128 * 4); // at least the attention maps
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn activation_bytes(&self, batch: usize, seq_len: usize) -> Option<usize> {
        self.model
            .activation_values(batch, seq_len, true)?
            .checked_mul(size_of::<f32>())
    }

    /// Runs one encoding through the model, keeping every hidden state and attention map.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// assert_eq!(out.attentions().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forward(&self, encoding: &Encoding) -> Result<EncoderOutput> {
        self.run(std::slice::from_ref(encoding), true)
    }

    /// Runs a padded batch through the model; padding is masked out of attention.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let batch = bert.tokenizer().encode_batch(&["short", "a longer one"])?;
    /// let out = bert.forward_batch(&batch)?;
    /// assert_eq!(out.last_hidden_state().dims(), [2, 5, 32]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forward_batch(&self, batch: &Batch) -> Result<EncoderOutput> {
        self.run(batch.encodings(), true)
    }

    /// The last layer's output `[batch, seq, hidden]` of a padded batch, without keeping the
    /// other hidden states and the attention maps: what a feature extractor needs, and what
    /// HF's `BertModel(**inputs).last_hidden_state` computes.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let batch = bert.tokenizer().encode_batch(&["short", "a longer one"])?;
    /// let hidden = bert.last_hidden_state(&batch)?;
    /// assert_eq!(hidden.dims(), [2, 5, 32]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_hidden_state(&self, batch: &Batch) -> Result<Tensor> {
        let mut pass = self.pass(batch.encodings(), false)?;
        Ok(pass
            .hidden_states
            .pop()
            .expect("a pass always returns its last hidden state"))
    }

    /// Sentence embeddings of `texts`, pooled as the checkpoint prescribes (see
    /// [`embed`](mod@crate::embed)); for all-MiniLM-L6-v2 the same vectors as
    /// sentence-transformers' `model.encode(texts)`.
    ///
    /// Texts that are empty or only whitespace are an error: their embedding would be that of
    /// `[CLS] [SEP]` alone, the same for all of them, which is never what was meant.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let emb = bert.embed(&["a cat", "a dog"])?;
    /// assert_eq!(emb.vectors().len(), 2);
    /// assert!(bert.embed(&["a cat", "  "]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        if texts.is_empty() {
            return Err(Error::EmptyBatch { what: "texts" });
        }
        if let Some(index) = texts.iter().position(|t| t.as_ref().trim().is_empty()) {
            return Err(Error::EmptyText {
                index,
                hint: "remove it, or give it some words to embed".into(),
            });
        }
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(EMBED_CHUNK) {
            let batch = self.embed_tokenizer.encode_batch(chunk)?;
            let pass = self.pass(batch.encodings(), false)?;
            let hidden = &pass.hidden_states[pass.hidden_states.len() - 1];
            let masks: Vec<&[u32]> = batch
                .encodings()
                .iter()
                .map(Encoding::attention_mask)
                .collect();
            vectors.extend(pool(hidden, &masks, self.pooling));
        }
        Embeddings::new(
            texts.iter().map(|t| t.as_ref().to_string()).collect(),
            vectors,
            self.pooling,
        )
    }

    fn run(&self, encodings: &[Encoding], collect: bool) -> Result<EncoderOutput> {
        let pass = self.pass(encodings, collect)?;
        Ok(EncoderOutput::new(
            pass.hidden_states,
            pass.attentions,
            pass.pooler_output,
            encodings.iter().map(|e| e.tokens().to_vec()).collect(),
            encodings.iter().map(|e| e.type_ids().to_vec()).collect(),
            encodings
                .iter()
                .map(|e| e.attention_mask().iter().filter(|&&m| m == 1).count())
                .collect(),
        ))
    }

    /// Checks the encodings against the model, then runs them.
    fn pass(&self, encodings: &[Encoding], collect: bool) -> Result<model::Pass> {
        let Some(first) = encodings.first() else {
            return Err(Error::EmptyBatch { what: "encodings" });
        };
        let seq_len = first.len();
        if seq_len == 0 {
            return Err(Error::invalid(
                "an encoding has no tokens: encode some text first",
            ));
        }
        if encodings.iter().any(|e| e.len() != seq_len) {
            return Err(Error::invalid(
                "the encodings differ in length: tokenize them together with encode_batch, \
                 which pads them to one length",
            ));
        }
        if seq_len > self.config.max_position_embeddings {
            return Err(Error::invalid(format!(
                "{seq_len} tokens are more than this model's {} positions: tokenize with \
                 the model's tokenizer, which truncates to its maximum",
                self.config.max_position_embeddings
            )));
        }
        self.model
            .check_activations(encodings.len(), seq_len, collect)?;
        for encoding in encodings {
            if let Some(&id) = encoding
                .ids()
                .iter()
                .find(|&&id| id as usize >= self.config.vocab_size)
            {
                return Err(Error::invalid(format!(
                    "token id {id} is outside this model's vocabulary of {}: the encoding \
                     comes from another tokenizer; use bert.tokenizer()",
                    self.config.vocab_size
                )));
            }
            if let Some(&t) = encoding
                .type_ids()
                .iter()
                .find(|&&t| t as usize >= self.config.type_vocab_size)
            {
                return Err(Error::invalid(format!(
                    "token type {t} is outside this model's {} token types",
                    self.config.type_vocab_size
                )));
            }
        }
        let ids: Vec<&[u32]> = encodings.iter().map(Encoding::ids).collect();
        let type_ids: Vec<&[u32]> = encodings.iter().map(Encoding::type_ids).collect();
        let attention_mask: Vec<&[u32]> = encodings.iter().map(Encoding::attention_mask).collect();
        let inputs = Inputs {
            ids: &ids,
            type_ids: &type_ids,
            attention_mask: &attention_mask,
        };
        Ok(self.model.forward(&inputs, collect))
    }
}

/// Pools the last hidden state `[batch, seq, hidden]` into one vector per sequence over the
/// tokens its attention mask keeps, as sentence-transformers' `Pooling` (then `Normalize`).
fn pool(hidden: &Tensor, masks: &[&[u32]], pooling: Pooling) -> Vec<Vec<f32>> {
    let (seq, width) = (hidden.dims()[1], hidden.dims()[2]);
    let sequences = hidden.values().chunks_exact((seq * width).max(1));
    let mut pooled: Vec<Vec<f32>> = sequences
        .zip(masks)
        .map(|(sequence, mask)| {
            let tokens = sequence.chunks_exact(width.max(1)).zip(mask.iter());
            let kept = || tokens.clone().filter(|&(_, &m)| m != 0).map(|(t, _)| t);
            let sum = || {
                kept().fold(vec![0f32; width], |mut sum, token| {
                    sum.iter_mut().zip(token).for_each(|(s, &v)| *s += v);
                    sum
                })
            };
            let count = kept().count() as f32;
            match pooling.mode {
                PoolingMode::Cls => sequence[..width].to_vec(),
                // sentence-transformers clamps the count at 1e-9: an all-padding row cannot
                // divide by 0.
                PoolingMode::Mean => sum().iter().map(|s| s / count.max(1e-9)).collect(),
                PoolingMode::MeanSqrtLen => sum()
                    .iter()
                    .map(|s| s / count.max(1e-9) * count.sqrt())
                    .collect(),
                // Padding is set far below any real value before the maximum, as
                // sentence-transformers does.
                PoolingMode::Max => tokens.fold(vec![f32::MIN; width], |mut max, (token, &m)| {
                    let penalty = if m == 0 { -1e9 } else { 0.0 };
                    max.iter_mut()
                        .zip(token)
                        .for_each(|(x, &v)| *x = x.max(v + penalty));
                    max
                }),
            }
        })
        .collect();
    if pooling.normalize {
        // sentence-transformers' Normalize: x / max(‖x‖, 1e-12).
        for vector in &mut pooled {
            let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            vector.iter_mut().for_each(|v| *v /= norm);
        }
    }
    pooled
}

/// Reads `model.safetensors` into the encoder, finding the tensors whether they are stored as
/// `embeddings.*` (BertModel) or `bert.embeddings.*` (BertForPreTraining, ...).
fn load_weights(path: &Path, config: &BertConfig, bf16: Option<Bf16Isa>) -> Result<BertModel> {
    let file = Checkpoint::File(SafeTensors::open(path)?);
    let root = if file.contains("embeddings.word_embeddings.weight") {
        ""
    } else if file.contains("bert.embeddings.word_embeddings.weight") {
        "bert."
    } else {
        return Err(Error::weights_missing(
            path,
            "no tensor embeddings.word_embeddings.weight (nor bert.embeddings...): this is not \
             a BERT checkpoint",
        ));
    };
    BertModel::read(&file, root, config, bf16)
}
