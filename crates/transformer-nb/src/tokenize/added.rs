//! Added tokens (`[CLS]`, `[MASK]`, …): found in the text before anything else, so that
//! "a \[MASK\] b" keeps `[MASK]` whole instead of splitting it at its brackets.
//!
//! Matching follows HF `tokenizers`' `AddedVocabulary`: leftmost-longest over the raw text for
//! tokens with `normalized: false`, then over each normalized piece for the others, with the
//! `single_word`, `lstrip` and `rstrip` options.

use serde::Deserialize;

/// One entry of `added_tokens` in `tokenizer.json` (its `id` is recomputed on loading).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(super) struct AddedToken {
    pub id: u32,
    pub content: String,
    #[serde(default)]
    pub single_word: bool,
    #[serde(default)]
    pub lstrip: bool,
    #[serde(default)]
    pub rstrip: bool,
    #[serde(default = "yes")]
    pub normalized: bool,
    #[serde(default)]
    pub special: bool,
}

fn yes() -> bool {
    true
}

impl AddedToken {
    /// A special token as `BertTokenizerFast` adds it: matched on the raw text, whole.
    pub(super) fn special(id: u32, content: String) -> Self {
        AddedToken {
            id,
            content,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
            special: true,
        }
    }
}

/// A token found in a text: which added token, and the byte range it takes (spaces included
/// where it strips them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub index: usize,
    pub bytes: std::ops::Range<usize>,
}

/// Finds `patterns` (indices into `tokens`, each with the text to look for) in `text`,
/// leftmost-longest, skipping matches that break a `single_word` token's rule.
pub(super) fn find(text: &str, tokens: &[AddedToken], patterns: &[(usize, String)]) -> Vec<Found> {
    let mut found = Vec::new();
    if patterns.is_empty() {
        return found;
    }
    let mut taken_to = 0;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let longest = patterns
            .iter()
            .filter(|(_, pattern)| !pattern.is_empty() && rest.starts_with(pattern.as_str()))
            .max_by_key(|(index, pattern)| (pattern.len(), std::cmp::Reverse(*index)));
        let Some((index, pattern)) = longest else {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let token = &tokens[*index];
        let (mut start, mut stop) = (at, at + pattern.len());
        if token.single_word {
            let before_ok = !text[..start].chars().next_back().is_some_and(is_word_char);
            let after_ok = !text[stop..].chars().next().is_some_and(is_word_char);
            if !(before_ok && after_ok) {
                // Like an automaton's match iterator, the search goes on after the match.
                at = stop;
                continue;
            }
        }
        if token.lstrip {
            let trimmed = text[..start].trim_end_matches(char::is_whitespace).len();
            start = trimmed.max(taken_to);
        }
        if token.rstrip {
            stop = text.len() - text[stop..].trim_start_matches(char::is_whitespace).len();
        }
        found.push(Found {
            index: *index,
            bytes: start..stop,
        });
        taken_to = stop;
        at = stop;
    }
    found
}

/// What the regex `\w` matches (Unicode word characters), which `single_word` tests for.
fn is_word_char(c: char) -> bool {
    use unicode_categories::UnicodeCategories;
    c.is_alphabetic()
        || c.is_mark()
        || c.is_number_decimal_digit()
        || c.is_punctuation_connector()
        || matches!(c, '\u{200C}' | '\u{200D}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: u32, content: &str) -> AddedToken {
        AddedToken::special(id, content.into())
    }

    fn patterns(tokens: &[AddedToken]) -> Vec<(usize, String)> {
        tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t.content.clone()))
            .collect()
    }

    #[test]
    fn finds_each_token_leftmost_and_longest() {
        let tokens = [token(1, "[MASK]"), token(2, "[MASK]]"), token(3, "[CLS]")];
        let found = find("a [MASK]] b [CLS][MASK]", &tokens, &patterns(&tokens));
        let spans: Vec<_> = found.iter().map(|f| (f.index, f.bytes.clone())).collect();
        assert_eq!(spans, [(1, 2..9), (2, 12..17), (0, 17..23)]);
    }

    #[test]
    fn lstrip_and_rstrip_take_the_spaces_around() {
        let mut mask = token(1, "<mask>");
        mask.lstrip = true;
        mask.rstrip = true;
        let tokens = [mask];
        let found = find("a  <mask>  b", &tokens, &patterns(&tokens));
        assert_eq!(found[0].bytes, 1..11);
    }

    #[test]
    fn single_word_tokens_match_only_whole_words() {
        let mut day = token(1, "day");
        day.single_word = true;
        let tokens = [day];
        let found = find("today day days", &tokens, &patterns(&tokens));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bytes, 6..9);
    }

    #[test]
    fn text_without_tokens_finds_nothing() {
        let tokens = [token(1, "[CLS]")];
        assert!(find("đọc [CL S]", &tokens, &patterns(&tokens)).is_empty());
    }
}
