//! bertviz's head view and model view, for an encoder's or a decoder's attention.

use crate::language::say;
use serde_json::{Value, json};

use super::{MAX_VIEW_VALUES, SCHEMA, VegaView};
use crate::bert::EncoderOutput;
use crate::error::{Error, Result};
use crate::models::CausalLmOutput;
use crate::view::decoder::token_label;

/// Pixels per token row of the attention view.
const ROW_HEIGHT: usize = 18;

impl EncoderOutput {
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
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
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
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// let view = out.model_view()?;
    /// assert!(view.to_string().contains("2 layers × 4 heads"));
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

impl CausalLmOutput {
    /// bertviz's head view of a decoder's (causal) attention, interactive without trust: a
    /// line from each token (left) to itself and each earlier token it attends to (right), as
    /// strong as the attention; sliders for the layer and the head, hover a token to see only
    /// its lines. Text 0 of a batch. Decoders attend only leftwards, so the view carries the
    /// lower triangle of each map; texts longer than its budget ([`MAX_VIEW_VALUES`]) are an
    /// error that says how long a text fits (SmolLM2's 30 × 9 heads: 30 tokens).
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// # let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let out = lm.forward(&lm.tokenizer().encode("The cat sat on the mat because it was tired.")?)?;
    /// let view = out.attention_view()?;
    /// assert_eq!(view.spec()["params"][1]["name"], "layer");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_view(&self) -> Result<VegaView> {
        let data = AttentionData::of_decoder(self, "attention view")?;
        let default_layer = data.layers - 1;
        Ok(VegaView {
            spec: head_view_spec(&data, default_layer),
            fallback: self.attention_heatmap(default_layer, 0)?,
            description: format!(
                "Attention view (causal): {} layers × {} heads over {} tokens (interactive in \
                 JupyterLab and VS Code; elsewhere a picture of layer {default_layer}, head 0)",
                data.layers, data.heads, data.n
            ),
        })
    }

    /// bertviz's model view of a decoder: every head of every layer as a small picture of its
    /// (causal) attention; click one to see it enlarged below. Same limits as
    /// [`attention_view`](Self::attention_view).
    pub fn model_view(&self) -> Result<VegaView> {
        let data = AttentionData::of_decoder(self, "model view")?;
        let last = data.layers - 1;
        Ok(VegaView {
            spec: model_view_spec(&data),
            fallback: self.attention_heads(last)?,
            description: format!(
                "Model view (causal): {} layers × {} heads over {} tokens, click a head to \
                 enlarge it (interactive in JupyterLab and VS Code; elsewhere a picture of layer \
                 {last}'s heads)",
                data.layers, data.heads, data.n
            ),
        })
    }
}

/// Digits per attention value in the views' data string.
const DIGITS: usize = 4;
/// What 1.0 becomes in those digits.
const FULL: f32 = 9999.0;

/// The attention maps of one sequence, flattened `[layer][head][query][key]` as a string of
/// [`DIGITS`]-digit numbers, and its tokens. A decoder's maps carry only the lower triangle
/// (keys up to the query): the rest is zero by the causal mask, and leaving it out lets a view
/// carry texts about 1.4 times as long.
struct AttentionData {
    encoded: String,
    tokens: Vec<Value>,
    layers: usize,
    heads: usize,
    n: usize,
    causal: bool,
}

impl AttentionData {
    /// `view` names the view in the error for a text too long to carry.
    fn of(out: &EncoderOutput, sequence: usize, view: &str) -> Result<Self> {
        let tokens = out.real_tokens(sequence)?;
        let types = out.real_type_ids(sequence)?;
        if out.attentions().is_empty() {
            return Err(Error::invalid(
                "this output has no attention maps: make it with bert.forward, which keeps them",
            ));
        }
        let heads = out.attentions()[0].dim(1)?;
        let tokens = tokens
            .iter()
            .zip(types)
            .enumerate()
            .map(|(i, (t, &s))| json!({"i": i, "t": t, "s": s}))
            .collect();
        Self::from_maps(
            tokens,
            out.attentions().len(),
            heads,
            false,
            view,
            |l, h| out.attention(sequence, l, h),
        )
    }

