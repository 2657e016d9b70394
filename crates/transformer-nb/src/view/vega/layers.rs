//! Predictions layer by layer: BERT's masked-LM head on every layer, and a decoder's logit lens.

use crate::language::say;
use serde_json::json;

use super::{SCHEMA, VegaView, rounded};
use crate::bert::LayerPredictions;
use crate::models::LogitLens;
use crate::view::decoder::token_label;
use crate::view::plot::{Colormap, Figure, HeatmapSpec, LineChart, Plot, Series};

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
                "text": ({
                    let text = self.text();
                    say!("What the model would guess for [MASK] after each layer: {text}",
                         "Mô hình sẽ đoán gì cho [MASK] sau mỗi lớp: {text}")
                }),
                "subtitle": say!("hover a token to follow it through the layers",
                                 "rê chuột lên một token để theo nó qua các lớp")
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
                        "x": {"field": "r", "type": "ordinal", "title": say!("rank", "hạng"),
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
                                          "title": say!("probability", "xác suất"),
                                          "scale": {"scheme": "blues", "domain": [0, 1]}},
                                "strokeWidth": {"condition": {"param": "follow", "empty": false, "value": 3},
                                                "value": 0.5},
                                "stroke": {"condition": {"param": "follow", "empty": false, "value": "#d62728"},
                                           "value": "#ffffff"},
                                "tooltip": [{"field": "t", "title": "token"},
                                            {"field": "p", "title": say!("probability", "xác suất"),
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
                        "x": {"field": "p", "type": "quantitative", "title": say!("probability", "xác suất"),
                              "axis": {"format": ".0%", "orient": "top"}},
                        "color": {"field": "t", "type": "nominal", "title": say!("last layer's guesses", "dự đoán của lớp cuối"),
                                  "sort": null},
                        "strokeWidth": {"condition": {"param": "follow", "empty": false, "value": 4},
                                        "value": 1.5},
                        "tooltip": [{"field": "t", "title": "token"},
                                    {"field": "p", "title": say!("probability", "xác suất"), "format": ".1%"}]
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
            title: say!(
                "The last layer's guesses for [MASK], by layer (0: the embeddings)",
                "Dự đoán của lớp cuối cho [MASK], theo lớp (0: embedding)"
            ),
            x_desc: say!("Layer", "Lớp"),
            y_desc: say!("Probability", "Xác suất"),
            series,
        };
        Plot::new(Figure::Lines(chart), (760, 380))
    }
}

/// The most cells (layers × positions) one logit-lens view draws: about 600 kB of spec.
pub const MAX_LENS_CELLS: usize = 4096;

