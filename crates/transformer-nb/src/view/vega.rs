//! Interactive views as Vega-Lite specs: JupyterLab (4 and 3.6) and VS Code draw them with the
//! Vega they bundle, as a *safe* renderer, so they are interactive in an untrusted notebook with
//! no CDN and no script of ours. Each view also carries a PNG, which code hosts and nbviewer
//! show instead.
//!
//! The specs keep their data small: the attention maps go in once, as one string of 4-digit
//! numbers (each probability × 9999, rounded) in a parameter; a sequence of row numbers and a few
//! transforms recover layer, head, query, key and the value. As a string the data stays one line
//! in a notebook file, where a JSON array would take a line per number.

use serde_json::{Value, json};

use super::plot::{Colormap, Figure, HeatmapSpec, LineChart, Plot, Series};
use crate::bert::{AttentionHead, Bert, BertOutput, LayerPredictions};
use crate::error::{Error, Result};
use crate::tokenize::Encoding;

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
    /// assert_eq!(view.spec()["params"][1]["name"], "layer");
    /// assert!(view.to_vega_lite().len() < 300_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_view(&self) -> Result<VegaView> {
        self.attention_view_of(0)
    }

    /// [`attention_view`](Self::attention_view) of sequence `sequence` of a batch.
    pub fn attention_view_of(&self, sequence: usize) -> Result<VegaView> {
        let data = AttentionData::of(self, sequence, "attention view")?;
        let default_layer = data.layers - 1;
        let spec = head_view_spec(&data, default_layer);
        Ok(VegaView {
            spec,
            fallback: self.attention_heatmap_of(sequence, default_layer, 0)?,
            description: format!(
                "Attention view: {} layers × {} heads over {} tokens (interactive in JupyterLab \
                 and VS Code; elsewhere a picture of layer {default_layer}, head 0)",
                data.layers, data.heads, data.n
            ),
        })
    }

    /// bertviz's model view: every head of every layer as a small picture of its attention (a
    /// row per layer, a column per head); click one to see it enlarged below, with its tokens.
    /// Same limits as [`attention_view`](Self::attention_view); sequence 0 of a batch.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// let view = out.model_view()?;
    /// assert!(view.to_string().contains("6 layers × 12 heads"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn model_view(&self) -> Result<VegaView> {
        let data = AttentionData::of(self, 0, "model view")?;
        let spec = model_view_spec(&data);
        Ok(VegaView {
            spec,
            fallback: self.attention_heads(data.layers - 1)?,
            description: format!(
                "Model view: {} layers × {} heads over {} tokens, click a head to enlarge it \
                 (interactive in JupyterLab and VS Code; elsewhere a picture of layer {}'s heads)",
                data.layers,
                data.heads,
                data.n,
                data.layers - 1
            ),
        })
    }
}

/// Digits per attention value in the views' data string.
const DIGITS: usize = 4;
/// What 1.0 becomes in those digits.
const FULL: f32 = 9999.0;

/// The attention maps of one sequence, flattened `[layer][head][query][key]` as a string of
/// [`DIGITS`]-digit numbers, and its tokens.
struct AttentionData {
    encoded: String,
    tokens: Vec<Value>,
    layers: usize,
    heads: usize,
    n: usize,
}

