//! bertviz's neuron view: how one head's queries and keys become its attention.

use crate::language::say;
use serde_json::json;

use super::{SCHEMA, VegaView, rounded};
use crate::bert::{AttentionHead, Bert};
use crate::error::Result;
use crate::models::CausalLm;
use crate::tokenize::Encoding;
use crate::view::decoder::token_label;
use crate::view::plot::{Colormap, Figure, HeatmapSpec, Plot};

impl Bert {
    /// bertviz's neuron view of head `head` of layer `layer`: for the query token picked in the
    /// menu, its query vector `q`, every token's key vector `k`, their elementwise product, the
    /// scores `q · k / √d` and their softmax (the attention), all computed from the vectors in
    /// the view. For any checkpoint this library loads; see [`Bert::attention_head`].
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let enc = bert.tokenizer().encode("I read a good novel.")?;
    /// let view = bert.neuron_view(&enc, 1, 3)?;
    /// assert_eq!(view.spec()["datasets"]["keys"].as_array().unwrap().len(), 8 * 8);
    /// assert!(bert.neuron_view(&enc, 2, 0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn neuron_view(&self, encoding: &Encoding, layer: usize, head: usize) -> Result<VegaView> {
        Ok(self.attention_head(encoding, layer, head)?.view())
    }
}

