//! Text to tokens: BERT's WordPiece tokenizer and the byte-level BPE tokenizers of GPT-2,
//! SmolLM2 and Llama 3, giving exactly what HF's tokenizers give.
//!
//! The folders follow the pipeline HF's `tokenizers` crate runs (written here for these models
//! alone, so that a notebook does not compile and analyse that crate's 80-odd dependencies):
//!
//! 1. `added`: added tokens are found first, so that `[MASK]` or `<|im_start|>` stays whole;
//! 2. `normalizers`: the rest is normalized (BERT: clean, lowercase and strip accents for
//!    uncased models, space out CJK characters), each character keeping the bytes it came from;
//! 3. `pre_tokenizers`: cut into words (BERT: whitespace and punctuation; byte-level: GPT-2's
//!    or Llama 3's regular expression, digits apart for SmolLM2, then bytes as characters);
//! 4. `models`: each word into tokens (WordPiece, or BPE merges);
//! 5. truncation to the model's maximum, as `tokenizer(text, truncation=True)` in Python, and
//!    the [`Encoding`] says so;
//! 6. `processors`: special tokens around the text by the file's template (`[CLS] A [SEP]`);
//! 7. `decoders`: and back, from ids to text (`##` glued, or bytes to UTF-8); [`TextStream`]
//!    decodes one id at a time as a model generates them.
//!
//! `files` reads `tokenizer.json`, `vocab.txt`, GPT-2's `vocab.json` + `merges.txt` or a GGUF
//! file's metadata into that pipeline; `chat` renders a model's chat template.
//! `tests/tokenizers/tokenizer_vs_hf.rs` and `tests/tokenizers/bpe_vs_hf.rs` check every field against `tokenizers`
//! itself on generated text; a file of another kind (Unigram, say) is an error that says what
//! is supported.

mod added;
mod chat;
mod decoders;
mod encoding;
mod files;
mod models;
mod normalizers;
mod pipeline;
mod pre_tokenizers;
mod processors;
mod stream;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;

pub use chat::ChatMessage;
pub use encoding::{Batch, Encoding};
pub(crate) use files::ByteLevelBpeSpec;
pub use stream::TextStream;

use crate::error::{Error, Result};
use crate::hub;

/// The longest input a BERT checkpoint takes when its files do not say otherwise.
const DEFAULT_MAX_LENGTH: usize = 512;

/// A tokenizer with HF transformers' defaults: special tokens added, truncation to the model's
/// maximum length, no padding for single texts, right padding for batches. BERT's WordPiece
/// tokenizers and the byte-level BPE ones of GPT-2, SmolLM2 and Llama 3 are both this type.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// // Needs this model in the Hugging Face cache (see "The examples in these docs").
/// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
/// let enc = tok.encode("I read a good novel.")?;
/// assert_eq!(enc.tokens(), ["[CLS]", "i", "read", "a", "good", "novel", ".", "[SEP]"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A byte-level tokenizer shows spaces and newlines as `Ġ` and `Ċ` in its tokens, as HF does;
/// [`Encoding::texts`] and [`token_bytes`](Self::token_bytes) give the text behind them:
///
/// ```no_run
/// use transformer_nb::prelude::*;
///
/// let tok = Tokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
/// let enc = tok.encode("The cat sat.")?;
/// assert_eq!(enc.tokens(), ["The", "Ġcat", "Ġsat", "."]);
/// assert_eq!(enc.texts(), ["The", " cat", " sat", "."]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Tokenizer {
    // Shared: copies made by `with_max_length` (one per `embed` call) need not copy the vocabulary.
    pipeline: Arc<pipeline::Pipeline>,
    max_length: usize,
    pad_id: u32,
    pad_token: String,
    mask_token: String,
    bos: Option<(String, u32)>,
    eos: Option<(String, u32)>,
    chat_template: Option<Arc<str>>,
    source: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .field("vocab_size", &self.vocab_size())
            .field("max_length", &self.max_length)
            .finish()
    }
}

