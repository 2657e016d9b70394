//! # transformer-nb
//!
//! Learn and explore Transformer models in Rust notebooks. This crate is what a notebook
//! `:dep`s: each step of the classic "load BERT, tokenize, look at positional encodings and
//! attention" walkthrough is one call, and every result shows itself as an HTML table or a
//! picture in JupyterLab (through the evcxr kernel), also in a notebook opened from git. The numbers are HF transformers' numbers: the
//! tests compare tokens, hidden states, attentions, pooler output and embeddings with
//! references made by Python's `transformers`.
//!
//! The data flows through the modules in this order, each importing only those before it
//! (`tests/encoder/layers.rs` checks every `use crate::` against this paragraph):
//! [`language`] holds the language of the library's words, which [`error`] and the view use;
//! [`error`] and [`tensor`] are what every module shares; the private `kernels` hold the
//! number crunching (matrix products, quantized weights, softmax, layer norm) on plain slices,
//! and [`functional`] offers the layer's functions to a learner computing by hand;
//! [`hub`] finds a model's files in the Hugging Face cache or on the Hub; [`gguf`] reads
//! llama.cpp's files; [`tokenize`] turns text into ids (WordPiece for BERT, byte-level BPE for
//! GPT-2 and Llama, each pipeline in HF's stages) and renders chat templates; [`positional`]
//! explains position information; [`embed`] holds sentence vectors and compares them;
//! [`models`] runs the architectures (BERT; Llama and GPT-2 behind [`CausalLm`]) on the
//! kernels and returns [`Tensor`]s and [`Embeddings`]; [`generate`] turns a decoder's logits
//! into text. These hold data and numbers only. On top sits [`view`], which imports them and
//! none of them imports: HTML tables, the pictures of each result (a [`Plot`] draws itself as
//! PNG and SVG), and the `evcxr_display` hooks that put both into a notebook. Methods such as
//! `pe.heatmap()` are written in `view` as inherent impls, so a notebook calls them on the
//! result itself.
//!
//! ## Tokenize
//!
//! ```
//! use transformer_nb::prelude::*;
//!
//! // Needs this model in the Hugging Face cache (see "The examples in these docs").
//! let tok = Tokenizer::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
//! let enc = tok.encode("I read a good novel.")?;
//! assert_eq!(enc.tokens(), ["[CLS]", "i", "read", "a", "good", "novel", ".", "[SEP]"]);
//! assert_eq!(enc.attention_mask(), [1, 1, 1, 1, 1, 1, 1, 1]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Positional encoding
//!
//! ```
//! use transformer_nb::prelude::*;
//!
//! let pe = positional_encoding(50, 128)?;        // "Attention Is All You Need", §3.5
//! assert_eq!(pe.shape(), (50, 128));
//! let plot = pe.heatmap();                      // displays inline in a notebook
//! assert!(plot.to_svg().starts_with("<svg"));   // for trusted front ends
//! assert!(plot.to_png()?.starts_with(b"\x89PNG")); // for all the others
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## BERT forward pass and embeddings
//!
//! ```
//! use transformer_nb::prelude::*;
//!
//! // Needs this model in the Hugging Face cache (see "The examples in these docs").
//! let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
//! let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
//! let last: &Tensor = out.last_hidden_state();
//! assert_eq!(last.dims(), [1, 8, 384]);
//! let plot = out.attention_heatmap(5, 0)?;      // rows and columns labelled with tokens
//! assert!(plot.to_svg().contains("novel"));
//! let emb = bert.embed(&["a cat", "a dog", "a tax return"])?;
//! let sim = emb.similarity()?;
//! assert!(sim[0][1] > sim[0][2]);               // a cat is more like a dog than a tax return
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## A language model that speaks
//!
//! ```no_run
//! use transformer_nb::prelude::*;
//!
//! // SmolLM2-135M-Instruct as a Q4_1 GGUF file (scripts/fetch-model.sh caches it offline).
//! let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
//! let out = lm.forward(&lm.tokenizer().encode("The capital of France is")?)?;
//! assert_eq!(out.top_next_tokens(1)?[0].text, " Paris");
//! let answer = lm.chat(
//!     &[ChatMessage::user("What is the capital of France?")],
//!     &GenerateOptions::greedy().max_new_tokens(32),
//! )?;
//! assert_eq!(answer.text(), "The capital of France is Paris.");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The examples in these docs
//!
//! Most run on [`Bert::tiny_random()`](bert::Bert::tiny_random), a 2-layer BERT with random
//! weights built in code: they show shapes and behaviour, need no download, and run wherever the
//! crate builds. The ones whose numbers only the real model has (its ids, its parameter count,
//! which sentences are alike) load `sentence-transformers/all-MiniLM-L6-v2` and say so in their
//! first line: `cargo test --doc` needs that model in the Hugging Face cache (load it once where
//! the Hub is reachable, or see the crate's README for getting it offline). The examples of the
//! language model, `HuggingFaceTB/SmolLM2-135M-Instruct`, are `no_run`: they would take a
//! 135M-parameter model through an unoptimised build.
//!
//! ## Errors, not panics
//!
//! A panic in a notebook cell loses every variable of the kernel, so no function here panics on
//! what a user passes it: each returns [`Result`] with an [`Error`] whose message says what was
//! wrong and what to do.
//!
//! ## Crate features
//!
//! None. The crate is CPU-only and keeps its dependency tree small, because evcxr compiles it
//! (and everything below it) the first time a notebook `:dep`s it.

