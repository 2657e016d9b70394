//! Interactive views as Vega-Lite specs: JupyterLab (4 and 3.6) and VS Code draw them with the
//! Vega they bundle, as a *safe* renderer, so they are interactive in an untrusted notebook with
//! no CDN and no script of ours. Each view also carries a PNG, which code hosts and nbviewer
//! show instead.
//!
//! The specs keep their data small: the attention maps go in as one flat array of numbers
//! (rounded to 4 decimals), from which a window transform recovers layer, head, query and key.

use serde_json::{Value, json};

use super::plot::Plot;
use crate::bert::BertOutput;
use crate::error::{Error, Result};

/// The Vega-Lite version the specs are written for: JupyterLab 4 bundles 5.6, JupyterLab 3.6
/// 5.1 (which it registers under the v4 MIME type only).
pub(crate) const SCHEMA: &str = "https://vega.github.io/schema/vega-lite/v5.json";

/// The most attention values one view carries (layers × heads × tokens²): about 1 MB of spec.
/// MiniLM (6 × 12 heads) fits 55 tokens, BERT-base (12 × 12) 38.
pub const MAX_VIEW_VALUES: usize = 1 << 17;

/// Pixels per token row of the attention view.
const ROW_HEIGHT: usize = 18;

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

fn rounded(value: f32) -> f64 {
    (f64::from(value) * 1e4).round() / 1e4
}

impl BertOutput {
    /// bertviz's head view, interactive without trust: the tokens on both sides and a line from
    /// each token (left, the query) to each token it attends to (right, the key), as strong as
    /// the attention. Pick the layer and the head with the sliders; hover a token to see only
    /// its lines. Tokens of sentence B (a pair) are coloured. Sequence 0 of a batch.
    ///
    /// Texts longer than the view's budget (see [`MAX_VIEW_VALUES`]) are an error that says how
    /// long a text fits; [`attention_heatmap`](Self::attention_heatmap) shows one head of any
    /// length.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("The cat sat on the mat because it was tired.")?)?;
    /// let view = out.attention_view()?;
    /// assert_eq!(view.spec()["params"][0]["name"], "layer");
    /// assert!(view.to_vega_lite().len() < 300_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_view(&self) -> Result<VegaView> {
        self.attention_view_of(0)
    }

    /// [`attention_view`](Self::attention_view) of sequence `sequence` of a batch.
    pub fn attention_view_of(&self, sequence: usize) -> Result<VegaView> {
        let tokens = self.real_tokens(sequence)?;
        let types = self.real_type_ids(sequence)?;
        let (layers, n) = (self.attentions().len(), tokens.len());
        if layers == 0 {
            return Err(Error::invalid(
                "this output has no attention maps: make it with bert.forward, which keeps them",
            ));
        }
        let heads = self.attentions()[0].dim(1)?;
        let per_text = layers * heads;
        if per_text.saturating_mul(n * n) > MAX_VIEW_VALUES {
            let fits = ((MAX_VIEW_VALUES / per_text.max(1)) as f64).sqrt() as usize;
            return Err(Error::invalid(format!(
                "the attention view draws {layers} layers × {heads} heads × {n}² token pairs, \
                 more than it can carry ({MAX_VIEW_VALUES} values): view a text of at most \
                 {fits} tokens, or one head of this one with out.attention_heatmap(layer, head)"
            )));
        }
        let mut values = Vec::with_capacity(per_text * n * n);
        for layer in 0..layers {
            for head in 0..heads {
                for row in self.attention(sequence, layer, head)? {
                    values.extend(row.into_iter().map(rounded));
                }
            }
        }
        let token_rows: Vec<Value> = tokens
            .iter()
            .zip(types)
            .enumerate()
            .map(|(i, (t, &s))| json!({"i": i, "t": t, "s": s}))
            .collect();
        let (default_layer, default_head) = (layers - 1, 0);
        let spec = head_view_spec(&values, &token_rows, layers, heads, n, default_layer);
        let fallback = self.attention_heatmap_of(sequence, default_layer, default_head)?;
        Ok(VegaView {
            spec,
            fallback,
            description: format!(
                "Attention view: {layers} layers × {heads} heads over {n} tokens (interactive in \
                 JupyterLab and VS Code; elsewhere a picture of layer {default_layer}, head \
                 {default_head})"
            ),
        })
    }
}

