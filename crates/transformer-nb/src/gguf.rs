//! Reads GGUF files: llama.cpp's format for a model's weights (often quantized), its
//! hyper-parameters and its tokenizer, in one file.
//!
//! The layout is llama.cpp's `gguf.h`
//! (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>): the magic `GGUF`, a version,
//! the tensor and metadata counts, the metadata as typed key–value pairs, one record per tensor
//! (name, dimensions, type, offset), then the tensor data, aligned. Like the safetensors reader,
//! it checks before it trusts: every count, string length, array length, tensor offset and
//! tensor size is held against what is left of the file *before* anything is allocated from
//! it, so a damaged or hostile file is an [`Error`] that says what is wrong, never a huge
//! allocation or a panic.
//!
//! ```no_run
//! use transformer_nb::gguf::GgufFile;
//!
//! let file = GgufFile::open("SmolLM2-135M-Instruct.Q4_1.gguf")?;
//! assert_eq!(file.get("general.architecture").and_then(|v| v.as_str()), Some("llama"));
//! for tensor in file.tensors().iter().take(3) {
//!     println!("{} {:?} {}", tensor.name, tensor.shape(), tensor.kind);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"GGUF";
/// The alignment of tensor data when `general.alignment` does not say.
const DEFAULT_ALIGNMENT: u64 = 32;
/// Dimensions a tensor may have (ggml's `GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;
/// Array nesting this reader follows; GGUF files nest arrays at most once in practice.
const MAX_NESTING: usize = 2;

pub use crate::kernels::quant::TensorKind;

/// The ggml type id of each kind this crate reads.
fn kind_from_id(id: u32) -> std::result::Result<TensorKind, String> {
    Ok(match id {
        0 => TensorKind::F32,
        1 => TensorKind::F16,
        2 => TensorKind::Q4_0,
        3 => TensorKind::Q4_1,
        8 => TensorKind::Q8_0,
        other => return Err(ggml_type_name(other)),
    })
}

/// The name of a ggml type this crate does not read, for the error message.
fn ggml_type_name(id: u32) -> String {
    let name = match id {
        6 => "Q5_0",
        7 => "Q5_1",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16..=23 | 29 => "an IQ type",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        30 => "BF16",
        34 | 35 => "a ternary (TQ) type",
        39 => "MXFP4",
        _ => "an unknown type",
    };
    format!("{name} (ggml type {id})")
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    /// An array of values of one type.
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            MetaValue::I8(v) => Some(v.into()),
            MetaValue::I16(v) => Some(v.into()),
            MetaValue::I32(v) => Some(v.into()),
            MetaValue::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::F32(v) => Some(v.into()),
            MetaValue::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The value as a bool, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(values) => Some(values),
            _ => None,
        }
    }

    /// A short rendering for tables: arrays show their length and first elements.
    pub fn summary(&self) -> String {
        match self {
            MetaValue::String(s) if s.chars().count() > 60 => {
                format!(
                    "{:?}… ({} bytes)",
                    s.chars().take(60).collect::<String>(),
                    s.len()
                )
            }
            MetaValue::String(s) => format!("{s:?}"),
            MetaValue::Array(values) => {
                let first: Vec<String> = values.iter().take(4).map(|v| v.summary()).collect();
                let more = if values.len() > 4 { ", …" } else { "" };
                format!("[{}{more}] ({} items)", first.join(", "), values.len())
            }
            MetaValue::U8(v) => v.to_string(),
            MetaValue::I8(v) => v.to_string(),
            MetaValue::U16(v) => v.to_string(),
            MetaValue::I16(v) => v.to_string(),
            MetaValue::U32(v) => v.to_string(),
            MetaValue::I32(v) => v.to_string(),
            MetaValue::F32(v) => v.to_string(),
            MetaValue::Bool(v) => v.to_string(),
            MetaValue::U64(v) => v.to_string(),
            MetaValue::I64(v) => v.to_string(),
            MetaValue::F64(v) => v.to_string(),
        }
    }
}

/// One tensor's record: where its data is and how to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// ggml's dimensions, fastest-varying first: a matrix of `rows × cols` is `[cols, rows]`.
    pub dims: Vec<u64>,
    /// The number format.
    pub kind: TensorKind,
    /// Where the data starts, from the start of the file.
    pub offset: u64,
    /// The data's length in bytes.
    pub len: u64,
}

impl TensorInfo {
    /// The shape as PyTorch writes it (slowest-varying first): `[rows, cols]` for a matrix.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// The number of values.
    pub fn elem_count(&self) -> usize {
        self.dims.iter().product::<u64>() as usize
    }
}