/// The parts of `tokenizer_config.json` that matter here; every field is optional.
#[derive(Debug, Default, Deserialize)]
struct TokenizerConfig {
    do_lower_case: Option<bool>,
    strip_accents: Option<bool>,
    tokenize_chinese_chars: Option<bool>,
    model_max_length: Option<f64>,
    unk_token: Option<TokenName>,
    sep_token: Option<TokenName>,
    cls_token: Option<TokenName>,
    pad_token: Option<TokenName>,
    mask_token: Option<TokenName>,
    bos_token: Option<TokenName>,
    eos_token: Option<TokenName>,
    chat_template: Option<ChatTemplates>,
}

/// A special token as `tokenizer_config.json` names it: its text, or an `AddedToken` object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TokenName {
    Text(String),
    Added { content: String },
}

fn name(token: Option<TokenName>) -> Option<String> {
    token.map(|t| match t {
        TokenName::Text(text) | TokenName::Added { content: text } => text,
    })
}

/// One chat template, or several by name (the one named `default` is used).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ChatTemplates {
    One(String),
    Named(Vec<NamedTemplate>),
}

#[derive(Debug, Deserialize)]
struct NamedTemplate {
    name: String,
    template: String,
}

impl ChatTemplates {
    fn default_one(self) -> Option<String> {
        match self {
            ChatTemplates::One(t) => Some(t),
            ChatTemplates::Named(all) => all
                .into_iter()
                .find(|t| t.name == "default")
                .map(|t| t.template),
        }
    }
}