impl AttentionData {
    /// `view` names the view in the error for a text too long to carry.
    fn of(out: &BertOutput, sequence: usize, view: &str) -> Result<Self> {
        let tokens = out.real_tokens(sequence)?;
        let types = out.real_type_ids(sequence)?;
        let (layers, n) = (out.attentions().len(), tokens.len());
        if layers == 0 {
            return Err(Error::invalid(
                "this output has no attention maps: make it with bert.forward, which keeps them",
            ));
        }
        let heads = out.attentions()[0].dim(1)?;
        let per_text = layers * heads;
        if per_text.saturating_mul(n * n) > MAX_VIEW_VALUES {
            let fits = ((MAX_VIEW_VALUES / per_text.max(1)) as f64).sqrt() as usize;
            return Err(Error::invalid(format!(
                "the {view} draws {layers} layers × {heads} heads × {n}² token pairs, more than \
                 it can carry ({MAX_VIEW_VALUES} values): view a text of at most {fits} tokens, \
                 or one head of this one with out.attention_heatmap(layer, head)"
            )));
        }
        let mut encoded = String::with_capacity(per_text * n * n * DIGITS);
        for layer in 0..layers {
            for head in 0..heads {
                for row in out.attention(sequence, layer, head)? {
                    for p in row {
                        let digits = (p.clamp(0.0, 1.0) * FULL).round() as u32;
                        encoded.push_str(&format!("{digits:04}"));
                    }
                }
            }
        }
        let tokens = tokens
            .iter()
            .zip(types)
            .enumerate()
            .map(|(i, (t, &s))| json!({"i": i, "t": t, "s": s}))
            .collect();
        Ok(AttentionData {
            encoded,
            tokens,
            layers,
            heads,
            n,
        })
    }

    /// The spec's named datasets: the tokens, stored once however many charts read them.
    fn datasets(&self) -> Value {
        json!({"tokens": self.tokens})
    }

    /// The parameter that holds the attention values, encoded.
    fn param(&self) -> Value {
        json!({"name": "attention", "value": self.encoded})
    }

    /// A row per attention value: `k` from 0.
    fn rows(&self) -> Value {
        let count = self.encoded.len() / DIGITS;
        json!({"sequence": {"start": 0, "stop": count, "as": "k"}})
    }

    /// The transform that decodes value `k` into `w`.
    fn weight() -> Value {
        json!({
            "calculate": format!(
                "toNumber(substring(attention, {DIGITS} * datum.k, {DIGITS} * datum.k + {DIGITS})) / {FULL}"
            ),
            "as": "w"
        })
    }

    /// Transforms that recover layer `l`, head `h`, query `i` and key `j` of row `k`.
    fn indices(&self) -> Vec<Value> {
        let (n, square, heads) = (self.n, self.n * self.n, self.heads);
        vec![
            json!({"calculate": format!("floor(datum.k / {})", square * heads), "as": "l"}),
            json!({"calculate": format!("floor(datum.k / {square}) % {heads}"), "as": "h"}),
            json!({"calculate": format!("floor(datum.k / {n}) % {n}"), "as": "i"}),
            json!({"calculate": format!("datum.k % {n}"), "as": "j"}),
        ]
    }
}

/// The y encoding of the token rows: token 0 at the top.
fn token_rows(n: usize) -> Value {
    json!({
        "field": "i", "type": "quantitative", "axis": null,
        "scale": {"domain": [-0.5, n as f64 - 0.5], "reverse": true}
    })
}

