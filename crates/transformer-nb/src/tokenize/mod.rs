//! Text to tokens: a BERT tokenizer that gives exactly what HF transformers' tokenizer gives.
//!
//! The pipeline is the one `BertTokenizerFast` runs (Hugging Face's `tokenizers` crate), written
//! here for BERT alone so that a notebook does not compile and analyse that crate's 80-odd
//! dependencies: added tokens (`[MASK]` stays whole), normalize (clean, lowercase and strip
//! accents for uncased models, space out CJK characters), split words on whitespace and
//! punctuation, WordPiece, truncate, then add `[CLS]`/`[SEP]` by the file's template. Like
//! `tokenizer(text, truncation=True)` in Python, texts longer than the model's maximum are cut to
//! it, and the [`Encoding`] says so. `tests/tokenizer_vs_hf.rs` checks every field against
//! `tokenizers` itself on generated text; a `tokenizer.json` of another kind (BPE, Unigram) is
//! an error that says what is supported.

mod added;
mod encoding;
mod files;
mod normalize;
mod pipeline;
mod wordpiece;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;

pub use encoding::{Batch, Encoding};

use crate::error::{Error, Result};
use crate::hub;

/// The longest input a BERT checkpoint takes when its files do not say otherwise.
const DEFAULT_MAX_LENGTH: usize = 512;

/// A BERT (WordPiece) tokenizer with HF transformers' defaults: special tokens added, truncation
/// to the model's maximum length, no padding for single texts, right padding for batches.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
/// let enc = tok.encode("I read a good novel.")?;
/// assert_eq!(enc.tokens(), ["[CLS]", "i", "read", "a", "good", "novel", ".", "[SEP]"]);
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
    unk_token: Option<String>,
    sep_token: Option<String>,
    cls_token: Option<String>,
    pad_token: Option<String>,
    mask_token: Option<String>,
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
        let pipeline = if tokenizer_json.is_file() {
            files::from_tokenizer_json(&tokenizer_json)?
        } else if vocab_txt.is_file() {
            files::from_vocab_txt(
                &vocab_txt,
                files::VocabOptions {
                    lowercase: config.do_lower_case.unwrap_or(true),
                    strip_accents: config.strip_accents,
                    tokenize_chinese_chars: config.tokenize_chinese_chars.unwrap_or(true),
                    unk: config.unk_token.clone().unwrap_or_else(|| "[UNK]".into()),
                    sep: config.sep_token.clone().unwrap_or_else(|| "[SEP]".into()),
                    cls: config.cls_token.clone().unwrap_or_else(|| "[CLS]".into()),
                    pad: config.pad_token.clone().unwrap_or_else(|| "[PAD]".into()),
                    mask: config.mask_token.clone().unwrap_or_else(|| "[MASK]".into()),
                },
            )?
        } else {
            return Err(Error::MissingFile {
                dir: dir.to_path_buf(),
                file: "tokenizer.json or vocab.txt".into(),
                hint: "copy the tokenizer files of the checkpoint into this folder".into(),
            });
        };

        let max_length = match config.model_max_length {
            // HF writes a huge sentinel (1e30) when a checkpoint sets no limit.
            Some(n) if (1.0..=1e6).contains(&n) => n as usize,
            _ => max_position_embeddings(dir)?.unwrap_or(DEFAULT_MAX_LENGTH),
        };
        let pad_token = config.pad_token.unwrap_or_else(|| "[PAD]".to_string());
        let pad_id = pipeline.token_to_id(&pad_token).unwrap_or(0);

        // tokenizer.json may carry the padding/truncation of whoever saved it (all-MiniLM-L6-v2's
        // pads every text to 128). HF transformers overrides both on each call; so do we: they
        // are not read.
        let mask_token = config.mask_token.unwrap_or_else(|| "[MASK]".to_string());
        Ok(Tokenizer {
            pipeline: Arc::new(pipeline),
            max_length,
            pad_id,
            pad_token,
            mask_token,
            source: dir.to_path_buf(),
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
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let enc = tok.encode_pair("How old are you?", "I am 25.")?;
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
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
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
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
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
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
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
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let short = tok.with_max_length(4)?;
    /// assert!(short.encode("I read a good novel.")?.is_truncated());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_max_length(&self, max_length: usize) -> Result<Self> {
        if max_length < 2 {
            return Err(Error::invalid(format!(
                "max_length {max_length} leaves no room for [CLS] and [SEP]: use at least 2"
            )));
        }
        let mut copy = self.clone();
        copy.max_length = max_length;
        Ok(copy)
    }

    /// The token that stands for a hidden word in masked-language-model input, e.g. `[MASK]`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// assert_eq!(tok.mask_token(), "[MASK]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mask_token(&self) -> &str {
        &self.mask_token
    }

    /// The folder this tokenizer was loaded from.
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
}

fn read_optional_json<T: Default + serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    if !path.is_file() {
        return Ok(T::default());
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::InvalidFile {
        path: path.to_path_buf(),
        what: "JSON file",
        message: e.to_string(),
    })
}

/// `max_position_embeddings` of the folder's `config.json`, if it has one.
fn max_position_embeddings(dir: &Path) -> Result<Option<usize>> {
    #[derive(Default, Deserialize)]
    struct Positions {
        max_position_embeddings: Option<usize>,
    }
    let config: Positions = read_optional_json(&dir.join("config.json"))?;
    Ok(config.max_position_embeddings)
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
