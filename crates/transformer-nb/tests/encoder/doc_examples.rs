//! The crate doc promises that the examples run on `Bert::tiny_random()` unless they need a real
//! model, and that those say so in their first line. This test reads every doc example and holds
//! the ones that run (not `no_run`) to it.

use std::path::{Path, PathBuf};

const NEEDS_MODEL: &str = "// Needs this model in the Hugging Face cache";

fn rust_files(path: &Path, found: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), found);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        found.push(path.to_path_buf());
    }
}

/// Each example of a file: its first line number, its fence's attributes and its lines with the
/// comment marker removed.
fn examples(text: &str) -> Vec<(usize, String, Vec<String>)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String, Vec<String>)> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let Some(doc) = trimmed
            .strip_prefix("///")
            .or_else(|| trimmed.strip_prefix("//!"))
        else {
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        if let Some(attributes) = doc.strip_prefix("```") {
            match current.take() {
                Some(example) => found.push(example),
                None => current = Some((number + 1, attributes.trim().to_string(), Vec::new())),
            }
        } else if let Some((_, _, lines)) = current.as_mut() {
            lines.push(doc.to_string());
        }
    }
    found
}

#[test]
fn examples_that_load_a_model_say_so_and_the_rest_need_none() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let (mut on_tiny, mut on_real, mut unmarked) = (0, 0, Vec::new());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, attributes, lines) in examples(&text) {
            let runs = attributes.is_empty() || attributes == "rust";
            let loads = lines.iter().position(|l| {
                let code = l.trim_start_matches("# ");
                code.contains("::from_pretrained") || code.contains("::from_dir")
            });
            match (runs, loads) {
                (false, _) => {}
                (true, None) => on_tiny += 1,
                (true, Some(i)) if i > 0 && lines[i - 1].starts_with(NEEDS_MODEL) => on_real += 1,
                (true, Some(_)) => unmarked.push(format!("{}:{line}", file.display())),
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "these examples load a model without a line before it saying \"{NEEDS_MODEL} ...\": \
         {unmarked:#?}"
    );
    assert!(
        on_tiny > 4 * on_real,
        "{on_tiny} examples need no model and {on_real} need one: most should run on \
         Bert::tiny_random()"
    );
}
