//! Reading a tokenizer from its files: `tokenizer.json` (what HF's fast tokenizers save), a bare
//! `vocab.txt` with the options of `tokenizer_config.json` (BERT), GPT-2's `vocab.json` and
//! `merges.txt`, or the tokenizer a GGUF file's metadata describes.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::added::AddedToken;
use super::decoders::{Decoder, WordPieceDecoder};
use super::models::{Bpe, Model, WordPiece};
use super::normalizers::BertNormalizer;
use super::pipeline::{Pipeline, Stages};
use super::pre_tokenizers::{LLAMA3_PATTERN, PreTokenizer};
use super::processors::{PostProcessor, Template, TemplatePiece};
use crate::error::{Error, Result};
use crate::gguf::{GgufFile, MetaValue};

/// What this crate runs; named in the error for anything else.
const SUPPORTED: &str = "transformer-nb runs BERT WordPiece tokenizers (normalizer \
    BertNormalizer, pre-tokenizer BertPreTokenizer, model WordPiece, post-processor \
    BertProcessing or TemplateProcessing, decoder WordPiece) and byte-level BPE tokenizers like \
    GPT-2's, SmolLM2's and Llama 3's (pre-tokenizer ByteLevel, alone or after Digits or Llama 3's \
    Split, model BPE, post-processor ByteLevel and/or TemplateProcessing, decoder ByteLevel); \
    each part may also be null, the model excepted";

#[derive(Deserialize)]
struct TokenizerJson {
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    #[serde(default)]
    normalizer: Option<Value>,
    #[serde(default)]
    pre_tokenizer: Option<Value>,
    #[serde(default)]
    post_processor: Option<Value>,
    #[serde(default)]
    decoder: Option<Value>,
    model: Value,
}

#[derive(Deserialize)]
#[serde(default)]
struct BertNormalizerJson {
    clean_text: bool,
    handle_chinese_chars: bool,
    strip_accents: Option<bool>,
    lowercase: bool,
}

impl Default for BertNormalizerJson {
    fn default() -> Self {
        BertNormalizerJson {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: None,
            lowercase: true,
        }
    }
}

#[derive(Deserialize)]
struct WordPieceJson {
    vocab: HashMap<String, u32>,
    #[serde(default = "unk")]
    unk_token: String,
    #[serde(default = "continuation")]
    continuing_subword_prefix: String,
    #[serde(default = "max_chars")]
    max_input_chars_per_word: usize,
}

fn unk() -> String {
    "[UNK]".into()
}
fn continuation() -> String {
    "##".into()
}
fn max_chars() -> usize {
    100
}

#[derive(Deserialize)]
struct BpeJson {
    vocab: HashMap<String, u32>,
    merges: Vec<MergeJson>,
    #[serde(default)]
    dropout: Option<f64>,
    #[serde(default)]
    unk_token: Option<String>,
    #[serde(default)]
    continuing_subword_prefix: Option<String>,
    #[serde(default)]
    end_of_word_suffix: Option<String>,
    #[serde(default)]
    fuse_unk: bool,
    #[serde(default)]
    byte_fallback: bool,
    #[serde(default)]
    ignore_merges: bool,
}

/// A merge as older files write it (`"Ġ t"`) or newer ones (`["Ġ", "t"]`).
#[derive(Deserialize)]
#[serde(untagged)]
enum MergeJson {
    Line(String),
    Pair(String, String),
}

#[derive(Deserialize)]
struct ByteLevelJson {
    #[serde(default = "yes")]
    add_prefix_space: bool,
    #[serde(default = "yes")]
    trim_offsets: bool,
    #[serde(default = "yes")]
    use_regex: bool,
}

#[derive(Deserialize)]
struct DigitsJson {
    #[serde(default)]
    individual_digits: bool,
}

#[derive(Deserialize)]
struct SplitJson {
    pattern: SplitPatternJson,
    behavior: String,
    #[serde(default)]
    invert: bool,
}

#[derive(Deserialize)]
enum SplitPatternJson {
    Regex(String),
    String(String),
}

