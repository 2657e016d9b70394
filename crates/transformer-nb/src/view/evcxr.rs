//! The evcxr display hooks: what a notebook cell shows when its last expression is one of our
//! values.
//!
//! evcxr calls a value's inherent `evcxr_display` method, which prints
//! `EVCXR_BEGIN_CONTENT mime/type … EVCXR_END_CONTENT` blocks on stdout; evcxr 0.22 merges a
//! cell's blocks into one MIME bundle keyed by type (`evcxr_jupyter/src/core.rs`), so a cell
//! shows one picture or table. Each hook prints a bundle built by a pure function below:
//!
//! - a picture: `text/plain` (one line), `image/png` (base64, as Jupyter stores binary data)
//!   and `image/svg+xml`. JupyterLab shows the SVG where the output is trusted (it ranks SVG
//!   above PNG) and the PNG where it is not (a notebook from git): SVG is an unsafe renderer
//!   there, PNG a safe one. Code hosts, nbviewer and VS Code show the PNG.
//! - a table: `text/plain` and `text/html` (sanitizer-safe inline styles, see `html.rs`).

use super::plot::{Plot, base64};
use super::vega::VegaView;
use crate::bert::{EncoderOutput, FillMask, LayerPredictions, ModelSummary};
use crate::embed::Embeddings;
use crate::positional::PositionalEncoding;
use crate::tokenize::{Batch, Encoding};

/// One output's MIME bundle: `(MIME type, data)` pairs, binary data base64-encoded.
#[derive(Debug)]
pub(crate) struct MimeBundle(pub Vec<(&'static str, String)>);

impl MimeBundle {
    /// A picture: plain-text description, PNG and SVG. A PNG that cannot be drawn is left out
    /// and its reason put into the text, so the cell still shows the SVG and says why.
    pub fn picture(plot: &Plot) -> Self {
        let mut text = plot.to_string();
        let mut bundle = Vec::with_capacity(3);
        match plot.to_png() {
            Ok(png) => bundle.push(("image/png", base64(&png))),
            Err(e) => text.push_str(&format!(" (no PNG: {e})")),
        }
        bundle.push(("image/svg+xml", plot.to_svg()));
        bundle.push(("text/plain", text));
        MimeBundle(bundle)
    }

    /// An interactive view: the Vega-Lite spec under the v5 MIME type (JupyterLab 4, VS Code)
    /// and the v4 one (JupyterLab 3.6 registers no v5 renderer, and its Vega-Lite 5.1 draws
    /// the spec), the PNG for everywhere else, and a line of text.
    pub fn interactive(view: &VegaView) -> Self {
        let spec = view.to_vega_lite();
        let mut text = view.to_string();
        let mut bundle = vec![
            ("application/vnd.vegalite.v5+json", spec.clone()),
            ("application/vnd.vegalite.v4+json", spec),
        ];
        match view.fallback().to_png() {
            Ok(png) => bundle.push(("image/png", base64(&png))),
            Err(e) => text.push_str(&format!(" (no PNG: {e})")),
        }
        bundle.push(("text/plain", text));
        MimeBundle(bundle)
    }

    /// A table: plain text and HTML.
    pub fn table(text: String, html: String) -> Self {
        MimeBundle(vec![("text/html", html), ("text/plain", text)])
    }

    /// The data of one MIME type.
    #[cfg(test)]
    pub fn get(&self, mime: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(m, _)| *m == mime)
            .map(|(_, data)| data.as_str())
    }

    /// Bytes of data in all MIME types together (what the notebook file stores).
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.0.iter().map(|(_, data)| data.len()).sum()
    }

    pub(crate) fn print(&self) {
        for (mime, data) in &self.0 {
            evcxr_runtime::mime_type(*mime).text(data);
        }
    }
}

