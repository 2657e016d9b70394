//! The pixels of a heatmap: one PNG embedded in the SVG, so that a 512 × 768 matrix stays a
//! small file while axes, labels and colour bar remain vector graphics.

use super::color::Colormap;

/// A grid of values on its way to becoming pixels.
pub(crate) struct Raster<'a> {
    pub values: &'a [f32],
    pub rows: usize,
    pub cols: usize,
}

impl Raster<'_> {
    /// Block-averages the grid down to at most `max_rows × max_cols` (no more pixels than the
    /// plot shows), maps it through `colormap` over `range`, and encodes a PNG.
    pub fn to_png(
        &self,
        colormap: Colormap,
        range: (f32, f32),
        max_rows: usize,
        max_cols: usize,
    ) -> Vec<u8> {
        let out_rows = self.rows.min(max_rows.max(1));
        let out_cols = self.cols.min(max_cols.max(1));
        let (low, high) = range;
        let span = if high > low { high - low } else { 1.0 };
        let mut pixels = Vec::with_capacity(out_rows * out_cols * 3);
        for r in 0..out_rows {
            let (r0, r1) = block(r, out_rows, self.rows);
            for c in 0..out_cols {
                let (c0, c1) = block(c, out_cols, self.cols);
                let mut sum = 0.0f64;
                let mut count = 0usize;
                for rr in r0..r1 {
                    for cc in c0..c1 {
                        let v = self.values[rr * self.cols + cc];
                        if v.is_finite() {
                            sum += f64::from(v);
                            count += 1;
                        }
                    }
                }
                let mean = if count == 0 {
                    f32::NAN
                } else {
                    (sum / count as f64) as f32
                };
                pixels.extend_from_slice(&colormap.rgb((mean - low) / span));
            }
        }
        encode_png(&pixels, out_cols, out_rows)
    }
}

/// The source cells `[start, end)` that output cell `i` of `out` averages over `n` cells.
fn block(i: usize, out: usize, n: usize) -> (usize, usize) {
    let start = i * n / out;
    let end = ((i + 1) * n / out).max(start + 1);
    (start, end)
}

/// An 8-bit RGB PNG (signature, IHDR, one zlib IDAT, IEND).
pub(crate) fn encode_png(rgb: &[u8], width: usize, height: usize) -> Vec<u8> {
    let mut scanlines = Vec::with_capacity((width * 3 + 1) * height);
    for row in rgb.chunks(width * 3) {
        scanlines.push(0); // filter type: none
        scanlines.extend_from_slice(row);
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&(width as u32).to_be_bytes());
    header.extend_from_slice(&(height as u32).to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, truecolour, deflate, no filter, no interlace
    write_chunk(&mut png, b"IHDR", &header);
    write_chunk(
        &mut png,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&scanlines, 6),
    );
    write_chunk(&mut png, b"IEND", &[]);
    png
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

    #[test]
    fn png_has_signature_and_size_and_a_decodable_image() {
        let values: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let raster = Raster {
            values: &values,
            rows: 2,
            cols: 3,
        };
        let png = raster.to_png(Colormap::Viridis, (0.0, 5.0), 100, 100);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[16..24], &[0, 0, 0, 3, 0, 0, 0, 2]);
        let idat_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&png[41..41 + idat_len]).unwrap();
        assert_eq!(raw.len(), 2 * (1 + 3 * 3));
        assert_eq!(&raw[1..4], &Colormap::Viridis.rgb(0.0));
        assert_eq!(&raw[raw.len() - 3..], &Colormap::Viridis.rgb(1.0));
    }

    #[test]
    fn downsampling_averages_blocks() {
        let values = [0.0, 1.0, 0.0, 1.0];
        let raster = Raster {
            values: &values,
            rows: 1,
            cols: 4,
        };
        let png = raster.to_png(Colormap::Viridis, (0.0, 1.0), 1, 2);
        assert_eq!(&png[16..24], &[0, 0, 0, 2, 0, 0, 0, 1]);
        let idat_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&png[41..41 + idat_len]).unwrap();
        assert_eq!(&raw[1..4], &Colormap::Viridis.rgb(0.5));
    }
}