/// The layers of a head view over `data`'s rows that pass `filter` (an expression): the lines,
/// and the tokens on both sides. Hovering a token shows only its lines.
fn head_view_layers(data: &AttentionData, filter: Value) -> Vec<Value> {
    let y = token_rows(data.n);
    let x_scale = json!({"domain": [0, 1]});
    // Lines show for every token while nothing is hovered, else only the hovered token's.
    let shown = "(length(data('query_store')) == 0 && length(data('key_store')) == 0) \
                 || (length(data('query_store')) > 0 && vlSelectionTest('query_store', datum)) \
                 || (length(data('key_store')) > 0 && vlSelectionTest('key_store', datum))";
    let token_colour = json!({
        "field": "s", "type": "nominal", "legend": null,
        "scale": {"domain": [0, 1], "range": ["#1f1f1f", "#b03a2e"]}
    });
    let mut transform = data.indices();
    transform.push(json!({"filter": filter}));
    transform.push(AttentionData::weight());
    vec![
        json!({
            "data": data.rows(),
            "transform": transform,
            "mark": {"type": "rule", "strokeWidth": 2.5, "color": "#2f6fd6"},
            "encoding": {
                "x": {"datum": 0.1, "type": "quantitative", "scale": x_scale, "axis": null},
                "x2": {"datum": 0.9},
                "y": y,
                "y2": {"field": "j"},
                "opacity": {
                    "condition": {
                        "test": shown, "field": "w", "type": "quantitative",
                        "scale": {"domain": [0, 1], "range": [0, 1]}, "legend": null
                    },
                    "value": 0
                },
                "tooltip": [
                    {"field": "l", "title": "layer"},
                    {"field": "h", "title": "head"},
                    {"field": "i", "title": "query"},
                    {"field": "j", "title": "key"},
                    {"field": "w", "title": "attention", "format": ".3f"}
                ]
            }
        }),
        json!({
            "data": {"name": "tokens"},
            "params": [{"name": "query", "select": {
                "type": "point", "on": "mouseover", "clear": "mouseout", "fields": ["i"]}}],
            "mark": {"type": "text", "align": "right", "dx": -4, "fontSize": 13},
            "encoding": {
                "x": {"datum": 0.1, "type": "quantitative", "scale": x_scale, "axis": null},
                "y": y, "text": {"field": "t"}, "color": token_colour
            }
        }),
        json!({
            "data": {"name": "tokens"},
            "transform": [{"calculate": "datum.i", "as": "j"}],
            "params": [{"name": "key", "select": {
                "type": "point", "on": "mouseover", "clear": "mouseout", "fields": ["j"]}}],
            "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 13},
            "encoding": {
                "x": {"datum": 0.9, "type": "quantitative", "scale": x_scale, "axis": null},
                "y": y, "text": {"field": "t"}, "color": token_colour
            }
        }),
    ]
}

/// The head view's spec: sliders for the layer and the head over one head view.
fn head_view_spec(data: &AttentionData, default_layer: usize) -> Value {
    json!({
        "$schema": SCHEMA,
        "description": "Attention head view: each token (left) to the tokens it attends to (right)",
        "title": {
            "text": "Attention: pick a layer and a head; hover a token",
            "subtitle": "left: the token that attends (query); right: what it attends to (key)"
        },
        "width": 320,
        "height": ROW_HEIGHT * data.n,
        "params": [
            data.param(),
            {"name": "layer", "value": default_layer,
             "bind": {"input": "range", "min": 0, "max": data.layers - 1, "step": 1, "name": "layer "}},
            {"name": "head", "value": 0,
             "bind": {"input": "range", "min": 0, "max": data.heads - 1, "step": 1, "name": "head "}}
        ],
        "datasets": data.datasets(),
        "layer": head_view_layers(data, json!("datum.l == layer && datum.h == head")),
        "config": {"view": {"stroke": null}}
    })
}

/// Side of one small picture in the model view, in pixels.
const THUMBNAIL: usize = 44;

