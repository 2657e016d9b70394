//! The tokenization pipeline, run the way HF `tokenizers` runs it: added tokens, normalizer,
//! pre-tokenizer, model, truncation, post-processor, padding; and back from ids to text.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use super::added::{self, AddedToken};
use super::decoders::{self, Decoder};
use super::encoding::Encoding;
use super::models::Model;
use super::normalizers::{Aligned, BertNormalizer};
use super::pre_tokenizers::PreTokenizer;
use super::processors::{self, PostProcessor, TemplatePiece};

/// Everything a tokenizer does, as read from its files.
#[derive(Debug, Clone)]
pub(super) struct Pipeline {
    added_tokens: Vec<AddedToken>,
    normalizer: Option<BertNormalizer>,
    /// Without one a normalized piece is one word.
    pre_tokenizer: Option<PreTokenizer>,
    model: Model,
    post_processor: PostProcessor,
    decoder: Option<Decoder>,
    raw_patterns: Vec<(usize, String)>,
    normalized_patterns: Vec<(usize, String)>,
    added_by_content: HashMap<String, u32>,
    added_by_id: HashMap<u32, usize>,
    /// What an added token decodes to: its content, normalized if it is matched normalized.
    added_texts: Vec<String>,
    special: HashSet<String>,
}

/// The stages of a pipeline, as a file describes them.
#[derive(Debug, Clone)]
pub(super) struct Stages {
    pub added_tokens: Vec<AddedToken>,
    pub normalizer: Option<BertNormalizer>,
    pub pre_tokenizer: Option<PreTokenizer>,
    pub model: Model,
    pub post_processor: PostProcessor,
    pub decoder: Option<Decoder>,
}

/// The tokens of one text, before special tokens: offsets in bytes of the text.
#[derive(Debug, Default)]
struct Tokens {
    ids: Vec<u32>,
    tokens: Vec<String>,
    offsets: Vec<(usize, usize)>,
    words: Vec<Option<u32>>,
    /// Tokenizing stops after the word that brings the tokens to this many.
    limit: usize,
    stopped: bool,
    /// Whether anything was left out for the limit.
    cut_early: bool,
}

impl Tokens {
    /// Whether another token may come; if not, the text was cut.
    fn accepts(&mut self) -> bool {
        self.cut_early |= self.stopped;
        !self.stopped
    }

    fn end_word(&mut self) {
        self.stopped |= self.ids.len() >= self.limit;
    }

    fn push(&mut self, id: u32, token: String, offsets: (usize, usize), word: u32) {
        self.ids.push(id);
        self.tokens.push(token);
        self.offsets.push(offsets);
        self.words.push(Some(word));
    }

    fn truncate(&mut self, len: usize) -> bool {
        let cut = self.ids.len() > len;
        self.ids.truncate(len);
        self.tokens.truncate(len);
        self.offsets.truncate(len);
        self.words.truncate(len);
        cut
    }

    /// Byte offsets to character offsets, as Python counts them.
    fn offsets_in_chars(&mut self, text: &str) {
        let char_starts: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
        let to_char = |byte: usize| char_starts.partition_point(|&start| start < byte);
        for offset in &mut self.offsets {
            *offset = (to_char(offset.0), to_char(offset.1));
        }
    }
}

impl Pipeline {
    pub(super) fn new(stages: Stages) -> Self {
        let Stages {
            added_tokens,
            normalizer,
            pre_tokenizer,
            model,
            post_processor,
            decoder,
        } = stages;
        // Ids as `tokenizers` gives them when it reads a file: a token the vocabulary has keeps
        // its id, the others are numbered after the vocabulary (the ids written in the file
        // agree for any file it saved). A repeated token keeps its first id, its last options.
        let mut tokens: Vec<AddedToken> = Vec::with_capacity(added_tokens.len());
        // Content to position in `tokens`: a file may list many thousands of added tokens.
        let mut position: HashMap<String, usize> = HashMap::new();
        let mut next_id = u32::try_from(model.vocab().len()).unwrap_or(u32::MAX);
        for mut token in added_tokens.into_iter().filter(|t| !t.content.is_empty()) {
            match position.get(&token.content) {
                Some(&i) => {
                    token.id = tokens[i].id;
                    tokens[i] = token;
                }
                None => {
                    token.id = match model.vocab().get(&token.content) {
                        Some(&id) => id,
                        None => {
                            next_id = next_id.saturating_add(1);
                            next_id - 1
                        }
                    };
                    position.insert(token.content.clone(), tokens.len());
                    tokens.push(token);
                }
            }
        }
        let added_tokens = tokens;

        // A `normalized` token is looked for, and decoded, in its normalized form.
        let mut raw_patterns = Vec::new();
        let mut normalized_patterns = Vec::new();
        let mut added_texts = Vec::with_capacity(added_tokens.len());
        for (index, token) in added_tokens.iter().enumerate() {
            if token.normalized {
                let mut content = Aligned::new(&token.content, 0);
                if let Some(normalizer) = &normalizer {
                    normalizer.normalize(&mut content);
                }
                normalized_patterns.push((index, content.text()));
                added_texts.push(content.text());
            } else {
                raw_patterns.push((index, token.content.clone()));
                added_texts.push(token.content.clone());
            }
        }
        let added_by_content = added_tokens
            .iter()
            .map(|t| (t.content.clone(), t.id))
            .collect();
        let added_by_id = added_tokens
            .iter()
            .enumerate()
            .map(|(index, t)| (t.id, index))
            .collect();
        let special = added_tokens
            .iter()
            .filter(|t| t.special)
            .map(|t| t.content.clone())
            .collect();
        Pipeline {
            special,
            added_texts,
            added_tokens,
            normalizer,
            pre_tokenizer,
            model,
            post_processor,
            decoder,
            raw_patterns,
            normalized_patterns,
            added_by_content,
            added_by_id,
        }
    }

