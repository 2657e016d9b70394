//! `Split` with Llama 3's regular expression (what its `tokenizer.json` and llama.cpp's
//! `llama-bpe` pre-tokenizer use before `ByteLevel`), matched by hand:
//! `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
// https://huggingface.co/meta-llama/Meta-Llama-3-8B/blob/62bd457b6fe961a42a631306577e622c83876cb6/tokenizer.json

use std::ops::Range;

use super::byte_level::is_other;
use super::unicode::{is_letter, is_number, is_space};

/// The expression as `tokenizer.json` writes it.
pub(in crate::tokenize) const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The character ranges of `chars` that the expression matches, one after the other.
pub(super) fn llama3(chars: &[char]) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let end = match_at(chars, at);
        words.push(at..end);
        at = end;
    }
    words
}

fn is_newline(c: char) -> bool {
    matches!(c, '\r' | '\n')
}

fn match_at(chars: &[char], at: usize) -> usize {
    let run = |from: usize, class: &dyn Fn(char) -> bool| {
        from + chars[from.min(chars.len())..]
            .iter()
            .take_while(|&&c| class(c))
            .count()
    };
    let c = chars[at];
    if c == '\'' {
        // Case-insensitive in Unicode: `s` also matches the long s `ſ`.
        let next = chars.get(at + 1).map(|c| c.to_ascii_lowercase());
        let after = chars.get(at + 2).map(|c| c.to_ascii_lowercase());
        match (next, after) {
            (Some('s' | 't' | 'm' | 'd' | 'ſ'), _) => return at + 2,
            (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => {
                return at + 3;
            }
            _ => {}
        }
    }
    // `[^\r\n\p{L}\p{N}]?\p{L}+`
    let letters_from = if !is_newline(c) && !is_letter(c) && !is_number(c) {
        at + 1
    } else {
        at
    };
    let end = run(letters_from, &is_letter);
    if end > letters_from {
        return end;
    }
    // `\p{N}{1,3}`
    let end = run(at, &is_number);
    if end > at {
        return end.min(at + 3);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    let others_from = if c == ' ' { at + 1 } else { at };
    let end = run(others_from, &is_other);
    if end > others_from {
        return run(end, &is_newline);
    }
    // `\s*[\r\n]+`: up to the last line break of the run of spaces.
    let spaces_end = run(at, &is_space);
    if let Some(last) = chars[at..spaces_end].iter().rposition(|&c| is_newline(c)) {
        return at + last + 1;
    }
    // `\s+(?!\S)`, then `\s+`.
    if spaces_end == chars.len() || spaces_end - at < 2 {
        spaces_end.max(at + 1)
    } else {
        spaces_end - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        llama3(&chars)
            .into_iter()
            .map(|r| chars[r].iter().collect())
            .collect()
    }

    #[test]
    fn words_split_as_llama3_splits_them() {
        assert_eq!(
            words("Hello, I'M here 12345!\n\n  x"),
            [
                "Hello", ",", " I", "'M", " here", " ", "123", "45", "!\n\n", " ", " x"
            ]
        );
        assert_eq!(words("a \n\t b"), ["a", " \n", "\t", " b"]);
        assert_eq!(words("'ſ\tword"), ["'ſ", "\tword"]);
    }
}
