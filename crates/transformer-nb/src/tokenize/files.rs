//! Reading a tokenizer from its files: `tokenizer.json` (what `BertTokenizerFast` saves), or a
//! bare `vocab.txt` with the options of `tokenizer_config.json`.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::added::AddedToken;
use super::normalize::BertNormalizer;
use super::pipeline::{Decoder, Pipeline, Template, TemplatePiece};
use super::wordpiece::WordPiece;
use crate::error::{Error, Result};

/// What this crate runs; named in the error for anything else.
const SUPPORTED: &str = "transformer-nb runs BERT WordPiece tokenizers: normalizer \
    BertNormalizer, pre-tokenizer BertPreTokenizer, model WordPiece, post-processor \
    BertProcessing or TemplateProcessing, decoder WordPiece (each may also be null, the model \
    excepted)";

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
    let file: TokenizerJson = serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
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
        what: "BERT tokenizer.json",
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
    let split_words = match part(&file.pre_tokenizer, "pre-tokenizer")? {
        None => false,
        Some((kind, _)) if kind == "BertPreTokenizer" => true,
        Some((kind, _)) => return Err(unsupported("pre-tokenizer", &kind)),
    };
    let model = match part(&Some(file.model), "model")? {
        Some((kind, value)) if kind == "WordPiece" => {
            let m: WordPieceJson = parse(value, "model", &invalid)?;
            wordpiece(
                m.vocab,
                m.unk_token,
                m.continuing_subword_prefix,
                m.max_input_chars_per_word,
            )
            .map_err(invalid)?
        }
        Some((kind, _)) => return Err(unsupported("model", &kind)),
        None => return Err(invalid(format!("it has no model; {SUPPORTED}"))),
    };
    let template = match part(&file.post_processor, "post-processor")? {
        None => None,
        Some((kind, value)) if kind == "BertProcessing" => {
            let p: BertProcessingJson = parse(value, "post-processor", &invalid)?;
            Some(Template::bert(p.cls, p.sep))
        }
        Some((kind, value)) if kind == "TemplateProcessing" => {
            let t: TemplateJson = parse(value, "post-processor", &invalid)?;
            Some(template(t).map_err(invalid)?)
        }
        Some((kind, _)) => return Err(unsupported("post-processor", &kind)),
    };
    let decoder = match part(&file.decoder, "decoder")? {
        None => None,
        Some((kind, value)) if kind == "WordPiece" => {
            let d: DecoderJson = parse(value, "decoder", &invalid)?;
            Some(Decoder {
                prefix: d.prefix,
                cleanup: d.cleanup,
            })
        }
        Some((kind, _)) => return Err(unsupported("decoder", &kind)),
    };
    Ok(Pipeline::new(
        file.added_tokens,
        normalizer,
        split_words,
        model,
        template,
        decoder,
    ))
}

fn parse<T: serde::de::DeserializeOwned>(
    value: Value,
    what: &str,
    invalid: &dyn Fn(String) -> Error,
) -> Result<T> {
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
    let mut vocab = HashMap::new();
    for (line, token) in text.lines().enumerate() {
        let id = u32::try_from(line).map_err(|_| invalid("it has over 2^32 lines".into()))?;
        vocab.insert(token.trim_end().to_string(), id);
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
    Ok(Pipeline::new(
        added,
        Some(BertNormalizer {
            clean_text: true,
            handle_chinese_chars: options.tokenize_chinese_chars,
            strip_accents: options.strip_accents,
            lowercase: options.lowercase,
        }),
        true,
        model,
        Some(Template::bert(cls, sep)),
        Some(Decoder {
            prefix: "##".into(),
            cleanup: true,
        }),
    ))
}
