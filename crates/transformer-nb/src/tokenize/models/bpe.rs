//! Byte-pair encoding: a word starts as one symbol per character, then the two neighbours whose
//! merge ranks first in the merges list are joined, again and again, until no neighbours have a
//! merge. GPT-2, SmolLM2 and Llama 3 run it over byte characters.
//!
//! The order of merges is `tokenizers`' (lowest rank first, leftmost on a tie), with its check
//! that a queued merge still applies, so that every word splits exactly as in HF.
// https://github.com/huggingface/tokenizers/blob/v0.23.2/tokenizers/src/models/bpe/word.rs#L185

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::Piece;

/// A BPE model: vocabulary and merges.
#[derive(Debug, Clone)]
pub(in crate::tokenize) struct Bpe {
    pub vocab: HashMap<String, u32>,
    pub vocab_r: HashMap<u32, String>,
    /// The ids of two neighbours to the rank of their merge and the id of the merged symbol.
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Characters outside the vocabulary become this token (`None`: they are dropped).
    unk: Option<u32>,
    /// Neighbouring unknown characters become one unknown token.
    fuse_unk: bool,
    /// A word that is a whole vocabulary entry is that token, merges or not (Llama 3).
    ignore_merges: bool,
}

/// A symbol of a word being merged: a token and the characters it covers, linked to its
/// neighbours (`usize::MAX`: none).
#[derive(Debug, Clone, Copy)]
struct Symbol {
    id: u32,
    start: usize,
    end: usize,
    prev: usize,
    next: usize,
}

const NONE: usize = usize::MAX;

impl Bpe {
    /// Builds the model; fails, saying why, if a merge names or makes a token the vocabulary
    /// lacks, as `tokenizers` does.
    pub(in crate::tokenize) fn new(
        vocab: HashMap<String, u32>,
        merges: &[(String, String)],
        unk_token: Option<String>,
        fuse_unk: bool,
        ignore_merges: bool,
    ) -> Result<Self, String> {
        let id = |token: &str, line: usize| {
            vocab.get(token).copied().ok_or_else(|| {
                format!("merge {line} uses the token {token:?}, which the vocabulary lacks")
            })
        };
        let mut merge_map = HashMap::with_capacity(merges.len());
        for (rank, (a, b)) in merges.iter().enumerate() {
            let pair = (id(a, rank + 1)?, id(b, rank + 1)?);
            let merged = id(&format!("{a}{b}"), rank + 1)?;
            let rank = u32::try_from(rank).map_err(|_| "it has over 2^32 merges".to_string())?;
            merge_map.insert(pair, (rank, merged));
        }
        let unk = match unk_token {
            None => None,
            Some(token) => match vocab.get(&token) {
                Some(&id) => Some(id),
                None => {
                    return Err(format!(
                        "the unknown token {token:?} is not in the vocabulary"
                    ));
                }
            },
        };
        Ok(Bpe {
            vocab_r: vocab.iter().map(|(t, &id)| (id, t.clone())).collect(),
            vocab,
            merges: merge_map,
            unk,
            fuse_unk,
            ignore_merges,
        })
    }

