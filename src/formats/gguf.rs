//! GGUF v2/v3 reader over a memory map.
//!
//! Layout (little-endian):
//! ```text
//! magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
//! kv_count x { key: string, type: u32, value }
//! tensor_count x { name: string, n_dims: u32, dims: n_dims x u64, type: u32, offset: u64 }
//! padding to `general.alignment` (default 32) | tensor data
//! string = len u64 + UTF-8 bytes; array = elem type u32 + len u64 + elems
//! ```
//! Every read is bounds-checked against the file; counts are checked against the bytes that remain
//! before anything is allocated, so a corrupt file gives a `ModelError`, never a panic, an abort or a
//! huge allocation. Tensor bytes are never copied: `tensor_bytes` borrows from the map.

use crate::error::{Error, Result};
use crate::quant::GgmlType;
use memmap2::Mmap;
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
const MAX_DIMS: u32 = 4;
const MAX_ARRAY_DEPTH: usize = 4;

/// A metadata value, one variant per GGUF value type.
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
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// Any integer type as u64 (negative values give None).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v as i64),
            Value::I16(v) => Some(v as i64),
            Value::I32(v) => Some(v as i64),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::F32(_) => "f32",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
        }
    }
}

/// One tensor's description. `dims[0]` is the contiguous (row) length, as in ggml's `ne`.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Absolute byte offset of the data in its blob (for a GGUF file: in the file).
    pub offset: u64,
    pub nbytes: u64,
    /// Which of the checkpoint's blobs holds the data (a GGUF file has one: its map).
    pub blob: usize,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A model checkpoint as the loaders see it: GGUF-style metadata and a tensor table whose bytes
/// live in blobs (file maps, used in place, or buffers made at load). A GGUF file is read as one;
/// a Hugging Face folder is translated into one (`formats::hf`), so one loader serves both.
pub type Checkpoint = GgufFile;

/// A parsed GGUF file (or a translated checkpoint). Cheap to keep around: the metadata is parsed,
/// the tensor data stays mapped.
pub struct GgufFile {
    pub path: String,
    pub version: u32,
    pub alignment: u64,
    pub metadata: Vec<(String, Value)>,
    meta_index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    pub data_offset: u64,
    blobs: Vec<Blob>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// Bytes that tensors point into: a file's memory map (used in place) or a buffer made at load
/// (converted or quantized weights). Cloning shares them.
#[derive(Clone)]
pub struct Blob {
    bytes: Arc<dyn AsRef<[u8]> + Send + Sync>,
    mapped: bool,
}

impl Blob {
    pub fn mapped(map: Arc<Mmap>) -> Blob {
        Blob { bytes: map, mapped: true }
    }

    pub fn owned(v: Vec<u8>) -> Blob {
        Blob { bytes: Arc::new(v), mapped: false }
    }

    pub fn bytes(&self) -> &[u8] {
        (*self.bytes).as_ref()
    }

    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether these bytes are a file's memory map.
    pub fn is_mapped(&self) -> bool {
        self.mapped
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a str,
}

impl<'a> Cursor<'a> {
    fn err(&self, what: &str) -> Error {
        Error::model(
            self.path,
            format!("file truncated at byte {} while reading {what} (file is {} bytes)", self.pos, self.buf.len()),
        )
    }
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        if len > self.remaining() as u64 {
            return Err(Error::model(
                self.path,
                format!("{what}: string length {len} at byte {} runs past the end of the file", self.pos - 8),
            ));
        }
        let bytes = self.take(len as usize, what)?;
        // Tolerate invalid UTF-8 in token texts (seen in the wild) rather than refusing the file.
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
    fn value(&mut self, ty: u32, key: &str, depth: usize) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.u8(key)?),
            1 => Value::I8(self.u8(key)? as i8),
            2 => Value::U16(self.u16(key)?),
            3 => Value::I16(self.u16(key)? as i16),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(self.u32(key)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(key)?)),
            7 => {
                let b = self.u8(key)?;
                if b > 1 {
                    return Err(Error::model(self.path, format!("metadata '{key}': bool byte {b} is not 0 or 1")));
                }
                Value::Bool(b == 1)
            }
            8 => Value::String(self.string(key)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(Error::model(self.path, format!("metadata '{key}': arrays nested too deeply")));
                }
                let elem_ty = self.u32(key)?;
                let len = self.u64(key)?;
                let min_size = match elem_ty {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4 | 5 | 6 => 4,
                    8 | 10 | 11 | 12 => 8,
                    9 => 12,
                    _ => {
                        return Err(Error::model(
                            self.path,
                            format!("metadata '{key}': unknown array element type {elem_ty}"),
                        ))
                    }
                };
                if len.saturating_mul(min_size) > self.remaining() as u64 {
                    return Err(Error::model(
                        self.path,
                        format!("metadata '{key}': array of {len} elements runs past the end of the file"),
                    ));
                }
                let mut v = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    v.push(self.value(elem_ty, key, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(self.u64(key)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(key)?)),
            _ => return Err(Error::model(self.path, format!("metadata '{key}': unknown value type {ty}"))),
        })
    }
}

