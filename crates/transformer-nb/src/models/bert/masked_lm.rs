//! Fill-mask: BERT's pre-training task. The masked-language-model head (`cls.predictions`) turns
//! the hidden state at each `[MASK]` into a probability for every word of the vocabulary; applied
//! to every layer's hidden state it shows how the guess forms layer by layer (a "logit lens").

use std::path::Path;

use super::model::MlmPredictionLayers;
use super::{Bert, Precision};
use crate::error::{Error, Result};
use crate::kernels::math;

use crate::tensor::Tensor;
use crate::tokenize::{Encoding, Tokenizer};

/// A BERT checkpoint with its masked-language-model head (`BertForMaskedLM`, e.g.
/// `bert-base-uncased`): guesses the words hidden behind `[MASK]`.
///
/// ```no_run
/// use transformer_nb::prelude::*;
///
/// let mlm = MaskedLm::from_pretrained("bert-base-uncased")?;
/// let guesses = mlm.fill_mask("I read a good [MASK].", 5)?;
/// assert_eq!(guesses.candidates()[0].len(), 5); // e.g. book, novel, story, ...
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MaskedLm {
    bert: Bert,
    head: MlmPredictionLayers,
    mask_id: u32,
}

impl MaskedLm {
    /// Loads a folder holding a `BertForMaskedLM` checkpoint: as [`Bert::from_dir`], plus the
    /// head. A checkpoint saved without the head (a plain `BertModel`, as sentence-transformers
    /// models are) is an error that says so.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_bert(Bert::from_dir(dir)?)
    }

    /// Loads a Hub checkpoint, from the local cache or by downloading it, as
    /// [`Bert::from_pretrained`].
    pub fn from_pretrained(model_id: &str) -> Result<Self> {
        Self::from_bert(Bert::from_pretrained(model_id)?)
    }

    /// [`from_dir`](Self::from_dir) with the encoder's matrix products in `precision`, as
    /// [`Bert::from_dir_with`]. The head stays f32: its output layer is the word embeddings,
    /// which every precision keeps in f32.
    pub fn from_dir_with(dir: impl AsRef<Path>, precision: Precision) -> Result<Self> {
        Self::from_bert(Bert::from_dir_with(dir, precision)?)
    }

    /// [`from_pretrained`](Self::from_pretrained) with the encoder's matrix products in
    /// `precision`, as [`Bert::from_pretrained_with`]; on a CPU without AVX512_BF16 it stays
    /// f32 and says so.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let mlm = MaskedLm::from_pretrained_with("bert-base-uncased", Precision::Bf16)?;
    /// println!("encoder in {}", mlm.bert().precision());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pretrained_with(model_id: &str, precision: Precision) -> Result<Self> {
        Self::from_bert(Bert::from_pretrained_with(model_id, precision)?)
    }

    /// Adds the masked-language-model head to a loaded [`Bert`], read from the checkpoint it
    /// was loaded from (so a model loaded in bf16 keeps its precision); an error when the
    /// checkpoint has no head. A [`Bert::random`] has one, untrained: its guesses are nearly
    /// uniform, which is what training starts from.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let mlm = MaskedLm::from_bert(Bert::tiny_random()?)?;
    /// let guesses = mlm.fill_mask("I read a good [MASK].", 3)?;
    /// let (_, top) = &guesses.candidates()[0][0];
    /// let uniform = 1.0 / mlm.tokenizer().vocab_size() as f32;
    /// assert!(*top < 2.0 * uniform); // no word stands out before training
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_bert(bert: Bert) -> Result<Self> {
        let file = bert.checkpoint()?;
        if !file.contains(&format!(
            "{}.transform.dense.weight",
            MlmPredictionLayers::PREFIX
        )) {
            return Err(Error::MissingHead {
                path: file.path().to_path_buf(),
                head: "masked-language-model head (cls.predictions)",
                hint: "this checkpoint was saved without it (as a BertModel, like the \
                       sentence-transformers models); load a BertForMaskedLM checkpoint such as \
                       bert-base-uncased, or use Bert for its hidden states"
                    .into(),
            });
        }
        let head = MlmPredictionLayers::read(&file, bert.config())?;
        let mask = bert.tokenizer().mask_token().to_string();
        let mask_id = bert.tokenizer().token_to_id(&mask).ok_or_else(|| {
            Error::Tokenizer(format!(
                "the tokenizer has no mask token {mask}, which fill-mask needs"
            ))
        })?;
        Ok(MaskedLm {
            bert,
            head,
            mask_id,
        })
    }

    /// The encoder underneath, for its hidden states and attentions.
    pub fn bert(&self) -> &Bert {
        &self.bert
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        self.bert.tokenizer()
    }

    /// Tokenizes `text` and finds its masks: an error when it has none.
    fn encode_with_masks(&self, text: &str) -> Result<(Encoding, Vec<usize>)> {
        let encoding = self.tokenizer().encode(text)?;
        let masks: Vec<usize> = encoding
            .ids()
            .iter()
            .enumerate()
            .filter(|&(_, &id)| id == self.mask_id)
            .map(|(i, _)| i)
            .collect();
        if masks.is_empty() {
            let mask = self.tokenizer().mask_token();
            return Err(Error::invalid(format!(
                "the text has no {mask}: write {mask} where a word should be guessed, e.g. \
                 \"I read a good {mask}.\"{}",
                if encoding.is_truncated() {
                    " (or the text was cut at the model's maximum length before it)"
                } else {
                    ""
                }
            )));
        }
        Ok((encoding, masks))
    }

    /// The head's logits over the vocabulary at each mask of `text`, in order: `[mask][vocab]`.
    /// What HF's `BertForMaskedLM(...).logits[0, masks]` holds.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let mlm = MaskedLm::from_bert(Bert::tiny_random()?)?; // no download
    /// let logits = mlm.logits_at_masks("a [MASK] of [MASK]")?;
    /// assert_eq!((logits.len(), logits[0].len()), (2, mlm.tokenizer().vocab_size()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn logits_at_masks(&self, text: &str) -> Result<Vec<Vec<f32>>> {
        let (encoding, masks) = self.encode_with_masks(text)?;
        let last = self.last_hidden_state(&encoding)?;
        self.logits_of(&last, &masks)
    }

    /// The encoder's last hidden state for one encoding.
    fn last_hidden_state(&self, encoding: &Encoding) -> Result<Tensor> {
        let mut pass = self.bert.pass(std::slice::from_ref(encoding), false)?;
        Ok(pass
            .hidden_states
            .pop()
            .expect("a pass always returns its last hidden state"))
    }

    fn logits_of(&self, hidden: &Tensor, masks: &[usize]) -> Result<Vec<Vec<f32>>> {
        let rows: Vec<f32> = masks
            .iter()
            .map(|&m| hidden.get(0)?.get(m)?.to_vec1())
            .collect::<Result<Vec<_>>>()?
            .concat();
        Ok(self.bert.model.mlm_logits(&self.head, &rows))
    }

    /// The `top_k` most probable words for each `[MASK]` of `text`, best first.
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// # let mlm = MaskedLm::from_pretrained("bert-base-uncased")?;
    /// let guesses = mlm.fill_mask("Paris is the [MASK] of France.", 3)?;
    /// assert_eq!(guesses.candidates()[0][0].0, "capital");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fill_mask(&self, text: &str, top_k: usize) -> Result<FillMask> {
        check_top_k(top_k)?;
        let (encoding, masks) = self.encode_with_masks(text)?;
        let last = self.last_hidden_state(&encoding)?;
        let candidates = self
            .logits_of(&last, &masks)?
            .into_iter()
            .map(|logits| self.top(logits, top_k))
            .collect();
        Ok(FillMask {
            text: text.to_string(),
            tokens: encoding.tokens().to_vec(),
            masks,
            candidates,
        })
    }

    /// The head applied to every layer's hidden state at each mask (the embeddings' output, then
    /// each layer's): how the top `top_k` guesses change from layer to layer.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let mlm = MaskedLm::from_bert(Bert::tiny_random()?)?; // no download
    /// let lens = mlm.layer_predictions("I read a good [MASK].", 3)?;
    /// assert_eq!(lens.layers(0).len(), 3); // embeddings + 2 layers
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn layer_predictions(&self, text: &str, top_k: usize) -> Result<LayerPredictions> {
        check_top_k(top_k)?;
        let (encoding, masks) = self.encode_with_masks(text)?;
        let pass = self.bert.pass(std::slice::from_ref(&encoding), true)?;
        let mut per_mask = vec![Vec::with_capacity(pass.hidden_states.len()); masks.len()];
        // Every layer's probabilities, to follow the last layer's guesses back through them.
        let mut probabilities = vec![Vec::with_capacity(pass.hidden_states.len()); masks.len()];
        for hidden in &pass.hidden_states {
            let logits = self.logits_of(hidden, &masks)?;
            for ((mask, all), logits) in per_mask.iter_mut().zip(&mut probabilities).zip(logits) {
                let probs = softmax(logits);
                mask.push(self.top_of(&probs, top_k));
                all.push(probs);
            }
        }
        let trajectories = per_mask
            .iter()
            .zip(&probabilities)
            .map(|(layers, all)| {
                let last = layers.last().map_or(&[][..], Vec::as_slice);
                last.iter()
                    .map(|(token, _)| {
                        let id = self.tokenizer().token_to_id(token).unwrap_or(0) as usize;
                        let path = all.iter().map(|probs| probs[id]).collect();
                        (token.clone(), path)
                    })
                    .collect()
            })
            .collect();
        Ok(LayerPredictions {
            text: text.to_string(),
            tokens: encoding.tokens().to_vec(),
            masks,
            layers: per_mask,
            trajectories,
        })
    }

    /// Softmax of `logits`, then the `k` most probable tokens, best first.
    fn top(&self, logits: Vec<f32>, k: usize) -> Vec<(String, f32)> {
        self.top_of(&softmax(logits), k)
    }

    /// The `k` most probable tokens of `probs`, best first.
    fn top_of(&self, probs: &[f32], k: usize) -> Vec<(String, f32)> {
        let width = probs.len();
        let mut order: Vec<usize> = (0..width).collect();
        let k = k.min(width);
        order.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| probs[b].total_cmp(&probs[a]));
        order.truncate(k);
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
        order
            .into_iter()
            .map(|id| {
                let token = self
                    .tokenizer()
                    .id_to_token(id as u32)
                    .unwrap_or_else(|| format!("[id {id}]"));
                (token, probs[id])
            })
            .collect()
    }
}