impl Tokenizer {
    /// Loads the tokenizer of a model folder: `tokenizer.json`, or else `vocab.txt` with the
    /// casing options of `tokenizer_config.json` (what `BertTokenizerFast` does for old checkpoints).
    ///
    /// The maximum length comes from `tokenizer_config.json` (`model_max_length`), else from
    /// `config.json` (`max_position_embeddings`), else 512.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_dir("models/all-MiniLM-L6-v2")?;
    /// assert_eq!(tok.max_length(), 512);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                file: "the folder itself".into(),
                hint: "check the path; a model folder holds tokenizer.json or vocab.txt".into(),
            });
        }
        let config: TokenizerConfig = read_optional_json(&dir.join("tokenizer_config.json"))?;
        let tokenizer_json = dir.join("tokenizer.json");
        let vocab_txt = dir.join("vocab.txt");
        if tokenizer_json.is_file() {
            let pipeline = files::from_tokenizer_json(&tokenizer_json)?;
            Self::with_config(pipeline, config, dir, dir)
        } else if vocab_txt.is_file() {
            let pipeline = files::from_vocab_txt(
                &vocab_txt,
                files::VocabOptions {
                    lowercase: config.do_lower_case.unwrap_or(true),
                    strip_accents: config.strip_accents,
                    tokenize_chinese_chars: config.tokenize_chinese_chars.unwrap_or(true),
                    unk: name_or(&config.unk_token, "[UNK]"),
                    sep: name_or(&config.sep_token, "[SEP]"),
                    cls: name_or(&config.cls_token, "[CLS]"),
                    pad: name_or(&config.pad_token, "[PAD]"),
                    mask: name_or(&config.mask_token, "[MASK]"),
                },
            )?;
            Self::with_config(pipeline, config, dir, dir)
        } else {
            Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                file: "tokenizer.json or vocab.txt".into(),
                hint: "copy the tokenizer files of the checkpoint into this folder".into(),
            })
        }
    }

    /// Loads a `tokenizer.json`, BERT's or a byte-level BPE one (GPT-2, SmolLM2, Llama 3), with
    /// the `tokenizer_config.json` and `config.json` beside it when there are (special tokens,
    /// chat template, maximum length), as [`from_dir`](Self::from_dir) does.
    ///
    /// Without a maximum length in those files, a BERT tokenizer truncates at 512 tokens and a
    /// BPE one does not truncate.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_file("models/SmolLM2-135M-Instruct/tokenizer.json")?;
    /// assert_eq!(tok.encode("2024")?.tokens(), ["2", "0", "2", "4"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::MissingFile {
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                file: path.file_name().map_or("tokenizer.json".into(), |n| {
                    n.to_string_lossy().into_owned()
                }),
                hint: "check the path to the tokenizer.json file".into(),
            });
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let config: TokenizerConfig = read_optional_json(&dir.join("tokenizer_config.json"))?;
        let pipeline = files::from_tokenizer_json(path)?;
        Self::with_config(pipeline, config, dir, path)
    }

    /// A BERT WordPiece tokenizer over `tokens`, the id of each its position: what
    /// `BertTokenizerFast(vocab_file)` builds from a `vocab.txt` of these lines, with its
    /// defaults (lowercasing and stripping accents, `[UNK]`, `[CLS]`, `[SEP]`, `[PAD]` and
    /// `[MASK]` as the special tokens, at most 512 tokens). `[UNK]`, `[CLS]` and `[SEP]` must be
    /// among `tokens`. For a model made in code, such as [`Bert::random`](crate::bert::Bert::random).
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "##ing", "."])?;
    /// let enc = tok.encode("Playing.")?;
    /// assert_eq!(enc.tokens(), ["[CLS]", "play", "##ing", ".", "[SEP]"]);
    /// assert_eq!(enc.ids(), [2, 5, 6, 7, 3]);
    /// assert_eq!(tok.encode("Sing")?.tokens(), ["[CLS]", "[UNK]", "[SEP]"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_vocab<S: AsRef<str>>(tokens: impl IntoIterator<Item = S>) -> Result<Self> {
        let tokens: Vec<S> = tokens.into_iter().collect();
        let pipeline = files::from_vocab_tokens(
            tokens.iter().map(AsRef::as_ref),
            Path::new(""),
            "WordPiece vocabulary",
            files::VocabOptions {
                lowercase: true,
                strip_accents: None,
                tokenize_chinese_chars: true,
                unk: "[UNK]".into(),
                sep: "[SEP]".into(),
                cls: "[CLS]".into(),
                pad: "[PAD]".into(),
                mask: "[MASK]".into(),
            },
        )?;
        let config = TokenizerConfig {
            model_max_length: Some(DEFAULT_MAX_LENGTH as f64),
            ..TokenizerConfig::default()
        };
        Self::with_config(pipeline, config, Path::new(""), Path::new(""))
    }

    /// Loads GPT-2's tokenizer from its two files, `vocab.json` (token to id) and `merges.txt`
    /// (a merge per line, highest priority first), as `GPT2TokenizerFast(vocab_file,
    /// merges_file)` does: byte-level BPE, no special tokens added around the text,
    /// `<|endoftext|>` (id 50256) a special token, no truncation (GPT-2 takes 1024 tokens:
    /// [`with_max_length`](Self::with_max_length) sets that).
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
    /// let enc = tok.encode("Hello world<|endoftext|>")?;
    /// assert_eq!(enc.ids(), [15496, 995, 50256]);
    /// assert_eq!(enc.tokens(), ["Hello", "Ġworld", "<|endoftext|>"]);
    /// assert_eq!(tok.eos_token_id(), Some(50256));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_vocab_merges(
        vocab_json: impl AsRef<Path>,
        merges_txt: impl AsRef<Path>,
    ) -> Result<Self> {
        let (vocab_json, merges_txt) = (vocab_json.as_ref(), merges_txt.as_ref());
        let pipeline = files::from_vocab_merges(vocab_json, merges_txt)?;
        let end = pipeline
            .token_to_id(files::GPT2_END_OF_TEXT)
            .map(|id| (files::GPT2_END_OF_TEXT.to_string(), id));
        let (pad_token, pad_id) = end.clone().unwrap_or_default();
        Ok(Tokenizer {
            pipeline: Arc::new(pipeline),
            max_length: usize::MAX,
            pad_id,
            pad_token,
            mask_token: String::new(),
            bos: end.clone(),
            eos: end,
            chat_template: None,
            source: vocab_json.to_path_buf(),
        })
    }

    /// Loads the tokenizer a GGUF file's metadata describes (`tokenizer.ggml.*`), as HF
    /// transformers does for `from_pretrained(..., gguf_file=...)`: byte-level BPE
    /// (`tokenizer.ggml.model = "gpt2"`: GPT-2, SmolLM2, Llama 3), the control tokens special,
    /// the BOS token before each text if `tokenizer.ggml.add_bos_token` says so, the chat template
    /// and the model's context length as the maximum. The text is split as llama.cpp's
    /// `tokenizer.ggml.pre` names: "gpt2", "smollm" (each digit apart) or "llama-bpe".
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
    /// let enc = tok.encode("<|im_start|>user\nIn 2024?")?;
    /// assert_eq!(
    ///     enc.tokens(),
    ///     ["<|im_start|>", "user", "Ċ", "In", "Ġ", "2", "0", "2", "4", "?"]
    /// );
    /// assert_eq!(tok.max_length(), 8192);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_gguf(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = crate::gguf::GgufFile::open(path)?;
        let spec = files::spec_from_gguf(&file).map_err(|message| Error::InvalidFile {
            path: path.to_path_buf(),
            what: "GGUF file with a byte-level BPE tokenizer",
            message,
        })?;
        Self::byte_level_bpe(spec, path)
    }

    /// A byte-level BPE tokenizer from what a GGUF file's metadata says of it.
    pub(crate) fn byte_level_bpe(spec: ByteLevelBpeSpec, source: &Path) -> Result<Self> {
        let pipeline = files::from_spec(&spec).map_err(|message| Error::InvalidFile {
            path: source.to_path_buf(),
            what: "GGUF file with a byte-level BPE tokenizer",
            message,
        })?;
        let named = |id: Option<u32>| id.and_then(|id| Some((pipeline.id_to_token(id)?, id)));
        let bos = named(spec.bos_token_id);
        let eos = named(spec.eos_token_id);
        let (pad_token, pad_id) = named(spec.padding_token_id)
            .or_else(|| eos.clone())
            .unwrap_or_default();
        Ok(Tokenizer {
            pipeline: Arc::new(pipeline),
            max_length: spec.context_length.unwrap_or(usize::MAX),
            pad_id,
            pad_token,
            mask_token: String::new(),
            bos,
            eos,
            chat_template: spec.chat_template.map(Arc::from),
            source: source.to_path_buf(),
        })
    }

    /// The tokenizer of a pipeline read from `dir`'s files, with its `tokenizer_config.json`.
    fn with_config(
        pipeline: pipeline::Pipeline,
        config: TokenizerConfig,
        dir: &Path,
        source: &Path,
    ) -> Result<Self> {
        let wordpiece = !pipeline.is_byte_level();
        let max_length = match config.model_max_length {
            // HF writes a huge sentinel (1e30) when a checkpoint sets no limit.
            Some(n) if (1.0..=1e6).contains(&n) => n as usize,
            _ => max_position_embeddings(dir)?.unwrap_or(if wordpiece {
                DEFAULT_MAX_LENGTH
            } else {
                usize::MAX
            }),
        };
        let with_id =
            |token: Option<String>| token.and_then(|t| pipeline.token_to_id(&t).map(|id| (t, id)));
        // GPT-2's files name no special tokens: `GPT2Tokenizer` defaults them to <|endoftext|>.
        let end = with_id(Some(files::GPT2_END_OF_TEXT.to_string())).filter(|_| !wordpiece);
        let bos = with_id(name(config.bos_token)).or_else(|| end.clone());
        let eos = with_id(name(config.eos_token)).or_else(|| end.clone());
        let (pad_token, pad_id) = if wordpiece {
            let pad_token = name(config.pad_token).unwrap_or_else(|| "[PAD]".to_string());
            let pad_id = pipeline.token_to_id(&pad_token).unwrap_or(0);
            (pad_token, pad_id)
        } else {
            with_id(name(config.pad_token))
                .or_else(|| eos.clone())
                .unwrap_or_default()
        };
        // tokenizer.json may carry the padding/truncation of whoever saved it (all-MiniLM-L6-v2's
        // pads every text to 128). HF transformers overrides both on each call; so do we: they
        // are not read.
        let mask_token =
            name(config.mask_token).unwrap_or_else(|| if wordpiece { "[MASK]" } else { "" }.into());
        Ok(Tokenizer {
            pipeline: Arc::new(pipeline),
            max_length,
            pad_id,
            pad_token,
            mask_token,
            bos,
            eos,
            chat_template: config
                .chat_template
                .and_then(ChatTemplates::default_one)
                .map(Arc::from),
            source: source.to_path_buf(),
        })
    }

    /// Loads the tokenizer of a Hub model, from the local Hugging Face cache when it is there,
    /// else by downloading it (unless `HF_HUB_OFFLINE=1`).
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_pretrained("bert-base-cased")?;
    /// assert_eq!(tok.encode("I read a good novel.")?.tokens()[1], "I");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pretrained(model_id: &str) -> Result<Self> {
        let dir = hub::snapshot_dir(
            model_id,
            &[&["tokenizer.json", "vocab.txt"]],
            &["tokenizer_config.json", "config.json"],
        )?;
        Self::from_dir(dir)
    }

    /// Tokenizes one text: `[CLS] text [SEP]`, no padding, truncated to [`max_length`](Self::max_length).
    ///
    /// An empty or whitespace-only text gives `[CLS] [SEP]`, as in HF transformers. Characters
    /// the vocabulary lacks become `[UNK]`.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let enc = tok.encode("I read a good novel.")?;
    /// assert_eq!(enc.ids(), [101, 1045, 3191, 1037, 2204, 3117, 1012, 102]);
    /// assert_eq!(enc.attention_mask(), [1; 8]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        Ok(self
            .pipeline
            .encode(text, None, true, Some(self.max_length)))
    }

    /// Tokenizes a pair of texts: `[CLS] a [SEP] b [SEP]`, token type 0 for `a`, 1 for `b`.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// let enc = tok.encode_pair("Are you tired?", "I am tired.")?;
    /// assert_eq!(enc.type_ids().iter().filter(|&&t| t == 1).count(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_pair(&self, first: &str, second: &str) -> Result<Encoding> {
        Ok(self
            .pipeline
            .encode(first, Some(second), true, Some(self.max_length)))
    }

    /// Tokenizes several texts and right-pads them with `[PAD]` to the longest, as
    /// `tokenizer(texts, padding=True)` does; the attention mask is 0 on padding.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// let batch = tok.encode_batch(&["short", "a longer one"])?;
    /// assert_eq!(batch.encodings()[0].attention_mask(), [1, 1, 1, 0, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Batch> {
        if texts.is_empty() {
            return Err(Error::EmptyBatch { what: "texts" });
        }
        let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let mut encodings: Vec<Encoding> = inputs
            .par_iter()
            .map(|text| {
                self.pipeline
                    .encode(text, None, true, Some(self.max_length))
            })
            .collect();
        let longest = encodings.iter().map(Encoding::len).max().unwrap_or(0);
        for encoding in &mut encodings {
            encoding.pad_to(longest, self.pad_id, &self.pad_token);
        }
        Ok(Batch::new(encodings))
    }

    /// The word pieces of a text, without special tokens and never truncated (HF's
    /// `tokenizer.tokenize(text)`).
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// assert_eq!(tok.tokenize("tokenization")?, ["token", "##ization"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tokenize(&self, text: &str) -> Result<Vec<String>> {
        let encoding = self.pipeline.encode(text, None, false, None);
        Ok(encoding.tokens().to_vec())
    }

    /// Turns ids back into text, special tokens included, like HF's `tokenizer.decode(ids)`.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// let enc = tok.encode("I read a good novel.")?;
    /// assert_eq!(tok.decode(enc.ids())?, "[CLS] i read a good novel. [SEP]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.decode_with(ids, false)
    }

    /// Turns ids back into text, leaving out `[CLS]`, `[SEP]`, `[PAD]` and the like.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// let enc = tok.encode("I read a good novel.")?;
    /// assert_eq!(tok.decode_without_special_tokens(enc.ids())?, "i read a good novel.");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode_without_special_tokens(&self, ids: &[u32]) -> Result<String> {
        self.decode_with(ids, true)
    }

    fn decode_with(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        let vocab_size = self.vocab_size();
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= vocab_size) {
            return Err(Error::OutOfRange {
                what: "token id",
                index: bad as usize,
                len: vocab_size,
            });
        }
        Ok(self.pipeline.decode(ids, skip_special_tokens))
    }

    /// The id of a token, if the vocabulary has it.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// assert_eq!(tok.token_to_id("[CLS]"), Some(101));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.pipeline.token_to_id(token)
    }

    /// The token of an id, if the id is in the vocabulary.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// assert_eq!(tok.id_to_token(102).as_deref(), Some("[SEP]"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.pipeline.id_to_token(id)
    }

    /// How many tokens the vocabulary has, special tokens included.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// assert_eq!(tok.vocab_size(), 30522);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn vocab_size(&self) -> usize {
        self.pipeline.vocab_size()
    }

    /// The longest encoding this tokenizer produces; longer texts are truncated to it.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// assert_eq!(tok.max_length(), 512);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// A copy of this tokenizer that truncates at `max_length` tokens instead.
    ///
    /// Sentence-transformers checkpoints embed at most `max_seq_length` tokens (256 for
    /// all-MiniLM-L6-v2), fewer than the model could take; [`Bert::embed`](crate::Bert::embed)
    /// uses this to match them.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// let short = tok.with_max_length(4)?;
    /// assert!(short.encode("I read a good novel.")?.is_truncated());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_max_length(&self, max_length: usize) -> Result<Self> {
        if self.pipeline.is_byte_level() {
            let least = self.pipeline.added_around_one() + 1;
            if max_length < least {
                return Err(Error::invalid(format!(
                    "max_length {max_length} leaves no room for the text: use at least {least}"
                )));
            }
        } else if max_length < 2 {
            return Err(Error::invalid(format!(
                "max_length {max_length} leaves no room for [CLS] and [SEP]: use at least 2"
            )));
        }
        let mut copy = self.clone();
        copy.max_length = max_length;
        Ok(copy)
    }

    /// The token that stands for a hidden word in masked-language-model input, e.g. `[MASK]`;
    /// empty for tokenizers without one (GPT-2, SmolLM2).
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// assert_eq!(tok.mask_token(), "[MASK]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mask_token(&self) -> &str {
        &self.mask_token
    }

    /// The folder this tokenizer was loaded from (the file, for [`from_file`](Self::from_file),
    /// [`from_gguf`](Self::from_gguf) and [`from_vocab_merges`](Self::from_vocab_merges)'s
    /// `vocab.json`).
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_dir("models/all-MiniLM-L6-v2")?;
    /// assert!(tok.source().ends_with("all-MiniLM-L6-v2"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The bytes one token stands for on its own: `b" the"` for GPT-2's `Ġthe`, part of a
    /// character's UTF-8 for a token that cuts one; a WordPiece token's own text. `None` for an
    /// id outside the vocabulary.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
    /// assert_eq!(tok.id_to_token(262).as_deref(), Some("Ġthe"));
    /// assert_eq!(tok.token_bytes(262), Some(b" the".to_vec()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        let token = self.pipeline.token(id)?;
        Some(self.pipeline.piece(token, true))
    }

    /// [`token_bytes`](Self::token_bytes) as text, each byte that is no whole character
    /// written `\xNN` (as [`Encoding::texts`] shows them): `" the"` for GPT-2's `Ġthe`.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
    /// assert_eq!(tok.token_text(262).as_deref(), Some(" the"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.token_bytes(id).map(|bytes| pipeline::readable(&bytes))
    }

    /// The id of the token that begins a text (`<|im_start|>` for SmolLM2, `<|endoftext|>` for
    /// GPT-2), if the tokenizer names one.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
    /// assert_eq!(tok.bos_token_id(), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos.as_ref().map(|(_, id)| *id)
    }

    /// The id of the token a model ends its answer with (`<|im_end|>` for SmolLM2's GGUF,
    /// `<|endoftext|>` for GPT-2): where generation stops.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
    /// assert_eq!(tok.eos_token_id(), Some(2));
    /// assert_eq!(tok.eos_token(), Some("<|im_end|>"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn eos_token_id(&self) -> Option<u32> {
        self.eos.as_ref().map(|(_, id)| *id)
    }

    /// The text of the token [`bos_token_id`](Self::bos_token_id) names.
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// # let tok = Tokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
    /// assert_eq!(tok.bos_token(), Some("<|im_start|>"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bos_token(&self) -> Option<&str> {
        self.bos.as_ref().map(|(t, _)| t.as_str())
    }

    /// The text of the token [`eos_token_id`](Self::eos_token_id) names.
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// # let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
    /// assert_eq!(tok.eos_token(), Some("<|endoftext|>"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn eos_token(&self) -> Option<&str> {
        self.eos.as_ref().map(|(t, _)| t.as_str())
    }

    /// The chat template (Jinja) of the model's files, if they have one.
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// # let tok = Tokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
    /// assert!(tok.chat_template().unwrap().contains("<|im_start|>"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// A conversation as the text the model was trained on, rendered by the model's chat
    /// template exactly as HF's `tokenizer.apply_chat_template(messages, tokenize=False,
    /// add_generation_prompt=...)`; with `add_generation_prompt` the text ends where the
    /// assistant's answer begins.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
    /// let prompt = tok.apply_chat_template(&[ChatMessage::user("Hi!")], true)?;
    /// assert!(prompt.ends_with("<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self.chat_template.as_deref().ok_or_else(|| {
            Error::Tokenizer(format!(
                "{} has no chat template: load the model's tokenizer_config.json or GGUF file, \
                 which holds it, or write the prompt yourself",
                self.source.display()
            ))
        })?;
        chat::render(
            template,
            messages,
            add_generation_prompt,
            chat::SpecialTokens {
                bos: self.bos_token(),
                eos: self.eos_token(),
                pad: Some(self.pad_token.as_str()).filter(|t| !t.is_empty()),
            },
        )
    }

    /// A conversation's ids as a model takes them: [`apply_chat_template`](Self::apply_chat_template)
    /// then [`encode`](Self::encode) without adding special tokens (the template writes them)
    /// and without truncation, as HF's `apply_chat_template(messages, tokenize=True)`.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")?;
    /// let enc = tok.encode_chat(&[ChatMessage::user("Hi!")], true)?;
    /// assert_eq!(enc.ids()[0], 1); // <|im_start|>
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<Encoding> {
        let text = self.apply_chat_template(messages, add_generation_prompt)?;
        Ok(self.pipeline.encode(&text, None, false, None))
    }

    /// Decodes ids one at a time, as a model generates them: each [`TextStream::push`] gives
    /// the text that is complete so far, holding back the bytes of a character a token cut.
    /// What a stream gives, put end to end, is what [`decode`](Self::decode) gives for all
    /// the ids (or [`decode_without_special_tokens`](Self::decode_without_special_tokens), with
    /// `skip_special_tokens`).
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
    /// let ids = tok.encode("café 🤗")?.ids().to_vec();
    /// let mut stream = tok.text_stream(false);
    /// let mut text = String::new();
    /// for id in ids {
    ///     if let Some(piece) = stream.push(id)? {
    ///         text.push_str(&piece);
    ///     }
    /// }
    /// text.push_str(&stream.finish());
    /// assert_eq!(text, "café 🤗");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn text_stream(&self, skip_special_tokens: bool) -> TextStream {
        TextStream::new(self.clone(), skip_special_tokens)
    }
}

