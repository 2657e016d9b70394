//! The pictures of each result: which matrix becomes which heatmap, which values become
//! curves, at which size. The drawing itself is in [`plot`](super::plot).

use super::html::shorten;
use super::plot::{Colormap, Figure, HeatmapSpec, LineChart, Plot, Series};
use crate::bert::EncoderOutput;
use crate::embed::Embeddings;
use crate::error::{Error, Result};
use crate::language::say;
use crate::models::CausalLmOutput;
use crate::positional::{Layout, PositionalEncoding};
use crate::view::decoder::token_label;

/// The positional heatmap and curves: as wide as JupyterLab's output area at its default
/// width (about 800 px), so the PNG shows at its pixel size without being scaled down.
const POSITIONAL_HEATMAP_SIZE: (u32, u32) = (760, 440);
const POSITIONAL_CURVES_SIZE: (u32, u32) = (760, 380);
/// Square-ish: positions against positions.
const POSITION_SIMILARITY_SIZE: (u32, u32) = (600, 520);

/// Pixels per token in an attention heatmap, so that rotated token labels fit their column;
/// the side stays between these bounds (short sentences stay legible, long ones fit a screen).
const ATTENTION_CELL: u32 = 28;
const ATTENTION_SIDE: (u32, u32) = (360, 900);
/// Extra width for the colour bar and token labels, extra height for the title.
const ATTENTION_MARGIN: (u32, u32) = (160, 40);

/// Side of one head's panel in the all-heads grid, with and without token labels.
const HEAD_PANEL_LABELLED: u32 = 230;
const HEAD_PANEL_BARE: u32 = 170;
/// Token labels in the grid only up to this many tokens: beyond it they overlap.
const HEAD_PANEL_MAX_LABELS: usize = 16;
/// Panels per row in the all-heads grid (12 heads: 3 rows of 4).
const HEAD_COLUMNS: usize = 4;

/// The most texts the embeddings' heatmap shows: beyond, labels would be unreadable.
const HEATMAP_TEXTS: usize = 64;

/// Pixels per text in the embeddings' similarity heatmap; texts are cut to fit the labels.
const EMBEDDING_CELL: u32 = 36;
const EMBEDDING_LABEL_CHARS: usize = 28;

