//! What a tokenizer returns: one [`Encoding`] per text, a [`Batch`] for padded lists.

use crate::error::{Error, Result};

/// One tokenized text (or pair of texts), owned, with everything HF's `BatchEncoding` holds.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
/// let enc = tok.encode("I read a good novel.")?;
/// assert_eq!(enc.len(), 8);
/// assert_eq!(enc.type_ids(), [0; 8]);
/// assert_eq!(enc.special_tokens_mask(), [1, 0, 0, 0, 0, 0, 0, 1]);
/// assert_eq!(enc.offsets()[1], (0, 1));          // "I", counted in characters as in Python
/// assert_eq!(enc.word_ids()[0], None);           // [CLS] belongs to no word
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    tokens: Vec<String>,
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    attention_mask: Vec<u32>,
    special_tokens_mask: Vec<u32>,
    offsets: Vec<(usize, usize)>,
    word_ids: Vec<Option<u32>>,
    /// Each token as text (`" the"` for `Ġthe`).
    texts: Vec<String>,
    /// Each token's bytes, for byte-level BPE (`None` for WordPiece and others).
    bytes: Option<Vec<Vec<u8>>>,
    truncated: bool,
}

impl Encoding {
    /// Appends one token; `special` tokens get no word and a zero offset from the template.
    pub(super) fn push(
        &mut self,
        id: u32,
        token: String,
        type_id: u32,
        special: bool,
        offsets: (usize, usize),
        word: Option<u32>,
    ) {
        self.ids.push(id);
        self.texts.push(token.clone());
        self.tokens.push(token);
        self.type_ids.push(type_id);
        self.attention_mask.push(1);
        self.special_tokens_mask.push(u32::from(special));
        self.offsets.push(offsets);
        self.word_ids.push(word);
    }

    /// Sets each token's readable text from its token.
    pub(super) fn set_texts(&mut self, text: impl Fn(&str) -> String) {
        self.texts = self.tokens.iter().map(|t| text(t)).collect();
    }

    /// Sets each token's bytes (byte-level BPE).
    pub(super) fn set_bytes(&mut self, bytes: impl Fn(&str) -> Vec<u8>) {
        self.bytes = Some(self.tokens.iter().map(|t| bytes(t)).collect());
    }

    pub(super) fn set_truncated(&mut self, truncated: bool) {
        self.truncated = truncated;
    }

    /// Right-pads to `len` tokens with `pad`, which the model does not attend to.
    pub(super) fn pad_to(&mut self, len: usize, pad_id: u32, pad_token: &str) {
        while self.ids.len() < len {
            self.push(pad_id, pad_token.to_string(), 0, true, (0, 0), None);
            if let Some(last) = self.attention_mask.last_mut() {
                *last = 0;
            }
        }
    }