#[derive(Deserialize)]
struct BertProcessingJson {
    sep: (String, u32),
    cls: (String, u32),
}

#[derive(Deserialize)]
struct TemplateJson {
    single: Vec<PieceJson>,
    pair: Vec<PieceJson>,
    #[serde(default)]
    special_tokens: HashMap<String, SpecialJson>,
}

#[derive(Deserialize)]
enum PieceJson {
    Sequence { id: TextId, type_id: u32 },
    SpecialToken { id: String, type_id: u32 },
}

#[derive(Deserialize, PartialEq)]
enum TextId {
    A,
    B,
}

#[derive(Deserialize)]
struct SpecialJson {
    ids: Vec<u32>,
    tokens: Vec<String>,
}

#[derive(Deserialize)]
struct DecoderJson {
    #[serde(default = "continuation")]
    prefix: String,
    #[serde(default = "yes")]
    cleanup: bool,
}

fn yes() -> bool {
    true
}

/// Reads `tokenizer.json`.
pub(super) fn from_tokenizer_json(path: &Path) -> Result<Pipeline> {
    let invalid = |message: String| Error::InvalidFile {
        path: path.to_path_buf(),
        what: "tokenizer.json",
        message,
    };
    let text = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let file: TokenizerJson =
        serde_json::from_slice(&text).map_err(|e| Error::json(path, "tokenizer.json", e))?;
    let part = |value: &Option<Value>, what: &str| -> Result<Option<(String, Value)>> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(value) => match value.get("type").and_then(Value::as_str) {
                Some(kind) => Ok(Some((kind.to_string(), value.clone()))),
                None => Err(invalid(format!("its {what} has no \"type\""))),
            },
        }
    };
    // A well-formed file of another kind (BPE, Unigram, …): say what this crate runs.
    let unsupported = |what: &str, kind: &str| Error::InvalidFile {
        path: path.to_path_buf(),
        what: "tokenizer.json for transformer-nb",
        message: format!("its {what} is {kind}; {SUPPORTED}"),
    };

    let normalizer = match part(&file.normalizer, "normalizer")? {
        None => None,
        Some((kind, value)) if kind == "BertNormalizer" => {
            let n: BertNormalizerJson = parse(value, "normalizer", &invalid)?;
            Some(BertNormalizer {
                clean_text: n.clean_text,
                handle_chinese_chars: n.handle_chinese_chars,
                strip_accents: n.strip_accents,
                lowercase: n.lowercase,
            })
        }
        Some((kind, _)) => return Err(unsupported("normalizer", &kind)),
    };
    let pre_tokenizer = match &file.pre_tokenizer {
        None | Some(Value::Null) => None,
        Some(value) => Some(pre_tokenizer(value, &invalid, &unsupported)?),
    };
    let model = match part(&Some(file.model), "model")? {
        Some((kind, value)) if kind == "WordPiece" => {
            let m: WordPieceJson = parse(value, "model", &invalid)?;
            Model::WordPiece(
                wordpiece(
                    m.vocab,
                    m.unk_token,
                    m.continuing_subword_prefix,
                    m.max_input_chars_per_word,
                )
                .map_err(invalid)?,
            )
        }
        Some((kind, value)) if kind == "BPE" => {
            let m: BpeJson = parse(value, "model", &invalid)?;
            Model::Bpe(bpe(m, &invalid, &unsupported)?)
        }
        Some((kind, _)) => return Err(unsupported("model", &kind)),
        None => return Err(invalid(format!("it has no model; {SUPPORTED}"))),
    };
    let mut post_processor = PostProcessor::default();
    if let Some((kind, value)) = part(&file.post_processor, "post-processor")? {
        let processors = if kind == "Sequence" {
            match value.get("processors").and_then(Value::as_array) {
                Some(all) => all.clone(),
                None => {
                    return Err(invalid(
                        "its Sequence post-processor lists no processors".into(),
                    ));
                }
            }
        } else {
            vec![value]
        };
        for value in processors {
            let Some((kind, value)) = part(&Some(value), "post-processor")? else {
                continue;
            };
            match kind.as_str() {
                "BertProcessing" => {
                    let p: BertProcessingJson = parse(value, "post-processor", &invalid)?;
                    post_processor.template = Some(Template::bert(p.cls, p.sep));
                }
                "TemplateProcessing" => {
                    let t: TemplateJson = parse(value, "post-processor", &invalid)?;
                    post_processor.template = Some(template(t).map_err(invalid)?);
                }
                "ByteLevel" => {
                    let b: ByteLevelJson = parse(value, "post-processor", &invalid)?;
                    post_processor.trim_offsets = b.trim_offsets;
                    post_processor.add_prefix_space = b.add_prefix_space;
                }
                _ => return Err(unsupported("post-processor", &kind)),
            }
        }
    }
    let decoder = match part(&file.decoder, "decoder")? {
        None => None,
        Some((kind, value)) if kind == "WordPiece" => {
            let d: DecoderJson = parse(value, "decoder", &invalid)?;
            Some(Decoder::WordPiece(WordPieceDecoder {
                prefix: d.prefix,
                cleanup: d.cleanup,
            }))
        }
        Some((kind, _)) if kind == "ByteLevel" => Some(Decoder::ByteLevel),
        Some((kind, _)) => return Err(unsupported("decoder", &kind)),
    };
    Ok(Pipeline::new(Stages {
        added_tokens: file.added_tokens,
        normalizer,
        pre_tokenizer,
        model,
        post_processor,
        decoder,
    }))
}

