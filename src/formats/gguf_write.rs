//! GGUF v3 writer: the inverse of `gguf.rs` (see there for the layout).
//!
//! Collect metadata and tensors, then `write` them in one go. The file is written to
//! `<path>.tmp-<pid>` and renamed over `path` only once complete and synced, so a failed or
//! interrupted write never leaves a half-written model under the real name. Tensor data can be
//! borrowed (e.g. straight from a safetensors memory map), owned, or produced lazily at write time
//! so that a conversion holds one converted tensor in memory at a time, not the whole model.
//!
//! Everything the reader would refuse is refused when added: bad shapes, byte counts that do not
//! match shape x type, duplicate names, mixed-type arrays.

use super::gguf::{Value, DEFAULT_ALIGNMENT, GGUF_MAGIC};
use crate::error::{Error, Result};
use crate::quant::GgmlType;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub const GGUF_VERSION: u32 = 3;
/// llama.cpp keeps tensor names in a 64-byte buffer with a terminating NUL.
pub const MAX_TENSOR_NAME: usize = 63;
const MAX_DIMS: usize = 4;
/// Arrays may nest this deep (the reader's limit).
const MAX_ARRAY_DEPTH: usize = 4;

enum TensorData<'a> {
    Bytes(Cow<'a, [u8]>),
    Lazy(Box<dyn FnOnce() -> Result<Vec<u8>> + 'a>),
}

struct PendingTensor<'a> {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    nbytes: u64,
    data: TensorData<'a>,
}

/// A GGUF file being assembled. `'a` is the lifetime of borrowed tensor data.
#[derive(Default)]
pub struct GgufWriter<'a> {
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor<'a>>,
    names: HashSet<String>,
}