/// The model view's spec: a grid of every layer × head (lines only), and below it the head
/// picked by a click, enlarged with its tokens.
fn model_view_spec(data: &AttentionData) -> Value {
    let n = data.n;
    let mut grid_transform = data.indices();
    grid_transform.push(AttentionData::weight());
    // Thumbnails leave out the faintest lines: they would not show at this size.
    grid_transform.push(json!({"filter": "datum.w >= 0.02"}));
    let thumbnail_y = json!({
        "field": "i", "type": "quantitative", "axis": null,
        "scale": {"domain": [-0.5, n as f64 - 0.5], "reverse": true}
    });
    let x_scale = json!({"domain": [0, 1]});
    let picked = json!({"l": data.layers - 1, "h": 0});
    json!({
        "$schema": SCHEMA,
        "description": "Attention model view: every head of every layer; click one to enlarge it",
        "title": {
            "text": "Every head of every layer: click one to enlarge it below",
            "subtitle": "rows: layers; columns: heads; in each, lines from each token to those it attends to"
        },
        "datasets": data.datasets(),
        "params": [data.param()],
        "vconcat": [
            {
                "data": data.rows(),
                "transform": grid_transform,
                "facet": {
                    "row": {"field": "l", "type": "ordinal", "title": "layer",
                            "header": {"labelFontSize": 11}},
                    "column": {"field": "h", "type": "ordinal", "title": "head",
                               "header": {"labelFontSize": 11}}
                },
                "spec": {
                    "width": THUMBNAIL,
                    "height": THUMBNAIL,
                    "layer": [
                        {
                            "transform": [{"aggregate": [{"op": "count", "as": "lines"}],
                                           "groupby": ["l", "h"]}],
                            "params": [{"name": "pick", "value": [picked],
                                        "select": {"type": "point", "fields": ["l", "h"],
                                                   "on": "click", "clear": false}}],
                            "mark": {"type": "rect", "cursor": "pointer"},
                            "encoding": {
                                "x": {"datum": 0, "type": "quantitative", "scale": x_scale,
                                      "axis": null},
                                "x2": {"datum": 1},
                                "y": {"datum": -0.5, "type": "quantitative",
                                      "scale": {"domain": [-0.5, n as f64 - 0.5],
                                                "reverse": true}, "axis": null},
                                "y2": {"datum": n as f64 - 0.5},
                                "fill": {"condition": {"param": "pick", "empty": false,
                                                       "value": "#fff3c4"},
                                         "value": "#ffffff"},
                                "tooltip": [{"field": "l", "title": "layer"},
                                            {"field": "h", "title": "head"}]
                            }
                        },
                        {
                            "mark": {"type": "rule", "strokeWidth": 1, "color": "#2f6fd6"},
                            "encoding": {
                                "x": {"datum": 0.05, "type": "quantitative", "scale": x_scale,
                                      "axis": null},
                                "x2": {"datum": 0.95},
                                "y": thumbnail_y,
                                "y2": {"field": "j"},
                                "opacity": {"field": "w", "type": "quantitative",
                                            "scale": {"domain": [0, 1], "range": [0, 1]},
                                            "legend": null}
                            }
                        }
                    ]
                },
                "spacing": 3
            },
            {
                "title": "The picked head (hover a token to see only its lines)",
                "width": 320,
                "height": ROW_HEIGHT * n,
                "layer": head_view_layers(data, json!({"param": "pick"}))
            }
        ],
        "config": {"view": {"stroke": "#dddddd"}}
    })
}