/// Probabilities from logits.
fn softmax(mut logits: Vec<f32>) -> Vec<f32> {
    let width = logits.len();
    math::scaled_masked_softmax(
        crate::kernels::Isa::detect(),
        &mut logits,
        width,
        1.0,
        &vec![0.0; width],
    );
    logits
}

fn check_top_k(top_k: usize) -> Result<()> {
    if top_k == 0 {
        return Err(Error::invalid(
            "top_k is 0: ask for at least 1 candidate, e.g. 5",
        ));
    }
    Ok(())
}

/// What [`MaskedLm::fill_mask`] guessed: for each `[MASK]`, the candidates and their
/// probabilities, best first. Displays as a table in a notebook.
#[derive(Debug, Clone, PartialEq)]
pub struct FillMask {
    pub(crate) text: String,
    pub(crate) tokens: Vec<String>,
    pub(crate) masks: Vec<usize>,
    pub(crate) candidates: Vec<Vec<(String, f32)>>,
}

impl FillMask {
    /// For each `[MASK]` in order, the top-k `(token, probability)`, best first.
    pub fn candidates(&self) -> &[Vec<(String, f32)>] {
        &self.candidates
    }

    /// The text that was filled.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text's tokens, `[CLS]` and `[SEP]` included.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The positions of the masks among the tokens.
    pub fn mask_positions(&self) -> &[usize] {
        &self.masks
    }
}

