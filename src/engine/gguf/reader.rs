//! The bounded little-endian reader under the GGUF parser.

use std::io::{self, Read};

use super::{GgufError, MAX_STRING_BYTES, Value, ValueType, bad_metadata};

/// A little-endian reader that knows how many bytes are left and refuses to read past them.
pub(super) struct Reader<R> {
    pub(super) inner: R,
    pub(super) pos: u64,
    pub(super) len: u64,
}

impl<R: Read> Reader<R> {
    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    /// Fails unless `needed` more bytes are in the file.
    fn ensure(&self, what: &'static str, needed: u64) -> Result<(), GgufError> {
        if needed > self.remaining() {
            return Err(GgufError::Truncated {
                what,
                offset: self.pos,
                needed,
                len: self.len,
            });
        }
        Ok(())
    }

    fn truncated(&self, what: &'static str, needed: u64, err: io::Error) -> GgufError {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            GgufError::Truncated {
                what,
                offset: self.pos,
                needed,
                len: self.len,
            }
        } else {
            GgufError::Io(err)
        }
    }

    pub(super) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        self.ensure(what, N as u64)?;
        let mut bytes = [0u8; N];
        self.inner
            .read_exact(&mut bytes)
            .map_err(|err| self.truncated(what, N as u64, err))?;
        self.pos += N as u64;
        Ok(bytes)
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(super) fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn skip(&mut self, what: &'static str, bytes: u64) -> Result<(), GgufError> {
        self.ensure(what, bytes)?;
        let copied = io::copy(&mut (&mut self.inner).take(bytes), &mut io::sink())?;
        if copied != bytes {
            return Err(self.truncated(what, bytes, io::ErrorKind::UnexpectedEof.into()));
        }
        self.pos += bytes;
        Ok(())
    }

    /// A length-prefixed string of at most `max` bytes; invalid UTF-8 is replaced, as llama.cpp
    /// treats strings as bytes.
    pub(super) fn string(&mut self, what: &'static str, max: u64) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        self.ensure(what, len)?;
        if len > max {
            return Err(GgufError::TooMany {
                what: "string byte",
                count: len,
                max,
            });
        }
        let len_usize = usize::try_from(len).map_err(|_| GgufError::TooMany {
            what: "string byte",
            count: len,
            max,
        })?;
        let mut bytes = vec![0u8; len_usize];
        self.inner
            .read_exact(&mut bytes)
            .map_err(|err| self.truncated(what, len, err))?;
        self.pos += len;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    fn value_type(&mut self, key: &str) -> Result<ValueType, GgufError> {
        let id = self.u32("a metadata value type")?;
        ValueType::from_id(id).ok_or_else(|| bad_metadata(key, format!("unknown value type {id}")))
    }

    pub(super) fn value(&mut self, key: &str) -> Result<Value, GgufError> {
        const WHAT: &str = "a metadata value";
        Ok(match self.value_type(key)? {
            ValueType::U8 => Value::U8(u8::from_le_bytes(self.array(WHAT)?)),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array(WHAT)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(WHAT)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(WHAT)?)),
            ValueType::U32 => Value::U32(self.u32(WHAT)?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(WHAT)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(WHAT)?)),
            ValueType::Bool => Value::Bool(self.array::<1>(WHAT)?[0] != 0),
            ValueType::String => Value::String(self.string(WHAT, MAX_STRING_BYTES)?),
            ValueType::U64 => Value::U64(self.u64(WHAT)?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(WHAT)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(WHAT)?)),
            ValueType::Array => self.array_value(key)?,
        })
    }

    /// Walks an array without keeping its elements: token lists are megabytes.
    fn array_value(&mut self, key: &str) -> Result<Value, GgufError> {
        const WHAT: &str = "an array element";
        let element = self.value_type(key)?;
        if element == ValueType::Array {
            return Err(bad_metadata(key, "arrays of arrays are not supported"));
        }
        let len = self.u64("an array length")?;
        // Every element takes at least `min_size` bytes: a count the file cannot hold is
        // refused before any work is done for it.
        let least = len.saturating_mul(element.min_size());
        self.ensure(WHAT, least)?;
        if element == ValueType::String {
            for _ in 0..len {
                let bytes = self.u64(WHAT)?;
                self.skip(WHAT, bytes)?;
            }
        } else {
            self.skip(WHAT, least)?;
        }
        Ok(Value::Array { element, len })
    }
}
