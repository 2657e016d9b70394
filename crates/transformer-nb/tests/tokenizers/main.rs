//! The tokenizers against HF `tokenizers` and the chat templates against jinja2. One test
//! binary: they share the tokenizer files and none changes the process's environment.

#[path = "../util/mod.rs"]
mod util;

mod bpe_vs_hf;
mod chat_template;
mod tokenizer_vs_hf;
