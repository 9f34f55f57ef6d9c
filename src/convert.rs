//! `convert`: write a checkpoint as one GGUF file that both lanner and llama.cpp load.
//!
//! The source is a Hugging Face folder (translated by `formats::hf`, quantized on the way when
//! asked) or a GGUF file (re-written as it is). On the way:
//!
//! - `lanner.*` metadata (lanner-internal) is dropped; F16/BF16 vectors (norms, biases) become F32.
//! - Llama folders keep Q/K rows in Hugging Face order (`lanner.rope.neox`, RoPE pairs (i, i + d/2)).
//!   Their rows are permuted into llama.cpp's order, head by head, so that those pairs become
//!   adjacent, (2i, 2i + 1): new row 2i + j = old row j * d/2 + i (llama.cpp's
//!   `LlamaModel.permute`; K with the KV head count). Rows are independent, so this works for every
//!   block type. Without the key, lanner's GGUF loader pairs adjacent values: the same logits.
//! - Llama 3.1 RoPE scaling becomes llama.cpp's `rope_freqs.weight` tensor (per-frequency
//!   divisors) and its `rope.scaling.*` keys go. Other scaling keys (linear, YaRN) are llama.cpp's.
//! - The tokenizer: a byte-level BPE `tokenizer.json` becomes `tokenizer.ggml.*` (`gpt2` model),
//!   its pre-tokenizer named by comparing its split rule with the rules llama.cpp names; the
//!   whole `tokenizer.json` is kept under `tokenizer.huggingface.json` (llama.cpp ignores it).
//!
//! The file is written by [`GgufWriter`]: to a temporary name, renamed into place once complete.

use crate::backend::RopeScaling;
use crate::error::{Error, Result};
use crate::formats::gguf::{Checkpoint, GgufFile, TensorInfo, Value};
use crate::formats::gguf_write::GgufWriter;
use crate::formats::hf::{self, HfExtras};
use crate::quant::{self, GgmlType};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a conversion wrote.
#[derive(Clone, Debug)]
pub struct ConvertReport {
    pub path: PathBuf,
    pub architecture: String,
    pub tensors: usize,
    pub bytes: u64,
    pub seconds: f64,
    /// `tokenizer.ggml.pre` written from a `tokenizer.json` (None for a GGUF source).
    pub pre_tokenizer: Option<String>,
    /// `general.file_type` (llama.cpp's `llama_ftype`), when known.
    pub file_type: Option<u32>,
}

// `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`)
const TOKEN_NORMAL: i32 = 1;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;
const TOKEN_UNUSED: i32 = 5;

