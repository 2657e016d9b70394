//! Heatmaps: a matrix as coloured cells, with numeric or token axes and a colour bar.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::backend::{Area, FONT_FAMILY, Placement, plot_error};
use super::figure::HeatmapSpec;
use super::raster::Raster;
use crate::error::Result;

/// Width of the colour bar with its tick labels, at the right of every heatmap.
const COLORBAR_WIDTH: u32 = 80;
/// Size of token labels and tick labels (plotters' sizes: the SVG writes 1/1.24 of it).
const LABEL_FONT: f64 = 13.0;
/// Length of a tick mark; its label starts as far again beyond it (plotters' own default scales
/// with the chart and let a tall colour bar's ticks run into their labels).
const TICK: i32 = 4;
/// Labels longer than this many pixels are cut off by the picture's edge rather than
/// squeezing the matrix.
const MAX_LABEL_AREA: u32 = 170;

/// One heatmap with its colour bar.
pub(crate) fn draw_single<'s, DB: DrawingBackend<ErrorType: 'static>>(
    root: &Area<DB>,
    spec: &'s HeatmapSpec,
    size: (u32, u32),
) -> Result<Vec<Placement<'s>>> {
    let (main, bar) = root.split_horizontally(size.0.saturating_sub(COLORBAR_WIDTH));
    let (panel, span) = draw_panel(&main, spec, 18)?;
    Ok(vec![panel, draw_colorbar(&bar, spec, span)?])
}

/// Several heatmaps on one colour scale (small multiples), `columns` to a row; the first
/// panel's colours make the colour bar.
pub(crate) fn draw_grid<'s, DB: DrawingBackend<ErrorType: 'static>>(
    root: &Area<DB>,
    title: &str,
    panels: &'s [HeatmapSpec],
    columns: usize,
    size: (u32, u32),
) -> Result<Vec<Placement<'s>>> {
    let Some(first) = panels.first() else {
        return Err(crate::Error::plot("nothing to plot"));
    };
    let columns = columns.clamp(1, panels.len());
    let rows = panels.len().div_ceil(columns);
    let root = root.titled(title, (FONT_FAMILY, 22)).map_err(plot_error)?;
    let (main, bar) = root.split_horizontally(size.0.saturating_sub(COLORBAR_WIDTH));
    let cells = main.split_evenly((rows, columns));
    let mut placements = Vec::with_capacity(panels.len() + 1);
    let mut span: Option<std::ops::Range<i32>> = None;
    for (panel, area) in panels.iter().zip(cells.iter()) {
        let (placement, rows) = draw_panel(area, panel, 15)?;
        placements.push(placement);
        span = Some(match span {
            Some(s) => s.start.min(rows.start)..s.end.max(rows.end),
            None => rows,
        });
    }
    placements.push(draw_colorbar(&bar, first, span.unwrap_or(0..0))?);
    Ok(placements)
}

/// Pixel width of the longest label: about 0.6 em a character at the size plotters writes
/// (1/1.24 of the size asked for).
fn label_width(labels: &[String], font_size: f64) -> u32 {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    (longest as f64 * font_size / 1.24 * 0.6).ceil() as u32
}

