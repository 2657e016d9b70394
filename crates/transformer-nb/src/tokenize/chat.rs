//! Chat templates: a conversation as the text a model was trained on.

use crate::error::{Error, Result};

/// One message of a conversation: who speaks (`role`: "system", "user", "assistant") and what.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let message = ChatMessage::user("Hi!");
/// assert_eq!(message.role, "user");
/// assert_eq!(message.content, "Hi!");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who speaks: "system", "user" or "assistant".
    pub role: String,
    /// What is said.
    pub content: String,
}

impl ChatMessage {
    /// A message of any role.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(ChatMessage::new("tool", "42").role, "tool");
    /// ```
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    /// The instructions that frame the conversation.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(ChatMessage::system("Be brief.").role, "system");
    /// ```
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// What the user says.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(ChatMessage::user("Hi!").role, "user");
    /// ```
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// What the model answered.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(ChatMessage::assistant("Hello!").role, "assistant");
    /// ```
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// The special tokens a template may name (`bos_token`, `eos_token`, `pad_token`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SpecialTokens<'a> {
    pub bos: Option<&'a str>,
    pub eos: Option<&'a str>,
    pub pad: Option<&'a str>,
}

pub(super) fn render(
    _template: &str,
    _messages: &[ChatMessage],
    _add_generation_prompt: bool,
    _special: SpecialTokens,
) -> Result<String> {
    Err(Error::Tokenizer("not yet".into()))
}
