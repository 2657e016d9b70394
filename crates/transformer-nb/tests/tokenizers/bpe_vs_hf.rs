//! Our byte-level BPE tokenizers against Hugging Face's own (`tokenizers`, the Rust library
//! behind `GPT2TokenizerFast`) on generated text: every field of the encoding, decoding, and
//! decoding one id at a time. The real GPT-2 vocabulary (`vocab.json` + `merges.txt`) and the
//! real SmolLM2 one (from its GGUF file) are the inputs; HF's tokenizer is built from the same
//! vocabulary the way transformers' converters build it. Variants of GPT-2's `tokenizer.json`
//! cover a prefix space, trimmed offsets and Llama 3's split.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use crate::util::{encode_both, gpt2_tokenizer_files as gpt2_files, ours, smollm2_gguf, theirs};
use proptest::prelude::*;
use tokenizers::decoders::byte_level::ByteLevel as HfByteLevel;
use tokenizers::models::bpe::BPE;
use transformer_nb::gguf::GgufFile;
use transformer_nb::prelude::*;

/// HF's GPT-2 tokenizer as `GPT2TokenizerFast(vocab_file, merges_file)` builds it (transformers'
/// `GPT2Converter`): BPE from the two files, ByteLevel pre-tokenizer without a prefix space,
/// ByteLevel decoder, a post-processor that leaves offsets alone, `<|endoftext|>` special.
fn hf_gpt2() -> &'static tokenizers::Tokenizer {
    static TOK: OnceLock<tokenizers::Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let (vocab, merges) = gpt2_files();
        let bpe = BPE::from_file(vocab.to_str().unwrap(), merges.to_str().unwrap())
            .build()
            .expect("HF reads GPT-2's files");
        let mut tok = tokenizers::Tokenizer::new(bpe);
        tok.with_pre_tokenizer(Some(HfByteLevel::default().add_prefix_space(false)));
        tok.with_decoder(Some(HfByteLevel::default()));
        tok.with_post_processor(Some(HfByteLevel::default().trim_offsets(false)));
        tok.add_special_tokens([tokenizers::AddedToken::from("<|endoftext|>", true)])
            .expect("HF adds <|endoftext|>");
        tok
    })
}

fn gpt2() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let (vocab, merges) = gpt2_files();
        Tokenizer::from_vocab_merges(vocab, merges).expect("GPT-2's files load")
    })
}

fn smollm2() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| Tokenizer::from_gguf(smollm2_gguf()).expect("SmolLM2's GGUF loads"))
}

/// SmolLM2's vocabulary as the `tokenizer.json` of its Hub repository writes it: the GGUF
/// file's tokens and merges, its control tokens special, each digit apart before the byte-level
/// split.
fn smollm2_tokenizer_json() -> serde_json::Value {
    let file = GgufFile::open(smollm2_gguf()).expect("the GGUF file opens");
    let strings = |key: &str| -> Vec<String> {
        file.get(key)
            .and_then(|v| v.as_array())
            .expect(key)
            .iter()
            .map(|v| v.as_str().expect(key).to_string())
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens");
    let types: Vec<u64> = file
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.as_array())
        .expect("token types")
        .iter()
        .map(|v| v.as_u64().expect("a token type"))
        .collect();
    let added: Vec<serde_json::Value> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, kind))| **kind == 3)
        .map(|(id, (content, _))| {
            serde_json::json!({"id": id, "content": content, "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| (t.clone(), serde_json::json!(id)))
        .collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
        ]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false,
            "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
            "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false,
            "byte_fallback": false, "vocab": vocab, "merges": strings("tokenizer.ggml.merges")},
    })
}

/// SmolLM2's `tokenizer.json`, written once to a folder of its own.
fn smollm2_json_path() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let text = serde_json::to_string(&smollm2_tokenizer_json()).unwrap();
        std::fs::write(dir.path().join("tokenizer.json"), text).unwrap();
        dir
    })
    .path()
}

