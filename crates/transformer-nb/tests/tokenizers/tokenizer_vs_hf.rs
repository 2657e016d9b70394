//! Our tokenizer against Hugging Face's own (`tokenizers`, the Rust library behind
//! `BertTokenizerFast`) on generated text: every field of the encoding, truncation, pairs and
//! decoding must be the same. The real all-MiniLM-L6-v2 tokenizer is one side's input; a small
//! hand-made `tokenizer.json` covers what it lacks (cased text, kept accents, added tokens with
//! `lstrip`, `rstrip`, `single_word` and `normalized`, `BertProcessing`, no decoder).

use std::path::Path;
use std::sync::OnceLock;

use crate::util::{encode_both, minilm, ours, theirs};
use proptest::prelude::*;
use transformer_nb::prelude::*;

/// Both decode `ids` to the same text, with and without special tokens.
fn decodes_alike(
    ours: &Tokenizer,
    theirs: &tokenizers::Tokenizer,
    ids: &[u32],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        ours.decode(ids).unwrap(),
        theirs.decode(ids, false).unwrap()
    );
    prop_assert_eq!(
        ours.decode_without_special_tokens(ids).unwrap(),
        theirs.decode(ids, true).unwrap()
    );
    Ok(())
}

/// HF's tokenizer from the same file, set up as HF transformers calls it: no padding,
/// truncation longest-first to `max_length`.
fn hf(path: &Path, max_length: usize) -> tokenizers::Tokenizer {
    let mut tok = tokenizers::Tokenizer::from_file(path).expect("HF reads the file");
    tok.with_padding(None);
    tok.with_truncation(Some(tokenizers::TruncationParams {
        max_length,
        ..Default::default()
    }))
    .expect("truncation is valid");
    tok
}

/// Text made of pieces that stress a BERT tokenizer, and any character at all.
fn awkward_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        4 => any::<char>().prop_map(String::from),
        2 => "[a-zA-Z]{1,12}",
        1 => Just(" ".to_string()),
        1 => prop::sample::select(vec![
            "[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "[MASK", "MASK]", "<tok>",
            "hello", "Hello", "lower", "\t", "\n", "\r\n", "  ", "\u{3000}", "\u{2028}", "\u{a0}",
            "\0", "\u{7}", "\u{fffd}", "\u{200b}", "\u{200d}", "\u{202e}", "\u{feff}", "\u{e000}",
            "\u{fdd0}", "\u{ffff}", "é", "e\u{301}", "a\u{301}\u{323}", "\u{323}\u{301}", "İ",
            "ß", "ǅ", "ﬁ", "Å", "Ⅻ", "²", "读书", "𠀀", "한국어", "ｶﾀｶﾅ", "🤗", "👩‍💻", "🇻🇳",
            "Tôi đọc sách", "Tokenization", "unbelievably", "don't", "U.S.A.", "...", "?!", "_",
            "#", "##", "٣", "ا", "\u{301}",
        ])
        .prop_map(String::from),
    ];
    prop::collection::vec(pieces, 0..24).prop_map(|pieces| pieces.concat())
}

/// The real model's tokenizer on generated text, single texts and pairs, at the model's
/// maximum and at a small one (so that truncation, of one text or both, happens often).
mod real_model {
    use super::*;

    /// HF's tokenizer of the real model at each length the tests use, loaded once.
    fn hf_minilm(max_length: usize) -> &'static tokenizers::Tokenizer {
        static CACHE: OnceLock<Vec<(usize, tokenizers::Tokenizer)>> = OnceLock::new();
        let all = CACHE.get_or_init(|| {
            let path = minilm().tokenizer().source().join("tokenizer.json");
            [9, 512, usize::MAX]
                .into_iter()
                .map(|n| (n, hf(&path, n)))
                .collect()
        });
        &all.iter()
            .find(|(n, _)| *n == max_length)
            .expect("a length the tests use")
            .1
    }

    fn case(text: &str, pair: Option<&str>, max_length: usize) -> Result<(), TestCaseError> {
        let tok = minilm().tokenizer().with_max_length(max_length).unwrap();
        let theirs_tok = hf_minilm(max_length);
        let (ours_enc, theirs_enc) = encode_both(&tok, theirs_tok, text, pair);
        prop_assert_eq!(ours(&ours_enc), theirs(&theirs_enc));
        decodes_alike(&tok, theirs_tok, ours_enc.ids())?;
        let tokens = tok.tokenize(text).unwrap();
        let no_specials = hf_minilm(usize::MAX).encode(text, false).unwrap();
        prop_assert_eq!(tokens, no_specials.get_tokens().to_vec());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn single_texts_match_hf(text in awkward_text(), short in any::<bool>()) {
            case(&text, None, if short { 9 } else { 512 })?;
        }

        #[test]
        fn pairs_match_hf(a in awkward_text(), b in awkward_text(), short in any::<bool>()) {
            case(&a, Some(&b), if short { 9 } else { 512 })?;
        }
    }

    #[test]
    fn batches_pad_as_hf_pads() {
        let texts = [
            "short",
            "a longer one with more words",
            "",
            "Tôi đọc sách [MASK].",
        ];
        let tok = minilm().tokenizer();
        let mut theirs_tok = hf(&tok.source().join("tokenizer.json"), 512);
        theirs_tok.with_padding(Some(tokenizers::PaddingParams::default()));
        let theirs_batch = theirs_tok
            .encode_batch_char_offsets(texts.to_vec(), true)
            .unwrap();
        let ours_batch = tok.encode_batch(&texts).unwrap();
        for (o, t) in ours_batch.encodings().iter().zip(&theirs_batch) {
            assert_eq!(ours(o), theirs(t));
        }
    }
}