/// Shows any `Debug` value as a cell's result, exactly as evcxr does, in one compile instead of
/// two.
///
/// evcxr shows a cell's last value by compiling `(value).evcxr_display()`; where the type has no
/// such method, that compile fails and evcxr compiles the cell again to print the value's
/// `Debug` text. With this trait in scope (the prelude brings it), the first compile succeeds
/// and prints the same text: a cell that ends in a number, a string or a vector answers about
/// 0.2 s sooner. A type's own (inherent) `evcxr_display`, such as our tables' and pictures',
/// comes before a trait's in Rust's method lookup, so those still show as before.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// fn shown_by_the_trait<T: DebugDisplay + ?Sized>(_: &T) -> bool {
///     true
/// }
/// // Every Debug value has it: numbers, text, vectors, tuples.
/// assert!(shown_by_the_trait(&2) && shown_by_the_trait("a") && shown_by_the_trait(&(1, vec![0.5])));
/// // What a notebook cell ending in `1 + 1` runs: prints a text/plain block with "2".
/// (1 + 1).evcxr_display();
/// ```
pub trait DebugDisplay {
    /// Prints the value's `Debug` text as evcxr's `text/plain` output.
    fn evcxr_display(&self);
}

impl<T: std::fmt::Debug + ?Sized> DebugDisplay for T {
    fn evcxr_display(&self) {
        // A cell that ends in a block of type `()` (a `for` loop, a `match` of `println!`s)
        // shows nothing, as it does in evcxr without this trait.
        if std::any::type_name::<T>() != "()" {
            evcxr_runtime::mime_type("text/plain").text(format!("{self:?}"));
        }
    }
}

impl Encoding {
    /// Shows the encoding as an HTML table in an evcxr notebook (evcxr calls this when the
    /// encoding is a cell's last expression).
    pub fn evcxr_display(&self) {
        MimeBundle::table(self.to_string(), self.to_html()).print();
    }
}

impl Batch {
    /// Shows the batch as a token grid in an evcxr notebook.
    pub fn evcxr_display(&self) {
        MimeBundle::table(self.to_string(), self.to_html()).print();
    }
}

impl EncoderOutput {
    /// Shows a table of the output shapes in an evcxr notebook.
    pub fn evcxr_display(&self) {
        let text = self
            .shapes()
            .into_iter()
            .map(|(name, shape)| format!("{name}: {shape}"))
            .collect::<Vec<_>>()
            .join("\n");
        MimeBundle::table(text, self.to_html()).print();
    }
}

impl VegaView {
    /// Shows the interactive view (with its PNG) in an evcxr notebook.
    pub fn evcxr_display(&self) {
        MimeBundle::interactive(self).print();
    }
}

impl FillMask {
    /// Shows the candidates as a table in an evcxr notebook.
    pub fn evcxr_display(&self) {
        MimeBundle::table(self.to_string(), self.to_html()).print();
    }
}

impl LayerPredictions {
    /// Shows the per-layer candidates as tables in an evcxr notebook.
    pub fn evcxr_display(&self) {
        MimeBundle::table(self.to_string(), self.to_html()).print();
    }
}

impl ModelSummary {
    /// Shows the summary table in an evcxr notebook.
    pub fn evcxr_display(&self) {
        MimeBundle::table(self.to_string(), self.to_html()).print();
    }
}

impl Embeddings {
    /// Shows the similarity heatmap in an evcxr notebook.
    pub fn evcxr_display(&self) {
        MimeBundle::picture(&self.heatmap()).print();
    }
}

impl PositionalEncoding {
    /// Shows the heatmap in an evcxr notebook.
    pub fn evcxr_display(&self) {
        MimeBundle::picture(&self.heatmap()).print();
    }
}

