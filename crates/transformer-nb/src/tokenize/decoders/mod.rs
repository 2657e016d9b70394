//! Decoders: from tokens back to text. WordPiece glues `##` pieces to the piece before
//! ([`wordpiece`]); byte-level tokenizers turn each token's characters back into bytes
//! ([`byte_level`]).

pub(super) mod byte_level;
mod wordpiece;

pub(super) use wordpiece::WordPieceDecoder;

/// The decoder of a tokenizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decoder {
    WordPiece(WordPieceDecoder),
    ByteLevel,
}

impl Decoder {
    /// The text of `tokens`, as `tokenizers`' `decode` gives it.
    pub(super) fn decode(&self, tokens: &[&str]) -> String {
        let mut bytes = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            bytes.extend(self.piece(token, i == 0));
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The bytes `token` adds to the text; `first` when no token comes before it. Pieces put end
    /// to end are the decoded text, which is what lets a stream decode one token at a time.
    pub(super) fn piece(&self, token: &str, first: bool) -> Vec<u8> {
        match self {
            Decoder::WordPiece(d) => d.piece(token, first).into_bytes(),
            Decoder::ByteLevel => byte_level::token_bytes(token),
        }
    }
}

/// Without a decoder, `tokenizers` joins tokens with spaces.
pub(super) fn plain_piece(token: &str, first: bool) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(token.len() + 1);
    if !first {
        bytes.push(b' ');
    }
    bytes.extend_from_slice(token.as_bytes());
    bytes
}
