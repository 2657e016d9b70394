//! The hub path without the Hub: a model missing from the cache, with HF_HUB_OFFLINE=1, is an
//! error that says how to get it. (Its own test binary, because it changes the environment.)

use transformer_nb::hub::DEFAULT_MODEL;
use transformer_nb::prelude::*;

#[test]
fn uncached_model_offline_explains_how_to_get_it() {
    let empty_cache = tempfile::tempdir().unwrap();
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe {
        std::env::set_var("HF_HOME", empty_cache.path());
        std::env::set_var("HF_HUB_OFFLINE", "1");
    }

    let err = Bert::from_pretrained(DEFAULT_MODEL)
        .unwrap_err()
        .to_string();
    assert!(err.contains("HF_HUB_OFFLINE is set"), "{err}");
    // The repository's script is named only where it exists: not in the published crate.
    let in_repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/fetch-model.sh")
        .is_file();
    assert_eq!(
        err.contains("scripts/fetch-model.sh"),
        in_repository,
        "{err}"
    );

    let err = Tokenizer::from_pretrained("bert-base-cased")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bert-base-cased") && err.contains("from_dir"),
        "{err}"
    );
}
