//! Drawing a figure on a backend: plotters' SVG backend for the vector picture, its bitmap
//! backend for the PNG. The same drawing code serves both (it is generic over the backend);
//! heatmap cells come back as [`Placement`]s, which the SVG embeds as a small PNG image and
//! the bitmap receives pixel by pixel.
//!
//! Text in the PNG is drawn by ab_glyph (pure Rust) with a bundled subset of DejaVu Sans
//! (Latin with Vietnamese, Greek, punctuation, maths), so a picture never depends on the fonts
//! of the machine; characters outside it (CJK, emoji) show the font's empty box, while the SVG
//! keeps the real text for the browser to draw.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::canvas::{Canvas, FONT_BYTES, font};
use super::figure::Figure;
use super::raster::{Raster, base64, encode_png, quantize_channels};
use super::{bars, heatmap, lines};
use crate::error::{Error, Result};

/// The font family every piece of text asks for. SVG readers map it to their own sans-serif
/// font; the bitmap backend finds the bundled font registered under this name.
pub(crate) const FONT_FAMILY: &str = "sans-serif";

/// A drawing area on any plotters backend.
pub(crate) type Area<DB> = DrawingArea<DB, Shift>;

/// Heatmap cells to put into the picture: `width × height` pixels at `(x, y)`.
pub(crate) struct Placement<'a> {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    pub raster: Raster<'a>,
}

/// Turns any plotters error into ours, keeping it as the source.
pub(crate) fn plot_error(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Plot {
        message: e.to_string(),
        source: Some(Box::new(e)),
    }
}

/// Registers the bundled font with plotters, once per process, and checks that it parses.
/// Every render calls it first: with its ab_glyph feature, plotters measures text for the SVG
/// with the registered font.
fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        font().is_some()
            && plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::plot(
            "the bundled font could not be read; rebuild the crate (assets/DejaVuSans-subset.ttf)",
        ))
    }
}

/// Draws the vector parts of `figure` and returns where its rasters go.
fn draw<'f, DB: DrawingBackend<ErrorType: 'static>>(
    root: &Area<DB>,
    figure: &'f Figure,
    size: (u32, u32),
) -> Result<Vec<Placement<'f>>> {
    root.fill(&WHITE).map_err(plot_error)?;
    let placements: Vec<Placement<'f>> = match figure {
        Figure::Heatmap(spec) => heatmap::draw_single(root, spec, size)?,
        Figure::Grid {
            title,
            panels,
            columns,
        } => heatmap::draw_grid(root, title, panels, *columns, size)?,
        Figure::Lines(chart) => {
            lines::draw(root, chart)?;
            Vec::new()
        }
        Figure::Bars(chart) => {
            bars::draw(root, chart)?;
            Vec::new()
        }
    };
    root.present().map_err(plot_error)?;
    // Heatmaps drawn as vector cells (with text) leave nothing to place.
    Ok(placements
        .into_iter()
        .filter(|p| p.width > 0 && p.height > 0)
        .collect())
}

/// The figure as an SVG document; heatmap cells are embedded PNGs at no more pixels than the
/// data has or the picture shows, drawn pixelated (the browser scales them up).
pub(crate) fn render_svg(figure: &Figure, size: (u32, u32)) -> Result<String> {
    register_font()?;
    let mut svg = String::new();
    let placements = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root, figure, size)?
    };
    let images: String = placements
        .iter()
        .map(|p| {
            let png = p
                .raster
                .to_png(p.height.max(1) as usize, p.width.max(1) as usize);
            format!(
                "<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" preserveAspectRatio=\"none\" \
                 image-rendering=\"optimizeSpeed\" style=\"image-rendering:pixelated\" \
                 href=\"data:image/png;base64,{}\"/>\n",
                p.x,
                p.y,
                p.width,
                p.height,
                base64(&png)
            )
        })
        .collect();
    let end = svg
        .rfind("</svg>")
        .ok_or_else(|| Error::plot("the SVG backend wrote no document"))?;
    svg.insert_str(end, &images);
    Ok(svg)
}

/// The figure as a PNG of exactly `size` pixels.
pub(crate) fn render_png(figure: &Figure, size: (u32, u32)) -> Result<Vec<u8>> {
    register_font()?;
    let (width, height) = (size.0.max(1) as usize, size.1.max(1) as usize);
    let mut rgb = vec![0xffu8; width * height * 3];
    let placements = {
        let font = font().ok_or_else(|| Error::plot("the bundled font could not be read"))?;
        let root = Canvas::new(&mut rgb, (width as u32, height as u32), font).into_drawing_area();
        draw(&root, figure, (width as u32, height as u32))?
    };
    // Anti-aliased text makes hundreds of greys; 32 levels a channel look the same and let
    // the whole picture fit a 256-colour palette (a third of the bytes, or less).
    quantize_channels(&mut rgb);
    for p in &placements {
        blit(&mut rgb, width, height, p);
    }
    Ok(encode_png(&rgb, width, height))
}

/// Copies a placement's pixels into an RGB buffer, clipped to the picture.
fn blit(rgb: &mut [u8], width: usize, height: usize, p: &Placement) {
    let (w, h) = (p.width.max(1) as usize, p.height.max(1) as usize);
    let pixels = p.raster.to_rgb(h, w);
    for row in 0..h {
        let y = p.y + row as i32;
        if y < 0 || y as usize >= height {
            continue;
        }
        for col in 0..w {
            let x = p.x + col as i32;
            if x < 0 || x as usize >= width {
                continue;
            }
            let to = (y as usize * width + x as usize) * 3;
            let from = (row * w + col) * 3;
            rgb[to..to + 3].copy_from_slice(&pixels[from..from + 3]);
        }
    }
}