/// One matrix with its axes; returns where its cells go and the pixel rows they span (for the
/// colour bar beside it).
fn draw_panel<'s, DB: DrawingBackend<ErrorType: 'static>>(
    area: &Area<DB>,
    spec: &'s HeatmapSpec,
    caption_size: u32,
) -> Result<(Placement<'s>, std::ops::Range<i32>)> {
    let labels = spec.labels.as_deref();
    let row_labels = spec.row_labels.as_deref().or(labels);
    let label_area =
        |l: Option<&[String]>| l.map(|l| label_width(l, LABEL_FONT).min(MAX_LABEL_AREA) + 8);
    let mut chart = ChartBuilder::on(area)
        .caption(&spec.title, (FONT_FAMILY, caption_size))
        .margin(6)
        .x_label_area_size(label_area(labels).unwrap_or(40))
        .y_label_area_size(label_area(row_labels).unwrap_or(48))
        .build_cartesian_2d(0f64..spec.cols as f64, 0f64..spec.rows as f64)
        .map_err(plot_error)?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh()
            .label_style((FONT_FAMILY, LABEL_FONT))
            .set_all_tick_mark_size(TICK);
        if labels.is_some() {
            mesh.x_labels(0).y_labels(0);
        } else {
            // As many numbers as fit apart: a small panel of a grid gets few.
            let (w, h) = area.dim_in_pixel();
            mesh.x_labels((w / 45).clamp(2, 10) as usize)
                .y_labels((h / 24).clamp(2, 10) as usize)
                .x_desc(&spec.x_desc)
                .y_desc(&spec.y_desc)
                .x_label_formatter(&|v| tick_label(*v, 0))
                .y_label_formatter(&|v| tick_label(*v, 0));
        }
        mesh.draw().map_err(plot_error)?;
    }
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (width, height) = (xr.end - xr.start, yr.end - yr.start);
    if let (Some(labels), Some(row_labels)) = (labels, row_labels) {
        draw_token_labels(area, (labels, row_labels), (&xr, &yr), spec.rows, spec.cols)?;
    }
    if let Some(text) = &spec.cell_text {
        draw_cells_with_text(&chart, spec, text)?;
        // The cells are drawn: nothing left to place.
        let placement = Placement {
            x: xr.start,
            y: yr.start,
            width: 0,
            height: 0,
            raster: Raster {
                values: &[],
                rows: 0,
                cols: 0,
                flip_rows: false,
                colormap: spec.colormap,
                range: spec.range,
            },
        };
        return Ok((placement, yr));
    }
    let placement = Placement {
        x: xr.start,
        y: yr.start,
        width,
        height,
        raster: Raster {
            values: &spec.values,
            rows: spec.rows,
            cols: spec.cols,
            // Numeric y axes grow upwards, as pcolormesh draws positions.
            flip_rows: labels.is_none(),
            colormap: spec.colormap,
            range: spec.range,
        },
    };
    Ok((placement, yr))
}

/// Token labels along both axes: rotated under the columns, right-aligned left of the rows;
/// every one of them, in a smaller font where the cells are smaller than the text.
fn draw_token_labels<DB: DrawingBackend<ErrorType: 'static>>(
    area: &Area<DB>,
    (labels, row_labels): (&[String], &[String]),
    (xr, yr): (&std::ops::Range<i32>, &std::ops::Range<i32>),
    rows: usize,
    cols: usize,
) -> Result<()> {
    let base = area.get_base_pixel();
    let style = |pos: Pos, size: f64| {
        (FONT_FAMILY, size)
            .into_text_style(area)
            .pos(pos)
            .color(&BLACK)
    };
    let cell = f64::from(xr.end - xr.start) / cols.max(1) as f64;
    let under = style(Pos::new(HPos::Left, VPos::Center), label_font(cell))
        .transform(FontTransform::Rotate90);
    for (i, label) in labels.iter().enumerate().take(cols) {
        let x = xr.start - base.0 + ((i as f64 + 0.5) * cell) as i32;
        area.draw(&Text::new(
            label.as_str(),
            (x, yr.end - base.1 + 4),
            under.clone(),
        ))
        .map_err(plot_error)?;
    }
    let cell = f64::from(yr.end - yr.start) / rows.max(1) as f64;
    let left = style(Pos::new(HPos::Right, VPos::Center), label_font(cell));
    for (i, label) in row_labels.iter().enumerate().take(rows) {
        let y = yr.start - base.1 + ((i as f64 + 0.5) * cell) as i32;
        area.draw(&Text::new(
            label.as_str(),
            (xr.start - base.0 - 4, y),
            left.clone(),
        ))
        .map_err(plot_error)?;
    }
    Ok(())
}

/// The label size that fits a cell `cell` pixels across: a line of text is about 1/1.24 of the
/// size plotters is asked for, and neighbouring labels keep a pixel or two apart.
fn label_font(cell: f64) -> f64 {
    (cell * 1.1).min(LABEL_FONT)
}

/// A tick's label with `decimals` digits; never "-0.00" (a value just below zero rounds to
/// zero and keeps its sign in Rust's formatting).
pub(crate) fn tick_label(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => text,
    }
}

