//! What a forward pass returns: every hidden state, every attention map, the pooler output.

use candle_core::Tensor;

use crate::display::{CELL, HEAD_CELL, escape, html_table_style};
use crate::error::{Error, Result};
use crate::plot::{Colormap, Heatmap, Plot, heatmap, heatmap_grid};

/// The outputs of [`Bert::forward`](crate::Bert::forward), as HF's `BertModel(...,
/// output_hidden_states=True, output_attentions=True)` returns them, plus the tokens for plots.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
/// let enc = bert.tokenizer().encode("I read a good novel.")?;
/// let out = bert.forward(&enc)?;
/// assert_eq!(out.last_hidden_state().dims(), [1, 8, 384]);
/// assert_eq!(out.hidden_states().len(), 7);          // embeddings + 6 layers
/// assert_eq!(out.attentions()[0].dims(), [1, 12, 8, 8]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct BertOutput {
    hidden_states: Vec<Tensor>,
    attentions: Vec<Tensor>,
    pooler_output: Option<Tensor>,
    tokens: Vec<Vec<String>>,
    lengths: Vec<usize>,
}

impl BertOutput {
    /// `hidden_states` must hold at least one tensor (the embeddings); the forward pass
    /// guarantees it.
    pub(crate) fn new(
        hidden_states: Vec<Tensor>,
        attentions: Vec<Tensor>,
        pooler_output: Option<Tensor>,
        tokens: Vec<Vec<String>>,
        lengths: Vec<usize>,
    ) -> Self {
        debug_assert!(!hidden_states.is_empty());
        BertOutput {
            hidden_states,
            attentions,
            pooler_output,
            tokens,
            lengths,
        }
    }

    /// The output of the last layer, `[batch, seq, hidden]`.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert_eq!(out.last_hidden_state().dims(), [1, 3, 384]);
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
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
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
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert_eq!(out.attentions().len(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attentions(&self) -> &[Tensor] {
        &self.attentions
    }

    /// `tanh(dense([CLS]))`, `[batch, hidden]`, when the checkpoint has pooler weights.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert_eq!(out.pooler_output().map(|t| t.dims().to_vec()), Some(vec![1, 384]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pooler_output(&self) -> Option<&Tensor> {
        self.pooler_output.as_ref()
    }

    /// The tokens of each sequence, padding included.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert_eq!(out.tokens()[0], ["[CLS]", "hi", "[SEP]"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tokens(&self) -> &[Vec<String>] {
        &self.tokens
    }

    /// One attention map as rows of probabilities: `[query][key]`, padding left out.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// let map = out.attention(0, 5, 3)?;
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
        Ok(map.to_vec2()?)
    }

    /// Heatmap of one head's attention in the first sequence: which token (column) each token
    /// (row) attends to, both axes labelled with the tokens.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// assert!(out.attention_heatmap(5, 3)?.to_svg().contains("novel"));
    /// assert!(out.attention_heatmap(6, 0).is_err()); // MiniLM has layers 0..6
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_heatmap(&self, layer: usize, head: usize) -> Result<Plot> {
        self.attention_heatmap_of(0, layer, head)
    }

    /// Like [`attention_heatmap`](Self::attention_heatmap), for sequence `sequence` of a batch.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward_batch(&bert.tokenizer().encode_batch(&["a cat", "a dog"])?)?;
    /// assert!(out.attention_heatmap_of(1, 0, 0)?.to_svg().contains("dog"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_heatmap_of(&self, sequence: usize, layer: usize, head: usize) -> Result<Plot> {
        let map: Vec<f32> = self
            .attention(sequence, layer, head)?
            .into_iter()
            .flatten()
            .collect();
        let tokens = &self.tokens[sequence][..self.lengths[sequence]];
        let n = tokens.len();
        let side = (220 + 28 * n as u32).clamp(360, 900);
        Ok(heatmap(
            &Heatmap {
                values: &map,
                rows: n,
                cols: n,
                title: format!("Attention, layer {layer}, head {head} (rows attend to columns)"),
                x_desc: "key",
                y_desc: "query",
                x_labels: Some(tokens),
                y_labels: Some(tokens),
                colormap: Colormap::Viridis,
                range: (0.0, 1.0),
            },
            (side + 160, side + 40),
        ))
    }

    /// Every head of one layer (first sequence) as small multiples on one colour scale.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// assert_eq!(out.attention_heads(0)?.to_svg().matches("<image").count(), 13); // 12 heads + colour bar
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_heads(&self, layer: usize) -> Result<Plot> {
        Error::check_index("layer", layer, self.attentions.len())?;
        let heads = self.attentions[layer].dim(1)?;
        let maps = (0..heads)
            .map(|h| Ok(self.attention(0, layer, h)?.into_iter().flatten().collect()))
            .collect::<Result<Vec<Vec<f32>>>>()?;
        let tokens = &self.tokens[0][..self.lengths[0]];
        let n = tokens.len();
        // Token labels only where they stay readable.
        let labels = (n <= 16).then_some(tokens);
        let titles: Vec<String> = (0..heads).map(|h| format!("head {h}")).collect();
        let panels: Vec<Heatmap> = maps
            .iter()
            .zip(&titles)
            .map(|(map, title)| Heatmap {
                values: map,
                rows: n,
                cols: n,
                title: title.clone(),
                x_desc: "",
                y_desc: "",
                x_labels: labels,
                y_labels: labels,
                colormap: Colormap::Viridis,
                range: (0.0, 1.0),
            })
            .collect();
        let columns = if heads >= 8 { 4 } else { heads.min(4) };
        let rows = heads.div_ceil(columns) as u32;
        let panel = if labels.is_some() { 230 } else { 170 };
        Ok(heatmap_grid(
            &format!("Attention of every head, layer {layer}"),
            &panels,
            columns,
            (columns as u32 * panel + 80, rows * panel + 40),
        ))
    }

    /// An HTML summary: the shape of every output.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert!(out.to_html().contains("last_hidden_state"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_html(&self) -> String {
        let shape = |t: &Tensor| format!("{:?}", t.dims());
        let mut rows = vec![
            (
                "last_hidden_state".to_string(),
                shape(self.last_hidden_state()),
            ),
            (
                format!("hidden_states ({} tensors)", self.hidden_states.len()),
                shape(&self.hidden_states[0]),
            ),
        ];
        if let Some(first) = self.attentions.first() {
            rows.push((
                format!("attentions ({} layers)", self.attentions.len()),
                shape(first),
            ));
        }
        rows.push((
            "pooler_output".into(),
            self.pooler_output
                .as_ref()
                .map_or("none (no pooler weights)".into(), shape),
        ));
        let mut html = format!(
            "<table style=\"{}\"><tr><th style=\"{HEAD_CELL}\">output</th><th style=\"{HEAD_CELL}\">shape</th></tr>",
            html_table_style()
        );
        for (name, value) in rows {
            html.push_str(&format!(
                "<tr><td style=\"{CELL};text-align:left\">{}</td><td style=\"{CELL}\">{}</td></tr>",
                escape(&name),
                escape(&value)
            ));
        }
        html.push_str("</table>");
        html
    }
}
