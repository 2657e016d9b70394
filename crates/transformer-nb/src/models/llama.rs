//! Llama (Touvron et al., 2023, <https://arxiv.org/abs/2302.13971>) and the models built like it:
//! SmolLM2, TinyLlama, Llama 3.
//!
//! Mirrors HF transformers' `modeling_llama.py`
//! (<https://github.com/huggingface/transformers/blob/v5.0.0/src/transformers/models/llama/modeling_llama.py>)
//! module by module: `LlamaRMSNorm`, `LlamaRotaryEmbedding` + `apply_rotary_pos_emb`,
//! `LlamaAttention` (grouped-query, `repeat_kv`), `LlamaMLP` (SwiGLU: `down(silu(gate(x)) ·
//! up(x))`), `LlamaDecoderLayer` (pre-norm, two residuals) and `LlamaModel` + `LlamaForCausalLM`
//! (final norm, `lm_head`, tied to the embeddings when the checkpoint says so).
//!
//! Weights come from a GGUF file (llama.cpp's names, quantized blocks kept as they are or
//! dequantized at load) or from an HF `model.safetensors`.

use std::path::Path;

use serde::Deserialize;

use super::decoder::{Captured, Decoder, DecoderConfig, ModuleInfo, Pass, Want};
use super::layers::{Heads, KvCache, Linear, RmsNorm, Rope, Weight, add, causal_attention, silu};
use super::safetensors::SafeTensors;
use crate::bert::Precision;
use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::kernels::Isa;
use crate::kernels::gemm::PackedB;
use crate::kernels::quant::QuantMatrix;

struct Layer {
    input_layernorm: RmsNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    post_attention_layernorm: RmsNorm,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

/// `LlamaForCausalLM`.
pub(crate) struct Llama {
    config: DecoderConfig,
    /// `[vocab, hidden]`, read by rows.
    embed_tokens: Weight,
    layers: Vec<Layer>,
    norm: RmsNorm,
    /// `None` when tied to `embed_tokens`.
    lm_head: Option<Linear>,
    rope: Rope,
    isa: Isa,
}

/// The fields of a Llama `config.json` this model reads.
#[derive(Deserialize)]
struct HfConfig {
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f64,
    rope_theta: Option<f64>,
    /// transformers 5 writes the rotary settings here.
    rope_parameters: Option<serde_json::Value>,
    rope_scaling: Option<serde_json::Value>,
    vocab_size: usize,
    max_position_embeddings: usize,
    #[serde(default)]
    tie_word_embeddings: bool,
}

/// Where the weights come from, with llama.cpp's names or HF's.
enum Source<'a> {
    Gguf(&'a GgufFile, Precision),
    Safetensors(&'a SafeTensors),
}

impl Source<'_> {
    fn path(&self) -> &std::path::Path {
        match self {
            Source::Gguf(f, _) => f.path(),
            Source::Safetensors(s) => s.path(),
        }
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        match self {
            Source::Gguf(file, _) => {
                let info = file.tensor(name).ok_or_else(|| {
                    Error::weights_missing(self.path(), format!("{name} is missing"))
                })?;
                if info.elem_count() != len || info.dims.len() != 1 {
                    return Err(Error::weights_shape(
                        self.path(),
                        format!("{name} has shape {:?}, expected [{len}]", info.shape()),
                    ));
                }
                file.tensor_f32(info)
            }
            Source::Safetensors(file) => file.read(name, &[len]),
        }
    }

    /// A `[rows, cols]` matrix; `reorder` (HF row `i` = stored row `reorder[i]`) undoes
    /// llama.cpp's permutation of the query and key rows.
    fn matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
        reorder: Option<&[usize]>,
        packed: bool,
    ) -> Result<Weight> {
        let dense = |values: Vec<f32>| {
            if packed {
                Weight::Packed(PackedB::from_weight(&values, rows, cols))
            } else {
                Weight::Rows { values, cols }
            }
        };
        let reordered = |values: Vec<f32>| match reorder {
            None => values,
            Some(order) => order
                .iter()
                .flat_map(|&r| values[r * cols..(r + 1) * cols].to_vec())
                .collect(),
        };
        match self {
            Source::Gguf(file, precision) => {
                let info = file.tensor(name).ok_or_else(|| {
                    Error::weights_missing(self.path(), format!("{name} is missing"))
                })?;
                if info.shape() != [rows, cols] {
                    return Err(Error::weights_shape(
                        self.path(),
                        format!(
                            "{name} has shape {:?}, expected [{rows}, {cols}]",
                            info.shape()
                        ),
                    ));
                }
                if info.kind.is_quantized() && *precision == Precision::Quantized {
                    let q = QuantMatrix::new(info.kind, rows, cols, file.tensor_bytes(info)?)
                        .ok_or_else(|| {
                            Error::weights_shape(self.path(), format!("{name}'s size is wrong"))
                        })?;
                    return Ok(Weight::Quant(match reorder {
                        Some(order) => q.permute_rows(order),
                        None => q,
                    }));
                }
                Ok(dense(reordered(file.tensor_f32(info)?)))
            }
            Source::Safetensors(file) => Ok(dense(file.read(name, &[rows, cols])?)),
        }
    }
}