/// Pre-tokenizer split rules as tokenizer.json files write them, and the `tokenizer.ggml.pre`
/// name that both lanner and llama.cpp give the same rule.
const KNOWN_SPLITS: &[(&str, &str)] = &[
    (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", "gpt-2"),
    (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "llama-bpe",
    ),
    (
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "llama-bpe",
    ),
    (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "qwen2",
    ),
    (
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "qwen2",
    ),
    // Qwen3.5: letters with their combining marks (\p{M})
    (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "qwen35",
    ),
];

/// Convert `src` (a Hugging Face folder or a GGUF file) into the GGUF file `dst`; `quantize`
/// ("q8_0", "q4_k", "f16", ...) quantizes a folder's weight matrices on the way.
pub fn convert(src: &Path, dst: &Path, quantize: Option<&str>) -> Result<ConvertReport> {
    convert_with(src, dst, quantize, &|| false)
}

/// [`convert`], polling `interrupted` between tensors (then nothing is left at `dst`).
pub fn convert_with(src: &Path, dst: &Path, quantize: Option<&str>, interrupted: &dyn Fn() -> bool) -> Result<ConvertReport> {
    let t0 = Instant::now();
    let quant = quantize.map(hf::parse_quant_type).transpose()?;
    check_paths(src, dst)?;
    let (ck, extras) = if src.is_dir() {
        let (ck, x) = hf::open(src, quant)?;
        (ck, Some(x))
    } else {
        if quant.is_some() {
            return Err(Error::arg(
                "quantize= applies to Hugging Face folders; a GGUF source is re-written as it is (re-quantizing is not supported)",
            ));
        }
        (GgufFile::open(src)?, None)
    };
    let arch = ck.architecture()?.to_string();
    let key = |k: &str| format!("{arch}.{k}");
    let llama3 = ck.get_str(&key("rope.scaling.type"))? == Some("llama3");

    let mut w = GgufWriter::new();
    w.add_meta("general.architecture", Value::String(arch.clone()))?;
    for (k, v) in &ck.metadata {
        let llama3_key = llama3 && k.starts_with(&key("rope.scaling."));
        if !k.starts_with("lanner.") && !llama3_key {
            w.add_meta(k.clone(), v.clone())?;
        }
    }
    let mut file_type = ck.get_u64("general.file_type")?.map(|v| v as u32);
    if file_type.is_none() {
        let ty = quant.or_else(|| main_weight_type(&ck.tensors));
        file_type = ty.and_then(llama_ftype);
        if let Some(ft) = file_type {
            w.add_meta("general.file_type", Value::U32(ft))?;
            if !matches!(ty, Some(GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)) {
                w.add_meta("general.quantization_version", Value::U32(2))?;
            }
        }
    }
    let mut pre_tokenizer = None;
    if let Some(x) = &extras {
        let n_vocab = ck
            .tensor("token_embd.weight")
            .and_then(|t| t.dims.get(1).copied())
            .ok_or_else(|| Error::model(&ck.path, "has no 2-D 'token_embd.weight'"))? as usize;
        let (kv, pre) = tokenizer_metadata(&ck, x, n_vocab)?;
        for (k, v) in kv {
            w.add_meta(k, v)?;
        }
        pre_tokenizer = Some(pre);
    }

    // Tensors, each produced when the writer reaches it (one in memory at a time).
    let permute = arch == "llama" && ck.get_bool("lanner.rope.neox")?.unwrap_or(false);
    let n_head = ck.get_u64(&key("attention.head_count"))?.unwrap_or(0) as usize;
    let n_kv_head = ck.get_u64(&key("attention.head_count_kv"))?.map_or(n_head, |v| v as usize);
    let rope_dim = ck.get_u64(&key("rope.dimension_count"))?.map(|v| v as usize);
    for t in &ck.tensors {
        let bytes = ck.tensor_bytes(t);
        let is = |suffixes: [&str; 2]| permute && suffixes.iter().any(|s| t.name.ends_with(s));
        let heads = if is([".attn_q.weight", ".attn_q.bias"]) {
            Some(n_head)
        } else if is([".attn_k.weight", ".attn_k.bias"]) {
            Some(n_kv_head)
        } else {
            None
        };
        let layout = heads.map(|h| RowLayout::of(t, h, rope_dim, &ck.path)).transpose()?;
        // vectors (norms, biases) and convolution kernels (Qwen3.5's ssm_conv1d) in F32, as
        // llama.cpp's converter writes them: its CPU element-wise ops and convolution take no
        // F16/BF16 operand
        let widen = (t.dims.len() == 1 || t.name.ends_with(".ssm_conv1d.weight")) && matches!(t.ty, GgmlType::F16 | GgmlType::BF16);
        let ty = if widen { GgmlType::F32 } else { t.ty };
        w.add_tensor_with(t.name.clone(), &t.dims, ty, move || {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            let mut out = match &layout {
                Some(l) => l.permute(bytes),
                None => bytes.to_vec(),
            };
            if widen {
                let mut v = vec![0f32; t.n_elements() as usize];
                quant::dequantize_row(t.ty, &out, &mut v);
                out = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            }
            Ok(out)
        })?;
    }
    let mut n_tensors = ck.tensors.len();
    if llama3 && ck.tensor("rope_freqs.weight").is_none() {
        let factors = llama3_rope_freqs(&ck, &arch)?;
        let bytes: Vec<u8> = factors.iter().flat_map(|f| f.to_le_bytes()).collect();
        w.add_tensor("rope_freqs.weight", &[factors.len() as u64], GgmlType::F32, bytes)?;
        n_tensors += 1;
    }
    w.write(dst)?;
    let bytes = std::fs::metadata(dst).map(|m| m.len()).unwrap_or(0);
    let seconds = t0.elapsed().as_secs_f64();
    log::info!("converted {} to {} ({n_tensors} tensors, {bytes} bytes) in {seconds:.2}s", src.display(), dst.display());
    Ok(ConvertReport { path: dst.to_path_buf(), architecture: arch, tensors: n_tensors, bytes, seconds, pre_tokenizer, file_type })
}

/// Refuse, before reading anything, what cannot work: a missing source, a destination that is a
/// folder, in a missing folder, or the source file itself.
fn check_paths(src: &Path, dst: &Path) -> Result<()> {
    if !src.exists() {
        return Err(Error::model(src.display(), "does not exist"));
    }
    if dst.is_dir() {
        return Err(Error::arg(format!("dst '{}' is a directory; give the path of the GGUF file to write", dst.display())));
    }
    let parent = dst.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::arg(format!("dst '{}': the directory '{}' does not exist", dst.display(), parent.display())));
    }
    if dst.exists() {
        if let (Ok(a), Ok(b)) = (src.canonicalize(), dst.canonicalize()) {
            if a == b {
                return Err(Error::arg(format!("dst '{}' is the source file; write to another path", dst.display())));
            }
        }
    }
    Ok(())
}