impl Plot {
    /// Shows the plot in an evcxr notebook: a PNG every front end shows, and an SVG for those
    /// that trust the output.
    pub fn evcxr_display(&self) {
        MimeBundle::picture(self).print();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::positional::positional_encoding;
    use crate::view::plot::tests::{brightness_spread, decode_png};

    /// The largest output a picture may add to a notebook file.
    const MAX_PICTURE_BYTES: usize = 250_000;

    fn decode_base64(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        };
        let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
        let mut out = Vec::new();
        for chunk in bytes.chunks(4) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &c)| n | (u32::from(value(c)) << (18 - 6 * i)));
            out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
        }
        out
    }

    fn check_picture(plot: &Plot, svg_must_contain: &[&str]) {
        let bundle = MimeBundle::picture(plot);
        assert!(bundle.size() < MAX_PICTURE_BYTES, "{} bytes", bundle.size());
        assert!(bundle.get("text/plain").unwrap().starts_with("Plot: "));
        let svg = bundle.get("image/svg+xml").unwrap();
        assert!(svg.starts_with("<svg"));
        for text in svg_must_contain {
            assert!(svg.contains(text), "{text} missing in the SVG");
        }
        let png = decode_base64(bundle.get("image/png").unwrap());
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let (w, h, pixels, channels) = decode_png(&png);
        assert_eq!((w, h), plot.size());
        assert!(
            brightness_spread(&pixels, channels) > 10.0,
            "{} looks blank",
            plot.title()
        );
        assert!(
            bundle.get("text/html").is_none(),
            "no HTML: it would outrank the PNG untrusted"
        );
    }

    #[test]
    fn base64_decoder_of_these_tests_inverts_the_encoder() {
        for text in [&b""[..], b"f", b"fo", b"foo", b"foobar\x89\xff"] {
            assert_eq!(decode_base64(&base64(text)), text);
        }
    }

    #[test]
    fn every_positional_picture_is_png_svg_and_text() {
        let pe = positional_encoding(50, 128).unwrap();
        check_picture(&pe.heatmap(), &["Position", "Depth"]);
        check_picture(&pe.curves(&[4, 5, 6, 7]), &["dim 4 (sin)", "dim 7 (cos)"]);
        check_picture(&pe.similarity().unwrap(), &["Dot product"]);
        let big = positional_encoding(512, 768).unwrap();
        check_picture(&big.heatmap(), &["512 positions × 768 dimensions"]);
    }

    #[test]
    fn embedding_heatmap_is_a_picture_with_vietnamese_labels() {
        let emb = Embeddings::sample("Tôi đọc một cuốn tiểu thuyết hay.", "a dog");
        check_picture(&emb.heatmap(), &["Tôi đọc một cuốn tiểu thuy", "a dog"]);
    }

    #[test]
    fn interactive_views_carry_the_spec_twice_a_png_and_a_line() {
        use crate::tensor::Tensor;
        // One layer, one head, three tokens: uniform attention.
        let probs = Tensor::from_vec(vec![1.0f32 / 3.0; 9], [1, 1, 3, 3]).unwrap();
        let hidden = Tensor::from_vec(vec![0.0; 12], [1, 3, 4]).unwrap();
        let out = EncoderOutput::new(
            vec![hidden.clone(), hidden],
            vec![probs],
            None,
            vec![vec!["[CLS]".into(), "hi".into(), "[SEP]".into()]],
            vec![vec![0, 0, 0]],
            vec![3],
        );
        let view = out.attention_view().unwrap();
        let bundle = MimeBundle::interactive(&view);
        let v5 = bundle.get("application/vnd.vegalite.v5+json").unwrap();
        assert_eq!(Some(v5), bundle.get("application/vnd.vegalite.v4+json"));
        let spec: serde_json::Value = serde_json::from_str(v5).unwrap();
        // Nine values of 1/3, four digits each.
        assert_eq!(spec["params"][0]["value"], "3333".repeat(9));
        let (w, h, pixels, channels) = decode_png(&decode_base64(bundle.get("image/png").unwrap()));
        assert_eq!((w, h), view.fallback().size());
        assert!(brightness_spread(&pixels, channels) > 20.0);
        assert!(
            bundle
                .get("text/plain")
                .unwrap()
                .starts_with("Attention view: 1 layers × 1 heads")
        );
        assert!(
            bundle.get("image/svg+xml").is_none(),
            "Vega draws it where it can"
        );
    }

    #[test]
    fn tables_are_html_and_text() {
        let enc = Encoding::sample(&["[CLS]", "x", "[SEP]"], &[1, 1, 1]);
        let bundle = MimeBundle::table(enc.to_string(), enc.to_html());
        assert!(bundle.get("text/html").unwrap().starts_with("<div"));
        assert!(bundle.get("text/plain").unwrap().contains("[CLS]"));
        assert!(bundle.get("image/png").is_none());
    }
}
