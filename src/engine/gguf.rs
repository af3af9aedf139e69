//! A pure-Rust reader of the GGUF header (versions 2 and 3), for validating model files before
//! they are imported or loaded: magic, version, the metadata key/value table with every value type
//! (arrays included), and the tensor table, whose sizes and offsets must fit inside the file.
//!
//! The reader trusts nothing in the file: every count and length is checked against the bytes
//! that are left before anything is allocated, values it does not need (token lists) are skipped
//! rather than stored, and the checks mirror llama.cpp's own loader, so a file this reader accepts
//! is not refused by llama.cpp for its structure.

mod reader;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use reader::Reader;

/// Scalar strings longer than this are refused (chat templates are a few KiB; llama.cpp's cap is 1 GiB).
pub const MAX_STRING_BYTES: u64 = 16 << 20;
/// At most this many metadata entries (real models have under a hundred).
pub const MAX_METADATA: u64 = 1 << 16;
/// At most this many tensors (real models have a few thousand).
pub const MAX_TENSORS: u64 = 1 << 18;
const MAX_KEY_BYTES: u64 = 1 << 16;
/// ggml's `GGML_MAX_NAME`: tensor names are shorter than this.
const MAX_TENSOR_NAME_BYTES: u64 = 63;
/// ggml's `GGML_MAX_DIMS`.
const MAX_DIMS: u32 = 4;
const DEFAULT_ALIGNMENT: u64 = 32;

/// Why a file is not a usable GGUF model.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("it is not a GGUF file (it starts with {found}, not \"GGUF\")")]
    NotGguf { found: String },
    #[error("it is a big-endian GGUF file, which is not supported")]
    BigEndian,
    #[error("GGUF version {0} is not supported (versions 2 and 3 are)")]
    UnsupportedVersion(u32),
    #[error(
        "the file ends early: reading {what} at byte {offset} needs {needed} bytes, but the file has {len}"
    )]
    Truncated {
        what: &'static str,
        offset: u64,
        needed: u64,
        len: u64,
    },
    #[error("the file is truncated: its tensor data ends at byte {needed}, but the file has {len} bytes")]
    TensorDataTruncated { needed: u64, len: u64 },
    #[error("its {what} count {count} is out of range (at most {max})")]
    TooMany {
        what: &'static str,
        count: u64,
        max: u64,
    },
    #[error("metadata {key:?}: {reason}")]
    BadMetadata { key: String, reason: String },
    #[error("tensor {name:?}: {reason}")]
    BadTensor { name: String, reason: String },
    #[error("it has no tensors (a vocabulary-only file?)")]
    NoTensors,
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
}

/// The type of a metadata value, as numbered by the GGUF specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }

    /// Bytes one value takes; for strings the smallest (an empty string's length prefix).
    fn min_size(self) -> u64 {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 | Self::String => 8,
            // Arrays inside arrays are refused before this is asked.
            Self::Array => 12,
        }
    }
}

/// A metadata value. Arrays keep their element type and length, not their contents.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
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
    Array { element: ValueType, len: u64 },
}

impl Value {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(u64::from(v)),
            Value::U16(v) => Some(u64::from(v)),
            Value::U32(v) => Some(u64::from(v)),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }
}

/// What a GGUF file says about itself.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub version: u32,
    pub tensor_count: u64,
    pub metadata: BTreeMap<String, Value>,
    /// Where the tensor data starts (aligned).
    pub data_offset: u64,
    /// Where the last byte of tensor data ends; the file must be at least this long.
    pub data_end: u64,
}

impl GgufHeader {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// `general.architecture`, e.g. `llama`, `qwen2`, `bert`.
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    /// `general.name`, the model's own name.
    pub fn name(&self) -> Option<&str> {
        self.get("general.name").and_then(Value::as_str)
    }

    /// `<arch>.context_length`: the context the model was trained for.
    pub fn context_length(&self) -> Option<u64> {
        let arch = self.architecture()?;
        self.get(&format!("{arch}.context_length"))
            .and_then(Value::as_u64)
    }

    /// `tokenizer.chat_template`: the model's Jinja chat template.
    pub fn chat_template(&self) -> Option<&str> {
        self.get("tokenizer.chat_template").and_then(Value::as_str)
    }