/// The type of most weight matrices (what `general.file_type` describes).
fn main_weight_type(tensors: &[TensorInfo]) -> Option<GgmlType> {
    let mut counts: Vec<(GgmlType, usize)> = Vec::new();
    for t in tensors.iter().filter(|t| t.dims.len() == 2 && t.dims[1] > 1 && !t.name.contains("norm")) {
        match counts.iter_mut().find(|(ty, _)| *ty == t.ty) {
            Some(c) => c.1 += 1,
            None => counts.push((t.ty, 1)),
        }
    }
    counts.into_iter().max_by_key(|&(_, n)| n).map(|(ty, _)| ty)
}

/// llama.cpp's `llama_ftype` for files whose matrices are all of one type (k-quants: the `_S`
/// variants, which use the type throughout).
fn llama_ftype(ty: GgmlType) -> Option<u32> {
    Some(match ty {
        GgmlType::F32 => 0,
        GgmlType::F16 => 1,
        GgmlType::Q4_0 => 2,
        GgmlType::Q4_1 => 3,
        GgmlType::Q8_0 => 7,
        GgmlType::Q5_0 => 8,
        GgmlType::Q5_1 => 9,
        GgmlType::Q2_K => 10,
        GgmlType::Q3_K => 11,
        GgmlType::Q4_K => 14,
        GgmlType::Q5_K => 16,
        GgmlType::Q6_K => 18,
        GgmlType::BF16 => 32,
        GgmlType::Q8_1 | GgmlType::Q8_K => return None,
    })
}

/// How a Q or K tensor's rows fall into heads, for the RoPE pair permutation.
struct RowLayout {
    row_bytes: usize,
    heads: usize,
    head_rows: usize,
    /// Rotated rows at the start of each head (the rest are left in place).
    rot: usize,
}

impl RowLayout {
    fn of(t: &TensorInfo, heads: usize, rope_dim: Option<usize>, path: &str) -> Result<RowLayout> {
        // a matrix has dims [cols, rows]; a bias [rows], one value per row
        let rows = if t.dims.len() == 1 { t.dims[0] as usize } else { (t.n_elements() / t.dims[0]) as usize };
        let bad = |why: String| Error::model(path, format!("tensor '{}': cannot permute Q/K rows for llama.cpp: {why}", t.name));
        if heads == 0 || rows % heads != 0 {
            return Err(bad(format!("{rows} rows are not a whole number of {heads} heads")));
        }
        if t.nbytes as usize % rows != 0 {
            return Err(bad(format!("{} bytes are not {rows} whole rows of {}", t.nbytes, t.ty.name())));
        }
        let head_rows = rows / heads;
        let rot = rope_dim.unwrap_or(head_rows).min(head_rows);
        if rot % 2 != 0 {
            return Err(bad(format!("odd RoPE dimension {rot}")));
        }
        Ok(RowLayout { row_bytes: t.nbytes as usize / rows, heads, head_rows, rot })
    }

