//! BERT's normalizer, with the rules of HF `tokenizers`' `BertNormalizer` and the same Unicode
//! tables (`unicode_categories`, `unicode-normalization-alignments`), so that every text
//! normalizes exactly as in Python.

use unicode_categories::UnicodeCategories;

use super::Aligned;

/// The settings of a `BertNormalizer` (`tokenizer.json`) or of `BertTokenizer`'s options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::tokenize) struct BertNormalizer {
    /// Drop control characters and turn every kind of whitespace into a space.
    pub clean_text: bool,
    /// Put spaces around CJK ideographs, so that each is a word of its own.
    pub handle_chinese_chars: bool,
    /// Remove accents (NFD, then drop non-spacing marks); `None` follows `lowercase`.
    pub strip_accents: Option<bool>,
    pub lowercase: bool,
}

impl BertNormalizer {
    pub(in crate::tokenize) fn normalize(&self, text: &mut Aligned) {
        if self.clean_text {
            text.retain(|c| !(c == '\0' || c == '\u{fffd}' || is_control(c)));
            text.expand(|c| [if is_whitespace(c) { ' ' } else { c }]);
        }
        if self.handle_chinese_chars {
            text.expand(|c| {
                let spaced = is_chinese_char(c);
                [spaced.then_some(' '), Some(c), spaced.then_some(' ')]
                    .into_iter()
                    .flatten()
            });
        }
        if self.strip_accents.unwrap_or(self.lowercase) {
            text.nfd();
            text.retain(|c| !c.is_mark_nonspacing());
        }
        if self.lowercase {
            text.expand(char::to_lowercase);
        }
    }
}

/// Tab, newline and carriage return count as whitespace here, not as control characters.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// The CJK Unified Ideographs blocks (not Hangul, Hiragana or Katakana, whose words are
/// separated by spaces).
fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::normalizers::Aligned;

    const UNCASED: BertNormalizer = BertNormalizer {
        clean_text: true,
        handle_chinese_chars: true,
        strip_accents: None,
        lowercase: true,
    };

    fn normalized(text: &str, normalizer: BertNormalizer) -> Aligned {
        let mut aligned = Aligned::new(text, 0);
        normalizer.normalize(&mut aligned);
        aligned
    }

    #[test]
    fn uncased_lowercases_strips_accents_and_keeps_where_each_char_came_from() {
        let text = normalized("Café", UNCASED);
        assert_eq!(text.text(), "cafe");
        // "é" is two bytes, 3..5; the "e" left of it stands for both.
        assert_eq!(text.original_span(3..4), Some((3, 5)));
        assert_eq!(text.original_span(0..4), Some((0, 5)));
    }

    #[test]
    fn cased_keeps_accents_and_case() {
        let cased = BertNormalizer {
            lowercase: false,
            ..UNCASED
        };
        assert_eq!(normalized("Café", cased).text(), "Café");
    }

    #[test]
    fn control_characters_go_and_whitespace_becomes_spaces() {
        let text = normalized("a\u{0}\u{7}b\tc\u{fffd}", UNCASED);
        assert_eq!(text.text(), "ab c");
        assert_eq!(text.original_span(1..2), Some((3, 4)));
    }

    #[test]
    fn cjk_ideographs_get_spaces_around_them_but_hangul_does_not() {
        let cased = BertNormalizer {
            lowercase: false,
            ..UNCASED
        };
        assert_eq!(normalized("读书한국", cased).text(), " 读  书 한국");
    }

    #[test]
    fn a_lowercase_that_grows_stands_for_its_one_original_char() {
        // 'İ' lowercases to "i̇" (two chars); with accents kept both map to bytes 0..2.
        let keep_accents = BertNormalizer {
            strip_accents: Some(false),
            ..UNCASED
        };
        let text = normalized("İx", keep_accents);
        assert_eq!(text.len(), 3);
        assert_eq!(text.original_span(0..2), Some((0, 2)));
        assert_eq!(text.original_span(2..3), Some((2, 3)));
    }
}
