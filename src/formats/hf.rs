//! Hugging Face checkpoint folders, translated into a [`Checkpoint`]: GGUF tensor names and
//! `<arch>.*` metadata, so that the models load a folder exactly as they load a GGUF file.
//!
//! - `config.json` gives the architecture and hyper-parameters (a multimodal wrapper's
//!   `text_config` is used with its `model.language_model.*` weights).
//! - `model.safetensors`, or the shards `model.safetensors.index.json` names: F32, F16 and BF16
//!   tensors stay in the file maps and are used in place. A few tensors are rewritten at load as
//!   llama.cpp's converter rewrites them (Gemma's and Qwen3.5's `(1 + w)` norms become plain
//!   multipliers; Qwen3.5's linear-attention tensors: [`Qwen35Heads`]), so that a folder and
//!   llama.cpp's GGUF file of it load through the same code.
//! - `quantize` converts every weight matrix with lanner's own quantizers, in parallel.
//! - Llama-style Q/K rows are kept in Hugging Face order (`lanner.rope.neox`); `convert` permutes
//!   them into llama.cpp's order when it writes a GGUF file.

use super::gguf::{Blob, Checkpoint, TensorInfo, Value};
use super::safetensors::{self, SafeTensors};
use crate::error::{Error, Result};
use crate::quant::{self, GgmlType};
use rayon::prelude::*;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// What a folder holds besides the weights.
pub struct HfExtras {
    pub tokenizer_json: PathBuf,
    /// tokenizer_config.json, when present.
    pub tokenizer_config: Option<Json>,
    /// generation_config.json, when present.
    pub generation_config: Option<Json>,
    pub chat_template: Option<String>,
    /// Seconds spent quantizing at load (0 when not asked).
    pub quantize_seconds: f64,
}

pub const SUPPORTED_MODEL_TYPES: &[&str] =
    &["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma3_text", "gemma3", "qwen3_5_text", "qwen3_5"];

fn read_json(path: &Path, what: &str, dir: &str) -> Result<Option<Json>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::model(dir, format!("cannot read {what}: {e}")))?;
    serde_json::from_str(&text).map(Some).map_err(|e| Error::model(dir, format!("{what} is not valid JSON: {e}")))
}

/// Typed access to config.json, with errors that name the key.
struct Config<'a> {
    j: &'a Json,
    dir: &'a str,
}

impl Config<'_> {
    fn get(&self, k: &str) -> Option<&Json> {
        self.j.get(k).filter(|v| !v.is_null())
    }

    fn usize(&self, k: &str) -> Result<Option<usize>> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|v| Some(v as usize))
                .ok_or_else(|| Error::model(self.dir, format!("config.json: '{k}' must be a non-negative integer, not {v}"))),
        }
    }

    fn req(&self, k: &str) -> Result<usize> {
        match self.usize(k)? {
            Some(v) if v > 0 => Ok(v),
            Some(_) => Err(Error::model(self.dir, format!("config.json: '{k}' must be positive"))),
            None => Err(Error::model(self.dir, format!("config.json has no '{k}'"))),
        }
    }

    fn f64(&self, k: &str) -> Result<Option<f64>> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| Error::model(self.dir, format!("config.json: '{k}' must be a number, not {v}"))),
        }
    }

    fn bool(&self, k: &str) -> Option<bool> {
        self.get(k).and_then(Json::as_bool)
    }
}

/// Translate the folder. Returns the checkpoint and what else the engine needs from the folder.
pub fn open(dir: &Path, quantize: Option<GgmlType>) -> Result<(Checkpoint, HfExtras)> {
    open_with(dir, quantize, false)
}