    /// Tokenizes one or two texts. With `max_length`, the texts are truncated (longest first)
    /// so that the result, special tokens included, fits.
    pub(super) fn encode(
        &self,
        first: &str,
        second: Option<&str>,
        add_special_tokens: bool,
        max_length: Option<usize>,
    ) -> Encoding {
        let mut a = self.tokens(first, max_length);
        let mut b = second.map(|text| self.tokens(text, max_length));
        let template = self
            .post_processor
            .template
            .as_ref()
            .filter(|_| add_special_tokens);

        let mut truncated = false;
        if let Some(max_length) = max_length {
            let added = template.map_or(0, |t| t.added(b.is_some()));
            let (n1, n2) = fit(
                a.ids.len(),
                b.as_ref().map(|b| b.ids.len()),
                max_length.saturating_sub(added),
            );
            truncated = a.cut_early || b.as_ref().is_some_and(|b| b.cut_early);
            truncated |= a.truncate(n1);
            if let Some(b) = &mut b {
                truncated |= b.truncate(n2);
            }
        }
        a.offsets_in_chars(first);
        if let (Some(b), Some(text)) = (&mut b, second) {
            b.offsets_in_chars(text);
        }
        if self.post_processor.trim_offsets {
            let prefix = self.post_processor.add_prefix_space;
            for tokens in std::iter::once(&mut a).chain(b.as_mut()) {
                processors::trim_offsets(&tokens.tokens, &mut tokens.offsets, prefix);
            }
        }

        let mut encoding = Encoding::default();
        match template {
            Some(template) => {
                for piece in template.pieces(b.is_some()) {
                    match piece {
                        TemplatePiece::Text { second, type_id } => {
                            let tokens = if *second { b.as_ref() } else { Some(&a) };
                            if let Some(tokens) = tokens {
                                push_text(&mut encoding, tokens, *type_id);
                            }
                        }
                        TemplatePiece::Special {
                            ids,
                            tokens,
                            type_id,
                        } => {
                            for (id, token) in ids.iter().zip(tokens) {
                                encoding.push(*id, token.clone(), *type_id, true, (0, 0), None);
                            }
                        }
                    }
                }
            }
            None => {
                push_text(&mut encoding, &a, 0);
                if let Some(b) = &b {
                    push_text(&mut encoding, b, 1);
                }
            }
        }
        encoding.set_truncated(truncated);
        encoding.set_texts(|token| self.token_text(token));
        if matches!(self.decoder, Some(Decoder::ByteLevel)) {
            encoding.set_bytes(decoders::byte_level::token_bytes);
        }
        encoding
    }

    /// A token as readable text: byte characters decoded (`Ġthe` is " the"), bytes that are no
    /// whole character written `\xF0`; other tokens as they are.
    pub(super) fn token_text(&self, token: &str) -> String {
        match &self.decoder {
            Some(Decoder::ByteLevel) => readable(&decoders::byte_level::token_bytes(token)),
            _ => token.to_string(),
        }
    }

    /// Added tokens, normalization, words, WordPiece: one text's tokens, offsets in bytes.
    ///
    /// With a `limit`, words stop being tokenized once the tokens reach it (whole words and
    /// added tokens are kept, so there may be more): `tokenizers` stops early like this when it
    /// truncates, and how a pair is then cut depends on the lengths this leaves.
    fn tokens(&self, text: &str, limit: Option<usize>) -> Tokens {
        let mut tokens = Tokens {
            limit: limit.unwrap_or(usize::MAX),
            ..Tokens::default()
        };
        let mut word = 0;
        let mut rest_from = 0;
        let found = added::find(text, &self.added_tokens, &self.raw_patterns);
        for found in found.iter().map(Some).chain([None]) {
            let rest_to = found.map_or(text.len(), |f| f.bytes.start);
            if rest_from < rest_to {
                let mut piece = Aligned::new(&text[rest_from..rest_to], rest_from);
                if let Some(normalizer) = &self.normalizer {
                    normalizer.normalize(&mut piece);
                }
                self.tokens_of_normalized(&piece, &mut tokens, &mut word);
            }
            if let Some(found) = found {
                let token = &self.added_tokens[found.index];
                let span = (found.bytes.start, found.bytes.end);
                if tokens.accepts() {
                    tokens.push(token.id, text[found.bytes.clone()].to_string(), span, word);
                }
                word += 1;
                rest_from = found.bytes.end;
            }
        }
        tokens
    }

