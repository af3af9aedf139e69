use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Builds small GGUF files in memory for tests.
pub(crate) struct Builder {
    version: u32,
    kv: Vec<u8>,
    kv_count: u64,
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

impl Builder {
    pub(crate) fn new() -> Self {
        Self {
            version: 3,
            kv: Vec::new(),
            kv_count: 0,
            tensors: Vec::new(),
        }
    }

    fn key(&mut self, key: &str, type_id: u32) {
        put_string(&mut self.kv, key);
        self.kv.extend_from_slice(&type_id.to_le_bytes());
        self.kv_count += 1;
    }

    pub(crate) fn string(mut self, key: &str, value: &str) -> Self {
        self.key(key, 8);
        put_string(&mut self.kv, value);
        self
    }

    pub(crate) fn u32(mut self, key: &str, value: u32) -> Self {
        self.key(key, 4);
        self.kv.extend_from_slice(&value.to_le_bytes());
        self
    }

    fn raw(mut self, key: &str, type_id: u32, bytes: &[u8]) -> Self {
        self.key(key, type_id);
        self.kv.extend_from_slice(bytes);
        self
    }

    fn strings(mut self, key: &str, values: &[&str]) -> Self {
        self.key(key, 9);
        self.kv.extend_from_slice(&8u32.to_le_bytes());
        self.kv.extend_from_slice(&(values.len() as u64).to_le_bytes());
        for value in values {
            put_string(&mut self.kv, value);
        }
        self
    }

    fn f32s(mut self, key: &str, values: &[f32]) -> Self {
        self.key(key, 9);
        self.kv.extend_from_slice(&6u32.to_le_bytes());
        self.kv.extend_from_slice(&(values.len() as u64).to_le_bytes());
        for value in values {
            self.kv.extend_from_slice(&value.to_le_bytes());
        }
        self
    }

    fn tensor(mut self, name: &str, dims: &[u64], ggml_type: u32) -> Self {
        let (block, bytes) = tensor_type_layout(ggml_type).unwrap();
        let elements: u64 = dims.iter().product();
        let size = usize::try_from(elements / block * bytes).unwrap();
        let data = (0..size).map(|i| u8::try_from(i % 251).unwrap()).collect();
        self.tensors
            .push((name.to_owned(), dims.to_vec(), ggml_type, data));
        self
    }

