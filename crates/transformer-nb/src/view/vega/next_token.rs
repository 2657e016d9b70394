//! The next-token distribution as bars, with temperature and top-p as controls: what sampling
//! chooses from, and how each knob changes it.

use crate::language::say;
use serde_json::json;

use super::{SCHEMA, VegaView, rounded};
use crate::error::{Error, Result};
use crate::models::CausalLmOutput;
use crate::models::causal_lm::top_k;
use crate::view::decoder::token_label;
use crate::view::plot::{Bar, BarChart, Figure, Plot};

/// The temperatures the slider offers: `TEMPERATURE_STEP` to `TEMPERATURE_STEPS ×` it.
const TEMPERATURE_STEP: f64 = 0.05;
const TEMPERATURE_STEPS: usize = 40;
/// The most bars one view draws.
pub const MAX_NEXT_TOKENS: usize = 100;
/// Where the top-p slider starts.
const DEFAULT_TOP_P: f64 = 0.9;

/// `ln Σ exp(l / T)` over every logit, for each temperature of the slider: with it, the view
/// computes any shown token's exact probability at any of those temperatures from its logit
/// alone.
pub(crate) fn log_partitions(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    (1..=TEMPERATURE_STEPS)
        .map(|step| {
            let t = step as f64 * TEMPERATURE_STEP;
            let sum: f64 = logits
                .iter()
                .map(|&l| ((f64::from(l) - max) / t).exp())
                .sum();
            max / t + sum.ln()
        })
        .collect()
}

