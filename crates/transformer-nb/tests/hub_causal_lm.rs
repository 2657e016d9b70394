//! `CausalLm::from_pretrained` goes through the Hugging Face cache as `Bert` does: an HF
//! checkpoint (the seeded GPT-2, laid out as the Hub's `openai-community/gpt2`) loads by its
//! id, and a repository holding only a GGUF file (as `scripts/fetch-model.sh` lays out SmolLM2)
//! loads that file. (Downloads into the cache are tested against a stand-in Hub in
//! `src/hub.rs`; the real Hub is unreachable here.)
//!
//! A file of its own: it points `HF_HOME` at a temporary cache for the whole process.

mod util;

use std::path::Path;

use transformer_nb::prelude::*;

fn snapshot(home: &Path, model_id: &str, rev: &str) -> std::path::PathBuf {
    let repo = home.join(format!("hub/models--{}", model_id.replace('/', "--")));
    let dir = repo.join("snapshots").join(rev);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), rev).unwrap();
    dir
}

#[test]
fn cached_checkpoints_and_gguf_files_load_by_their_hub_ids() {
    let smollm2 = util::smollm2_gguf();
    let home = tempfile::tempdir().unwrap();
    let gpt2_dir = snapshot(
        home.path(),
        "openai-community/gpt2",
        "607a30d783dfa663caf39e06633721c8d4cfcd7e",
    );
    util::write_seeded_gpt2(&gpt2_dir);
    let gguf_dir = snapshot(
        home.path(),
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "7344eec1c63cab108f6e84f17b719d435451bf43",
    );
    std::os::unix::fs::symlink(&smollm2, gguf_dir.join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    // SAFETY: this file's only test, before anything reads the environment again.
    unsafe {
        std::env::set_var("HF_HOME", home.path());
        std::env::set_var("HF_HUB_OFFLINE", "1");
        std::env::remove_var("HF_HUB_CACHE");
    }
    let gpt2 = CausalLm::from_pretrained("openai-community/gpt2").unwrap();
    assert_eq!(gpt2.config().architecture, "gpt2");
    assert_eq!(gpt2.source(), gpt2_dir);
    assert_eq!(gpt2.stop_ids(), [50256]);
    let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct").unwrap();
    assert_eq!(lm.config().architecture, "llama");
    assert_eq!(lm.precision(), Precision::Quantized);
    assert!(lm.source().ends_with("SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert_eq!(lm.tokenizer().eos_token(), Some("<|im_end|>"));
    // Offline and not cached: an error that says what to do.
    let err = CausalLm::from_pretrained("openai-community/gpt2-medium").unwrap_err();
    assert!(matches!(err, Error::ModelUnavailable { .. }), "{err}");
}