    /// A normalized piece: its normalized added tokens, then words and their WordPiece pieces.
    fn tokens_of_normalized(&self, piece: &Aligned, tokens: &mut Tokens, word: &mut u32) {
        if piece.is_empty() {
            return;
        }
        let text = piece.text();
        let found = added::find(&text, &self.added_tokens, &self.normalized_patterns);
        // Byte positions in `text` to character positions in `piece` (a search, not a count
        // from the start, so that a text with many matches stays linear).
        let char_starts: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
        let char_at = |byte: usize| char_starts.partition_point(|&start| start < byte);
        let mut rest_from = 0;
        for found in found.iter().map(Some).chain([None]) {
            let rest_to = found.map_or(piece.len(), |f| char_at(f.bytes.start));
            if rest_from < rest_to {
                self.words(&piece.slice(rest_from..rest_to), tokens, word);
            }
            if let Some(found) = found {
                let chars = char_at(found.bytes.start)..char_at(found.bytes.end);
                let token = &self.added_tokens[found.index];
                let span = piece.original_span(chars.clone()).unwrap_or_default();
                if tokens.accepts() {
                    tokens.push(token.id, piece.slice(chars.clone()).text(), span, *word);
                }
                *word += 1;
                rest_from = chars.end;
            }
        }
    }

    fn words(&self, piece: &Aligned, tokens: &mut Tokens, word: &mut u32) {
        let words = match &self.pre_tokenizer {
            Some(pre_tokenizer) => pre_tokenizer.words(piece.clone()),
            None => vec![piece.clone()],
        };
        for w in words {
            if !tokens.accepts() {
                return;
            }
            for p in self.model.tokenize(w.chars()) {
                let span = w.original_span(p.chars).unwrap_or_default();
                tokens.push(p.id, p.token, span, *word);
            }
            tokens.end_word();
            *word += 1;
        }
    }

    /// Ids back to text, like `tokenizers`' `decode`; ids with no token are left out.
    pub(super) fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        let tokens: Vec<&str> = ids
            .iter()
            .filter_map(|&id| self.token(id))
            .filter(|token| !(skip_special_tokens && self.is_special(token)))
            .collect();
        match &self.decoder {
            Some(decoder) => decoder.decode(&tokens),
            None => tokens.join(" "),
        }
    }

    /// The token an id decodes from: an added token's text, else the vocabulary's.
    pub(super) fn token(&self, id: u32) -> Option<&str> {
        match self.added_by_id.get(&id) {
            Some(&index) => Some(self.added_texts[index].as_str()),
            None => self.model.id_to_token(id),
        }
    }

    /// Whether `decode` leaves a token out when it skips special tokens. By text, as
    /// `tokenizers` does: a normalized special token that normalization changed is not
    /// recognised as special here.
    pub(super) fn is_special(&self, token: &str) -> bool {
        self.special.contains(token)
    }

    /// The bytes `token` adds to decoded text, `first` when none comes before it.
    pub(super) fn piece(&self, token: &str, first: bool) -> Vec<u8> {
        match &self.decoder {
            Some(decoder) => decoder.piece(token, first),
            None => decoders::plain_piece(token, first),
        }
    }

    /// Whether this is a byte-level BPE tokenizer (GPT-2, SmolLM2, Llama 3).
    pub(super) fn is_byte_level(&self) -> bool {
        matches!(self.model, Model::Bpe(_))
            && self
                .pre_tokenizer
                .as_ref()
                .is_some_and(PreTokenizer::is_byte_level)
    }

    /// How many special tokens the post-processor adds around one text.
    pub(super) fn added_around_one(&self) -> usize {
        self.post_processor
            .template
            .as_ref()
            .map_or(0, |t| t.added(false))
    }

    pub(super) fn token_to_id(&self, token: &str) -> Option<u32> {
        self.added_by_content
            .get(token)
            .or_else(|| self.model.vocab().get(token))
            .copied()
    }

    pub(super) fn id_to_token(&self, id: u32) -> Option<String> {
        self.token(id).map(str::to_string)
    }

    /// The vocabulary with the added tokens it lacks.
    pub(super) fn vocab_size(&self) -> usize {
        let extra = self
            .added_by_content
            .keys()
            .filter(|t| !self.model.vocab().contains_key(*t))
            .count();
        self.model.vocab().len() + extra
    }
}