    /// The tokens, `[CLS]` first, `[SEP]` after each text, `[PAD]` where padded.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// assert_eq!(tok.encode("a cat")?.tokens(), ["[CLS]", "a", "cat", "[SEP]"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Each token as the text it stands for: what byte-level tokens (GPT-2, SmolLM2) decode to,
    /// e.g. `" the"` for `Ġthe` and `"\n"` for `Ċ`, with `\xF0`-style escapes for the bytes of
    /// a character cut between tokens; WordPiece tokens as they are.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
    /// let enc = tok.encode("I read\n")?;
    /// assert_eq!(enc.tokens(), ["I", "Ġread", "Ċ"]);
    /// assert_eq!(enc.texts(), ["I", " read", "\n"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// The vocabulary ids of the tokens (`input_ids`).
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// assert_eq!(tok.encode("")?.ids(), [101, 102]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Which text each token belongs to (`token_type_ids`): 0 for the first, 1 for the second.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// assert_eq!(tok.encode_pair("a", "b")?.type_ids(), [0, 0, 0, 1, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn type_ids(&self) -> &[u32] {
        &self.type_ids
    }

    /// 1 for tokens the model attends to, 0 for padding.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// let batch = tok.encode_batch(&["a", "a b c"])?;
    /// assert_eq!(batch.encodings()[0].attention_mask(), [1, 1, 1, 0, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_mask(&self) -> &[u32] {
        &self.attention_mask
    }

    /// This encoding with another attention mask (one 0 or 1 per token), for seeing what the
    /// mask does: all ones is what a model gets when it is called without one (HF's default),
    /// and then it attends to the padding too.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let batch = bert.tokenizer().encode_batch(&["I read a good novel.", "Short one."])?;
    /// let short = &batch.encodings()[1];                       // [CLS] short one . [SEP] + 3 [PAD]
    /// let unmasked = short.with_attention_mask(vec![1; short.len()])?;
    /// let (with, without) = (bert.forward(short)?, bert.forward(&unmasked)?);
    /// let first = |out: &EncoderOutput| out.last_hidden_state().values()[0];
    /// assert!((first(&with) - first(&without)).abs() > 1e-3);  // [CLS] changed
    /// assert!(short.with_attention_mask(vec![1, 0]).is_err());  // one per token
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_attention_mask(&self, mask: Vec<u32>) -> Result<Encoding> {
        if mask.len() != self.len() {
            return Err(Error::invalid(format!(
                "the attention mask has {} values and the encoding {} tokens: give one per token",
                mask.len(),
                self.len()
            )));
        }
        if let Some(bad) = mask.iter().find(|&&m| m > 1) {
            return Err(Error::invalid(format!(
                "an attention mask holds 0 (do not attend) or 1 (attend), not {bad}"
            )));
        }
        Ok(Encoding {
            attention_mask: mask,
            ..self.clone()
        })
    }

    /// 1 for special tokens (`[CLS]`, `[SEP]`, `[PAD]`), 0 for tokens of the text.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// assert_eq!(tok.encode("a")?.special_tokens_mask(), [1, 0, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn special_tokens_mask(&self) -> &[u32] {
        &self.special_tokens_mask
    }

    /// The `(start, end)` span of each token in its text, in characters (as Python counts);
    /// `(0, 0)` for special tokens.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let enc = tok.encode("Tôi đọc")?;
    /// assert_eq!(enc.tokens(), ["[CLS]", "to", "##i", "đ", "##oc", "[SEP]"]);
    /// assert_eq!(enc.offsets(), [(0, 0), (0, 2), (2, 3), (4, 5), (5, 7), (0, 0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn offsets(&self) -> &[(usize, usize)] {
        &self.offsets
    }

    /// The word each token comes from (sub-words of one word share it); `None` for specials.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let enc = tok.encode("tokenization works")?;
    /// assert_eq!(enc.word_ids(), [None, Some(0), Some(0), Some(1), None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn word_ids(&self) -> &[Option<u32>] {
        &self.word_ids
    }

    /// The number of tokens, special tokens and padding included.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// assert_eq!(tok.encode("I read a good novel.")?.len(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens at all (never the case with special tokens added).
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// assert!(!tok.encode("")?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether the text was longer than the tokenizer's maximum and was cut.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let enc = tok.encode(&"word ".repeat(600))?;
    /// assert!(enc.is_truncated());
    /// assert_eq!(enc.len(), 512);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// For a byte-level BPE tokenizer (GPT-2, SmolLM2, Llama 3): the bytes of UTF-8 text each
    /// token stands for. A Vietnamese letter with its marks takes two or three bytes, and a
    /// token may hold part of one. `None` for other tokenizers (WordPiece).
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
    /// let enc = tok.encode("đọc")?;
    /// let bytes: Vec<u8> = enc.token_bytes().unwrap().concat();
    /// assert_eq!(bytes, "đọc".as_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token_bytes(&self) -> Option<&[Vec<u8>]> {
        self.bytes.as_deref()
    }

    /// Each word of the text (as the pre-tokenizer splits it: words, numbers, punctuation) with
    /// the number of tokens it took, in order; special tokens are no word.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let enc = tok.encode("tokenization works")?;
    /// assert_eq!(enc.word_token_counts(), [("tokenization".to_string(), 2), ("works".to_string(), 1)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn word_token_counts(&self) -> Vec<(String, usize)> {
        // Bytes per word, so that a character split between tokens comes back whole.
        let mut out: Vec<(u32, Vec<u8>, usize)> = Vec::new();
        for (i, word) in self.word_ids.iter().enumerate() {
            let Some(word) = *word else { continue };
            let piece = match &self.bytes {
                Some(bytes) => bytes[i].clone(),
                None => self.texts[i].trim_start_matches("##").as_bytes().to_vec(),
            };
            match out.last_mut() {
                Some((w, b, n)) if *w == word => {
                    b.extend_from_slice(&piece);
                    *n += 1;
                }
                _ => out.push((word, piece, 1)),
            }
        }
        out.into_iter()
            .map(|(_, bytes, n)| (String::from_utf8_lossy(&bytes).trim().to_string(), n))
            .collect()
    }

    /// Tokens per word of the text (special tokens left out): about 1.3 for English in GPT-2's
    /// vocabulary, several for Vietnamese, whose syllables the byte-level vocabularies learned
    /// from English text rarely hold whole. `None` for a text without words.
    pub fn tokens_per_word(&self) -> Option<f64> {
        let counts = self.word_token_counts();
        let tokens: usize = counts.iter().map(|(_, n)| n).sum();
        (!counts.is_empty()).then(|| tokens as f64 / counts.len() as f64)
    }
}

