//! The language of the library's own words in a notebook: table headers, plot titles, axis
//! labels, captions, and the frames of the error messages. English unless a notebook asks for
//! Vietnamese, with [`set_language`] or the environment variable `TRANSFORMER_NB_LANGUAGE`
//! (`en` or `vi`) where the kernel starts. The data (tokens, texts, numbers) is never
//! translated.
//!
//! ```standalone_crate
//! use transformer_nb::language::{Language, language, set_language};
//!
//! set_language(Language::Vi);
//! assert_eq!(language(), Language::Vi);
//! let plot = transformer_nb::positional_encoding(8, 16)?.heatmap();
//! assert!(plot.title().starts_with("Mã hóa vị trí"));
//! set_language(Language::En);
//! # Ok::<(), transformer_nb::Error>(())
//! ```

use std::sync::Once;

/// A language the library's words come in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Language {
    /// English, the default.
    #[default]
    En,
    /// Vietnamese (tiếng Việt).
    Vi,
}

impl Language {
    /// The language for a code such as `vi` or `en` (any case; `vi-VN`, `en_US` too).
    ///
    /// ```
    /// use transformer_nb::language::Language;
    /// assert_eq!(Language::from_code("vi-VN"), Some(Language::Vi));
    /// assert_eq!(Language::from_code("fr"), None);
    /// ```
    pub fn from_code(code: &str) -> Option<Language> {
        let primary = code.split(['-', '_']).next().unwrap_or("").trim();
        match primary.to_ascii_lowercase().as_str() {
            "en" | "english" => Some(Language::En),
            "vi" | "vietnamese" => Some(Language::Vi),
            _ => None,
        }
    }

    /// The language's code: `en`, `vi`.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Vi => "vi",
        }
    }
}

/// The environment variable that holds the language; [`set_language`] sets it.
pub const LANGUAGE_ENV: &str = "TRANSFORMER_NB_LANGUAGE";

/// Makes the library's words come in `language` from now on, in every thread. Call it at the
/// top of a notebook, as its Vietnamese notebooks do.
///
/// It sets `TRANSFORMER_NB_LANGUAGE` for the process rather than a variable of the library:
/// evcxr links the library into each cell's code separately, so a static set in one cell
/// would not be seen by the next, while the environment is the kernel process's.
pub fn set_language(language: Language) {
    // SAFETY: setting a variable races only with a read of the environment on another thread
    // at the same moment. In a notebook the other threads of the process are the kernel's,
    // which do not read it while a cell runs, and this library's worker threads, which read
    // it only inside a call (none runs while this one does).
    unsafe { std::env::set_var(LANGUAGE_ENV, language.code()) };
}

/// The language of the library's words: `TRANSFORMER_NB_LANGUAGE` (which [`set_language`]
/// sets), else English.
pub fn language() -> Language {
    language_from_env()
}

fn language_from_env() -> Language {
    let Ok(value) = std::env::var(LANGUAGE_ENV) else {
        return Language::En;
    };
    if value.trim().is_empty() {
        return Language::En;
    }
    Language::from_code(&value).unwrap_or_else(|| {
        static WARNED: Once = Once::new();
        WARNED.call_once(|| {
            eprintln!(
                "transformer-nb: {LANGUAGE_ENV}={value:?} is not one of en, vi: the library's \
                 words stay English"
            );
        });
        Language::En
    })
}

/// `format!` of the English or the Vietnamese text, as [`language`] says: both literals name
/// the same variables, e.g. `say!("layer {layer}", "lớp {layer}")`.
macro_rules! say {
    ($en:literal, $vi:literal $(,)?) => {
        match $crate::language::language() {
            $crate::language::Language::Vi => format!($vi),
            _ => format!($en),
        }
    };
}
pub(crate) use say;