impl PositionalEncoding {
    /// The matrix as a heatmap: positions up the y axis, dimensions along x, red −1 to blue +1,
    /// as the Python tutorial's `pcolormesh` shows it.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let plot = positional_encoding(50, 128)?.heatmap();
    /// let svg = plot.to_svg();
    /// assert!(svg.contains("Position") && svg.contains("Depth"));
    /// assert!(plot.to_png()?.len() < 100_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn heatmap(&self) -> Plot {
        let (positions, d_model) = self.shape();
        let layout = match self.layout() {
            Layout::Interleaved => say!("interleaved", "xen kẽ"),
            Layout::Concatenated => say!("concatenated", "nối tiếp"),
        };
        let spec = HeatmapSpec::new(self.values().to_vec(), positions, d_model)
            .title(say!(
                "Positional encoding ({positions} positions × {d_model} dimensions, {layout})",
                "Mã hóa vị trí ({positions} vị trí × {d_model} chiều, {layout})"
            ))
            .axes(
                &say!("Depth (dimension i)", "Chiều sâu (chiều i)"),
                &say!("Position", "Vị trí"),
            )
            .colors(Colormap::RdBu, (-1.0, 1.0));
        Plot::new(Figure::Heatmap(spec), POSITIONAL_HEATMAP_SIZE)
    }

    /// The values of some dimensions along the positions, one curve each: low dimensions
    /// oscillate fast, high ones slowly. Dimensions out of range are left out and named in
    /// the title.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let svg = positional_encoding(50, 128)?.curves(&[4, 5, 6, 7]).to_svg();
    /// assert!(svg.contains("dim 4 (sin)") && svg.contains("dim 7 (cos)"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn curves(&self, dims: &[usize]) -> Plot {
        let (positions, d_model) = self.shape();
        let (valid, invalid): (Vec<usize>, Vec<usize>) = dims.iter().partition(|&&d| d < d_model);
        let series = valid
            .iter()
            .map(|&d| Series {
                label: {
                    let wave = self.wave_of(d);
                    say!("dim {d} ({wave})", "chiều {d} ({wave})")
                },
                points: (0..positions)
                    .map(|p| (p as f64, f64::from(self.values()[p * d_model + d])))
                    .collect(),
            })
            .collect();
        let mut title = say!(
            "Positional encoding by dimension",
            "Mã hóa vị trí theo chiều"
        );
        if !invalid.is_empty() {
            let last = d_model - 1;
            title.push_str(&say!(
                " (left out {invalid:?}: dimensions go from 0 to {last})",
                " (bỏ qua {invalid:?}: các chiều đi từ 0 đến {last})"
            ));
        }
        let chart = LineChart {
            title,
            x_desc: say!("Position", "Vị trí"),
            y_desc: say!("Value", "Giá trị"),
            series,
        };
        Plot::new(Figure::Lines(chart), POSITIONAL_CURVES_SIZE)
    }

    /// The [similarity matrix](Self::similarity_matrix) as a heatmap.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let svg = positional_encoding(50, 128)?.similarity()?.to_svg();
    /// assert!(svg.contains("Dot product"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn similarity(&self) -> Result<Plot> {
        let (positions, d_model) = self.shape();
        let matrix: Vec<f32> = self.similarity_matrix()?.into_iter().flatten().collect();
        let max = d_model as f32 / 2.0;
        let min = matrix.iter().copied().fold(max, f32::min);
        let spec = HeatmapSpec::new(matrix, positions, positions)
            .title(say!(
                "Dot product of position vectors PE(p) · PE(q)",
                "Tích vô hướng của các vector vị trí PE(p) · PE(q)"
            ))
            .axes(
                &say!("Position q", "Vị trí q"),
                &say!("Position p", "Vị trí p"),
            )
            .colors(Colormap::Viridis, (min, max));
        Ok(Plot::new(Figure::Heatmap(spec), POSITION_SIMILARITY_SIZE))
    }
}

/// One head's attention map (`n × n`, row-major) as a heatmap with the tokens on both axes: the
/// same picture for an encoder's and a decoder's attention.
fn attention_plot(map: Vec<f32>, tokens: &[String], layer: usize, head: usize) -> Plot {
    let n = tokens.len();
    let side = (ATTENTION_CELL.saturating_mul(n as u32))
        .saturating_add(220)
        .clamp(ATTENTION_SIDE.0, ATTENTION_SIDE.1);
    let spec = attention_spec(map, tokens, Some(tokens.to_vec())).title(say!(
        "Attention, layer {layer}, head {head} (rows attend to columns)",
        "Attention, lớp {layer}, head {head} (hàng chú ý tới cột)"
    ));
    Plot::new(
        Figure::Heatmap(spec),
        (side + ATTENTION_MARGIN.0, side + ATTENTION_MARGIN.1),
    )
}

impl CausalLmOutput {
    /// Heatmap of one head's causal attention (text 0): each token (row) attends to itself and
    /// the tokens before it (columns), never to later ones.
    ///
    /// ```no_run
    /// # use transformer_nb::prelude::*;
    /// # let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let out = lm.forward(&lm.tokenizer().encode("The capital of France is")?)?;
    /// assert!(out.attention_heatmap(3, 0)?.to_svg().contains("capital"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_heatmap(&self, layer: usize, head: usize) -> Result<Plot> {
        let map: Vec<f32> = self.attention(layer, head)?.into_iter().flatten().collect();
        Ok(attention_plot(map, &self.labels(), layer, head))
    }

    /// Every head of one layer (text 0) as small multiples on one colour scale.
    pub fn attention_heads(&self, layer: usize) -> Result<Plot> {
        Error::check_index("layer", layer, self.attentions().len())?;
        let maps = (0..self.config().heads)
            .map(|h| self.attention(layer, h))
            .collect::<Result<Vec<_>>>()?;
        Ok(heads_grid(maps, &self.labels(), layer))
    }

    /// The real tokens' labels for pictures.
    fn labels(&self) -> Vec<String> {
        self.real_texts().iter().map(|t| token_label(t)).collect()
    }
}

