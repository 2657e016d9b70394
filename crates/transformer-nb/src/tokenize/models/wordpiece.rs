//! WordPiece: each word becomes the longest vocabulary entries that spell it, greedily from the
//! left, continuation pieces written with a prefix (`##`); a word that cannot be spelled, or is
//! longer than `max_input_chars_per_word`, becomes the unknown token as a whole.

use std::collections::HashMap;

use super::Piece;

/// The WordPiece model of a tokenizer: its vocabulary and how words are cut.
#[derive(Debug, Clone)]
pub(in crate::tokenize) struct WordPiece {
    pub vocab: HashMap<String, u32>,
    pub vocab_r: HashMap<u32, String>,
    pub unk_token: String,
    pub unk_id: u32,
    pub continuing_subword_prefix: String,
    pub max_input_chars_per_word: usize,
}

impl WordPiece {
    /// Cuts one word (never empty: the pre-tokenizer gives none) into pieces.
    pub(in crate::tokenize) fn tokenize(&self, word: &[char]) -> Vec<Piece> {
        let whole_as_unknown = || {
            vec![Piece {
                id: self.unk_id,
                token: self.unk_token.clone(),
                chars: 0..word.len(),
            }]
        };
        if word.len() > self.max_input_chars_per_word {
            return whole_as_unknown();
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            let mut found = None;
            for end in (start + 1..=word.len()).rev() {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.continuing_subword_prefix);
                }
                candidate.extend(&word[start..end]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    found = Some((id, end));
                    break;
                }
            }
            let Some((id, end)) = found else {
                return whole_as_unknown();
            };
            pieces.push(Piece {
                id,
                token: candidate.clone(),
                chars: start..end,
            });
            start = end;
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(tokens: &[&str]) -> WordPiece {
        let vocab: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (t.to_string(), id as u32))
            .collect();
        WordPiece {
            vocab_r: vocab.iter().map(|(t, &id)| (id, t.clone())).collect(),
            unk_id: vocab["[UNK]"],
            vocab,
            unk_token: "[UNK]".into(),
            continuing_subword_prefix: "##".into(),
            max_input_chars_per_word: 100,
        }
    }

    fn tokens(model: &WordPiece, word: &str) -> Vec<String> {
        let chars: Vec<char> = word.chars().collect();
        model
            .tokenize(&chars)
            .into_iter()
            .map(|p| p.token)
            .collect()
    }

    #[test]
    fn longest_pieces_first_with_the_continuation_prefix() {
        let m = model(&[
            "[UNK]",
            "token",
            "tok",
            "##en",
            "##ization",
            "##iz",
            "##ation",
        ]);
        assert_eq!(tokens(&m, "tokenization"), ["token", "##ization"]);
        let chars: Vec<char> = "tokenization".chars().collect();
        assert_eq!(m.tokenize(&chars)[1].chars, 5..12);
    }

    #[test]
    fn a_word_that_cannot_be_spelled_is_one_unknown() {
        let m = model(&["[UNK]", "un", "##known"]);
        assert_eq!(tokens(&m, "unknowx"), ["[UNK]"]);
        let chars: Vec<char> = "unknowx".chars().collect();
        assert_eq!(m.tokenize(&chars)[0].chars, 0..7);
    }

    #[test]
    fn a_word_over_the_length_limit_is_one_unknown() {
        let mut m = model(&["[UNK]", "a", "##a"]);
        m.max_input_chars_per_word = 10;
        let ten: Vec<&str> = ["a"].into_iter().chain(["##a"; 9]).collect();
        assert_eq!(tokens(&m, "aaaaaaaaaa"), ten);
        assert_eq!(tokens(&m, "aaaaaaaaaaa"), ["[UNK]"]);
    }

    #[test]
    fn pieces_may_be_multibyte_characters() {
        let m = model(&["[UNK]", "đọc", "đ", "##ọ"]);
        assert_eq!(tokens(&m, "đọc"), ["đọc"]);
        assert_eq!(tokens(&m, "đọ"), ["đ", "##ọ"]);
    }
}
