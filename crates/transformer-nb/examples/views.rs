//! Writes the interactive views of the tutorial's model to a folder, as Vega-Lite specs
//! (`*.vl.json`) with their PNG fallbacks, for the end-to-end tests to validate against Vega-Lite's
//! schema and compile with Vega-Lite itself: `cargo run --example views -- DIR`.

use std::path::PathBuf;

use transformer_nb::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: views DIR")?);
    std::fs::create_dir_all(&dir)?;
    let bert = Bert::from_pretrained(&transformer_nb::hub::model_id_from_env())?;
    let sentence = "The cat sat on the mat because it was tired.";
    let out = bert.forward(&bert.tokenizer().encode(sentence)?)?;
    let pair = bert.forward(
        &bert
            .tokenizer()
            .encode_pair("How old are you?", "I am 25.")?,
    )?;
    let views = [
        ("attention-view", out.attention_view()?),
        ("attention-view-pair", pair.attention_view()?),
        ("model-view", out.model_view()?),
        (
            "neuron-view",
            bert.neuron_view(&bert.tokenizer().encode(sentence)?, 2, 5)?,
        ),
        // No masked-LM weights are offline: the per-layer predictions view of a small example.
        ("layer-predictions", LayerPredictions::sample().view()),
    ];
    for (name, view) in views {
        let spec = view.to_vega_lite();
        std::fs::write(dir.join(format!("{name}.vl.json")), &spec)?;
        view.fallback().save(dir.join(format!("{name}.png")))?;
        println!("{name}: {} bytes of spec; {view}", spec.len());
    }
    Ok(())
}
