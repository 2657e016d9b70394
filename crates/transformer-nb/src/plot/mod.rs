//! Inline plots: heatmaps and line charts as self-contained SVG strings.
//!
//! Every plot is drawn with [plotters]' SVG backend into a [`Plot`], which is just the SVG text:
//! tests read it, [`Plot::save`] writes it, and in an evcxr notebook it displays itself. Heatmap
//! cells are one embedded PNG (at most one pixel per screen pixel) while axes, labels and the
//! colour bar stay vectors, so a 50 × 128 positional heatmap is a few tens of kilobytes and a
//! 512 × 768 one does not grow into megabytes. Text needs no system fonts: the SVG names
//! `sans-serif` and the browser picks one.

mod color;
mod heatmap;
mod lines;
mod raster;

use std::path::Path;

pub use color::Colormap;
pub(crate) use heatmap::{Heatmap, heatmap, heatmap_grid};
pub(crate) use lines::{Series, line_chart};

use crate::display::escape;
use crate::error::{Error, Result};

/// A finished plot: an SVG document that displays inline in JupyterLab.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let plot = positional_encoding(50, 128)?.heatmap();
/// let svg = plot.to_svg();
/// assert!(svg.starts_with("<svg") && svg.len() < 150_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plot {
    svg: String,
}

impl Plot {
    pub(crate) fn from_svg(svg: String) -> Self {
        Plot { svg }
    }

    /// A plot that shows a message instead of a picture. Drawing code that cannot return an
    /// error (a plotters failure) ends up here rather than panicking in the user's cell.
    pub(crate) fn message(text: &str) -> Self {
        Plot::from_svg(format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"60\" viewBox=\"0 0 640 60\">\
             <rect width=\"640\" height=\"60\" fill=\"#fff3f3\"/>\
             <text x=\"10\" y=\"35\" font-family=\"sans-serif\" font-size=\"14\" fill=\"#a00\">{}</text></svg>",
            escape(text)
        ))
    }

    /// The SVG document, as an owned string.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let svg = positional_encoding(10, 16)?.curves(&[0, 1]).to_svg();
    /// assert!(svg.contains("</svg>"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_svg(&self) -> String {
        self.svg.clone()
    }

    /// The SVG document, borrowed.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let plot = positional_encoding(10, 16)?.heatmap();
    /// assert!(plot.as_svg().contains("data:image/png;base64,"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_svg(&self) -> &str {
        &self.svg
    }

    /// Writes the plot to an `.svg` file.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// positional_encoding(50, 128)?.heatmap().save("positional.svg")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let is_svg = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("svg"));
        if !is_svg {
            return Err(Error::invalid(format!(
                "cannot save a plot as {}: plots are SVG, so name the file something.svg",
                path.display()
            )));
        }
        std::fs::write(path, &self.svg).map_err(|e| Error::io("write", path, e))
    }
}

impl std::fmt::Display for Plot {
    /// The SVG text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.svg)
    }
}

/// Turns any plotters error into ours.
pub(crate) fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_refuses_other_formats_and_writes_svg() {
        let plot = Plot::message("hello");
        let dir = tempfile::tempdir().unwrap();
        let err = plot.save(dir.path().join("plot.png")).unwrap_err();
        assert!(err.to_string().contains("something.svg"), "{err}");
        let path = dir.path().join("plot.svg");
        plot.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), plot.to_svg());
    }

    #[test]
    fn message_plots_escape_their_text() {
        assert!(Plot::message("a < b").as_svg().contains("a &lt; b"));
    }
}
