//! safetensors reader over a memory map.
//!
//! Layout:
//! ```text
//! header_len u64 (little-endian) | header: header_len bytes of UTF-8 JSON (may end in spaces) | data
//! header = { "__metadata__": { str: str }   (optional)
//!            name: { "dtype": "BF16", "shape": [d0, d1, ...], "data_offsets": [begin, end] }, ... }
//! ```
//! `data_offsets` count from the start of the data; `shape` is row-major, the last dimension
//! contiguous (the reverse of ggml's order). The header is checked in full before anything is
//! used: a file whose header lies about a tensor (offsets past the end, a byte length that does not
//! match shape x dtype, two tensors on the same bytes) is a `ModelError` naming the file and the
//! tensor, never a panic or an out-of-bounds read. Tensor bytes are never copied; note they are
//! only as aligned as the writer made them (usually 8 bytes, not guaranteed).

use crate::error::{Error, Result};
use crate::quant::GgmlType;
use memmap2::Mmap;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Headers above this size are refused as corrupt (the limit the reference implementation uses).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The index file of a model split over several safetensors files.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// A safetensors element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StDtype {
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    F8E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
    /// 4-bit float (E2M1), two per byte.
    F4,
    F6E2M3,
    F6E3M2,
}

const DTYPES: [(StDtype, &str, u64); 20] = [
    (StDtype::Bool, "BOOL", 8),
    (StDtype::U8, "U8", 8),
    (StDtype::I8, "I8", 8),
    (StDtype::F8E5M2, "F8_E5M2", 8),
    (StDtype::F8E4M3, "F8_E4M3", 8),
    (StDtype::F8E8M0, "F8_E8M0", 8),
    (StDtype::I16, "I16", 16),
    (StDtype::U16, "U16", 16),
    (StDtype::F16, "F16", 16),
    (StDtype::BF16, "BF16", 16),
    (StDtype::I32, "I32", 32),
    (StDtype::U32, "U32", 32),
    (StDtype::F32, "F32", 32),
    (StDtype::C64, "C64", 64),
    (StDtype::F64, "F64", 64),
    (StDtype::I64, "I64", 64),
    (StDtype::U64, "U64", 64),
    (StDtype::F4, "F4", 4),
    (StDtype::F6E2M3, "F6_E2M3", 6),
    (StDtype::F6E3M2, "F6_E3M2", 6),
];

impl StDtype {
    /// The dtype named in a header ("F32", "BF16", "F8_E4M3", ...).
    pub fn from_name(name: &str) -> Option<StDtype> {
        DTYPES.iter().find(|d| d.1 == name).map(|d| d.0)
    }
    pub fn name(self) -> &'static str {
        DTYPES.iter().find(|d| d.0 == self).map_or("?", |d| d.1)
    }
    /// Bits per element (sub-byte types pack several elements per byte).
    pub fn bits(self) -> u64 {
        DTYPES.iter().find(|d| d.0 == self).map_or(8, |d| d.2)
    }
    /// The ggml type with the same bytes, for the types we can use as they are.
    pub fn ggml_type(&self) -> Option<GgmlType> {
        match self {
            StDtype::F32 => Some(GgmlType::F32),
            StDtype::F16 => Some(GgmlType::F16),
            StDtype::BF16 => Some(GgmlType::BF16),
            _ => None,
        }
    }
}

/// One tensor's description.
#[derive(Debug, Clone, PartialEq)]
pub struct StTensor {
    pub name: String,
    pub dtype: StDtype,
    /// Row-major: the last dimension is contiguous.
    pub shape: Vec<u64>,
    /// Absolute byte offset of the data in the file.
    pub offset: u64,
    pub nbytes: u64,
}

impl StTensor {
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// A parsed safetensors file: the header is parsed, the data stays mapped.
pub struct SafeTensors {
    pub path: String,
    pub map: Arc<Mmap>,
    /// In file order (by offset).
    pub tensors: Vec<StTensor>,
    index: HashMap<String, usize>,
    pub metadata: Option<BTreeMap<String, String>>,
}

impl std::fmt::Debug for SafeTensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeTensors").field("path", &self.path).field("tensors", &self.tensors.len()).finish()
    }
}

