//! What every decoder architecture gives [`CausalLm`](crate::CausalLm): its sizes, and a pass
//! over new tokens that extends a key/value cache.

use super::layers::KvCache;
use crate::error::Result;
use crate::kernels::pass::run_pass;

/// The sizes of a decoder-only model, whatever its architecture.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    /// The architecture: `"llama"` or `"gpt2"`.
    pub architecture: &'static str,
    /// Decoder layers.
    pub layers: usize,
    /// Width of the hidden states.
    pub hidden: usize,
    /// Query heads per layer.
    pub heads: usize,
    /// Key/value heads per layer (fewer than `heads` with grouped-query attention).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Width of the feed-forward layer.
    pub intermediate: usize,
    /// Tokens in the vocabulary (rows of the embedding table).
    pub vocab: usize,
    /// The longest sequence (prompt and generated tokens) the model takes.
    pub max_positions: usize,
    /// The base of the rotary embedding's frequencies, for models that use RoPE.
    pub rope_theta: Option<f32>,
    /// The norms' epsilon.
    pub norm_eps: f32,
    /// Whether the output layer is the embedding table (tied weights).
    pub tied_embeddings: bool,
}

/// What a pass should keep besides the last position's logits.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Want {
    /// Logits at every new position (else the last one only).
    pub all_logits: bool,
    /// Every hidden state and attention map.
    pub internals: bool,
    /// A layer whose queries and keys to keep, before and after the position encoding.
    pub capture: Option<usize>,
}

/// One layer's queries and keys for every new position (`rows × heads·head_dim` and
/// `rows × kv_heads·head_dim`), as the projections give them and as attention uses them (after
/// the rotary embedding, where the model has one).
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub queries_before_rope: Vec<f32>,
    pub keys_before_rope: Vec<f32>,
    pub queries: Vec<f32>,
    pub keys: Vec<f32>,
    pub values: Vec<f32>,
}

/// What a pass over `rows` new tokens returns.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    /// `rows × vocab` (or `1 × vocab`, the last position's, without `all_logits`).
    pub logits: Vec<f32>,
    /// As HF's `hidden_states`: the embeddings, then each layer's output, the last one after
    /// the final norm; each `rows × hidden`.
    pub hidden_states: Vec<Vec<f32>>,
    /// Per layer, `heads × rows × (past + rows)`.
    pub attentions: Vec<Vec<f32>>,
    /// The queries and keys of [`Want::capture`]'s layer.
    pub captured: Option<Captured>,
}

impl Pass {
    /// Ends a pass over `rows` new tokens given the hidden states after the final norm
    /// (`normed`, `rows × hidden`): as HF, the last hidden state kept is the normed one; returns
    /// the rows to take logits of (every row with `all_logits`, else the last) and their count.
    pub(crate) fn finish<'a>(
        &mut self,
        normed: &'a [f32],
        rows: usize,
        hidden: usize,
        want: Want,
    ) -> (&'a [f32], usize) {
        if want.internals
            && let Some(last) = self.hidden_states.last_mut()
        {
            last.copy_from_slice(normed);
        }
        if want.all_logits {
            (normed, rows)
        } else {
            (&normed[(rows - 1) * hidden..], 1)
        }
    }
}

/// One decoder architecture's forward pass.
pub(crate) trait Decoder: Send + Sync {
    fn config(&self) -> &DecoderConfig;

    /// Runs `ids` (the positions after those `cache` holds) and appends their keys and
    /// values to `cache`, on one of rayon's threads with the others kept awake
    /// (`kernels::pass`): a decoding step is a chain of short products.
    fn forward(&self, ids: &[u32], cache: &mut KvCache, want: Want) -> Result<Pass> {
        run_pass(|| self.forward_in_pool(ids, cache, want))
    }

    /// [`forward`](Self::forward), on the calling thread: what each architecture writes.
    fn forward_in_pool(&self, ids: &[u32], cache: &mut KvCache, want: Want) -> Result<Pass>;

    /// Each module's name, parameter count, bytes held and number format, for summaries.
    fn modules(&self) -> Vec<ModuleInfo>;

    /// The logits (`rows × vocab`) the model would give for hidden states `hidden` (`rows ×
    /// hidden`) taken before its final norm: the norm, then the output layer. The logit lens
    /// reads every layer this way.
    fn unembed(&self, hidden: &[f32], rows: usize) -> Vec<f32>;
}

/// One module of a model, for its summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The module's name as HF prints it, e.g. `model.layers.0.self_attn.q_proj`.
    pub name: String,
    /// Parameters.
    pub parameters: usize,
    /// Bytes held in memory for them.
    pub held_bytes: usize,
    /// The number format: `f32`, `Q4_1`, ...
    pub format: String,
}
