//! Writes the interactive views of the decoder (SmolLM2-135M-Instruct, the cached GGUF of
//! scripts/fetch-model.sh) to a folder, as Vega-Lite specs (`*.vl.json`) with their PNG
//! fallbacks, for the end-to-end tests to validate and draw with Vega:
//! `cargo run --release --example decoder_views -- DIR`.

use std::path::PathBuf;

use transformer_nb::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: decoder_views DIR")?);
    std::fs::create_dir_all(&dir)?;
    let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    let sentence = lm
        .tokenizer()
        .encode("The cat sat on the mat because it was tired.")?;
    let capital = lm.tokenizer().encode("The capital of France is")?;
    let out = lm.forward(&sentence)?;
    let generation = lm.generate(
        "The capital of France is",
        &GenerateOptions::greedy().max_new_tokens(16),
    )?;
    let views = [
        ("causal-attention-view", out.attention_view()?),
        ("causal-model-view", out.model_view()?),
        ("next-token", lm.forward(&capital)?.next_token(12)?),
        ("logit-lens", lm.logit_lens(&capital)?.view()?),
        ("generation", generation.view()),
        ("causal-neuron-view", lm.neuron_view(&sentence, 3, 1)?),
    ];
    for (name, view) in views {
        let spec = view.to_vega_lite();
        std::fs::write(dir.join(format!("{name}.vl.json")), &spec)?;
        view.fallback().save(dir.join(format!("{name}.png")))?;
        println!("{name}: {} bytes of spec; {view}", spec.len());
    }
    Ok(())
}
