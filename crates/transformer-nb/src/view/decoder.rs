//! How a decoder's results look: a [`Generation`] as its tokens shaded by the probability the
//! model gave each (hover for the alternatives), a [`CausalLmOutput`] as its shapes and the
//! likeliest next tokens.

use super::evcxr::MimeBundle;
use super::html::{CELL, HEAD_CELL, TABLE, TEXT_CELL, TEXT_HEAD_CELL, escape};
use super::tables::probability_style;
use crate::bert::{human_bytes, thousands};
use crate::generate::Generation;
use crate::language::say;
use crate::models::decoder_summary::kv_contexts;
use crate::models::{CausalLmOutput, DecoderSummary, LogitLens};

/// A token's text made visible: spaces as `·`, newlines as `↵`.
pub(crate) fn visible(text: &str) -> String {
    text.replace(' ', "·").replace('\n', "↵").replace('\t', "→")
}

/// A decoder token's label in a picture: its text, with a leading space (the word boundary
/// byte-level BPE keeps in the token) as `·`, newlines as `↵`.
pub(crate) fn token_label(text: &str) -> String {
    visible(text)
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

    /// Shows the generation in an evcxr notebook: its [view](Self::view), the tokens shaded by
    /// probability with the alternatives on hover.
    pub fn evcxr_display(&self) {
        MimeBundle::interactive(&self.view()).print();
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
            let architecture = &c.architecture;
            let head = say!(
                "next token ({architecture})",
                "token tiếp theo ({architecture})"
            );
            html.push_str(&format!(
                "<table style=\"{TABLE}\"><tr><th style=\"{TEXT_HEAD_CELL}\">{head}</th>"
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
        MimeBundle::table(text, self.to_html()).print();
    }
}

impl LogitLens {
    /// Shows the lens's [view](Self::view) in an evcxr notebook, or why it cannot be drawn.
    pub fn evcxr_display(&self) {
        match self.view() {
            Ok(view) => MimeBundle::interactive(&view).print(),
            Err(e) => MimeBundle(vec![("text/plain", e.to_string())]).print(),
        }
    }
}

impl DecoderSummary {
    /// An HTML table: a row per kind of module (summed over the layers) with its parameters,
    /// number format and bytes held, the totals (also as f32), and the key/value cache's bytes
    /// at a few context lengths.
    pub fn to_html(&self) -> String {
        let mut html = format!(
            "<table style=\"{TABLE}\"><tr><th style=\"{HEAD_CELL}\">{}</th>\
             <th style=\"{HEAD_CELL}\">{}</th><th style=\"{HEAD_CELL}\">{}</th>\
             <th style=\"{HEAD_CELL}\">{}</th></tr>",
            say!("module", "mô-đun"),
            say!("parameters", "tham số"),
            say!("format", "định dạng"),
            say!("bytes held", "byte đang giữ")
        );
        let mut row = |name: &str, parameters: usize, format: &str, bytes: String, style: &str| {
            html.push_str(&format!(
                "<tr><td style=\"{TEXT_CELL};{style}\">{}</td>\
                 <td style=\"{CELL};text-align:right;{style}\">{}</td>\
                 <td style=\"{CELL};{style}\">{}</td>\
                 <td style=\"{CELL};text-align:right;{style}\">{bytes}</td></tr>",
                escape(name),
                thousands(parameters),
                escape(format)
            ));
        };
        for g in self.groups() {
            let name = if g.count > 1 {
                format!("{} (×{})", g.name, g.count)
            } else {
                g.name.clone()
            };
            row(
                &name,
                g.parameters,
                &g.format,
                human_bytes(g.held_bytes),
                "",
            );
        }
        let (held, as_f32) = (
            human_bytes(self.held_bytes()),
            human_bytes(self.f32_bytes()),
        );
        row(
            &say!("total", "tổng"),
            self.total_parameters(),
            "",
            say!("{held} ({as_f32} as f32)", "{held} ({as_f32} nếu là f32)"),
            "font-weight:bold;",
        );
        html.push_str("</table>");
        if self.tied_embeddings() {
            html.push_str(&say!(
                "<p>The output layer (<code>lm_head</code>) is the embedding table itself (tied \
                 weights): one tensor, counted once, as HF's <code>parameters()</code> counts it.</p>",
                "<p>Lớp đầu ra (<code>lm_head</code>) chính là bảng embedding (trọng số dùng \
                 chung): một tensor, đếm một lần, như <code>parameters()</code> của HF đếm.</p>"
            ));
        }
        let cache: Vec<String> = kv_contexts(self.max_positions())
            .into_iter()
            .map(|t| {
                let bytes = human_bytes(self.kv_cache_bytes(t));
                say!("{bytes} for {t} tokens", "{bytes} cho {t} token")
            })
            .collect();
        let (per_token, contexts) = (human_bytes(self.kv_cache_bytes(1)), cache.join(", "));
        html.push_str(&say!(
            "<p>The key/value cache adds {per_token} per token (f32): {contexts}.</p>",
            "<p>Bộ nhớ đệm key/value thêm {per_token} mỗi token (f32): {contexts}.</p>"
        ));
        html
    }

    /// Shows the summary table in an evcxr notebook.
    pub fn evcxr_display(&self) {
        MimeBundle::table(self.to_string(), self.to_html()).print();
    }
}