impl LayerPredictions {
    /// The per-layer predictions as an interactive view: for each layer (rows), the top
    /// candidates (columns) shaded by probability, and beside it how the last layer's candidates
    /// rose through the layers. Hover a token to follow it; with several masks, pick one.
    /// Elsewhere than JupyterLab and VS Code, a picture of the first mask's curves.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let view = LayerPredictions::sample().view();
    /// assert_eq!(view.spec()["datasets"]["paths"][0]["t"], "novel");
    /// ```
    pub fn view(&self) -> VegaView {
        let mut grid = Vec::new();
        let mut paths = Vec::new();
        for mask in 0..self.mask_count() {
            for (layer, candidates) in self.layers(mask).iter().enumerate() {
                for (rank, (token, p)) in candidates.iter().enumerate() {
                    grid.push(json!({"m": mask, "l": layer, "r": rank + 1, "t": token,
                                     "p": rounded(*p)}));
                }
            }
            for (token, path) in self.trajectories(mask) {
                for (layer, p) in path.iter().enumerate() {
                    paths.push(json!({"m": mask, "l": layer, "t": token, "p": rounded(*p)}));
                }
            }
        }
        let layers = self.layers(0).len();
        let masks = self.mask_count();
        let mask_param = if masks > 1 {
            json!({"name": "mask", "value": 0, "bind": {
                "input": "select",
                "options": (0..masks).collect::<Vec<_>>(),
                "labels": (1..=masks).map(|m| format!("[MASK] {m}")).collect::<Vec<_>>(),
                "name": "mask "}})
        } else {
            json!({"name": "mask", "value": 0})
        };
        let layer_axis = json!({
            "title": null,
            "labelExpr": "datum.value == 0 ? 'embeddings' : 'layer ' + datum.value"
        });
        let spec = json!({
            "$schema": SCHEMA,
            "description": "The masked-LM head applied to every layer's hidden state at the mask",
            "title": {
                "text": format!("What the model would guess for [MASK] after each layer: {}",
                                self.text()),
                "subtitle": "hover a token to follow it through the layers"
            },
            "datasets": {"grid": grid, "paths": paths},
            "params": [mask_param],
            "hconcat": [
                {
                    "data": {"name": "grid"},
                    "transform": [{"filter": "datum.m == mask"}],
                    "width": {"step": 78},
                    "height": {"step": 24},
                    "encoding": {
                        "x": {"field": "r", "type": "ordinal", "title": "rank",
                              "axis": {"orient": "top", "labelAngle": 0}},
                        "y": {"field": "l", "type": "ordinal", "axis": layer_axis}
                    },
                    "layer": [
                        {
                            "params": [{"name": "follow", "select": {
                                "type": "point", "fields": ["t"], "on": "mouseover",
                                "clear": "mouseout"}}],
                            "mark": {"type": "rect", "stroke": "#ffffff"},
                            "encoding": {
                                "color": {"field": "p", "type": "quantitative",
                                          "title": "probability",
                                          "scale": {"scheme": "blues", "domain": [0, 1]}},
                                "strokeWidth": {"condition": {"param": "follow", "empty": false, "value": 3},
                                                "value": 0.5},
                                "stroke": {"condition": {"param": "follow", "empty": false, "value": "#d62728"},
                                           "value": "#ffffff"},
                                "tooltip": [{"field": "t", "title": "token"},
                                            {"field": "p", "title": "probability",
                                             "format": ".1%"}]
                            }
                        },
                        {
                            "mark": {"type": "text", "fontSize": 11, "limit": 74},
                            "encoding": {
                                "text": {"field": "t"},
                                "color": {"condition": {"test": "datum.p > 0.5",
                                                        "value": "#ffffff"},
                                          "value": "#000000"}
                            }
                        }
                    ]
                },
                {
                    "data": {"name": "paths"},
                    "transform": [{"filter": "datum.m == mask"}],
                    "width": 300,
                    "height": {"step": 24},
                    "mark": {"type": "line", "point": true},
                    "encoding": {
                        "y": {"field": "l", "type": "ordinal", "axis": layer_axis},
                        "x": {"field": "p", "type": "quantitative", "title": "probability",
                              "axis": {"format": ".0%", "orient": "top"}},
                        "color": {"field": "t", "type": "nominal", "title": "last layer's guesses",
                                  "sort": null},
                        "strokeWidth": {"condition": {"param": "follow", "empty": false, "value": 4},
                                        "value": 1.5},
                        "tooltip": [{"field": "t", "title": "token"},
                                    {"field": "p", "title": "probability", "format": ".1%"}]
                    }
                }
            ],
            "resolve": {"scale": {"color": "independent", "y": "shared"}},
            "config": {"view": {"stroke": null}}
        });
        VegaView {
            spec,
            fallback: self.trajectory_plot(),
            description: format!(
                "Per-layer predictions for {} mask(s) over {} layers (interactive in JupyterLab \
                 and VS Code; elsewhere a picture of the first mask's guesses by layer)",
                masks,
                layers.saturating_sub(1)
            ),
        }
    }