impl SafeTensors {
    /// Open and check a safetensors file; the tensor data is memory-mapped, not read.
    pub fn open(path: &Path) -> Result<SafeTensors> {
        let p = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::model(&p, format!("cannot open: {e}")))?;
        let meta = file.metadata().map_err(|e| Error::model(&p, format!("cannot stat: {e}")))?;
        if meta.is_dir() {
            return Err(Error::model(&p, "is a directory, not a safetensors file"));
        }
        if meta.len() < 8 {
            return Err(Error::model(
                &p,
                format!("file is {} bytes, too short for a safetensors header (8-byte length first)", meta.len()),
            ));
        }
        // SAFETY: the map is read-only; a file truncated by another process while mapped is outside
        // what we can defend against (as for every mmap-based loader).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::model(&p, format!("cannot map: {e}")))?;
        Self::parse(p, Arc::new(map))
    }

    fn parse(path: String, map: Arc<Mmap>) -> Result<SafeTensors> {
        let buf: &[u8] = &map;
        let err = |msg: String| Error::model(&path, msg);
        if buf.len() < 8 {
            return Err(err(format!("file is {} bytes, too short for a safetensors header", buf.len())));
        }
        let file_len = buf.len() as u64;
        let header_len = u64::from_le_bytes(buf[..8].try_into().unwrap());
        if header_len > MAX_HEADER_BYTES {
            return Err(err(format!(
                "header length {header_len} is over the {MAX_HEADER_BYTES}-byte limit: not a safetensors file?"
            )));
        }
        if 8 + header_len > file_len {
            return Err(err(format!(
                "header length {header_len} runs past the end of the file ({file_len} bytes): truncated?"
            )));
        }
        let text = std::str::from_utf8(&buf[8..8 + header_len as usize])
            .map_err(|e| err(format!("header is not UTF-8 ({e})")))?;
        let json: Json = serde_json::from_str(text).map_err(|e| err(format!("header is not valid JSON: {e}")))?;
        let Json::Object(entries) = json else {
            return Err(err(format!("header is {}, not a JSON object", json_kind(&json))));
        };
        let data_start = 8 + header_len;
        let data_len = file_len - data_start;

        let mut metadata = None;
        let mut tensors = Vec::with_capacity(entries.len());
        for (name, v) in &entries {
            if name == "__metadata__" {
                metadata = Some(parse_metadata(v).map_err(|m| err(format!("\"__metadata__\": {m}")))?);
                continue;
            }
            let (dtype, shape, begin, end) =
                parse_entry(v, data_len).map_err(|m| err(format!("tensor '{name}': {m}")))?;
            tensors.push(StTensor { name: name.clone(), dtype, shape, offset: data_start + begin, nbytes: end - begin });
        }

        // Two tensors must not share bytes. Empty tensors own no bytes and may sit anywhere.
        tensors.sort_by(|a, b| (a.offset, a.nbytes, &a.name).cmp(&(b.offset, b.nbytes, &b.name)));
        let mut last: Option<&StTensor> = None;
        for t in tensors.iter().filter(|t| t.nbytes > 0) {
            if let Some(prev) = last {
                if t.offset < prev.offset + prev.nbytes {
                    return Err(err(format!(
                        "tensors '{}' (data bytes {}..{}) and '{}' (data bytes {}..{}) overlap",
                        prev.name,
                        prev.offset - data_start,
                        prev.offset - data_start + prev.nbytes,
                        t.name,
                        t.offset - data_start,
                        t.offset - data_start + t.nbytes
                    )));
                }
            }
            if last.map_or(true, |p| t.offset + t.nbytes > p.offset + p.nbytes) {
                last = Some(t);
            }
        }
        let index = tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(SafeTensors { path, map, tensors, index, metadata })
    }

    pub fn tensor(&self, name: &str) -> Option<&StTensor> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// The tensor's bytes, borrowed from the memory map (no copy). `t` must come from this file.
    pub fn bytes(&self, t: &StTensor) -> &[u8] {
        &self.map[t.offset as usize..(t.offset + t.nbytes) as usize]
    }
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn parse_metadata(v: &Json) -> std::result::Result<BTreeMap<String, String>, String> {
    let Json::Object(m) = v else {
        return Err(format!("is {}, not an object of strings", json_kind(v)));
    };
    m.iter()
        .map(|(k, v)| match v {
            Json::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(format!("value of '{k}' is {}, not a string", json_kind(v))),
        })
        .collect()
}

