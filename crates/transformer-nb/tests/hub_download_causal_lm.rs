//! `CausalLm::from_pretrained` and `from_pretrained_gguf` download what the cache lacks, through
//! the same path as `Bert` (`HF_ENDPOINT`, the system's curl), here from a stand-in Hub on
//! localhost that serves the seeded GPT-2's files and SmolLM2's GGUF file the way the Hub does
//! (`/{repo}/resolve/main/{file}`, `X-Repo-Commit`, `ETag`).
//!
//! A file of its own: it points `HF_HOME` and `HF_ENDPOINT` at temporary places for the whole
//! process.

mod util;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use transformer_nb::prelude::*;

/// Serves `files` (`"repo/file"` → path) until the process ends; records each request path.
fn stand_in_hub(files: HashMap<String, PathBuf>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        // Bounded: a test downloads a handful of files.
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                    break;
                }
            }
            let path = request.split(' ').nth(1).unwrap_or("").to_string();
            log.lock().unwrap().push(path.clone());
            let key = path
                .trim_start_matches('/')
                .replacen("/resolve/main/", "/", 1);
            let response = match files.get(&key) {
                Some(file) => {
                    let body = std::fs::read(file).unwrap();
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nX-Repo-Commit: 0123456789abcdef0123456789abcdef01234567\r\n\
                         ETag: \"e{}\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len(),
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = reader.read_to_end(&mut Vec::new());
        }
    });
    (endpoint, seen)
}

#[test]
fn decoders_download_from_a_hub_into_the_cache() {
    let smollm2 = util::smollm2_gguf();
    let source = tempfile::tempdir().unwrap();
    util::write_seeded_gpt2(source.path());
    let mut files = HashMap::new();
    for name in [
        "config.json",
        "model.safetensors",
        "vocab.json",
        "merges.txt",
    ] {
        files.insert(format!("org/tiny-gpt2/{name}"), source.path().join(name));
    }
    files.insert(
        "org/smol-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf".into(),
        smollm2,
    );
    let (endpoint, seen) = stand_in_hub(files);
    let home = tempfile::tempdir().unwrap();
    // SAFETY: this file's only test, before anything reads the environment again.
    unsafe {
        std::env::set_var("HF_HOME", home.path());
        std::env::set_var("HF_ENDPOINT", &endpoint);
        std::env::remove_var("HF_HUB_OFFLINE");
        std::env::remove_var("HF_HUB_CACHE");
        std::env::remove_var("HF_TOKEN");
    }
    let gpt2 = CausalLm::from_pretrained("org/tiny-gpt2").unwrap();
    assert_eq!(gpt2.config().architecture, "gpt2");
    assert!(
        gpt2.source()
            .starts_with(home.path().join("hub/models--org--tiny-gpt2/snapshots"))
    );
    let requests = seen.lock().unwrap().clone();
    assert!(
        requests.iter().any(|p| p.ends_with("/model.safetensors")),
        "{requests:?}"
    );
    // Cached now: loading again asks the Hub nothing.
    let before = seen.lock().unwrap().len();
    CausalLm::from_pretrained("org/tiny-gpt2").unwrap();
    assert_eq!(seen.lock().unwrap().len(), before);

    let lm =
        CausalLm::from_pretrained_gguf("org/smol-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf").unwrap();
    assert_eq!(lm.config().layers, 30);
    assert_eq!(lm.precision(), Precision::Quantized);
    // A repository the Hub does not have: an error that names it.
    let err = CausalLm::from_pretrained("org/missing").unwrap_err();
    assert!(err.to_string().contains("org/missing"), "{err}");
}
