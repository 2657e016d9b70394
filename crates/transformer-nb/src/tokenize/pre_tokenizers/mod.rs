//! Pre-tokenizers: the second stage, which cuts a normalized piece of text into words; the model
//! then tokenizes each word on its own, so no token ever spans two words.
//!
//! BERT splits on whitespace and punctuation ([`bert`]); byte-level BPE tokenizers split with a
//! regular expression and turn each word into byte characters ([`byte_level`]), SmolLM2 first
//! putting each digit apart ([`digits`]), Llama 3 splitting with its own expression ([`split`]).

mod bert;
pub(super) mod byte_level;
mod digits;
mod split;
mod unicode;

use std::ops::Range;

pub(super) use split::LLAMA3_PATTERN;

use super::normalizers::Aligned;

/// One pre-tokenizer of `tokenizer.json`, or a sequence of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PreTokenizer {
    /// `BertPreTokenizer`.
    Bert,
    /// `Digits`.
    Digits { individual: bool },
    /// `Split` with Llama 3's expression, matches kept as words (`Isolated`).
    Llama3,
    /// `ByteLevel`: GPT-2's split (`use_regex`), then bytes as characters.
    ByteLevel {
        add_prefix_space: bool,
        use_regex: bool,
    },
    /// `Sequence`: each one splits the words of the one before.
    Sequence(Vec<PreTokenizer>),
}

impl PreTokenizer {
    /// The words of a piece, each with the original bytes of its characters.
    pub(super) fn words(&self, piece: Aligned) -> Vec<Aligned> {
        self.apply(vec![piece])
    }

    /// Whether words come out as byte characters (what the byte-level decoder undoes).
    pub(super) fn is_byte_level(&self) -> bool {
        match self {
            PreTokenizer::ByteLevel { .. } => true,
            PreTokenizer::Sequence(all) => all.iter().any(PreTokenizer::is_byte_level),
            _ => false,
        }
    }

    fn apply(&self, words: Vec<Aligned>) -> Vec<Aligned> {
        match self {
            PreTokenizer::Sequence(all) => all.iter().fold(words, |words, p| p.apply(words)),
            PreTokenizer::Bert => split_each(words, bert::split_words),
            PreTokenizer::Digits { individual } => {
                split_each(words, |chars| digits::split(chars, *individual))
            }
            PreTokenizer::Llama3 => split_each(words, split::llama3),
            PreTokenizer::ByteLevel {
                add_prefix_space,
                use_regex,
            } => {
                let words = words.into_iter().map(|mut word| {
                    if *add_prefix_space && word.chars().first() != Some(&' ') {
                        word.prepend(" ");
                    }
                    word
                });
                let words: Vec<Aligned> = if *use_regex {
                    split_each(words.collect(), byte_level::split)
                } else {
                    words.collect()
                };
                words.into_iter().map(as_bytes).collect()
            }
        }
    }
}

/// Each word cut into the ranges `split` gives; empty pieces are dropped, as `tokenizers` does.
fn split_each(words: Vec<Aligned>, split: impl Fn(&[char]) -> Vec<Range<usize>>) -> Vec<Aligned> {
    let mut out = Vec::with_capacity(words.len());
    for word in words {
        for range in split(word.chars()) {
            if !range.is_empty() {
                out.push(word.slice(range));
            }
        }
    }
    out
}

/// Every character as the byte characters of its UTF-8, each standing for the whole character.
fn as_bytes(mut word: Aligned) -> Aligned {
    word.expand(|c| {
        let mut utf8 = [0; 4];
        let len = c.encode_utf8(&mut utf8).len();
        utf8.into_iter().take(len).map(byte_level::byte_to_char)
    });
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(pre: &PreTokenizer, text: &str) -> Vec<(String, (usize, usize))> {
        pre.words(Aligned::new(text, 0))
            .into_iter()
            .map(|w| (w.text(), w.original_span(0..w.len()).unwrap()))
            .collect()
    }

    #[test]
    fn smollm2_puts_digits_apart_then_splits_bytes() {
        let pre = PreTokenizer::Sequence(vec![
            PreTokenizer::Digits { individual: true },
            PreTokenizer::ByteLevel {
                add_prefix_space: false,
                use_regex: true,
            },
        ]);
        assert_eq!(
            words(&pre, "in 2024 é"),
            [
                ("in".into(), (0, 2)),
                ("Ġ".into(), (2, 3)),
                ("2".into(), (3, 4)),
                ("0".into(), (4, 5)),
                ("2".into(), (5, 6)),
                ("4".into(), (6, 7)),
                ("ĠÃ©".into(), (7, 10)),
            ]
        );
    }

    #[test]
    fn a_prefix_space_goes_before_each_piece_that_lacks_one() {
        let pre = PreTokenizer::ByteLevel {
            add_prefix_space: true,
            use_regex: true,
        };
        assert_eq!(
            words(&pre, "hi you"),
            [("Ġhi".into(), (0, 2)), ("Ġyou".into(), (2, 6))]
        );
    }
}