fn hf_smollm2() -> &'static tokenizers::Tokenizer {
    static TOK: OnceLock<tokenizers::Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        tokenizers::Tokenizer::from_file(smollm2_json_path().join("tokenizer.json"))
            .expect("HF reads SmolLM2's tokenizer.json")
    })
}

/// Text made of what stresses a byte-level tokenizer, and any character at all.
fn awkward_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        3 => any::<char>().prop_map(String::from),
        3 => "[a-zA-Z]{1,12}",
        2 => prop::sample::select(vec![" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t ",
            "\u{a0}", "\u{3000}", "\u{2028}", "\u{85}", "\u{200b}", "\u{feff}", "\u{b}", "\u{c}"])
            .prop_map(String::from),
        2 => "[0-9]{1,14}",
        2 => prop::sample::select(vec!["'s", "'S", "'re", "'RE", "'ll", "'LL", "n't", "N'T", "'ve",
            "'m", "'M", "'d", "'D", "'t", "'T", "'ſ", "don't", "I'M", "it's", "THEY'RE", "'", "''"])
            .prop_map(String::from),
        2 => prop::sample::select(vec![
            "Tôi đọc sách", "Tiếng Việt", "Hà Nội", "Nguyễn",
            "To\u{302}i \u{111}o\u{323}c sa\u{301}ch", "Tie\u{302}\u{301}ng Vie\u{323}\u{302}t",
            "读书", "東京タワー", "한국어", "ｶﾀｶﾅ", "𠀀", "🤗", "👩‍💻", "🇻🇳", "❤️", "👍🏽",
            "é", "e\u{301}", "ß", "İ", "Ⅻ", "²", "½", "٣", "१२", "ا", "\u{301}", "\u{0}", "\u{7f}",
            "Hello", " world", "The", "GPT-2", "3.14159", "1,000,000", "$100", "#1", "@user",
            "https://example.com/a?b=c", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
            "<|im_start", "im_end|>", "<|", "|>", "<repo_name>", "<filename>", "<jupyter_code>",
            "...", "?!", "--", "\"quoted\"", "(a)", "[b]", "{c}", "x_y", "a-b", "C++", "ab\u{ad}cd",
        ])
        .prop_map(String::from),
    ];
    prop::collection::vec(pieces, 0..24).prop_map(|pieces| pieces.concat())
}

/// HF's tokenizer with the same truncation as ours (`None`: none).
fn truncated(tok: &tokenizers::Tokenizer, max_length: Option<usize>) -> tokenizers::Tokenizer {
    let mut tok = tok.clone();
    tok.with_truncation(max_length.map(|max_length| tokenizers::TruncationParams {
        max_length,
        ..Default::default()
    }))
    .expect("truncation is valid");
    tok
}

