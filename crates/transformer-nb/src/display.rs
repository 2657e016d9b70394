//! Showing results in a notebook: HTML helpers, and the evcxr display hooks.
//!
//! evcxr shows a cell's last expression by calling its inherent `evcxr_display` method, which
//! prints one `EVCXR_BEGIN_CONTENT mime/type … EVCXR_END_CONTENT` block on stdout. Each method
//! here is a thin shell around a pure `to_html()` or `to_svg()` that the tests check.

use crate::bert::BertOutput;
use crate::embed::Embeddings;
use crate::plot::Plot;
use crate::positional::PositionalEncoding;
use crate::tokenize::{Batch, Encoding};

/// A plain cell.
pub(crate) const CELL: &str =
    "padding:2px 6px;border:1px solid #ddd;text-align:center;font-family:monospace";
/// A special token (`[CLS]`, `[SEP]`): tinted.
pub(crate) const SPECIAL_CELL: &str = "padding:2px 6px;border:1px solid #ddd;text-align:center;font-family:monospace;background:#e8f0fe;color:#1a4b9c;font-weight:bold";
/// Padding: greyed out.
pub(crate) const PAD_CELL: &str = "padding:2px 6px;border:1px solid #eee;text-align:center;font-family:monospace;color:#bbb;background:#f7f7f7";
/// A row or column heading.
pub(crate) const HEAD_CELL: &str =
    "padding:2px 6px;border:1px solid #ddd;background:#f2f2f2;font-weight:bold;text-align:right";

pub(crate) fn html_table_style() -> &'static str {
    "border-collapse:collapse;font-size:13px;margin:4px 0"
}

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

fn show_html(html: &str) {
    evcxr_runtime::mime_type("text/html").text(html);
}

fn show_svg(svg: &str) {
    evcxr_runtime::mime_type("image/svg+xml").text(svg);
}

macro_rules! evcxr_display {
    ($type:ty, $what:literal, |$value:ident| $show:expr) => {
        impl $type {
            #[doc = concat!("Shows ", $what, " in an evcxr notebook when it is a cell's last expression.")]
            ///
            /// ```
            /// # fn no_op() {}
            /// // evcxr calls this itself; it prints an EVCXR_BEGIN_CONTENT block on stdout.
            /// ```
            pub fn evcxr_display(&self) {
                let $value = self;
                $show
            }
        }
    };
}

evcxr_display!(Encoding, "the encoding as an HTML table", |e| show_html(
    &e.to_html()
));
evcxr_display!(Batch, "the batch as a token grid", |b| show_html(
    &b.to_html()
));
evcxr_display!(BertOutput, "a table of the output shapes", |o| show_html(
    &o.to_html()
));
evcxr_display!(Embeddings, "the similarity heatmap", |e| show_svg(
    e.heatmap().as_svg()
));
evcxr_display!(PositionalEncoding, "the heatmap", |p| show_svg(
    p.heatmap().as_svg()
));
evcxr_display!(Plot, "the plot inline", |p| show_svg(p.as_svg()));

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
}