impl std::fmt::Display for Encoding {
    /// A plain-text table, a line per token; byte-level tokens get a column with their text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self
            .tokens
            .iter()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let with_texts = self.texts.iter().zip(&self.tokens).any(|(x, t)| x != t);
        let texts: Vec<String> = self.texts.iter().map(|t| format!("{t:?}")).collect();
        let text_width = texts
            .iter()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        let text_column = |text: &str| {
            if with_texts {
                format!("{text:<text_width$}  ")
            } else {
                String::new()
            }
        };
        writeln!(
            f,
            "{:>4}  {:<width$}  {}{:>6}  type  mask",
            "pos",
            "token",
            text_column("text"),
            "id"
        )?;
        for i in 0..self.len() {
            writeln!(
                f,
                "{:>4}  {:<width$}  {}{:>6}  {:>4}  {:>4}",
                i,
                self.tokens[i],
                text_column(texts.get(i).map_or("", String::as_str)),
                self.ids[i],
                self.type_ids[i],
                self.attention_mask[i]
            )?;
        }
        if self.truncated {
            writeln!(f, "(truncated to {} tokens)", self.len())?;
        }
        Ok(())
    }
}

/// Several encodings padded to one length, ready to run through the model together.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
/// let batch = tok.encode_batch(&["short", "a longer one"])?;
/// assert_eq!(batch.len(), 2);
/// assert_eq!(batch.seq_len(), 5);
/// assert_eq!(batch.encodings()[0].tokens()[3], "[PAD]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    encodings: Vec<Encoding>,
}

impl Batch {
    pub(crate) fn new(encodings: Vec<Encoding>) -> Self {
        Batch { encodings }
    }

    /// The encodings, one per text, all of [`seq_len`](Self::seq_len) tokens.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// let batch = tok.encode_batch(&["a", "b c"])?;
    /// assert!(batch.encodings().iter().all(|e| e.len() == 4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encodings(&self) -> &[Encoding] {
        &self.encodings
    }

    /// The number of texts.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// assert_eq!(tok.encode_batch(&["a", "b", "c"])?.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.encodings.len()
    }

    /// Whether the batch holds no texts (a tokenizer never returns such a batch).
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// assert!(!tok.encode_batch(&["a"])?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.encodings.is_empty()
    }

    /// The padded length shared by every encoding.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// assert_eq!(tok.encode_batch(&["a", "a b c"])?.seq_len(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seq_len(&self) -> usize {
        self.encodings.first().map_or(0, Encoding::len)
    }
}

impl std::fmt::Display for Batch {
    /// A line of tokens per text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (row, encoding) in self.encodings.iter().enumerate() {
            writeln!(f, "{row}: {}", encoding.tokens.join(" "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
impl Encoding {
    /// A hand-made encoding for unit tests; special tokens are those in brackets.
    pub(crate) fn sample(tokens: &[&str], mask: &[u32]) -> Encoding {
        let n = tokens.len();
        Encoding {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            ids: (0..n as u32).collect(),
            type_ids: vec![0; n],
            attention_mask: mask.to_vec(),
            special_tokens_mask: tokens
                .iter()
                .map(|t| u32::from(t.starts_with('[')))
                .collect(),
            offsets: vec![(0, 0); n],
            word_ids: vec![None; n],
            texts: tokens.iter().map(|t| t.to_string()).collect(),
            bytes: None,
            truncated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_has_a_line_per_token() {
        let enc = Encoding::sample(&["[CLS]", "a", "[SEP]"], &[1, 1, 1]);
        assert_eq!(enc.to_string().lines().count(), 4);
        assert!(!enc.to_string().contains("text"));
    }

    #[test]
    fn byte_level_tokens_show_their_text() {
        let mut enc = Encoding::sample(&["Hi", "Ġthere"], &[1, 1]);
        enc.set_texts(|t| t.replace('Ġ', " "));
        let table = enc.to_string();
        assert!(table.contains("\" there\""), "{table}");
    }
}
