//! The encoder's integration tests: BERT and MiniLM against HF's references, the tiny random
//! BERTs, errors and hostile input, pictures and views, threads and bf16. One test binary, because
//! they share the loaded model (`crate::util::minilm`) and none changes the process's environment.

#[path = "../util/mod.rs"]
mod util;

mod attention_by_hand;
mod bf16;
mod cross_check;
mod doc_examples;
mod errors;
mod hostile;
mod layers;
mod masked_lm;
mod parity;
mod plots;
mod properties;
mod threads;
mod views;