    /// Within each head, rotated row 2i + j comes from row j * rot/2 + i.
    fn permute(&self, src: &[u8]) -> Vec<u8> {
        let mut out = src.to_vec();
        let rb = self.row_bytes;
        for h in 0..self.heads {
            let base = h * self.head_rows;
            for r in 0..self.rot {
                let from = base + (r % 2) * (self.rot / 2) + r / 2;
                let to = base + r;
                out[to * rb..(to + 1) * rb].copy_from_slice(&src[from * rb..(from + 1) * rb]);
            }
        }
        out
    }
}

/// Llama 3.1's per-frequency divisors from the `rope.scaling.*` keys.
fn llama3_rope_freqs(ck: &Checkpoint, arch: &str) -> Result<Vec<f32>> {
    let key = |k: &str| format!("{arch}.{k}");
    let f = |k: &str, default: f64| -> Result<f32> { Ok(ck.get_f64(&key(k))?.unwrap_or(default) as f32) };
    let n_embd = ck.get_u64(&key("embedding_length"))?.unwrap_or(0) as usize;
    let n_head = ck.get_u64(&key("attention.head_count"))?.unwrap_or(1).max(1) as usize;
    let head_dim = ck.get_u64(&key("attention.key_length"))?.map_or(n_embd / n_head, |v| v as usize);
    let dim = ck.get_u64(&key("rope.dimension_count"))?.map_or(head_dim, |v| v as usize);
    let original = ck
        .get_u64(&key("rope.scaling.original_context_length"))?
        .ok_or_else(|| Error::model(&ck.path, "llama3 RoPE scaling without an original context length"))?;
    Ok(RopeScaling::llama3_freq_factors(
        dim,
        f("rope.freq_base", 10000.0)?,
        f("rope.scaling.factor", 8.0)?,
        f("rope.scaling.low_freq_factor", 1.0)?,
        f("rope.scaling.high_freq_factor", 4.0)?,
        original as usize,
    ))
}

