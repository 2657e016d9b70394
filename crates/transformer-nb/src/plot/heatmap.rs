//! Heatmaps: a matrix as coloured cells, with numeric or token axes and a colour bar.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::color::Colormap;
use super::raster::{Raster, base64};
use super::{Plot, plot_error};
use crate::error::Result;

/// What one heatmap shows. Row 0 is drawn at the top when rows carry labels (tokens, as in
/// an attention matrix) and at the bottom for numeric axes (as `pcolormesh` draws positions).
pub(crate) struct Heatmap<'a> {
    pub values: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub title: String,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub x_labels: Option<&'a [String]>,
    pub y_labels: Option<&'a [String]>,
    pub colormap: Colormap,
    pub range: (f32, f32),
}

/// Where a PNG goes in the finished SVG (absolute pixels).
struct Placement {
    x: i32,
    y: i32,
    width: i32,
    height: i32,
    png: Vec<u8>,
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const COLORBAR_WIDTH: u32 = 80;

/// One heatmap with its colour bar.
pub(crate) fn heatmap(spec: &Heatmap, size: (u32, u32)) -> Plot {
    render(size, |root| {
        let (main, bar) = root.split_horizontally(size.0.saturating_sub(COLORBAR_WIDTH));
        let mut placements = vec![draw_panel(&main, spec, 18)?];
        placements.push(draw_colorbar(&bar, spec.colormap, spec.range)?);
        Ok(placements)
    })
}

/// Several heatmaps on one colour scale (small multiples), `columns` to a row.
pub(crate) fn heatmap_grid(
    title: &str,
    panels: &[Heatmap],
    columns: usize,
    size: (u32, u32),
) -> Plot {
    let Some(first) = panels.first() else {
        return Plot::message("nothing to plot");
    };
    let columns = columns.clamp(1, panels.len());
    let rows = panels.len().div_ceil(columns);
    render(size, |root| {
        let root = root.titled(title, ("sans-serif", 22)).map_err(plot_error)?;
        let (main, bar) = root.split_horizontally(size.0.saturating_sub(COLORBAR_WIDTH));
        let cells = main.split_evenly((rows, columns));
        let mut placements = Vec::with_capacity(panels.len() + 1);
        for (panel, area) in panels.iter().zip(cells.iter()) {
            placements.push(draw_panel(area, panel, 15)?);
        }
        placements.push(draw_colorbar(&bar, first.colormap, first.range)?);
        Ok(placements)
    })
}

/// Draws the vector parts with plotters, then adds the PNGs on top of their plotting areas.
fn render(size: (u32, u32), draw: impl FnOnce(&Area) -> Result<Vec<Placement>>) -> Plot {
    let mut svg = String::new();
    let placements = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(plot_error)
            .and_then(|()| draw(&root))
            .and_then(|placements| root.present().map_err(plot_error).map(|()| placements));
        match drawn {
            Ok(placements) => placements,
            Err(e) => return Plot::message(&e.to_string()),
        }
    };
    let images: String = placements
        .iter()
        .map(|p| {
            format!(
                "<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" preserveAspectRatio=\"none\" \
                 image-rendering=\"optimizeSpeed\" style=\"image-rendering:pixelated\" \
                 href=\"data:image/png;base64,{}\"/>\n",
                p.x,
                p.y,
                p.width,
                p.height,
                base64(&p.png)
            )
        })
        .collect();
    match svg.rfind("</svg>") {
        Some(end) => svg.insert_str(end, &images),
        None => return Plot::message("the SVG backend wrote no document"),
    }
    Plot::from_svg(svg)
}

/// Pixel width of the longest label: about 0.6 em a character at the size plotters writes
/// (1/1.24 of the size asked for).
fn label_width(labels: &[String], font_size: f64) -> u32 {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    (longest as f64 * font_size / 1.24 * 0.6).ceil() as u32
}

