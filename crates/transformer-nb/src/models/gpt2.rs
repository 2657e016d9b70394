//! GPT-2 (Radford et al., 2019, "Language Models are Unsupervised Multitask Learners") and its
//! distillation distilgpt2.
//!
//! Mirrors HF transformers' `modeling_gpt2.py`
//! (<https://github.com/huggingface/transformers/blob/v5.0.0/src/transformers/models/gpt2/modeling_gpt2.py>)
//! module by module: token and learned position embeddings (`wte`, `wpe`), `GPT2Block` (pre-norm
//! `ln_1` → `GPT2Attention` with its fused `c_attn` → `ln_2` → `GPT2MLP` with `gelu_new`), the
//! final `ln_f`, and `GPT2LMHeadModel`'s head tied to `wte`. GPT-2's `Conv1D` layers store their
//! weights `[in, out]`, the transpose of a `Linear`'s.

use std::path::Path;

use serde::Deserialize;

use super::decoder::{Captured, Decoder, DecoderConfig, ModuleInfo, Pass, Want};
use super::layers::{Heads, KvCache, LayerNorm, Linear, Weight, add, causal_attention};
use super::safetensors::SafeTensors;
use crate::error::{Error, Result};
use crate::kernels::gemm::PackedB;
use crate::kernels::{Isa, math};

struct Block {
    ln_1: LayerNorm,
    c_attn: Linear,
    attn_c_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_c_proj: Linear,
}

/// `GPT2LMHeadModel`.
pub(crate) struct Gpt2 {
    config: DecoderConfig,
    /// `[vocab, n_embd]`: the embeddings, and (tied) the output layer.
    wte: Weight,
    /// `[n_positions, n_embd]`.
    wpe: Vec<f32>,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    isa: Isa,
}

/// The fields of a GPT-2 `config.json` this model reads.
#[derive(Deserialize)]
struct HfConfig {
    n_embd: usize,
    n_layer: usize,
    n_head: usize,
    n_positions: usize,
    n_inner: Option<usize>,
    vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_epsilon: f64,
    #[serde(default = "default_activation")]
    activation_function: String,
    #[serde(default)]
    scale_attn_by_inverse_layer_idx: bool,
}

fn default_eps() -> f64 {
    1e-5
}

fn default_activation() -> String {
    "gelu_new".into()
}

impl Gpt2 {
    /// Reads an HF checkpoint: `config.json` and `model.safetensors` (names with or without
    /// the `transformer.` prefix that `GPT2LMHeadModel.save_pretrained` writes).
    pub(crate) fn from_safetensors(config_path: &Path, file: &SafeTensors) -> Result<Self> {
        let text =
            std::fs::read_to_string(config_path).map_err(|e| Error::io("read", config_path, e))?;
        let invalid = |message: String| Error::InvalidFile {
            path: config_path.to_path_buf(),
            what: "GPT-2 config.json",
            message,
        };
        let hf: HfConfig = serde_json::from_str(&text)
            .map_err(|e| Error::json(config_path, "GPT-2 config.json", e))?;
        if !matches!(
            hf.activation_function.as_str(),
            "gelu_new" | "gelu_pytorch_tanh"
        ) {
            return Err(invalid(format!(
                "activation_function {:?} is not supported: GPT-2's gelu_new is",
                hf.activation_function
            )));
        }
        if hf.scale_attn_by_inverse_layer_idx {
            return Err(invalid(
                "scale_attn_by_inverse_layer_idx is not supported (no released GPT-2 uses it)"
                    .into(),
            ));
        }
        if hf.n_head == 0 || !hf.n_embd.is_multiple_of(hf.n_head) {
            return Err(invalid(format!(
                "{} heads do not divide a width of {}",
                hf.n_head, hf.n_embd
            )));
        }
        let (d, inner) = (hf.n_embd, hf.n_inner.unwrap_or(4 * hf.n_embd));
        let config = DecoderConfig {
            architecture: "gpt2",
            layers: hf.n_layer,
            hidden: d,
            heads: hf.n_head,
            kv_heads: hf.n_head,
            head_dim: d / hf.n_head,
            intermediate: inner,
            vocab: hf.vocab_size,
            max_positions: hf.n_positions,
            rope_theta: None,
            norm_eps: hf.layer_norm_epsilon as f32,
            tied_embeddings: true,
        };
        let prefix = if file.contains("transformer.wte.weight") {
            "transformer."
        } else {
            ""
        };
        let name = |n: &str| format!("{prefix}{n}");
        let norm = |n: &str| -> Result<LayerNorm> {
            Ok(LayerNorm {
                weight: file.read(&name(&format!("{n}.weight")), &[d])?,
                bias: file.read(&name(&format!("{n}.bias")), &[d])?,
                eps: config.norm_eps,
            })
        };
        // Conv1D: `[in, out]`, packed as B directly.
        let conv = |n: &str, k_in: usize, n_out: usize| -> Result<Linear> {
            let w = file.read(&name(&format!("{n}.weight")), &[k_in, n_out])?;
            let mut packed = PackedB::default();
            packed.pack(&w, k_in, n_out, n_out, 1);
            Ok(Linear {
                weight: Weight::Packed(packed),
                bias: Some(file.read(&name(&format!("{n}.bias")), &[n_out])?),
            })
        };
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = |s: &str| format!("h.{i}.{s}");
            blocks.push(Block {
                ln_1: norm(&p("ln_1"))?,
                c_attn: conv(&p("attn.c_attn"), d, 3 * d)?,
                attn_c_proj: conv(&p("attn.c_proj"), d, d)?,
                ln_2: norm(&p("ln_2"))?,
                c_fc: conv(&p("mlp.c_fc"), d, inner)?,
                mlp_c_proj: conv(&p("mlp.c_proj"), inner, d)?,
            });
        }
        Ok(Gpt2 {
            wte: Weight::Rows {
                values: file.read(&name("wte.weight"), &[config.vocab, d])?,
                cols: d,
            },
            wpe: file.read(&name("wpe.weight"), &[config.max_positions, d])?,
            ln_f: norm("ln_f")?,
            blocks,
            isa: Isa::detect(),
            config,
        })
    }
}

