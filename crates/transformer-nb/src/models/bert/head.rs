//! One attention head opened up: the query and key vectors it computes for each token, which
//! give its scores and its attention (what bertviz's neuron view shows).

use super::Bert;
use crate::error::{Error, Result};
use crate::tokenize::Encoding;

/// The queries and keys of one head of one layer for one text: `attention = softmax(q · kᵀ /
/// √d)`, row by row. Made by [`Bert::attention_head`].
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionHead {
    pub(crate) layer: usize,
    pub(crate) head: usize,
    pub(crate) tokens: Vec<String>,
    pub(crate) type_ids: Vec<u32>,
    pub(crate) queries: Vec<Vec<f32>>,
    pub(crate) keys: Vec<Vec<f32>>,
}

impl AttentionHead {
    /// The layer.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// The head.
    pub fn head(&self) -> usize {
        self.head
    }

    /// The tokens, `[CLS]` and `[SEP]` included.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The token types (0 for sentence A, 1 for B).
    pub fn type_ids(&self) -> &[u32] {
        &self.type_ids
    }

    /// The query vector of each token (`head_size` values each).
    pub fn queries(&self) -> &[Vec<f32>] {
        &self.queries
    }

    /// The key vector of each token.
    pub fn keys(&self) -> &[Vec<f32>] {
        &self.keys
    }

    /// `q_i · k_j / √d` for every query `i` and key `j`: the scores before the softmax.
    pub fn scores(&self) -> Vec<Vec<f32>> {
        let scale = 1.0 / (self.queries.first().map_or(1, Vec::len) as f32).sqrt();
        self.queries
            .iter()
            .map(|q| {
                self.keys
                    .iter()
                    .map(|k| q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale)
                    .collect()
            })
            .collect()
    }

    /// The softmax of each row of [`scores`](Self::scores): the head's attention, as
    /// [`BertOutput::attention`](crate::BertOutput::attention) returns it.
    pub fn attention(&self) -> Vec<Vec<f32>> {
        self.scores()
            .into_iter()
            .map(|row| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = row.iter().map(|s| (s - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                exps.into_iter().map(|e| e / sum).collect()
            })
            .collect()
    }
}

impl Bert {
    /// Opens up head `head` of layer `layer` for one encoding: each token's query and key
    /// vectors, from which its scores and attention follow. The layer's input is the hidden
    /// state a forward pass computes; an index out of range is an error naming the range.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let enc = bert.tokenizer().encode("I read a good novel.")?;
    /// let head = bert.attention_head(&enc, 2, 5)?;
    /// assert_eq!(head.queries()[0].len(), 32);
    /// let out = bert.forward(&enc)?;
    /// let want = out.attention(0, 2, 5)?;
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
        })
    }
}