/// llama.cpp's converter reorders each head's query and key rows so that RoPE turns
/// neighbouring pairs; HF's layout turns dimension `i` with `i + d/2`. HF row `h·d + j·d/2 + i`
/// is GGUF row `h·d + 2i + j` (the inverse of `permute` in llama.cpp's `convert_hf_to_gguf.py`,
/// as transformers' `reverse_permute_weights` does).
fn unpermute_order(heads: usize, head_dim: usize) -> Vec<usize> {
    let half = head_dim / 2;
    let mut order = Vec::with_capacity(heads * head_dim);
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                order.push(h * head_dim + 2 * i + j);
            }
        }
    }
    order
}

impl Llama {
    /// Reads a GGUF file of `general.architecture = llama`.
    pub(crate) fn from_gguf(file: &GgufFile, precision: Precision) -> Result<Self> {
        let key = |k: &str| format!("llama.{k}");
        let invalid = |message: String| Error::InvalidFile {
            path: file.path().to_path_buf(),
            what: "Llama GGUF file",
            message,
        };
        let int = |k: &str| {
            file.get(&key(k))
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .ok_or_else(|| invalid(format!("its metadata lacks {}", key(k))))
        };
        let hidden = int("embedding_length")?;
        let heads = int("attention.head_count")?;
        let kv_heads = int("attention.head_count_kv").unwrap_or(heads);
        if heads == 0
            || kv_heads == 0
            || !heads.is_multiple_of(kv_heads)
            || !hidden.is_multiple_of(heads)
        {
            return Err(invalid(format!(
                "{heads} heads with {kv_heads} key/value heads do not divide a width of {hidden}"
            )));
        }
        let head_dim = int("rope.dimension_count").unwrap_or(hidden / heads);
        let embd = file
            .tensor("token_embd.weight")
            .ok_or_else(|| invalid("it has no token_embd.weight".into()))?;
        let vocab = embd.shape()[0];
        let float = |k: &str, default: f64| {
            file.get(&key(k))
                .and_then(|v| v.as_f64())
                .unwrap_or(default)
        };
        let tied = file.tensor("output.weight").is_none();
        let config = DecoderConfig {
            architecture: "llama",
            layers: int("block_count")?,
            hidden,
            heads,
            kv_heads,
            head_dim,
            intermediate: int("feed_forward_length")?,
            vocab,
            max_positions: int("context_length").unwrap_or(2048),
            rope_theta: Some(float("rope.freq_base", 10000.0) as f32),
            norm_eps: float("attention.layer_norm_rms_epsilon", 1e-5) as f32,
            tied_embeddings: tied,
        };
        if head_dim * heads != hidden || head_dim % 2 != 0 {
            return Err(invalid(format!(
                "heads of {head_dim} dimensions × {heads} do not make the width {hidden}"
            )));
        }
        Self::load(config, &Source::Gguf(file, precision), true)
    }