impl GgufFile {
    /// Open and parse a GGUF file; the tensor data is memory-mapped, not read.
    pub fn open(path: &Path) -> Result<GgufFile> {
        let p = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::model(&p, format!("cannot open: {e}")))?;
        let meta = file.metadata().map_err(|e| Error::model(&p, format!("cannot stat: {e}")))?;
        if meta.is_dir() {
            return Err(Error::model(&p, "is a directory, not a GGUF file"));
        }
        if meta.len() == 0 {
            return Err(Error::model(&p, "file is empty"));
        }
        // SAFETY: the map is read-only; a file truncated by another process while mapped is outside
        // what we can defend against (as for every mmap-based loader).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::model(&p, format!("cannot map: {e}")))?;
        Self::parse(p, Arc::new(map))
    }

    fn parse(path: String, map: Arc<Mmap>) -> Result<GgufFile> {
        let buf: &[u8] = &map;
        let mut c = Cursor { buf, pos: 0, path: &path };
        let magic = c.take(4, "magic")?;
        if magic != GGUF_MAGIC {
            return Err(Error::model(
                &path,
                format!("not a GGUF file (magic {:?}, expected \"GGUF\")", String::from_utf8_lossy(magic)),
            ));
        }
        let version = c.u32("version")?;
        if version != 2 && version != 3 {
            return Err(Error::model(&path, format!("unsupported GGUF version {version} (supported: 2, 3)")));
        }
        let n_tensors = c.u64("tensor count")?;
        let n_kv = c.u64("metadata count")?;
        // each kv needs >= 8 (key len) + 4 (type) + 1 bytes; each tensor info >= 8 + 4 + 4 + 8
        if n_kv.saturating_mul(13) > c.remaining() as u64 || n_tensors.saturating_mul(24) > c.remaining() as u64 {
            return Err(Error::model(
                &path,
                format!("header claims {n_tensors} tensors and {n_kv} metadata entries, more than the file holds"),
            ));
        }
        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut meta_index = HashMap::new();
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let ty = c.u32(&key)?;
            let v = c.value(ty, &key, 0)?;
            meta_index.insert(key.clone(), metadata.len());
            metadata.push((key, v));
        }
        let alignment = match meta_index.get("general.alignment").map(|&i| &metadata[i].1) {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
                _ => return Err(Error::model(&path, format!("general.alignment {v:?} is not a power of two"))),
            },
        };
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::new();
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            let n_dims = c.u32(&name)?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(Error::model(&path, format!("tensor '{name}': {n_dims} dimensions (1..={MAX_DIMS} allowed)")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64(&name)?);
            }
            let ty_id = c.u32(&name)?;
            let ty = GgmlType::from_u32(ty_id).ok_or_else(|| {
                Error::model(&path, format!("tensor '{name}': unknown or unsupported tensor type {ty_id}"))
            })?;
            let offset = c.u64(&name)?;
            if dims.iter().any(|&d| d == 0 || d > 1 << 40) {
                return Err(Error::model(&path, format!("tensor '{name}': invalid shape {dims:?}")));
            }
            let n_el = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let row = ty.row_bytes(dims[0] as usize);
            let nbytes = match (n_el, row) {
                (Some(_), Some(row)) => dims[1..].iter().try_fold(row as u64, |a, &d| a.checked_mul(d)),
                _ => None,
            };
            let nbytes = nbytes.ok_or_else(|| {
                Error::model(
                    &path,
                    format!(
                        "tensor '{name}': shape {dims:?} does not fit type {} (block size {})",
                        ty.name(),
                        ty.block_size()
                    ),
                )
            })?;
            if offset % alignment != 0 {
                return Err(Error::model(&path, format!("tensor '{name}': offset {offset} is not aligned to {alignment}")));
            }
            if tensor_index.insert(name.clone(), tensors.len()).is_some() {
                return Err(Error::model(&path, format!("tensor '{name}' appears twice")));
            }
            tensors.push(TensorInfo { name, dims, ty, offset, nbytes, blob: 0 });
        }
        let data_offset = (c.pos as u64).div_ceil(alignment) * alignment;
        let file_len = buf.len() as u64;
        for t in &mut tensors {
            let start = data_offset.checked_add(t.offset);
            let end = start.and_then(|s| s.checked_add(t.nbytes));
            match end {
                Some(end) if end <= file_len => t.offset = start.unwrap(),
                _ => {
                    return Err(Error::model(
                        &path,
                        format!(
                            "tensor '{}' data ({} bytes at data offset {}) runs past the end of the file ({} bytes): truncated?",
                            t.name, t.nbytes, t.offset, file_len
                        ),
                    ))
                }
            }
        }
        let blobs = vec![Blob::mapped(map)];
        Ok(GgufFile { path, version, alignment, metadata, meta_index, tensors, tensor_index, data_offset, blobs })
    }

    /// A checkpoint made from parts (a translated Hugging Face folder). Tensor ranges are checked.
    pub fn assemble(path: String, metadata: Vec<(String, Value)>, tensors: Vec<TensorInfo>, blobs: Vec<Blob>) -> Result<GgufFile> {
        let meta_index = metadata.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        let mut tensor_index = HashMap::new();
        for (i, t) in tensors.iter().enumerate() {
            let len = blobs.get(t.blob).map(|b| b.len() as u64);
            if len.is_none_or(|len| t.offset.checked_add(t.nbytes).is_none_or(|end| end > len)) {
                return Err(Error::model(&path, format!("tensor '{}': data lies outside its file", t.name)));
            }
            if tensor_index.insert(t.name.clone(), i).is_some() {
                return Err(Error::model(&path, format!("tensor '{}' appears twice", t.name)));
            }
        }
        Ok(GgufFile { path, version: 3, alignment: DEFAULT_ALIGNMENT, metadata, meta_index, tensors, tensor_index, data_offset: 0, blobs })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.meta_index.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The tensor's bytes, borrowed from its blob (no copy).
    pub fn tensor_bytes(&self, t: &TensorInfo) -> &[u8] {
        &self.blobs[t.blob].bytes()[t.offset as usize..(t.offset + t.nbytes) as usize]
    }

    pub fn blob(&self, t: &TensorInfo) -> &Blob {
        &self.blobs[t.blob]
    }

    /// The first blob's bytes (the GGUF file; the first shard of a folder): what fingerprints it.
    pub fn main_bytes(&self) -> &[u8] {
        self.blobs.first().map_or(&[], |b| b.bytes())
    }

    pub fn architecture(&self) -> Result<&str> {
        self.get("general.architecture")
            .ok_or_else(|| Error::model(&self.path, "metadata has no 'general.architecture'"))?
            .as_str()
            .ok_or_else(|| Error::model(&self.path, "'general.architecture' is not a string"))
    }

    // Typed metadata helpers: a missing key is None, a key of the wrong type is an error.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| self.wrong_type(key, "an unsigned integer", v)),
        }
    }
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| self.wrong_type(key, "a number", v)),
        }
    }
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| self.wrong_type(key, "a bool", v)),
        }
    }
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| self.wrong_type(key, "a string", v)),
        }
    }
    pub fn get_str_array(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| self.wrong_type(key, "an array of strings", v)))
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.wrong_type(key, "an array of strings", v)),
        }
    }
    pub fn get_f32_array(&self, key: &str) -> Result<Option<Vec<f32>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_f64().map(|x| x as f32).ok_or_else(|| self.wrong_type(key, "an array of numbers", v)))
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.wrong_type(key, "an array of numbers", v)),
        }
    }
    pub fn get_i32_array(&self, key: &str) -> Result<Option<Vec<i32>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_i64()
                        .and_then(|x| i32::try_from(x).ok())
                        .ok_or_else(|| self.wrong_type(key, "an array of integers", v))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.wrong_type(key, "an array of integers", v)),
        }
    }

    fn wrong_type(&self, key: &str, want: &str, got: &Value) -> Error {
        Error::model(&self.path, format!("metadata '{key}' should be {want}, found {}", got.type_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a GGUF file in memory (used by these tests to corrupt files on purpose).
    pub(crate) fn build(version: u32, kvs: &[(&str, u32, Vec<u8>)], tensors: &[(&str, &[u64], u32, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        b.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
        let s = |b: &mut Vec<u8>, x: &str| {
            b.extend_from_slice(&(x.len() as u64).to_le_bytes());
            b.extend_from_slice(x.as_bytes());
        };
        for (k, ty, v) in kvs {
            s(&mut b, k);
            b.extend_from_slice(&ty.to_le_bytes());
            b.extend_from_slice(v);
        }
        let mut off = 0u64;
        let mut offs = vec![];
        for (name, dims, ty, data) in tensors {
            s(&mut b, name);
            b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in *dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&ty.to_le_bytes());
            b.extend_from_slice(&off.to_le_bytes());
            offs.push(off);
            off += (data.len() as u64).div_ceil(32) * 32;
        }
        while b.len() % 32 != 0 {
            b.push(0);
        }
        let base = b.len();
        for ((_, _, _, data), o) in tensors.iter().zip(offs) {
            b.resize(base + o as usize, 0);
            b.extend_from_slice(data);
        }
        b
    }

    fn parse(bytes: Vec<u8>) -> Result<GgufFile> {
        let dir = std::env::temp_dir().join(format!("lanner-gguf-test-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::write(&dir, &bytes).unwrap();
        let r = GgufFile::open(&dir);
        let _ = std::fs::remove_file(&dir);
        r
    }

    fn str_val(x: &str) -> Vec<u8> {
        let mut v = (x.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(x.as_bytes());
        v
    }

    fn sample() -> Vec<u8> {
        let data: Vec<u8> = (0..16).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let mut arr = vec![];
        arr.extend_from_slice(&8u32.to_le_bytes());
        arr.extend_from_slice(&2u64.to_le_bytes());
        arr.extend(str_val("a"));
        arr.extend(str_val("bc"));
        build(
            3,
            &[
                ("general.architecture", 8, str_val("llama")),
                ("u8", 0, vec![7]),
                ("i8", 1, vec![0xff]),
                ("u16", 2, 300u16.to_le_bytes().to_vec()),
                ("i16", 3, (-300i16).to_le_bytes().to_vec()),
                ("u32", 4, 70000u32.to_le_bytes().to_vec()),
                ("i32", 5, (-70000i32).to_le_bytes().to_vec()),
                ("f32", 6, 1.5f32.to_le_bytes().to_vec()),
                ("bool", 7, vec![1]),
                ("arr", 9, arr),
                ("u64", 10, (1u64 << 40).to_le_bytes().to_vec()),
                ("i64", 11, (-5i64).to_le_bytes().to_vec()),
                ("f64", 12, 2.25f64.to_le_bytes().to_vec()),
            ],
            &[("w", &[4, 4], 0, &data)],
        )
    }

    #[test]
    fn reads_every_value_type_and_tensor() {
        let f = parse(sample()).unwrap();
        assert_eq!(f.version, 3);
        assert_eq!(f.get("u8"), Some(&Value::U8(7)));
        assert_eq!(f.get("i8"), Some(&Value::I8(-1)));
        assert_eq!(f.get("u16"), Some(&Value::U16(300)));
        assert_eq!(f.get("i16"), Some(&Value::I16(-300)));
        assert_eq!(f.get("u32"), Some(&Value::U32(70000)));
        assert_eq!(f.get("i32"), Some(&Value::I32(-70000)));
        assert_eq!(f.get("f32"), Some(&Value::F32(1.5)));
        assert_eq!(f.get("bool"), Some(&Value::Bool(true)));
        assert_eq!(f.get_str_array("arr").unwrap().unwrap(), vec!["a".to_string(), "bc".to_string()]);
        assert_eq!(f.get("u64"), Some(&Value::U64(1 << 40)));
        assert_eq!(f.get("i64"), Some(&Value::I64(-5)));
        assert_eq!(f.get("f64"), Some(&Value::F64(2.25)));
        assert_eq!(f.architecture().unwrap(), "llama");
        let t = f.tensor("w").unwrap();
        assert_eq!(t.dims, vec![4, 4]);
        assert_eq!(t.nbytes, 64);
        let bytes = f.tensor_bytes(t);
        assert_eq!(f32::from_le_bytes(bytes[20..24].try_into().unwrap()), 5.0);
        assert!(f.get_bool("u8").is_err(), "wrong type must be an error");
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let good = sample();
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert!(parse(bad_magic).unwrap_err().to_string().contains("not a GGUF file"));
        let mut bad_version = good.clone();
        bad_version[4] = 9;
        assert!(parse(bad_version).unwrap_err().to_string().contains("unsupported GGUF version 9"));
        // every truncation point gives an error
        for cut in [0, 3, 5, 10, 30, 100, good.len() / 2, good.len() - 1] {
            let e = parse(good[..cut].to_vec());
            assert!(e.is_err(), "cut at {cut} must fail");
        }
        // random byte flips never panic
        let mut seed = 0x1234_5678u64;
        for _ in 0..2000 {
            let mut b = good.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            let _ = parse(b);
        }
    }

    #[test]
    fn unknown_tensor_type_is_named() {
        let b = build(3, &[], &[("w", &[32], 99, &[0u8; 64])]);
        let e = parse(b).unwrap_err().to_string();
        assert!(e.contains("unknown or unsupported tensor type 99"), "{e}");
    }

    #[test]
    fn tensor_past_end_is_detected() {
        let mut b = build(3, &[], &[("w", &[16], 0, &[0u8; 64])]);
        b.truncate(b.len() - 8);
        let e = parse(b).unwrap_err().to_string();
        assert!(e.contains("runs past the end of the file"), "{e}");
    }
}
