//! `BertPreTokenizer`: words are split on whitespace (dropped) and every punctuation character
//! is a word of its own.

use std::ops::Range;

use unicode_categories::UnicodeCategories;

/// The character ranges of the words of `chars`.
pub(super) fn split_words(chars: &[char]) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, &c) in chars.iter().enumerate() {
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
        words.push(s..chars.len());
    }
    words
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_whitespace_and_around_each_punctuation_mark() {
        let chars: Vec<char> = "Hey friend!  How?!".chars().collect();
        let words: Vec<String> = split_words(&chars)
            .into_iter()
            .map(|r| chars[r].iter().collect())
            .collect();
        assert_eq!(words, ["Hey", "friend", "!", "How", "?", "!"]);
    }
}