/// An open GGUF file: its metadata and tensor records, read and checked; the tensor data is
/// read on demand with [`GgufFile::tensor_bytes`].
#[derive(Debug)]
pub struct GgufFile {
    path: PathBuf,
    file: File,
    version: u32,
    metadata: BTreeMap<String, MetaValue>,
    tensors: Vec<TensorInfo>,
}

/// A reader over the header that knows how many bytes of the file are left, so that every
/// length it is told can be checked before it allocates.
struct Header<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Header<R> {
    fn bytes(&mut self, n: u64, what: &str) -> std::result::Result<Vec<u8>, String> {
        if n > self.left {
            return Err(format!(
                "{what} claims {n} bytes, but only {} are left in the file: it is cut short or damaged",
                self.left
            ));
        }
        let mut buf = vec![0u8; n as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| format!("reading {what}: {e}"))?;
        self.left -= n;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], String> {
        let bytes = self.bytes(N as u64, what)?;
        Ok(bytes.try_into().expect("N bytes were read"))
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn string(&mut self, what: &str) -> std::result::Result<String, String> {
        let len = self.u64(what)?;
        let bytes = self.bytes(len, what)?;
        String::from_utf8(bytes).map_err(|_| format!("{what} is not UTF-8"))
    }

    /// A count of items of at least `min_bytes` each: more than the file could hold is an error.
    fn count(&mut self, min_bytes: u64, what: &str) -> std::result::Result<u64, String> {
        let count = self.u64(what)?;
        if count.saturating_mul(min_bytes) > self.left {
            return Err(format!(
                "{what} is {count}, more than the {} bytes left in the file can hold: it is damaged",
                self.left
            ));
        }
        Ok(count)
    }

    fn value(
        &mut self,
        kind: u32,
        key: &str,
        depth: usize,
    ) -> std::result::Result<MetaValue, String> {
        Ok(match kind {
            0 => MetaValue::U8(self.array::<1>(key)?[0]),
            1 => MetaValue::I8(self.array::<1>(key)?[0] as i8),
            2 => MetaValue::U16(u16::from_le_bytes(self.array(key)?)),
            3 => MetaValue::I16(i16::from_le_bytes(self.array(key)?)),
            4 => MetaValue::U32(self.u32(key)?),
            5 => MetaValue::I32(i32::from_le_bytes(self.array(key)?)),
            6 => MetaValue::F32(f32::from_le_bytes(self.array(key)?)),
            7 => MetaValue::Bool(match self.array::<1>(key)?[0] {
                0 => false,
                1 => true,
                other => return Err(format!("{key} is a bool of value {other}, not 0 or 1")),
            }),
            8 => MetaValue::String(self.string(key)?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(format!("{key} nests arrays more than {MAX_NESTING} deep"));
                }
                let element = self.u32(key)?;
                let min = value_min_bytes(element)
                    .ok_or_else(|| format!("{key} is an array of unknown value type {element}"))?;
                let count = self.count(min, &format!("the length of array {key}"))?;
                let mut values = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    values.push(self.value(element, key, depth + 1)?);
                }
                MetaValue::Array(values)
            }
            10 => MetaValue::U64(self.u64(key)?),
            11 => MetaValue::I64(i64::from_le_bytes(self.array(key)?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.array(key)?)),
            other => return Err(format!("{key} has unknown value type {other}")),
        })
    }
}

/// The fewest bytes a value of GGUF value type `kind` takes in the file.
fn value_min_bytes(kind: u32) -> Option<u64> {
    Some(match kind {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        // A string's or an array's length field.
        8 => 8,
        9 => 12,
        10..=12 => 8,
        _ => return None,
    })
}