type Invalid<'a> = &'a dyn Fn(String) -> Error;
type Unsupported<'a> = &'a dyn Fn(&str, &str) -> Error;

/// A pre-tokenizer of `tokenizer.json`, a `Sequence` of them included.
fn pre_tokenizer(
    value: &Value,
    invalid: Invalid,
    unsupported: Unsupported,
) -> Result<PreTokenizer> {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("its pre-tokenizer has no \"type\"".into()))?;
    Ok(match kind {
        "BertPreTokenizer" => PreTokenizer::Bert,
        "ByteLevel" => {
            let b: ByteLevelJson = parse(value.clone(), "pre-tokenizer", invalid)?;
            PreTokenizer::ByteLevel {
                add_prefix_space: b.add_prefix_space,
                use_regex: b.use_regex,
            }
        }
        "Digits" => {
            let d: DigitsJson = parse(value.clone(), "pre-tokenizer", invalid)?;
            PreTokenizer::Digits {
                individual: d.individual_digits,
            }
        }
        "Split" => {
            let s: SplitJson = parse(value.clone(), "pre-tokenizer", invalid)?;
            match (&s.pattern, s.behavior.as_str(), s.invert) {
                (SplitPatternJson::Regex(p), "Isolated", false) if p == LLAMA3_PATTERN => {
                    PreTokenizer::Llama3
                }
                (SplitPatternJson::Regex(p) | SplitPatternJson::String(p), behavior, invert) => {
                    return Err(unsupported(
                        "pre-tokenizer",
                        &format!(
                            "Split with pattern {p:?}, behavior {behavior}, invert {invert} \
                             (only Llama 3's expression, Isolated, is run)"
                        ),
                    ));
                }
            }
        }
        "Sequence" => {
            let all = value
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    invalid("its Sequence pre-tokenizer lists no pretokenizers".into())
                })?;
            PreTokenizer::Sequence(
                all.iter()
                    .map(|p| pre_tokenizer(p, invalid, unsupported))
                    .collect::<Result<_>>()?,
            )
        }
        other => return Err(unsupported("pre-tokenizer", other)),
    })
}

