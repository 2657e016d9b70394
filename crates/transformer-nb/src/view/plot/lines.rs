//! Line charts: a few named curves over a shared x axis.

use plotters::prelude::*;

use super::backend::{Area, FONT_FAMILY, plot_error};
use super::figure::LineChart;
use crate::error::Result;

// Tableau 10, the default colour cycle of matplotlib.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// Draws the chart's series as lines with a legend; no series draws empty axes.
pub(crate) fn draw<DB: DrawingBackend<ErrorType: 'static>>(
    root: &Area<DB>,
    chart: &LineChart,
) -> Result<()> {
    let finite = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in finite {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if (x1 - x0).abs() < f64::EPSILON {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let mut plot = ChartBuilder::on(root)
        .caption(&chart.title, (FONT_FAMILY, 19))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(52)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(plot_error)?;
    plot.configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .label_style((FONT_FAMILY, 13))
        .x_desc(&chart.x_desc)
        .y_desc(&chart.y_desc)
        .x_label_formatter(&|v| trim_number(*v))
        .y_label_formatter(&|v| trim_number(*v))
        .draw()
        .map_err(plot_error)?;
    for (i, s) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        plot.draw_series(LineSeries::new(
            s.points.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(plot_error)?
        .label(s.label.as_str())
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    if !chart.series.is_empty() {
        plot.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT_FAMILY, 13))
            .draw()
            .map_err(plot_error)?;
    }
    Ok(())
}

/// `2` rather than `2.000`, `0.25` rather than `0.250`.
fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_trimmed() {
        assert_eq!(trim_number(2.0), "2");
        assert_eq!(trim_number(0.25), "0.25");
        assert_eq!(trim_number(-0.0001), "0");
    }
}