impl EncoderOutput {
    /// Heatmap of one head's attention in the first sequence: which token (column) each token
    /// (row) attends to, both axes labelled with the tokens.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// assert!(out.attention_heatmap(1, 3)?.to_svg().contains("novel"));
    /// assert!(out.attention_heatmap(2, 0).is_err()); // layers 0 and 1
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_heatmap(&self, layer: usize, head: usize) -> Result<Plot> {
        self.attention_heatmap_of(0, layer, head)
    }

    /// Like [`attention_heatmap`](Self::attention_heatmap), for sequence `sequence` of a batch.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward_batch(&bert.tokenizer().encode_batch(&["a cat", "a dog"])?)?;
    /// assert!(out.attention_heatmap_of(1, 0, 0)?.to_svg().contains("dog"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_heatmap_of(&self, sequence: usize, layer: usize, head: usize) -> Result<Plot> {
        let map: Vec<f32> = self
            .attention(sequence, layer, head)?
            .into_iter()
            .flatten()
            .collect();
        let tokens = self.real_tokens(sequence)?;
        Ok(attention_plot(map, tokens, layer, head))
    }

    /// Every head of one layer (first sequence) as small multiples on one colour scale.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let out = bert.forward(&bert.tokenizer().encode("I read a good novel.")?)?;
    /// assert_eq!(out.attention_heads(0)?.to_svg().matches("<image").count(), 5); // 4 heads + colour bar
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attention_heads(&self, layer: usize) -> Result<Plot> {
        Error::check_index("layer", layer, self.attentions().len())?;
        let heads = self.attentions()[layer].dim(1)?;
        let maps = (0..heads)
            .map(|h| self.attention(0, layer, h))
            .collect::<Result<Vec<_>>>()?;
        Ok(heads_grid(maps, self.real_tokens(0)?, layer))
    }
}

/// Every head of one layer as small multiples on one colour scale.
fn heads_grid(maps: Vec<Vec<Vec<f32>>>, tokens: &[String], layer: usize) -> Plot {
    let heads = maps.len();
    let labels = (tokens.len() <= HEAD_PANEL_MAX_LABELS).then(|| tokens.to_vec());
    let panels = maps
        .into_iter()
        .enumerate()
        .map(|(h, map)| {
            let map = map.into_iter().flatten().collect();
            attention_spec(map, tokens, labels.clone()).title(format!("head {h}"))
        })
        .collect();
    let columns = heads.clamp(1, HEAD_COLUMNS);
    let rows = heads.div_ceil(columns) as u32;
    let panel = if labels.is_some() {
        HEAD_PANEL_LABELLED
    } else {
        HEAD_PANEL_BARE
    };
    let figure = Figure::Grid {
        title: say!(
            "Attention of every head, layer {layer}",
            "Attention của mọi head, lớp {layer}"
        ),
        panels,
        columns,
    };
    Plot::new(figure, (columns as u32 * panel + 80, rows * panel + 40))
}

/// An attention map: probabilities from 0 to 1 in viridis, token axes.
fn attention_spec(map: Vec<f32>, tokens: &[String], labels: Option<Vec<String>>) -> HeatmapSpec {
    let n = tokens.len();
    HeatmapSpec::new(map, n, n)
        .axes("key", "query")
        .labels(labels)
        .colors(Colormap::Viridis, (0.0, 1.0))
}

