//! A generated text as the model wrote it: token by token, each shaded by the probability the
//! model gave it, the alternatives on hover.

use crate::language::say;
use serde_json::json;

use super::{SCHEMA, VegaView, rounded};
use crate::generate::Generation;
use crate::view::decoder::token_label;
use crate::view::plot::{Bar, BarChart, Figure, Plot};

/// Characters per line of the text flow.
const LINE_CHARS: usize = 72;
/// Pixels per character of the monospace text (13 px DejaVu Sans Mono advances 7.8 px).
const CHAR_WIDTH: f64 = 8.4;
/// The most tokens the picture beside the view shows as bars.
const PICTURE_TOKENS: usize = 40;

/// Where one token goes in the text flow: line, first column, width in characters.
fn layout(labels: &[String]) -> Vec<(usize, usize, usize)> {
    let (mut line, mut column) = (0, 0);
    let mut out = Vec::with_capacity(labels.len());
    for label in labels {
        let width = label.chars().count().max(1);
        if column > 0 && column + width > LINE_CHARS {
            line += 1;
            column = 0;
        }
        out.push((line, column, width));
        column += width;
        if label.ends_with('↵') {
            line += 1;
            column = 0;
        }
    }
    out
}

impl Generation {
    /// The generated text token by token, each token's background as dark as the probability
    /// the model gave it (before temperature, top-k and top-p); hover a token for the model's
    /// likeliest alternatives at that step. Elsewhere than JupyterLab and VS Code, a picture of
    /// each token's probability.
    pub fn view(&self) -> VegaView {
        let labels: Vec<String> = self
            .steps()
            .iter()
            .map(|s| token_label(&s.chosen.text))
            .collect();
        let places = layout(&labels);
        let tokens: Vec<_> = self
            .steps()
            .iter()
            .zip(&labels)
            .zip(&places)
            .enumerate()
            .map(|(i, ((step, label), &(line, column, width)))| {
                let mut token = json!({
                    "n": i, "t": label, "y": line, "x": column, "x2": column + width,
                    "p": rounded(step.chosen.probability)
                });
                for (rank, a) in step.alternatives.iter().enumerate() {
                    token[format!("a{}", rank + 1)] = json!(format!(
                        "{} {:.1}%",
                        token_label(&a.text),
                        a.probability * 100.0
                    ));
                }
                token
            })
            .collect();
        let lines = places.last().map_or(1, |p| p.0 + 1);
        let alternatives = self
            .steps()
            .iter()
            .map(|s| s.alternatives.len())
            .max()
            .unwrap_or(0);
        let mut tooltip = vec![
            json!({"field": "n", "title": say!("step", "bước")}),
            json!({"field": "t", "title": "token"}),
            json!({"field": "p", "title": say!("probability", "xác suất"), "format": ".1%"}),
        ];
        for rank in 1..=alternatives {
            tooltip
                .push(json!({"field": format!("a{rank}"), "title": say!("alternative {rank}", "lựa chọn {rank}")}));
        }
        let x = json!({"field": "x", "type": "quantitative", "axis": null,
                       "scale": {"domain": [0, LINE_CHARS]}});
        let y = json!({"field": "y", "type": "ordinal", "axis": null});
        let spec = json!({
            "$schema": SCHEMA,
            "description": "A generated text, each token shaded by its probability",
            "title": {
                "text": ({
                    let n = self.steps().len();
                    say!("{n} generated tokens, each shaded by the probability the model gave it",
                         "{n} token được sinh, mỗi token tô màu theo xác suất mô hình cho nó")
                }),
                "subtitle": ({
                    let reason = self.stop_reason();
                    say!("why it stopped: {reason:?}; hover a token for the alternatives",
                         "vì sao dừng: {reason:?}; rê chuột lên một token để xem các lựa chọn khác")
                })
            },
            "datasets": {"tokens": tokens},
            "data": {"name": "tokens"},
            "width": LINE_CHARS as f64 * CHAR_WIDTH,
            "height": {"step": 22},
            "layer": [
                {
                    "mark": {"type": "rect", "stroke": "#ffffff", "strokeWidth": 1},
                    "encoding": {
                        "x": x, "x2": {"field": "x2"}, "y": y,
                        "color": {"field": "p", "type": "quantitative", "title": say!("probability", "xác suất"),
                                  "scale": {"scheme": "blues", "domain": [0, 1]}},
                        "tooltip": tooltip
                    }
                },
                {
                    "mark": {"type": "text", "align": "left", "dx": 1, "font": "monospace",
                             "fontSize": 13},
                    "encoding": {
                        "x": x, "y": y, "text": {"field": "t"},
                        "color": {"condition": {"test": "datum.p > 0.6", "value": "#ffffff"},
                                  "value": "#000000"},
                        "tooltip": tooltip
                    }
                }
            ],
            "config": {"view": {"stroke": null}}
        });
        let bars = self
            .steps()
            .iter()
            .zip(&labels)
            .take(PICTURE_TOKENS)
            .map(|(s, label)| Bar {
                label: label.clone(),
                value: f64::from(s.chosen.probability),
                colour: [0x2f, 0x6f, 0xd6],
            })
            .collect::<Vec<_>>();
        let shown = bars.len();
        let title = if shown < self.steps().len() {
            say!(
                "The probability of each generated token (the first {shown})",
                "Xác suất của mỗi token được sinh ({shown} token đầu)"
            )
        } else {
            say!(
                "The probability of each generated token",
                "Xác suất của mỗi token được sinh"
            )
        };
        let fallback = Plot::new(
            Figure::Bars(BarChart {
                title,
                x_desc: say!("probability", "xác suất"),
                bars,
                percent: true,
            }),
            (640, 90 + 22 * shown as u32),
        );
        VegaView {
            spec,
            fallback,
            description: format!(
                "Generation: {} tokens on {lines} line(s), shaded by probability (interactive in \
                 JupyterLab and VS Code; elsewhere a picture of each token's probability): {}",
                self.steps().len(),
                self.text().replace('\n', " ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_flow_into_lines_and_break_after_newlines() {
        let labels: Vec<String> = ["Hello", "·world", "↵", "next"].map(String::from).to_vec();
        assert_eq!(
            layout(&labels),
            [(0, 0, 5), (0, 5, 6), (0, 11, 1), (1, 0, 4)]
        );
        let long = vec!["x".repeat(50), "y".repeat(30)];
        assert_eq!(layout(&long), [(0, 0, 50), (1, 0, 30)]);
    }
}
