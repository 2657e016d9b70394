//! Results as HTML tables: what a notebook shows for an encoding, a batch, a forward pass's
//! outputs and the similarities of embeddings.

use crate::tensor::Tensor;

use super::html::{
    CELL, HEAD_CELL, PAD_CELL, SPECIAL_CELL, TABLE, TEXT_CELL, TEXT_HEAD_CELL, escape, shorten,
};
use crate::bert::{
    EncoderOutput, FillMask, LayerPredictions, ModelSummary, human_bytes, thousands,
};
use crate::embed::Embeddings;
use crate::language::say;
use crate::tokenize::{Batch, Encoding};

/// Longest text shown in a row heading of the similarity table.
const ROW_TEXT_CHARS: usize = 48;
/// The most texts the embeddings' table shows (it has a cell per pair).
const TABLE_TEXTS: usize = 30;

/// The style of token `i`'s cell: padding greyed, special tokens tinted.
fn token_style(encoding: &Encoding, i: usize) -> &'static str {
    if encoding.attention_mask()[i] == 0 {
        PAD_CELL
    } else if encoding.special_tokens_mask()[i] == 1 {
        SPECIAL_CELL
    } else {
        CELL
    }
}

/// One row of an encoding's table: a heading, then a cell per token, styled as `token_style`.
fn token_row(html: &mut String, encoding: &Encoding, label: &str, value: &dyn Fn(usize) -> String) {
    html.push_str(&format!("<tr><th style=\"{HEAD_CELL}\">{label}</th>"));
    for i in 0..encoding.len() {
        html.push_str(&format!(
            "<td style=\"{}\">{}</td>",
            token_style(encoding, i),
            value(i)
        ));
    }
    html.push_str("</tr>");
}

impl Encoding {
    /// Renders the encoding as an HTML table: a column per token, rows for position, token,
    /// id, type id and attention mask; special tokens are shaded. This is what a notebook shows.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// let html = tok.encode("I read a good novel.")?.to_html();
    /// assert!(html.contains("<td") && html.contains("[CLS]"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_html(&self) -> String {
        if self.token_bytes().is_some() {
            return self.byte_level_html();
        }
        let mut html = format!("<div style=\"overflow-x:auto\"><table style=\"{TABLE}\">");
        let mut row = |label: &str, value: &dyn Fn(usize) -> String| {
            token_row(&mut html, self, label, value);
        };
        row(&say!("position", "vị trí"), &|i| i.to_string());
        row("token", &|i| escape(&self.tokens()[i]));
        row("id", &|i| self.ids()[i].to_string());
        row(&say!("type id", "type id (loại câu)"), &|i| {
            self.type_ids()[i].to_string()
        });
        row(
            &say!("attention mask", "attention mask (mặt nạ)"),
            &|i| self.attention_mask()[i].to_string(),
        );
        html.push_str("</table>");
        html.push_str(&self.truncation_note());
        html.push_str("</div>");
        html
    }
}

impl Encoding {
    /// The note under a table of a truncated encoding (empty if it is whole).
    fn truncation_note(&self) -> String {
        if !self.is_truncated() {
            return String::new();
        }
        let n = self.len();
        say!(
            "<p><b>Truncated</b> to {n} tokens, the model's maximum.</p>",
            "<p><b>Đã cắt</b> còn {n} token, mức tối đa của mô hình.</p>"
        )
    }