impl<'a> GgufWriter<'a> {
    pub fn new() -> GgufWriter<'a> {
        GgufWriter::default()
    }

    /// Set a metadata key (a key set twice keeps its first position and its last value).
    /// `general.alignment` sets the tensor data alignment (a power of two; default 32, and then
    /// the key is not written). An empty array is written with element type u8.
    pub fn add_meta(&mut self, key: impl Into<String>, value: Value) -> Result<()> {
        let key = key.into();
        if key.is_empty() || key.len() > u16::MAX as usize {
            return Err(Error::arg(format!("GGUF metadata key of {} bytes (1..=65535 allowed)", key.len())));
        }
        check_value(&key, &value, 0)?;
        if key == "general.alignment" && alignment_of(&value).is_none() {
            return Err(Error::arg(format!("general.alignment {value:?} is not a power of two up to 2^20")));
        }
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key, value)),
        }
        Ok(())
    }

    /// Add a tensor from its bytes. `dims` are in ggml order: `dims[0]` is the contiguous row length
    /// (the reverse of a safetensors/PyTorch shape).
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: GgmlType,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<()> {
        let name = name.into();
        let data = data.into();
        let nbytes = check_tensor(&name, dims, ty)?;
        if data.len() as u64 != nbytes {
            return Err(Error::arg(format!(
                "tensor '{name}': {} bytes given, shape {dims:?} of {} needs {nbytes}",
                data.len(),
                ty.name()
            )));
        }
        self.push(name, dims, ty, nbytes, TensorData::Bytes(data))
    }

    /// Add a tensor whose bytes `produce` makes when the file is written (after every tensor
    /// before it has been written and dropped). The bytes must match shape x type.
    pub fn add_tensor_with(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: GgmlType,
        produce: impl FnOnce() -> Result<Vec<u8>> + 'a,
    ) -> Result<()> {
        let name = name.into();
        let nbytes = check_tensor(&name, dims, ty)?;
        self.push(name, dims, ty, nbytes, TensorData::Lazy(Box::new(produce)))
    }

    fn push(&mut self, name: String, dims: &[u64], ty: GgmlType, nbytes: u64, data: TensorData<'a>) -> Result<()> {
        if !self.names.insert(name.clone()) {
            return Err(Error::arg(format!("tensor '{name}' added twice")));
        }
        self.tensors.push(PendingTensor { name, dims: dims.to_vec(), ty, nbytes, data });
        Ok(())
    }

    fn alignment(&self) -> u64 {
        self.metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| alignment_of(v))
            .unwrap_or(DEFAULT_ALIGNMENT)
    }

    /// Write the file: to `<path>.tmp-<pid>` first, renamed over `path` once complete.
    pub fn write(self, path: &Path) -> Result<()> {
        let p = path.display().to_string();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let result = self.write_to(&tmp, &p).and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|e| Error::model(&p, format!("cannot move the finished file into place: {e}")))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn write_to(self, tmp: &Path, p: &str) -> Result<()> {
        let io = |e: std::io::Error| Error::model(p, format!("cannot write {}: {e}", tmp.display()));
        let file = File::create(tmp).map_err(io)?;
        let align = self.alignment();
        let mut w = Counting { inner: BufWriter::with_capacity(1 << 20, file), n: 0 };

        w.put(GGUF_MAGIC).map_err(io)?;
        w.put(&GGUF_VERSION.to_le_bytes()).map_err(io)?;
        w.put(&(self.tensors.len() as u64).to_le_bytes()).map_err(io)?;
        w.put(&(self.metadata.len() as u64).to_le_bytes()).map_err(io)?;
        for (key, value) in &self.metadata {
            w.string(key).map_err(io)?;
            w.put(&type_id(value).to_le_bytes()).map_err(io)?;
            w.value(value).map_err(io)?;
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            w.string(&t.name).map_err(io)?;
            w.put(&(t.dims.len() as u32).to_le_bytes()).map_err(io)?;
            for d in &t.dims {
                w.put(&d.to_le_bytes()).map_err(io)?;
            }
            w.put(&t.ty.id().to_le_bytes()).map_err(io)?;
            w.put(&offset.to_le_bytes()).map_err(io)?;
            offset = (offset + t.nbytes).div_ceil(align) * align;
        }
        w.pad(align).map_err(io)?;
        for t in self.tensors {
            let bytes = match t.data {
                TensorData::Bytes(b) => b,
                TensorData::Lazy(produce) => Cow::Owned(produce()?),
            };
            if bytes.len() as u64 != t.nbytes {
                return Err(Error::model(
                    p,
                    format!("tensor '{}': {} bytes produced, shape {:?} of {} needs {}", t.name, bytes.len(), t.dims, t.ty.name(), t.nbytes),
                ));
            }
            w.put(&bytes).map_err(io)?;
            w.pad(align).map_err(io)?;
        }
        let file = w.inner.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)
    }
}

/// The bytes of a tensor of this shape and type, or why it cannot be written.
fn check_tensor(name: &str, dims: &[u64], ty: GgmlType) -> Result<u64> {
    let bad = |msg: String| Err(Error::arg(format!("tensor '{name}': {msg}")));
    if name.is_empty() || name.len() > MAX_TENSOR_NAME {
        return bad(format!("name of {} bytes (1..={MAX_TENSOR_NAME} allowed)", name.len()));
    }
    if dims.is_empty() || dims.len() > MAX_DIMS {
        return bad(format!("{} dimensions (1..={MAX_DIMS} allowed)", dims.len()));
    }
    if dims.iter().any(|&d| d == 0 || d > 1 << 40) {
        return bad(format!("invalid shape {dims:?}"));
    }
    let row = usize::try_from(dims[0]).ok().and_then(|n| ty.row_bytes(n));
    match row.and_then(|r| dims[1..].iter().try_fold(r as u64, |a, &d| a.checked_mul(d))) {
        Some(n) => Ok(n),
        None => bad(format!(
            "rows of {} elements are not a whole number of {} blocks ({} elements)",
            dims[0],
            ty.name(),
            ty.block_size()
        )),
    }
}

fn alignment_of(v: &Value) -> Option<u64> {
    v.as_u64().filter(|&a| a > 0 && a.is_power_of_two() && a <= 1 << 20)
}