/// Cells as filled rectangles with their text on top (black on light cells, white on dark).
fn draw_cells_with_text<DB: DrawingBackend<ErrorType: 'static>>(
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    spec: &HeatmapSpec,
    text: &[String],
) -> Result<()> {
    let (low, high) = spec.range;
    let span = if high > low { high - low } else { 1.0 };
    let top = spec.rows as f64;
    for r in 0..spec.rows {
        for c in 0..spec.cols {
            let value = spec
                .values
                .get(r * spec.cols + c)
                .copied()
                .unwrap_or(f32::NAN);
            let t = (value - low) / span;
            let [red, green, blue] = spec.colormap.rgb(t);
            let (x, y) = (c as f64, top - r as f64);
            chart
                .plotting_area()
                .draw(&Rectangle::new(
                    [(x, y - 1.0), (x + 1.0, y)],
                    RGBColor(red, green, blue).filled(),
                ))
                .map_err(plot_error)?;
            if let Some(label) = text.get(r * spec.cols + c) {
                let luminance =
                    0.299 * f32::from(red) + 0.587 * f32::from(green) + 0.114 * f32::from(blue);
                let colour = if luminance < 140.0 { WHITE } else { BLACK };
                let style = (FONT_FAMILY, spec.cell_font)
                    .into_text_style(chart.plotting_area())
                    .pos(Pos::new(HPos::Center, VPos::Center))
                    .color(&colour);
                chart
                    .plotting_area()
                    .draw(&Text::new(label.as_str(), (x + 0.5, y - 0.5), style))
                    .map_err(plot_error)?;
            }
        }
    }
    Ok(())
}

/// Steps of the colour bar's gradient: smooth at any bar height this library draws.
const COLORBAR_STEPS: usize = 128;

/// The colour bar, spanning the pixel rows `span` of the matrix beside it.
fn draw_colorbar<'s, DB: DrawingBackend<ErrorType: 'static>>(
    area: &Area<DB>,
    spec: &'s HeatmapSpec,
    span: std::ops::Range<i32>,
) -> Result<Placement<'s>> {
    let (low, high) = spec.range;
    let decimals = spec.colorbar_decimals;
    let (low, high) = if high > low {
        (low, high)
    } else {
        (low - 0.5, low + 0.5)
    };
    let (top, bottom) = (
        area.get_base_pixel().1,
        area.get_base_pixel().1 + area.dim_in_pixel().1 as i32,
    );
    let (margin_top, margin_bottom) = if span.end > span.start {
        (
            (span.start - top).max(0) as u32,
            (bottom - span.end).max(0) as u32,
        )
    } else {
        (40, 48)
    };
    let mut chart = ChartBuilder::on(area)
        .margin_top(margin_top)
        .margin_bottom(margin_bottom)
        .margin_left(6)
        .margin_right(4)
        .right_y_label_area_size(46)
        .build_cartesian_2d(0f64..1f64, f64::from(low)..f64::from(high))
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style((FONT_FAMILY, LABEL_FONT))
        .set_all_tick_mark_size(TICK)
        .y_label_formatter(&|v| tick_label(*v, decimals))
        .draw()
        .map_err(plot_error)?;
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    Ok(Placement {
        x: xr.start,
        y: yr.start,
        width: xr.end - xr.start,
        height: yr.end - yr.start,
        raster: Raster {
            values: gradient(),
            rows: COLORBAR_STEPS,
            cols: 1,
            // The gradient runs from 0 (bottom) to 1 (top), like the axis beside it.
            flip_rows: true,
            colormap: spec.colormap,
            range: (0.0, 1.0),
        },
    })
}

/// `COLORBAR_STEPS` values from 0 to 1, made once.
fn gradient() -> &'static [f32] {
    static GRADIENT: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    GRADIENT.get_or_init(|| {
        (0..COLORBAR_STEPS)
            .map(|i| i as f32 / (COLORBAR_STEPS - 1) as f32)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::tick_label;

    #[test]
    fn tick_labels_never_read_minus_zero() {
        assert_eq!(tick_label(-0.001, 2), "0.00");
        assert_eq!(tick_label(-1e-17, 2), "0.00");
        assert_eq!(tick_label(-0.0, 0), "0");
        assert_eq!(tick_label(-0.4, 0), "0");
        assert_eq!(tick_label(-0.5, 2), "-0.50");
        assert_eq!(tick_label(-2.0, 0), "-2");
        assert_eq!(tick_label(0.9, 2), "0.90");
    }
}