/// `open`, or with `random` the folder's config.json and tokenizer with generated weights
/// (BF16 matrices uniform in +-0.0346, i.e. standard deviation 0.02; norm weights 1; biases
/// small): real shapes for benchmarks without the weight files. Llama family only.
pub fn open_with(dir: &Path, quantize: Option<GgmlType>, random: bool) -> Result<(Checkpoint, HfExtras)> {
    let d = dir.display().to_string();
    let config_path = dir.join("config.json");
    let mut config = read_json(&config_path, "config.json", &d)?
        .ok_or_else(|| Error::model(&d, "is a folder without config.json (a Hugging Face checkpoint folder needs one)"))?;
    if !config.is_object() {
        return Err(Error::model(&d, "config.json is not a JSON object"));
    }
    let mut prefix = "model.";
    if let Some(text) = config.get("text_config").filter(|v| v.is_object()).cloned() {
        config = text;
        prefix = "model.language_model.";
    }
    let c = Config { j: &config, dir: &d };
    let model_type = c.get("model_type").and_then(Json::as_str).unwrap_or("").to_string();
    let arch = match model_type.as_str() {
        "llama" | "mistral" => "llama",
        "qwen2" => "qwen2",
        "qwen3" => "qwen3",
        "phi3" => "phi3",
        "gemma3_text" | "gemma3" => "gemma3",
        "qwen3_5_text" | "qwen3_5" => "qwen35",
        "" => return Err(Error::model(&d, "config.json has no 'model_type'")),
        other => {
            return Err(Error::model(
                &d,
                format!("unsupported model_type '{other}' (supported: {})", SUPPORTED_MODEL_TYPES.join(", ")),
            ))
        }
    };
    let mut meta = Meta { arch, kv: Vec::new() };
    meta.kv.push(("general.architecture".into(), Value::String(arch.into())));
    meta.kv.push(("general.name".into(), Value::String(dir.file_name().map_or(String::new(), |n| n.to_string_lossy().into()))));
    hyper_parameters(&c, &model_type, &mut meta)?;

    // Weights: one blob per safetensors file, used in place.
    let files = if random {
        Vec::new()
    } else if dir.join(safetensors::INDEX_FILE).is_file() {
        safetensors::open_index(dir)?
    } else if dir.join("model.safetensors").is_file() {
        vec![dir.join("model.safetensors")]
    } else {
        return Err(Error::model(&d, "has no model.safetensors (nor model.safetensors.index.json with shards)"));
    };
    let gemma_norms = arch == "gemma3" || arch == "qwen35";
    let qwen35 = if arch == "qwen35" { Some(Qwen35Heads::of(&c)?) } else { None };
    let mut blobs: Vec<Blob> = Vec::new();
    let mut tensors: Vec<TensorInfo> = Vec::new();
    for f in &files {
        let st = SafeTensors::open(f)?;
        blobs.push(Blob::mapped(st.map.clone()));
        let blob = blobs.len() - 1;
        for t in &st.tensors {
            let Some(name) = gguf_name(&t.name, prefix, arch) else { continue };
            let ty = t.dtype.ggml_type().ok_or_else(|| {
                Error::model(&st.path, format!("tensor '{}' has dtype {} (supported: F32, F16, BF16)", t.name, t.dtype.name()))
            })?;
            let mut dims: Vec<u64> = t.shape.iter().rev().copied().collect();
            if dims.is_empty() {
                dims.push(1);
            }
            if name.ends_with("ssm_conv1d.weight") {
                // [channels, 1, kernel] -> dims [kernel, channels]
                dims.retain(|&x| x != 1);
            }
            if let Some((bytes, ty)) = qwen35.as_ref().and_then(|q| q.rewrite(&name, ty, st.bytes(t), &dims)) {
                let nbytes = bytes.len() as u64;
                blobs.push(Blob::owned(bytes));
                tensors.push(TensorInfo { name, dims, ty, offset: 0, nbytes, blob: blobs.len() - 1 });
                continue;
            }
            if gemma_norms && (name.ends_with("norm.weight")) && !name.ends_with("ssm_norm.weight") {
                // (1 + w) folded into a plain multiplier
                let mut v = vec![0f32; t.n_elements() as usize];
                quant::dequantize_row(ty, st.bytes(t), &mut v);
                let bytes: Vec<u8> = v.iter().flat_map(|x| (x + 1.0).to_le_bytes()).collect();
                let nbytes = bytes.len() as u64;
                blobs.push(Blob::owned(bytes));
                tensors.push(TensorInfo { name, dims, ty: GgmlType::F32, offset: 0, nbytes, blob: blobs.len() - 1 });
                continue;
            }
            tensors.push(TensorInfo { name, dims, ty, offset: t.offset, nbytes: t.nbytes, blob });
        }
    }
    if random {
        random_weights(&c, arch, &mut tensors, &mut blobs)?;
    }
    let tied = c.bool("tie_word_embeddings").unwrap_or(arch == "gemma3" || arch == "qwen35");
    if tied {
        tensors.retain(|t| t.name != "output.weight");
    }
    let mut quantize_seconds = 0.0;
    if let Some(ty) = quantize {
        let t0 = std::time::Instant::now();
        quantize_weights(&mut tensors, &mut blobs, ty, &d)?;
        quantize_seconds = t0.elapsed().as_secs_f64();
    }
    meta.kv.push(("lanner.source".into(), Value::String("huggingface".into())));

    let tokenizer_config = read_json(&dir.join("tokenizer_config.json"), "tokenizer_config.json", &d)?;
    let generation_config = read_json(&dir.join("generation_config.json"), "generation_config.json", &d)?;
    let chat_template = chat_template(dir, tokenizer_config.as_ref(), &d)?;
    if let Some(t) = &chat_template {
        meta.kv.push(("tokenizer.chat_template".into(), Value::String(t.clone())));
    }
    let tokenizer_json = dir.join("tokenizer.json");
    if !tokenizer_json.is_file() {
        return Err(Error::model(&d, "has no tokenizer.json"));
    }
    let ck = Checkpoint::assemble(d, meta.kv, tensors, blobs)?;
    Ok((ck, HfExtras { tokenizer_json, tokenizer_config, generation_config, chat_template, quantize_seconds }))
}

