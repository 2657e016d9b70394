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
use std::sync::atomic::{AtomicU8, Ordering};

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

/// 0 until the language is first asked for or set; then 1 + the language's index.
static CURRENT: AtomicU8 = AtomicU8::new(0);

/// The environment variable that sets the language where a notebook does not.
pub const LANGUAGE_ENV: &str = "TRANSFORMER_NB_LANGUAGE";

/// Makes the library's words come in `language` from now on, in every thread.
pub fn set_language(language: Language) {
    CURRENT.store(language as u8 + 1, Ordering::Relaxed);
}

/// The language of the library's words: the last [`set_language`], else
/// `TRANSFORMER_NB_LANGUAGE`, else English.
pub fn language() -> Language {
    match CURRENT.load(Ordering::Relaxed) {
        0 => {
            let from_env = language_from_env();
            // A set_language() in between wins.
            let _ = CURRENT.compare_exchange(
                0,
                from_env as u8 + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            language()
        }
        2 => Language::Vi,
        _ => Language::En,
    }
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