    /// The last layer's candidates for the first mask, their probability after each layer.
    fn trajectory_plot(&self) -> Plot {
        let series = self
            .trajectories(0)
            .iter()
            .map(|(token, path)| Series {
                label: token.clone(),
                points: path
                    .iter()
                    .enumerate()
                    .map(|(layer, &p)| (layer as f64, f64::from(p)))
                    .collect(),
            })
            .collect();
        let chart = LineChart {
            title: "The last layer's guesses for [MASK], by layer (0: the embeddings)".into(),
            x_desc: "Layer".into(),
            y_desc: "Probability".into(),
            series,
        };
        Plot::new(Figure::Lines(chart), (760, 380))
    }
}

impl Bert {
    /// bertviz's neuron view of head `head` of layer `layer`: for the query token picked in the
    /// menu, its query vector `q`, every token's key vector `k`, their elementwise product, the
    /// scores `q · k / √d` and their softmax (the attention), all computed from the vectors in
    /// the view. For any checkpoint this library loads; see [`Bert::attention_head`].
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let enc = bert.tokenizer().encode("I read a good novel.")?;
    /// let view = bert.neuron_view(&enc, 2, 5)?;
    /// assert_eq!(view.spec()["datasets"]["keys"].as_array().unwrap().len(), 8 * 32);
    /// assert!(bert.neuron_view(&enc, 6, 0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn neuron_view(&self, encoding: &Encoding, layer: usize, head: usize) -> Result<VegaView> {
        Ok(self.attention_head(encoding, layer, head)?.view())
    }
}