struct Meta {
    arch: &'static str,
    kv: Vec<(String, Value)>,
}

impl Meta {
    fn set(&mut self, key: &str, v: Value) {
        self.kv.push((format!("{}.{key}", self.arch), v));
    }
    fn u32(&mut self, key: &str, v: usize) {
        self.set(key, Value::U32(v as u32));
    }
    fn f32(&mut self, key: &str, v: f64) {
        self.set(key, Value::F32(v as f32));
    }
}

fn hyper_parameters(c: &Config, model_type: &str, m: &mut Meta) -> Result<()> {
    let d = c.req("hidden_size")?;
    let n_head = c.req("num_attention_heads")?;
    let head_dim = c.usize("head_dim")?.unwrap_or(d / n_head);
    m.u32("block_count", c.req("num_hidden_layers")?);
    m.u32("embedding_length", d);
    m.u32("feed_forward_length", c.req("intermediate_size")?);
    m.u32("attention.head_count", n_head);
    m.u32("attention.head_count_kv", c.usize("num_key_value_heads")?.unwrap_or(n_head));
    m.u32("attention.key_length", head_dim);
    m.u32("attention.value_length", head_dim);
    m.u32("context_length", c.usize("max_position_embeddings")?.unwrap_or(2048));
    m.f32("attention.layer_norm_rms_epsilon", c.f64("rms_norm_eps")?.unwrap_or(1e-6));
    if m.arch == "llama" {
        m.kv.push(("lanner.rope.neox".into(), Value::Bool(true)));
    }

    // RoPE: old style (rope_theta + rope_scaling) or transformers 5 (rope_parameters), which a
    // model with several attention kinds nests per layer type.
    let params = c.get("rope_parameters").cloned().unwrap_or(Json::Null);
    let global = params.get("full_attention").cloned().unwrap_or(params.clone());
    let scaling = c.get("rope_scaling").cloned().filter(|v| v.is_object()).unwrap_or(global.clone());
    let theta = c.f64("rope_theta")?.or(global.get("rope_theta").and_then(Json::as_f64)).unwrap_or(10000.0);
    m.f32("rope.freq_base", theta);
    // Qwen3.5 rotates a quarter of each head unless told otherwise (transformers' default)
    let partial_default = if m.arch == "qwen35" { 0.25 } else { 1.0 };
    let partial =
        c.f64("partial_rotary_factor")?.or(global.get("partial_rotary_factor").and_then(Json::as_f64)).unwrap_or(partial_default);
    let rope_dim = ((head_dim as f64 * partial) as usize) & !1;
    m.u32("rope.dimension_count", rope_dim);
    let kind = scaling.get("rope_type").or(scaling.get("type")).and_then(Json::as_str).unwrap_or("default");
    let sf = |k: &str| scaling.get(k).and_then(Json::as_f64);
    match kind {
        "default" => {}
        "linear" => {
            m.set("rope.scaling.type", Value::String("linear".into()));
            m.f32("rope.scaling.factor", sf("factor").unwrap_or(1.0));
        }
        "yarn" => {
            let mut factor = sf("factor").unwrap_or(1.0);
            let ctx = c.usize("max_position_embeddings")?.unwrap_or(2048);
            let orig = match scaling.get("original_max_position_embeddings").and_then(Json::as_u64) {
                // transformers: the ratio of the two contexts is the factor when both are given
                Some(o) if o > 0 => {
                    factor = ctx as f64 / o as f64;
                    o as usize
                }
                _ => ctx,
            };
            m.set("rope.scaling.type", Value::String("yarn".into()));
            m.f32("rope.scaling.factor", factor);
            m.u32("rope.scaling.original_context_length", orig);
            m.f32("rope.scaling.yarn_beta_fast", sf("beta_fast").unwrap_or(32.0));
            m.f32("rope.scaling.yarn_beta_slow", sf("beta_slow").unwrap_or(1.0));
            if let Some(a) = sf("attention_factor") {
                m.f32("rope.scaling.attn_factor", a);
            }
        }
        "llama3" => {
            m.set("rope.scaling.type", Value::String("llama3".into()));
            m.f32("rope.scaling.factor", sf("factor").unwrap_or(8.0));
            m.f32("rope.scaling.low_freq_factor", sf("low_freq_factor").unwrap_or(1.0));
            m.f32("rope.scaling.high_freq_factor", sf("high_freq_factor").unwrap_or(4.0));
            let orig = scaling.get("original_max_position_embeddings").and_then(Json::as_u64).unwrap_or(8192);
            m.u32("rope.scaling.original_context_length", orig as usize);
        }
        other => {
            return Err(Error::model(
                c.dir,
                format!("config.json: rope scaling '{other}' is not supported (supported: default, linear, yarn, llama3)"),
            ))
        }
    }

    // Sliding windows.
    let window = c.usize("sliding_window")?.filter(|&w| w > 0);
    match model_type {
        "mistral" | "phi3" => {
            if let Some(w) = window {
                m.u32("attention.sliding_window", w);
            }
        }
        "qwen2" | "qwen3" => {
            if c.bool("use_sliding_window").unwrap_or(false) {
                return Err(Error::model(c.dir, "config.json: use_sliding_window with max_window_layers is not supported"));
            }
        }
        _ => {}
    }
    if m.arch == "gemma3" {
        let w = window.ok_or_else(|| Error::model(c.dir, "config.json has no 'sliding_window'"))?;
        m.u32("attention.sliding_window", w);
        let n_layer = c.req("num_hidden_layers")?;
        let pattern: Vec<Value> = match c.get("layer_types").and_then(Json::as_array) {
            Some(types) if types.len() == n_layer => {
                types.iter().map(|t| Value::Bool(t.as_str() == Some("sliding_attention"))).collect()
            }
            Some(_) => return Err(Error::model(c.dir, format!("config.json: 'layer_types' must list {n_layer} layers"))),
            None => {
                let p = c.usize("sliding_window_pattern")?.unwrap_or(6).max(1);
                (0..n_layer).map(|i| Value::Bool((i + 1) % p != 0)).collect()
            }
        };
        m.set("attention.sliding_window_pattern", Value::Array(pattern));
        let local = c
            .f64("rope_local_base_freq")?
            .or(params.get("sliding_attention").and_then(|p| p.get("rope_theta")).and_then(Json::as_f64))
            .unwrap_or(10000.0);
        m.f32("rope.freq_base_swa", local);
        m.f32("attention.query_pre_attn_scalar", c.f64("query_pre_attn_scalar")?.unwrap_or(head_dim as f64));
        if let Some(cap) = c.f64("final_logit_softcapping")? {
            m.f32("final_logit_softcapping", cap);
        }
        if c.f64("attn_logit_softcapping")?.is_some() {
            return Err(Error::model(c.dir, "config.json: attn_logit_softcapping (Gemma 2) is not supported"));
        }
    }
    if m.arch == "qwen35" {
        // llama.cpp's keys: which layers are recurrent (linear attention), key heads as
        // `group_count`, value heads as `time_step_rank`, the key head size as `state_size`, all
        // value heads together as `inner_size`; M-RoPE sections (text positions use them all alike).
        let n_layer = c.req("num_hidden_layers")?;
        let interval = c.usize("full_attention_interval")?.unwrap_or(4).max(1);
        let linear: Vec<Value> = match c.get("layer_types").and_then(Json::as_array) {
            Some(types) if types.len() == n_layer => {
                types.iter().map(|t| Value::Bool(t.as_str() == Some("linear_attention"))).collect()
            }
            Some(_) => return Err(Error::model(c.dir, format!("config.json: 'layer_types' must list {n_layer} layers"))),
            None => (0..n_layer).map(|i| Value::Bool((i + 1) % interval != 0)).collect(),
        };
        m.set("attention.recurrent_layers", Value::Array(linear));
        m.u32("full_attention_interval", interval);
        let h = Qwen35Heads::of(c)?;
        m.u32("ssm.conv_kernel", c.req("linear_conv_kernel_dim")?);
        m.u32("ssm.state_size", h.dk);
        m.u32("ssm.group_count", h.nk);
        m.u32("ssm.time_step_rank", h.nv);
        m.u32("ssm.inner_size", h.nv * h.dv);
        let mut sections: Vec<i32> = match global.get("mrope_section").or(scaling.get("mrope_section")).and_then(Json::as_array) {
            Some(v) => v.iter().map(|x| x.as_i64().unwrap_or(0) as i32).collect(),
            None => vec![11, 11, 10],
        };
        sections.resize(4, 0);
        m.set("rope.dimension_sections", Value::Array(sections.into_iter().map(Value::I32).collect()));
    }
    Ok(())
}

