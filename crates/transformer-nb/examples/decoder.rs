//! A language model that speaks, as a program: SmolLM2-135M-Instruct (the cached GGUF of
//! scripts/fetch-model.sh) tokenizes, predicts the next token, continues a text and answers a
//! chat, streaming its answer; one head's causal attention is written to `causal-attention.png`.
//!
//! ```text
//! cargo run --release --example decoder [-- MODEL_ID]
//! ```

use transformer_nb::prelude::*;

fn main() -> anyhow::Result<()> {
    let model_id = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "HuggingFaceTB/SmolLM2-135M-Instruct".into());
    let lm = CausalLm::from_pretrained(&model_id)?;
    let c = lm.config();
    println!(
        "{model_id}: {} ({} layers, {} heads, {} key/value heads), {:.1}M parameters, {} MiB held ({})",
        c.architecture,
        c.layers,
        c.heads,
        c.kv_heads,
        lm.parameters() as f64 / 1e6,
        lm.held_bytes() >> 20,
        lm.precision()
    );
    let enc = lm.tokenizer().encode("The capital of France is")?;
    println!("tokens: {:?}", enc.tokens());
    println!("texts:  {:?}", enc.texts());
    let out = lm.forward(&enc)?;
    for t in out.top_next_tokens(5)? {
        println!("  next {:>10?} {:5.1}%", t.text, t.probability * 100.0);
    }
    out.attention_heatmap(c.layers / 2, 0)?
        .save("causal-attention.png")?;
    let g = lm.generate(
        "The capital of France is",
        &GenerateOptions::greedy().max_new_tokens(12),
    )?;
    println!("{g}");
    let messages = [
        ChatMessage::system("Be brief."),
        ChatMessage::user("Why is the sky blue?"),
    ];
    println!("--- chat (sampled, seed 7) ---");
    let opts = GenerateOptions::sampling(0.7)
        .top_p(0.9)
        .seed(7)
        .max_new_tokens(64)
        .stream(true);
    let answer = lm.chat(&messages, &opts)?;
    println!(
        "({} tokens, {:?})",
        answer.ids().len(),
        answer.stop_reason()
    );
    Ok(())
}
