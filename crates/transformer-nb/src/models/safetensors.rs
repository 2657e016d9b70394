//! Reads the tensors of a `model.safetensors` file one at a time into owned `f32` buffers.
//!
//! Memory-mapping the whole file and copying out of it (candle's `VarBuilder`) keeps every page
//! of the file resident until the last tensor is copied: twice the weights at the peak, which a
//! 4 GiB notebook machine notices with BERT-base. Reading each tensor on its own keeps the peak
//! at the weights plus the largest tensor.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::kernels::quant::f16_to_f32;

/// Refuse headers larger than this: a corrupt length would otherwise allocate gigabytes.
const MAX_HEADER_BYTES: u64 = 100 << 20;

#[derive(Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

/// An open safetensors file and its header.
pub(crate) struct SafeTensors {
    path: PathBuf,
    file: File,
    data_start: u64,
    tensors: HashMap<String, TensorInfo>,
}

impl SafeTensors {
    /// Opens `path` and parses its header, checking every tensor's byte range against the
    /// file's length: nothing is allocated from a size the file states before it is checked.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let invalid = |message: String| Error::InvalidFile {
            path: path.to_path_buf(),
            what: "safetensors file",
            message,
        };
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| Error::io("read", path, e))?
            .len();
        if file_len < 8 {
            return Err(invalid(format!(
                "{file_len} bytes is too short for a safetensors header: the file is empty or \
                 cut short (download it again)"
            )));
        }
        let mut len = [0u8; 8];
        read_at(&file, &mut len, 0).map_err(|e| Error::io("read", path, e))?;
        let header_len = u64::from_le_bytes(len);
        if header_len > MAX_HEADER_BYTES {
            return Err(invalid(format!(
                "a header of {header_len} bytes is more than the {} MiB this library reads: the \
                 file is damaged or not safetensors",
                MAX_HEADER_BYTES >> 20
            )));
        }
        let data_len = file_len - 8;
        if header_len > data_len {
            return Err(invalid(format!(
                "a header of {header_len} bytes, but only {data_len} bytes follow: the file is \
                 cut short (download it again)"
            )));
        }
        let data_len = data_len - header_len;
        let mut header = vec![0u8; header_len as usize];
        read_at(&file, &mut header, 8).map_err(|e| Error::io("read", path, e))?;
        let mut entries: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| invalid(e.to_string()))?;
        entries.remove("__metadata__");
        let tensors: HashMap<String, TensorInfo> = entries
            .into_iter()
            .map(|(name, value)| {
                serde_json::from_value(value)
                    .map(|info| (name.clone(), info))
                    .map_err(|e| invalid(format!("tensor {name}: {e}")))
            })
            .collect::<Result<_>>()?;
        for (name, info) in &tensors {
            let (begin, end) = info.data_offsets;
            if begin > end {
                return Err(invalid(format!(
                    "the offsets of {name} run backwards ({begin} > {end})"
                )));
            }
            if end > data_len {
                return Err(invalid(format!(
                    "{name} ends at byte {end} of the data, but the file ends before, at byte \
                     {data_len}: the file is cut short (download it again)"
                )));
            }
            let Some(size) = dtype_size(&info.dtype) else {
                continue; // `read` names the unknown dtype if the model needs this tensor.
            };
            let bytes = info.shape.iter().try_fold(size, |n, &d| n.checked_mul(d));
            if bytes.is_none_or(|bytes| bytes as u64 != end - begin) {
                return Err(invalid(format!(
                    "the offsets of {name} do not match its shape {:?}",
                    info.shape
                )));
            }
        }
        Ok(SafeTensors {
            path: path.to_path_buf(),
            file,
            data_start: 8 + header_len,
            tensors,
        })
    }

    /// Whether the file has a tensor of this name.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The shape of tensor `name`, if the file has it.
    pub(crate) fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|info| info.shape.as_slice())
    }

    /// Every tensor's name, sorted.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Reads tensor `name`, which must have `shape`, as `f32` (converting f16, bf16 and f64).
    pub(crate) fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let info = self.tensors.get(name).ok_or_else(|| {
            Error::weights_missing(&self.path, format!("there is no tensor {name}"))
        })?;
        if info.shape != shape {
            return Err(Error::weights_shape(
                &self.path,
                format!(
                    "{name} has shape {:?}, config.json implies {shape:?}",
                    info.shape
                ),
            ));
        }
        let decode: fn(&[u8]) -> f32 = match info.dtype.as_str() {
            "F32" => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            "F16" => |b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            // bf16 is the upper half of an f32.
            "BF16" => |b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
            "F64" => |b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            other => {
                return Err(Error::weights_type(
                    &self.path,
                    format!("{name} is {other}, not a float type"),
                ));
            }
        };
        let size = dtype_size(&info.dtype).expect("a float dtype has a size");
        let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let expected_bytes = count.and_then(|n| n.checked_mul(size));
        // `open` checked that `begin <= end <= the data's length`.
        let (begin, end) = info.data_offsets;
        if expected_bytes != usize::try_from(end - begin).ok() {
            return Err(Error::InvalidFile {
                path: self.path.clone(),
                what: "safetensors file",
                message: format!("the offsets of {name} do not match its shape"),
            });
        }
        let mut bytes = vec![0u8; (end - begin) as usize];
        read_at(&self.file, &mut bytes, self.data_start + begin)
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok(bytes.chunks_exact(size).map(decode).collect())
    }
}