impl Embeddings {
    /// The [similarity](Self::similarity) matrix as a heatmap labelled with the texts; of the
    /// first 64 texts when there are more (the title says so).
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let svg = bert.embed(&["a cat", "a dog"])?.heatmap().to_svg();
    /// assert!(svg.contains("a cat"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn heatmap(&self) -> Plot {
        let n = self.len().min(HEATMAP_TEXTS);
        let matrix: Vec<f32> = self.similarity_of_first(n).into_iter().flatten().collect();
        let low = matrix.iter().copied().fold(1.0, f32::min).min(0.0);
        let labels = self.texts()[..n]
            .iter()
            .map(|t| shorten(t, EMBEDDING_LABEL_CHARS))
            .collect();
        let side = EMBEDDING_CELL
            .saturating_mul(n as u32)
            .saturating_add(260)
            .min(900);
        let spec = HeatmapSpec::new(matrix, n, n)
            .title(if n < self.len() {
                let total = self.len();
                say!(
                    "Cosine similarity of sentence embeddings (the first {n} of {total} texts)",
                    "Độ tương đồng cosine của các vector nhúng câu ({n} câu đầu trong {total})"
                )
            } else {
                say!(
                    "Cosine similarity of sentence embeddings",
                    "Độ tương đồng cosine của các vector nhúng câu"
                )
            })
            .labels(Some(labels))
            .colors(Colormap::Viridis, (low, 1.0));
        Plot::new(Figure::Heatmap(spec), (side + 240, side + 80))
    }
}

/// A chart of the learner's own numbers: as wide as JupyterLab's output area.
const LINES_SIZE: (u32, u32) = (760, 380);
/// Pixels per cell of a labelled matrix, and the most cells a side that still get their
/// number written in.
const MATRIX_CELL: u32 = 56;
const MATRIX_TEXT_CELLS: usize = 12;