#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]
// Every `unsafe` block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod embed;
pub mod error;
pub mod functional;
pub mod generate;
pub mod gguf;
pub mod hub;
mod kernels;
pub mod language;
pub mod models;
pub mod positional;
pub mod tensor;
pub mod tokenize;
pub mod view;

pub use models::bert;
pub use view::plot;

/// For the benchmark harness (`benches/forward.rs`, with the `bench-knobs` feature) only: not
/// part of the API, no stability.
#[cfg(feature = "bench-knobs")]
#[doc(hidden)]
pub mod bench_support {
    pub use crate::kernels::probe::{product_flops, square_product_flops};
}

#[allow(deprecated)]
pub use bert::BertOutput;
pub use bert::{
    AttentionHead, Bert, BertConfig, EncoderOutput, FillMask, LayerPredictions, MaskedLm,
    ModelSummary, Precision,
};
pub use embed::Embeddings;
pub use error::{Error, Result};
pub use generate::{GenerateOptions, Generation, Step, StopReason};
pub use language::{Language, set_language};
pub use models::{CausalLm, CausalLmOutput, DecoderConfig, DecoderSummary, LogitLens, TokenProb};
pub use plot::Plot;
pub use positional::{
    Layout, PositionalEncoding, positional_encoding, positional_encoding_with_layout,
};
pub use tensor::Tensor;
pub use tokenize::{Batch, ChatMessage, Encoding, TextStream, Tokenizer};

/// Everything a notebook cell needs: `use transformer_nb::prelude::*;`.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let pe: PositionalEncoding = positional_encoding(4, 8)?;
/// assert_eq!(pe.shape(), (4, 8));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod prelude {
    #[allow(deprecated)]
    pub use crate::bert::BertOutput;
    pub use crate::bert::{
        AttentionHead, Bert, BertConfig, EncoderOutput, FillMask, LayerPredictions, MaskedLm,
        ModelSummary, Precision,
    };
    pub use crate::embed::Embeddings;
    pub use crate::error::{Error, Result};
    pub use crate::generate::{GenerateOptions, Generation, Step, StopReason};
    pub use crate::language::{Language, set_language};
    pub use crate::models::{
        CausalLm, CausalLmOutput, DecoderConfig, DecoderSummary, LogitLens, TokenProb,
    };
    pub use crate::plot::Plot;
    pub use crate::positional::{
        Layout, PositionalEncoding, positional_encoding, positional_encoding_with_layout,
    };
    pub use crate::tensor::Tensor;
    pub use crate::tokenize::{Batch, ChatMessage, Encoding, TextStream, Tokenizer};
    pub use crate::view::DebugDisplay;
}