fn push_text(encoding: &mut Encoding, tokens: &Tokens, type_id: u32) {
    for i in 0..tokens.ids.len() {
        let token = tokens.tokens[i].clone();
        encoding.push(
            tokens.ids[i],
            token,
            type_id,
            false,
            tokens.offsets[i],
            tokens.words[i],
        );
    }
}

/// How many tokens of each text to keep so that both fit in `max_length`: the longer one is cut
/// first, and when both must be cut they share the room (`tokenizers`' `LongestFirst`).
fn fit(n1: usize, n2: Option<usize>, max_length: usize) -> (usize, usize) {
    let Some(n2) = n2 else {
        return (n1.min(max_length), 0);
    };
    if n1 + n2 <= max_length {
        return (n1, n2);
    }
    let short = n1.min(n2);
    let (mut short_kept, mut long_kept) = if short > max_length {
        (short, short)
    } else {
        (short, short.max(max_length - short))
    };
    if short_kept + long_kept > max_length {
        short_kept = max_length / 2;
        long_kept = short_kept + max_length % 2;
    }
    if n1 > n2 {
        (long_kept, short_kept)
    } else {
        (short_kept, long_kept)
    }
}

/// Bytes as text, each byte that is no whole character written `\xNN`.
pub(super) fn readable(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for b in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(text, "\\x{b:02X}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::models::WordPiece;

    /// Letters, `[UNK]`, and a `normalized` added token "hi" (what BERT files lack, so the
    /// real-model tests do not reach it).
    fn letters_with_added_hi() -> Pipeline {
        let mut vocab: HashMap<String, u32> = HashMap::new();
        for token in ["[UNK]", "a", "b", "##a", "##b"] {
            let id = vocab.len() as u32;
            vocab.insert(token.to_string(), id);
        }
        let model = WordPiece {
            vocab_r: vocab.iter().map(|(t, &id)| (id, t.clone())).collect(),
            unk_id: 0,
            vocab,
            unk_token: "[UNK]".into(),
            continuing_subword_prefix: "##".into(),
            max_input_chars_per_word: 100,
        };
        let mut hi = AddedToken::special(0, "HI".into());
        hi.normalized = true;
        hi.special = false;
        let normalizer = BertNormalizer {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: None,
            lowercase: true,
        };
        Pipeline::new(Stages {
            added_tokens: vec![hi],
            normalizer: Some(normalizer),
            pre_tokenizer: Some(PreTokenizer::Bert),
            model: Model::WordPiece(model),
            post_processor: PostProcessor::default(),
            decoder: None,
        })
    }

    #[test]
    fn a_normalized_added_token_is_found_in_normalized_text_with_its_own_id() {
        let pipeline = letters_with_added_hi();
        let enc = pipeline.encode("ab Hi ba", None, true, None);
        assert_eq!(enc.tokens(), ["a", "##b", "hi", "b", "##a"]);
        assert_eq!(enc.ids()[2], 5, "numbered after the vocabulary");
        assert_eq!(enc.offsets()[2], (3, 5));
        assert_eq!(pipeline.decode(enc.ids(), false), "a ##b hi b ##a");
    }

    #[test]
    fn a_long_text_full_of_added_tokens_is_tokenized_in_one_pass() {
        // 200,000 matches in 600,000 characters (finding each match's character position by
        // counting from the start would make this quadratic in the text's length).
        let text = "hi ".repeat(200_000);
        let enc = letters_with_added_hi().encode(&text, None, true, None);
        assert_eq!(enc.len(), 200_000);
        assert_eq!(enc.offsets().last(), Some(&(599_997, 599_999)));
    }

    #[test]
    fn a_single_text_is_cut_to_the_room_left() {
        assert_eq!(fit(10, None, 4), (4, 0));
        assert_eq!(fit(3, None, 4), (3, 0));
    }

    #[test]
    fn a_pair_cuts_the_longer_text_first_then_both() {
        assert_eq!(fit(2, Some(10), 6), (2, 4));
        assert_eq!(fit(10, Some(2), 6), (4, 2));
        assert_eq!(fit(10, Some(9), 7), (4, 3));
        assert_eq!(fit(9, Some(10), 7), (3, 4));
        assert_eq!(fit(2, Some(3), 6), (2, 3));
        assert_eq!(fit(5, Some(5), 0), (0, 0));
    }

    #[test]
    fn bytes_that_are_no_character_are_written_as_hex() {
        assert_eq!(readable(" the".as_bytes()), " the");
        assert_eq!(readable(&[0x20, 0xF0, 0x9F]), " \\xF0\\x9F");
    }
}