impl AttentionHead {
    /// The [neuron view](Bert::neuron_view) of this head.
    pub fn view(&self) -> VegaView {
        let n = self.tokens().len();
        let d = self.queries().first().map_or(0, Vec::len);
        let round_all = |rows: &[Vec<f32>]| -> Vec<Vec<f64>> {
            rows.iter()
                .map(|row| row.iter().copied().map(rounded).collect())
                .collect()
        };
        let keys: Vec<f64> = self.keys().iter().flatten().copied().map(rounded).collect();
        let labels: Vec<String> = self
            .tokens()
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{i}: {t}"))
            .collect();
        let token_axis = json!({"title": null, "labelExpr": "T[datum.value]"});
        let dims = json!({"field": "c", "type": "ordinal", "title": "dimension",
                          "axis": {"labels": false, "ticks": false}});
        let diverging = |title: &str| {
            json!({"type": "quantitative", "title": title,
            "scale": {"scheme": "redblue", "domainMid": 0, "reverse": true}})
        };
        let colour = |field: &str, title: &str| {
            let mut c = diverging(title);
            c["field"] = json!(field);
            c
        };
        let tokens_y = json!({"field": "j", "type": "ordinal", "axis": token_axis});
        let spec = json!({
            "$schema": SCHEMA,
            "description": "Neuron view: how one head turns queries and keys into attention",
            "title": {
                "text": format!("Layer {}, head {}: how the picked token's query meets every key",
                                self.layer(), self.head()),
                "subtitle": format!("d = {d} dimensions per head; red: positive, blue: negative")
            },
            "params": [
                {"name": "query", "value": 0, "bind": {
                    "input": "select", "options": (0..n).collect::<Vec<_>>(), "labels": labels,
                    "name": "query token "}},
                {"name": "Q", "value": round_all(self.queries())},
                {"name": "T", "value": self.tokens()}
            ],
            "datasets": {"keys": keys},
            "data": {"name": "keys"},
            "transform": [
                {"window": [{"op": "row_number", "as": "row"}]},
                {"calculate": format!("floor((datum.row - 1) / {d})"), "as": "j"},
                {"calculate": format!("(datum.row - 1) % {d}"), "as": "c"},
                {"calculate": "datum.data", "as": "k"},
                {"calculate": "Q[query][datum.c]", "as": "q"},
                {"calculate": "datum.q * datum.k", "as": "qk"}
            ],
            "vconcat": [
                {
                    "title": {"text": "q: the query of the picked token", "anchor": "start",
                              "fontSize": 12},
                    "transform": [{"filter": "datum.j == 0"}],
                    "width": {"step": 9}, "height": 14,
                    "mark": "rect",
                    "encoding": {"x": dims, "color": colour("q", "q"),
                                 "tooltip": [{"field": "c", "title": "dimension"},
                                             {"field": "q", "format": ".3f"}]}
                },
                {
                    "hconcat": [
                        {
                            "title": {"text": "k: each token's key", "fontSize": 12},
                            "width": {"step": 9}, "height": {"step": 18},
                            "mark": "rect",
                            "encoding": {"x": dims, "y": tokens_y, "color": colour("k", "k"),
                                         "tooltip": [{"field": "c", "title": "dimension"},
                                                     {"field": "k", "format": ".3f"}]}
                        },
                        {
                            "title": {"text": "q × k, dimension by dimension", "fontSize": 12},
                            "width": {"step": 9}, "height": {"step": 18},
                            "mark": "rect",
                            "encoding": {"x": dims, "y": tokens_y,
                                         "color": colour("qk", "q × k"),
                                         "tooltip": [{"field": "c", "title": "dimension"},
                                                     {"field": "qk", "format": ".3f"}]}
                        },
                        {
                            "title": {"text": "q · k / √d", "fontSize": 12},
                            "transform": [
                                {"aggregate": [{"op": "sum", "field": "qk", "as": "dot"}],
                                 "groupby": ["j"]},
                                {"calculate": format!("datum.dot / sqrt({d})"), "as": "score"}
                            ],
                            "width": 110, "height": {"step": 18},
                            "mark": {"type": "bar", "color": "#8c6bb1"},
                            "encoding": {"y": tokens_y,
                                         "x": {"field": "score", "type": "quantitative",
                                               "title": null},
                                         "tooltip": [{"field": "score", "format": ".3f"}]}
                        },
                        {
                            "title": {"text": "softmax: the attention", "fontSize": 12},
                            "transform": [
                                {"aggregate": [{"op": "sum", "field": "qk", "as": "dot"}],
                                 "groupby": ["j"]},
                                {"calculate": format!("datum.dot / sqrt({d})"), "as": "score"},
                                {"joinaggregate": [{"op": "max", "field": "score", "as": "top"}]},
                                {"calculate": "exp(datum.score - datum.top)", "as": "e"},
                                {"joinaggregate": [{"op": "sum", "field": "e", "as": "total"}]},
                                {"calculate": "datum.e / datum.total", "as": "attention"}
                            ],
                            "width": 110, "height": {"step": 18},
                            "mark": {"type": "bar", "color": "#2f6fd6"},
                            "encoding": {"y": tokens_y,
                                         "x": {"field": "attention", "type": "quantitative",
                                               "title": null, "scale": {"domain": [0, 1]}},
                                         "tooltip": [{"field": "attention", "format": ".3f"}]}
                        }
                    ],
                    "resolve": {"scale": {"color": "independent"}}
                }
            ],
            "resolve": {"scale": {"color": "independent"}},
            "config": {
                "view": {"stroke": null},
                "legend": {"orient": "bottom", "direction": "horizontal", "gradientLength": 110}
            }
        });
        let attention: Vec<f32> = self.attention().into_iter().flatten().collect();
        let side = (28 * n as u32 + 220).clamp(360, 900);
        let heatmap = HeatmapSpec::new(attention, n, n)
            .title(format!(
                "Attention, layer {}, head {} (rows attend to columns)",
                self.layer(),
                self.head()
            ))
            .axes("key", "query")
            .labels(Some(self.tokens().to_vec()))
            .colors(Colormap::Viridis, (0.0, 1.0));
        VegaView {
            spec,
            fallback: Plot::new(Figure::Heatmap(heatmap), (side + 160, side + 40)),
            description: format!(
                "Neuron view: layer {}, head {}, {n} tokens × {d} dimensions (interactive in \
                 JupyterLab and VS Code; elsewhere a picture of the head's attention)",
                self.layer(),
                self.head()
            ),
        }
    }
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
