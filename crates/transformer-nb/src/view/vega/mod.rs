//! Interactive views as Vega-Lite specs: JupyterLab (4 and 3.6) and VS Code draw them with the
//! Vega they bundle, as a *safe* renderer, so they are interactive in an untrusted notebook with
//! no CDN and no script of ours. Each view also carries a PNG, which code hosts and nbviewer
//! show instead.
//!
//! The specs keep their data small: the attention maps go in once, as one string of 4-digit
//! numbers (each probability × 9999, rounded) in a parameter; a sequence of row numbers and a few
//! transforms recover layer, head, query, key and the value. As a string the data stays one line
//! in a notebook file, where a JSON array would take a line per number.

use serde_json::Value;

use super::plot::Plot;

mod attention;
mod generation;
mod layers;
mod neuron;
mod next_token;

pub use layers::MAX_LENS_CELLS;
pub use next_token::MAX_NEXT_TOKENS;

/// The Vega-Lite version the specs are written for: JupyterLab 4 bundles 5.6, JupyterLab 3.6
/// 5.1 (which it registers under the v4 MIME type only).
pub(crate) const SCHEMA: &str = "https://vega.github.io/schema/vega-lite/v5.json";

/// The most attention values one view carries (layers × heads × tokens²): about 1 MB of spec.
/// MiniLM (6 × 12 heads) fits 55 tokens, BERT-base (12 × 12) 38.
pub const MAX_VIEW_VALUES: usize = 1 << 17;

/// An interactive chart: a Vega-Lite spec, and a PNG for where no Vega renders.
///
/// In a notebook it shows as one output whose MIME bundle holds the spec (as
/// `application/vnd.vegalite.v5+json` for JupyterLab 4 and VS Code, and v4 for JupyterLab 3.6),
/// the PNG and a line of text.
#[derive(Debug, Clone)]
pub struct VegaView {
    spec: Value,
    fallback: Plot,
    description: String,
}

impl VegaView {
    /// The Vega-Lite spec.
    pub fn spec(&self) -> &Value {
        &self.spec
    }

    /// The spec as JSON text, e.g. to save as a `.vl.json` file for the Vega editor.
    pub fn to_vega_lite(&self) -> String {
        self.spec.to_string()
    }

    /// The static picture shown where the interactive chart cannot be.
    pub fn fallback(&self) -> &Plot {
        &self.fallback
    }

    /// One line: what the view shows.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl std::fmt::Display for VegaView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

pub(crate) fn rounded(value: f32) -> f64 {
    (f64::from(value) * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_four_decimals() {
        assert_eq!(rounded(0.123_456), 0.1235);
        assert_eq!(rounded(1.0), 1.0);
        assert_eq!(rounded(0.0), 0.0);
    }
}
