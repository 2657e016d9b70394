//! The one error type of the crate.
//!
//! A panic in a notebook cell throws away every variable of the kernel, so nothing in this crate
//! panics on user input: every fallible call returns [`Result`], and each message says what was
//! wrong and what to do about it, so that `?` in a cell prints something a learner can act on.

use std::path::PathBuf;

use crate::language::{Language, language, say};

/// Shorthand for `Result<T, transformer_nb::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in transformer-nb.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let err = positional_encoding(50, 127).unwrap_err();
/// assert!(matches!(err, Error::InvalidArgument { .. }));
/// assert!(err.to_string().contains("even"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done: "read", "write", "create".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },

    /// A model directory lacks a file the model needs.
    #[error("{dir} has no {file}: {hint}")]
    MissingFile {
        /// The model directory that was searched.
        dir: PathBuf,
        /// The missing file (or the alternatives, e.g. "tokenizer.json or vocab.txt").
        file: String,
        /// What to do about it.
        hint: String,
    },

    /// A file of the model (a GGUF or safetensors file, a tokenizer, a config) has content
    /// this crate cannot use.
    #[error("{path} is not a valid {what}: {message}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What the file should have been, e.g. "BERT config.json".
        what: &'static str,
        /// The parser's explanation.
        message: String,
    },

    /// A JSON file of the model (config.json, tokenizer.json, vocab.json, ...) does not parse,
    /// or does not have the fields its kind needs.
    #[error("{path} is not a valid {what}: {source}")]
    InvalidJson {
        /// The file.
        path: PathBuf,
        /// What the file should have been, e.g. "BERT config.json".
        what: &'static str,
        /// The parser's error, with the line and column.
        source: serde_json::Error,
    },

    /// The model's weights cannot be used: a tensor is missing, has another shape than its
    /// config implies, or is stored in a type this crate does not read.
    #[error("the weights in {path} cannot be used: {message}. {hint}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Which tensor was wrong and how.
        message: String,
        /// What to do about it, for this cause.
        hint: String,
    },

    /// A checkpoint lacks the head a task needs (e.g. fill-mask on a model saved without one).
    #[error("{path} has no {head}: {hint}")]
    MissingHead {
        /// The weights file.
        path: PathBuf,
        /// The head, e.g. "masked-language-model head (cls.predictions)".
        head: &'static str,
        /// What to load instead.
        hint: String,
    },

    /// A model is neither in the local Hugging Face cache nor downloadable.
    #[error("model {model_id} is not available: {reason}. {hint}")]
    ModelUnavailable {
        /// The Hub id, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
        model_id: String,
        /// Why it could not be had.
        reason: String,
        /// How to get it.
        hint: String,
    },

    /// The tokenizer lacks something a task needs (e.g. fill-mask without a mask token).
    #[error("tokenizer error: {0}")]
    Tokenizer(String),

    /// A text that must have content was empty or only whitespace.
    #[error("text {index} is empty or only whitespace: {hint}")]
    EmptyText {
        /// Position of the text in its list (0 for a single text).
        index: usize,
        /// What to do about it.
        hint: String,
    },

    /// A list that must have items was empty.
    #[error("{}", empty_batch_message(.what))]
    EmptyBatch {
        /// What the list holds, e.g. "texts".
        what: &'static str,
    },

    /// An index (layer, head, position, sequence) was outside its range.
    #[error("{}", out_of_range_message(.what, *.index, *.len))]
    OutOfRange {
        /// What was indexed: "layer", "head", ...
        what: &'static str,
        /// The index given.
        index: usize,
        /// How many there are.
        len: usize,
    },

    /// An argument had a value the function cannot work with.
    #[error("{message}")]
    InvalidArgument {
        /// What was wrong and what to pass instead.
        message: String,
    },

    /// A plot could not be drawn.
    #[error("plot error: {message}")]
    Plot {
        /// What went wrong.
        message: String,
        /// The drawing library's error, where it gave one.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A tensor has another shape than the config implies.
    pub(crate) fn weights_shape(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Weights {
            path: path.into(),
            message: message.into(),
            hint: "Check that the config and the weights come from the same checkpoint".into(),
        }
    }

    /// A tensor the architecture needs is not in the file.
    pub(crate) fn weights_missing(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Weights {
            path: path.into(),
            message: message.into(),
            hint: "Check that the file is a checkpoint of this architecture, saved whole".into(),
        }
    }

    /// A tensor is stored in a type this crate does not read.
    pub(crate) fn weights_type(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Weights {
            path: path.into(),
            message: message.into(),
            hint: "Save the checkpoint in f32, f16 or bf16 (in PyTorch: \
                   model.to(torch.float32).save_pretrained(folder))"
                .into(),
        }
    }

    /// A JSON file that does not parse as `what`.
    pub(crate) fn json(
        path: impl Into<PathBuf>,
        what: &'static str,
        source: serde_json::Error,
    ) -> Self {
        Error::InvalidJson {
            path: path.into(),
            what,
            source,
        }
    }

    /// A plot that could not be drawn, for a reason of our own.
    pub(crate) fn plot(message: impl Into<String>) -> Self {
        Error::Plot {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            message: message.into(),
        }
    }

    pub(crate) fn check_index(what: &'static str, index: usize, len: usize) -> Result<()> {
        if index < len {
            Ok(())
        } else {
            Err(Error::OutOfRange { what, index, len })
        }
    }
}

/// "layer 9 is out of range: valid values are 0..6", in the library's language.
fn out_of_range_message(what: &str, index: usize, len: usize) -> String {
    let what = name_of(what);
    say!(
        "{what} {index} is out of range: valid values are 0..{len}",
        "{what} {index} nằm ngoài phạm vi: giá trị hợp lệ là 0..{len}"
    )
}

fn empty_batch_message(what: &str) -> String {
    let what = name_of(what);
    say!(
        "the list of {what} is empty: pass at least one",
        "danh sách {what} rỗng: hãy đưa vào ít nhất một"
    )
}

/// The name of what an index or a list counts, in the library's language (the Vietnamese
/// names as the notebooks' glossary has them).
fn name_of(what: &str) -> &str {
    if language() != Language::Vi {
        return what;
    }
    match what {
        "layer" => "lớp",
        "dimension" => "chiều",
        "position" => "vị trí",
        "sequence" | "text" => "văn bản",
        "texts" => "văn bản",
        "mask" => "mask",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_names_the_valid_range() {
        let err = Error::check_index("head", 12, 12).unwrap_err();
        assert_eq!(
            err.to_string(),
            "head 12 is out of range: valid values are 0..12"
        );
        assert!(Error::check_index("head", 11, 12).is_ok());
    }
}