    /// The maps of a decoder's output (text 0).
    fn of_decoder(out: &CausalLmOutput, view: &str) -> Result<Self> {
        let tokens = out
            .real_texts()
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"i": i, "t": token_label(t), "s": 0}))
            .collect();
        let (layers, heads) = (out.attentions().len(), out.config().heads);
        Self::from_maps(tokens, layers, heads, true, view, |l, h| {
            out.attention(l, h)
        })
    }

    fn from_maps(
        tokens: Vec<Value>,
        layers: usize,
        heads: usize,
        causal: bool,
        view: &str,
        map: impl Fn(usize, usize) -> Result<Vec<Vec<f32>>>,
    ) -> Result<Self> {
        let n = tokens.len();
        if layers == 0 || heads == 0 {
            return Err(Error::invalid("this output has no attention maps to draw"));
        }
        let per_text = layers * heads;
        let pairs = if causal { n * (n + 1) / 2 } else { n * n };
        if per_text.saturating_mul(pairs) > MAX_VIEW_VALUES {
            let budget = (MAX_VIEW_VALUES / per_text) as f64;
            let fits = if causal {
                (((8.0 * budget + 1.0).sqrt() - 1.0) / 2.0) as usize
            } else {
                budget.sqrt() as usize
            };
            let pairs = if causal {
                format!("{pairs} (causal) token pairs")
            } else {
                format!("{n}² token pairs")
            };
            return Err(Error::invalid(format!(
                "the {view} draws {layers} layers × {heads} heads × {pairs}, more \
                 than it can carry ({MAX_VIEW_VALUES} values): view a text of at most {fits} \
                 tokens, or one head of this one with out.attention_heatmap(layer, head)"
            )));
        }
        let mut encoded = String::with_capacity(per_text * pairs * DIGITS);
        for layer in 0..layers {
            for head in 0..heads {
                for (i, row) in map(layer, head)?.iter().enumerate() {
                    let keys = if causal { &row[..=i] } else { &row[..] };
                    for p in keys {
                        let digits = (p.clamp(0.0, 1.0) * FULL).round() as u32;
                        encoded.push_str(&format!("{digits:04}"));
                    }
                }
            }
        }
        Ok(AttentionData {
            encoded,
            tokens,
            layers,
            heads,
            n,
            causal,
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

    /// Transforms that recover layer `l`, head `h`, query `i` and key `j` of row `k`; for a
    /// decoder's triangle, `t` counts the pairs of one map row by row (query `i` has keys
    /// `0..=i`), so `i` is the largest with `i(i+1)/2 ≤ t`.
    fn indices(&self) -> Vec<Value> {
        let (n, heads) = (self.n, self.heads);
        if self.causal {
            let per_map = n * (n + 1) / 2;
            vec![
                json!({"calculate": format!("floor(datum.k / {})", per_map * heads), "as": "l"}),
                json!({"calculate": format!("floor(datum.k / {per_map}) % {heads}"), "as": "h"}),
                json!({"calculate": format!("datum.k % {per_map}"), "as": "t"}),
                json!({"calculate": "floor((sqrt(8 * datum.t + 1) - 1) / 2)", "as": "i"}),
                json!({"calculate": "datum.t - datum.i * (datum.i + 1) / 2", "as": "j"}),
            ]
        } else {
            let square = n * n;
            vec![
                json!({"calculate": format!("floor(datum.k / {})", square * heads), "as": "l"}),
                json!({"calculate": format!("floor(datum.k / {square}) % {heads}"), "as": "h"}),
                json!({"calculate": format!("floor(datum.k / {n}) % {n}"), "as": "i"}),
                json!({"calculate": format!("datum.k % {n}"), "as": "j"}),
            ]
        }
    }

    /// The subtitle lines that say how to read the view.
    fn reading(&self) -> Value {
        if self.causal {
            json!([
                "left: the token that attends (query); right: what it attends to (key)",
                "a decoder's token sees only itself and the tokens before it;",
                "many heads send most of their attention to the first token (an 'attention sink')"
            ])
        } else {
            json!("left: the token that attends (query); right: what it attends to (key)")
        }
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
                    {"field": "l", "title": say!("layer", "lớp")},
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
            "text": say!("Attention: pick a layer and a head; hover a token", "Attention: chọn một lớp và một head; rê chuột lên một token"),
            "subtitle": data.reading()
        },
        "width": 320,
        "height": ROW_HEIGHT * data.n,
        "params": [
            data.param(),
            {"name": "layer", "value": default_layer,
             "bind": {"input": "range", "min": 0, "max": data.layers - 1, "step": 1, "name": say!("layer ", "lớp ")}},
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
            "text": say!("Every head of every layer: click one to enlarge it below", "Mọi head của mọi lớp: bấm vào một head để phóng to bên dưới"),
            "subtitle": "rows: layers; columns: heads; in each, lines from each token to those it attends to"
        },
        "datasets": data.datasets(),
        "params": [data.param()],
        "vconcat": [
            {
                "data": data.rows(),
                "transform": grid_transform,
                "facet": {
                    "row": {"field": "l", "type": "ordinal", "title": say!("layer", "lớp"),
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
                                "tooltip": [{"field": "l", "title": say!("layer", "lớp")},
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
                "title": say!("The picked head (hover a token to see only its lines)", "Head đã chọn (rê chuột lên một token để chỉ xem các đường của nó)"),
                "width": 320,
                "height": ROW_HEIGHT * n,
                "layer": head_view_layers(data, json!({"param": "pick"}))
            }
        ],
        "config": {"view": {"stroke": "#dddddd"}}
    })
}
