//! Colour maps for heatmaps: matplotlib's viridis for magnitudes, ColorBrewer's RdBu for
//! values around zero (sin/cos, similarities), as the Python tutorial's plots use.

/// How values are turned into colours.
///
/// ```
/// use transformer_nb::plot::Colormap;
///
/// assert_eq!(Colormap::Viridis.rgb(0.0), [0x44, 0x01, 0x54]);
/// assert_eq!(Colormap::RdBu.rgb(0.5), [0xf7, 0xf7, 0xf7]); // white at the middle
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colormap {
    /// Dark purple (low) to yellow (high); perceptually uniform. For attention, probabilities.
    Viridis,
    /// Red (low), white (middle), blue (high). For values symmetric around zero.
    RdBu,
}

// 11 evenly spaced samples of each map; colours in between are interpolated linearly.
const VIRIDIS: [u32; 11] = [
    0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c, 0x22a884, 0x44bf70, 0x7ad151,
    0xbddf26, 0xfde725,
];
const RDBU: [u32; 11] = [
    0x67001f, 0xb2182b, 0xd6604d, 0xf4a582, 0xfddbc7, 0xf7f7f7, 0xd1e5f0, 0x92c5de, 0x4393c3,
    0x2166ac, 0x053061,
];

impl Colormap {
    /// The colour of `t` in `0.0..=1.0` (clamped; NaN gives the lowest colour).
    ///
    /// ```
    /// use transformer_nb::plot::Colormap;
    ///
    /// assert_eq!(Colormap::Viridis.rgb(2.0), Colormap::Viridis.rgb(1.0));
    /// ```
    pub fn rgb(self, t: f32) -> [u8; 3] {
        let anchors = match self {
            Colormap::Viridis => &VIRIDIS,
            Colormap::RdBu => &RDBU,
        };
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let scaled = t * (anchors.len() - 1) as f32;
        let low = (scaled.floor() as usize).min(anchors.len() - 2);
        let frac = scaled - low as f32;
        let channel = |c: u32, shift: u32| ((c >> shift) & 0xff) as f32;
        let mix = |shift| {
            let a = channel(anchors[low], shift);
            let b = channel(anchors[low + 1], shift);
            (a + (b - a) * frac).round() as u8
        };
        [mix(16), mix(8), mix(0)]
    }

    /// The colour as CSS/SVG hex, e.g. `#440154`.
    ///
    /// ```
    /// use transformer_nb::plot::Colormap;
    ///
    /// assert_eq!(Colormap::Viridis.hex(1.0), "#fde725");
    /// ```
    pub fn hex(self, t: f32) -> String {
        let [r, g, b] = self.rgb(t);
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_middle_match_the_anchors() {
        assert_eq!(Colormap::RdBu.hex(0.0), "#67001f");
        assert_eq!(Colormap::RdBu.hex(1.0), "#053061");
        assert_eq!(Colormap::Viridis.hex(0.5), "#21918c");
        assert_eq!(Colormap::Viridis.rgb(f32::NAN), Colormap::Viridis.rgb(0.0));
    }

    #[test]
    fn interpolates_between_anchors() {
        let [r, _, _] = Colormap::RdBu.rgb(0.05);
        assert!(r > 0x67 && r < 0xb2);
    }
}