impl Plot {
    /// Curves of the learner's own numbers over a shared x axis, each `(name, points)`: a
    /// training loss by step, an accuracy by epoch.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let loss: Vec<(f64, f64)> = (0..50).map(|step| (step as f64, 1.0 / (1.0 + step as f64))).collect();
    /// let plot = Plot::lines("Training loss", "step", "loss", &[("train", loss)])?;
    /// assert!(plot.to_svg().contains("Training loss"));
    /// assert!(Plot::lines("empty", "x", "y", &[]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lines(
        title: &str,
        x_label: &str,
        y_label: &str,
        series: &[(&str, Vec<(f64, f64)>)],
    ) -> Result<Plot> {
        if series.iter().all(|(_, points)| points.is_empty()) {
            return Err(Error::invalid(format!(
                "Plot::lines(\"{title}\", ..) has no points: give at least one (x, y) in a series"
            )));
        }
        if let Some((name, _)) = series
            .iter()
            .find(|(_, points)| points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()))
        {
            return Err(Error::invalid(format!(
                "series \"{name}\" of Plot::lines(\"{title}\", ..) holds a NaN or an infinity: \
                 a training that diverged? Plot the steps before it"
            )));
        }
        let chart = LineChart {
            title: title.to_string(),
            x_desc: x_label.to_string(),
            y_desc: y_label.to_string(),
            series: series
                .iter()
                .map(|(label, points)| Series {
                    label: label.to_string(),
                    points: points.clone(),
                })
                .collect(),
        };
        Ok(Plot::new(Figure::Lines(chart), LINES_SIZE))
    }

    /// A matrix of the learner's own numbers as coloured cells, labelled rows and columns, the
    /// numbers written in where the cells leave room (up to 12 a side): a confusion matrix, a
    /// table of scores.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let counts = vec![vec![9.0, 1.0], vec![2.0, 8.0]];
    /// let plot = Plot::matrix("Confusion matrix", &counts, &["sport", "food"], &["sport", "food"])?;
    /// assert!(plot.to_svg().contains("food"));
    /// assert!(Plot::matrix("bad", &counts, &["only one"], &["a", "b"]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matrix(
        title: &str,
        values: &[Vec<f32>],
        row_labels: &[impl AsRef<str>],
        column_labels: &[impl AsRef<str>],
    ) -> Result<Plot> {
        let (rows, cols) = (values.len(), values.first().map_or(0, Vec::len));
        if rows == 0 || cols == 0 || values.iter().any(|row| row.len() != cols) {
            return Err(Error::invalid(format!(
                "Plot::matrix(\"{title}\", ..) needs rows of equal, non-zero length"
            )));
        }
        if row_labels.len() != rows || column_labels.len() != cols {
            return Err(Error::invalid(format!(
                "Plot::matrix(\"{title}\", ..): {rows} × {cols} values, but {} row labels and {} \
                 column labels: give one label per row and per column",
                row_labels.len(),
                column_labels.len()
            )));
        }
        let flat: Vec<f32> = values.iter().flatten().copied().collect();
        if flat.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "Plot::matrix(\"{title}\", ..) holds a NaN or an infinity"
            )));
        }
        let low = flat.iter().copied().fold(f32::INFINITY, f32::min);
        let high = flat.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let range = if high > low {
            (low, high)
        } else {
            (low, low + 1.0)
        };
        let row_names = row_labels
            .iter()
            .map(|l| shorten(l.as_ref(), EMBEDDING_LABEL_CHARS))
            .collect();
        let column_names = column_labels
            .iter()
            .map(|l| shorten(l.as_ref(), EMBEDDING_LABEL_CHARS))
            .collect();
        let mut spec = HeatmapSpec::new(flat.clone(), rows, cols)
            .title(title)
            .row_and_column_labels(row_names, column_names)
            .colors(Colormap::Viridis, range);
        let integers = flat.iter().all(|v| v.fract() == 0.0);
        if integers {
            spec = spec.colorbar_decimals(0);
        }
        if rows.max(cols) <= MATRIX_TEXT_CELLS {
            let text = flat
                .iter()
                .map(|v| match integers {
                    true => format!("{v:.0}"),
                    false => format!("{v:.2}"),
                })
                .collect();
            spec = spec.cell_text(text).cell_font(16.0);
        }
        let side = |n: usize| {
            MATRIX_CELL
                .saturating_mul(n as u32)
                .clamp(ATTENTION_SIDE.0 / 2, ATTENTION_SIDE.1)
        };
        // Wide enough for the title too: about 8 pixels a character at the title's size.
        let title_width = (title.chars().count() as u32)
            .saturating_mul(8)
            .saturating_add(40);
        Ok(Plot::new(
            Figure::Heatmap(spec),
            (
                (side(cols) + 260).max(title_width).min(1200),
                side(rows) + 160,
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::embed::Embeddings;
    use crate::positional::positional_encoding;
    use crate::view::plot::tests::{brightness_spread, decode_png};

    #[test]
    fn positional_heatmaps_stay_small_at_512_by_768() {
        for (n, d) in [(50, 128), (512, 768)] {
            let plot = positional_encoding(n, d).unwrap().heatmap();
            let (svg, png) = (plot.to_svg(), plot.to_png().unwrap());
            assert!(svg.len() < 150_000, "{n}×{d}: SVG {} bytes", svg.len());
            assert!(png.len() < 150_000, "{n}×{d}: PNG {} bytes", png.len());
            let (w, h, pixels, channels) = decode_png(&png);
            assert_eq!((w, h), (760, 440));
            assert!(brightness_spread(&pixels, channels) > 30.0);
        }
    }

    #[test]
    fn curves_name_their_waves_and_skip_bad_dimensions() {
        let svg = positional_encoding(10, 8)
            .unwrap()
            .curves(&[0, 1, 99])
            .to_svg();
        assert!(svg.contains("dim 0 (sin)") && svg.contains("dim 1 (cos)"));
        assert!(svg.contains("left out [99]"));
    }

    #[test]
    fn embedding_heatmap_is_labelled_with_the_texts() {
        let emb = Embeddings::sample("<cat>", "dog");
        let svg = emb.heatmap().to_svg();
        assert!(svg.contains("&lt;cat&gt;") && svg.contains("\ndog\n"));
    }
}