    /// A byte-level BPE encoding as a table: for each word (as the pre-tokenizer splits them)
    /// the tokens it took, and for each token its form in the vocabulary (`Ġ` is the space
    /// byte), the text it stands for, its bytes and its id; then the tokens per word.
    fn byte_level_html(&self) -> String {
        let bytes = self.token_bytes().unwrap_or_default();
        let mut html = format!("<div style=\"overflow-x:auto\"><table style=\"{TABLE}\">");
        // The word row: one cell spanning each word's tokens.
        let word_head = say!("word (tokens)", "từ (số token)");
        html.push_str(&format!("<tr><th style=\"{HEAD_CELL}\">{word_head}</th>"));
        let counts = self.word_token_counts();
        let mut words = counts.iter();
        let mut i = 0;
        while i < self.len() {
            let word = self.word_ids()[i];
            let span = self.word_ids()[i..]
                .iter()
                .take_while(|w| word.is_some() && **w == word)
                .count()
                .max(1);
            let text = match word {
                Some(_) => words
                    .next()
                    .map(|(w, n)| format!("{} ({n})", escape(w)))
                    .unwrap_or_default(),
                None => String::new(),
            };
            let style = if span > 1 { "background:#fff3c4" } else { "" };
            html.push_str(&format!(
                "<td colspan=\"{span}\" style=\"{CELL};{style}\">{text}</td>"
            ));
            i += span;
        }
        html.push_str("</tr>");
        let mut row = |label: &str, value: &dyn Fn(usize) -> String| {
            token_row(&mut html, self, label, value);
        };
        row(&say!("position", "vị trí"), &|i| i.to_string());
        row("token", &|i| escape(&self.tokens()[i]));
        row(&say!("text", "văn bản"), &|i| {
            escape(&crate::view::decoder::visible(&self.texts()[i]))
        });
        row(&say!("bytes", "byte"), &|i| {
            bytes[i]
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        });
        row("id", &|i| self.ids()[i].to_string());
        html.push_str("</table>");
        let tokens: usize = counts.iter().map(|(_, n)| n).sum();
        if let Some(ratio) = self.tokens_per_word() {
            let words = counts.len();
            html.push_str(&say!(
                "<p>{words} words, {tokens} tokens: <b>{ratio:.2} tokens per word</b>. \
                 <code>Ġ</code> is the space byte (0x20) as byte-level BPE writes it; a text \
                 cell with <code>\\x..</code> holds part of a character.</p>",
                "<p>{words} từ, {tokens} token: <b>{ratio:.2} token mỗi từ</b>. \
                 <code>Ġ</code> là byte dấu cách (0x20) theo cách BPE mức byte viết nó; ô văn \
                 bản có <code>\\x..</code> chứa một phần của một ký tự.</p>"
            ));
        }
        html.push_str(&self.truncation_note());
        html.push_str("</div>");
        html
    }
}

impl Batch {
    /// Renders the batch as a token grid, a row per text; padding is greyed out.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let tok = Bert::tiny_random()?.tokenizer().clone(); // no download
    /// let html = tok.encode_batch(&["short", "a longer one"])?.to_html();
    /// assert!(html.contains("[PAD]"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_html(&self) -> String {
        let mut html = format!(
            "<div style=\"overflow-x:auto\"><table style=\"{TABLE}\"><tr><th style=\"{HEAD_CELL}\">{}</th>",
            say!("text", "văn bản")
        );
        for i in 0..self.seq_len() {
            html.push_str(&format!("<th style=\"{HEAD_CELL}\">{i}</th>"));
        }
        html.push_str("</tr>");
        for (row, encoding) in self.encodings().iter().enumerate() {
            html.push_str(&format!("<tr><th style=\"{HEAD_CELL}\">{row}</th>"));
            for i in 0..encoding.len() {
                html.push_str(&format!(
                    "<td style=\"{}\" title=\"id {} · mask {}\">{}</td>",
                    token_style(encoding, i),
                    encoding.ids()[i],
                    encoding.attention_mask()[i],
                    escape(&encoding.tokens()[i])
                ));
            }
            html.push_str("</tr>");
        }
        html.push_str("</table></div>");
        html
    }
}

impl EncoderOutput {
    /// An HTML summary: the shape of every output.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("hi")?)?;
    /// assert!(out.to_html().contains("last_hidden_state"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_html(&self) -> String {
        let mut html = format!(
            "<table style=\"{TABLE}\"><tr><th style=\"{HEAD_CELL}\">{}</th><th style=\"{HEAD_CELL}\">{}</th></tr>",
            say!("output", "đầu ra"),
            say!("shape", "kích thước")
        );
        for (name, value) in self.shapes() {
            html.push_str(&format!(
                "<tr><td style=\"{TEXT_CELL}\">{}</td><td style=\"{CELL}\">{}</td></tr>",
                escape(&name),
                escape(&value)
            ));
        }
        html.push_str("</table>");
        html
    }

    /// `(output, shape)` pairs, as the HTML table and the plain-text summary list them.
    pub(crate) fn shapes(&self) -> Vec<(String, String)> {
        let shape = |t: &Tensor| format!("{:?}", t.dims());
        let mut rows = vec![(
            "last_hidden_state".to_string(),
            shape(self.last_hidden_state()),
        )];
        if let Some(first) = self.hidden_states().first() {
            let n = self.hidden_states().len();
            rows.push((
                say!("hidden_states ({n} tensors)", "hidden_states ({n} tensor)"),
                shape(first),
            ));
        }
        if let Some(first) = self.attentions().first() {
            let n = self.attentions().len();
            rows.push((
                say!("attentions ({n} layers)", "attentions ({n} lớp)"),
                shape(first),
            ));
        }
        rows.push((
            "pooler_output".into(),
            self.pooler_output().map_or(
                say!(
                    "none (no pooler weights)",
                    "không có (thiếu trọng số pooler)"
                ),
                shape,
            ),
        ));
        rows
    }
}