fn type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

/// GGUF arrays hold one element type: refuse mixed arrays and nesting deeper than the reader takes.
fn check_value(key: &str, v: &Value, depth: usize) -> Result<()> {
    let Value::Array(items) = v else { return Ok(()) };
    if depth >= MAX_ARRAY_DEPTH {
        return Err(Error::arg(format!("metadata '{key}': arrays nested more than {MAX_ARRAY_DEPTH} deep")));
    }
    if let Some(first) = items.first() {
        if let Some(other) = items.iter().find(|x| type_id(x) != type_id(first)) {
            return Err(Error::arg(format!(
                "metadata '{key}': array mixes {} and {} (GGUF arrays hold one type)",
                first.type_name(),
                other.type_name()
            )));
        }
    }
    items.iter().try_for_each(|x| check_value(key, x, depth + 1))
}

/// A writer that counts the bytes it has written (for the alignment padding).
struct Counting<W: Write> {
    inner: W,
    n: u64,
}

impl<W: Write> Counting<W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(b)?;
        self.n += b.len() as u64;
        Ok(())
    }
    fn pad(&mut self, align: u64) -> std::io::Result<()> {
        let n = self.n.div_ceil(align) * align - self.n;
        self.put(&vec![0u8; n as usize])
    }
    fn string(&mut self, s: &str) -> std::io::Result<()> {
        self.put(&(s.len() as u64).to_le_bytes())?;
        self.put(s.as_bytes())
    }
    fn value(&mut self, v: &Value) -> std::io::Result<()> {
        match v {
            Value::U8(x) => self.put(&[*x]),
            Value::I8(x) => self.put(&x.to_le_bytes()),
            Value::U16(x) => self.put(&x.to_le_bytes()),
            Value::I16(x) => self.put(&x.to_le_bytes()),
            Value::U32(x) => self.put(&x.to_le_bytes()),
            Value::I32(x) => self.put(&x.to_le_bytes()),
            Value::F32(x) => self.put(&x.to_le_bytes()),
            Value::Bool(x) => self.put(&[*x as u8]),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                let elem = items.first().map_or(0, type_id);
                self.put(&elem.to_le_bytes())?;
                self.put(&(items.len() as u64).to_le_bytes())?;
                items.iter().try_for_each(|x| self.value(x))
            }
            Value::U64(x) => self.put(&x.to_le_bytes()),
            Value::I64(x) => self.put(&x.to_le_bytes()),
            Value::F64(x) => self.put(&x.to_le_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::gguf::GgufFile;
    use crate::quant::{quantize_row, ALL_TYPES};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    fn temp_dir() -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("lanner-gguf-write-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn files_in(d: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    fn every_value_type() -> Vec<(String, Value)> {
        let s = |x: &str| Value::String(x.to_string());
        vec![
            ("general.architecture".into(), s("llama")),
            ("u8".into(), Value::U8(200)),
            ("i8".into(), Value::I8(-100)),
            ("u16".into(), Value::U16(60000)),
            ("i16".into(), Value::I16(-30000)),
            ("u32".into(), Value::U32(4_000_000_000)),
            ("i32".into(), Value::I32(-2_000_000_000)),
            ("f32".into(), Value::F32(-1.25e-3)),
            ("bool.t".into(), Value::Bool(true)),
            ("bool.f".into(), Value::Bool(false)),
            ("string".into(), s("héllo ☃ \n\"quoted\"")),
            ("string.empty".into(), s("")),
            ("u64".into(), Value::U64(u64::MAX)),
            ("i64".into(), Value::I64(i64::MIN)),
            ("f64".into(), Value::F64(std::f64::consts::PI)),
            ("arr.str".into(), Value::Array(vec![s("a"), s(""), s("ü")])),
            ("arr.f32".into(), Value::Array(vec![Value::F32(1.0), Value::F32(-0.5)])),
            ("arr.i32".into(), Value::Array((0..1000).map(Value::I32).collect())),
            ("arr.u8".into(), Value::Array(vec![Value::U8(1), Value::U8(2)])),
            ("arr.bool".into(), Value::Array(vec![Value::Bool(true), Value::Bool(false)])),
            ("arr.u64".into(), Value::Array(vec![Value::U64(1 << 50)])),
            ("arr.f64".into(), Value::Array(vec![Value::F64(-2.5)])),
            ("arr.nested".into(), Value::Array(vec![Value::Array(vec![s("x")]), Value::Array(vec![])])),
            ("arr.empty".into(), Value::Array(vec![])),
        ]
    }

    /// One tensor per ggml type, with dims of 1 to 4 axes; quantized types hold real quantized rows.
    fn every_tensor_type() -> Vec<(String, Vec<u64>, GgmlType, Vec<u8>)> {
        let mut seed = 99u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        ALL_TYPES
            .iter()
            .enumerate()
            .map(|(i, &ty)| {
                let row = ty.block_size().max(8) as u64;
                let dims: Vec<u64> = match i % 4 {
                    0 => vec![row],
                    1 => vec![row, 3],
                    2 => vec![row, 2, 2],
                    _ => vec![row, 1, 2, 3],
                };
                let n: u64 = dims.iter().product();
                let x: Vec<f32> = (0..n).map(|_| next()).collect();
                let mut bytes = vec![0u8; ty.row_bytes(n as usize).unwrap()];
                quantize_row(ty, &x, &mut bytes);
                (format!("t.{}", ty.name().to_lowercase()), dims, ty, bytes)
            })
            .collect()
    }

    #[test]
    fn writes_every_value_and_tensor_type_and_reads_them_back() {
        let d = temp_dir();
        let path = d.join("out.gguf");
        let meta = every_value_type();
        let tensors = every_tensor_type();
        let mut w = GgufWriter::new();
        for (k, v) in &meta {
            w.add_meta(k.clone(), v.clone()).unwrap();
        }
        for (i, (name, dims, ty, bytes)) in tensors.iter().enumerate() {
            // borrowed, owned and lazily produced data
            match i % 3 {
                0 => w.add_tensor(name.clone(), dims, *ty, bytes.as_slice()).unwrap(),
                1 => w.add_tensor(name.clone(), dims, *ty, bytes.clone()).unwrap(),
                _ => w.add_tensor_with(name.clone(), dims, *ty, || Ok(bytes.clone())).unwrap(),
            }
        }
        w.write(&path).unwrap();
        assert_eq!(files_in(&d), ["out.gguf"], "no temp file left behind");

        let f = GgufFile::open(&path).unwrap();
        assert_eq!(f.version, 3);
        assert_eq!(f.alignment, 32);
        assert_eq!(f.metadata, meta, "metadata read back equal and in order");
        assert_eq!(f.tensors.len(), tensors.len());
        for (t, (name, dims, ty, bytes)) in f.tensors.iter().zip(&tensors) {
            assert_eq!((&t.name, &t.dims, t.ty), (name, dims, *ty));
            assert_eq!(t.offset % 32, 0, "{name}: data offset {} not aligned", t.offset);
            assert_eq!(f.tensor_bytes(t), bytes.as_slice(), "{name}: data differs");
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len() % 32, 0, "last tensor padded too");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn custom_alignment_and_overwrite() {
        let d = temp_dir();
        let path = d.join("out.gguf");
        std::fs::write(&path, b"old contents").unwrap();
        let mut w = GgufWriter::new();
        w.add_meta("general.alignment", Value::U32(64)).unwrap();
        w.add_meta("k", Value::U8(1)).unwrap();
        w.add_meta("k", Value::U8(2)).unwrap(); // replaces, keeps its place
        w.add_tensor("a", &[3], GgmlType::F32, vec![0u8; 12]).unwrap();
        w.add_tensor("b", &[2], GgmlType::F16, vec![1u8; 4]).unwrap();
        w.write(&path).unwrap();
        let f = GgufFile::open(&path).unwrap();
        assert_eq!(f.alignment, 64);
        assert_eq!(f.metadata, vec![("general.alignment".into(), Value::U32(64)), ("k".into(), Value::U8(2))]);
        for t in &f.tensors {
            assert_eq!(t.offset % 64, 0);
        }
        assert_eq!(f.tensor_bytes(f.tensor("b").unwrap()), &[1u8; 4]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_tensors_and_values_are_refused_when_added() {
        let mut w = GgufWriter::new();
        let cases: Vec<(Result<()>, &str)> = vec![
            (w.add_tensor("w", &[4], GgmlType::F32, vec![0u8; 15]), "15 bytes given"),
            (w.add_tensor("w", &[], GgmlType::F32, vec![]), "0 dimensions"),
            (w.add_tensor("w", &[1, 1, 1, 1, 1], GgmlType::F32, vec![0u8; 4]), "5 dimensions"),
            (w.add_tensor("w", &[4, 0], GgmlType::F32, vec![]), "invalid shape"),
            (w.add_tensor("w", &[100], GgmlType::Q4_K, vec![]), "not a whole number of Q4_K blocks"),
            (w.add_tensor("", &[1], GgmlType::F32, vec![0u8; 4]), "name of 0 bytes"),
            (w.add_tensor("x".repeat(64), &[1], GgmlType::F32, vec![0u8; 4]), "name of 64 bytes"),
            (w.add_meta("a", Value::Array(vec![Value::U8(1), Value::I8(1)])), "array mixes u8 and i8"),
            (w.add_meta("general.alignment", Value::U32(48)), "not a power of two"),
            (w.add_meta("", Value::U8(1)), "key of 0 bytes"),
            (
                w.add_meta("deep", (0..5).fold(Value::U8(0), |v, _| Value::Array(vec![v]))),
                "nested more than 4 deep",
            ),
        ];
        for (r, want) in cases {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(want), "got \"{e}\", want \"{want}\"");
        }
        w.add_tensor("w", &[1], GgmlType::F32, vec![0u8; 4]).unwrap();
        let e = w.add_tensor("w", &[1], GgmlType::F32, vec![0u8; 4]).unwrap_err().to_string();
        assert!(e.contains("added twice"), "{e}");
        // four levels of nesting is what the reader takes
        w.add_meta("deep", (0..4).fold(Value::U8(0), |v, _| Value::Array(vec![v]))).unwrap();
    }

    #[test]
    fn failed_writes_leave_nothing_behind() {
        let d = temp_dir();
        let path = d.join("out.gguf");
        // the producer fails
        let mut w = GgufWriter::new();
        w.add_tensor("a", &[1], GgmlType::F32, vec![0u8; 4]).unwrap();
        w.add_tensor_with("b", &[1], GgmlType::F32, || Err(Error::arg("conversion failed"))).unwrap();
        assert!(w.write(&path).unwrap_err().to_string().contains("conversion failed"));
        assert!(files_in(&d).is_empty(), "left behind: {:?}", files_in(&d));
        // the producer makes the wrong number of bytes
        let mut w = GgufWriter::new();
        w.add_tensor_with("b", &[2], GgmlType::F32, || Ok(vec![0u8; 4])).unwrap();
        let e = w.write(&path).unwrap_err().to_string();
        assert!(e.contains("tensor 'b': 4 bytes produced") && e.contains("out.gguf"), "{e}");
        assert!(files_in(&d).is_empty(), "left behind: {:?}", files_in(&d));
        // an existing file is kept when the write fails
        std::fs::write(&path, b"old").unwrap();
        let mut w = GgufWriter::new();
        w.add_tensor_with("b", &[1], GgmlType::F32, || Err(Error::arg("no"))).unwrap();
        assert!(w.write(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(files_in(&d), ["out.gguf"]);
        // a directory that does not exist
        let e = GgufWriter::new().write(&d.join("no/such/dir/x.gguf")).unwrap_err();
        assert!(matches!(e, Error::Model { .. }), "{e:?}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
