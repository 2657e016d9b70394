//! The `ByteLevel` decoder: each token's characters back to the bytes they stand for, the
//! bytes of all tokens then read as UTF-8 (an incomplete character becomes `�`).

use crate::tokenize::pre_tokenizers::byte_level::char_to_byte;

/// The bytes a token stands for; a token with a character that stands for no byte (an added
/// token such as `<|im_start|>` is plain ASCII, so it does) is its own UTF-8, as in `tokenizers`.
pub(in crate::tokenize) fn token_bytes(token: &str) -> Vec<u8> {
    token
        .chars()
        .map(char_to_byte)
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_else(|| token.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::*;

    #[test]
    fn byte_characters_go_back_to_bytes_and_text() {
        assert_eq!(token_bytes("Ġthe"), b" the");
        assert_eq!(token_bytes("ðŁ¤"), [0xF0, 0x9F, 0xA4]);
        assert_eq!(token_bytes("€"), "€".as_bytes());
        let text = Decoder::ByteLevel.decode(&["Hello", "Ġð", "Ł¤", "Ĺ", "Ċ", "<|im_end|>"]);
        assert_eq!(text, "Hello 🤗\n<|im_end|>");
        assert_eq!(Decoder::ByteLevel.decode(&["ðŁ"]), "\u{fffd}");
    }
}