/// The BPE model of `tokenizer.json`; options this crate does not run are errors.
fn bpe(m: BpeJson, invalid: Invalid, unsupported: Unsupported) -> Result<Bpe> {
    if m.dropout.is_some_and(|p| p != 0.0) {
        return Err(unsupported(
            "model",
            "BPE with dropout (use a file without it)",
        ));
    }
    if m.byte_fallback {
        return Err(unsupported("model", "BPE with byte_fallback"));
    }
    let affix = |a: &Option<String>| a.as_deref().is_some_and(|a| !a.is_empty());
    if affix(&m.continuing_subword_prefix) || affix(&m.end_of_word_suffix) {
        return Err(unsupported(
            "model",
            "BPE with a continuing_subword_prefix or end_of_word_suffix",
        ));
    }
    let merges = m
        .merges
        .into_iter()
        .enumerate()
        .map(|(i, merge)| match merge {
            MergeJson::Pair(a, b) => Ok((a, b)),
            MergeJson::Line(line) => merge_line(&line)
                .ok_or_else(|| invalid(format!("merge {} ({line:?}) is not two tokens", i + 1))),
        })
        .collect::<Result<Vec<_>>>()?;
    Bpe::new(m.vocab, &merges, m.unk_token, m.fuse_unk, m.ignore_merges).map_err(invalid)
}

/// `"a b"` as the pair it merges: exactly two tokens, one space between, as `tokenizers` reads it.
fn merge_line(line: &str) -> Option<(String, String)> {
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => Some((a.to_string(), b.to_string())),
        _ => None,
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: Value, what: &str, invalid: Invalid) -> Result<T> {
    serde_json::from_value(value).map_err(|e| invalid(format!("its {what}: {e}")))
}

fn wordpiece(
    vocab: HashMap<String, u32>,
    unk_token: String,
    continuing_subword_prefix: String,
    max_input_chars_per_word: usize,
) -> std::result::Result<WordPiece, String> {
    let unk_id = *vocab.get(&unk_token).ok_or_else(|| {
        format!(
            "the unknown token {unk_token} is not in the vocabulary, so unknown words have no id"
        )
    })?;
    Ok(WordPiece {
        vocab_r: vocab.iter().map(|(t, &id)| (id, t.clone())).collect(),
        vocab,
        unk_token,
        unk_id,
        continuing_subword_prefix,
        max_input_chars_per_word,
    })
}

fn template(t: TemplateJson) -> std::result::Result<Template, String> {
    let pieces = |pieces: Vec<PieceJson>| {
        pieces
            .into_iter()
            .map(|piece| match piece {
                PieceJson::Sequence { id, type_id } => Ok(TemplatePiece::Text {
                    second: id == TextId::B,
                    type_id,
                }),
                PieceJson::SpecialToken { id, type_id } => {
                    let special = t.special_tokens.get(&id).ok_or_else(|| {
                        format!("its template uses {id}, which special_tokens does not list")
                    })?;
                    if special.ids.len() != special.tokens.len() {
                        return Err(format!("special token {id} has unequal ids and tokens"));
                    }
                    Ok(TemplatePiece::Special {
                        ids: special.ids.clone(),
                        tokens: special.tokens.clone(),
                        type_id,
                    })
                }
            })
            .collect::<std::result::Result<Vec<_>, String>>()
    };
    let single = pieces(t.single)?;
    let pair = pieces(t.pair)?;
    Ok(Template { single, pair })
}

/// The options of `tokenizer_config.json` a bare `vocab.txt` needs.
pub(super) struct VocabOptions {
    pub lowercase: bool,
    pub strip_accents: Option<bool>,
    pub tokenize_chinese_chars: bool,
    pub unk: String,
    pub sep: String,
    pub cls: String,
    pub pad: String,
    pub mask: String,
}