/// The GGUF name of a Hugging Face tensor (None: not used, e.g. rotary caches or vision parts).
fn gguf_name(hf: &str, prefix: &str, arch: &str) -> Option<String> {
    if hf == "lm_head.weight" {
        return Some("output.weight".into());
    }
    let rest = hf.strip_prefix(prefix)?;
    match rest {
        "embed_tokens.weight" => return Some("token_embd.weight".into()),
        "norm.weight" => return Some("output_norm.weight".into()),
        _ => {}
    }
    let rest = rest.strip_prefix("layers.")?;
    let (i, name) = rest.split_once('.')?;
    let i: usize = i.parse().ok()?;
    let gemma = arch == "gemma3";
    let g = match name {
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" if gemma || arch == "qwen35" => "post_attention_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "pre_feedforward_layernorm.weight" => "ffn_norm.weight",
        "post_feedforward_layernorm.weight" => "post_ffw_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "self_attn.q_proj.bias" => "attn_q.bias",
        "self_attn.k_proj.bias" => "attn_k.bias",
        "self_attn.v_proj.bias" => "attn_v.bias",
        "self_attn.qkv_proj.weight" => "attn_qkv.weight",
        "self_attn.q_norm.weight" => "attn_q_norm.weight",
        "self_attn.k_norm.weight" => "attn_k_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.gate_up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        // Qwen3.5 gated delta-net layers, named as llama.cpp's converter names them
        "linear_attn.in_proj_qkv.weight" => "attn_qkv.weight",
        "linear_attn.in_proj_z.weight" => "attn_gate.weight",
        "linear_attn.in_proj_b.weight" => "ssm_beta.weight",
        "linear_attn.in_proj_a.weight" => "ssm_alpha.weight",
        "linear_attn.conv1d.weight" => "ssm_conv1d.weight",
        "linear_attn.A_log" => "ssm_a", // stored as -exp(A_log) (Qwen35Heads::rewrite)
        "linear_attn.dt_bias" => "ssm_dt.bias",
        "linear_attn.norm.weight" => "ssm_norm.weight",
        "linear_attn.out_proj.weight" => "ssm_out.weight",
        _ => return None,
    };
    Some(format!("blk.{i}.{g}"))
}