    /// Cuts one word into tokens.
    pub(in crate::tokenize) fn tokenize(&self, word: &[char]) -> Vec<Piece> {
        if word.is_empty() {
            return Vec::new();
        }
        if self.ignore_merges {
            let whole: String = word.iter().collect();
            if let Some(&id) = self.vocab.get(&whole) {
                return vec![Piece {
                    id,
                    token: whole,
                    chars: 0..word.len(),
                }];
            }
        }
        let mut symbols = self.symbols(word);
        self.merge_all(&mut symbols);
        // Positions add up the UTF-8 lengths of the tokens before, as `tokenizers` does: after a
        // dropped character (one the vocabulary lacks) they lag behind the word's, and a token
        // then stands for the characters its bytes fall on.
        // A token's length counts only the characters kept: one merged across a dropped
        // character does not count its bytes.
        let mut starts = Vec::with_capacity(word.len() + 1);
        let mut kept_starts = Vec::with_capacity(word.len() + 1);
        starts.push(0);
        kept_starts.push(0);
        let mut buf = [0; 4];
        for &c in word {
            let kept = self.unk.is_some() || self.vocab.contains_key(&*c.encode_utf8(&mut buf));
            starts.push(starts[starts.len() - 1] + c.len_utf8());
            kept_starts
                .push(kept_starts[kept_starts.len() - 1] + if kept { c.len_utf8() } else { 0 });
        }
        let char_at = |byte: usize| starts.partition_point(|&start| start <= byte) - 1;
        let mut at = 0;
        symbols
            .iter()
            .filter(|s| s.end > s.start)
            .map(|s| {
                let len = kept_starts[s.end] - kept_starts[s.start];
                at += len;
                Piece {
                    id: s.id,
                    token: self.vocab_r.get(&s.id).cloned().unwrap_or_default(),
                    chars: char_at(at - len)..char_at(at - 1) + 1,
                }
            })
            .collect()
    }

    /// One symbol per character the vocabulary has; the others as unknown, or dropped.
    fn symbols(&self, word: &[char]) -> Vec<Symbol> {
        let mut symbols: Vec<Symbol> = Vec::with_capacity(word.len());
        let mut buf = [0; 4];
        let mut unknown: Option<Symbol> = None;
        for (i, c) in word.iter().enumerate() {
            let symbol = |id| Symbol {
                id,
                start: i,
                end: i + 1,
                prev: NONE,
                next: NONE,
            };
            match self.vocab.get(&*c.encode_utf8(&mut buf)) {
                Some(&id) => {
                    symbols.extend(unknown.take());
                    symbols.push(symbol(id));
                }
                None => {
                    let Some(unk_id) = self.unk else {
                        continue;
                    };
                    match &mut unknown {
                        Some(u) if self.fuse_unk => u.end = i + 1,
                        _ => {
                            symbols.extend(unknown.take());
                            unknown = Some(symbol(unk_id));
                        }
                    }
                }
            }
        }
        symbols.extend(unknown);
        let n = symbols.len();
        for (i, s) in symbols.iter_mut().enumerate() {
            s.prev = if i == 0 { NONE } else { i - 1 };
            s.next = if i + 1 == n { NONE } else { i + 1 };
        }
        symbols
    }