/// The `tokenizer.ggml.*` keys for a folder's tokenizer.json (byte-level BPE only), and the
/// pre-tokenizer name chosen. `n_vocab` is the embedding's row count: the vocabulary is padded
/// to it with unused `[PAD{id}]` tokens, as llama.cpp's converter does.
fn tokenizer_metadata(ck: &Checkpoint, x: &HfExtras, n_vocab: usize) -> Result<(Vec<(String, Value)>, String)> {
    let path = x.tokenizer_json.display().to_string();
    let bad = |msg: String| Error::model(&path, msg);
    let text = std::fs::read_to_string(&x.tokenizer_json).map_err(|e| bad(format!("cannot read: {e}")))?;
    let j: Json = serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let model = j.get("model").ok_or_else(|| bad("has no 'model'".into()))?;
    let kind = model.get("type").and_then(Json::as_str).unwrap_or("?");
    if kind != "BPE" {
        return Err(bad(format!("convert supports byte-level BPE tokenizers only for now; this one is '{kind}'")));
    }
    let pre_json = j.get("pre_tokenizer").unwrap_or(&Json::Null);
    if !has_byte_level(pre_json) {
        return Err(bad(
            "convert supports byte-level BPE tokenizers only for now; this BPE has no ByteLevel pre-tokenizer \
             (SentencePiece-style, as Llama 2 or Gemma)"
                .into(),
        ));
    }

    // Tokens by id: the BPE vocabulary, then added tokens (which win), gaps padded.
    let vocab = model.get("vocab").and_then(Json::as_object).ok_or_else(|| bad("model has no 'vocab' object".into()))?;
    let mut by_id: HashMap<usize, (String, i32)> = HashMap::with_capacity(vocab.len());
    for (tok, id) in vocab {
        let id = id.as_u64().ok_or_else(|| bad(format!("vocab id of {tok:?} is not an integer")))? as usize;
        by_id.insert(id, (tok.clone(), TOKEN_NORMAL));
    }
    for a in j.get("added_tokens").and_then(Json::as_array).map_or(&[][..], Vec::as_slice) {
        let (Some(id), Some(content)) = (a.get("id").and_then(Json::as_u64), a.get("content").and_then(Json::as_str)) else {
            return Err(bad(format!("added token {a} has no id or content")));
        };
        let special = a.get("special").and_then(Json::as_bool).unwrap_or(false);
        by_id.insert(id as usize, (content.to_string(), if special { TOKEN_CONTROL } else { TOKEN_USER_DEFINED }));
    }
    let max_id = by_id.keys().copied().max().unwrap_or(0);
    if max_id >= n_vocab {
        return Err(bad(format!("token id {max_id} is outside the embedding's {n_vocab} rows")));
    }
    let mut tokens = Vec::with_capacity(n_vocab);
    let mut types = Vec::with_capacity(n_vocab);
    for id in 0..n_vocab {
        let (t, ty) = by_id.remove(&id).unwrap_or_else(|| (format!("[PAD{id}]"), TOKEN_UNUSED));
        tokens.push(Value::String(t));
        types.push(Value::I32(ty));
    }
    let ids: HashMap<&str, u32> = tokens.iter().enumerate().filter_map(|(i, t)| Some((t.as_str()?, i as u32))).collect();

    let mut merges = Vec::new();
    for (i, m) in model.get("merges").and_then(Json::as_array).map_or(&[][..], Vec::as_slice).iter().enumerate() {
        let merge = match m {
            Json::String(s) => s.clone(),
            Json::Array(p) if p.len() == 2 && p.iter().all(|x| x.as_str().is_some_and(|s| !s.contains(' '))) => {
                format!("{} {}", p[0].as_str().unwrap(), p[1].as_str().unwrap())
            }
            _ => return Err(bad(format!("merge {i} ({m}) is not two tokens without spaces"))),
        };
        merges.push(Value::String(merge));
    }

    let pre = pre_tokenizer_name(pre_json);
    if pre.is_none() {
        log::warn!(
            "{path}: pre-tokenizer {} is not one lanner and llama.cpp both know; writing 'default' (tokenization may differ)",
            pre_json
        );
    }
    let pre = pre.unwrap_or("default").to_string();

    // Special ids as the engine finds them for the folder (engine.rs `hf_tokenizer`).
    let tc = x.tokenizer_config.as_ref();
    let config: Option<Json> =
        std::fs::read_to_string(Path::new(&ck.path).join("config.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    let named = |k: &str| -> Option<u32> {
        let v = tc?.get(k)?;
        ids.get(v.as_str().or_else(|| v.get("content").and_then(Json::as_str))?).copied()
    };
    let numbered = |j: Option<&Json>, k: &str| -> Option<u32> {
        let v = j?.get(k)?;
        v.as_u64().or_else(|| v.as_array()?.first()?.as_u64()).map(|v| v as u32).filter(|&v| (v as usize) < n_vocab)
    };
    let bos = named("bos_token").or(numbered(config.as_ref(), "bos_token_id"));
    let eos = named("eos_token").or(numbered(config.as_ref(), "eos_token_id"));
    let pad = named("pad_token")
        .or(numbered(x.generation_config.as_ref(), "pad_token_id"))
        .or(numbered(config.as_ref(), "pad_token_id"));
    let unk = model.get("unk_token").and_then(Json::as_str).and_then(|t| ids.get(t).copied());
    let add_bos = match tc.and_then(|t| t.get("add_bos_token")).and_then(Json::as_bool) {
        Some(b) => b,
        None => match bos {
            // whether the post-processor puts BOS in front
            Some(b) => tokenizers::Tokenizer::from_file(&x.tokenizer_json)
                .ok()
                .and_then(|t| t.encode("a", true).ok())
                .is_some_and(|e| e.get_ids().first() == Some(&b)),
            None => false,
        },
    };
    let add_eos = tc.and_then(|t| t.get("add_eos_token")).and_then(Json::as_bool);

    let mut kv: Vec<(String, Value)> = vec![
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String(pre.clone())),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.merges".into(), Value::Array(merges)),
    ];
    for (k, id) in [("bos_token_id", bos), ("eos_token_id", eos), ("padding_token_id", pad), ("unknown_token_id", unk)] {
        if let Some(id) = id {
            kv.push((format!("tokenizer.ggml.{k}"), Value::U32(id)));
        }
    }
    kv.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(add_bos)));
    if let Some(b) = add_eos {
        kv.push(("tokenizer.ggml.add_eos_token".into(), Value::Bool(b)));
    }
    kv.push(("tokenizer.huggingface.json".into(), Value::String(text)));
    Ok((kv, pre))
}

