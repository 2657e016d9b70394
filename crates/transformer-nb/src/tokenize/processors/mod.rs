//! Post-processors: the last stage of encoding, which puts special tokens around the text's
//! tokens (`[CLS] A [SEP]` for BERT, `<|begin_of_text|> A` for Llama 3) with their token types,
//! and, for byte-level tokenizers that ask for it, trims spaces off the offsets.

/// What `tokenizer.json`'s post-processor does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(in crate::tokenize) struct PostProcessor {
    /// `None`: no special tokens are added.
    pub template: Option<Template>,
    /// `ByteLevel` with `trim_offsets`: offsets leave out a token's leading and trailing spaces.
    pub trim_offsets: bool,
    /// `ByteLevel`'s `add_prefix_space`: the first token keeps the one space it was given.
    pub add_prefix_space: bool,
}

/// Offsets without the spaces at either end of each token (`Ġ`), as `tokenizers`' `ByteLevel`
/// post-processor trims them; `offsets` are in characters.
// https://github.com/huggingface/tokenizers/blob/v0.23.2/tokenizers/src/pre_tokenizers/byte_level.rs#L202
pub(in crate::tokenize) fn trim_offsets(
    tokens: &[String],
    offsets: &mut [(usize, usize)],
    add_prefix_space: bool,
) {
    let is_space = |c: &char| *c == 'Ġ' || c.is_whitespace();
    for (i, (token, offset)) in tokens.iter().zip(offsets.iter_mut()).enumerate() {
        let mut leading = token.chars().take_while(is_space).count();
        let trailing = token.chars().rev().take_while(is_space).count();
        if leading > 0 {
            let is_first = i == 0 || offset.0 == 0;
            if is_first && add_prefix_space && leading == 1 {
                leading = 0;
            }
            offset.0 = (offset.0 + leading).min(offset.1);
        }
        if trailing > 0 && offset.1 >= trailing {
            offset.1 = (offset.1 - trailing).max(offset.0);
        }
    }
}

/// Where special tokens go around one text (`single`) or two (`pair`), with token types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::tokenize) struct Template {
    pub single: Vec<TemplatePiece>,
    pub pair: Vec<TemplatePiece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::tokenize) enum TemplatePiece {
    /// The first (`second: false`) or second text's tokens.
    Text { second: bool, type_id: u32 },
    /// Special tokens, e.g. `[CLS]`, with their ids.
    Special {
        ids: Vec<u32>,
        tokens: Vec<String>,
        type_id: u32,
    },
}

impl Template {
    /// `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`, the second text and its `[SEP]` of type 1.
    pub(in crate::tokenize) fn bert(cls: (String, u32), sep: (String, u32)) -> Self {
        let special = |(token, id): &(String, u32), type_id| TemplatePiece::Special {
            ids: vec![*id],
            tokens: vec![token.clone()],
            type_id,
        };
        let text = |second, type_id| TemplatePiece::Text { second, type_id };
        Template {
            single: vec![special(&cls, 0), text(false, 0), special(&sep, 0)],
            pair: vec![
                special(&cls, 0),
                text(false, 0),
                special(&sep, 0),
                text(true, 1),
                special(&sep, 1),
            ],
        }
    }

    /// `<bos> A` and `<bos> A B`, the second text of type 1 (transformers' GPT-2 converter's
    /// template for a tokenizer that adds a BOS token).
    pub(in crate::tokenize) fn prefix(bos: (String, u32)) -> Self {
        let special = TemplatePiece::Special {
            ids: vec![bos.1],
            tokens: vec![bos.0],
            type_id: 0,
        };
        let text = |second, type_id| TemplatePiece::Text { second, type_id };
        Template {
            single: vec![special.clone(), text(false, 0)],
            pair: vec![special, text(false, 0), text(true, 1)],
        }
    }

    pub(in crate::tokenize) fn pieces(&self, pair: bool) -> &[TemplatePiece] {
        if pair { &self.pair } else { &self.single }
    }

    /// How many special tokens the template adds.
    pub(in crate::tokenize) fn added(&self, pair: bool) -> usize {
        self.pieces(pair)
            .iter()
            .map(|piece| match piece {
                TemplatePiece::Special { ids, .. } => ids.len(),
                TemplatePiece::Text { .. } => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_offsets_leave_out_spaces() {
        let tokens = ["Ġhello".to_string(), "ĠĠ".to_string(), "x".to_string()];
        let mut offsets = [(0, 6), (6, 8), (8, 9)];
        trim_offsets(&tokens, &mut offsets, false);
        assert_eq!(offsets, [(1, 6), (8, 8), (8, 9)]);
    }
}
