//! One attention head opened up: the query and key vectors it computes for each token, which
//! give its scores and its attention (what bertviz's neuron view shows), for an encoder
//! ([`Bert::attention_head`](crate::Bert::attention_head)) or a decoder
//! ([`CausalLm::attention_head`](crate::CausalLm::attention_head)).

/// One vector per token.
pub(crate) type Vectors = Vec<Vec<f32>>;

/// The queries, keys and values of one head of one layer for one text: `attention = softmax(q ·
/// kᵀ / √d)`, row by row, and `context = attention · v`, what the head passes on (the heads'
/// contexts, side by side, go through the output projection `W_O`); in a decoder (causal) each token sees only itself and the tokens before
/// it. For a model with rotary position embeddings (Llama), the vectors are those attention
/// uses, after the rotation; [`queries_before_rope`](Self::queries_before_rope) gives them as
/// the projections make them.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionHead {
    pub(crate) layer: usize,
    pub(crate) head: usize,
    pub(crate) tokens: Vec<String>,
    pub(crate) type_ids: Vec<u32>,
    pub(crate) queries: Vec<Vec<f32>>,
    pub(crate) keys: Vec<Vec<f32>>,
    pub(crate) values: Vec<Vec<f32>>,
    /// Queries and keys before the rotary embedding, for models that have one.
    pub(crate) before_rope: Option<(Vectors, Vectors)>,
    pub(crate) causal: bool,
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

    /// The tokens: `[CLS]` and `[SEP]` included for BERT, each token's text for a decoder.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The token types (0 for sentence A, 1 for B; all 0 for a decoder).
    pub fn type_ids(&self) -> &[u32] {
        &self.type_ids
    }

    /// The query vector of each token (`head_size` values each), as attention uses it.
    pub fn queries(&self) -> &[Vec<f32>] {
        &self.queries
    }

    /// The key vector of each token, as attention uses it.
    pub fn keys(&self) -> &[Vec<f32>] {
        &self.keys
    }

    /// The value vector of each token: what the head passes on from that token, in proportion
    /// to the attention it gets.
    pub fn values(&self) -> &[Vec<f32>] {
        &self.values
    }

    /// Each token's context vector, `Σ_j attention[i][j] · values[j]`: this head's part of the
    /// attention sublayer's output, before the output projection.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let head = bert.attention_head(&bert.tokenizer().encode("a good novel")?, 1, 3)?;
    /// let (attention, values) = (head.attention(), head.values());
    /// let first: f32 = (0..values.len()).map(|j| attention[1][j] * values[j][0]).sum();
    /// assert!((head.context()[1][0] - first).abs() < 1e-6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn context(&self) -> Vec<Vec<f32>> {
        let width = self.values.first().map_or(0, Vec::len);
        self.attention()
            .iter()
            .map(|weights| {
                let mut sum = vec![0.0f32; width];
                for (weight, value) in weights.iter().zip(&self.values) {
                    for (s, v) in sum.iter_mut().zip(value) {
                        *s += weight * v;
                    }
                }
                sum
            })
            .collect()
    }

    /// The queries before the rotary position embedding turned them, for models that rotate
    /// them (Llama); `None` for BERT and GPT-2, whose positions enter with the embeddings.
    pub fn queries_before_rope(&self) -> Option<&[Vec<f32>]> {
        self.before_rope.as_ref().map(|(q, _)| q.as_slice())
    }

    /// The keys before the rotary position embedding; see
    /// [`queries_before_rope`](Self::queries_before_rope).
    pub fn keys_before_rope(&self) -> Option<&[Vec<f32>]> {
        self.before_rope.as_ref().map(|(_, k)| k.as_slice())
    }

    /// Whether each token sees only itself and the tokens before it (a decoder's head).
    pub fn is_causal(&self) -> bool {
        self.causal
    }

    /// `q_i · k_j / √d` for every query `i` and key `j`: the scores before the softmax; in a
    /// causal head, `-∞` for the keys after the query (the mask).
    pub fn scores(&self) -> Vec<Vec<f32>> {
        scores(&self.queries, &self.keys, self.causal)
    }

    /// The softmax of each row of [`scores`](Self::scores): the head's attention, as the
    /// model's output returns it ([`EncoderOutput::attention`](crate::EncoderOutput::attention),
    /// [`CausalLmOutput::attention`](crate::CausalLmOutput::attention)).
    pub fn attention(&self) -> Vec<Vec<f32>> {
        softmax_rows(self.scores())
    }

    /// The attention the same head would give without the rotary embedding: what position adds
    /// to it. `None` where the model has no rotary embedding.
    pub fn attention_before_rope(&self) -> Option<Vec<Vec<f32>>> {
        let (q, k) = self.before_rope.as_ref()?;
        Some(softmax_rows(scores(q, k, self.causal)))
    }
}

fn scores(queries: &[Vec<f32>], keys: &[Vec<f32>], causal: bool) -> Vec<Vec<f32>> {
    let scale = 1.0 / (queries.first().map_or(1, Vec::len) as f32).sqrt();
    queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            keys.iter()
                .enumerate()
                .map(|(j, k)| {
                    if causal && j > i {
                        f32::NEG_INFINITY
                    } else {
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale
                    }
                })
                .collect()
        })
        .collect()
}

fn softmax_rows(scores: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    scores
        .into_iter()
        .map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = row.iter().map(|s| (s - max).exp()).collect();
            let sum: f32 = exps.iter().sum();
            exps.into_iter().map(|e| e / sum).collect()
        })
        .collect()
}
