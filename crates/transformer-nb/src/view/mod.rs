//! The view layer: how results look in a notebook.
//!
//! Everything here reads the domain types ([`Encoding`](crate::Encoding),
//! [`PositionalEncoding`](crate::PositionalEncoding), [`EncoderOutput`](crate::EncoderOutput),
//! [`Embeddings`](crate::Embeddings)) and nothing in the domain reads it back: the methods a
//! notebook calls, such as `pe.heatmap()` or `out.attention_heatmap(5, 3)`, are inherent
//! impls written in this layer.
//!
//! - `html`: the table styles (inline, sanitizer-safe) and escaping;
//! - `tables`: `to_html()` of encodings, batches, outputs and similarities;
//! - `decoder`: `to_html()` of generations and decoder outputs;
//! - `charts`: which result becomes which picture, at which size;
//! - [`plot`]: [`Plot`](plot::Plot) and its drawing, as PNG and SVG from one description;
//! - [`vega`]: interactive views as Vega-Lite specs with a PNG beside them;
//! - `evcxr`: the `evcxr_display` hooks, each printing one MIME bundle.

mod charts;
pub(crate) mod decoder;
mod evcxr;
pub use evcxr::DebugDisplay;
pub(crate) mod html;
pub mod plot;
mod tables;
pub mod vega;
