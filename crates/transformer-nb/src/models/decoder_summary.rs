//! What a loaded decoder holds: parameters per kind of module, as HF counts them, the bytes
//! they take here (quantized or not) and as f32, and what the key/value cache adds per token.

use std::fmt;

use super::causal_lm::CausalLm;
use super::decoder::{DecoderConfig, ModuleInfo};
use crate::bert::{human_bytes, thousands};

/// The modules of one kind, summed over the layers: `model.layers.*.self_attn` and its 30
/// copies are one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleGroup {
    /// The module's name, with `*` for the layer number where it repeats.
    pub name: String,
    /// How many modules the row sums (the layers).
    pub count: usize,
    /// Parameters, as HF's `numel()` counts them.
    pub parameters: usize,
    /// Bytes held in this process.
    pub held_bytes: usize,
    /// The number formats, e.g. `Q4_1 + f32` (norms stay f32).
    pub format: String,
}

/// A decoder's parameters and memory; see [`CausalLm::summary`].
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderSummary {
    pub(crate) groups: Vec<ModuleGroup>,
    pub(crate) modules: Vec<ModuleInfo>,
    pub(crate) config: DecoderConfig,
}

impl DecoderSummary {
    /// The rows of the table: modules of one kind summed over the layers, in HF's order.
    pub fn groups(&self) -> &[ModuleGroup] {
        &self.groups
    }

    /// Every module, one per row of HF's `named_modules()` that holds parameters.
    pub fn modules(&self) -> &[ModuleInfo] {
        &self.modules
    }

    /// All parameters, as HF's `sum(p.numel() for p in model.parameters())`: an output layer
    /// tied to the embeddings is the same tensor, counted once.
    pub fn total_parameters(&self) -> usize {
        self.modules.iter().map(|m| m.parameters).sum()
    }

    /// Bytes the weights take in this process (in their quantized blocks, where they are).
    pub fn held_bytes(&self) -> usize {
        self.modules.iter().map(|m| m.held_bytes).sum()
    }

    /// Bytes the same parameters would take as f32 (what HF's `from_pretrained` of the GGUF
    /// holds).
    pub fn f32_bytes(&self) -> usize {
        self.total_parameters() * 4
    }

    /// Whether the output layer is the embedding table.
    pub fn tied_embeddings(&self) -> bool {
        self.config.tied_embeddings
    }

    /// Bytes the key/value cache holds for `tokens` tokens of context: per layer, a key and a
    /// value of `kv_heads × head_dim` f32 values per token.
    pub fn kv_cache_bytes(&self, tokens: usize) -> usize {
        let c = &self.config;
        tokens * c.layers * 2 * c.kv_heads * c.head_dim * 4
    }

    /// The context length the model was trained for.
    pub fn max_positions(&self) -> usize {
        self.config.max_positions
    }
}

/// The context lengths the summary prices the key/value cache at.
pub(crate) fn kv_contexts(max_positions: usize) -> Vec<usize> {
    let mut out: Vec<usize> = [512, 2048]
        .into_iter()
        .filter(|&t| t < max_positions)
        .collect();
    out.push(max_positions);
    out
}

/// `model.layers.12.mlp.up_proj` → `model.layers.*.mlp`; others as they are.
fn group_name(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.iter().position(|p| p.parse::<usize>().is_ok()) {
        Some(i) => {
            // The layer's sub-module: `self_attn`, `mlp`, or a norm.
            let end = (i + 2).min(parts.len());
            let mut group: Vec<&str> = parts[..end].to_vec();
            group[i] = "*";
            group.join(".")
        }
        None => name.to_string(),
    }
}

impl CausalLm {
    /// The model's parameters per kind of module (summed over the layers), the bytes they take
    /// here and would take as f32, and the key/value cache's bytes per context length: the
    /// tutorial's "check memory usage" for a decoder. The total is HF's
    /// `sum(p.numel() for p in model.parameters())`, which counts a tied output layer once.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let summary = lm.summary();
    /// assert_eq!(summary.total_parameters(), 134_515_008);
    /// assert!(summary.held_bytes() < summary.f32_bytes() / 4);
    /// assert_eq!(summary.kv_cache_bytes(1), 30 * 2 * 3 * 64 * 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn summary(&self) -> DecoderSummary {
        let modules = self.modules();
        let mut groups: Vec<ModuleGroup> = Vec::new();
        for m in &modules {
            let name = group_name(&m.name);
            match groups.iter_mut().find(|g| g.name == name) {
                Some(g) => {
                    g.parameters += m.parameters;
                    g.held_bytes += m.held_bytes;
                    if !g.format.split(" + ").any(|f| f == m.format) {
                        g.format = format!("{} + {}", g.format, m.format);
                    }
                }
                None => groups.push(ModuleGroup {
                    name,
                    count: 0,
                    parameters: m.parameters,
                    held_bytes: m.held_bytes,
                    format: m.format.clone(),
                }),
            }
        }
        for g in &mut groups {
            g.count = if g.name.contains(".*.") {
                self.config().layers
            } else {
                1
            };
        }
        DecoderSummary {
            groups,
            modules,
            config: self.config().clone(),
        }
    }
}

impl fmt::Display for DecoderSummary {
    /// The table as text: a line per kind of module, the totals and the cache.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .groups
            .iter()
            .map(|g| g.name.len() + 6)
            .max()
            .unwrap_or(0);
        for g in &self.groups {
            let name = if g.count > 1 {
                format!("{} (×{})", g.name, g.count)
            } else {
                g.name.clone()
            };
            writeln!(
                f,
                "{name:<width$}  {:>12}  {:<10}  {:>9}",
                thousands(g.parameters),
                g.format,
                human_bytes(g.held_bytes)
            )?;
        }
        writeln!(
            f,
            "{:<width$}  {:>12}  {:<10}  {:>9} ({} as f32)",
            "total",
            thousands(self.total_parameters()),
            "",
            human_bytes(self.held_bytes()),
            human_bytes(self.f32_bytes())
        )?;
        if self.tied_embeddings() {
            writeln!(
                f,
                "lm_head is tied to the embeddings: one tensor, counted once (as HF does)"
            )?;
        }
        let cache: Vec<String> = kv_contexts(self.max_positions())
            .into_iter()
            .map(|t| format!("{} for {t} tokens", human_bytes(self.kv_cache_bytes(t))))
            .collect();
        write!(f, "key/value cache (f32): {}", cache.join(", "))
    }
}
