//! Normalizers: the first stage, which rewrites the text (clean it, lowercase, strip accents)
//! while keeping for every character the bytes of the original text it came from, which is what
//! a token's offsets are made of.
//!
//! BERT's is the only normalizer here; byte-level BPE tokenizers (GPT-2, SmolLM2, Llama 3) have
//! none.

mod bert;

pub(super) use bert::BertNormalizer;

use unicode_normalization_alignments::UnicodeNormalization;

/// Text being normalized: its characters and, for each, the byte range of the original input it
/// stands for. A character that normalization adds (an accent split off, a space around a CJK
/// character, the second letter of a lowercased `İ`) stands for the character it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(in crate::tokenize) struct Aligned {
    chars: Vec<char>,
    spans: Vec<(usize, usize)>,
}

impl Aligned {
    /// `text` as it is, found at byte `start` of the whole input.
    pub(in crate::tokenize) fn new(text: &str, start: usize) -> Self {
        let (chars, spans) = text
            .char_indices()
            .map(|(at, c)| (c, (start + at, start + at + c.len_utf8())))
            .unzip();
        Aligned { chars, spans }
    }

    pub(in crate::tokenize) fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    pub(in crate::tokenize) fn len(&self) -> usize {
        self.chars.len()
    }

    pub(in crate::tokenize) fn chars(&self) -> &[char] {
        &self.chars
    }

    pub(in crate::tokenize) fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The characters `range` (indices of characters) as their own piece.
    pub(in crate::tokenize) fn slice(&self, range: std::ops::Range<usize>) -> Aligned {
        Aligned {
            chars: self.chars[range.clone()].to_vec(),
            spans: self.spans[range].to_vec(),
        }
    }

    /// The original bytes behind characters `range`: from the first one's start to the last
    /// one's end, as `tokenizers` computes offsets. `None` for an empty range.
    pub(in crate::tokenize) fn original_span(
        &self,
        range: std::ops::Range<usize>,
    ) -> Option<(usize, usize)> {
        let first = self.spans.get(range.start)?;
        let last = self.spans.get(range.end.checked_sub(1)?)?;
        (range.start < range.end).then_some((first.0, last.1))
    }

    pub(in crate::tokenize) fn retain(&mut self, keep: impl Fn(char) -> bool) {
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
    pub(in crate::tokenize) fn expand<I: IntoIterator<Item = char>>(
        &mut self,
        mut replace: impl FnMut(char) -> I,
    ) {
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
    pub(in crate::tokenize) fn nfd(&mut self) {
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

    /// Puts `text` before the first character, standing for that character (what `tokenizers`'
    /// `NormalizedString::prepend` does). Nothing happens to an empty piece.
    pub(in crate::tokenize) fn prepend(&mut self, text: &str) {
        let Some(&span) = self.spans.first() else {
            return;
        };
        let added: Vec<char> = text.chars().collect();
        self.spans
            .splice(0..0, std::iter::repeat_n(span, added.len()));
        self.chars.splice(0..0, added);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_ranges_have_no_original_span() {
        let text = Aligned::new("ab", 10);
        assert_eq!(text.original_span(1..1), None);
        assert_eq!(text.original_span(0..2), Some((10, 12)));
        assert_eq!(text.original_span(0..3), None);
    }

    #[test]
    fn a_prepended_space_stands_for_the_first_character() {
        let mut text = Aligned::new("đa", 4);
        text.prepend(" ");
        assert_eq!(text.text(), " đa");
        assert_eq!(text.original_span(0..1), Some((4, 6)));
        let mut empty = Aligned::new("", 0);
        empty.prepend(" ");
        assert!(empty.is_empty());
    }
}