    /// Applies merges, lowest rank first; a merged-away symbol is left empty (`start == end`).
    fn merge_all(&self, symbols: &mut [Symbol]) {
        // (rank, position of the left symbol, merged id), smallest first.
        let mut queue: BinaryHeap<Reverse<(u32, usize, u32)>> = symbols
            .windows(2)
            .enumerate()
            .filter_map(|(pos, w)| {
                let &(rank, id) = self.merges.get(&(w[0].id, w[1].id))?;
                Some(Reverse((rank, pos, id)))
            })
            .collect();
        while let Some(Reverse((_, pos, new_id))) = queue.pop() {
            let left = symbols[pos];
            if left.start == left.end || left.next == NONE {
                continue;
            }
            let right = symbols[left.next];
            // A queued merge is stale when its left symbol has changed since.
            match self.merges.get(&(left.id, right.id)) {
                Some(&(_, id)) if id == new_id => {}
                _ => continue,
            }
            symbols[pos] = Symbol {
                id: new_id,
                end: right.end,
                next: right.next,
                ..left
            };
            let emptied = left.next;
            symbols[emptied].end = symbols[emptied].start;
            if right.next != NONE {
                symbols[right.next].prev = pos;
            }
            let merged = symbols[pos];
            if merged.prev != NONE {
                let before = symbols[merged.prev];
                if let Some(&(rank, id)) = self.merges.get(&(before.id, merged.id)) {
                    queue.push(Reverse((rank, merged.prev, id)));
                }
            }
            if merged.next != NONE {
                let after = symbols[merged.next];
                if let Some(&(rank, id)) = self.merges.get(&(merged.id, after.id)) {
                    queue.push(Reverse((rank, pos, id)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(tokens: &[&str], merges: &[(&str, &str)]) -> Bpe {
        let vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (t.to_string(), id as u32))
            .collect();
        let merges: Vec<(String, String)> = merges
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Bpe::new(vocab, &merges, None, false, false).unwrap()
    }

    fn tokens(model: &Bpe, word: &str) -> Vec<String> {
        let chars: Vec<char> = word.chars().collect();
        model
            .tokenize(&chars)
            .into_iter()
            .map(|p| p.token)
            .collect()
    }

    #[test]
    fn merges_apply_by_rank_not_by_position() {
        let m = model(
            &["a", "b", "c", "ab", "bc", "abc"],
            &[("b", "c"), ("a", "b"), ("a", "bc")],
        );
        assert_eq!(tokens(&m, "abc"), ["abc"]);
        assert_eq!(tokens(&m, "abab"), ["ab", "ab"]);
        let chars: Vec<char> = "cab".chars().collect();
        let pieces = m.tokenize(&chars);
        assert_eq!(pieces[1].chars, 1..3);
    }

    #[test]
    fn equal_ranks_merge_leftmost_first() {
        let m = model(&["a", "aa", "aaa"], &[("a", "a"), ("aa", "a")]);
        assert_eq!(tokens(&m, "aaa"), ["aaa"]);
        assert_eq!(tokens(&m, "aaaa"), ["aa", "aa"]);
    }

    #[test]
    fn unknown_characters_are_dropped_or_become_the_unknown_token() {
        let m = model(&["a", "b"], &[]);
        assert_eq!(tokens(&m, "axb"), ["a", "b"]);
        let chars: Vec<char> = "axb".chars().collect();
        assert_eq!(m.tokenize(&chars)[1].chars, 1..2, "as tokenizers counts");
        // A merge across a dropped character counts the bytes of its two halves only.
        let merged = model(&["a", "b", "ab", "c"], &[("a", "b")]);
        let chars: Vec<char> = "axbc".chars().collect();
        let pieces = merged.tokenize(&chars);
        assert_eq!(pieces[0].token, "ab");
        assert_eq!(
            (pieces[0].chars.clone(), pieces[1].chars.clone()),
            (0..2, 2..3)
        );
        let vocab: HashMap<String, u32> = [("<unk>", 0), ("a", 1)]
            .map(|(t, id)| (t.to_string(), id))
            .into();
        let fused = Bpe::new(vocab.clone(), &[], Some("<unk>".into()), true, false).unwrap();
        assert_eq!(tokens(&fused, "axya"), ["a", "<unk>", "a"]);
        let apart = Bpe::new(vocab, &[], Some("<unk>".into()), false, false).unwrap();
        assert_eq!(tokens(&apart, "axya"), ["a", "<unk>", "<unk>", "a"]);
    }

    #[test]
    fn a_merge_outside_the_vocabulary_is_an_error() {
        let vocab: HashMap<String, u32> = [("a", 0), ("b", 1)]
            .map(|(t, id)| (t.to_string(), id))
            .into();
        let err = Bpe::new(vocab, &[("a".into(), "b".into())], None, false, false).unwrap_err();
        assert!(err.contains("\"ab\""), "{err}");
    }

    #[test]
    fn a_long_word_merges_in_log_time_per_merge() {
        let m = model(&["a", "aa"], &[("a", "a")]);
        let word: Vec<char> = std::iter::repeat_n('a', 200_001).collect();
        let pieces = m.tokenize(&word);
        assert_eq!(pieces.len(), 100_001);
        assert_eq!(pieces.last().unwrap().token, "a");
    }
}
