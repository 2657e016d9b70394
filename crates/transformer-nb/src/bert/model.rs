//! The BERT encoder, written out so that every hidden state and attention map can be kept.
//!
//! Mirrors HF transformers' `modeling_bert.py` (eager attention), with the same weight names so
//! that any BERT `model.safetensors` loads: `BertEmbeddings`, `BertSelfAttention` +
//! `BertSelfOutput`, `BertIntermediate` + `BertOutput`, `BertPooler`. candle-transformers has a
//! BERT too, but its `forward` returns the last hidden state only; the tests cross-check the two.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};

use super::config::{BertConfig, HiddenAct};

type CandleResult<T> = candle_core::Result<T>;

/// `BertEmbeddings`: word + learned position + token type, then layer norm.
struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, config: &BertConfig) -> CandleResult<Self> {
        Ok(Embeddings {
            word: embedding(
                config.vocab_size,
                config.hidden_size,
                vb.pp("word_embeddings"),
            )?,
            position: embedding(
                config.max_position_embeddings,
                config.hidden_size,
                vb.pp("position_embeddings"),
            )?,
            token_type: embedding(
                config.type_vocab_size,
                config.hidden_size,
                vb.pp("token_type_embeddings"),
            )?,
            norm: layer_norm(
                config.hidden_size,
                config.layer_norm_eps,
                vb.pp("LayerNorm"),
            )?,
        })
    }

    fn forward(&self, input_ids: &Tensor, type_ids: &Tensor) -> CandleResult<Tensor> {
        let seq_len = input_ids.dim(1)?;
        let positions = Tensor::arange(0u32, seq_len as u32, input_ids.device())?;
        let words = self.word.forward(input_ids)?;
        let types = self.token_type.forward(type_ids)?;
        let positions = self.position.forward(&positions)?.unsqueeze(0)?;
        self.norm
            .forward(&(words + types)?.broadcast_add(&positions)?)
    }
}

/// `BertSelfAttention` + `BertSelfOutput`: multi-head scaled dot-product attention,
/// output projection, residual, layer norm.
struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    norm: LayerNorm,
    heads: usize,
    head_size: usize,
}

impl Attention {
    fn load(vb: VarBuilder, config: &BertConfig) -> CandleResult<Self> {
        let hidden = config.hidden_size;
        let self_vb = vb.pp("self");
        let out_vb = vb.pp("output");
        Ok(Attention {
            query: linear(hidden, hidden, self_vb.pp("query"))?,
            key: linear(hidden, hidden, self_vb.pp("key"))?,
            value: linear(hidden, hidden, self_vb.pp("value"))?,
            output: linear(hidden, hidden, out_vb.pp("dense"))?,
            norm: layer_norm(hidden, config.layer_norm_eps, out_vb.pp("LayerNorm"))?,
            heads: config.num_attention_heads,
            head_size: config.head_size(),
        })
    }

    /// `[batch, seq, hidden] -> [batch, heads, seq, head_size]`
    fn split_heads(&self, x: &Tensor) -> CandleResult<Tensor> {
        let (batch, seq, _) = x.dims3()?;
        x.reshape((batch, seq, self.heads, self.head_size))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Returns the layer's output and its attention probabilities `[batch, heads, seq, seq]`.
    fn forward(&self, x: &Tensor, additive_mask: &Tensor) -> CandleResult<(Tensor, Tensor)> {
        let (batch, seq, hidden) = x.dims3()?;
        let q = self.split_heads(&self.query.forward(x)?)?;
        let k = self.split_heads(&self.key.forward(x)?)?;
        let v = self.split_heads(&self.value.forward(x)?)?;
        let scale = 1.0 / (self.head_size as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(additive_mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, seq, hidden))?;
        let out = self.norm.forward(&(self.output.forward(&context)? + x)?)?;
        Ok((out, probs))
    }
}

/// One `BertLayer`: attention, then `BertIntermediate` + `BertOutput` (feed-forward,
/// residual, layer norm).
struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    norm: LayerNorm,
    act: HiddenAct,
}

