//! `ByteLevel` (GPT-2): words split by GPT-2's regular expression, then every byte of their
//! UTF-8 written as one printable character, so that a vocabulary of 256 symbols spells any text.
//! A space becomes `Ġ`, a newline `Ċ`; printable ASCII stays itself.
//!
//! The expression, matched here by hand with the classes of [`super::unicode`]:
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
// https://github.com/openai/gpt-2/blob/a74da5d99abaaba920de8131d64da2862a8f213b/src/encoder.py#L53

use std::ops::Range;

use super::unicode::{is_letter, is_number, is_space};

/// The character that stands for each byte: the printable ones of Latin-1 for themselves, the
/// others (controls, space, soft hyphen) numbered from U+0100 in byte order.
// https://github.com/openai/gpt-2/blob/a74da5d99abaaba920de8131d64da2862a8f213b/src/encoder.py#L9
const BYTE_CHARS: [char; 256] = byte_chars();

const fn printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

const fn byte_chars() -> [char; 256] {
    let mut chars = ['\0'; 256];
    let mut others = 0;
    let mut b = 0;
    while b < 256 {
        let code = if printable(b as u8) {
            b as u32
        } else {
            others += 1;
            0x100 + others - 1
        };
        chars[b] = match char::from_u32(code) {
            Some(c) => c,
            None => '\0',
        };
        b += 1;
    }
    chars
}

/// The bytes that are not printable, in order: `BYTE_CHARS` gives the n-th of them U+0100 + n.
const OTHER_BYTES: [u8; 68] = other_bytes();

const fn other_bytes() -> [u8; 68] {
    let mut bytes = [0; 68];
    let mut n = 0;
    let mut b = 0;
    while b < 256 {
        if !printable(b as u8) {
            bytes[n] = b as u8;
            n += 1;
        }
        b += 1;
    }
    bytes
}

/// The character that stands for `byte`.
pub(in crate::tokenize) fn byte_to_char(byte: u8) -> char {
    BYTE_CHARS[usize::from(byte)]
}

/// The byte a character stands for, if it is one of the 256.
pub(in crate::tokenize) fn char_to_byte(c: char) -> Option<u8> {
    let code = c as u32;
    match u8::try_from(code) {
        Ok(b) if printable(b) => Some(b),
        _ => code
            .checked_sub(0x100)
            .and_then(|n| OTHER_BYTES.get(n as usize))
            .copied(),
    }
}

/// The character ranges of `chars` that GPT-2's expression matches, one after the other.
pub(super) fn split(chars: &[char]) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let end = match_at(chars, at);
        words.push(at..end);
        at = end;
    }
    words
}

/// Where the match starting at `at` ends: the alternatives in order, as a backtracking engine
/// tries them.
fn match_at(chars: &[char], at: usize) -> usize {
    let run = |from: usize, class: fn(char) -> bool| {
        from + chars[from.min(chars.len())..]
            .iter()
            .take_while(|&&c| class(c))
            .count()
    };
    if chars[at] == '\'' {
        match (chars.get(at + 1), chars.get(at + 2)) {
            (Some('s' | 't' | 'm' | 'd'), _) => return at + 2,
            (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => {
                return at + 3;
            }
            _ => {}
        }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the space alone never matches.
    let after_space = if chars[at] == ' ' { at + 1 } else { at };
    for class in [is_letter, is_number, is_other] {
        let end = run(after_space, class);
        if end > after_space {
            return end;
        }
    }
    // `\s+(?!\S)` leaves the last space of a run for the word after it; `\s+` takes a lone one.
    let end = run(at, is_space);
    if end == chars.len() || end - at < 2 {
        end.max(at + 1)
    } else {
        end - 1
    }
}

/// `[^\s\p{L}\p{N}]`: punctuation, symbols, emoji, controls that are not spaces.
pub(super) fn is_other(c: char) -> bool {
    !(is_space(c) || is_letter(c) || is_number(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        split(&chars)
            .into_iter()
            .map(|r| chars[r].iter().collect())
            .collect()
    }

    #[test]
    fn every_byte_has_a_printable_char_and_back() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(byte_to_char(0xAD), 'Ń');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        let distinct: std::collections::HashSet<char> = (0..=255u8).map(byte_to_char).collect();
        assert_eq!(distinct.len(), 256);
        assert_eq!(char_to_byte('ń'), None);
        assert_eq!(char_to_byte('€'), None);
    }

    #[test]
    fn words_split_as_gpt2_splits_them() {
        assert_eq!(
            words("Hello my friend, how's it going?"),
            [
                "Hello", " my", " friend", ",", " how", "'s", " it", " going", "?"
            ]
        );
        assert_eq!(words("a   b"), ["a", "  ", " b"]);
        assert_eq!(words("a \n b  "), ["a", " \n", " b", "  "]);
        assert_eq!(words("x\ty"), ["x", "\t", "y"]);
        assert_eq!(words("I'M 2024!!"), ["I", "'", "M", " 2024", "!!"]);
        assert_eq!(words(" "), [" "]);
        assert_eq!(words("🤗 ok"), ["🤗", " ok"]);
    }
}