impl Gpt2 {
    /// The output layer, tied to the token embeddings, on `rows` normed rows.
    fn output_layer(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut logits = vec![0.0f32; rows * self.config.vocab];
        self.wte.apply(self.isa, x, rows, &mut logits);
        logits
    }
}

impl Decoder for Gpt2 {
    fn config(&self) -> &DecoderConfig {
        &self.config
    }

    fn forward_in_pool(&self, ids: &[u32], cache: &mut KvCache, want: Want) -> Result<Pass> {
        let c = &self.config;
        let (isa, rows, past, d) = (self.isa, ids.len(), cache.len, c.hidden);
        let shape = Heads {
            heads: c.heads,
            kv_heads: c.heads,
            head_dim: c.head_dim,
        };
        let mut h = vec![0.0f32; rows * d];
        for (r, (row, &id)) in h.chunks_exact_mut(d).zip(ids).enumerate() {
            self.wte.row(id as usize, row);
            add(row, &self.wpe[(past + r) * d..(past + r + 1) * d]);
        }
        let mut pass = Pass::default();
        if want.internals {
            pass.hidden_states.push(h.clone());
        }
        for (index, (block, layer_cache)) in self.blocks.iter().zip(&mut cache.layers).enumerate() {
            let x = block.ln_1.forward(isa, &h);
            let qkv = block.c_attn.forward(isa, &x, rows);
            let mut q = Vec::with_capacity(rows * d);
            for row in qkv.chunks_exact(3 * d) {
                q.extend_from_slice(&row[..d]);
                layer_cache.keys.extend_from_slice(&row[d..2 * d]);
                layer_cache.values.extend_from_slice(&row[2 * d..]);
            }
            if want.capture == Some(index) {
                // Positions entered with the embeddings: no rotation, the same vectors twice.
                let keys = layer_cache.keys[past * d..].to_vec();
                pass.captured = Some(Captured {
                    queries_before_rope: q.clone(),
                    keys_before_rope: keys.clone(),
                    queries: q.clone(),
                    keys,
                    values: layer_cache.values[past * d..].to_vec(),
                });
            }
            let (context, probs) =
                causal_attention(&q, layer_cache, past, rows, shape, want.internals, isa);
            add(&mut h, &block.attn_c_proj.forward(isa, &context, rows));
            let x = block.ln_2.forward(isa, &h);
            let mut inner = block.c_fc.forward(isa, &x, rows);
            math::gelu_tanh(isa, &mut inner);
            add(&mut h, &block.mlp_c_proj.forward(isa, &inner, rows));
            if want.internals {
                pass.hidden_states.push(h.clone());
                pass.attentions.extend(probs);
            }
        }
        cache.len += rows;
        let normed = self.ln_f.forward(isa, &h);
        let (x, n) = pass.finish(&normed, rows, d, want);
        pass.logits = self.output_layer(x, n);
        Ok(pass)
    }

    fn unembed(&self, hidden: &[f32], rows: usize) -> Vec<f32> {
        self.output_layer(&self.ln_f.forward(self.isa, hidden), rows)
    }

    fn modules(&self) -> Vec<ModuleInfo> {
        let info = |name: String, l: &Linear| l.info(name);
        let norm = |name: String, n: &LayerNorm| n.info(name);
        let (vocab, d) = self.wte.shape();
        let mut out = vec![
            ModuleInfo {
                name: "transformer.wte".into(),
                parameters: vocab * d,
                held_bytes: self.wte.held_bytes(),
                format: "f32".into(),
            },
            ModuleInfo {
                name: "transformer.wpe".into(),
                parameters: self.wpe.len(),
                held_bytes: self.wpe.capacity() * 4,
                format: "f32".into(),
            },
        ];
        for (i, b) in self.blocks.iter().enumerate() {
            let p = |s: &str| format!("transformer.h.{i}.{s}");
            out.push(norm(p("ln_1"), &b.ln_1));
            out.push(info(p("attn.c_attn"), &b.c_attn));
            out.push(info(p("attn.c_proj"), &b.attn_c_proj));
            out.push(norm(p("ln_2"), &b.ln_2));
            out.push(info(p("mlp.c_fc"), &b.c_fc));
            out.push(info(p("mlp.c_proj"), &b.mlp_c_proj));
        }
        out.push(norm("transformer.ln_f".into(), &self.ln_f));
        out
    }
}