/// Builds what `BertTokenizerFast` builds from a bare `vocab.txt`: a token per line, its id
/// the line number.
pub(super) fn from_vocab_txt(path: &Path, options: VocabOptions) -> Result<Pipeline> {
    let invalid = |message: String| Error::InvalidFile {
        path: path.to_path_buf(),
        what: "WordPiece vocab.txt",
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let text =
        String::from_utf8(bytes).map_err(|e| invalid(format!("it is not UTF-8 text ({e})")))?;
    from_vocab_tokens(
        text.lines().map(str::trim_end),
        path,
        "WordPiece vocab.txt",
        options,
    )
}

/// [`from_vocab_txt`] on tokens already in memory, the id of each its position; `path` and
/// `what` name them in errors.
pub(super) fn from_vocab_tokens<'a>(
    tokens: impl Iterator<Item = &'a str>,
    path: &Path,
    what: &'static str,
    options: VocabOptions,
) -> Result<Pipeline> {
    let invalid = |message: String| Error::InvalidFile {
        path: path.to_path_buf(),
        what,
        message,
    };
    let mut vocab = HashMap::new();
    for (line, token) in tokens.enumerate() {
        let id = u32::try_from(line).map_err(|_| invalid("it has over 2^32 tokens".into()))?;
        vocab.insert(token.to_string(), id);
    }
    let model = wordpiece(vocab, options.unk.clone(), "##".into(), 100).map_err(invalid)?;
    let id_of = |token: &str| {
        model.vocab.get(token).copied().ok_or_else(|| {
            invalid(format!(
                "the special token {token} is not in the vocabulary"
            ))
        })
    };
    let sep = (options.sep.clone(), id_of(&options.sep)?);
    let cls = (options.cls.clone(), id_of(&options.cls)?);
    let mut added: Vec<AddedToken> = Vec::new();
    for token in [
        options.unk,
        options.pad,
        options.mask,
        options.sep,
        options.cls,
    ] {
        if let (Some(&id), false) = (
            model.vocab.get(&token),
            added.iter().any(|t| t.content == token),
        ) {
            added.push(AddedToken::special(id, token));
        }
    }
    Ok(Pipeline::new(Stages {
        added_tokens: added,
        normalizer: Some(BertNormalizer {
            clean_text: true,
            handle_chinese_chars: options.tokenize_chinese_chars,
            strip_accents: options.strip_accents,
            lowercase: options.lowercase,
        }),
        pre_tokenizer: Some(PreTokenizer::Bert),
        model: Model::WordPiece(model),
        post_processor: PostProcessor {
            template: Some(Template::bert(cls, sep)),
            ..PostProcessor::default()
        },
        decoder: Some(Decoder::WordPiece(WordPieceDecoder {
            prefix: "##".into(),
            cleanup: true,
        })),
    }))
}

/// A byte-level BPE pipeline: GPT-2's split unless `pre_tokenizer` says otherwise, the byte-level
/// decoder, and the given added tokens and template.
fn byte_level(
    model: Bpe,
    added_tokens: Vec<AddedToken>,
    pre_tokenizer: PreTokenizer,
    template: Option<Template>,
) -> Pipeline {
    Pipeline::new(Stages {
        added_tokens,
        normalizer: None,
        pre_tokenizer: Some(pre_tokenizer),
        model: Model::Bpe(model),
        post_processor: PostProcessor {
            template,
            ..PostProcessor::default()
        },
        decoder: Some(Decoder::ByteLevel),
    })
}

/// GPT-2's pre-tokenizer: its split, no space added before the text.
fn gpt2_split() -> PreTokenizer {
    PreTokenizer::ByteLevel {
        add_prefix_space: false,
        use_regex: true,
    }
}

/// The token GPT-2's files add as special: it ends every document of its training text.
pub(super) const GPT2_END_OF_TEXT: &str = "<|endoftext|>";