    /// `general.file_type`: llama.cpp's number for the quantization of most tensors.
    pub fn file_type(&self) -> Option<u64> {
        self.get("general.file_type").and_then(Value::as_u64)
    }

    /// The quantization by name (`Q4_K_M`), when the file says and the number is known.
    pub fn quantization(&self) -> Option<&'static str> {
        self.file_type().and_then(file_type_name)
    }
}

/// llama.cpp's `llama_ftype` names.
pub fn file_type_name(file_type: u64) -> Option<&'static str> {
    Some(match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        _ => return None,
    })
}

/// (elements per block, bytes per block) of a ggml tensor type, as in ggml's type traits
/// (`ggml_blck_size`, `ggml_type_size`); ids 4, 5 and 31-33, 36-38 were removed from ggml.
fn tensor_type_layout(ggml_type: u32) -> Option<(u64, u64)> {
    Some(match ggml_type {
        24 => (1, 1),          // I8
        1 | 25 | 30 => (1, 2), // F16, I16, BF16
        0 | 26 => (1, 4),      // F32, I32
        27 | 28 => (1, 8),     // I64, F64
        39 => (32, 17),        // MXFP4
        2 | 20 => (32, 18),    // Q4_0, IQ4_NL
        3 => (32, 20),         // Q4_1
        6 => (32, 22),         // Q5_0
        7 => (32, 24),         // Q5_1
        8 => (32, 34),         // Q8_0
        9 => (32, 36),         // Q8_1
        42 => (64, 18),        // Q2_0
        40 => (64, 36),        // NVFP4
        41 => (128, 18),       // Q1_0
        19 => (256, 50),       // IQ1_S
        34 => (256, 54),       // TQ1_0
        29 => (256, 56),       // IQ1_M
        16 | 35 => (256, 66),  // IQ2_XXS, TQ2_0
        17 => (256, 74),       // IQ2_XS
        22 => (256, 82),       // IQ2_S
        10 => (256, 84),       // Q2_K
        18 => (256, 98),       // IQ3_XXS
        11 | 21 => (256, 110), // Q3_K, IQ3_S
        23 => (256, 136),      // IQ4_XS
        12 => (256, 144),      // Q4_K
        13 => (256, 176),      // Q5_K
        14 => (256, 210),      // Q6_K
        15 => (256, 292),      // Q8_K
        _ => return None,
    })
}

/// Reads and checks the header of the GGUF file at `path`, including that the file is long
/// enough for every tensor it declares.
pub fn read(path: &Path) -> Result<GgufHeader, GgufError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let header = parse(BufReader::with_capacity(1 << 16, file), len)?;
    check_complete(&header, len)?;
    Ok(header)
}

/// Checks that a file of `len` bytes holds all the tensor data `header` declares.
pub fn check_complete(header: &GgufHeader, len: u64) -> Result<(), GgufError> {
    if header.data_end > len {
        return Err(GgufError::TensorDataTruncated {
            needed: header.data_end,
            len,
        });
    }
    Ok(())
}

/// Parses the header from `reader`, which holds `len` bytes in all. Reads only the header
/// (metadata and tensor table), never the tensor data.
pub fn parse(reader: impl Read, len: u64) -> Result<GgufHeader, GgufError> {
    let mut r = Reader {
        inner: reader,
        pos: 0,
        len,
    };
    let (version, tensor_count, kv_count) = read_preamble(&mut r)?;
    let metadata = read_metadata(&mut r, kv_count)?;
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(align)) if align.is_power_of_two() => u64::from(*align),
        Some(_) => return Err(bad_metadata("general.alignment", "must be a power of two (u32)")),
    };
    let data_size = read_tensor_table(&mut r, tensor_count, alignment)?;
    let data_offset = if tensor_count == 0 {
        r.pos
    } else {
        align_up(r.pos, alignment).unwrap_or(u64::MAX)
    };
    Ok(GgufHeader {
        version,
        tensor_count,
        metadata,
        data_offset,
        data_end: data_offset.saturating_add(data_size),
    })
}

