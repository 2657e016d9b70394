//! The model architectures, one module per architecture, each following its HF transformers
//! modeling file: [`bert`] (encoders), and the decoders behind [`CausalLm`]:
//! Llama (SmolLM2, TinyLlama, Llama 3) and GPT-2.
//!
//! Their building blocks (linear layers on the crate's kernels, norms, rotary embeddings,
//! causal attention with a key/value cache) live in `layers`; the readers of checkpoint files
//! (`safetensors`, and [`gguf`](crate::gguf)) hand them owned buffers.

pub(crate) mod attention_head;
pub mod bert;
pub(crate) mod causal_lm;
mod checkpoint;
pub(crate) mod decoder;
pub(crate) mod decoder_summary;
mod gpt2;
mod layers;
mod llama;
mod logit_lens;
pub(crate) mod precision;
mod safetensors;

pub use causal_lm::{CausalLm, CausalLmOutput, SUPPORTED_ARCHITECTURES, TokenProb};
pub use decoder::{DecoderConfig, ModuleInfo};
pub use decoder_summary::{DecoderSummary, ModuleGroup};
pub use layers::KvCache;
pub use logit_lens::LogitLens;
