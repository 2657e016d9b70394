//! BERT's normalizer and pre-tokenizer, keeping for every character the bytes of the original
//! text it came from (what a token's offsets are made of).
//!
//! The rules are those of HF `tokenizers`' `BertNormalizer` and `BertPreTokenizer`, with the
//! same Unicode tables (`unicode_categories`, `unicode-normalization-alignments`), so that every
//! text splits exactly as in Python.

use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

/// Text being normalized: its characters and, for each, the byte range of the original input it
/// stands for. A character that normalization adds (an accent split off, a space around a CJK
/// character, the second letter of a lowercased `İ`) stands for the character it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Aligned {
    chars: Vec<char>,
    spans: Vec<(usize, usize)>,
}

impl Aligned {
    /// `text` as it is, found at byte `start` of the whole input.
    pub(super) fn new(text: &str, start: usize) -> Self {
        let (chars, spans) = text
            .char_indices()
            .map(|(at, c)| (c, (start + at, start + at + c.len_utf8())))
            .unzip();
        Aligned { chars, spans }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.chars.len()
    }

    pub(super) fn chars(&self) -> &[char] {
        &self.chars
    }

    pub(super) fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The characters `range` (indices of characters) as their own piece.
    pub(super) fn slice(&self, range: std::ops::Range<usize>) -> Aligned {
        Aligned {
            chars: self.chars[range.clone()].to_vec(),
            spans: self.spans[range].to_vec(),
        }
    }

    /// The original bytes behind characters `range`: from the first one's start to the last
    /// one's end, as `tokenizers` computes offsets. `None` for an empty range.
    pub(super) fn original_span(&self, range: std::ops::Range<usize>) -> Option<(usize, usize)> {
        let first = self.spans.get(range.start)?;
        let last = self.spans.get(range.end.checked_sub(1)?)?;
        (range.start < range.end).then_some((first.0, last.1))
    }

    fn retain(&mut self, keep: impl Fn(char) -> bool) {
        let (chars, spans) = self
            .chars
            .iter()
            .zip(&self.spans)
            .filter(|&(&c, _)| keep(c))
            .map(|(&c, &span)| (c, span))
            .unzip();
        self.chars = chars;
        self.spans = spans;
    }

    /// Replaces every character by zero or more characters; all of them keep its span.
    fn expand<I: IntoIterator<Item = char>>(&mut self, mut replace: impl FnMut(char) -> I) {
        let mut chars = Vec::with_capacity(self.chars.len());
        let mut spans = Vec::with_capacity(self.spans.len());
        for (&c, &span) in self.chars.iter().zip(&self.spans) {
            for new in replace(c) {
                chars.push(new);
                spans.push(span);
            }
        }
        self.chars = chars;
        self.spans = spans;
    }

    /// Canonical decomposition (NFD) of the whole piece. Decomposition may reorder combining
    /// marks, so spans follow the change codes of `unicode-normalization-alignments`: 0 replaces
    /// the next character, 1 is an added one (it stands for the character before it).
    fn nfd(&mut self) {
        let text = self.text();
        let mut chars = Vec::with_capacity(self.chars.len());
        let mut spans = Vec::with_capacity(self.spans.len());
        let mut next: usize = 0;
        for (c, change) in text.nfd() {
            let span = if change > 0 {
                next.checked_sub(1).and_then(|i| self.spans.get(i))
            } else {
                next += 1;
                self.spans.get(next - 1)
            };
            // The decomposition never consumes more characters than there are; should it, the
            // character stands for the last one rather than failing.
            let span = span.or(self.spans.last()).copied().unwrap_or_default();
            chars.push(c);
            spans.push(span);
        }
        self.chars = chars;
        self.spans = spans;
    }
}

/// The settings of a `BertNormalizer` (`tokenizer.json`) or of `BertTokenizer`'s options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BertNormalizer {
    /// Drop control characters and turn every kind of whitespace into a space.
    pub clean_text: bool,
    /// Put spaces around CJK ideographs, so that each is a word of its own.
    pub handle_chinese_chars: bool,
    /// Remove accents (NFD, then drop non-spacing marks); `None` follows `lowercase`.
    pub strip_accents: Option<bool>,
    pub lowercase: bool,
}

impl BertNormalizer {
    pub(super) fn normalize(&self, text: &mut Aligned) {
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

/// `BertPreTokenizer`: words are split on whitespace (dropped) and every punctuation character
/// is a word of its own. Returns the character ranges of the words.
pub(super) fn split_words(text: &Aligned) -> Vec<std::ops::Range<usize>> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, &c) in text.chars().iter().enumerate() {
        if c.is_whitespace() || is_punctuation(c) {
            if let Some(s) = start.take() {
                words.push(s..i);
            }
            if !c.is_whitespace() {
                words.push(i..i + 1);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        words.push(s..text.len());
    }
    words
}

/// Tab, newline and carriage return count as whitespace here, not as control characters.
fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
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

    #[test]
    fn words_split_on_whitespace_and_around_each_punctuation_mark() {
        let text = Aligned::new("Hey friend!  How?!", 0);
        let words: Vec<String> = split_words(&text)
            .into_iter()
            .map(|r| text.slice(r).text())
            .collect();
        assert_eq!(words, ["Hey", "friend", "!", "How", "?", "!"]);
    }

    #[test]
    fn empty_ranges_have_no_original_span() {
        let text = Aligned::new("ab", 10);
        assert_eq!(text.original_span(1..1), None);
        assert_eq!(text.original_span(0..2), Some((10, 12)));
        assert_eq!(text.original_span(0..3), None);
    }
}