impl GgufFile {
    /// Opens `path` and reads its metadata and tensor records, checking each against the
    /// file's length. The tensor data stays on disk until asked for.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let invalid = |message: String| Error::InvalidFile {
            path: path.to_path_buf(),
            what: "GGUF file",
            message,
        };
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| Error::io("read", path, e))?
            .len();
        let mut header = Header {
            inner: BufReader::with_capacity(1 << 16, &file),
            left: file_len,
        };
        let magic = header.array::<4>("the magic number").map_err(|_| {
            invalid(format!(
                "{file_len} bytes is too short for a GGUF header: the file is empty or cut short (download it again)"
            ))
        })?;
        if &magic != MAGIC {
            return Err(invalid(format!(
                "it starts with {magic:?}, not \"GGUF\": it is not a GGUF file (for a Hugging Face \
                 checkpoint, load its directory with from_dir)"
            )));
        }
        let version = header.u32("the version").map_err(invalid)?;
        if !(2..=3).contains(&version) {
            return Err(invalid(format!(
                "GGUF version {version} is not supported: versions 2 and 3 are (convert the model \
                 again with a current llama.cpp)"
            )));
        }
        // A tensor record takes at least a name length, a dimension count, a type and an
        // offset; a key-value pair a key length and a type.
        let tensor_count = header.count(24, "the tensor count").map_err(invalid)?;
        let kv_count = header.count(12, "the metadata count").map_err(invalid)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..kv_count {
            let key = header.string("a metadata key").map_err(invalid)?;
            let kind = header.u32(&key).map_err(invalid)?;
            let value = header.value(kind, &key, 0).map_err(invalid)?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a.is_power_of_two() && a <= 1 << 20 => a,
                _ => {
                    return Err(invalid(format!(
                        "general.alignment is {}, not a power of two",
                        v.summary()
                    )));
                }
            },
        };
        let mut records = Vec::with_capacity(tensor_count as usize);
        for _ in 0..tensor_count {
            let name = header.string("a tensor name").map_err(invalid)?;
            let n_dims = header.u32(&name).map_err(invalid)?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(invalid(format!(
                    "tensor {name} has {n_dims} dimensions: GGUF allows 1 to {MAX_DIMS}"
                )));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(header.u64(&name).map_err(invalid)?);
            }
            let type_id = header.u32(&name).map_err(invalid)?;
            let kind = kind_from_id(type_id).map_err(|kind| {
                invalid(format!(
                    "tensor {name} is stored as {kind}, which this library does not read: it \
                     reads F32, F16, Q8_0, Q4_0 and Q4_1 (pick a file of one of those, e.g. \
                     *.Q4_0.gguf or *.Q8_0.gguf)"
                ))
            })?;
            let offset = header.u64(&name).map_err(invalid)?;
            records.push((name, dims, kind, offset));
        }
        let header_end = file_len - header.left;
        let data_start = header_end.div_ceil(alignment) * alignment;
        let data_len = file_len.saturating_sub(data_start);
        let mut tensors = Vec::with_capacity(records.len());
        for (name, dims, kind, offset) in records {
            let values = dims
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d))
                .filter(|&n| n <= isize::MAX as u64 / 4)
                .ok_or_else(|| invalid(format!("tensor {name} has absurd dimensions {dims:?}")))?;
            if kind.is_quantized() && !dims[0].is_multiple_of(kind.block_len() as u64) {
                return Err(invalid(format!(
                    "tensor {name}'s rows of {} values are not whole {kind} blocks of {}",
                    dims[0],
                    kind.block_len()
                )));
            }
            let len = kind
                .bytes_for(values)
                .ok_or_else(|| invalid(format!("tensor {name} has absurd dimensions {dims:?}")))?;
            if offset % alignment != 0 {
                return Err(invalid(format!(
                    "tensor {name} starts at offset {offset}, not a multiple of the alignment {alignment}"
                )));
            }
            if offset.checked_add(len).is_none_or(|end| end > data_len) {
                return Err(invalid(format!(
                    "tensor {name} ({len} bytes at offset {offset}) runs past the end of the data \
                     ({data_len} bytes): the file is cut short (download it again)"
                )));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                kind,
                offset: data_start + offset,
                len,
            });
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            file,
            version,
            metadata,
            tensors,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Every metadata key and its value, sorted by key.
    pub fn metadata(&self) -> &BTreeMap<String, MetaValue> {
        &self.metadata
    }

    /// The value of one metadata key.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    /// The tensor records, in the file's order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The record of the tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Reads one tensor's data, as stored (quantized blocks stay quantized).
    pub fn tensor_bytes(&self, info: &TensorInfo) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; info.len as usize];
        let mut file = &self.file;
        file.seek(SeekFrom::Start(info.offset))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok(buf)
    }

    /// Reads one tensor and converts it to `f32` values (row-major, PyTorch's order).
    pub fn tensor_f32(&self, info: &TensorInfo) -> Result<Vec<f32>> {
        let bytes = self.tensor_bytes(info)?;
        let mut out = vec![0f32; info.elem_count()];
        crate::kernels::quant::dequantize(info.kind, &bytes, &mut out);
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a GGUF v3 file from metadata and f32 tensors, for tests.
    pub(crate) fn write(
        path: &Path,
        metadata: &[(&str, MetaValue)],
        tensors: &[(&str, Vec<u64>, TensorKind, Vec<u8>)],
    ) {
        fn put_value(out: &mut Vec<u8>, value: &MetaValue) {
            match value {
                MetaValue::U32(v) => out.extend(v.to_le_bytes()),
                MetaValue::I32(v) => out.extend(v.to_le_bytes()),
                MetaValue::F32(v) => out.extend(v.to_le_bytes()),
                MetaValue::Bool(v) => out.push(*v as u8),
                MetaValue::U64(v) => out.extend(v.to_le_bytes()),
                MetaValue::String(s) => {
                    out.extend((s.len() as u64).to_le_bytes());
                    out.extend(s.as_bytes());
                }
                MetaValue::Array(values) => {
                    out.extend(type_id(&values[0]).to_le_bytes());
                    out.extend((values.len() as u64).to_le_bytes());
                    for v in values {
                        put_value(out, v);
                    }
                }
                other => panic!("the test writer does not write {other:?}"),
            }
        }
        fn type_id(value: &MetaValue) -> u32 {
            match value {
                MetaValue::U32(_) => 4,
                MetaValue::I32(_) => 5,
                MetaValue::F32(_) => 6,
                MetaValue::Bool(_) => 7,
                MetaValue::String(_) => 8,
                MetaValue::Array(_) => 9,
                MetaValue::U64(_) => 10,
                other => panic!("the test writer does not write {other:?}"),
            }
        }
        let mut out = Vec::new();
        out.extend(MAGIC);
        out.extend(3u32.to_le_bytes());
        out.extend((tensors.len() as u64).to_le_bytes());
        out.extend((metadata.len() as u64).to_le_bytes());
        for (key, value) in metadata {
            out.extend((key.len() as u64).to_le_bytes());
            out.extend(key.as_bytes());
            out.extend(type_id(value).to_le_bytes());
            put_value(&mut out, value);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::new();
        for (name, dims, kind, data) in tensors {
            out.extend((name.len() as u64).to_le_bytes());
            out.extend(name.as_bytes());
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend(d.to_le_bytes());
            }
            let id: u32 = match kind {
                TensorKind::F32 => 0,
                TensorKind::F16 => 1,
                TensorKind::Q4_0 => 2,
                TensorKind::Q4_1 => 3,
                TensorKind::Q8_0 => 8,
            };
            out.extend(id.to_le_bytes());
            out.extend(offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + data.len() as u64).div_ceil(DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
        }
        let start = (out.len() as u64).div_ceil(DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
        out.resize(start as usize, 0);
        for ((_, _, _, data), offset) in tensors.iter().zip(offsets) {
            out.resize((start + offset) as usize, 0);
            out.extend(data);
        }
        std::fs::write(path, out).unwrap();
    }

    pub(crate) fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gguf");
        write(
            &path,
            &[
                ("general.architecture", MetaValue::String("llama".into())),
                ("llama.block_count", MetaValue::U32(2)),
                (
                    "tokenizer.ggml.tokens",
                    MetaValue::Array(vec![
                        MetaValue::String("a".into()),
                        MetaValue::String("b".into()),
                    ]),
                ),
            ],
            &[
                (
                    "w",
                    vec![3, 2],
                    TensorKind::F32,
                    f32_bytes(&[1., 2., 3., 4., 5., 6.]),
                ),
                ("v", vec![2], TensorKind::F32, f32_bytes(&[7., 8.])),
            ],
        );
        let file = GgufFile::open(&path).unwrap();
        assert_eq!(file.version(), 3);
        assert_eq!(
            file.get("general.architecture").unwrap().as_str(),
            Some("llama")
        );
        assert_eq!(file.get("llama.block_count").unwrap().as_u64(), Some(2));
        assert_eq!(
            file.get("tokenizer.ggml.tokens")
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let w = file.tensor("w").unwrap();
        assert_eq!(w.shape(), [2, 3]);
        assert_eq!(file.tensor_f32(w).unwrap(), [1., 2., 3., 4., 5., 6.]);
        assert_eq!(
            file.tensor_f32(file.tensor("v").unwrap()).unwrap(),
            [7., 8.]
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gguf");
        write(
            &path,
            &[("general.architecture", MetaValue::String("llama".into()))],
            &[("w", vec![32, 2], TensorKind::F32, f32_bytes(&[0.5; 64]))],
        );
        let bytes = std::fs::read(&path).unwrap();
        for len in 0..bytes.len() {
            std::fs::write(&path, &bytes[..len]).unwrap();
            let err = GgufFile::open(&path).unwrap_err();
            assert!(matches!(err, Error::InvalidFile { .. }), "{len}: {err}");
        }
    }
}