/// Builds what `GPT2TokenizerFast` builds from `vocab.json` and `merges.txt`: byte-level BPE with
/// GPT-2's split, `<|endoftext|>` a special token, no special tokens added around the text.
pub(super) fn from_vocab_merges(vocab_path: &Path, merges_path: &Path) -> Result<Pipeline> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| Error::io("read", path, e));
    let vocab: HashMap<String, u32> = serde_json::from_slice(&read(vocab_path)?).map_err(|e| {
        Error::json(
            vocab_path,
            "BPE vocab.json (a JSON object of token to id)",
            e,
        )
    })?;
    let invalid = |message: String| Error::InvalidFile {
        path: merges_path.to_path_buf(),
        what: "BPE merges.txt (a line \"a b\" per merge)",
        message,
    };
    let text = String::from_utf8(read(merges_path)?)
        .map_err(|e| invalid(format!("it is not UTF-8 text ({e})")))?;
    let merges = text
        .lines()
        .filter(|line| !line.starts_with("#version"))
        .enumerate()
        .map(|(i, line)| {
            merge_line(line)
                .ok_or_else(|| invalid(format!("merge {} ({line:?}) is not two tokens", i + 1)))
        })
        .collect::<Result<Vec<_>>>()?;
    let added = match vocab.get(GPT2_END_OF_TEXT) {
        Some(&id) => vec![AddedToken::special(id, GPT2_END_OF_TEXT.into())],
        None => Vec::new(),
    };
    let model =
        Bpe::new(vocab, &merges, None, false, false).map_err(|message| Error::InvalidFile {
            path: merges_path.to_path_buf(),
            what: "BPE merges.txt for this vocab.json",
            message,
        })?;
    Ok(byte_level(model, added, gpt2_split(), None))
}