fn name_or(token: &Option<TokenName>, default: &str) -> String {
    match token {
        Some(TokenName::Text(text) | TokenName::Added { content: text }) => text.clone(),
        None => default.to_string(),
    }
}

fn read_optional_json<T: Default + serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    if !path.is_file() {
        return Ok(T::default());
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::json(path, "JSON file", e))
}

/// `max_position_embeddings` (GPT-2: `n_positions`) of the folder's `config.json`, if it has one.
fn max_position_embeddings(dir: &Path) -> Result<Option<usize>> {
    #[derive(Default, Deserialize)]
    struct Positions {
        max_position_embeddings: Option<usize>,
        n_positions: Option<usize>,
    }
    let config: Positions = read_optional_json(&dir.join("config.json"))?;
    Ok(config.max_position_embeddings.or(config.n_positions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab_dir(lowercase: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ni\nread\na\ngood\nnovel\n.\n##s\n";
        std::fs::write(dir.path().join("vocab.txt"), vocab).unwrap();
        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            format!(r#"{{"do_lower_case": {lowercase}, "model_max_length": 6}}"#),
        )
        .unwrap();
        dir
    }

    #[test]
    fn vocab_txt_alone_builds_a_bert_tokenizer() {
        let dir = vocab_dir(true);
        let tok = Tokenizer::from_dir(dir.path()).unwrap();
        let enc = tok.encode("I read novels").unwrap();
        assert_eq!(
            enc.tokens(),
            ["[CLS]", "i", "read", "novel", "##s", "[SEP]"]
        );
        assert_eq!(enc.special_tokens_mask(), [1, 0, 0, 0, 0, 1]);
        assert!(!enc.is_truncated());
    }

    #[test]
    fn cased_vocab_keeps_case_and_unknowns_become_unk() {
        let dir = vocab_dir(false);
        let tok = Tokenizer::from_dir(dir.path()).unwrap();
        assert_eq!(
            tok.encode("I").unwrap().tokens(),
            ["[CLS]", "[UNK]", "[SEP]"]
        );
    }

    #[test]
    fn truncates_at_model_max_length_and_says_so() {
        let dir = vocab_dir(true);
        let tok = Tokenizer::from_dir(dir.path()).unwrap();
        let enc = tok.encode("i read a good novel . i read").unwrap();
        assert_eq!(enc.len(), 6);
        assert!(enc.is_truncated());
        assert_eq!(enc.tokens().last().map(String::as_str), Some("[SEP]"));
    }

    #[test]
    fn missing_folder_and_missing_files_are_errors() {
        let err = Tokenizer::from_dir("/no/such/folder").unwrap_err();
        assert!(err.to_string().contains("check the path"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = Tokenizer::from_dir(empty.path()).unwrap_err();
        assert!(
            err.to_string().contains("tokenizer.json or vocab.txt"),
            "{err}"
        );
    }

    #[test]
    fn malformed_tokenizer_config_is_an_error_naming_the_file() {
        let dir = vocab_dir(true);
        std::fs::write(dir.path().join("tokenizer_config.json"), "{ not json").unwrap();
        let err = Tokenizer::from_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("tokenizer_config.json"), "{err}");
    }

    #[test]
    fn empty_batch_is_an_error() {
        let dir = vocab_dir(true);
        let tok = Tokenizer::from_dir(dir.path()).unwrap();
        let err = tok.encode_batch::<&str>(&[]).unwrap_err();
        assert!(matches!(err, Error::EmptyBatch { .. }));
    }

    #[test]
    fn decoding_an_unknown_id_is_an_error() {
        let dir = vocab_dir(true);
        let tok = Tokenizer::from_dir(dir.path()).unwrap();
        let err = tok.decode(&[2, 999]).unwrap_err();
        assert!(err.to_string().contains("token id 999"), "{err}");
    }
}