impl LogitLens {
    /// The logit lens as an interactive grid (nostalgebraist's and TransformerLens's picture):
    /// a column per position of the text, a row per layer (the embeddings at the bottom, the
    /// model's own output at the top), in each cell the token that layer would predict next,
    /// shaded by its probability; outlined where it is the text's actual next token. Hover a
    /// cell for its five likeliest tokens. Elsewhere than JupyterLab and VS Code, the same grid
    /// as a picture.
    ///
    /// Texts whose grid is larger than [`MAX_LENS_CELLS`] are an error that says how long a text
    /// fits.
    pub fn view(&self) -> crate::error::Result<VegaView> {
        let (layers, n) = (self.layers(), self.texts.len());
        if layers * n > MAX_LENS_CELLS {
            return Err(crate::error::Error::invalid(format!(
                "the logit lens draws {layers} layers × {n} positions, more than the \
                 {MAX_LENS_CELLS} cells it can carry: view a text of at most {} tokens",
                MAX_LENS_CELLS / layers.max(1)
            )));
        }
        let inputs: Vec<String> = self.texts.iter().map(|t| token_label(t)).collect();
        let mut cells = Vec::with_capacity(layers * n);
        for (layer, row) in self.top.iter().enumerate() {
            for (i, top) in row.iter().enumerate() {
                let mut cell = json!({"l": layer, "i": i});
                for (rank, t) in top.iter().enumerate() {
                    cell[format!("t{}", rank + 1)] = json!(token_label(&t.text));
                    cell[format!("p{}", rank + 1)] = json!(rounded(t.probability));
                }
                let hit = top.first().map(|t| Some(t.id) == self.next_token(i));
                cell["hit"] = json!(hit.unwrap_or(false));
                cells.push(cell);
            }
        }
        let mut tooltip = vec![json!({"field": "l", "title": say!("layer", "lớp")})];
        for rank in 1..=top_width(&self.top) {
            tooltip.push(json!({"field": format!("t{rank}"), "title": format!("{rank}.")}));
            tooltip.push(
                json!({"field": format!("p{rank}"), "title": format!("p{rank}"), "format": ".1%"}),
            );
        }
        let last = layers.saturating_sub(1);
        let spec = json!({
            "$schema": SCHEMA,
            "description": "Logit lens: each layer's hidden state read through the final norm and the output layer",
            "title": {
                "text": say!("Logit lens: what each layer would predict next", "Logit lens: mỗi lớp sẽ dự đoán token tiếp theo là gì"),
                "subtitle": [
                    format!("rows: the embeddings (0) up to layer {last}, the model's output; columns: the text"),
                    "outlined: the text's actual next token; hover a cell for its five likeliest tokens"
                ]
            },
            "params": [{"name": "L", "value": inputs}],
            "datasets": {"cells": cells},
            "data": {"name": "cells"},
            "width": {"step": 66},
            "height": {"step": 17},
            "encoding": {
                "x": {"field": "i", "type": "ordinal", "title": say!("input token", "token đầu vào"),
                      "axis": {"labelExpr": "L[datum.value]", "labelAngle": -35,
                               "labelFontSize": 12, "orient": "bottom"}},
                "y": {"field": "l", "type": "ordinal", "title": say!("layer", "lớp"),
                      "sort": "descending",
                      "axis": {"labelExpr": "datum.value == 0 ? 'embeddings' : datum.value"}}
            },
            "layer": [
                {
                    "params": [{"name": "cell", "select": {"type": "point", "on": "mouseover",
                                                           "clear": "mouseout", "fields": ["l", "i"]}}],
                    "mark": {"type": "rect"},
                    "encoding": {
                        "color": {"field": "p1", "type": "quantitative", "title": say!("probability", "xác suất"),
                                  "scale": {"scheme": "blues", "domain": [0, 1]}},
                        "stroke": {"condition": [
                            {"param": "cell", "empty": false, "value": "#d62728"},
                            {"test": "datum.hit", "value": "#111111"}], "value": null},
                        "strokeWidth": {"condition": [
                            {"param": "cell", "empty": false, "value": 2.5},
                            {"test": "datum.hit", "value": 1.5}], "value": 0},
                        "tooltip": tooltip
                    }
                },
                {
                    "mark": {"type": "text", "fontSize": 10, "limit": 62},
                    "encoding": {
                        "text": {"field": "t1"},
                        "color": {"condition": {"test": "datum.p1 > 0.5", "value": "#ffffff"},
                                  "value": "#000000"}
                    }
                }
            ],
            "config": {"view": {"stroke": null}, "axis": {"domain": false, "ticks": false}}
        });
        Ok(VegaView {
            spec,
            fallback: self.picture(&inputs),
            description: format!(
                "Logit lens: {layers} rows (the embeddings and {last} layers) × {n} positions \
                 (interactive in JupyterLab and VS Code; elsewhere a picture of the top tokens)"
            ),
        })
    }

    /// The grid as a picture: the top token in each cell, shaded by its probability.
    fn picture(&self, inputs: &[String]) -> Plot {
        let (layers, n) = (self.layers(), self.texts.len());
        let mut values = Vec::with_capacity(layers * n);
        let mut text = Vec::with_capacity(layers * n);
        // The last layer on top, as in the interactive view.
        for row in self.top.iter().rev() {
            for top in row {
                let first = top.first();
                values.push(first.map_or(0.0, |t| t.probability));
                text.push(first.map_or(String::new(), |t| shorten(&token_label(&t.text), 9)));
            }
        }
        let rows: Vec<String> = (0..layers)
            .rev()
            .map(|l| {
                if l == 0 {
                    say!("embeddings", "embedding")
                } else {
                    say!("layer {l}", "lớp {l}")
                }
            })
            .collect();
        let heatmap = HeatmapSpec::new(values, layers, n)
            .title(say!(
                "Logit lens: each layer's top next token",
                "Logit lens: token tiếp theo hàng đầu của mỗi lớp"
            ))
            .row_and_column_labels(rows, inputs.to_vec())
            .cell_text(text)
            .colors(Colormap::Viridis, (0.0, 1.0));
        let width = (70 * n as u32 + 260).clamp(420, 2400);
        let height = 18 * layers as u32 + 190;
        Plot::new(Figure::Heatmap(heatmap), (width, height))
    }
}

/// Candidates per cell.
fn top_width(top: &[Vec<Vec<crate::models::TokenProb>>]) -> usize {
    top.iter().flatten().map(Vec::len).max().unwrap_or(0)
}

/// At most `chars` characters, `…` where cut.
fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        let head: String = text.chars().take(chars - 1).collect();
        format!("{head}…")
    }
}
