//! Pixels: heatmap cells as RGB, and a small PNG encoder (the only image format we write).

use super::color::Colormap;

/// A grid of values on its way to becoming pixels.
pub(crate) struct Raster<'a> {
    /// Row-major values, `rows × cols`.
    pub values: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// Draw the last row at the top (numeric y axes grow upwards; images grow downwards).
    pub flip_rows: bool,
    pub colormap: Colormap,
    /// The values mapped to the two ends of the colour map.
    pub range: (f32, f32),
}

impl Raster<'_> {
    /// RGB pixels of the grid shown at `out_rows × out_cols`.
    ///
    /// Where the grid has more cells than pixels, it is first reduced by a whole factor
    /// (each value the mean of a `k × k'` block, `k = ⌈cells / pixels⌉`), so that every pixel
    /// stands for the same number of cells. Averaging a varying number of cells (1 or 2 for
    /// 768 dimensions in 600 pixels) draws moiré stripes that are not in the data, and such
    /// noise also makes the PNG several times larger. Cells are then repeated to fill the
    /// pixels (nearest neighbour).
    pub fn to_rgb(&self, out_rows: usize, out_cols: usize) -> Vec<u8> {
        let (out_rows, out_cols) = (out_rows.max(1), out_cols.max(1));
        let (grid, rows, cols) = self.reduce(out_rows, out_cols);
        self.paint(&grid, (rows, cols), (out_rows, out_cols))
    }

    /// RGB pixels of a reduced `grid` of `rows × cols`, each cell repeated to fill
    /// `out_rows × out_cols` pixels.
    fn paint(
        &self,
        grid: &[f32],
        (rows, cols): (usize, usize),
        (out_rows, out_cols): (usize, usize),
    ) -> Vec<u8> {
        let (low, high) = self.range;
        let span = if high > low { high - low } else { 1.0 };
        let mut pixels = Vec::with_capacity(out_rows * out_cols * 3);
        for r in 0..out_rows {
            let row = r * rows / out_rows;
            for c in 0..out_cols {
                let value = grid[row * cols + c * cols / out_cols];
                pixels.extend_from_slice(&self.colormap.rgb(quantize((value - low) / span)));
            }
        }
        pixels
    }

    /// The grid reduced by whole factors to at most `max_rows × max_cols` cells, rows in
    /// display order (flipped if asked); non-finite values are left out of the means (NaN
    /// where a block has none).
    fn reduce(&self, max_rows: usize, max_cols: usize) -> (Vec<f32>, usize, usize) {
        let (rows, cols) = (self.rows.max(1), self.cols.max(1));
        let row_factor = rows.div_ceil(max_rows.max(1));
        let col_factor = cols.div_ceil(max_cols.max(1));
        let (out_rows, out_cols) = (rows.div_ceil(row_factor), cols.div_ceil(col_factor));
        let mut grid = Vec::with_capacity(out_rows * out_cols);
        for r in 0..out_rows {
            for c in 0..out_cols {
                let mut sum = 0.0f64;
                let mut count = 0usize;
                for rr in r * row_factor..((r + 1) * row_factor).min(rows) {
                    let source_row = if self.flip_rows { rows - 1 - rr } else { rr };
                    for cc in c * col_factor..((c + 1) * col_factor).min(cols) {
                        let value = self
                            .values
                            .get(source_row * self.cols + cc)
                            .copied()
                            .unwrap_or(f32::NAN);
                        if value.is_finite() {
                            sum += f64::from(value);
                            count += 1;
                        }
                    }
                }
                grid.push(if count == 0 {
                    f32::NAN
                } else {
                    (sum / count as f64) as f32
                });
            }
        }
        (grid, out_rows, out_cols)
    }

    /// A PNG of the grid at no more pixels than it has cells or than `max_rows × max_cols`
    /// (what the picture shows); the SVG scales it up, pixelated.
    pub fn to_png(&self, max_rows: usize, max_cols: usize) -> Vec<u8> {
        let (grid, rows, cols) = self.reduce(max_rows, max_cols);
        encode_png(&self.paint(&grid, (rows, cols), (rows, cols)), cols, rows)
    }
}

