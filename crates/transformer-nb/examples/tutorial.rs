//! The tutorial's walkthrough as a program: tokenize, positional encoding, forward pass.
//!
//! ```text
//! cargo run --release --example tutorial [-- MODEL_ID]
//! ```
//! Plots are written next to the current directory as SVG files.

use transformer_nb::prelude::*;

fn main() -> anyhow::Result<()> {
    let model_id = std::env::args()
        .nth(1)
        .unwrap_or_else(transformer_nb::hub::model_id_from_env);
    let bert = Bert::from_pretrained(&model_id)?;
    let enc = bert.tokenizer().encode("I read a good novel.")?;
    println!("{enc}");
    let pe = positional_encoding(50, 128)?;
    pe.heatmap().save("positional-encoding.png")?;
    let out = bert.forward(&enc)?;
    println!("last hidden state: {:?}", out.last_hidden_state().dims());
    out.attention_heatmap(0, 0)?.save("attention-l0-h0.svg")?;
    out.attention_heads(5)?.save("attention-heads-l5.svg")?;
    let emb = bert.embed(&[
        "I read a good novel.",
        "I enjoyed a great book.",
        "The stock market fell.",
    ])?;
    emb.heatmap().save("similarity.png")?;
    for row in emb.similarity()? {
        println!("{row:.3?}");
    }
    Ok(())
}