    /// Reads an HF checkpoint: `config.json` and `model.safetensors`.
    pub(crate) fn from_safetensors(config_path: &Path, weights: &SafeTensors) -> Result<Self> {
        let text =
            std::fs::read_to_string(config_path).map_err(|e| Error::io("read", config_path, e))?;
        let invalid = |message: String| Error::InvalidFile {
            path: config_path.to_path_buf(),
            what: "Llama config.json",
            message,
        };
        let hf: HfConfig = serde_json::from_str(&text)
            .map_err(|e| Error::json(config_path, "Llama config.json", e))?;
        let scaling = hf
            .rope_scaling
            .as_ref()
            .or(hf.rope_parameters.as_ref())
            .and_then(|v| v.get("rope_type").or_else(|| v.get("type")))
            .and_then(|v| v.as_str());
        if let Some(kind) = scaling.filter(|k| *k != "default") {
            return Err(invalid(format!(
                "rotary scaling of type {kind:?} is not supported: only the plain RoPE of Llama 2, \
                 Llama 3, SmolLM2 and TinyLlama is (use a checkpoint without rope_scaling)"
            )));
        }
        let theta = hf
            .rope_theta
            .or_else(|| {
                hf.rope_parameters
                    .as_ref()
                    .and_then(|v| v.get("rope_theta"))
                    .and_then(|v| v.as_f64())
            })
            .unwrap_or(10000.0);
        let heads = hf.num_attention_heads;
        let kv_heads = hf.num_key_value_heads.unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(invalid(format!(
                "{heads} heads cannot share {kv_heads} key/value heads"
            )));
        }
        let head_dim = hf.head_dim.unwrap_or(hf.hidden_size / heads);
        let tied = hf.tie_word_embeddings || !weights.contains("lm_head.weight");
        let config = DecoderConfig {
            architecture: "llama",
            layers: hf.num_hidden_layers,
            hidden: hf.hidden_size,
            heads,
            kv_heads,
            head_dim,
            intermediate: hf.intermediate_size,
            vocab: hf.vocab_size,
            max_positions: hf.max_position_embeddings,
            rope_theta: Some(theta as f32),
            norm_eps: hf.rms_norm_eps as f32,
            tied_embeddings: tied,
        };
        Self::load(config, &Source::Safetensors(weights), false)
    }

    fn load(config: DecoderConfig, source: &Source<'_>, gguf: bool) -> Result<Self> {
        let c = &config;
        let (q_width, kv_width) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let q_order = gguf.then(|| unpermute_order(c.heads, c.head_dim));
        let k_order = gguf.then(|| unpermute_order(c.kv_heads, c.head_dim));
        let name = |hf: &str, cpp: &str| {
            if gguf {
                cpp.to_string()
            } else {
                hf.to_string()
            }
        };
        let norm = |n: String| -> Result<RmsNorm> {
            Ok(RmsNorm {
                weight: source.vector(&n, c.hidden)?,
                eps: c.norm_eps,
            })
        };
        let linear = |n: String, rows, cols, order: Option<&[usize]>| -> Result<Linear> {
            Ok(Linear {
                weight: source.matrix(&n, rows, cols, order, true)?,
                bias: None,
            })
        };
        let mut layers = Vec::with_capacity(c.layers);
        for l in 0..c.layers {
            let hf = |part: &str| format!("model.layers.{l}.{part}.weight");
            let cpp = |part: &str| format!("blk.{l}.{part}.weight");
            layers.push(Layer {
                input_layernorm: norm(name(&hf("input_layernorm"), &cpp("attn_norm")))?,
                q_proj: linear(
                    name(&hf("self_attn.q_proj"), &cpp("attn_q")),
                    q_width,
                    c.hidden,
                    q_order.as_deref(),
                )?,
                k_proj: linear(
                    name(&hf("self_attn.k_proj"), &cpp("attn_k")),
                    kv_width,
                    c.hidden,
                    k_order.as_deref(),
                )?,
                v_proj: linear(
                    name(&hf("self_attn.v_proj"), &cpp("attn_v")),
                    kv_width,
                    c.hidden,
                    None,
                )?,
                o_proj: linear(
                    name(&hf("self_attn.o_proj"), &cpp("attn_output")),
                    c.hidden,
                    q_width,
                    None,
                )?,
                post_attention_layernorm: norm(name(
                    &hf("post_attention_layernorm"),
                    &cpp("ffn_norm"),
                ))?,
                gate_proj: linear(
                    name(&hf("mlp.gate_proj"), &cpp("ffn_gate")),
                    c.intermediate,
                    c.hidden,
                    None,
                )?,
                up_proj: linear(
                    name(&hf("mlp.up_proj"), &cpp("ffn_up")),
                    c.intermediate,
                    c.hidden,
                    None,
                )?,
                down_proj: linear(
                    name(&hf("mlp.down_proj"), &cpp("ffn_down")),
                    c.hidden,
                    c.intermediate,
                    None,
                )?,
            });
        }
        let embed_tokens = source.matrix(
            &name("model.embed_tokens.weight", "token_embd.weight"),
            c.vocab,
            c.hidden,
            None,
            false,
        )?;
        let lm_head = if c.tied_embeddings {
            None
        } else {
            Some(linear(
                name("lm_head.weight", "output.weight"),
                c.vocab,
                c.hidden,
                None,
            )?)
        };
        Ok(Llama {
            norm: norm(name("model.norm.weight", "output_norm.weight"))?,
            rope: Rope::new(c.head_dim, c.rope_theta.unwrap_or(10000.0)),
            embed_tokens,
            layers,
            lm_head,
            isa: Isa::detect(),
            config,
        })
    }
}

impl Llama {
    /// `lm_head`, or the embedding table where the two are tied, on `rows` normed rows.
    fn output_layer(&self, x: &[f32], rows: usize) -> Vec<f32> {
        match &self.lm_head {
            Some(head) => head.forward(self.isa, x, rows),
            None => {
                let mut out = vec![0.0f32; rows * self.config.vocab];
                self.embed_tokens.apply(self.isa, x, rows, &mut out);
                out
            }
        }
    }
}

impl Decoder for Llama {
    fn config(&self) -> &DecoderConfig {
        &self.config
    }

