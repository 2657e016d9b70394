//! The decoders: SmolLM2 against HF transformers (release builds only: a 135M-parameter model
//! is slow unoptimised), the seeded GPT-2, and their views. One test binary: they share the
//! model files and none changes the process's environment.

#[path = "../util/mod.rs"]
mod util;

mod decoder_parity;
mod decoder_views;
mod gpt2_parity;
mod gpt2_views;
mod seeded_gpt2;
