//! What a forward pass returns: every hidden state, every attention map, the pooler output.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The outputs of an encoder's forward pass ([`Bert::forward`](crate::Bert::forward)), as HF's
/// `BertModel(..., output_hidden_states=True, output_attentions=True)` returns them
/// (`BaseModelOutputWithPoolingAndCrossAttentions`), plus the tokens for plots.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
/// let enc = bert.tokenizer().encode("I read a good novel.")?;
/// let out = bert.forward(&enc)?;
/// assert_eq!(out.last_hidden_state().dims(), [1, 8, 32]);
/// assert_eq!(out.hidden_states().len(), 3);          // embeddings + 2 layers
/// assert_eq!(out.attentions()[0].dims(), [1, 4, 8, 8]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    hidden_states: Vec<Tensor>,
    attentions: Vec<Tensor>,
    pooler_output: Option<Tensor>,
    tokens: Vec<Vec<String>>,
    type_ids: Vec<Vec<u32>>,
    lengths: Vec<usize>,
}

impl EncoderOutput {
    /// `hidden_states` must hold at least one tensor (the embeddings); the forward pass
    /// guarantees it.
    pub(crate) fn new(
        hidden_states: Vec<Tensor>,
        attentions: Vec<Tensor>,
        pooler_output: Option<Tensor>,
        tokens: Vec<Vec<String>>,
        type_ids: Vec<Vec<u32>>,
        lengths: Vec<usize>,
    ) -> Self {
        debug_assert!(!hidden_states.is_empty());
        EncoderOutput {
            hidden_states,
            attentions,
            pooler_output,
            tokens,
            type_ids,
            lengths,
        }
    }

    /// The output of the last layer, `[batch, seq, hidden]`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert_eq!(out.last_hidden_state().dims(), [1, 3, 32]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_hidden_state(&self) -> &Tensor {
        &self.hidden_states[self.hidden_states.len() - 1]
    }

    /// The embeddings' output, then each layer's: `num_hidden_layers + 1` tensors of
    /// `[batch, seq, hidden]`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert_eq!(out.hidden_states().len(), bert.config().num_hidden_layers + 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn hidden_states(&self) -> &[Tensor] {
        &self.hidden_states
    }

    /// Each layer's attention probabilities, `[batch, heads, seq, seq]`; each row sums to 1
    /// and padding columns are 0.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert_eq!(out.attentions().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attentions(&self) -> &[Tensor] {
        &self.attentions
    }

    /// `tanh(dense([CLS]))`, `[batch, hidden]`, when the checkpoint has pooler weights.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert_eq!(out.pooler_output().map(|t| t.dims().to_vec()), Some(vec![1, 32]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pooler_output(&self) -> Option<&Tensor> {
        self.pooler_output.as_ref()
    }

    /// The tokens of each sequence, padding included.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert_eq!(out.tokens()[0], ["[CLS]", "hi", "[SEP]"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tokens(&self) -> &[Vec<String>] {
        &self.tokens
    }

    /// The token type (segment: 0 for sentence A, 1 for B) of each real token of `sequence`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode_pair("a cat", "a dog")?)?;
    /// assert_eq!(out.real_type_ids(0)?, [0, 0, 0, 0, 1, 1, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn real_type_ids(&self, sequence: usize) -> Result<&[u32]> {
        Error::check_index("sequence", sequence, self.type_ids.len())?;
        Ok(&self.type_ids[sequence][..self.lengths[sequence]])
    }

    /// The tokens of sequence `sequence` without its padding.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward_batch(&bert.tokenizer().encode_batch(&["a cat", "hi"])?)?;
    /// assert_eq!(out.tokens()[1], ["[CLS]", "hi", "[SEP]", "[PAD]"]);
    /// assert_eq!(out.real_tokens(1)?, ["[CLS]", "hi", "[SEP]"]);
    /// assert!(out.real_tokens(2).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn real_tokens(&self, sequence: usize) -> Result<&[String]> {
        Error::check_index("sequence", sequence, self.tokens.len())?;
        Ok(&self.tokens[sequence][..self.lengths[sequence]])
    }

    /// One attention map as rows of probabilities: `[query][key]`, padding left out.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// let map = out.attention(0, 1, 3)?;
    /// assert!((map[2].iter().sum::<f32>() - 1.0).abs() < 1e-5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention(&self, sequence: usize, layer: usize, head: usize) -> Result<Vec<Vec<f32>>> {
        Error::check_index("sequence", sequence, self.tokens.len())?;
        Error::check_index("layer", layer, self.attentions.len())?;
        let probs = &self.attentions[layer];
        Error::check_index("head", head, probs.dim(1)?)?;
        let n = self.lengths[sequence];
        let map = probs
            .get(sequence)?
            .get(head)?
            .narrow(0, 0, n)?
            .narrow(1, 0, n)?;
        map.to_vec2()
    }
}

/// The former name of [`EncoderOutput`]. In HF transformers `BertOutput` is the feed-forward
/// sublayer's output projection, not a model's result, so the result took another name.
#[deprecated(note = "renamed `EncoderOutput`; this alias goes in the next release")]
pub type BertOutput = EncoderOutput;