/// A cell whose background shows a probability: white at 0, blue at 1 (inline style, so it
/// survives the notebook's sanitizer).
pub(crate) fn probability_style(p: f32) -> String {
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    let channel = |full: f32| (255.0 - (255.0 - full) * p).round() as u8;
    let (r, g, b) = (channel(66.0), channel(133.0), channel(244.0));
    let text = if p > 0.6 { "#ffffff" } else { "#000000" };
    format!("{CELL};text-align:left;background-color:#{r:02x}{g:02x}{b:02x};color:{text}")
}

/// `token 12.3%` in a cell shaded by the probability.
fn candidate_cell(token: &str, p: f32) -> String {
    format!(
        "<td style=\"{}\">{} <span>{:.1}%</span></td>",
        probability_style(p),
        escape(token),
        p * 100.0
    )
}

impl FillMask {
    /// An HTML table: a row per `[MASK]`, its candidates best first, each with its probability.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let filled = FillMask::sample();
    /// let html = filled.to_html();
    /// assert!(html.contains("novel") && html.contains("62.0%"));
    /// ```
    pub fn to_html(&self) -> String {
        let mut html = format!("<table style=\"{TABLE}\"><tr><th style=\"{HEAD_CELL}\">mask</th>");
        let k = self.candidates().iter().map(Vec::len).max().unwrap_or(0);
        for rank in 1..=k {
            html.push_str(&format!("<th style=\"{HEAD_CELL}\">{rank}</th>"));
        }
        html.push_str("</tr>");
        for (mask, candidates) in self.candidates().iter().enumerate() {
            let (number, position) = (mask + 1, self.mask_positions()[mask]);
            html.push_str(&format!(
                "<tr><th style=\"{TEXT_HEAD_CELL}\">[MASK] {number} (token {position})</th>"
            ));
            for (token, p) in candidates {
                html.push_str(&candidate_cell(token, *p));
            }
            html.push_str("</tr>");
        }
        html.push_str(&format!(
            "</table><p>{}</p>",
            escape(&shorten(self.text(), 200))
        ));
        html
    }
}

impl LayerPredictions {
    /// An HTML table per `[MASK]`: a row per layer (the embeddings' output first), its top
    /// candidates best first, each shaded by its probability.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// # let lens = LayerPredictions::sample();
    /// let html = lens.to_html();
    /// assert!(html.contains("embeddings") && html.contains("layer 2"));
    /// ```
    pub fn to_html(&self) -> String {
        let mut html = String::new();
        for mask in 0..self.mask_count() {
            let (number, position) = (mask + 1, self.mask_positions()[mask]);
            let caption = say!(
                "[MASK] {number} (token {position}): the head applied to each layer's hidden state",
                "[MASK] {number} (token {position}): head dự đoán áp lên trạng thái ẩn của từng lớp"
            );
            html.push_str(&format!(
                "<table style=\"{TABLE}\"><caption>{caption}</caption>"
            ));
            for (layer, candidates) in self.layers(mask).iter().enumerate() {
                let name = if layer == 0 {
                    say!("embeddings", "embedding")
                } else {
                    say!("layer {layer}", "lớp {layer}")
                };
                html.push_str(&format!("<tr><th style=\"{TEXT_HEAD_CELL}\">{name}</th>"));
                for (token, p) in candidates {
                    html.push_str(&candidate_cell(token, *p));
                }
                html.push_str("</tr>");
            }
            html.push_str("</table>");
        }
        html
    }
}