/// Both tokenizers give the same encoding for `text` (or the pair), the same decoded text with
/// and without special tokens, and a stream gives that text too.
fn case(
    ours_tok: &Tokenizer,
    theirs_tok: &tokenizers::Tokenizer,
    text: &str,
    pair: Option<&str>,
    max_length: Option<usize>,
    round_trip: bool,
) -> Result<(), TestCaseError> {
    let ours_tok = match max_length {
        Some(n) => ours_tok.with_max_length(n).unwrap(),
        None => ours_tok.clone(),
    };
    let theirs_tok = truncated(theirs_tok, max_length);
    let (ours_enc, theirs_enc) = encode_both(&ours_tok, &theirs_tok, text, pair);
    prop_assert_eq!(
        ours(&ours_enc).untruncated(),
        theirs(&theirs_enc).untruncated()
    );
    let ids = ours_enc.ids();
    for skip in [false, true] {
        let decoded = if skip {
            ours_tok.decode_without_special_tokens(ids).unwrap()
        } else {
            ours_tok.decode(ids).unwrap()
        };
        prop_assert_eq!(&decoded, &theirs_tok.decode(ids, skip).unwrap());
        let mut stream = ours_tok.text_stream(skip);
        let mut streamed = String::new();
        for &id in ids {
            if let Some(piece) = stream.push(id).unwrap() {
                streamed.push_str(&piece);
            }
        }
        streamed.push_str(&stream.finish());
        prop_assert_eq!(streamed, decoded);
    }
    if round_trip && pair.is_none() && max_length.is_none() {
        // Byte-level BPE loses nothing when the vocabulary has every byte (GPT-2's; SmolLM2's
        // lacks 21, among them 0x04 and 0xF1..=0xFF, which both tokenizers drop) and nothing is
        // added (a prefix space, a BOS token): the ids spell the text back.
        prop_assert_eq!(ours_tok.decode(ids).unwrap(), text);
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| ours_tok.token_bytes(id).unwrap())
            .collect();
        prop_assert_eq!(bytes, text.as_bytes());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(800))]

    #[test]
    fn gpt2_matches_hf(text in awkward_text(), short in any::<bool>()) {
        case(gpt2(), hf_gpt2(), &text, None, None, true)?;
        if short {
            case(gpt2(), hf_gpt2(), &text, None, Some(7), true)?;
        }
    }

    #[test]
    fn smollm2_matches_hf(text in awkward_text(), short in any::<bool>()) {
        case(smollm2(), hf_smollm2(), &text, None, None, false)?;
        if short {
            case(smollm2(), hf_smollm2(), &text, None, Some(7), false)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn pairs_match_hf(a in awkward_text(), b in awkward_text(), short in any::<bool>()) {
        let max_length = short.then_some(9);
        case(gpt2(), hf_gpt2(), &a, Some(&b), max_length, false)?;
        case(smollm2(), hf_smollm2(), &a, Some(&b), max_length, false)?;
    }

    #[test]
    fn smollm2_tokenizer_json_is_the_gguf_tokenizer(text in awkward_text()) {
        let from_json = smollm2_from_json();
        prop_assert_eq!(ours(&from_json.encode(&text).unwrap()), ours(&smollm2().encode(&text).unwrap()));
    }

    #[test]
    fn gpt2_tokenizer_json_variants_match_hf(
        text in awkward_text(),
        prefix_space in any::<bool>(),
        trim_offsets in any::<bool>(),
        llama3 in any::<bool>(),
        bos in any::<bool>(),
    ) {
        let variant = gpt2_variant(Variant { prefix_space, trim_offsets, llama3, bos });
        case(&variant.0, &variant.1, &text, None, None, !prefix_space && !bos)?;
    }
}

fn smollm2_from_json() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| Tokenizer::from_file(smollm2_json_path().join("tokenizer.json")).unwrap())
}

/// A `tokenizer.json` of GPT-2's vocabulary with other settings: a prefix space before each
/// text, trimmed offsets, Llama 3's split (with its `ignore_merges`), a BOS token template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Variant {
    prefix_space: bool,
    trim_offsets: bool,
    llama3: bool,
    bos: bool,
}

type Pair = Arc<(Tokenizer, tokenizers::Tokenizer)>;