/// The head view's spec: two columns of tokens, rules between them weighted by attention.
fn head_view_spec(
    values: &[f64],
    tokens: &[Value],
    layers: usize,
    heads: usize,
    n: usize,
    default_layer: usize,
) -> Value {
    let square = n * n;
    let y = json!({
        "field": "i", "type": "quantitative", "axis": null,
        "scale": {"domain": [-0.5, n as f64 - 0.5], "reverse": true}
    });
    let x_scale = json!({"domain": [0, 1]});
    // Lines show for every token while nothing is hovered, else only the hovered token's.
    let shown = "(length(data('query_store')) == 0 && length(data('key_store')) == 0) \
                 || (length(data('query_store')) > 0 && vlSelectionTest('query_store', datum)) \
                 || (length(data('key_store')) > 0 && vlSelectionTest('key_store', datum))";
    let token_colour = json!({
        "field": "s", "type": "nominal", "legend": null,
        "scale": {"domain": [0, 1], "range": ["#1f1f1f", "#b03a2e"]}
    });
    json!({
        "$schema": SCHEMA,
        "description": "Attention head view: each token (left) to the tokens it attends to (right)",
        "title": {
            "text": "Attention: pick a layer and a head; hover a token",
            "subtitle": "left: the token that attends (query); right: what it attends to (key)"
        },
        "width": 320,
        "height": ROW_HEIGHT * n,
        "params": [
            {"name": "layer", "value": default_layer,
             "bind": {"input": "range", "min": 0, "max": layers - 1, "step": 1, "name": "layer "}},
            {"name": "head", "value": 0,
             "bind": {"input": "range", "min": 0, "max": heads - 1, "step": 1, "name": "head "}}
        ],
        "layer": [
            {
                "data": {"values": values},
                "transform": [
                    {"window": [{"op": "row_number", "as": "row"}]},
                    {"calculate": "datum.row - 1", "as": "k"},
                    {"calculate": format!("floor(datum.k / {})", square * heads), "as": "l"},
                    {"calculate": format!("floor(datum.k / {square}) % {heads}"), "as": "h"},
                    {"calculate": format!("floor(datum.k / {n}) % {n}"), "as": "i"},
                    {"calculate": format!("datum.k % {n}"), "as": "j"},
                    {"filter": "datum.l == layer && datum.h == head"}
                ],
                "mark": {"type": "rule", "strokeWidth": 2.5, "color": "#2f6fd6"},
                "encoding": {
                    "x": {"datum": 0.1, "type": "quantitative", "scale": x_scale, "axis": null},
                    "x2": {"datum": 0.9},
                    "y": y,
                    "y2": {"field": "j"},
                    "opacity": {
                        "condition": {
                            "test": shown, "field": "data", "type": "quantitative",
                            "scale": {"domain": [0, 1], "range": [0, 1]}, "legend": null
                        },
                        "value": 0
                    },
                    "tooltip": [
                        {"field": "i", "title": "query"},
                        {"field": "j", "title": "key"},
                        {"field": "data", "title": "attention", "format": ".3f"}
                    ]
                }
            },
            {
                "data": {"values": tokens},
                "params": [{"name": "query", "select": {
                    "type": "point", "on": "mouseover", "clear": "mouseout", "fields": ["i"]}}],
                "mark": {"type": "text", "align": "right", "dx": -4, "fontSize": 13},
                "encoding": {
                    "x": {"datum": 0.1, "type": "quantitative", "scale": x_scale, "axis": null},
                    "y": y, "text": {"field": "t"}, "color": token_colour
                }
            },
            {
                "data": {"values": tokens},
                "transform": [{"calculate": "datum.i", "as": "j"}],
                "params": [{"name": "key", "select": {
                    "type": "point", "on": "mouseover", "clear": "mouseout", "fields": ["j"]}}],
                "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 13},
                "encoding": {
                    "x": {"datum": 0.9, "type": "quantitative", "scale": x_scale, "axis": null},
                    "y": y, "text": {"field": "t"}, "color": token_colour
                }
            }
        ],
        "config": {"view": {"stroke": null}}
    })
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
