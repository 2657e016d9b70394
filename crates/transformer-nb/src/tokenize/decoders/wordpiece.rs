//! The `WordPiece` decoder: continuation pieces glued to the piece before, others after a space,
//! and (`cleanup`) the spaces tokenization put before punctuation and contractions removed.

/// The settings of a `WordPiece` decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::tokenize) struct WordPieceDecoder {
    pub prefix: String,
    /// Remove the spaces tokenization put before punctuation and English contractions.
    pub cleanup: bool,
}

impl WordPieceDecoder {
    /// What `token` adds to the text; `first` when no token comes before it.
    pub(super) fn piece(&self, token: &str, first: bool) -> String {
        let piece = match token.strip_prefix(self.prefix.as_str()) {
            Some(rest) if !first => rest.to_string(),
            _ if !first => format!(" {token}"),
            _ => token.to_string(),
        };
        if self.cleanup { cleanup(&piece) } else { piece }
    }
}

/// `tokenizers`' clean-up of tokenization spaces, applied piece by piece as it does.
fn cleanup(piece: &str) -> String {
    piece
        .replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" do not", " don't")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::*;

    #[test]
    fn decoding_glues_continuations_and_cleans_up_punctuation() {
        let decoder = WordPieceDecoder {
            prefix: "##".into(),
            cleanup: true,
        };
        let tokens = ["i", "read", "novel", "##s", ".", "don", "'", "t"];
        let text = Decoder::WordPiece(decoder.clone()).decode(&tokens);
        // Piece by piece, as `tokenizers` does: " '" alone is not " ' ".
        assert_eq!(text, "i read novels. don ' t");
        let raw = WordPieceDecoder {
            cleanup: false,
            ..decoder
        };
        assert_eq!(Decoder::WordPiece(raw).decode(&["a", "##b", "."]), "ab .");
    }
}