/// A hand-made `tokenizer.json`: tiny vocabulary (letters and a few words, so that most text
/// is spelled in pieces), added tokens with every option, and the given normalizer options.
fn hand_made(
    dir: &Path,
    lowercase: bool,
    strip_accents: &str,
    processor: &str,
) -> std::path::PathBuf {
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for c in ('a'..='z')
        .chain('A'..='Z')
        .chain("éèüñçđọ读书한.,!?'".chars())
    {
        vocab.push(c.to_string());
        vocab.push(format!("##{c}"));
    }
    vocab.extend(
        [
            "hello",
            "##llo",
            "read",
            "low",
            "##er",
            "token",
            "##ization",
        ]
        .map(String::from),
    );
    let vocab_json: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(id, t)| (t.clone(), serde_json::json!(id)))
        .collect();
    let n = vocab.len();
    let added = |id: usize,
                 content: &str,
                 lstrip: bool,
                 rstrip: bool,
                 single_word: bool,
                 normalized: bool,
                 special: bool| {
        serde_json::json!({"id": id, "content": content, "single_word": single_word,
            "lstrip": lstrip, "rstrip": rstrip, "normalized": normalized, "special": special})
    };
    let post_processor = match processor {
        "bert" => {
            serde_json::json!({"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]})
        }
        _ => serde_json::Value::Null,
    };
    let file = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [
            added(0, "[PAD]", false, false, false, false, true),
            added(1, "[UNK]", false, false, false, false, true),
            added(2, "[CLS]", false, false, false, false, true),
            added(3, "[SEP]", false, false, false, false, true),
            added(4, "[MASK]", true, false, false, false, true),
            added(n, "<tok>", false, true, false, false, false),
            added(n + 1, "Lower", false, false, false, true, false),
            added(n + 2, "hi", false, false, true, false, false),
            added(n + 3, "Ⅻ", false, false, false, true, true),
        ],
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
            "handle_chinese_chars": true, "strip_accents": serde_json::from_str::<serde_json::Value>(strip_accents).unwrap(),
            "lowercase": lowercase},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": post_processor,
        "decoder": if processor == "bert" { serde_json::json!({"type": "WordPiece", "prefix": "##", "cleanup": false}) } else { serde_json::Value::Null },
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 8, "vocab": vocab_json},
    });
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn hand_made_tokenizers_match_hf(
        a in awkward_text(),
        b in awkward_text(),
        lowercase in any::<bool>(),
        strip_accents in prop::sample::select(vec!["null", "true", "false"]),
        processor in prop::sample::select(vec!["bert", "none"]),
        pair in any::<bool>(),
        max_length in prop::sample::select(vec![5usize, 12, 512]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = hand_made(dir.path(), lowercase, strip_accents, processor);
        let tok = Tokenizer::from_dir(dir.path()).unwrap().with_max_length(max_length).unwrap();
        let theirs_tok = hf(&path, max_length);
        let (ours_enc, theirs_enc) = if pair {
            (tok.encode_pair(&a, &b).unwrap(), theirs_tok.encode_char_offsets((a.as_str(), b.as_str()), true).unwrap())
        } else {
            (tok.encode(&a).unwrap(), theirs_tok.encode_char_offsets(a.as_str(), true).unwrap())
        };
        let mut expected = theirs(&theirs_enc);
        if processor == "none" {
            // Without a post-processor `tokenizers` truncates but keeps no overflowing part,
            // so it cannot say it truncated; ours still does.
            expected.truncated = ours_enc.is_truncated();
        }
        prop_assert_eq!(ours(&ours_enc), expected);
        decodes_alike(&tok, &theirs_tok, ours_enc.ids())?;
        prop_assert_eq!(tok.vocab_size(), theirs_tok.get_vocab_size(true));
    }
}

#[test]
fn a_tokenizer_json_of_another_kind_says_what_is_supported() {
    let dir = tempfile::tempdir().unwrap();
    let unigram = r#"{"added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "Metaspace"},
        "post_processor": null, "decoder": null,
        "model": {"type": "Unigram", "vocab": []}}"#;
    std::fs::write(dir.path().join("tokenizer.json"), unigram).unwrap();
    let err = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("pre-tokenizer is Metaspace"), "{err}");
    assert!(err.contains("BERT WordPiece"), "{err}");
}

/// Every way a pair can be cut: lengths 0 to 11 each, every maximum from 3 to 11, with added
/// tokens among the words (they count, and are never where tokenizing stops).
#[test]
fn pairs_are_cut_as_hf_cuts_them_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    hand_made(dir.path(), true, "null", "bert");
    let text = |n: usize, word: &str| -> String {
        (0..n)
            .map(|i| if i % 4 == 3 { "[MASK]" } else { word })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for max_length in 3..12 {
        let tok = Tokenizer::from_dir(dir.path())
            .unwrap()
            .with_max_length(max_length)
            .unwrap();
        let theirs_tok = hf(&dir.path().join("tokenizer.json"), max_length);
        for n1 in 0..12 {
            for n2 in 0..12 {
                let (a, b) = (text(n1, "a"), text(n2, "hello"));
                let ours_enc = tok.encode_pair(&a, &b).unwrap();
                let theirs_enc = theirs_tok
                    .encode_char_offsets((a.as_str(), b.as_str()), true)
                    .unwrap();
                assert_eq!(
                    ours(&ours_enc),
                    theirs(&theirs_enc),
                    "{n1} + {n2} tokens in {max_length}"
                );
            }
        }
    }
}
