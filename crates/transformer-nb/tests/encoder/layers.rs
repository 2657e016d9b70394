//! The data flows one way. The crate doc (`src/lib.rs`) names the top-level modules in the
//! order the data flows through them; every `crate::` path in a module's sources must lead to
//! itself or to a module named before it, and no module below the view may use a plotting or
//! notebook crate. This test reads the sources and says where a path goes the wrong way.

use std::path::{Path, PathBuf};

/// Paths that re-export a module under another name, and the module they belong to.
const ALIASES: [(&str, &str); 2] = [("bert", "models"), ("plot", "view")];
/// Crates only the view layer may use.
const VIEW_ONLY_CRATES: [&str; 3] = ["plotters", "evcxr_runtime", "ab_glyph"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(path: &Path, found: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), found);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        found.push(path.to_path_buf());
    }
}

/// The top-level modules, in the order the crate doc's data-flow paragraph names them.
fn documented_order() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let paragraph: String = lib
        .lines()
        .skip_while(|line| !line.contains("The data flows through the modules"))
        .take_while(|line| line.trim() != "//!")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        !paragraph.is_empty(),
        "the crate doc has no data-flow paragraph"
    );
    let modules: Vec<String> = std::fs::read_dir(src())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_stem().is_some_and(|stem| stem != "lib"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut order = Vec::new();
    for word in paragraph.split('`').skip(1).step_by(2) {
        if modules.iter().any(|m| m == word) && !order.iter().any(|m| m == word) {
            order.push(word.to_string());
        }
    }
    let mut missing: Vec<&String> = modules.iter().filter(|m| !order.contains(m)).collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "the data-flow paragraph does not name {missing:?}"
    );
    order
}

/// The module a `crate::` path leads to: `crate::bert::X` is `models`.
fn target_of(path: &str) -> &str {
    let first = path.split("::").next().unwrap_or(path);
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == first)
        .map_or(first, |(_, module)| module)
}

/// Every `crate::name` path in the code of `text` (comments left out), with its line.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut paths = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                paths.push((number + 1, name));
            }
        }
    }
    paths
}

#[test]
fn every_module_imports_only_those_before_it_in_the_crate_doc() {
    let order = documented_order();
    let rank = |module: &str| order.iter().position(|m| m == module);
    let mut offences = Vec::new();
    let mut files_read = 0;
    for module in &order {
        let mut files = Vec::new();
        rust_files(&src().join(module), &mut files);
        rust_files(&src().join(format!("{module}.rs")), &mut files);
        for file in &files {
            files_read += 1;
            let text = std::fs::read_to_string(file).unwrap();
            for (line, path) in crate_paths(&text) {
                let target = target_of(&path);
                match rank(target) {
                    Some(to) if to <= rank(module).unwrap() => {}
                    Some(_) => offences.push(format!(
                        "{}:{line}: `{module}` uses `crate::{path}`, named after it",
                        file.display()
                    )),
                    None => offences.push(format!(
                        "{}:{line}: `crate::{path}` is not a module of the paragraph",
                        file.display()
                    )),
                }
            }
            if module != "view" {
                for (number, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    for name in VIEW_ONLY_CRATES {
                        if code.contains(&format!("{name}::")) {
                            offences.push(format!(
                                "{}:{}: `{module}` uses {name}, which only the view may",
                                file.display(),
                                number + 1
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(files_read >= 50, "read only {files_read} files");
    assert!(
        offences.is_empty(),
        "module paths against the data flow:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_check_finds_a_path_that_goes_the_wrong_way() {
    let paths = crate_paths("use crate::view::plot::Plot; // crate::models in a comment\n");
    assert_eq!(paths, [(1, "view".to_string())]);
    assert_eq!(target_of("bert::Bert"), "models");
    let order = documented_order();
    let rank = |m: &str| order.iter().position(|o| o == m).unwrap();
    assert!(rank("view") > rank("models"), "{order:?}");
    assert!(rank("kernels") < rank("gguf"), "{order:?}");
}