    fn forward_in_pool(&self, ids: &[u32], cache: &mut KvCache, want: Want) -> Result<Pass> {
        let c = &self.config;
        let (isa, rows, past) = (self.isa, ids.len(), cache.len);
        let shape = Heads {
            heads: c.heads,
            kv_heads: c.kv_heads,
            head_dim: c.head_dim,
        };
        let mut h = vec![0.0f32; rows * c.hidden];
        for (row, &id) in h.chunks_exact_mut(c.hidden).zip(ids) {
            self.embed_tokens.row(id as usize, row);
        }
        let mut pass = Pass::default();
        if want.internals {
            pass.hidden_states.push(h.clone());
        }
        for (index, (layer, layer_cache)) in self.layers.iter().zip(&mut cache.layers).enumerate() {
            let x = layer.input_layernorm.forward(&h);
            let mut q = layer.q_proj.forward(isa, &x, rows);
            let mut k = layer.k_proj.forward(isa, &x, rows);
            let v = layer.v_proj.forward(isa, &x, rows);
            let capture = want.capture == Some(index);
            let before = capture.then(|| (q.clone(), k.clone()));
            self.rope.apply(&mut q, c.heads, c.head_dim, past);
            self.rope.apply(&mut k, c.kv_heads, c.head_dim, past);
            if let Some((queries_before_rope, keys_before_rope)) = before {
                pass.captured = Some(Captured {
                    queries_before_rope,
                    keys_before_rope,
                    queries: q.clone(),
                    keys: k.clone(),
                    values: v.clone(),
                });
            }
            layer_cache.keys.extend_from_slice(&k);
            layer_cache.values.extend_from_slice(&v);
            let (context, probs) =
                causal_attention(&q, layer_cache, past, rows, shape, want.internals, isa);
            add(&mut h, &layer.o_proj.forward(isa, &context, rows));
            let x = layer.post_attention_layernorm.forward(&h);
            let mut gate = layer.gate_proj.forward(isa, &x, rows);
            let up = layer.up_proj.forward(isa, &x, rows);
            silu(&mut gate);
            for (g, u) in gate.iter_mut().zip(&up) {
                *g *= u;
            }
            add(&mut h, &layer.down_proj.forward(isa, &gate, rows));
            if want.internals {
                pass.hidden_states.push(h.clone());
                pass.attentions.extend(probs);
            }
        }
        cache.len += rows;
        let normed = self.norm.forward(&h);
        let (x, n) = pass.finish(&normed, rows, c.hidden, want);
        pass.logits = self.output_layer(x, n);
        Ok(pass)
    }

    fn unembed(&self, hidden: &[f32], rows: usize) -> Vec<f32> {
        self.output_layer(&self.norm.forward(hidden), rows)
    }

    fn modules(&self) -> Vec<ModuleInfo> {
        let info = |name: String, l: &Linear| l.info(name);
        let norm = |name: String, n: &RmsNorm| n.info(name);
        let (vocab, hidden) = self.embed_tokens.shape();
        let mut out = vec![ModuleInfo {
            name: "model.embed_tokens".into(),
            parameters: vocab * hidden,
            held_bytes: self.embed_tokens.held_bytes(),
            format: self.embed_tokens.format(),
        }];
        for (i, l) in self.layers.iter().enumerate() {
            let p = |s: &str| format!("model.layers.{i}.{s}");
            out.push(norm(p("input_layernorm"), &l.input_layernorm));
            out.push(info(p("self_attn.q_proj"), &l.q_proj));
            out.push(info(p("self_attn.k_proj"), &l.k_proj));
            out.push(info(p("self_attn.v_proj"), &l.v_proj));
            out.push(info(p("self_attn.o_proj"), &l.o_proj));
            out.push(norm(
                p("post_attention_layernorm"),
                &l.post_attention_layernorm,
            ));
            out.push(info(p("mlp.gate_proj"), &l.gate_proj));
            out.push(info(p("mlp.up_proj"), &l.up_proj));
            out.push(info(p("mlp.down_proj"), &l.down_proj));
        }
        out.push(norm("model.norm".into(), &self.norm));
        if let Some(head) = &self.lm_head {
            out.push(info("lm_head".into(), head));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unpermutation_inverts_llama_cpps_permute() {
        // convert_hf_to_gguf.py: w.reshape(heads, 2, d/2, ...).swapaxes(1, 2).reshape(...)
        let (heads, d) = (3, 8);
        let hf: Vec<usize> = (0..heads * d).collect();
        let mut gguf = vec![0; heads * d];
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..d / 2 {
                    gguf[h * d + i * 2 + j] = hf[h * d + j * d / 2 + i];
                }
            }
        }
        let order = unpermute_order(heads, d);
        let back: Vec<usize> = order.iter().map(|&r| gguf[r]).collect();
        assert_eq!(back, hf);
    }
}
