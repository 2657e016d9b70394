//! The data flows one way: the domain modules hold data and numbers, the view layer reads them.
//! A domain module that imports the view (or a plotting crate) would bring back the cycle this
//! layout removed, so this test reads the sources and says where.

use std::path::{Path, PathBuf};

const DOMAIN: [&str; 8] = [
    "tensor.rs",
    "error.rs",
    "hub.rs",
    "positional.rs",
    "embed.rs",
    "tokenize",
    "bert",
    "kernels",
];
const VIEW_ONLY: [&str; 5] = [
    "crate::view",
    "crate::plot",
    "plotters",
    "evcxr_runtime",
    "ab_glyph",
];

fn rust_files(path: &Path, found: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), found);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        found.push(path.to_path_buf());
    }
}

#[test]
fn domain_modules_never_import_the_view_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in DOMAIN {
        rust_files(&src.join(module), &mut files);
    }
    assert!(files.len() >= 10, "found only {files:?}");
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for name in VIEW_ONLY {
                if code.contains(name) {
                    offences.push(format!(
                        "{}:{}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the domain imports the view:\n{}",
        offences.join("\n")
    );
}
