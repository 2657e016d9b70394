//! Prints how many bytes each positional-encoding picture adds to a notebook: its PNG and its
//! SVG (the figures in the README). `cargo run --release --example picture_sizes`

use transformer_nb::prelude::*;

fn main() -> Result<()> {
    for (positions, d_model) in [(50, 128), (512, 768)] {
        let plot = positional_encoding(positions, d_model)?.heatmap();
        println!(
            "positional_encoding({positions}, {d_model})?.heatmap(): PNG {} bytes, SVG {} bytes",
            plot.to_png()?.len(),
            plot.to_svg().len()
        );
    }
    Ok(())
}