/// Qwen3.5's linear-attention heads, for the tensors that llama.cpp's converter rewrites
/// (`Qwen3_5TextModel` in its `conversion/qwen.py`), so that a folder loads as llama.cpp's files do:
///
/// - `ssm_a` holds `-exp(A_log)`; `ssm_conv1d.weight` is F32 (llama.cpp's convolution takes no
///   other type);
/// - with more value heads than key heads, value heads move from Hugging Face's grouped order
///   (the `nv / nk` value heads of key head 0, then those of key head 1, ...) to llama.cpp's tiled
///   order (value head h reads key head h % nk): new head h is old head
///   `(h % nk) * (nv / nk) + h / nk`, in the V rows of `attn_qkv` and the conv channels, the rows
///   of `attn_gate`, `ssm_alpha`, `ssm_beta`, the entries of `ssm_a`, `ssm_dt.bias`, and the
///   columns of `ssm_out`. Those tensors are then copied out of the file map.
struct Qwen35Heads {
    nk: usize,
    nv: usize,
    dk: usize,
    dv: usize,
}

impl Qwen35Heads {
    fn of(c: &Config) -> Result<Qwen35Heads> {
        let h = Qwen35Heads {
            nk: c.req("linear_num_key_heads")?,
            nv: c.req("linear_num_value_heads")?,
            dk: c.req("linear_key_head_dim")?,
            dv: c.req("linear_value_head_dim")?,
        };
        if h.nv % h.nk != 0 {
            return Err(Error::model(c.dir, format!("config.json: {} value heads are not a multiple of {} key heads", h.nv, h.nk)));
        }
        Ok(h)
    }

    /// For each entry of the tiled layout (`lead` entries kept in place, then `nv` heads of `hd`
    /// entries), the entry of the grouped layout it comes from.
    fn tiled_from_grouped(&self, lead: usize, hd: usize) -> Vec<usize> {
        let per_k = self.nv / self.nk;
        let head = |h: usize| (h % self.nk) * per_k + h / self.nk;
        (0..lead).chain((0..self.nv * hd).map(|i| lead + head(i / hd) * hd + i % hd)).collect()
    }

