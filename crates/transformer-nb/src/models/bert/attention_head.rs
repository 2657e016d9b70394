//! One of BERT's attention heads opened up, for bertviz's neuron view.

use super::Bert;
use crate::error::{Error, Result};
use crate::models::attention_head::AttentionHead;
use crate::tokenize::Encoding;

impl Bert {
    /// Opens up head `head` of layer `layer` for one encoding: each token's query, key and
    /// value vectors, from which its scores, its attention and its context follow. The layer's input is the hidden
    /// state a forward pass computes; an index out of range is an error naming the range.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let enc = bert.tokenizer().encode("I read a good novel.")?;
    /// let head = bert.attention_head(&enc, 1, 3)?;
    /// assert_eq!(head.queries()[0].len(), 8);      // 32 dimensions / 4 heads
    /// assert_eq!(head.values().len(), enc.len());
    /// let out = bert.forward(&enc)?;
    /// let want = out.attention(0, 1, 3)?;
    /// assert!((head.attention()[3][1] - want[3][1]).abs() < 1e-5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_head(
        &self,
        encoding: &Encoding,
        layer: usize,
        head: usize,
    ) -> Result<AttentionHead> {
        let config = self.config();
        Error::check_index("layer", layer, config.num_hidden_layers)?;
        Error::check_index("head", head, config.num_attention_heads)?;
        let pass = self.pass(std::slice::from_ref(encoding), true)?;
        let input: &[f32] = pass.hidden_states[layer].values();
        let hidden = config.hidden_size;
        let d = config.head_size();
        let qkv = self.model.projections(layer, input);
        let n = encoding
            .attention_mask()
            .iter()
            .filter(|&&m| m == 1)
            .count();
        let slice = |row: usize, part: usize| {
            let start = row * 3 * hidden + part * hidden + head * d;
            qkv[start..start + d].to_vec()
        };
        Ok(AttentionHead {
            layer,
            head,
            tokens: encoding.tokens()[..n].to_vec(),
            type_ids: encoding.type_ids()[..n].to_vec(),
            queries: (0..n).map(|i| slice(i, 0)).collect(),
            keys: (0..n).map(|i| slice(i, 1)).collect(),
            values: (0..n).map(|i| slice(i, 2)).collect(),
            before_rope: None,
            causal: false,
        })
    }
}