/// A PNG of `width × height` RGB pixels: indexed colour (one byte a pixel) when the picture
/// has at most 256 colours, as heatmaps with quantized colours and text on white usually do,
/// else 8-bit truecolour.
///
/// Each scanline gets the PNG filter that makes it smallest (the usual heuristic: least sum
/// of absolute differences).
pub(crate) fn encode_png(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
    let (width, height) = (width.max(1), height.max(1));
    let pixels = rgb.chunks_exact(3).take(width * height);
    let mut palette: Vec<[u8; 3]> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut indexed = Vec::with_capacity(width * height);
    for pixel in pixels {
        let colour = [pixel[0], pixel[1], pixel[2]];
        let next = palette.len();
        let i = *index.entry(colour).or_insert(next);
        if i == next {
            if next == 256 {
                break;
            }
            palette.push(colour);
        }
        indexed.push(i as u8);
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&(width as u32).to_be_bytes());
    header.extend_from_slice(&(height as u32).to_be_bytes());
    // 8 bits a sample; colour type 3 (indexed) or 2 (truecolour); deflate, adaptive filters,
    // no interlace.
    let fits_palette = indexed.len() == width * height;
    let colour_type = if fits_palette { 3 } else { 2 };
    header.extend_from_slice(&[8, colour_type, 0, 0, 0]);
    write_chunk(&mut png, b"IHDR", &header);
    let scanlines = if fits_palette {
        write_chunk(&mut png, b"PLTE", &palette.concat());
        // Filters predict sample values, which mean nothing for palette indices: none.
        filter_scanlines(&indexed, width, 1, false)
    } else {
        filter_scanlines(rgb, width * 3, 3, true)
    };
    write_chunk(
        &mut png,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&scanlines, 9),
    );
    write_chunk(&mut png, b"IEND", &[]);
    png
}

/// Scanlines of `stride` bytes, each prefixed with its filter type: the best of the five
/// filters when `adaptive`, else filter 0 (none).
fn filter_scanlines(data: &[u8], stride: usize, bpp: usize, adaptive: bool) -> Vec<u8> {
    let rows = data.len() / stride.max(1);
    let mut out = Vec::with_capacity((stride + 1) * rows);
    let zeros = vec![0u8; stride];
    let mut previous: &[u8] = &zeros;
    let mut candidates = [const { Vec::new() }; 5];
    let filters = if adaptive { 5 } else { 1 };
    for row in data.chunks_exact(stride.max(1)) {
        for (filter, candidate) in candidates.iter_mut().enumerate().take(filters) {
            candidate.clear();
            for i in 0..stride {
                let a = if i >= bpp { row[i - bpp] } else { 0 };
                let b = previous[i];
                let c = if i >= bpp { previous[i - bpp] } else { 0 };
                let predicted = match filter {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    _ => paeth(a, b, c),
                };
                candidate.push(row[i].wrapping_sub(predicted));
            }
        }
        let cost = |bytes: &Vec<u8>| -> u64 {
            bytes
                .iter()
                .map(|&v| u64::from((v as i8).unsigned_abs()))
                .sum()
        };
        let (filter, best) = candidates[..filters]
            .iter()
            .enumerate()
            .min_by_key(|(_, bytes)| cost(bytes))
            .expect("at least one filter");
        out.push(filter as u8);
        out.extend_from_slice(best);
        previous = row;
    }
    out
}

/// Colours a colour map is drawn with: enough that steps do not show in a gradient, few
/// enough that a heatmap with its text fits a 256-colour PNG palette (a 512 × 768 positional
/// heatmap then takes about 60 kB rather than 370 kB).
const COLOR_LEVELS: f32 = 128.0;

/// `t` in `0..=1` rounded to one of [`COLOR_LEVELS`] steps; NaN stays NaN (the lowest colour).
fn quantize(t: f32) -> f32 {
    (t.clamp(0.0, 1.0) * (COLOR_LEVELS - 1.0)).round() / (COLOR_LEVELS - 1.0)
}

/// Rounds every channel to one of 32 levels (steps of about 8 out of 255).
pub(crate) fn quantize_channels(rgb: &mut [u8]) {
    const LEVELS: u16 = 32;
    for channel in rgb {
        let level = (u16::from(*channel) * (LEVELS - 1) + 127) / 255;
        *channel = ((level * 255 + (LEVELS - 1) / 2) / (LEVELS - 1)) as u8;
    }
}

/// The Paeth predictor of the PNG specification (section 9.4).
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let (ia, ib, ic) = (i16::from(a), i16::from(b), i16::from(c));
    let p = ia + ib - ic;
    let (pa, pb, pc) = ((p - ia).abs(), (p - ib).abs(), (p - ic).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

fn write_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let mut crc = crc32(kind, 0xffff_ffff);
    crc = crc32(data, crc);
    png.extend_from_slice(&(crc ^ 0xffff_ffff).to_be_bytes());
}