    /// The new bytes and type of tensor `name` (type `ty`, GGUF dims `dims`), or None to use it
    /// as it is stored. Shapes that do not fit are left alone for the model's checks to report.
    fn rewrite(&self, name: &str, ty: GgmlType, bytes: &[u8], dims: &[u64]) -> Option<(Vec<u8>, GgmlType)> {
        let kind = name.split_once('.').and_then(|(_, rest)| rest.split_once('.')).map(|(_, k)| k)?;
        let (cols, rows) = match *dims {
            [n] => (1, n as usize),
            [c, r] => (c as usize, r as usize),
            _ => return None,
        };
        let qk = 2 * self.nk * self.dk;
        let (lead, hd, by_columns) = match kind {
            "ssm_a" | "ssm_dt.bias" | "ssm_alpha.weight" | "ssm_beta.weight" => (0, 1, false),
            "attn_qkv.weight" | "ssm_conv1d.weight" => (qk, self.dv, false),
            "attn_gate.weight" => (0, self.dv, false),
            "ssm_out.weight" => (0, self.dv, true),
            _ => return None,
        };
        let order = self.tiled_from_grouped(lead, hd);
        if order.len() != if by_columns { cols } else { rows } {
            return None;
        }
        let moves = self.nk != self.nv;
        let row_bytes = ty.row_bytes(cols)?;
        if bytes.len() != row_bytes * rows {
            return None;
        }
        match kind {
            "ssm_a" | "ssm_dt.bias" | "ssm_conv1d.weight" => {
                let mut v = vec![0f32; rows * cols];
                quant::dequantize_row(ty, bytes, &mut v);
                let mut out = Vec::with_capacity(v.len() * 4);
                for &r in &order {
                    for &x in &v[r * cols..(r + 1) * cols] {
                        let x = if kind == "ssm_a" { -x.exp() } else { x };
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
                Some((out, GgmlType::F32))
            }
            _ if !moves => None,
            _ if by_columns => {
                // F32/F16/BF16 rows: whole values move
                let size = row_bytes / cols;
                let mut out = Vec::with_capacity(bytes.len());
                for row in bytes.chunks_exact(row_bytes) {
                    for &c in &order {
                        out.extend_from_slice(&row[c * size..(c + 1) * size]);
                    }
                }
                Some((out, ty))
            }
            _ => Some((order.iter().flat_map(|&r| &bytes[r * row_bytes..(r + 1) * row_bytes]).copied().collect(), ty)),
        }
    }
}

/// Generated weights for `weights="random"` (see `open_with`), named as GGUF names them.
fn random_weights(c: &Config, arch: &str, tensors: &mut Vec<TensorInfo>, blobs: &mut Vec<Blob>) -> Result<()> {
    if !matches!(arch, "llama" | "qwen2" | "qwen3") {
        return Err(Error::model(c.dir, format!("weights='random' supports the Llama family (llama, qwen2, qwen3), not '{arch}'")));
    }
    let (d, ff, nl) = (c.req("hidden_size")?, c.req("intermediate_size")?, c.req("num_hidden_layers")?);
    let (nh, vocab) = (c.req("num_attention_heads")?, c.req("vocab_size")?);
    let nkv = c.usize("num_key_value_heads")?.unwrap_or(nh);
    let hd = c.usize("head_dim")?.unwrap_or(d / nh.max(1));
    let mut seed = 0u64;
    let mut add = |name: String, dims: Vec<u64>, ty: GgmlType, fill: f32| -> Result<()> {
        seed += 1;
        let n = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).and_then(|n| usize::try_from(n).ok());
        let bytes = n.and_then(|n| random_bytes(n, ty, seed, fill)).ok_or_else(|| {
            Error::model(c.dir, format!("weights='random': cannot make tensor '{name}' of shape {dims:?} (out of memory)"))
        })?;
        let nbytes = bytes.len() as u64;
        blobs.push(Blob::owned(bytes));
        tensors.push(TensorInfo { name, dims, ty, offset: 0, nbytes, blob: blobs.len() - 1 });
        Ok(())
    };
    let m = |a: usize, b: usize| vec![a as u64, b as u64];
    add("token_embd.weight".into(), m(d, vocab), GgmlType::BF16, 0.0)?;
    for i in 0..nl {
        let n = |s: &str| format!("blk.{i}.{s}");
        add(n("attn_norm.weight"), vec![d as u64], GgmlType::F32, 1.0)?;
        add(n("attn_q.weight"), m(d, nh * hd), GgmlType::BF16, 0.0)?;
        add(n("attn_k.weight"), m(d, nkv * hd), GgmlType::BF16, 0.0)?;
        add(n("attn_v.weight"), m(d, nkv * hd), GgmlType::BF16, 0.0)?;
        if arch == "qwen2" {
            add(n("attn_q.bias"), vec![(nh * hd) as u64], GgmlType::F32, 0.0)?;
            add(n("attn_k.bias"), vec![(nkv * hd) as u64], GgmlType::F32, 0.0)?;
            add(n("attn_v.bias"), vec![(nkv * hd) as u64], GgmlType::F32, 0.0)?;
        }
        if arch == "qwen3" {
            add(n("attn_q_norm.weight"), vec![hd as u64], GgmlType::F32, 1.0)?;
            add(n("attn_k_norm.weight"), vec![hd as u64], GgmlType::F32, 1.0)?;
        }
        add(n("attn_output.weight"), m(nh * hd, d), GgmlType::BF16, 0.0)?;
        add(n("ffn_norm.weight"), vec![d as u64], GgmlType::F32, 1.0)?;
        add(n("ffn_gate.weight"), m(d, ff), GgmlType::BF16, 0.0)?;
        add(n("ffn_up.weight"), m(d, ff), GgmlType::BF16, 0.0)?;
        add(n("ffn_down.weight"), m(ff, d), GgmlType::BF16, 0.0)?;
    }
    add("output_norm.weight".into(), vec![d as u64], GgmlType::F32, 1.0)?;
    add("output.weight".into(), m(d, vocab), GgmlType::BF16, 0.0)?;
    Ok(())
}

/// `n` values of type F32 (all `fill` when non-zero) or BF16 (uniform +-0.0346 from `seed`), made
/// in parallel.
/// None when the memory cannot be had (an absurd config is an error, not an abort).
fn random_bytes(n: usize, ty: GgmlType, seed: u64, fill: f32) -> Option<Vec<u8>> {
    let size = if ty == GgmlType::F32 { 4 } else { 2 };
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve_exact(n.checked_mul(size)?).ok()?;
    if ty == GgmlType::F32 {
        let v = if fill != 0.0 { fill } else { 0.01 };
        out.extend((0..n).flat_map(|_| v.to_le_bytes()));
        return Some(out);
    }
    out.resize(n * 2, 0);
    out.par_chunks_mut(1 << 16).enumerate().for_each(|(c, chunk)| {
        let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (c as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ 0x94D0_49BB_1331_11EB;
        for pair in chunk.chunks_exact_mut(2) {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            let u = (st >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            let x = (u * 2.0 - 1.0) * 0.034_64;
            pair.copy_from_slice(&half::bf16::from_f32(x).to_le_bytes());
        }
    });
    Some(out)
}

/// The type a k-quant falls back to for rows that are not whole 256-value blocks (llama.cpp's
/// choice, so files stay comparable).
fn fallback(ty: GgmlType) -> Option<GgmlType> {
    match ty {
        GgmlType::Q2_K | GgmlType::Q3_K => Some(GgmlType::Q4_0),
        GgmlType::Q4_K => Some(GgmlType::Q5_0),
        GgmlType::Q5_K => Some(GgmlType::Q5_1),
        GgmlType::Q6_K => Some(GgmlType::Q8_0),
        _ => None,
    }
}

/// Quantize every weight matrix: to `ty` where its rows are whole blocks, else to the fallback
/// type where they fit that (others keep their type).
fn quantize_weights(tensors: &mut [TensorInfo], blobs: &mut Vec<Blob>, ty: GgmlType, dir: &str) -> Result<()> {
    if quant::traits(ty).from_f32.is_none() || ty == GgmlType::Q8_K || ty == GgmlType::Q8_1 {
        return Err(Error::arg(format!("quantize: lanner cannot quantize weights to {}", ty.name())));
    }
    let blob_list: Vec<Blob> = blobs.clone();
    let results: Vec<Option<(GgmlType, Vec<u8>)>> = tensors
        .par_iter()
        .map(|t| {
            let is_matrix = t.dims.len() == 2 && t.dims[1] > 1 && t.name.ends_with(".weight") && !t.name.contains("norm");
            let fits = |q: GgmlType| t.dims[0] as usize % q.block_size() == 0;
            let ty = if fits(ty) { ty } else { fallback(ty).filter(|&f| fits(f))? };
            if !is_matrix || t.ty == ty {
                return None;
            }
            let cols = t.dims[0] as usize;
            let rows = t.dims[1] as usize;
            let src = &blob_list[t.blob].bytes()[t.offset as usize..(t.offset + t.nbytes) as usize];
            let src_row = t.ty.row_bytes(cols).expect("checked shape");
            let dst_row = ty.row_bytes(cols).expect("block multiple");
            let mut out = vec![0u8; dst_row * rows];
            let mut f = vec![0f32; cols];
            for r in 0..rows {
                quant::dequantize_row(t.ty, &src[r * src_row..(r + 1) * src_row], &mut f);
                quant::quantize_row(ty, &f, &mut out[r * dst_row..(r + 1) * dst_row]);
            }
            Some((ty, out))
        })
        .collect();
    for (t, r) in tensors.iter_mut().zip(results) {
        if let Some((qt, bytes)) = r {
            t.nbytes = bytes.len() as u64;
            t.offset = 0;
            t.ty = qt;
            blobs.push(Blob::owned(bytes));
            t.blob = blobs.len() - 1;
        }
    }
    if tensors.iter().all(|t| t.ty != ty && Some(t.ty) != fallback(ty)) {
        return Err(Error::model(dir, format!("quantize: no weight matrix has rows that fit {} blocks", ty.name())));
    }
    Ok(())
}

/// tokenizer_config.json's `chat_template` (a string, or named templates: "default" wins), else
/// chat_template.jinja beside it.
fn chat_template(dir: &Path, tc: Option<&Json>, d: &str) -> Result<Option<String>> {
    if let Some(t) = tc.and_then(|tc| tc.get("chat_template")) {
        match t {
            Json::String(s) => return Ok(Some(s.clone())),
            Json::Array(list) => {
                let pick = list
                    .iter()
                    .find(|e| e.get("name").and_then(Json::as_str) == Some("default"))
                    .or(list.first())
                    .and_then(|e| e.get("template"))
                    .and_then(Json::as_str);
                return Ok(pick.map(str::to_string));
            }
            Json::Null => {}
            _ => return Err(Error::model(d, "tokenizer_config.json: chat_template must be a string or a list")),
        }
    }
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        return std::fs::read_to_string(&jinja)
            .map(Some)
            .map_err(|e| Error::model(d, format!("cannot read chat_template.jinja: {e}")));
    }
    Ok(None)
}

/// Parse a `quantize=` name ("q8_0", "Q4_K", "f16", ...).
pub fn parse_quant_type(name: &str) -> Result<GgmlType> {
    let up = name.to_ascii_uppercase();
    quant::ALL_TYPES
        .iter()
        .copied()
        .find(|t| t.name() == up && quant::traits(*t).from_f32.is_some() && !matches!(t, GgmlType::Q8_K | GgmlType::Q8_1))
        .ok_or_else(|| {
            let ok: Vec<String> = quant::ALL_TYPES
                .iter()
                .filter(|t| quant::traits(**t).from_f32.is_some() && !matches!(t, GgmlType::Q8_K | GgmlType::Q8_1))
                .map(|t| t.name().to_ascii_lowercase())
                .collect();
            Error::arg(format!("quantize: unknown or unsupported type '{name}' (supported: {})", ok.join(", ")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen35_value_heads_tiled_as_llama_cpp() {
        // 2 key heads, 4 value heads: grouped [k0v0 k0v1 k1v0 k1v1] -> tiled [k0v0 k1v0 k0v1 k1v1]
        let h = Qwen35Heads { nk: 2, nv: 4, dk: 1, dv: 2 };
        assert_eq!(h.tiled_from_grouped(0, 1), vec![0, 2, 1, 3]);
        // lead entries (q and k) stay; heads of 2 entries move whole
        assert_eq!(h.tiled_from_grouped(3, 2), vec![0, 1, 2, 3, 4, 7, 8, 5, 6, 9, 10]);
        // ssm_a = -exp(A_log) in F32, reordered; the columns of ssm_out move, rows stay
        let a: Vec<u8> = [0f32, 1.0, 2.0, 3.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let (out, ty) = h.rewrite("blk.0.ssm_a", GgmlType::F32, &a, &[4]).unwrap();
        let out: Vec<f32> = out.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!((ty, out), (GgmlType::F32, vec![-1.0, -(2f32.exp()), -(1f32.exp()), -(3f32.exp())]));
        // one row of 8 F16 values (4 heads of 2): values [0 1 | 4 5 | 2 3 | 6 7]
        let w: Vec<u8> = (0u8..16).collect();
        let (out, _) = h.rewrite("blk.0.ssm_out.weight", GgmlType::F16, &w, &[8, 1]).unwrap();
        assert_eq!(out, [&w[0..4], &w[8..12], &w[4..8], &w[12..16]].concat());
        assert!(h.rewrite("blk.0.attn_norm.weight", GgmlType::F32, &a, &[4]).is_none());
        assert!(h.rewrite("blk.0.attn_gate.weight", GgmlType::F32, &a, &[1, 3]).is_none(), "shape that does not fit");
    }
}
