//! `Digits`: numbers apart from the rest, each digit on its own (`individual_digits`, as
//! SmolLM2's tokenizer does) or each run of digits together.

use std::ops::Range;

/// The character ranges of `chars` once digits are split off. A digit is what `char::is_numeric`
/// says, as in `tokenizers`.
pub(super) fn split(chars: &[char], individual: bool) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (before, here) = (chars[i - 1].is_numeric(), chars[i].is_numeric());
        if before != here || (individual && here) {
            pieces.push(start..i);
            start = i;
        }
    }
    if start < chars.len() {
        pieces.push(start..chars.len());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, individual: bool) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        split(&chars, individual)
            .into_iter()
            .map(|r| chars[r].iter().collect())
            .collect()
    }

    #[test]
    fn each_digit_alone_or_each_number_whole() {
        assert_eq!(
            pieces("Hey 123 friend!", true),
            ["Hey ", "1", "2", "3", " friend!"]
        );
        assert_eq!(
            pieces("Hey 123 friend!", false),
            ["Hey ", "123", " friend!"]
        );
        assert_eq!(pieces("٣4x", true), ["٣", "4", "x"]);
        assert!(pieces("", true).is_empty());
    }
}
