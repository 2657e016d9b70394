//! Plots: heatmaps and line charts, drawn from one description as both PNG and SVG.
//!
//! A [`Plot`] keeps what it shows (its figure: values, labels, colours) and draws it on demand
//! with [plotters]: [`Plot::to_png`] through the bitmap backend, with text rendered by
//! ab_glyph from a bundled font, and [`Plot::to_svg`] through the SVG backend, whose text the
//! browser draws. The PNG is what untrusted notebooks, code hosts, nbviewer and nbconvert show;
//! the SVG stays crisp where a front end trusts it.
//!
//! Heatmap cells are pixels in both: in the SVG one embedded PNG per matrix (at most one pixel
//! per screen pixel) with axes, labels and colour bar as vectors, so a 512 × 768 positional
//! heatmap stays small.

mod backend;
mod bars;
mod canvas;
mod color;
mod figure;
mod heatmap;
mod lines;
mod raster;

use std::path::Path;

pub use color::Colormap;
pub(crate) use figure::{Bar, BarChart, Figure, HeatmapSpec, LineChart, Series};
pub(crate) use raster::base64;

use crate::error::{Error, Result};
use crate::view::html::escape;

/// A finished plot. In a notebook it displays itself as a PNG (which every front end shows,
/// trusted or not) with an SVG beside it for front ends that trust the output.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let plot = positional_encoding(50, 128)?.heatmap();
/// assert!(plot.to_svg().starts_with("<svg"));
/// assert!(plot.to_png()?.starts_with(b"\x89PNG"));
/// assert_eq!(plot.size(), (760, 440));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Plot {
    figure: Figure,
    size: (u32, u32),
}

/// Height of the SVG that says why a figure could not be drawn.
const MESSAGE_HEIGHT: u32 = 40;

impl Plot {
    pub(crate) fn new(figure: Figure, size: (u32, u32)) -> Self {
        Plot {
            figure,
            size: (size.0.max(1), size.1.max(1)),
        }
    }

    /// Width and height in pixels: the PNG's size, and the SVG's.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// assert_eq!(positional_encoding(50, 128)?.curves(&[4, 5]).size(), (760, 380));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The plot's title.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let plot = positional_encoding(50, 128)?.similarity()?;
    /// assert_eq!(plot.title(), "Dot product of position vectors PE(p) · PE(q)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn title(&self) -> &str {
        self.figure.title()
    }

    /// The plot as an SVG document. Text stays text (the browser draws it in its own
    /// sans-serif font, so every script shows); heatmap cells are an embedded PNG. If the
    /// figure cannot be drawn, the SVG shows why.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let svg = positional_encoding(10, 16)?.curves(&[0, 1]).to_svg();
    /// assert!(svg.contains("dim 0 (sin)") && svg.ends_with("</svg>\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_svg(&self) -> String {
        backend::render_svg(&self.figure, self.size).unwrap_or_else(|e| message_svg(&e.to_string()))
    }

    /// The plot as a PNG of [`size`](Self::size) pixels, text drawn with the bundled DejaVu
    /// Sans (Latin, Vietnamese, Greek; other scripts show as boxes, see [`to_svg`](Self::to_svg)).
    ///
    /// It is drawn at one image pixel per screen pixel: a notebook shows a PNG at its pixel
    /// size (evcxr sends no size with it), so a sharper 2× image would show twice as large.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let png = positional_encoding(50, 128)?.heatmap().to_png()?;
    /// assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    /// assert!(png.len() < 120_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_png(&self) -> Result<Vec<u8>> {
        backend::render_png(&self.figure, self.size)
    }

    /// Writes the plot to a file: `.png` for a picture any program opens, `.svg` for vector
    /// graphics (by the file's extension, in any case).
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let dir = std::env::temp_dir();
    /// let plot = positional_encoding(50, 128)?.heatmap();
    /// plot.save(dir.join("positional.png"))?;
    /// plot.save(dir.join("positional.svg"))?;
    /// assert!(plot.save(dir.join("positional.jpg")).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let extension = path
            .extension()
            .and_then(|ext| ext.to_str())
            .map(str::to_ascii_lowercase);
        let bytes = match extension.as_deref() {
            Some("png") => self.to_png()?,
            Some("svg") => self.to_svg().into_bytes(),
            _ => {
                return Err(Error::invalid(format!(
                    "cannot save a plot as {}: name the file something.png (a picture) or \
                     something.svg (vector graphics)",
                    path.display()
                )));
            }
        };
        std::fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
    }
}