impl std::fmt::Display for FillMask {
    /// A line per mask: its candidates with their probabilities.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (mask, candidates) in self.candidates.iter().enumerate() {
            let list: Vec<String> = candidates
                .iter()
                .map(|(token, p)| format!("{token} {:.1}%", p * 100.0))
                .collect();
            writeln!(f, "[MASK] {}: {}", mask + 1, list.join(", "))?;
        }
        Ok(())
    }
}

#[doc(hidden)]
impl FillMask {
    /// A small example for the documentation: "I read a good [MASK]." with three guesses.
    pub fn sample() -> Self {
        FillMask {
            text: "I read a good [MASK].".into(),
            tokens: ["[CLS]", "i", "read", "a", "good", "[MASK]", ".", "[SEP]"]
                .map(String::from)
                .to_vec(),
            masks: vec![5],
            candidates: vec![vec![
                ("novel".into(), 0.62),
                ("book".into(), 0.25),
                ("story".into(), 0.05),
            ]],
        }
    }
}

/// What [`MaskedLm::layer_predictions`] found: for each `[MASK]`, for each layer (the
/// embeddings' output first), the top-k `(token, probability)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPredictions {
    pub(crate) text: String,
    pub(crate) tokens: Vec<String>,
    pub(crate) masks: Vec<usize>,
    /// `[mask][layer][k]`.
    pub(crate) layers: Vec<Vec<Vec<(String, f32)>>>,
    /// `[mask][candidate]`: the last layer's candidates and their probability at every layer.
    pub(crate) trajectories: Vec<Vec<(String, Vec<f32>)>>,
}