impl Layer {
    fn load(vb: VarBuilder, config: &BertConfig) -> CandleResult<Self> {
        Ok(Layer {
            attention: Attention::load(vb.pp("attention"), config)?,
            intermediate: linear(
                config.hidden_size,
                config.intermediate_size,
                vb.pp("intermediate").pp("dense"),
            )?,
            output: linear(
                config.intermediate_size,
                config.hidden_size,
                vb.pp("output").pp("dense"),
            )?,
            norm: layer_norm(
                config.hidden_size,
                config.layer_norm_eps,
                vb.pp("output").pp("LayerNorm"),
            )?,
            act: config.hidden_act,
        })
    }

    fn forward(&self, x: &Tensor, additive_mask: &Tensor) -> CandleResult<(Tensor, Tensor)> {
        let (attended, probs) = self.attention.forward(x, additive_mask)?;
        let inner = self.intermediate.forward(&attended)?;
        let inner = match self.act {
            HiddenAct::Gelu => inner.gelu_erf()?,
            HiddenAct::GeluApproximate => inner.gelu()?,
            HiddenAct::Relu => inner.relu()?,
        };
        let out = self
            .norm
            .forward(&(self.output.forward(&inner)? + attended)?)?;
        Ok((out, probs))
    }
}

/// What one pass through the encoder produced.
pub(crate) struct Pass {
    /// Embeddings output then each layer's output (or only the last when not collecting).
    pub hidden_states: Vec<Tensor>,
    /// Each layer's attention probabilities (empty when not collecting).
    pub attentions: Vec<Tensor>,
    /// `tanh(W · h[CLS] + b)` when the checkpoint has pooler weights.
    pub pooler_output: Option<Tensor>,
}

/// `BertModel`: embeddings, encoder layers, optional pooler.
pub(crate) struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    pooler: Option<Linear>,
}

impl BertModel {
    /// Loads from a `VarBuilder` rooted where `embeddings.*`, `encoder.*` and `pooler.*` live.
    pub fn load(vb: VarBuilder, config: &BertConfig) -> CandleResult<Self> {
        let embeddings = Embeddings::load(vb.pp("embeddings"), config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config))
            .collect::<CandleResult<Vec<_>>>()?;
        let pooler_vb = vb.pp("pooler").pp("dense");
        let pooler = if pooler_vb.contains_tensor("weight") {
            Some(linear(config.hidden_size, config.hidden_size, pooler_vb)?)
        } else {
            None
        };
        Ok(BertModel {
            embeddings,
            layers,
            pooler,
        })
    }

    /// Runs `[batch, seq]` ids, type ids and attention mask (1 = attend, 0 = padding).
    /// With `collect`, keeps every hidden state and attention map; without, only the last
    /// hidden state (for embeddings, where the rest would be wasted memory).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        attention_mask: &Tensor,
        collect: bool,
    ) -> CandleResult<Pass> {
        // HF's get_extended_attention_mask: (1 - mask) * finfo.min, broadcast over heads and queries.
        let (batch, seq) = attention_mask.dims2()?;
        let additive_mask = ((attention_mask.to_dtype(DType::F32)?.affine(-1.0, 1.0)?)
            * f64::from(f32::MIN))?
        .reshape((batch, 1, 1, seq))?;
        let mut hidden = self.embeddings.forward(input_ids, type_ids)?;
        let mut hidden_states = Vec::with_capacity(self.layers.len() + 1);
        let mut attentions = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (next, probs) = layer.forward(&hidden, &additive_mask)?;
            if collect {
                hidden_states.push(hidden);
                attentions.push(probs);
            }
            hidden = next;
        }
        let pooler_output = match &self.pooler {
            Some(dense) => Some(
                dense
                    .forward(&hidden.narrow(1, 0, 1)?.squeeze(1)?)?
                    .tanh()?,
            ),
            None => None,
        };
        hidden_states.push(hidden);
        Ok(Pass {
            hidden_states,
            attentions,
            pooler_output,
        })
    }
}

/// `[rows, cols]` u32 tensor from equal-length rows.
pub(crate) fn ids_tensor(rows: &[&[u32]], device: &Device) -> CandleResult<Tensor> {
    let cols = rows.first().map_or(0, |r| r.len());
    let flat: Vec<u32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(flat, (rows.len(), cols), device)
}

/// Pools the last hidden state `[batch, seq, hidden]` over the tokens that the mask keeps.
pub(crate) fn mean_pool(hidden: &Tensor, attention_mask: &Tensor) -> CandleResult<Tensor> {
    let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    // sentence-transformers clamps the count at 1e-9 so an all-padding row cannot divide by 0.
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}