impl std::fmt::Display for Plot {
    /// One line: the title and the size, e.g. what a notebook shows as plain text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (width, height) = self.size;
        write!(f, "Plot: {} ({width} × {height} px)", self.title())
    }
}

impl std::fmt::Debug for Plot {
    /// The title and size, not the figure's data (a heatmap can hold 400,000 values).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plot")
            .field("title", &self.title())
            .field("size", &self.size)
            .finish()
    }
}

/// A message as an SVG written by hand: the last resort when even drawing a message fails.
fn message_svg(text: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"{MESSAGE_HEIGHT}\" \
         viewBox=\"0 0 640 {MESSAGE_HEIGHT}\"><rect width=\"640\" height=\"{MESSAGE_HEIGHT}\" \
         fill=\"#fff3f3\"/><text x=\"10\" y=\"25\" font-family=\"sans-serif\" font-size=\"14\" \
         fill=\"#a00\">{}</text></svg>\n",
        escape(text)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes a PNG with the `png` crate, an independent decoder:
    /// `(width, height, RGB or RGBA bytes, channels)`.
    pub(crate) fn decode_png(png: &[u8]) -> (u32, u32, Vec<u8>, usize) {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
        // Palette images come back as RGB.
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
        let info = reader.next_frame(&mut pixels).expect("PNG data");
        pixels.truncate(info.buffer_size());
        let channels = info.color_type.samples();
        (info.width, info.height, pixels, channels)
    }

    /// Standard deviation of the pixels' brightness: 0 for a blank picture.
    pub(crate) fn brightness_spread(pixels: &[u8], channels: usize) -> f64 {
        let values: Vec<f64> = pixels
            .chunks(channels)
            .map(|p| p[..3].iter().map(|&c| f64::from(c)).sum::<f64>() / 3.0)
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
    }

    fn sample_heatmap(labels: Option<Vec<String>>) -> Plot {
        let n = 3;
        let values: Vec<f32> = (0..n * n).map(|i| i as f32 / 8.0).collect();
        Plot::new(
            Figure::Heatmap(
                HeatmapSpec::new(values, n, n)
                    .title("test <map> Tôi đọc")
                    .labels(labels),
            ),
            (400, 300),
        )
    }

    #[test]
    fn heatmap_svg_has_the_cells_the_colour_bar_and_an_escaped_title() {
        let svg = sample_heatmap(None).to_svg();
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<image").count(), 2, "cells + colour bar");
        assert!(svg.contains("test &lt;map&gt; Tôi đọc"));
    }

    #[test]
    fn token_labels_are_written_on_both_axes() {
        let labels: Vec<String> = ["[CLS]", "novel", "[SEP]"].map(String::from).to_vec();
        let svg = sample_heatmap(Some(labels)).to_svg();
        assert_eq!(svg.matches("\nnovel\n</text>").count(), 2);
        assert!(svg.contains("rotate(90"));
    }

    #[test]
    fn png_is_the_plot_size_and_not_blank() {
        let plot = sample_heatmap(None);
        let (w, h, pixels, channels) = decode_png(&plot.to_png().unwrap());
        assert_eq!((w, h), plot.size());
        assert!(brightness_spread(&pixels, channels) > 20.0);
    }

    #[test]
    fn png_text_is_drawn_with_the_bundled_font() {
        // The same plot with and without a title differs only where the title's glyphs are.
        let titled = sample_heatmap(None);
        let mut untitled = titled.clone();
        if let Figure::Heatmap(spec) = &mut untitled.figure {
            spec.title.clear();
        }
        let (_, _, a, _) = decode_png(&titled.to_png().unwrap());
        let (_, _, b, _) = decode_png(&untitled.to_png().unwrap());
        let changed = a.chunks(3).zip(b.chunks(3)).filter(|(p, q)| p != q).count();
        assert!(changed > 200, "{changed} pixels differ");
    }

    #[test]
    fn a_grid_puts_every_panel_on_one_scale() {
        let panels: Vec<HeatmapSpec> = (0..4)
            .map(|h| HeatmapSpec::new(vec![0.2; 4], 2, 2).title(format!("head {h}")))
            .collect();
        let plot = Plot::new(
            Figure::Grid {
                title: "all heads".into(),
                panels,
                columns: 2,
            },
            (600, 500),
        );
        let svg = plot.to_svg();
        assert_eq!(svg.matches("<image").count(), 5);
        assert!(svg.contains("all heads") && svg.contains("head 3"));
        let (w, h, pixels, channels) = decode_png(&plot.to_png().unwrap());
        assert_eq!((w, h), plot.size());
        assert!(
            brightness_spread(&pixels, channels) > 20.0,
            "the PNG is not blank"
        );
    }

    #[test]
    fn an_empty_grid_says_so_instead_of_panicking() {
        let plot = Plot::new(
            Figure::Grid {
                title: "none".into(),
                panels: vec![],
                columns: 2,
            },
            (300, 200),
        );
        assert!(plot.to_svg().contains("nothing to plot"));
        assert!(
            plot.to_png()
                .unwrap_err()
                .to_string()
                .contains("nothing to plot")
        );
    }

    #[test]
    fn line_charts_draw_a_path_per_series_with_a_legend() {
        let series = ["sin", "cos"]
            .map(|label| Series {
                label: label.into(),
                points: (0..10)
                    .map(|i| (f64::from(i), f64::from(i).sin()))
                    .collect(),
            })
            .to_vec();
        let plot = Plot::new(
            Figure::Lines(LineChart {
                title: "curves".into(),
                x_desc: "position".into(),
                y_desc: "value".into(),
                series,
            }),
            (500, 300),
        );
        let svg = plot.to_svg();
        assert!(svg.contains("\nsin\n") && svg.contains("\ncos\n"));
        assert!(svg.matches("<polyline").count() >= 2);
        let (_, _, pixels, channels) = decode_png(&plot.to_png().unwrap());
        assert!(brightness_spread(&pixels, channels) > 5.0);
    }

    #[test]
    fn save_writes_png_and_svg_and_names_both_for_anything_else() {
        let plot = sample_heatmap(None);
        let dir = tempfile::tempdir().unwrap();
        let err = plot.save(dir.path().join("plot.jpg")).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }));
        assert!(
            err.to_string().contains("something.png") && err.to_string().contains("something.svg"),
            "{err}"
        );
        plot.save(dir.path().join("plot.SVG")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("plot.SVG")).unwrap(),
            plot.to_svg()
        );
        plot.save(dir.path().join("plot.png")).unwrap();
        let png = std::fs::read(dir.path().join("plot.png")).unwrap();
        assert_eq!(decode_png(&png).0, plot.size().0);
        let err = plot.save(dir.path().join("missing/plot.png")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }

    #[test]
    fn the_last_resort_svg_escapes_its_text() {
        assert!(message_svg("a < b").contains("a &lt; b"));
    }

    #[test]
    fn plots_describe_themselves_in_one_line() {
        let plot = sample_heatmap(None);
        assert_eq!(plot.to_string(), "Plot: test <map> Tôi đọc (400 × 300 px)");
        assert_eq!(
            format!("{plot:?}"),
            "Plot { title: \"test <map> Tôi đọc\", size: (400, 300) }"
        );
    }
}