impl ModelSummary {
    /// An HTML table: a row per module with its parameters, dtype and bytes, the totals, and the
    /// memory the process holds for the model.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// // Needs this model in the Hugging Face cache (see "The examples in these docs").
    /// let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
    /// let html = bert.summary().to_html();
    /// assert!(html.contains("encoder.layer.5.output") && html.contains("22,713,216"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_html(&self) -> String {
        let mut html = format!(
            "<table style=\"{TABLE}\"><tr><th style=\"{HEAD_CELL}\">{}</th>\
             <th style=\"{HEAD_CELL}\">{}</th><th style=\"{HEAD_CELL}\">{}</th>\
             <th style=\"{HEAD_CELL}\">{}</th></tr>",
            say!("module", "mô-đun"),
            say!("parameters", "tham số"),
            say!("dtype", "kiểu số"),
            say!("bytes", "byte")
        );
        let mut row = |name: &str, parameters: usize, dtype: &str, bytes: usize, style: &str| {
            html.push_str(&format!(
                "<tr><td style=\"{TEXT_CELL};{style}\">{}</td>\
                 <td style=\"{CELL};text-align:right;{style}\">{}</td>\
                 <td style=\"{CELL};{style}\">{dtype}</td>\
                 <td style=\"{CELL};text-align:right;{style}\">{}</td></tr>",
                escape(name),
                thousands(parameters),
                human_bytes(bytes)
            ));
        };
        for module in self.modules() {
            row(
                &module.name,
                module.parameters,
                module.dtype,
                module.bytes,
                "",
            );
        }
        row(
            &say!("total", "tổng"),
            self.total_parameters(),
            "",
            self.total_bytes(),
            "font-weight:bold;",
        );
        let held = human_bytes(self.held_bytes());
        html.push_str(&say!(
            "</table><p>Held in this process for the weights: {held} (as the kernels keep them: \
             query, key and value side by side, matrices packed in panels).</p>",
            "</table><p>Tiến trình này giữ cho trọng số: {held} (theo cách các kernel giữ chúng: \
             query, key và value đặt cạnh nhau, ma trận xếp thành từng dải).</p>"
        ));
        html
    }
}

impl Embeddings {
    /// An HTML table of the similarities, a row and a column per text; of the first
    /// 30 texts when there are more (a caption says so).
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// assert!(bert.embed(&["a cat", "a dog"])?.to_html().contains("<table"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_html(&self) -> String {
        let shown = self.len().min(TABLE_TEXTS);
        let mut html = format!("<table style=\"{TABLE}\">");
        if shown < self.len() {
            let total = self.len();
            html.push_str(&say!(
                "<caption>The first {shown} of {total} texts</caption>",
                "<caption>{shown} câu đầu trong {total} câu</caption>"
            ));
        }
        html.push_str(&format!("<tr><th style=\"{HEAD_CELL}\"></th>"));
        for i in 0..shown {
            html.push_str(&format!("<th style=\"{HEAD_CELL}\">{i}</th>"));
        }
        html.push_str("</tr>");
        for (i, row) in self.similarity_of_first(shown).iter().enumerate() {
            html.push_str(&format!(
                "<tr><th style=\"{TEXT_HEAD_CELL}\">{i}: {}</th>",
                escape(&shorten(&self.texts()[i], ROW_TEXT_CHARS))
            ));
            for value in row {
                html.push_str(&format!("<td style=\"{CELL}\">{value:.3}</td>"));
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
        html
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_table_escapes_tokens_and_marks_specials() {
        let enc = Encoding::sample(&["[CLS]", "<b>", "[SEP]"], &[1, 1, 1]);
        let html = enc.to_html();
        assert!(html.contains("&lt;b&gt;"));
        assert!(!html.contains("<b>"));
        // Two special tokens, shaded in each of the five rows.
        assert_eq!(html.matches(SPECIAL_CELL).count(), 10);
        assert!(html.contains("attention mask"));
    }

    #[test]
    fn batch_grid_greys_out_padding() {
        let batch = Batch::new(vec![
            Encoding::sample(&["[CLS]", "a", "[SEP]", "[PAD]"], &[1, 1, 1, 0]),
            Encoding::sample(&["[CLS]", "a", "b", "[SEP]"], &[1, 1, 1, 1]),
        ]);
        let html = batch.to_html();
        assert_eq!(html.matches(PAD_CELL).count(), 1);
        assert_eq!(html.matches(SPECIAL_CELL).count(), 4);
    }

    #[test]
    fn similarity_table_escapes_the_texts() {
        let emb = Embeddings::sample("<cat>", "dog");
        let html = emb.to_html();
        assert!(html.contains("0: &lt;cat&gt;") && html.contains("0.600"));
    }

    #[test]
    fn tables_are_sanitizer_safe() {
        // Untrusted JupyterLab drops scripts, <style> blocks, ids and classes it does not know.
        let batch = Batch::new(vec![Encoding::sample(&["[CLS]", "x", "[SEP]"], &[1, 1, 1])]);
        for html in [batch.to_html(), batch.encodings()[0].to_html()] {
            for banned in ["<script", "<style", " id=", " class=", "<svg"] {
                assert!(!html.contains(banned), "{banned} in {html}");
            }
        }
    }
}
