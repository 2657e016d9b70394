//! The logit lens (nostalgebraist, 2020; TransformerLens's `accumulated_resid` + `unembed`):
//! every layer's hidden state read through the model's final norm and output layer, as if the
//! model stopped there. It shows at which layer the answer appears.

use super::causal_lm::{CausalLm, TokenProb, softmax, token_prob, top_k};
use super::decoder::Want;
use crate::error::{Error, Result};
use crate::tokenize::Encoding;

/// Candidates kept per layer and position.
pub(crate) const LENS_TOP: usize = 5;

/// Rows unembedded per call: 256 rows of SmolLM2's 49,152 logits are 50 MB.
const LENS_CHUNK_ROWS: usize = 256;

/// What each layer of a decoder would predict at each position: the top tokens of the hidden
/// state after the embeddings and after every layer, read through the final norm and the
/// output layer. Made by [`CausalLm::logit_lens`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogitLens {
    pub(crate) texts: Vec<String>,
    /// `[layer][position]`: the top candidates, most likely first; layer 0 is the embeddings.
    pub(crate) top: Vec<Vec<Vec<TokenProb>>>,
    /// The token that follows each position in the text (none after the last).
    pub(crate) next: Vec<Option<u32>>,
}

impl LogitLens {
    /// Each position's token, as text.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// Rows: the embeddings (0) and each layer's output (1 ..= layers).
    pub fn layers(&self) -> usize {
        self.top.len()
    }

    /// The five likeliest next tokens after position `position`, read at layer `layer`
    /// (0: the embeddings), most likely first.
    pub fn top(&self, layer: usize, position: usize) -> Result<&[TokenProb]> {
        Error::check_index("layer", layer, self.top.len())?;
        Error::check_index("position", position, self.texts.len())?;
        Ok(&self.top[layer][position])
    }

    /// The token that follows position `position` in the text: what a perfect model would
    /// predict there (`None` after the last).
    pub fn next_token(&self, position: usize) -> Option<u32> {
        self.next.get(position).copied().flatten()
    }

    /// The first layer whose top token at the last position is the last layer's: where the
    /// model's answer appears.
    pub fn answer_layer(&self) -> usize {
        let last = self.texts.len().saturating_sub(1);
        let answer = self.top.last().and_then(|l| l[last].first()).map(|t| t.id);
        self.top
            .iter()
            .position(|layer| layer[last].first().map(|t| t.id) == answer)
            .unwrap_or(0)
    }
}

impl CausalLm {
    /// The logit lens of one text: for the embeddings and every layer, the likeliest next
    /// tokens at every position, as the final norm and the output layer read that layer's
    /// hidden state. The last layer's row is the model's own prediction.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let lens = lm.logit_lens(&lm.tokenizer().encode("The capital of France is")?)?;
    /// assert_eq!(lens.layers(), 31); // the embeddings and 30 layers
    /// assert_eq!(lens.top(30, 4)?[0].text, " Paris");
    /// println!("Paris first leads after layer {}", lens.answer_layer());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn logit_lens(&self, encoding: &Encoding) -> Result<LogitLens> {
        let ids = encoding.ids();
        self.check_ids(ids, 0)?;
        let c = self.config();
        let n = ids.len();
        let mut cache = self.new_cache();
        let pass = self.model.forward(
            ids,
            &mut cache,
            Want {
                all_logits: true,
                internals: true,
                capture: None,
            },
        )?;
        let top_of = |logits: &[f32]| -> Vec<Vec<TokenProb>> {
            logits
                .chunks_exact(c.vocab)
                .map(|row| {
                    top_k(&softmax(row), LENS_TOP)
                        .into_iter()
                        .map(|(id, p)| token_prob(&self.tokenizer, id, p))
                        .collect()
                })
                .collect()
        };
        // Every layer's rows in one product (the quantized kernels dequantize each block of
        // the output layer once per call), in chunks that bound the logits held at once.
        let rows: Vec<f32> = pass.hidden_states[..c.layers].concat();
        let chunk = LENS_CHUNK_ROWS.max(1) * c.hidden;
        let mut all = Vec::with_capacity(c.layers * n);
        for part in rows.chunks(chunk) {
            all.extend(top_of(&self.model.unembed(part, part.len() / c.hidden)));
        }
        let mut top: Vec<Vec<Vec<TokenProb>>> = all.chunks(n).map(<[_]>::to_vec).collect();
        // The last hidden state is already normed: its logits are the model's own.
        top.push(top_of(&pass.logits));
        Ok(LogitLens {
            texts: encoding.texts().to_vec(),
            top,
            next: (0..n).map(|i| ids.get(i + 1).copied()).collect(),
        })
    }
}