fn gpt2_variant(variant: Variant) -> Pair {
    static CACHE: OnceLock<Mutex<HashMap<Variant, Pair>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(pair) = cache.lock().unwrap().get(&variant) {
        return pair.clone();
    }
    let (vocab_path, merges_path) = gpt2_files();
    let vocab: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vocab_path).unwrap()).unwrap();
    let merges: Vec<String> = std::fs::read_to_string(merges_path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("#version"))
        .map(|l| l.split_once(' ').unwrap())
        .map(|(a, b)| format!("{a} {b}"))
        .collect();
    let byte_level = serde_json::json!({"type": "ByteLevel",
        "add_prefix_space": variant.prefix_space, "trim_offsets": true,
        "use_regex": !variant.llama3});
    let pre_tokenizer = if variant.llama3 {
        serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated",
                "invert": false},
            byte_level,
        ]})
    } else {
        byte_level
    };
    let trim = serde_json::json!({"type": "ByteLevel", "add_prefix_space": variant.prefix_space,
        "trim_offsets": variant.trim_offsets, "use_regex": true});
    let post_processor = if variant.bos {
        serde_json::json!({"type": "Sequence", "processors": [trim, {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [50256],
                "tokens": ["<|endoftext|>"]}}}]})
    } else {
        trim
    };
    let file = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
            "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": variant.llama3, "vocab": vocab,
            "merges": merges},
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
    let pair = Arc::new((
        Tokenizer::from_file(&path).unwrap(),
        tokenizers::Tokenizer::from_file(&path).unwrap(),
    ));
    cache.lock().unwrap().insert(variant, pair.clone());
    pair
}

/// Llama 3's pre-tokenizer expression, as its `tokenizer.json` writes it.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Every assigned Unicode character (planes 0 to 3 and 14; the rest is unassigned, which both
/// take for punctuation), in texts that put it after a letter, a digit and a space: GPT-2's and
/// Llama 3's splits see it as HF's regex engine does (`\p{L}`, `\p{N}`, `\s` of the same
/// Unicode version).
#[test]
fn every_character_splits_as_in_hf() {
    let chars: Vec<char> = (0..0x40000u32)
        .chain(0xE0000..0xE1000)
        .filter_map(char::from_u32)
        .collect();
    let llama3 = gpt2_variant(Variant {
        prefix_space: false,
        trim_offsets: false,
        llama3: true,
        bos: false,
    });
    for chunk in chars.chunks(4096) {
        let text: String = chunk.iter().map(|c| format!("a{c}1{c} {c}\n")).collect();
        for (ours_tok, theirs_tok) in [(gpt2(), hf_gpt2()), (&llama3.0, &llama3.1)] {
            let ours_enc = ours_tok.encode(&text).unwrap();
            let theirs_enc = theirs_tok.encode_char_offsets(text.as_str(), true).unwrap();
            assert_eq!(
                ours_enc.offsets(),
                theirs_enc.get_offsets(),
                "characters {:?}..={:?}",
                chunk[0],
                chunk[chunk.len() - 1]
            );
            assert_eq!(ours_enc.ids(), theirs_enc.get_ids());
        }
    }
}

#[test]
fn gpt2_tokens_read_as_hf_shows_them_and_as_text() {
    let enc = gpt2().encode("Hello world\n<|endoftext|> 🤗").unwrap();
    assert_eq!(
        enc.tokens(),
        ["Hello", "Ġworld", "Ċ", "<|endoftext|>", "ĠðŁ", "¤", "Ĺ"]
    );
    assert_eq!(enc.ids()[..4], [15496, 995, 198, 50256]);
    assert_eq!(
        enc.texts(),
        [
            "Hello",
            " world",
            "\n",
            "<|endoftext|>",
            " \\xF0\\x9F",
            "\\xA4",
            "\\x97"
        ]
    );
    assert_eq!(gpt2().token_bytes(995), Some(b" world".to_vec()));
    assert_eq!(gpt2().eos_token_id(), Some(50256));
    assert_eq!(gpt2().vocab_size(), 50257);
    let table = enc.to_string();
    assert!(table.contains("\" world\""), "{table}");
}

#[test]
fn smollm2_knows_its_special_tokens_and_context() {
    let tok = smollm2();
    assert_eq!(tok.bos_token(), Some("<|im_start|>"));
    assert_eq!(tok.eos_token(), Some("<|im_end|>"));
    assert_eq!(tok.max_length(), 8192);
    let enc = tok.encode("<|im_start|>user\nIn 2024?").unwrap();
    assert_eq!(
        enc.tokens(),
        [
            "<|im_start|>",
            "user",
            "Ċ",
            "In",
            "Ġ",
            "2",
            "0",
            "2",
            "4",
            "?"
        ]
    );
    assert_eq!(
        tok.decode_without_special_tokens(enc.ids()).unwrap(),
        "user\nIn 2024?"
    );
}

