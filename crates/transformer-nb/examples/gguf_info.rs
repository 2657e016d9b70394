//! Prints what a GGUF file holds: its metadata (long arrays shortened) and its tensors.
//!
//! `cargo run --release --example gguf_info -- path/to/model.gguf`

use transformer_nb::gguf::GgufFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: gguf_info path/to/model.gguf")?;
    let file = GgufFile::open(&path)?;
    println!(
        "GGUF v{}: {} metadata keys, {} tensors",
        file.version(),
        file.metadata().len(),
        file.tensors().len()
    );
    for (key, value) in file.metadata() {
        println!("{key} = {}", value.summary());
    }
    for t in file.tensors() {
        println!("{:<28} {:>5} {:?}", t.name, t.kind.to_string(), t.shape());
    }
    Ok(())
}
