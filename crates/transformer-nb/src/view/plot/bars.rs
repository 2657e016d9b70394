//! Bar charts: one horizontal bar per labelled value, the label at the left and the value at
//! the bar's end, as a ranking of tokens reads best.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::backend::{Area, FONT_FAMILY, plot_error};
use super::figure::BarChart;
use crate::error::Result;

const LABEL_FONT: f64 = 13.0;
/// The widest label area, in pixels: longer labels are cut by the picture's edge.
const MAX_LABEL_AREA: u32 = 200;

/// Draws the bars top to bottom in the chart's order.
pub(crate) fn draw<DB: DrawingBackend<ErrorType: 'static>>(
    root: &Area<DB>,
    chart: &BarChart,
) -> Result<()> {
    let n = chart.bars.len().max(1);
    let longest = chart
        .bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_area =
        ((longest as f64 * LABEL_FONT / 1.24 * 0.6).ceil() as u32 + 12).clamp(40, MAX_LABEL_AREA);
    let top = chart
        .bars
        .iter()
        .map(|b| b.value)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    // Room right of the longest bar for its value.
    let x_max = top * 1.18;
    let mut plot = ChartBuilder::on(root)
        .caption(&chart.title, (FONT_FAMILY, 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(label_area)
        .build_cartesian_2d(0f64..x_max, 0f64..n as f64)
        .map_err(plot_error)?;
    plot.configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .label_style((FONT_FAMILY, LABEL_FONT))
        .x_desc(&chart.x_desc)
        .x_label_formatter(&|v| chart.format(*v))
        .draw()
        .map_err(plot_error)?;
    // Row 0 at the top.
    let y = |i: usize| (n - i) as f64;
    plot.draw_series(chart.bars.iter().enumerate().map(|(i, b)| {
        let [r, g, bl] = b.colour;
        Rectangle::new(
            [(0.0, y(i) - 0.85), (b.value.max(0.0), y(i) - 0.15)],
            RGBColor(r, g, bl).filled(),
        )
    }))
    .map_err(plot_error)?;
    let value_style = (FONT_FAMILY, LABEL_FONT)
        .into_text_style(root)
        .pos(Pos::new(HPos::Left, VPos::Center))
        .color(&BLACK);
    plot.draw_series(chart.bars.iter().enumerate().map(|(i, b)| {
        Text::new(
            format!(" {}", chart.format(b.value)),
            (b.value.max(0.0), y(i) - 0.5),
            value_style.clone(),
        )
    }))
    .map_err(plot_error)?;
    // Labels left of the plotting area, right-aligned.
    let (xr, yr) = plot.plotting_area().get_pixel_range();
    let base = root.get_base_pixel();
    let row = f64::from(yr.end - yr.start) / n as f64;
    let label_style = (FONT_FAMILY, LABEL_FONT)
        .into_text_style(root)
        .pos(Pos::new(HPos::Right, VPos::Center))
        .color(&BLACK);
    for (i, b) in chart.bars.iter().enumerate() {
        let py = yr.start - base.1 + ((i as f64 + 0.5) * row) as i32;
        root.draw(&Text::new(
            b.label.as_str(),
            (xr.start - base.0 - 6, py),
            label_style.clone(),
        ))
        .map_err(plot_error)?;
    }
    Ok(())
}
