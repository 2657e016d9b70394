//! Decoding as a model generates: one id at a time, text as soon as it is whole.

use super::Tokenizer;
use crate::error::{Error, Result};

/// Turns ids into text one at a time without breaking a character: a byte-level token may hold
/// part of a character's UTF-8 (an emoji is often two tokens), and those bytes wait for the
/// rest. Made by [`Tokenizer::text_stream`].
///
/// ```no_run
/// use transformer_nb::prelude::*;
///
/// let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
/// let mut stream = tok.text_stream(true);
/// assert_eq!(stream.push(15496)?.as_deref(), Some("Hello"));
/// assert_eq!(stream.push(50256)?, None); // <|endoftext|>, skipped
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TextStream {
    tokenizer: Tokenizer,
    skip_special_tokens: bool,
    /// Bytes decoded but not yet given out: the start of a character.
    pending: Vec<u8>,
    first: bool,
}

impl TextStream {
    pub(super) fn new(tokenizer: Tokenizer, skip_special_tokens: bool) -> Self {
        TextStream {
            tokenizer,
            skip_special_tokens,
            pending: Vec::new(),
            first: true,
        }
    }

    /// Adds one id; gives the text it completes, or `None` while a character is unfinished (or
    /// the id is a skipped special token). An id outside the vocabulary is an error.
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// # let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
    /// let ids = tok.encode("🤗")?.ids().to_vec(); // two tokens, two bytes each
    /// let mut stream = tok.text_stream(false);
    /// assert_eq!(stream.push(ids[0])?, None);
    /// assert_eq!(stream.push(ids[1])?.as_deref(), Some("🤗"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn push(&mut self, id: u32) -> Result<Option<String>> {
        let pipeline = &self.tokenizer.pipeline;
        let vocab_size = pipeline.vocab_size();
        if id as usize >= vocab_size {
            return Err(Error::OutOfRange {
                what: "token id",
                index: id as usize,
                len: vocab_size,
            });
        }
        let Some(token) = pipeline.token(id) else {
            return Ok(None);
        };
        if self.skip_special_tokens && pipeline.is_special(token) {
            return Ok(None);
        }
        self.pending
            .extend(pipeline.piece(token, std::mem::take(&mut self.first)));
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(valid) => {
                    text.push_str(valid);
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    text.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // Bytes no continuation can mend: one `�`, as a whole decode gives.
                        Some(bad) => {
                            text.push('\u{fffd}');
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            self.pending.drain(..valid);
                            break;
                        }
                    }
                }
            }
        }
        Ok(Some(text).filter(|t| !t.is_empty()))
    }

    /// The text still held back (an unfinished character, as `�`): call it when generation
    /// ends.
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// # let tok = Tokenizer::from_vocab_merges("gpt2/vocab.json", "gpt2/merges.txt")?;
    /// let ids = tok.encode("🤗")?.ids().to_vec();
    /// let mut stream = tok.text_stream(false);
    /// stream.push(ids[0])?;
    /// assert_eq!(stream.finish(), "\u{fffd}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(self) -> String {
        String::from_utf8_lossy(&self.pending).into_owned()
    }
}