impl LayerPredictions {
    /// For mask `mask` (0 for the first), the top-k of each layer: `[layer][k]`, the embeddings'
    /// output first. Empty for a mask the text does not have.
    pub fn layers(&self, mask: usize) -> &[Vec<(String, f32)>] {
        self.layers.get(mask).map_or(&[], Vec::as_slice)
    }

    /// For mask `mask`, the last layer's candidates, best first, each with its probability at
    /// every layer (the embeddings' output first): how the final guess formed. Empty for a mask
    /// the text does not have.
    pub fn trajectories(&self, mask: usize) -> &[(String, Vec<f32>)] {
        self.trajectories.get(mask).map_or(&[], Vec::as_slice)
    }

    /// How many masks the text has.
    pub fn mask_count(&self) -> usize {
        self.masks.len()
    }

    /// The positions of the masks among the tokens.
    pub fn mask_positions(&self) -> &[usize] {
        &self.masks
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text's tokens.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }
}

impl std::fmt::Display for LayerPredictions {
    /// For each mask, a line per layer with its best guess.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for mask in 0..self.mask_count() {
            writeln!(f, "[MASK] {}:", mask + 1)?;
            for (layer, candidates) in self.layers(mask).iter().enumerate() {
                let best = candidates
                    .first()
                    .map_or(String::new(), |(t, p)| format!("{t} {:.1}%", p * 100.0));
                writeln!(f, "  layer {layer}: {best}")?;
            }
        }
        Ok(())
    }
}

#[doc(hidden)]
impl LayerPredictions {
    /// A small example for the documentation: one mask, the embeddings and two layers.
    pub fn sample() -> Self {
        let layer = |a: &str, p: f32| vec![(a.to_string(), p), ("the".to_string(), 0.01)];
        LayerPredictions {
            text: "a [MASK]".into(),
            tokens: ["[CLS]", "a", "[MASK]", "[SEP]"].map(String::from).to_vec(),
            masks: vec![2],
            layers: vec![vec![
                layer("a", 0.3),
                layer("book", 0.2),
                layer("novel", 0.7),
            ]],
            trajectories: vec![vec![
                ("novel".into(), vec![0.01, 0.1, 0.7]),
                ("the".into(), vec![0.05, 0.02, 0.01]),
            ]],
        }
    }
}