/// One tensor entry: (dtype, shape, begin, end) with begin/end relative to the data and checked
/// against `data_len` and against shape x dtype.
fn parse_entry(v: &Json, data_len: u64) -> std::result::Result<(StDtype, Vec<u64>, u64, u64), String> {
    let Json::Object(e) = v else {
        return Err(format!("entry is {}, not an object", json_kind(v)));
    };
    let dtype = match e.get("dtype") {
        None => return Err("missing \"dtype\"".into()),
        Some(Json::String(s)) => StDtype::from_name(s).ok_or_else(|| format!("unknown dtype \"{s}\""))?,
        Some(d) => return Err(format!("\"dtype\" is {}, not a string", json_kind(d))),
    };
    let shape = match e.get("shape") {
        None => return Err("missing \"shape\"".into()),
        Some(s) => u64_array(s).ok_or_else(|| format!("\"shape\" {s} is not a list of non-negative integers"))?,
    };
    let (begin, end) = match e.get("data_offsets") {
        None => return Err("missing \"data_offsets\"".into()),
        Some(o) => match u64_array(o).as_deref() {
            Some(&[b, e]) => (b, e),
            _ => return Err(format!("\"data_offsets\" {o} is not a pair of non-negative integers")),
        },
    };
    if begin > end {
        return Err(format!("data_offsets [{begin}, {end}] are not in order"));
    }
    if end > data_len {
        return Err(format!("data_offsets [{begin}, {end}] run past the end of the data ({data_len} bytes): truncated?"));
    }
    let bits = shape.iter().try_fold(dtype.bits(), |a, &d| a.checked_mul(d));
    let want = match bits {
        Some(b) if b % 8 == 0 => b / 8,
        _ => return Err(format!("shape {shape:?} of {} is not a whole number of bytes", dtype.name())),
    };
    if want != end - begin {
        return Err(format!(
            "shape {shape:?} of {} needs {want} bytes but data_offsets [{begin}, {end}] hold {}",
            dtype.name(),
            end - begin
        ));
    }
    Ok((dtype, shape, begin, end))
}

fn u64_array(v: &Json) -> Option<Vec<u64>> {
    v.as_array()?.iter().map(Json::as_u64).collect()
}

