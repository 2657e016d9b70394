//! `config.json` of a BERT checkpoint, as HF's `BertConfig` reads it.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The activation between the two feed-forward layers (`hidden_act`).
///
/// ```
/// use transformer_nb::bert::HiddenAct;
///
/// let act: HiddenAct = serde_json::from_str("\"gelu\"")?;
/// assert_eq!(act, HiddenAct::Gelu);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// The exact GELU, `x · Φ(x)` with the error function; what BERT was trained with.
    Gelu,
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluApproximate,
    /// `max(0, x)`.
    Relu,
}

fn default_hidden_act() -> HiddenAct {
    HiddenAct::Gelu
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_position_embedding_type() -> String {
    "absolute".into()
}
fn default_initializer_range() -> f64 {
    0.02
}

/// The architecture of a BERT checkpoint: sizes, activation and layer-norm epsilon.
///
/// Field names and defaults are those of HF's `BertConfig`, so `config.json` deserializes
/// straight into it, and [`Default`] is `BertConfig()`, BERT-base's sizes. A config written in
/// code, for [`Bert::random`](crate::bert::Bert::random), names what differs:
///
/// ```
/// use transformer_nb::bert::BertConfig;
///
/// let small = BertConfig { hidden_size: 64, num_hidden_layers: 2, ..BertConfig::default() };
/// assert_eq!(small.num_attention_heads, 12);
/// assert_eq!(BertConfig::default().intermediate_size, 3072);
/// ```
///
/// ```
/// use transformer_nb::bert::BertConfig;
///
/// let config: BertConfig = serde_json::from_str(r#"{
///     "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
///     "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512
/// }"#)?;
/// assert_eq!(config.head_size(), 32);
/// assert_eq!(config.layer_norm_eps, 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Number of tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads per layer; `hidden_size` must divide evenly among them.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: HiddenAct,
    /// Longest sequence the learned position embeddings cover.
    pub max_position_embeddings: usize,
    /// Number of token types (segments); 2 for BERT.
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// Epsilon of every layer norm.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Id of the `[PAD]` token.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Only `"absolute"` (learned positions) is supported.
    #[serde(default = "default_position_embedding_type")]
    pub position_embedding_type: String,
    /// Standard deviation of the normal distribution random weights are drawn from (HF's
    /// `_init_weights`); only [`Bert::random`](crate::bert::Bert::random) uses it.
    #[serde(default = "default_initializer_range")]
    pub initializer_range: f64,
}

impl Default for BertConfig {
    /// HF's `BertConfig()`: the sizes of `bert-base-uncased`.
    fn default() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: default_hidden_act(),
            max_position_embeddings: 512,
            type_vocab_size: default_type_vocab_size(),
            layer_norm_eps: default_layer_norm_eps(),
            pad_token_id: 0,
            position_embedding_type: default_position_embedding_type(),
            initializer_range: default_initializer_range(),
        }
    }
}

impl BertConfig {
    /// Reads and checks a `config.json`.
    ///
    /// ```
    /// use transformer_nb::bert::BertConfig;
    /// # use transformer_nb::prelude::*;
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let dir = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?.dir().to_path_buf();
    ///
    /// let config = BertConfig::from_file(dir.join("config.json"))?;
    /// assert_eq!(config.num_hidden_layers, 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let config: BertConfig =
            serde_json::from_str(&text).map_err(|e| Error::json(path, "BERT config.json", e))?;
        config.validate().map_err(|message| Error::InvalidFile {
            path: path.to_path_buf(),
            what: "BERT config.json",
            message,
        })?;
        Ok(config)
    }

    /// Width of one attention head: `hidden_size / num_attention_heads`.
    ///
    /// ```
    /// # use transformer_nb::bert::BertConfig;
    /// # let config: BertConfig = serde_json::from_str(r#"{"vocab_size": 10, "hidden_size": 768,
    /// #   "num_hidden_layers": 1, "num_attention_heads": 12, "intermediate_size": 8,
    /// #   "max_position_embeddings": 8}"#)?;
    /// assert_eq!(config.head_size(), 64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} is 0; it must be at least 1"));
        }
        // Far beyond any BERT (XLM-R's 250,002 tokens, BERT-large's 24 layers of 1024), yet
        // small enough that every product of sizes the loader forms fits a `usize`.
        let limits = [
            ("vocab_size", self.vocab_size, 1 << 22),
            ("hidden_size", self.hidden_size, 1 << 16),
            ("num_hidden_layers", self.num_hidden_layers, 1 << 10),
            ("num_attention_heads", self.num_attention_heads, 1 << 10),
            ("intermediate_size", self.intermediate_size, 1 << 18),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                1 << 20,
            ),
            ("type_vocab_size", self.type_vocab_size, 1 << 16),
        ];
        if let Some((name, value, limit)) = limits.iter().find(|(_, v, limit)| v > limit) {
            return Err(format!(
                "{name} {value} is larger than {limit}, the most this library loads: the file \
                 is damaged or not a BERT config"
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} does not divide among {} attention heads",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type \"{}\" is not supported; only \"absolute\" is",
                self.position_embedding_type
            ));
        }
        if !(self.initializer_range.is_finite() && self.initializer_range >= 0.0) {
            return Err(format!(
                "initializer_range must be a finite number ≥ 0, not {}",
                self.initializer_range
            ));
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err(format!(
                "layer_norm_eps must be positive, not {}",
                self.layer_norm_eps
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(json: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        (dir, path)
    }

    const BASE: &str = r#""vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
        "intermediate_size": 16, "max_position_embeddings": 16"#;

    #[test]
    fn reads_a_minimal_config_with_hf_defaults() {
        let (_dir, path) = write(&format!("{{{BASE}, \"num_attention_heads\": 2}}"));
        let config = BertConfig::from_file(path).unwrap();
        assert_eq!(config.hidden_act, HiddenAct::Gelu);
        assert_eq!(config.type_vocab_size, 2);
        assert_eq!(config.head_size(), 4);
    }

    #[test]
    fn malformed_json_names_the_file() {
        let (_dir, path) = write("{\"vocab_size\": ");
        let err = BertConfig::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("not a valid"),
            "{err}"
        );
    }

    #[test]
    fn missing_field_is_named() {
        let (_dir, path) = write("{\"vocab_size\": 10}");
        let err = BertConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("hidden_size"), "{err}");
    }

    #[test]
    fn heads_must_divide_hidden_size() {
        let (_dir, path) = write(&format!("{{{BASE}, \"num_attention_heads\": 3}}"));
        let err = BertConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("does not divide"), "{err}");
    }

    #[test]
    fn relative_positions_are_refused() {
        let (_dir, path) = write(&format!(
            "{{{BASE}, \"num_attention_heads\": 2, \"position_embedding_type\": \"relative_key\"}}"
        ));
        let err = BertConfig::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("position_embedding_type \"relative_key\" is not supported"),
            "{err}"
        );
    }
}
