//! How a decoder's results look: a [`Generation`] as its tokens shaded by the probability the
//! model gave each (hover for the alternatives), a [`CausalLmOutput`] as its shapes and the
//! likeliest next tokens.

use super::html::{CELL, HEAD_CELL, TABLE, TEXT_HEAD_CELL, escape};
use super::tables::probability_style;
use crate::generate::Generation;
use crate::models::CausalLmOutput;

/// A token's text made visible: spaces as `·`, newlines as `↵`.
fn visible(text: &str) -> String {
    text.replace(' ', "·").replace('\n', "↵").replace('\t', "→")
}

impl Generation {
    /// The generated tokens as an HTML table, one cell per token shaded by its probability
    /// (white 0 %, blue 100 %); each cell's tooltip lists the model's top alternatives.
    pub fn to_html(&self) -> String {
        let mut html = format!("<table style=\"{TABLE}\"><tr>");
        html.push_str(&format!("<th style=\"{TEXT_HEAD_CELL}\">token</th>"));
        for step in self.steps() {
            let tip: Vec<String> = step
                .alternatives
                .iter()
                .map(|a| format!("{:?} {:.1}%", a.text, a.probability * 100.0))
                .collect();
            html.push_str(&format!(
                "<td style=\"{}\" title=\"{}\">{}</td>",
                probability_style(step.chosen.probability),
                escape(&tip.join("\n")),
                escape(&visible(&step.chosen.text))
            ));
        }
        html.push_str(&format!("</tr><tr><th style=\"{TEXT_HEAD_CELL}\">p</th>"));
        for step in self.steps() {
            html.push_str(&format!(
                "<td style=\"{CELL}\">{:.0}%</td>",
                step.chosen.probability * 100.0
            ));
        }
        html.push_str("</tr></table>");
        html.push_str(&format!(
            "<div style=\"font-family:monospace;white-space:pre-wrap\">{}</div>",
            escape(self.text())
        ));
        html
    }

    /// Shows the generation as its table in an evcxr notebook.
    pub fn evcxr_display(&self) {
        super::evcxr::MimeBundle::table(self.to_string(), self.to_html()).print();
    }
}

impl CausalLmOutput {
    /// The output's shapes and the five likeliest next tokens, as HTML.
    pub fn to_html(&self) -> String {
        let c = self.config();
        let dims = |d: &[usize]| format!("{d:?}");
        let mut html = format!("<table style=\"{TABLE}\">");
        let rows = [
            ("logits", dims(self.logits().dims())),
            (
                "hidden_states",
                format!(
                    "{} × {}",
                    self.hidden_states().len(),
                    dims(self.last_hidden_state().dims())
                ),
            ),
            (
                "attentions",
                format!(
                    "{} × {}",
                    self.attentions().len(),
                    dims(self.attentions()[0].dims())
                ),
            ),
        ];
        for (name, shape) in rows {
            html.push_str(&format!(
                "<tr><th style=\"{HEAD_CELL}\">{name}</th><td style=\"{CELL}\">{shape}</td></tr>"
            ));
        }
        html.push_str("</table>");
        if let Ok(top) = self.top_next_tokens(5) {
            html.push_str(&format!(
                "<table style=\"{TABLE}\"><tr><th style=\"{TEXT_HEAD_CELL}\">next token ({})</th>",
                c.architecture
            ));
            for t in &top {
                html.push_str(&format!(
                    "<td style=\"{}\">{} {:.1}%</td>",
                    probability_style(t.probability),
                    escape(&visible(&t.text)),
                    t.probability * 100.0
                ));
            }
            html.push_str("</tr></table>");
        }
        html
    }

    /// Shows the shapes and the likeliest next tokens in an evcxr notebook.
    pub fn evcxr_display(&self) {
        let text = format!(
            "logits {:?}, {} hidden states, {} attention maps",
            self.logits().dims(),
            self.hidden_states().len(),
            self.attentions().len()
        );
        super::evcxr::MimeBundle::table(text, self.to_html()).print();
    }
}