/// The shard files of a model split over several safetensors files, from
/// `dir/model.safetensors.index.json` (`"weight_map": { tensor name: shard file name }`): each
/// distinct shard once, sorted by name (`model-00001-of-00003.safetensors`, ...). Shard names must
/// be plain file names in `dir`, and every shard must exist.
pub fn open_index(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join(INDEX_FILE);
    let p = index.display().to_string();
    let err = |msg: String| Error::model(&p, msg);
    let text = std::fs::read_to_string(&index).map_err(|e| err(format!("cannot read: {e}")))?;
    let json: Json = serde_json::from_str(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let map = match json.get("weight_map") {
        Some(Json::Object(m)) => m,
        Some(v) => return Err(err(format!("\"weight_map\" is {}, not an object", json_kind(v)))),
        None => return Err(err("no \"weight_map\"".into())),
    };
    if map.is_empty() {
        return Err(err("\"weight_map\" is empty".into()));
    }
    // shard name -> one tensor it holds (named in errors)
    let mut shards: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, v) in map {
        let Json::String(shard) = v else {
            return Err(err(format!("tensor '{name}': shard is {}, not a file name", json_kind(v))));
        };
        if shard.is_empty() || shard == "." || shard == ".." || shard.contains(['/', '\\', '\0']) {
            return Err(err(format!("tensor '{name}': shard \"{shard}\" is not a plain file name")));
        }
        shards.entry(shard).or_insert(name);
    }
    let mut out = Vec::with_capacity(shards.len());
    for (shard, tensor) in shards {
        let path = dir.join(shard);
        if !path.is_file() {
            return Err(err(format!("shard \"{shard}\" (holding tensor '{tensor}') is missing")));
        }
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A fresh, empty temp directory for one test.
    fn temp_dir() -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("lanner-st-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A safetensors file from a header text (padded with spaces to 8 bytes) and data.
    fn file_bytes(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.as_bytes().to_vec();
        while h.len() % 8 != 0 {
            h.push(b' ');
        }
        let mut b = (h.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(&h);
        b.extend_from_slice(data);
        b
    }

    fn open_bytes(bytes: &[u8]) -> Result<SafeTensors> {
        let d = temp_dir();
        let p = d.join("model.safetensors");
        std::fs::write(&p, bytes).unwrap();
        let r = SafeTensors::open(&p);
        let _ = std::fs::remove_dir_all(&d);
        r
    }

    /// The error text of opening a file with this header and data.
    fn open_err(header: &str, data: &[u8]) -> String {
        match open_bytes(&file_bytes(header, data)) {
            Ok(_) => panic!("header {header} should be refused"),
            Err(e @ Error::Model { .. }) => e.to_string(),
            Err(e) => panic!("wrong error kind {e:?}"),
        }
    }

    const GOOD: &str = r#"{"__metadata__":{"format":"pt"},
        "b":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},
        "a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]},
        "s":{"dtype":"I64","shape":[],"data_offsets":[24,32]},
        "e":{"dtype":"F16","shape":[0,3],"data_offsets":[32,32]}}"#;

    fn good_data() -> Vec<u8> {
        let mut d: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes()).collect();
        d.extend([0u8; 4]); // elements 2, 3 of 'a' = 0
        d.extend([1.5f32, -2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()));
        d.extend((-7i64).to_le_bytes());
        d
    }

    #[test]
    fn reads_tensors_metadata_and_bytes() {
        let f = open_bytes(&file_bytes(GOOD, &good_data())).unwrap();
        assert_eq!(f.metadata.as_ref().unwrap()["format"], "pt");
        let names: Vec<&str> = f.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "s", "e"], "tensors in file order");
        let header = file_bytes(GOOD, &[]).len() as u64;
        let b = f.tensor("b").unwrap();
        assert_eq!((b.dtype, b.shape.clone(), b.offset, b.nbytes), (StDtype::F32, vec![2, 2], header + 8, 16));
        assert_eq!(b.dtype.ggml_type(), Some(GgmlType::F32));
        let v: Vec<f32> = f.bytes(b).chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(v, [1.5, -2.0, 3.0, 4.0]);
        let a = f.tensor("a").unwrap();
        assert_eq!(a.dtype.ggml_type(), Some(GgmlType::BF16));
        assert_eq!(half::bf16::from_bits(u16::from_le_bytes([f.bytes(a)[2], f.bytes(a)[3]])).to_f32(), 2.0);
        let s = f.tensor("s").unwrap();
        assert_eq!((s.shape.len(), s.n_elements(), s.dtype.ggml_type()), (0, 1, None));
        assert_eq!(i64::from_le_bytes(f.bytes(s).try_into().unwrap()), -7);
        assert_eq!(f.tensor("e").unwrap().nbytes, 0);
        assert!(f.tensor("missing").is_none());
        assert_eq!(StDtype::from_name("F8_E4M3"), Some(StDtype::F8E4M3));
        assert_eq!(StDtype::F8E4M3.name(), "F8_E4M3");
    }

    #[test]
    fn sub_byte_dtypes_count_bits() {
        let f = open_bytes(&file_bytes(r#"{"q":{"dtype":"F4","shape":[3,2],"data_offsets":[0,3]}}"#, &[0; 3])).unwrap();
        assert_eq!(f.tensor("q").unwrap().nbytes, 3);
        let e = open_err(r#"{"q":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, &[0; 2]);
        assert!(e.contains("tensor 'q'") && e.contains("not a whole number of bytes"), "{e}");
    }

    #[test]
    fn short_and_lying_lengths_are_errors() {
        for n in [0, 1, 7] {
            let e = open_bytes(&vec![0u8; n]).unwrap_err().to_string();
            assert!(e.contains("too short"), "{e}");
        }
        let mut b = file_bytes(GOOD, &good_data());
        let len = b.len() as u64;
        b[..8].copy_from_slice(&len.to_le_bytes());
        let e = open_bytes(&b).unwrap_err().to_string();
        assert!(e.contains("runs past the end of the file"), "{e}");
        b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = open_bytes(&b).unwrap_err().to_string();
        assert!(e.contains("over the 100000000-byte limit"), "{e}");
        assert!(e.contains("model.safetensors"), "errors name the file: {e}");
    }

    #[test]
    fn malformed_headers_are_errors() {
        let mut b = file_bytes("{\"a\":1}", &[]);
        b[9] = 0xFF;
        assert!(open_bytes(&b).unwrap_err().to_string().contains("not UTF-8"));
        assert!(open_err("{\"a\":", &[]).contains("not valid JSON"));
        assert!(open_err("[1, 2]", &[]).contains("header is an array, not a JSON object"));
        assert!(open_err(r#"{"w": 5}"#, &[]).contains("tensor 'w': entry is a number"));
        assert!(open_err(r#"{"__metadata__":{"k":1}}"#, &[]).contains("value of 'k' is a number"));
    }

    #[test]
    fn bad_tensor_entries_are_errors_naming_the_tensor() {
        let d = [0u8; 64];
        let cases = [
            (r#"{"w":{"shape":[2],"data_offsets":[0,8]}}"#, "missing \"dtype\""),
            (r#"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#, "missing \"shape\""),
            (r#"{"w":{"dtype":"F32","shape":[2]}}"#, "missing \"data_offsets\""),
            (r#"{"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}}"#, "unknown dtype \"F7\""),
            (r#"{"w":{"dtype":5,"shape":[2],"data_offsets":[0,8]}}"#, "\"dtype\" is a number"),
            (r#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, "is not a list of non-negative integers"),
            (r#"{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, "is not a list of non-negative integers"),
            (r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}"#, "is not a pair"),
            (r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, "are not in order"),
            (r#"{"w":{"dtype":"F32","shape":[20],"data_offsets":[0,80]}}"#, "run past the end of the data (64 bytes)"),
            // the header that lies: 3 x 4 bytes claimed over 8 bytes
            (r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, "needs 12 bytes but data_offsets [0, 8] hold 8"),
            (
                r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#,
                "not a whole number of bytes",
            ),
        ];
        for (h, want) in cases {
            let e = open_err(h, &d);
            assert!(e.contains("tensor 'w'") && e.contains(want), "header {h}: got \"{e}\", want \"{want}\"");
        }
    }

    #[test]
    fn overlapping_tensors_are_errors() {
        let h = r#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},
                    "y":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#;
        let e = open_err(h, &[0; 32]);
        assert!(e.contains("'x'") && e.contains("'y'") && e.contains("overlap"), "{e}");
        // a tensor inside a larger one, found even with a small tensor between them in offset order
        let h = r#"{"big":{"dtype":"U8","shape":[32],"data_offsets":[0,32]},
                    "a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},
                    "b":{"dtype":"U8","shape":[4],"data_offsets":[20,24]}}"#;
        assert!(open_err(h, &[0; 32]).contains("overlap"));
        // touching tensors and empty tensors inside others are fine
        let h = r#"{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},
                    "y":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},
                    "z":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}"#;
        assert!(open_bytes(&file_bytes(h, &[0; 8])).is_ok());
    }

    #[test]
    fn random_corruption_never_panics() {
        let good = file_bytes(GOOD, &good_data());
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..500 {
            let mut b = good.clone();
            for _ in 0..2 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            if seed % 5 == 0 {
                b.truncate((seed >> 40) as usize % b.len());
            }
            let _ = open_bytes(&b);
        }
    }

    fn write_index(dir: &Path, weight_map: &str) {
        std::fs::write(dir.join(INDEX_FILE), format!(r#"{{"metadata":{{"total_size":8}},"weight_map":{weight_map}}}"#))
            .unwrap();
    }

    #[test]
    fn index_lists_distinct_shards_in_order() {
        let d = temp_dir();
        for s in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
            std::fs::write(d.join(s), file_bytes("{}", &[])).unwrap();
        }
        write_index(
            &d,
            r#"{"z.weight":"model-00001-of-00002.safetensors","a.weight":"model-00002-of-00002.safetensors",
                "b.weight":"model-00001-of-00002.safetensors"}"#,
        );
        let shards = open_index(&d).unwrap();
        let names: Vec<_> = shards.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
        assert!(shards.iter().all(|p| p.starts_with(&d)));
        for p in &shards {
            SafeTensors::open(p).unwrap();
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn bad_indexes_are_errors() {
        let d = temp_dir();
        assert!(open_index(&d).unwrap_err().to_string().contains("cannot read"));
        std::fs::write(d.join("a.safetensors"), file_bytes("{}", &[])).unwrap();
        let cases = [
            (r#"{"w":"b.safetensors"}"#, "shard \"b.safetensors\" (holding tensor 'w') is missing"),
            (r#"{"w":"../a.safetensors"}"#, "tensor 'w': shard \"../a.safetensors\" is not a plain file name"),
            (r#"{"w":"sub/a.safetensors"}"#, "is not a plain file name"),
            (r#"{"w":"sub\\a.safetensors"}"#, "is not a plain file name"),
            (r#"{"w":".."}"#, "is not a plain file name"),
            (r#"{"w":""}"#, "is not a plain file name"),
            (r#"{"w":3}"#, "tensor 'w': shard is a number"),
            (r#"{}"#, "\"weight_map\" is empty"),
            (r#"[]"#, "\"weight_map\" is an array"),
        ];
        for (m, want) in cases {
            write_index(&d, m);
            let e = open_index(&d).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains(INDEX_FILE), "weight_map {m}: got \"{e}\", want \"{want}\"");
        }
        std::fs::write(d.join(INDEX_FILE), "{\"metadata\":{}}").unwrap();
        assert!(open_index(&d).unwrap_err().to_string().contains("no \"weight_map\""));
        std::fs::write(d.join(INDEX_FILE), "{").unwrap();
        assert!(open_index(&d).unwrap_err().to_string().contains("not valid JSON"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