/// What a GGUF file's metadata says of its tokenizer (`tokenizer.ggml.*`), for a byte-level BPE
/// tokenizer (`tokenizer.ggml.model = "gpt2"`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ByteLevelBpeSpec {
    /// `tokenizer.ggml.tokens`, in byte-level form (`Ġthe`); a token's id is its index.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.merges`, `"a b"` each, highest priority first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.token_type`: 1 normal, 3 control (special), 4 user-defined; may be empty.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.pre`: how text is split before BPE ("gpt2", "smollm", "llama-bpe").
    pub pre: Option<String>,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    pub padding_token_id: Option<u32>,
    pub unknown_token_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`: the BOS token goes before every text.
    pub add_bos_token: bool,
    /// `tokenizer.chat_template`.
    pub chat_template: Option<String>,
    /// `{architecture}.context_length`: the longest input the model takes.
    pub context_length: Option<usize>,
}

/// The `tokenizer.ggml.pre` names this crate splits text for.
const GGUF_PRE: &str = "\"gpt2\", \"smollm\" and \"llama-bpe\" (also \"llama3\", \"llama-v3\")";

/// Builds the tokenizer of a GGUF file as transformers builds it from the same metadata, with the
/// split llama.cpp's `tokenizer.ggml.pre` names (SmolLM2's puts each digit apart).
pub(super) fn from_spec(spec: &ByteLevelBpeSpec) -> std::result::Result<Pipeline, String> {
    let (pre_tokenizer, ignore_merges) = match spec.pre.as_deref() {
        // Files written before llama.cpp recorded a pre-tokenizer split as GPT-2 does.
        None | Some("gpt2" | "gpt-2") => (gpt2_split(), false),
        Some("smollm") => (
            PreTokenizer::Sequence(vec![
                PreTokenizer::Digits { individual: true },
                gpt2_split(),
            ]),
            false,
        ),
        Some("llama-bpe" | "llama3" | "llama-v3") => (
            PreTokenizer::Sequence(vec![
                PreTokenizer::Llama3,
                PreTokenizer::ByteLevel {
                    add_prefix_space: false,
                    use_regex: false,
                },
            ]),
            true,
        ),
        Some(other) => {
            return Err(format!(
                "its tokenizer.ggml.pre is {other:?}; transformer-nb splits text for {GGUF_PRE}"
            ));
        }
    };
    let mut vocab = HashMap::with_capacity(spec.tokens.len());
    for (id, token) in spec.tokens.iter().enumerate() {
        let id = u32::try_from(id).map_err(|_| "it has over 2^32 tokens".to_string())?;
        vocab.insert(token.clone(), id);
    }
    let merges = spec
        .merges
        .iter()
        .enumerate()
        .map(|(i, line)| {
            merge_line(line)
                .ok_or_else(|| format!("tokenizer.ggml.merges[{i}] ({line:?}) is not two tokens"))
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let token = |id: u32, what: &str| {
        spec.tokens.get(id as usize).cloned().ok_or_else(|| {
            format!(
                "its {what} {id} is not a token: there are {}",
                spec.tokens.len()
            )
        })
    };
    let mut added = Vec::new();
    for (id, &kind) in spec.token_types.iter().enumerate() {
        if kind == 3 || kind == 4 {
            let id = id as u32;
            let mut t = AddedToken::special(id, token(id, "token type entry")?);
            t.special = kind == 3;
            added.push(t);
        }
    }
    // Without token types, the tokens the metadata names are the special ones.
    if spec.token_types.is_empty() {
        for (id, what) in [
            (spec.bos_token_id, "bos_token_id"),
            (spec.eos_token_id, "eos_token_id"),
            (spec.unknown_token_id, "unknown_token_id"),
            (spec.padding_token_id, "padding_token_id"),
        ] {
            if let Some(id) = id {
                added.push(AddedToken::special(id, token(id, what)?));
            }
        }
    }
    let template = match (spec.add_bos_token, spec.bos_token_id) {
        (true, Some(id)) => {
            let bos = (token(id, "bos_token_id")?, id);
            Some(Template::prefix(bos))
        }
        _ => None,
    };
    let model = Bpe::new(vocab, &merges, None, false, ignore_merges)?;
    Ok(byte_level(model, added, pre_tokenizer, template))
}

/// What a GGUF file's metadata says of its tokenizer; fails, saying which key is wrong, for a
/// tokenizer that is not byte-level BPE.
pub(super) fn spec_from_gguf(file: &GgufFile) -> std::result::Result<ByteLevelBpeSpec, String> {
    let text = |key: &str| {
        file.get(key)
            .and_then(MetaValue::as_str)
            .map(str::to_string)
    };
    let number = |key: &str| {
        file.get(key)
            .and_then(MetaValue::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let strings = |key: &str| -> std::result::Result<Vec<String>, String> {
        let Some(values) = file.get(key) else {
            return Ok(Vec::new());
        };
        let values = values
            .as_array()
            .ok_or_else(|| format!("its {key} is not an array"))?;
        values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("its {key} holds a value that is not a string"))
            })
            .collect()
    };
    match text("tokenizer.ggml.model").as_deref() {
        Some("gpt2") => {}
        Some(other) => {
            return Err(format!(
                "its tokenizer.ggml.model is {other:?}; transformer-nb reads the byte-level BPE \
                 tokenizers of GGUF files (\"gpt2\": GPT-2, SmolLM2, Llama 3), not \
                 SentencePiece ones (\"llama\"): use a model of the first kind"
            ));
        }
        None => return Err("it has no tokenizer.ggml.model: it holds no tokenizer".into()),
    }
    let tokens = strings("tokenizer.ggml.tokens")?;
    if tokens.is_empty() {
        return Err("it has no tokenizer.ggml.tokens".into());
    }
    let token_types = match file.get("tokenizer.ggml.token_type") {
        None => Vec::new(),
        Some(values) => values
            .as_array()
            .ok_or("its tokenizer.ggml.token_type is not an array")?
            .iter()
            .map(|v| {
                v.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or("its tokenizer.ggml.token_type holds a value that is not an integer")
            })
            .collect::<std::result::Result<_, _>>()?,
    };
    let architecture = text("general.architecture").unwrap_or_default();
    Ok(ByteLevelBpeSpec {
        merges: strings("tokenizer.ggml.merges")?,
        tokens,
        token_types,
        pre: text("tokenizer.ggml.pre"),
        bos_token_id: number("tokenizer.ggml.bos_token_id"),
        eos_token_id: number("tokenizer.ggml.eos_token_id"),
        padding_token_id: number("tokenizer.ggml.padding_token_id"),
        unknown_token_id: number("tokenizer.ggml.unknown_token_id"),
        add_bos_token: file
            .get("tokenizer.ggml.add_bos_token")
            .and_then(MetaValue::as_bool)
            .unwrap_or(false),
        chat_template: text("tokenizer.chat_template"),
        context_length: number(&format!("{architecture}.context_length")).map(|n| n as usize),
    })
}