impl CausalLm {
    /// bertviz's neuron view of a decoder's head: for the query token picked in the menu, its
    /// query `q`, the keys of the tokens up to it (causal), their elementwise product, the
    /// scores `q · k / √d` and their softmax. For Llama a checkbox turns the rotary position
    /// embedding off and on: without it, q and k carry no position, and the same two words
    /// score the same wherever they stand. See [`CausalLm::attention_head`].
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let enc = lm.tokenizer().encode("The capital of France is")?;
    /// let view = lm.neuron_view(&enc, 3, 1)?;
    /// assert!(view.to_string().contains("rotary"));
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
        let rotary = self.queries_before_rope().zip(self.keys_before_rope());
        let causal = self.is_causal();
        // Dimensions share about 290 pixels, at least 3 each.
        let step = (288 / d.max(1)).clamp(3, 9);
        let names: Vec<String> = if causal {
            self.tokens().iter().map(|t| token_label(t)).collect()
        } else {
            self.tokens().to_vec()
        };
        let labels: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{i}: {t}"))
            .collect();
        let token_axis = json!({"title": null, "labelExpr": "T[datum.value]"});
        let dims = json!({"field": "c", "type": "ordinal", "title": say!("dimension", "chiều"),
                          "scale": {"paddingInner": 0},
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
        let mut params = vec![
            json!({"name": "query", "value": if causal { n.saturating_sub(1) } else { 0 },
                   "bind": {"input": "select", "options": (0..n).collect::<Vec<_>>(),
                            "labels": labels, "name": say!("query token ", "token query ")}}),
            json!({"name": "Q", "value": round_all(self.queries())}),
            json!({"name": "T", "value": names}),
        ];
        let mut transform = vec![
            json!({"window": [{"op": "row_number", "as": "row"}]}),
            json!({"calculate": format!("floor((datum.row - 1) / {d})"), "as": "j"}),
            json!({"calculate": format!("(datum.row - 1) % {d}"), "as": "c"}),
        ];
        if let Some((q0, k0)) = rotary {
            // The rotary embedding on or off: the vectors as attention uses them, or as the
            // projections made them (attention without position).
            params.push(json!({"name": "rope", "value": true, "bind": {
                "input": "checkbox", "name": say!("rotary position embedding applied ", "áp dụng rotary position embedding ")}}));
            params.push(json!({"name": "Q0", "value": round_all(q0)}));
            params.push(json!({"name": "K0", "value": k0.iter().flatten().copied().map(rounded).collect::<Vec<_>>()}));
            transform
                .push(json!({"calculate": "rope ? datum.data : K0[datum.row - 1]", "as": "k"}));
            transform.push(
                json!({"calculate": "rope ? Q[query][datum.c] : Q0[query][datum.c]", "as": "q"}),
            );
        } else {
            transform.push(json!({"calculate": "datum.data", "as": "k"}));
            transform.push(json!({"calculate": "Q[query][datum.c]", "as": "q"}));
        }
        transform.push(json!({"calculate": "datum.q * datum.k", "as": "qk"}));
        if causal {
            // The causal mask: a token's query meets only its own key and earlier ones.
            transform.push(json!({"filter": "datum.j <= query"}));
        }
        let mut subtitle = vec![say!(
            "d = {d} dimensions per head; red: positive, blue: negative",
            "d = {d} chiều mỗi head; đỏ: dương, xanh: âm"
        )];
        if causal {
            subtitle.push(say!(
                "causal: the query meets only its own key and earlier ones",
                "nhân quả: query chỉ gặp key của chính nó và của các token trước"
            ));
        }
        if rotary.is_some() {
            subtitle.push(say!(
                "untick the rotary embedding to see q and k without their positions",
                "bỏ chọn rotary embedding để xem q và k không có vị trí"
            ));
        }
        let spec = json!({
            "$schema": SCHEMA,
            "description": "Neuron view: how one head turns queries and keys into attention",
            "title": {
                "text": ({
                    let (layer, head) = (self.layer(), self.head());
                    say!("Layer {layer}, head {head}: how the picked token's query meets every key",
                         "Lớp {layer}, head {head}: query của token đã chọn gặp từng key thế nào")
                }),
                "subtitle": subtitle
            },
            "params": params,
            "datasets": {"keys": keys},
            "data": {"name": "keys"},
            "transform": transform,
            "vconcat": [
                {
                    "title": {"text": say!("q: the query of the picked token", "q: query của token đã chọn"), "anchor": "start",
                              "fontSize": 12},
                    "transform": [{"filter": "datum.j == 0"}],
                    "width": {"step": step}, "height": 14,
                    "mark": "rect",
                    "encoding": {"x": dims, "color": colour("q", "q"),
                                 "tooltip": [{"field": "c", "title": say!("dimension", "chiều")},
                                             {"field": "q", "format": ".3f"}]}
                },
                {
                    "hconcat": [
                        {
                            "title": {"text": say!("k: each token's key", "k: key của từng token"), "fontSize": 12},
                            "width": {"step": step}, "height": {"step": 18},
                            "mark": "rect",
                            "encoding": {"x": dims, "y": tokens_y, "color": colour("k", "k"),
                                         "tooltip": [{"field": "c", "title": say!("dimension", "chiều")},
                                                     {"field": "k", "format": ".3f"}]}
                        },
                        {
                            "title": {"text": say!("q × k, dimension by dimension", "q × k, từng chiều một"), "fontSize": 12},
                            "width": {"step": step}, "height": {"step": 18},
                            "mark": "rect",
                            "encoding": {"x": dims, "y": tokens_y,
                                         "color": colour("qk", "q × k"),
                                         "tooltip": [{"field": "c", "title": say!("dimension", "chiều")},
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
                            "title": {"text": say!("softmax: the attention", "softmax: attention"), "fontSize": 12},
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
            .title({
                let (layer, head) = (self.layer(), self.head());
                say!(
                    "Attention, layer {layer}, head {head} (rows attend to columns)",
                    "Attention, lớp {layer}, head {head} (hàng chú ý tới cột)"
                )
            })
            .axes("key", "query")
            .labels(Some(names))
            .colors(Colormap::Viridis, (0.0, 1.0));
        VegaView {
            spec,
            fallback: Plot::new(Figure::Heatmap(heatmap), (side + 160, side + 40)),
            description: format!(
                "Neuron view: layer {}, head {}, {n} tokens × {d} dimensions{} (interactive in \
                 JupyterLab and VS Code; elsewhere a picture of the head's attention)",
                self.layer(),
                self.head(),
                if rotary.is_some() {
                    ", rotary embedding on or off"
                } else {
                    ""
                }
            ),
        }
    }
}
