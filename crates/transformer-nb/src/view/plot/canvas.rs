//! The PNG's canvas: plotters' bitmap backend, with text drawn here.
//!
//! plotters' own bitmap text (its `ab_glyph` feature) places each glyph at the pen position
//! without the glyph's left side bearing and on whole pixels, so letters bunch up and spaces
//! vanish ("đọcmột"). Here each glyph is placed where the font says, at sub-pixel positions,
//! with ab_glyph's anti-aliasing, at the em size plotters writes into the SVG (its size / 1.24),
//! so the PNG and the SVG set text alike.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

/// DejaVu Sans, subset by `scripts/make-font.sh`; licence in `assets/DejaVuSans-LICENSE.txt`.
pub(crate) static FONT_BYTES: &[u8] = include_bytes!("../../../assets/DejaVuSans-subset.ttf");

/// plotters writes SVG font sizes at 1/1.24 of the size asked for; the PNG does the same.
const EM_PER_SIZE: f64 = 1.0 / 1.24;
/// Height of capital letters in DejaVu Sans, in ems: vertically centred text centres them.
const CAP_HEIGHT: f32 = 0.73;

/// The bundled font, parsed once; `None` if the bytes are not a font (a broken build).
pub(crate) fn font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok())
        .as_ref()
}

/// A bitmap backend whose text is drawn with the bundled font.
pub(crate) struct Canvas<'a> {
    bitmap: BitMapBackend<'a>,
    font: &'static FontRef<'static>,
}

impl<'a> Canvas<'a> {
    /// A canvas over `rgb`, which holds `width × height` RGB pixels.
    pub fn new(
        rgb: &'a mut [u8],
        (width, height): (u32, u32),
        font: &'static FontRef<'static>,
    ) -> Self {
        Canvas {
            bitmap: BitMapBackend::with_buffer(rgb, (width, height)),
            font,
        }
    }

    /// The pixel scale and em size (pixels) for a plotters font size.
    fn scale(&self, size: f64) -> (PxScale, f32) {
        let em = (size * EM_PER_SIZE) as f32;
        let units = self.font.units_per_em().unwrap_or(2048.0);
        // ab_glyph scales so that ascent - descent spans the given pixels.
        (PxScale::from(em * self.font.height_unscaled() / units), em)
    }

    /// Width of `text` in pixels at `scale`.
    fn advance(&self, text: &str, scale: PxScale) -> f32 {
        let scaled = self.font.as_scaled(scale);
        text.chars()
            .map(|c| scaled.h_advance(self.font.glyph_id(c)))
            .sum()
    }
}

type DrawResult =
    Result<(), DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

impl DrawingBackend for Canvas<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.bitmap.get_size()
    }

    fn ensure_prepared(&mut self) -> DrawResult {
        self.bitmap.ensure_prepared()
    }

    fn present(&mut self) -> DrawResult {
        self.bitmap.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> DrawResult {
        self.bitmap.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> DrawResult {
        self.bitmap.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> DrawResult {
        self.bitmap.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> DrawResult {
        self.bitmap.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let (scale, em) = self.scale(style.size());
        Ok((self.advance(text, scale).ceil() as u32, em.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> DrawResult {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (scale, em) = self.scale(style.size());
        let width = self.advance(text, scale);
        // The text's box is `width × em`; the anchor says which point of it is `pos`.
        let anchor = style.anchor();
        let left = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let top = match anchor.v_pos {
            VPos::Top => 0.0,
            VPos::Center => -em / 2.0,
            VPos::Bottom => -em,
        };
        let baseline = top + em / 2.0 + CAP_HEIGHT * em / 2.0;
        let transform = style.transform();
        let (canvas_width, canvas_height) = self.get_size();
        let font = self.font;
        let scaled = font.as_scaled(scale);
        let mut pen = left;
        for c in text.chars() {
            let id = font.glyph_id(c);
            let glyph = id.with_scale_and_position(scale, point(pen, baseline));
            pen += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue; // a space
            };
            let bounds = outline.px_bounds();
            let mut failed = None;
            outline.draw(|x, y, coverage| {
                if failed.is_some() || coverage <= 0.0 {
                    return;
                }
                let local = (
                    bounds.min.x as i32 + x as i32,
                    bounds.min.y as i32 + y as i32,
                );
                let (dx, dy) = transform.transform(local.0, local.1);
                let (px, py) = (pos.0 + dx, pos.1 + dy);
                if px >= 0 && py >= 0 && (px as u32) < canvas_width && (py as u32) < canvas_height {
                    let ink = BackendColor {
                        alpha: color.alpha * f64::from(coverage.min(1.0)),
                        rgb: color.rgb,
                    };
                    if let Err(e) = self.bitmap.draw_pixel((px, py), ink) {
                        failed = Some(e);
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::style::text_anchor::Pos;

    /// Draws `text` at (10, 20) on a white 200 × 40 canvas; returns the inked pixels' columns.
    fn ink_columns(text: &str) -> Vec<usize> {
        let (width, height) = (200usize, 40usize);
        let mut rgb = vec![0xffu8; width * height * 3];
        {
            let font = font().expect("the bundled font parses");
            let root =
                Canvas::new(&mut rgb, (width as u32, height as u32), font).into_drawing_area();
            let style = ("sans-serif", 20.0)
                .into_text_style(&root)
                .pos(Pos::new(HPos::Left, VPos::Top))
                .color(&BLACK);
            root.draw(&Text::new(text, (10, 20), style)).unwrap();
            root.present().unwrap();
        }
        let mut columns: Vec<usize> = rgb
            .chunks(3)
            .enumerate()
            .filter(|(_, p)| p[0] < 128)
            .map(|(i, _)| i % width)
            .collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }

    #[test]
    fn vietnamese_and_unknown_scripts_leave_ink() {
        assert!(ink_columns("Tôi đọc sách").len() > 40);
        // CJK is not in the subset: the .notdef box is drawn, a visible placeholder.
        assert!(!ink_columns("读").is_empty());
        assert!(ink_columns(" ").is_empty());
    }

    #[test]
    fn glyphs_keep_their_side_bearings() {
        // "l" has a left side bearing: its ink starts right of the pen, not on it.
        let columns = ink_columns("l");
        assert!(columns[0] > 10, "ink starts at {}", columns[0]);
        // A space between two letters leaves a gap of blank columns.
        let spaced = ink_columns("l l");
        let gaps = spaced.windows(2).filter(|w| w[1] - w[0] > 3).count();
        assert_eq!(gaps, 1, "{spaced:?}");
    }
}