/// Magic, version, and the two counts.
fn read_preamble(r: &mut Reader<impl Read>) -> Result<(u32, u64, u64), GgufError> {
    let magic: [u8; 4] = r.array("the magic number")?;
    if &magic != b"GGUF" {
        return Err(GgufError::NotGguf {
            found: format!("{:?}", String::from_utf8_lossy(&magic)),
        });
    }
    let version = r.u32("the version")?;
    // A big-endian file's small version number reads as a multiple of 2^16 here.
    if version != 0 && version.trailing_zeros() >= 16 {
        return Err(GgufError::BigEndian);
    }
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion(version));
    }
    let tensor_count = r.u64("the tensor count")?;
    if tensor_count > MAX_TENSORS {
        return Err(GgufError::TooMany {
            what: "tensor",
            count: tensor_count,
            max: MAX_TENSORS,
        });
    }
    let kv_count = r.u64("the metadata count")?;
    if kv_count > MAX_METADATA {
        return Err(GgufError::TooMany {
            what: "metadata",
            count: kv_count,
            max: MAX_METADATA,
        });
    }
    Ok((version, tensor_count, kv_count))
}

fn read_metadata(r: &mut Reader<impl Read>, count: u64) -> Result<BTreeMap<String, Value>, GgufError> {
    let mut metadata = BTreeMap::new();
    for _ in 0..count {
        let key = r.string("a metadata key", MAX_KEY_BYTES)?;
        if key.is_empty() {
            return Err(bad_metadata(&key, "the key is empty"));
        }
        if metadata.contains_key(&key) {
            return Err(bad_metadata(&key, "the key appears twice"));
        }
        let value = r.value(&key)?;
        metadata.insert(key, value);
    }
    Ok(metadata)
}

/// Reads the tensor table with llama.cpp's checks; returns the size of the tensor data.
fn read_tensor_table(r: &mut Reader<impl Read>, count: u64, alignment: u64) -> Result<u64, GgufError> {
    let mut names = HashSet::new();
    let mut expected_offset = 0u64;
    let mut data_size = 0u64;
    for _ in 0..count {
        let name = r.string("a tensor name", MAX_TENSOR_NAME_BYTES)?;
        if !names.insert(name.clone()) {
            return Err(bad_tensor(&name, "the name appears twice"));
        }
        let n_dims = r.u32("a tensor's dimension count")?;
        if n_dims > MAX_DIMS {
            return Err(bad_tensor(
                &name,
                format!("{n_dims} dimensions (at most {MAX_DIMS})"),
            ));
        }
        let mut dims = [1u64; MAX_DIMS as usize];
        for dim in dims.iter_mut().take(n_dims as usize) {
            *dim = r.u64("a tensor dimension")?;
            if i64::try_from(*dim).is_err() {
                return Err(bad_tensor(&name, "a dimension is negative"));
            }
        }
        let ggml_type = r.u32("a tensor type")?;
        let Some((block, block_bytes)) = tensor_type_layout(ggml_type) else {
            return Err(bad_tensor(&name, format!("unknown tensor type {ggml_type}")));
        };
        if dims[0] % block != 0 {
            return Err(bad_tensor(
                &name,
                format!(
                    "{} elements per row is not a multiple of the block size {block}",
                    dims[0]
                ),
            ));
        }
        let mut bytes = (dims[0] / block).checked_mul(block_bytes);
        for dim in &dims[1..] {
            bytes = bytes.and_then(|b| b.checked_mul(*dim));
        }
        let overflow = || bad_tensor(&name, "its size overflows");
        let bytes = bytes.ok_or_else(overflow)?;
        let offset = r.u64("a tensor offset")?;
        if offset != expected_offset {
            return Err(bad_tensor(
                &name,
                format!("its data offset is {offset}, expected {expected_offset}"),
            ));
        }
        let end = offset.checked_add(bytes).ok_or_else(overflow)?;
        data_size = data_size.max(end);
        expected_offset = align_up(end, alignment).ok_or_else(overflow)?;
    }
    Ok(data_size)
}

fn align_up(value: u64, alignment: u64) -> Option<u64> {
    value.checked_next_multiple_of(alignment)
}

fn bad_metadata(key: &str, reason: impl fmt::Display) -> GgufError {
    GgufError::BadMetadata {
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

fn bad_tensor(name: &str, reason: impl fmt::Display) -> GgufError {
    GgufError::BadTensor {
        name: name.to_owned(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