fn has_byte_level(pre: &Json) -> bool {
    match pre.get("type").and_then(Json::as_str) {
        Some("ByteLevel") => true,
        Some("Sequence") => pre.get("pretokenizers").and_then(Json::as_array).is_some_and(|v| v.iter().any(has_byte_level)),
        _ => false,
    }
}

/// The `tokenizer.ggml.pre` name of a tokenizer.json pre-tokenizer, when lanner and llama.cpp
/// both know its rule: ByteLevel's own regex (GPT-2), one isolating Split regex before a
/// regex-less ByteLevel, or single digits before ByteLevel (SmolLM).
fn pre_tokenizer_name(pre: &Json) -> Option<&'static str> {
    let ty = |j: &Json| j.get("type").and_then(Json::as_str).map(str::to_string);
    let flag = |j: &Json, k: &str| j.get(k).and_then(Json::as_bool);
    let byte_level = |j: &Json, regex: bool| {
        ty(j).as_deref() == Some("ByteLevel") && flag(j, "use_regex") == Some(regex) && flag(j, "add_prefix_space") != Some(true)
    };
    if byte_level(pre, true) {
        return Some("gpt-2");
    }
    let parts = pre.get("pretokenizers").and_then(Json::as_array)?;
    match parts.as_slice() {
        [split, bl] if ty(split).as_deref() == Some("Split") && byte_level(bl, false) => {
            let isolated = split.get("behavior").and_then(Json::as_str) == Some("Isolated") && flag(split, "invert") != Some(true);
            let regex = split.get("pattern")?.get("Regex")?.as_str()?;
            KNOWN_SPLITS.iter().find(|(r, _)| isolated && *r == regex).map(|&(_, name)| name)
        }
        [digits, bl] if ty(digits).as_deref() == Some("Digits") && flag(digits, "individual_digits") == Some(true) && byte_level(bl, true) => {
            Some("smollm")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_pairs_halves_head_by_head() {
        // 2 heads of 4 rows, one byte per row: rows (0,2),(1,3) become adjacent pairs
        let t = TensorInfo { name: "blk.0.attn_q.weight".into(), dims: vec![1, 8], ty: GgmlType::Q8_0, offset: 0, nbytes: 8, blob: 0 };
        let l = RowLayout { row_bytes: 1, heads: 2, head_rows: 4, rot: 4 };
        assert_eq!(l.permute(&[0, 1, 2, 3, 4, 5, 6, 7]), vec![0, 2, 1, 3, 4, 6, 5, 7]);
        // partial rotation: only the first `rot` rows of each head move
        let l = RowLayout { row_bytes: 1, heads: 1, head_rows: 6, rot: 4 };
        assert_eq!(l.permute(&[0, 1, 2, 3, 4, 5]), vec![0, 2, 1, 3, 4, 5]);
        assert!(RowLayout::of(&t, 3, None, "x").is_err());
    }

    #[test]
    fn pre_tokenizer_names() {
        let j = |s: &str| serde_json::from_str::<Json>(s).unwrap();
        assert_eq!(pre_tokenizer_name(&j(r#"{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}"#)), Some("gpt-2"));
        let split = |re: &str| {
            let re = serde_json::to_string(re).unwrap();
            j(&format!(
                r#"{{"type":"Sequence","pretokenizers":[{{"type":"Split","pattern":{{"Regex":{re}}},"behavior":"Isolated","invert":false}},
                   {{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}}]}}"#
            ))
        };
        assert_eq!(pre_tokenizer_name(&split(KNOWN_SPLITS[1].0)), Some("llama-bpe"));
        assert_eq!(pre_tokenizer_name(&split(KNOWN_SPLITS[3].0)), Some("qwen2"));
        assert_eq!(pre_tokenizer_name(&split(KNOWN_SPLITS[5].0)), Some("qwen35"));
        assert_eq!(pre_tokenizer_name(&split(r"\w+")), None);
        let smollm = j(r#"{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},
                         {"type":"ByteLevel","add_prefix_space":false,"use_regex":true}]}"#);
        assert_eq!(pre_tokenizer_name(&smollm), Some("smollm"));
        assert!(has_byte_level(&smollm));
        assert!(!has_byte_level(&j(r#"{"type":"Metaspace"}"#)));
    }
}