/// CRC-32 (ISO 3309), as the PNG specification defines it; bitwise, since images are small.
fn crc32(bytes: &[u8], mut crc: u32) -> u32 {
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Standard base64 with padding, for `data:` URIs.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_known_check_value() {
        // The standard check value of CRC-32 for "123456789".
        assert_eq!(crc32(b"123456789", 0xffff_ffff) ^ 0xffff_ffff, 0xcbf4_3926);
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    fn raster(values: &[f32], rows: usize, cols: usize) -> Raster<'_> {
        Raster {
            values,
            rows,
            cols,
            flip_rows: false,
            colormap: Colormap::Viridis,
            range: (0.0, 1.0),
        }
    }

    fn decode(png: &[u8]) -> (usize, usize, Vec<u8>) {
        let (width, height, pixels, channels) = super::super::tests::decode_png(png);
        assert_eq!(channels, 3, "RGB");
        (width as usize, height as usize, pixels)
    }

    #[test]
    fn png_round_trips_through_an_independent_decoder() {
        // Ramps, edges and noise, so that every filter type wins on some row.
        let (width, height) = (37, 23);
        let mut seed = 12345u32;
        let rgb: Vec<u8> = (0..width * height * 3)
            .map(|i| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let (x, y) = ((i / 3) % width, (i / 3) / width);
                match y % 4 {
                    0 => (x * 7) as u8,
                    1 => (y * 11) as u8,
                    2 => (seed >> 16) as u8,
                    _ => ((x + y) * 5 + i % 3) as u8,
                }
            })
            .collect();
        let png = encode_png(&rgb, width, height);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(png[25], 2, "colour type 2: truecolour (over 256 colours)");
        assert_eq!(decode(&png), (width, height, rgb));
    }

    #[test]
    fn few_colours_make_a_palette_png_that_round_trips() {
        let (width, height) = (9, 4);
        let colours = [[255, 255, 255], [0, 0, 0], [0x1f, 0x77, 0xb4]];
        let rgb: Vec<u8> = (0..width * height)
            .flat_map(|i| colours[(i * i) % 3])
            .collect();
        let png = encode_png(&rgb, width, height);
        assert_eq!(png[25], 3, "colour type 3: indexed");
        assert_eq!(decode(&png), (width, height, rgb));
    }

    #[test]
    fn quantized_channels_keep_black_and_white_and_move_little() {
        let mut rgb: Vec<u8> = (0..=255).collect();
        quantize_channels(&mut rgb);
        assert_eq!((rgb[0], rgb[255]), (0, 255));
        assert!(rgb.iter().zip(0..=255u8).all(|(&q, v)| q.abs_diff(v) <= 4));
        let mut levels = rgb.clone();
        levels.dedup();
        assert_eq!(levels.len(), 32);
    }

    #[test]
    fn paeth_picks_the_nearest_neighbour() {
        assert_eq!(paeth(10, 20, 10), 20);
        assert_eq!(paeth(20, 10, 10), 20);
        assert_eq!(paeth(10, 10, 20), 10);
    }

    #[test]
    fn small_grids_stay_small_in_the_svg_raster() {
        let values: Vec<f32> = (0..6).map(|v| v as f32 / 5.0).collect();
        let (w, h, pixels) = decode(&raster(&values, 2, 3).to_png(100, 100));
        assert_eq!((w, h), (3, 2));
        assert_eq!(&pixels[..3], &Colormap::Viridis.rgb(0.0));
        assert_eq!(&pixels[pixels.len() - 3..], &Colormap::Viridis.rgb(1.0));
    }

    #[test]
    fn downsampling_averages_blocks() {
        let values = [0.0, 1.0, 0.0, 1.0];
        let pixels = raster(&values, 1, 4).to_rgb(1, 2);
        assert_eq!(pixels, [Colormap::Viridis.rgb(quantize(0.5)); 2].concat());
    }

    #[test]
    fn upsampling_repeats_cells_and_flipping_puts_the_last_row_on_top() {
        let values = [0.0, 1.0];
        let mut grid = raster(&values, 2, 1);
        let (low, high) = (Colormap::Viridis.rgb(0.0), Colormap::Viridis.rgb(1.0));
        assert_eq!(grid.to_rgb(4, 1), [low, low, high, high].concat());
        grid.flip_rows = true;
        assert_eq!(grid.to_rgb(2, 2), [high, high, low, low].concat());
    }

    #[test]
    fn non_finite_values_take_the_lowest_colour() {
        let values = [f32::NAN, f32::INFINITY];
        assert_eq!(
            raster(&values, 1, 2).to_rgb(1, 2),
            [Colormap::Viridis.rgb(0.0); 2].concat()
        );
    }
}
