//! Writes a greedy generation's HTML table to the file named on the command line, to look at
//! in a browser: `cargo run --release --example generation_html -- out.html`.

use transformer_nb::prelude::*;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "generation.html".into());
    let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    let g = lm.chat(
        &[ChatMessage::user("What is the capital of France?")],
        &GenerateOptions::greedy().max_new_tokens(16),
    )?;
    let out = lm.forward(&lm.tokenizer().encode("Tôi đọc một cuốn tiểu thuyết")?)?;
    std::fs::write(
        &path,
        format!("<html><body>{}{}</body></html>", g.to_html(), out.to_html()),
    )?;
    println!("{g}");
    Ok(())
}
