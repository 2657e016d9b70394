//! What a plot shows, as owned data: the plot keeps its figure and draws it on demand, once as
//! SVG and once as PNG, with the same drawing code.

use super::color::Colormap;

/// A figure: one of the kinds of picture the library draws.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Figure {
    /// One heatmap with its colour bar.
    Heatmap(HeatmapSpec),
    /// Several heatmaps on one colour scale, `columns` to a row, under one title.
    Grid {
        title: String,
        panels: Vec<HeatmapSpec>,
        columns: usize,
    },
    /// Named curves over a shared x axis.
    Lines(LineChart),
    /// Labelled horizontal bars, top to bottom.
    Bars(BarChart),
}

impl Figure {
    /// The figure's title, for the one-line text description of a plot.
    pub(crate) fn title(&self) -> &str {
        match self {
            Figure::Heatmap(spec) => &spec.title,
            Figure::Grid { title, .. } => title,
            Figure::Lines(chart) => &chart.title,
            Figure::Bars(chart) => &chart.title,
        }
    }
}

/// A matrix to draw as coloured cells. Row 0 is drawn at the top when the axes carry labels
/// (tokens, as in an attention matrix) and at the bottom for numeric axes (as matplotlib's
/// `pcolormesh` draws positions).
///
/// Built with [`HeatmapSpec::new`] and chained setters, so that every heatmap of the library is
/// described in one place and the defaults live here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HeatmapSpec {
    pub values: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    /// Labels of the columns, and of the rows where `row_labels` is `None` (a square matrix of
    /// tokens or texts).
    pub labels: Option<Vec<String>>,
    /// Labels of the rows, where they differ from the columns'.
    pub row_labels: Option<Vec<String>>,
    /// A text in each cell (row-major), drawn over its colour: the cells are then drawn as
    /// vector rectangles, for the few cells that leave room for text.
    pub cell_text: Option<Vec<String>>,
    /// The font size of the cells' texts.
    pub cell_font: f64,
    /// Digits after the point on the colour bar's ticks.
    pub colorbar_decimals: usize,
    pub colormap: Colormap,
    pub range: (f32, f32),
}

impl HeatmapSpec {
    /// A `rows × cols` heatmap of `values` (row-major), in viridis over `0..1`, untitled.
    pub fn new(values: Vec<f32>, rows: usize, cols: usize) -> Self {
        HeatmapSpec {
            values,
            rows,
            cols,
            title: String::new(),
            x_desc: String::new(),
            y_desc: String::new(),
            labels: None,
            row_labels: None,
            cell_text: None,
            cell_font: 11.0,
            colorbar_decimals: 2,
            colormap: Colormap::Viridis,
            range: (0.0, 1.0),
        }
    }

    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Names of the numeric axes (not drawn when the axes carry labels).
    pub fn axes(mut self, x_desc: &str, y_desc: &str) -> Self {
        self.x_desc = x_desc.to_string();
        self.y_desc = y_desc.to_string();
        self
    }

    /// Labels for both axes of a square matrix, e.g. tokens; `None` keeps numeric axes.
    pub fn labels(mut self, labels: Option<Vec<String>>) -> Self {
        self.labels = labels;
        self
    }

    /// Labels for the rows and the columns of any matrix.
    pub fn row_and_column_labels(mut self, rows: Vec<String>, columns: Vec<String>) -> Self {
        self.row_labels = Some(rows);
        self.labels = Some(columns);
        self
    }

    /// A text in every cell, row-major.
    pub fn cell_text(mut self, text: Vec<String>) -> Self {
        self.cell_text = Some(text);
        self
    }

    /// The font size of the cells' texts, for cells larger than the default's.
    pub fn cell_font(mut self, size: f64) -> Self {
        self.cell_font = size;
        self
    }

    /// Digits after the point on the colour bar (0 for counts).
    pub fn colorbar_decimals(mut self, decimals: usize) -> Self {
        self.colorbar_decimals = decimals;
        self
    }

    pub fn colors(mut self, colormap: Colormap, range: (f32, f32)) -> Self {
        self.colormap = colormap;
        self.range = range;
        self
    }
}

/// One named curve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Curves over a shared x axis, with a legend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineChart {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
}

/// One bar: its label, value and colour.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bar {
    pub label: String,
    pub value: f64,
    pub colour: [u8; 3],
}

/// Horizontal bars, one per label, with the value written at each bar's end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BarChart {
    pub title: String,
    pub x_desc: String,
    pub bars: Vec<Bar>,
    /// Values are probabilities, written as percentages (else as numbers).
    pub percent: bool,
}

impl BarChart {
    /// A value as the axis and the bars write it.
    pub fn format(&self, v: f64) -> String {
        if self.percent {
            format!("{:.1}%", v * 100.0)
        } else {
            format!("{v:.2}")
        }
    }
}