fn draw_panel(area: &Area, spec: &Heatmap, caption_size: u32) -> Result<Placement> {
    // plotters writes SVG font sizes at 1/1.24 of the size asked for.
    const TOKEN_FONT: f64 = 13.0;
    let x_area = spec
        .x_labels
        .map_or(40, |l| label_width(l, TOKEN_FONT).min(170) + 8);
    let y_area = spec
        .y_labels
        .map_or(48, |l| label_width(l, TOKEN_FONT).min(170) + 8);
    let mut chart = ChartBuilder::on(area)
        .caption(&spec.title, ("sans-serif", caption_size))
        .margin(6)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(0f64..spec.cols as f64, 0f64..spec.rows as f64)
        .map_err(plot_error)?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh().label_style(("sans-serif", 13));
        if spec.x_labels.is_some() {
            mesh.x_labels(0);
        } else {
            mesh.x_desc(spec.x_desc)
                .x_label_formatter(&|v| format!("{v:.0}"));
        }
        if spec.y_labels.is_some() {
            mesh.y_labels(0);
        } else {
            mesh.y_desc(spec.y_desc)
                .y_label_formatter(&|v| format!("{v:.0}"));
        }
        mesh.draw().map_err(plot_error)?;
    }
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (width, height) = (xr.end - xr.start, yr.end - yr.start);
    let base = area.get_base_pixel();
    let label_style = |pos: Pos| {
        ("sans-serif", TOKEN_FONT)
            .into_text_style(area)
            .pos(pos)
            .color(&BLACK)
    };
    if let Some(labels) = spec.x_labels {
        let cell = f64::from(width) / spec.cols.max(1) as f64;
        let every = (TOKEN_FONT / cell).ceil().max(1.0) as usize;
        let style =
            label_style(Pos::new(HPos::Left, VPos::Center)).transform(FontTransform::Rotate90);
        for (i, label) in labels.iter().enumerate().step_by(every) {
            let x = xr.start - base.0 + ((i as f64 + 0.5) * cell) as i32;
            area.draw(&Text::new(
                label.as_str(),
                (x, yr.end - base.1 + 4),
                style.clone(),
            ))
            .map_err(plot_error)?;
        }
    }
    if let Some(labels) = spec.y_labels {
        let cell = f64::from(height) / spec.rows.max(1) as f64;
        let every = (TOKEN_FONT / cell).ceil().max(1.0) as usize;
        let style = label_style(Pos::new(HPos::Right, VPos::Center));
        for (i, label) in labels.iter().enumerate().step_by(every) {
            let y = yr.start - base.1 + ((i as f64 + 0.5) * cell) as i32;
            area.draw(&Text::new(
                label.as_str(),
                (xr.start - base.0 - 4, y),
                style.clone(),
            ))
            .map_err(plot_error)?;
        }
    }

    // Images draw their first row at the top; numeric y axes grow upwards, so flip those.
    let flipped;
    let values = if spec.y_labels.is_some() {
        spec.values
    } else {
        flipped = spec
            .values
            .chunks(spec.cols.max(1))
            .rev()
            .flatten()
            .copied()
            .collect::<Vec<f32>>();
        &flipped
    };
    let raster = Raster {
        values,
        rows: spec.rows,
        cols: spec.cols,
    };
    Ok(Placement {
        x: xr.start,
        y: yr.start,
        width,
        height,
        png: raster.to_png(
            spec.colormap,
            spec.range,
            height.max(1) as usize,
            width.max(1) as usize,
        ),
    })
}

fn draw_colorbar(area: &Area, colormap: Colormap, (low, high): (f32, f32)) -> Result<Placement> {
    let (low, high) = if high > low {
        (low, high)
    } else {
        (low - 0.5, low + 0.5)
    };
    let chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(48)
        .margin_left(6)
        .margin_right(4)
        .right_y_label_area_size(46)
        .build_cartesian_2d(0f64..1f64, f64::from(low)..f64::from(high))
        .map_err(plot_error)?;
    let mut chart = chart;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style(("sans-serif", 13))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()
        .map_err(plot_error)?;
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    const STEPS: usize = 128;
    let gradient: Vec<f32> = (0..STEPS)
        .map(|i| high - (high - low) * i as f32 / (STEPS - 1) as f32)
        .collect();
    let raster = Raster {
        values: &gradient,
        rows: STEPS,
        cols: 1,
    };
    Ok(Placement {
        x: xr.start,
        y: yr.start,
        width: xr.end - xr.start,
        height: yr.end - yr.start,
        png: raster.to_png(colormap, (low, high), STEPS, 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(
        values: &'a [f32],
        rows: usize,
        cols: usize,
        labels: Option<&'a [String]>,
    ) -> Heatmap<'a> {
        Heatmap {
            values,
            rows,
            cols,
            title: "test <map>".into(),
            x_desc: "x",
            y_desc: "y",
            x_labels: labels,
            y_labels: labels,
            colormap: Colormap::Viridis,
            range: (0.0, 1.0),
        }
    }

    #[test]
    fn heatmap_has_one_image_per_panel_plus_the_colorbar() {
        let values = vec![0.5f32; 4];
        let plot = heatmap(&spec(&values, 2, 2, None), (400, 300));
        let svg = plot.as_svg();
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<image").count(), 2);
        assert!(svg.contains("test &lt;map&gt;"), "the title is escaped");
    }

    #[test]
    fn token_labels_are_written_on_both_axes() {
        let labels: Vec<String> = ["[CLS]", "novel", "[SEP]"].map(String::from).to_vec();
        let values = vec![0.1f32; 9];
        let svg = heatmap(&spec(&values, 3, 3, Some(&labels)), (400, 300)).to_svg();
        assert_eq!(svg.matches("\nnovel\n</text>").count(), 2);
        assert!(svg.contains("rotate(90"));
    }

    #[test]
    fn grid_puts_every_panel_on_one_scale() {
        let values = vec![0.2f32; 4];
        let panels: Vec<Heatmap> = (0..4).map(|_| spec(&values, 2, 2, None)).collect();
        let svg = heatmap_grid("all heads", &panels, 2, (600, 500)).to_svg();
        assert_eq!(svg.matches("<image").count(), 5);
        assert!(svg.contains("all heads"));
    }

    #[test]
    fn an_empty_grid_is_a_message_not_a_panic() {
        assert!(
            heatmap_grid("none", &[], 2, (300, 200))
                .as_svg()
                .contains("nothing to plot")
        );
    }
}