/// Bytes per value of a safetensors dtype; `None` for a name this library does not know (which
/// `read` then refuses).
fn dtype_size(dtype: &str) -> Option<usize> {
    match dtype {
        "F64" | "I64" | "U64" => Some(8),
        "F32" | "I32" | "U32" => Some(4),
        "F16" | "BF16" | "I16" | "U16" => Some(2),
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => Some(1),
        _ => None,
    }
}

/// Fills `buf` from `offset` of `file`.
fn read_at(mut file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a safetensors file from (name, dtype, shape, little-endian bytes).
    fn write(path: &Path, tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) {
        let mut header = serde_json::Map::new();
        let mut data = Vec::new();
        for (name, dtype, shape, bytes) in tensors {
            let begin = data.len();
            data.extend_from_slice(bytes);
            header.insert(
                name.to_string(),
                serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, data.len()]}),
            );
        }
        let header = serde_json::to_vec(&header).unwrap();
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend(header);
        file.extend(data);
        std::fs::write(path, file).unwrap();
    }

    #[test]
    fn reads_f32_and_converts_f16_and_checks_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let f32s: Vec<u8> = [1.5f32, -2.0, 3.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        // 1.0 and -0.5 in IEEE half precision.
        let f16s = vec![0x00, 0x3c, 0x00, 0xb8];
        write(
            &path,
            &[
                ("a", "F32", vec![3], f32s),
                ("b", "F16", vec![1, 2], f16s),
                ("c", "I64", vec![1], vec![0; 8]),
            ],
        );
        let file = SafeTensors::open(&path).unwrap();
        assert!(file.contains("a") && !file.contains("z"));
        assert_eq!(file.read("a", &[3]).unwrap(), [1.5, -2.0, 3.25]);
        assert_eq!(file.read("b", &[1, 2]).unwrap(), [1.0, -0.5]);
        let wrong_shape = file.read("a", &[4]).unwrap_err().to_string();
        assert!(wrong_shape.contains("has shape [3]"), "{wrong_shape}");
        assert!(
            file.read("c", &[1])
                .unwrap_err()
                .to_string()
                .contains("not a float")
        );
        assert!(
            file.read("z", &[1])
                .unwrap_err()
                .to_string()
                .contains("no tensor z")
        );
    }

    #[test]
    fn half_precision_converts_exactly() {
        let cases: [(u16, f32); 9] = [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333_251_95),
            (0x7bff, 65504.0),             // the largest finite f16
            (0x0400, f32::powi(2.0, -14)), // the smallest normal
            (0x0001, f32::powi(2.0, -24)), // the smallest subnormal
            (0x83ff, -1023.0 * f32::powi(2.0, -24)),
            (0x7c00, f32::INFINITY),
            (0x8000, -0.0),
        ];
        for (bits, expected) in cases {
            let got = f16_to_f32(bits);
            assert_eq!(
                got.to_bits(),
                expected.to_bits(),
                "{bits:#06x}: {got} != {expected}"
            );
        }
        assert!(f16_to_f32(0x7e00).is_nan());
        // Widening keeps every value apart and in order: all positive finite f16 values come
        // out strictly increasing.
        let positives: Vec<f32> = (0..0x7c00).map(f16_to_f32).collect();
        assert!(positives.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn reads_bf16_and_f64() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let bf16s: Vec<u8> = [1.5f32, -0.0078125]
            .iter()
            .flat_map(|v| v.to_bits().to_le_bytes()[2..].to_vec())
            .collect();
        let f64s: Vec<u8> = [0.1f64].iter().flat_map(|v| v.to_le_bytes()).collect();
        write(
            &path,
            &[("h", "BF16", vec![2], bf16s), ("d", "F64", vec![1], f64s)],
        );
        let file = SafeTensors::open(&path).unwrap();
        assert_eq!(file.read("h", &[2]).unwrap(), [1.5, -0.0078125]);
        assert_eq!(file.read("d", &[1]).unwrap(), [0.1f32]);
    }

    #[test]
    fn a_file_that_is_not_safetensors_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, b"not a safetensors file at all").unwrap();
        let message = SafeTensors::open(&path).err().unwrap().to_string();
        assert!(
            message.contains("is not a valid safetensors file"),
            "{message}"
        );
    }
}
