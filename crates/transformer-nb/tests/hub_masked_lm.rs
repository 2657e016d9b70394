//! `MaskedLm::from_pretrained` goes through the same Hugging Face cache path as `Bert`: a
//! `BertForMaskedLM` checkpoint laid out as the Hub's `bert-base-uncased` is (weights under
//! `bert.`, LayerNorms named `gamma`/`beta`, the next-sentence head beside the masked-LM one)
//! loads from the cache and fills masks as HF does. (Downloads into that cache are tested
//! against a stand-in Hub in `src/hub.rs`; the real Hub is unreachable here.)
//!
//! A file of its own: it points `HF_HOME` at a temporary cache for the whole process.

mod util;

use candle_core::{Device, Tensor, safetensors};
use transformer_nb::prelude::*;

#[test]
fn a_cached_bert_for_masked_lm_checkpoint_loads_by_its_hub_id_real_model() {
    // The seeded model borrows MiniLM's tokenizer files: load MiniLM before the cache moves.
    util::minilm();
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("hub/models--bert-base-uncased");
    let snapshot = repo.join("snapshots/86b5e0934494bd15c9632b12f734a8a67f723594");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(
        repo.join("refs/main"),
        "86b5e0934494bd15c9632b12f734a8a67f723594",
    )
    .unwrap();
    util::write_seeded_masked_lm(&snapshot);
    // Rename as the original checkpoint names them, and add its next-sentence head.
    let weights = snapshot.join("model.safetensors");
    let mut tensors = util::gamma_beta_layer_norms(&weights);
    let hidden = util::MLM_HIDDEN;
    tensors.insert(
        "cls.seq_relationship.weight".into(),
        Tensor::zeros((2, hidden), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    safetensors::save(&tensors, &weights).unwrap();

    // SAFETY: this file's only test, before anything reads the environment again.
    unsafe {
        std::env::set_var("HF_HOME", home.path());
        std::env::set_var("HF_HUB_OFFLINE", "1");
        std::env::remove_var("HF_HUB_CACHE");
    }
    let mlm = MaskedLm::from_pretrained("bert-base-uncased").unwrap();
    assert_eq!(mlm.bert().dir(), snapshot);
    let reference = util::masked_lm_reference();
    let case = &reference["cases"][0];
    let filled = mlm.fill_mask(case["text"].as_str().unwrap(), 5).unwrap();
    for ((token, p), want) in filled.candidates()[0]
        .iter()
        .zip(case["top"][0].as_array().unwrap())
    {
        assert_eq!(token, want[0].as_str().unwrap());
        assert!((p - want[1].as_f64().unwrap() as f32).abs() < 1e-4);
    }
}
