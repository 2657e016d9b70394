//! HTML building blocks for the tables a notebook shows.
//!
//! Notebooks from git are untrusted, and JupyterLab then sanitizes HTML outputs: no scripts,
//! no `<style>` blocks, no ids, only inline styles whose properties and values its sanitizer
//! knows. So every look here is an inline `style` of plain properties (`padding`, `border`,
//! `background-color`, `color`, `font-weight`, `text-align`, `font-family`) with hex colours,
//! which render the same trusted and untrusted.

/// A plain cell.
pub(crate) const CELL: &str =
    "padding:2px 6px;border:1px solid #dddddd;text-align:center;font-family:monospace";
/// A special token (`[CLS]`, `[SEP]`): tinted.
pub(crate) const SPECIAL_CELL: &str = "padding:2px 6px;border:1px solid #dddddd;text-align:center;font-family:monospace;background-color:#e8f0fe;color:#1a4b9c;font-weight:bold";
/// Padding: greyed out.
pub(crate) const PAD_CELL: &str = "padding:2px 6px;border:1px solid #eeeeee;text-align:center;font-family:monospace;color:#aaaaaa;background-color:#f5f5f5";
/// A row or column heading.
pub(crate) const HEAD_CELL: &str = "padding:2px 6px;border:1px solid #dddddd;background-color:#f2f2f2;font-weight:bold;text-align:right";
/// A row heading that holds text (left-aligned).
pub(crate) const TEXT_HEAD_CELL: &str = "padding:2px 6px;border:1px solid #dddddd;background-color:#f2f2f2;font-weight:bold;text-align:left";
/// A cell that holds text (left-aligned).
pub(crate) const TEXT_CELL: &str =
    "padding:2px 6px;border:1px solid #dddddd;text-align:left;font-family:monospace";
/// The table itself.
pub(crate) const TABLE: &str = "border-collapse:collapse;font-size:13px;margin:4px 0";

/// Escapes text for HTML and SVG content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, with an ellipsis when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("Tôi đọc 🤗"), "Tôi đọc 🤗");
    }

    #[test]
    fn shorten_counts_characters() {
        assert_eq!(shorten("Tôi đọc sách", 5), "Tôi …");
        assert_eq!(shorten("abc", 5), "abc");
    }

    #[test]
    fn styles_use_only_plain_properties_and_hex_colours() {
        for style in [
            CELL,
            SPECIAL_CELL,
            PAD_CELL,
            HEAD_CELL,
            TEXT_HEAD_CELL,
            TEXT_CELL,
            TABLE,
        ] {
            for declaration in style.split(';') {
                let (property, value) = declaration.split_once(':').unwrap();
                assert!(
                    !matches!(property, "background" | "font" | "margin-inline"),
                    "shorthand {property} in {style}"
                );
                assert!(
                    !value.contains("rgb(") && !value.contains("var("),
                    "{declaration}"
                );
            }
        }
    }
}