impl CausalLmOutput {
    /// The `k` likeliest next tokens after the text (text 0's last position) as bars, with two
    /// sliders: the **temperature** divides the logits before the softmax (below 1 the bars
    /// sharpen towards the top token, above 1 they flatten), and **top-p** keeps the fewest
    /// likeliest tokens whose probabilities reach p; the tokens it cuts turn grey, and the
    /// tooltip gives each kept token's chance of being drawn. Each probability is exact: the
    /// view carries every temperature's softmax denominator over the whole vocabulary.
    /// `k` is 1 to 100.
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// # let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let out = lm.forward(&lm.tokenizer().encode("The capital of France is")?)?;
    /// let view = out.next_token(10)?;
    /// assert_eq!(view.spec()["datasets"]["tokens"].as_array().unwrap().len(), 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_token(&self, k: usize) -> Result<VegaView> {
        let seq = self.logits().dims()[1];
        self.next_token_at(seq - 1, k)
    }

    /// [`next_token`](Self::next_token) after position `position` of text 0.
    pub fn next_token_at(&self, position: usize, k: usize) -> Result<VegaView> {
        if k == 0 || k > MAX_NEXT_TOKENS {
            return Err(Error::invalid(format!(
                "next_token({k}): show 1 to {MAX_NEXT_TOKENS} tokens"
            )));
        }
        let logits = self.logits_at(position)?;
        let probs = self.next_token_probabilities(position)?;
        let top = top_k(logits, k);
        let labels: Vec<String> = top
            .iter()
            .map(|&(id, _)| token_label(&self.tokenizer.token_text(id).unwrap_or_default()))
            .collect();
        let tokens: Vec<_> = top
            .iter()
            .enumerate()
            .map(|(rank, &(id, logit))| {
                json!({"r": rank, "id": id, "l": rounded(logit), "p1": rounded(probs[id as usize])})
            })
            .collect();
        let partitions: Vec<f64> = log_partitions(logits)
            .into_iter()
            .map(|z| (z * 1e4).round() / 1e4)
            .collect();
        let context: String = self.texts()[..=position.min(self.texts().len() - 1)].concat();
        let shown = shorten_start(&context, 60);
        let rank_axis = json!({"title": null, "labelExpr": "L[datum.value]", "labelFontSize": 13});
        let spec = json!({
            "$schema": SCHEMA,
            "description": "The next-token distribution, with temperature and top-p",
            "title": {
                "text": say!("What comes after «{shown}»: the {k} likeliest tokens",
                             "Sau «{shown}» là gì: {k} token khả dĩ nhất"),
                "subtitle": [say!("move the temperature (it divides the logits) and top-p (grey: cut);",
                                  "kéo nhiệt độ (nó chia các logit) và top-p (xám: bị cắt);"),
                             say!("hover a bar for its chance of being drawn",
                                  "rê chuột lên một thanh để xem khả năng nó được chọn")]
            },
            "params": [
                {"name": "temperature", "value": 1.0, "bind": {
                    "input": "range", "min": TEMPERATURE_STEP,
                    "max": TEMPERATURE_STEP * TEMPERATURE_STEPS as f64,
                    "step": TEMPERATURE_STEP, "name": say!("temperature ", "nhiệt độ ")}},
                {"name": "top_p", "value": DEFAULT_TOP_P, "bind": {
                    "input": "range", "min": 0.05, "max": 1, "step": 0.05, "name": "top-p "}},
                {"name": "Z", "value": partitions},
                {"name": "L", "value": labels}
            ],
            "datasets": {"tokens": tokens},
            "data": {"name": "tokens"},
            "transform": [
                {"calculate": format!(
                    "clamp(round(temperature / {TEMPERATURE_STEP}), 1, {TEMPERATURE_STEPS}) * {TEMPERATURE_STEP}"),
                 "as": "T"},
                {"calculate": format!(
                    "exp(datum.l / datum.T - Z[clamp(round(temperature / {TEMPERATURE_STEP}), 1, {TEMPERATURE_STEPS}) - 1])"),
                 "as": "p"},
                {"window": [{"op": "sum", "field": "p", "as": "cumulative"}],
                 "sort": [{"field": "r"}], "frame": [null, 0]},
                // Top-p keeps a token while the ones before it have not reached p.
                {"calculate": "top_p >= 1 || datum.r == 0 || datum.cumulative - datum.p < top_p", "as": "kept"},
                {"calculate": "datum.kept ? datum.p : 0", "as": "pk"},
                {"joinaggregate": [{"op": "sum", "field": "pk", "as": "kept_total"},
                                   {"op": "sum", "field": "p", "as": "shown_total"},
                                   {"op": "count", "as": "shown"}]},
                {"calculate": "datum.pk / datum.kept_total", "as": "draw"},
                {"calculate": "datum.kept ? 1 : 0", "as": "kept_one"},
                {"joinaggregate": [{"op": "sum", "field": "kept_one", "as": "kept_count"}]}
            ],
            "height": {"step": 20},
            "width": 360,
            "encoding": {
                "y": {"field": "r", "type": "ordinal", "axis": rank_axis},
                "x": {"field": "p", "type": "quantitative", "title": say!("probability", "xác suất"),
                      "axis": {"format": ".0%", "values": [0, 0.25, 0.5, 0.75, 1]},
                      // Room right of a full bar for its label.
                      "scale": {"domain": [0, 1.14]}}
            },
            "layer": [
                {
                    "mark": {"type": "bar"},
                    "encoding": {
                        "color": {"condition": {"test": "datum.kept", "value": "#2f6fd6"},
                                  "value": "#c8c8c8"},
                        "tooltip": [
                            {"field": "r", "title": say!("rank", "hạng")},
                            {"field": "id", "title": say!("token id", "id token")},
                            {"field": "l", "title": "logit", "format": ".2f"},
                            {"field": "p", "title": say!("probability at this temperature", "xác suất ở nhiệt độ này"), "format": ".2%"},
                            {"field": "p1", "title": say!("probability at temperature 1", "xác suất ở nhiệt độ 1"), "format": ".2%"},
                            {"field": "draw", "title": say!("chance of being drawn (top-p)", "khả năng được chọn (top-p)"), "format": ".2%"}
                        ]
                    }
                },
                {
                    "mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 11},
                    "encoding": {"text": {"field": "p", "format": ".1%"}}
                },
                {
                    // One line at the foot, right of the short bars: what top-p keeps, and
                    // whether the cut lies beyond the tokens shown.
                    "transform": [
                        {"filter": format!("datum.r == {}", k - 1)},
                        {"calculate": format!(
                            "'temperature ' + format(datum.T, '.2f') + ': top-p ' + format(top_p, '.2f') + \
                             ' keeps ' + (top_p >= 1 ? 'every token' : datum.shown_total < top_p ? 'more than the {k} shown' : \
                             datum.kept_count + (datum.kept_count == 1 ? ' token' : ' tokens'))"),
                         "as": "caption"}
                    ],
                    "mark": {"type": "text", "align": "right", "baseline": "middle", "fontSize": 12,
                             "color": "#444444"},
                    "encoding": {
                        "x": {"datum": 1, "type": "quantitative"},
                        "text": {"field": "caption"}
                    }
                }
            ],
            "config": {"view": {"stroke": null}}
        });
        Ok(VegaView {
            spec,
            fallback: next_token_bars(&top, &probs, &labels, &shown),
            description: format!(
                "Next-token distribution: the {k} likeliest tokens after «{shown}», with \
                 temperature and top-p sliders (interactive in JupyterLab and VS Code; elsewhere \
                 a picture at temperature 1)"
            ),
        })
    }
}

/// The last `chars` characters of `text`, with `…` where it was cut.
fn shorten_start(text: &str, chars: usize) -> String {
    let count = text.chars().count();
    if count <= chars {
        text.trim().to_string()
    } else {
        let tail: String = text.chars().skip(count - chars).collect();
        format!("…{}", tail.trim_end())
    }
}

/// The picture: the bars at temperature 1, those top-p 0.9 would cut in grey.
fn next_token_bars(top: &[(u32, f32)], probs: &[f32], labels: &[String], shown: &str) -> Plot {
    let mut cumulative = 0.0f64;
    let bars = top
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(rank, (&(id, _), label))| {
            let p = f64::from(probs[id as usize]);
            let kept = rank == 0 || cumulative < DEFAULT_TOP_P;
            cumulative += p;
            Bar {
                label: label.clone(),
                value: p,
                colour: if kept {
                    [0x2f, 0x6f, 0xd6]
                } else {
                    [0xc8, 0xc8, 0xc8]
                },
            }
        })
        .collect::<Vec<_>>();
    let height = 90 + 22 * bars.len() as u32;
    Plot::new(
        Figure::Bars(BarChart {
            title: say!(
                "After «{shown}» (temperature 1; grey: cut by top-p 0.9)",
                "Sau «{shown}» (nhiệt độ 1; xám: bị top-p 0.9 cắt)"
            ),
            x_desc: say!("probability", "xác suất"),
            bars,
            percent: true,
        }),
        (640, height),
    )
}