    /// A small but complete llama-like model file.
    pub(crate) fn model() -> Self {
        Self::new()
            .string("general.architecture", "llama")
            .string("general.name", "Tiny Test")
            .u32("llama.context_length", 2048)
            .u32("general.file_type", 2)
            .string(
                "tokenizer.chat_template",
                "{% for m in messages %}{{ m.content }}{% endfor %}",
            )
            .strings("tokenizer.ggml.tokens", &["<s>", "</s>", "hello", "wörld"])
            .f32s("tokenizer.ggml.scores", &[0.0, 0.0, -1.0, -2.0])
            .raw("general.flag", 7, &[1])
            .raw("general.big", 10, &u64::MAX.to_le_bytes())
            .raw("general.neg", 5, &(-3i32).to_le_bytes())
            .raw("general.pi", 12, &std::f64::consts::PI.to_le_bytes())
            .tensor("token_embd.weight", &[64, 4], 2)
            .tensor("output_norm.weight", &[64], 0)
            .tensor("blk.0.attn_q.weight", &[256, 2], 12)
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.kv_count.to_le_bytes());
        out.extend_from_slice(&self.kv);
        let mut offset = 0u64;
        for (name, dims, ggml_type, data) in &self.tensors {
            put_string(&mut out, name);
            out.extend_from_slice(&u32::try_from(dims.len()).unwrap().to_le_bytes());
            for dim in dims {
                out.extend_from_slice(&dim.to_le_bytes());
            }
            out.extend_from_slice(&ggml_type.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset = (offset + data.len() as u64).next_multiple_of(32);
        }
        for (_, _, _, data) in &self.tensors {
            while out.len() % 32 != 0 {
                out.push(0);
            }
            out.extend_from_slice(data);
        }
        out
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Parses and checks a whole file held in memory, like `read` does for a file on disk.
fn validate(bytes: &[u8]) -> Result<GgufHeader, GgufError> {
    let header = parse(bytes, bytes.len() as u64)?;
    check_complete(&header, bytes.len() as u64)?;
    Ok(header)
}

#[test]
fn reads_metadata_of_every_type_and_the_tensor_table() {
    let bytes = Builder::model().build();
    let header = validate(&bytes).unwrap();
    assert_eq!(header.version, 3);
    assert_eq!(header.tensor_count, 3);
    assert_eq!(header.architecture(), Some("llama"));
    assert_eq!(header.name(), Some("Tiny Test"));
    assert_eq!(header.context_length(), Some(2048));
    assert_eq!(header.quantization(), Some("Q4_0"));
    assert!(header.chat_template().unwrap().contains("messages"));
    assert_eq!(
        header.get("tokenizer.ggml.tokens"),
        Some(&Value::Array {
            element: ValueType::String,
            len: 4
        })
    );
    assert_eq!(header.get("general.flag"), Some(&Value::Bool(true)));
    assert_eq!(header.get("general.big").and_then(Value::as_u64), Some(u64::MAX));
    assert_eq!(header.get("general.neg"), Some(&Value::I32(-3)));
    assert_eq!(header.get("general.neg").and_then(Value::as_u64), None);
    assert_eq!(header.get("general.pi"), Some(&Value::F64(std::f64::consts::PI)));
    assert_eq!(header.data_end, bytes.len() as u64);
    assert_eq!(header.data_offset % 32, 0);
}

#[test]
fn version_2_is_read_too() {
    let mut builder = Builder::model();
    builder.version = 2;
    assert_eq!(validate(&builder.build()).unwrap().version, 2);
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let bytes = Builder::model().build();
    for cut in 0..bytes.len() {
        let err = validate(&bytes[..cut]).expect_err(&format!("a file cut at {cut} must be refused"));
        assert!(
            matches!(
                err,
                GgufError::Truncated { .. } | GgufError::TensorDataTruncated { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let bytes = Builder::model().build();
    let header_end = usize::try_from(parse(&bytes[..], bytes.len() as u64).unwrap().data_offset).unwrap();
    // Every single byte of the header replaced by a few telling values.
    for at in 0..header_end {
        for value in [0x00, 0xFF, 0x7F, 0x80, 0x09] {
            let mut copy = bytes.clone();
            copy[at] = value;
            let _ = validate(&copy);
        }
    }
    // And random multi-byte damage, deterministic.
    let mut rng = StdRng::seed_from_u64(0x6775_6766);
    for _ in 0..2000 {
        let mut copy = bytes.clone();
        for _ in 0..rng.gen_range(1..8) {
            let at = rng.gen_range(0..header_end);
            copy[at] = rng.r#gen();
        }
        let cut = rng.gen_range(0..=copy.len());
        let _ = validate(&copy[..cut]);
    }
}

fn header_with_counts(tensors: u64, kv: u64) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&tensors.to_le_bytes());
    out.extend_from_slice(&kv.to_le_bytes());
    out
}

#[test]
fn absurd_counts_and_lengths_are_refused_without_allocating() {
    let err = validate(&header_with_counts(u64::MAX, 0)).unwrap_err();
    assert!(matches!(err, GgufError::TooMany { what: "tensor", .. }), "{err}");
    let err = validate(&header_with_counts(0, u64::MAX)).unwrap_err();
    assert!(
        matches!(err, GgufError::TooMany { what: "metadata", .. }),
        "{err}"
    );

    // A key claiming to be 2^63 bytes long.
    let mut bytes = header_with_counts(0, 1);
    bytes.extend_from_slice(&(1u64 << 63).to_le_bytes());
    let err = validate(&bytes).unwrap_err();
    assert!(matches!(err, GgufError::Truncated { .. }), "{err}");

    // An array claiming u64::MAX strings, and one claiming 2^61 u64s.
    for (element, len) in [(8u32, u64::MAX), (10, 1 << 61)] {
        let mut bytes = header_with_counts(0, 1);
        put_string(&mut bytes, "tokenizer.ggml.tokens");
        bytes.extend_from_slice(&9u32.to_le_bytes());
        bytes.extend_from_slice(&element.to_le_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        let err = validate(&bytes).unwrap_err();
        assert!(matches!(err, GgufError::Truncated { .. }), "{err}");
    }
}

#[test]
fn bad_magic_old_versions_and_big_endian_are_named() {
    let mut bytes = Builder::model().build();
    bytes[..4].copy_from_slice(b"PK\x03\x04");
    let err = validate(&bytes).unwrap_err();
    assert!(matches!(err, GgufError::NotGguf { .. }), "{err}");
    assert!(err.to_string().contains("not a GGUF file"), "{err}");

    let mut builder = Builder::model();
    builder.version = 1;
    assert!(matches!(
        validate(&builder.build()),
        Err(GgufError::UnsupportedVersion(1))
    ));
    builder.version = 3u32.swap_bytes();
    assert!(matches!(validate(&builder.build()), Err(GgufError::BigEndian)));
    builder.version = 4;
    assert!(matches!(
        validate(&builder.build()),
        Err(GgufError::UnsupportedVersion(4))
    ));
}

#[test]
fn structural_errors_name_the_key_or_tensor() {
    let nested = Builder::new().raw("x.nested", 9, &[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let err = validate(&nested.build()).unwrap_err();
    assert!(err.to_string().contains("x.nested"), "{err}");

    let unknown_type = Builder::new().raw("x.odd", 13, &[0; 8]);
    let err = validate(&unknown_type.build()).unwrap_err();
    assert!(err.to_string().contains("unknown value type 13"), "{err}");

    let twice = Builder::new().u32("a.b", 1).u32("a.b", 2);
    assert!(
        validate(&twice.build())
            .unwrap_err()
            .to_string()
            .contains("twice")
    );

    let bad_align = Builder::new().raw("general.alignment", 4, &3u32.to_le_bytes());
    assert!(
        validate(&bad_align.build())
            .unwrap_err()
            .to_string()
            .contains("power of two")
    );

    let mut odd_tensor = Builder::new();
    odd_tensor.tensors.push(("w".into(), vec![10], 2, vec![0; 18]));
    let err = validate(&odd_tensor.build()).unwrap_err();
    assert!(err.to_string().contains("block size 32"), "{err}");

    let mut unknown_tensor = Builder::new();
    unknown_tensor.tensors.push(("w".into(), vec![1], 31, vec![0; 4]));
    let err = validate(&unknown_tensor.build()).unwrap_err();
    assert!(err.to_string().contains("unknown tensor type 31"), "{err}");

    let mut huge = Builder::new();
    huge.tensors
        .push(("w".into(), vec![u64::MAX >> 2, u64::MAX >> 2], 0, vec![]));
    let err = validate(&huge.build()).unwrap_err();
    assert!(err.to_string().contains("overflows"), "{err}");
}

#[test]
fn a_file_whose_tensor_data_is_cut_is_truncated() {
    let bytes = Builder::model().build();
    let err = validate(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(
        err.to_string().contains("truncated"),
        "the message says what is wrong: {err}"
    );
}
