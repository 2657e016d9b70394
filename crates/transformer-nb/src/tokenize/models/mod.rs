//! Models: the third stage, which turns one word into tokens of the vocabulary: WordPiece for
//! BERT ([`wordpiece`]), byte-pair encoding for GPT-2, SmolLM2 and Llama 3 ([`bpe`]).

pub(super) mod bpe;
pub(super) mod wordpiece;

use std::collections::HashMap;

pub(super) use bpe::Bpe;
pub(super) use wordpiece::WordPiece;

/// One piece of a word: its id, its text, and the characters of the word it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    pub id: u32,
    pub token: String,
    pub chars: std::ops::Range<usize>,
}

/// The model of a tokenizer.
#[derive(Debug, Clone)]
pub(super) enum Model {
    WordPiece(WordPiece),
    Bpe(Bpe),
}

impl Model {
    /// The vocabulary, token to id.
    pub(super) fn vocab(&self) -> &HashMap<String, u32> {
        match self {
            Model::WordPiece(m) => &m.vocab,
            Model::Bpe(m) => &m.vocab,
        }
    }

    pub(super) fn id_to_token(&self, id: u32) -> Option<&str> {
        match self {
            Model::WordPiece(m) => m.vocab_r.get(&id),
            Model::Bpe(m) => m.vocab_r.get(&id),
        }
        .map(String::as_str)
    }

    /// Cuts one word (never empty) into pieces.
    pub(super) fn tokenize(&self, word: &[char]) -> Vec<Piece> {
        match self {
            Model::WordPiece(m) => m.tokenize(word),
            Model::Bpe(m) => m.tokenize(word),
        }
    }
}