#[test]
fn a_stream_holds_back_a_cut_character() {
    let ids = gpt2().encode("🤗!").unwrap().ids().to_vec();
    assert_eq!(ids.len(), 4);
    let mut stream = gpt2().text_stream(false);
    assert_eq!(stream.push(ids[0]).unwrap(), None);
    assert_eq!(stream.push(ids[1]).unwrap(), None);
    assert_eq!(stream.push(ids[2]).unwrap().as_deref(), Some("🤗"));
    assert_eq!(stream.push(ids[3]).unwrap().as_deref(), Some("!"));
    assert_eq!(stream.finish(), "");
    let err = gpt2().text_stream(false).push(60_000).unwrap_err();
    assert!(err.to_string().contains("token id 60000"), "{err}");
}

#[test]
fn unsupported_files_say_what_is_supported() {
    let dir = tempfile::tempdir().unwrap();
    let unigram = r#"{"added_tokens": [], "normalizer": null, "pre_tokenizer": null,
        "post_processor": null, "decoder": null,
        "model": {"type": "Unigram", "vocab": []}}"#;
    std::fs::write(dir.path().join("tokenizer.json"), unigram).unwrap();
    let err = Tokenizer::from_file(dir.path().join("tokenizer.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("model is Unigram"), "{err}");
    assert!(err.contains("byte-level BPE"), "{err}");
    let split = r#"{"added_tokens": [], "normalizer": null,
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated",
            "invert": false},
        "post_processor": null, "decoder": null,
        "model": {"type": "BPE", "vocab": {}, "merges": []}}"#;
    std::fs::write(dir.path().join("tokenizer.json"), split).unwrap();
    let err = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("Llama 3"), "{err}");
    let err = Tokenizer::from_vocab_merges(dir.path().join("tokenizer.json"), "/no/such/file")
        .unwrap_err()
        .to_string();
    assert!(err.contains("vocab.json"), "{err}");
    let (vocab, _) = gpt2_files();
    let err = Tokenizer::from_vocab_merges(vocab, "/no/such/file")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/no/such/file"), "{err}");
}

#[test]
fn encoding_any_text_never_fails() {
    let long_word = "a".repeat(100_000);
    let spaces = " ".repeat(10_000);
    let tok = smollm2().with_max_length(usize::MAX).unwrap();
    for text in [long_word.as_str(), spaces.as_str(), "\u{10FFFF}\u{0}", ""] {
        let enc = tok.encode(text).unwrap();
        assert!(
            tok.decode(enc.ids()).unwrap() == text,
            "{} bytes",
            text.len()
        );
    }
    let enc = smollm2().encode(&long_word).unwrap();
    assert!(enc.is_truncated() && enc.len() == 8192);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_string_and_any_ids_never_panic(
        text in any::<String>(),
        ids in prop::collection::vec(0u32..60_000, 0..40),
        skip in any::<bool>(),
    ) {
        for tok in [gpt2(), smollm2()] {
            let enc = tok.encode(&text).unwrap();
            prop_assert!(enc.len() <= tok.max_length());
            let _ = tok.encode_pair(&text, &text).unwrap();
            let _ = tok.decode(&ids);
            let mut stream = tok.text_stream(skip);
            for &id in &ids {
                let _ = stream.push(id);
            }
            let _ = stream.finish();
        }
    }
}

#[test]
fn a_tokenizer_is_owned_shareable_and_cheap_to_clone() {
    fn notebook_value<T: Clone + Send + Sync + 'static>() {}
    notebook_value::<Tokenizer>();
    notebook_value::<TextStream>();
    notebook_value::<ChatMessage>();
}
