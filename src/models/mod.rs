//! Model configuration and architecture dispatch. One file per architecture family.

pub mod gemma3;
pub mod llama;
pub mod qwen35;

use crate::backend::{AttnSeq, Backend, RopeScaling};
use crate::batch::Span;
use crate::kv::KvPool;
use crate::error::{Error, Result};
use crate::formats::gguf::GgufFile;
use crate::tensor::QTensor;

/// Hyper-parameters read from the model's metadata (never guessed from tensor names).
#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub architecture: String,
    pub n_layer: usize,
    /// Layers with K/V in the cache (all of them, except in hybrid models).
    pub kv_layers: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rope_dim: usize,
    pub rope_base: f32,
    pub rope_scaling: RopeScaling,
    /// Sliding-window attention span (every layer, or the local layers of a mixed model).
    pub sliding_window: Option<usize>,
    pub norm_eps: f32,
    pub context_length: usize,
    pub vocab_size: usize,
    pub tied_embeddings: bool,
}

impl ModelConfig {
    pub fn kv_dim(&self) -> usize {
        self.n_kv_head * self.head_dim
    }
}

/// A loaded model: one forward pass over a batch of spans.
pub trait Model: Send + Sync {
    fn config(&self) -> &ModelConfig;
    /// Weight types and how many tensors of each (for `Engine.info`).
    fn weight_types(&self) -> Vec<(String, usize)>;
    /// Run the batch and write the final (normed) hidden state of the rows asked for, span by span,
    /// into `hidden` (`[rows, n_embd]`, rows = sum of `span.want.rows()`). `interrupted` is polled
    /// between layers; on any error every span's cache is rolled back to where it was.
    fn forward(&self, be: &dyn Backend, spans: &mut [Span], interrupted: &dyn Fn() -> bool, hidden: &mut [f32]) -> Result<()>;
    /// The output projection of `n` hidden rows into `logits` (`[n, vocab]`), written straight into
    /// the caller's buffer. Kept apart from `forward` so that callers bound the logits they hold
    /// (scoring long texts projects a few rows at a time).
    fn output(&self, be: &dyn Backend, hidden: &[f32], n: usize, logits: &mut [f32]) -> Result<()>;
    /// Floats of recurrent state per sequence (linear-attention layers); 0 for pure attention.
    fn recurrent_state_len(&self) -> usize {
        0
    }
    /// Called once with the engine's KV pool: a model whose cache lives elsewhere (a GPU) makes
    /// its storage here and attaches it to the pool.
    fn bind_kv(&self, _pool: &std::sync::Arc<KvPool>) -> Result<()> {
        Ok(())
    }
    /// Where the model runs ("cpu" unless a device model says otherwise).
    fn device(&self) -> String {
        "cpu".to_string()
    }
    /// Bytes of weight matrices read per decoded token (0 when the model does not say).
    fn weight_bytes(&self) -> usize {
        0
    }
    /// Most tokens one forward pass should take (a long feed is cut into passes of this many;
    /// batched steps take at most this many). None: the engine's CPU-sized defaults.
    fn max_step_tokens(&self) -> Option<usize> {
        None
    }
    /// Whether `output_greedy` picks tokens where the logits are (a GPU).
    fn greedy_on_device(&self) -> bool {
        false
    }
    /// Greedy next tokens of `n` hidden rows computed where the logits are, so that only
    /// (token, log-probability) pairs come back; None when the model has no such path.
    fn output_greedy(&self, _hidden: &[f32], _n: usize) -> Option<Result<Vec<(u32, f32)>>> {
        None
    }
    /// Device counters for `Engine.info` (e.g. CUDA graph replays).
    fn counters(&self) -> Vec<(String, i64)> {
        Vec::new()
    }
}

/// Load the architecture the checkpoint names.
pub fn load(gguf: &GgufFile) -> Result<Box<dyn Model>> {
    let arch = gguf.architecture()?.to_string();
    match arch.as_str() {
        "llama" | "qwen2" | "qwen3" | "phi3" => Ok(Box::new(llama::Llama::load(gguf, &arch)?)),
        "gemma3" => Ok(Box::new(gemma3::Gemma3::load(gguf)?)),
        "qwen35" => Ok(Box::new(qwen35::Qwen35::load(gguf)?)),
        other => Err(Error::model(
            &gguf.path,
            format!("unknown architecture '{other}' (supported: {})", SUPPORTED.join(", ")),
        )),
    }
}

pub const SUPPORTED: &[&str] = &["llama", "qwen2", "qwen3", "phi3", "gemma3", "qwen35"];

/// Read the common hyper-parameters `<arch>.*` from GGUF metadata.
pub fn read_config(g: &GgufFile, arch: &str) -> Result<ModelConfig> {
    let req = |k: &str| -> Result<usize> {
        let key = format!("{arch}.{k}");
        g.get_u64(&key)?
            .map(|v| v as usize)
            .ok_or_else(|| Error::model(&g.path, format!("metadata has no '{key}'")))
    };
    let opt = |k: &str| -> Result<Option<usize>> { Ok(g.get_u64(&format!("{arch}.{k}"))?.map(|v| v as usize)) };
    let n_layer = req("block_count")?;
    let n_embd = req("embedding_length")?;
    let n_ff = req("feed_forward_length")?;
    let n_head = req("attention.head_count")?;
    let n_kv_head = opt("attention.head_count_kv")?.unwrap_or(n_head);
    if n_layer == 0 || n_embd == 0 || n_head == 0 || n_kv_head == 0 || n_ff == 0 {
        return Err(Error::model(&g.path, "metadata gives a zero size (block_count, embedding_length, heads, ffn)"));
    }
    if n_head % n_kv_head != 0 {
        return Err(Error::model(&g.path, format!("head_count {n_head} is not a multiple of head_count_kv {n_kv_head}")));
    }
    let head_dim = opt("attention.key_length")?.unwrap_or(n_embd / n_head);
    if head_dim == 0 || head_dim % 2 != 0 {
        return Err(Error::model(&g.path, format!("head dimension {head_dim} must be even and non-zero")));
    }
    let rope_dim = opt("rope.dimension_count")?.unwrap_or(head_dim);
    if rope_dim > head_dim || rope_dim % 2 != 0 {
        return Err(Error::model(&g.path, format!("rope dimension {rope_dim} must be even and <= head dim {head_dim}")));
    }
    let rope_base = g.get_f64(&format!("{arch}.rope.freq_base"))?.unwrap_or(10000.0) as f32;
    let rope_scaling = read_rope_scaling(g, arch, opt("context_length")?)?;
    let sliding_window = opt("attention.sliding_window")?.filter(|&w| w > 0);
    let norm_eps = g.get_f64(&format!("{arch}.attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5) as f32;
    let context_length = opt("context_length")?.unwrap_or(2048);
    let embd = g
        .tensor("token_embd.weight")
        .ok_or_else(|| Error::model(&g.path, "missing tensor 'token_embd.weight'"))?;
    let vocab_size = embd.dims.get(1).copied().unwrap_or(0) as usize;
    Ok(ModelConfig {
        architecture: arch.to_string(),
        n_layer,
        kv_layers: n_layer,
        n_embd,
        n_ff,
        n_head,
        n_kv_head,
        head_dim,
        rope_dim,
        rope_base,
        rope_scaling,
        sliding_window,
        norm_eps,
        context_length,
        vocab_size,
        tied_embeddings: g.tensor("output.weight").is_none(),
    })
}

/// `<arch>.rope.scaling.*`: none, linear, yarn, or llama3 (the last written by the Hugging Face
/// translation; llama.cpp's files carry Llama 3.1's scaling as a `rope_freqs` tensor instead).
fn read_rope_scaling(g: &GgufFile, arch: &str, context: Option<usize>) -> Result<RopeScaling> {
    let key = |k: &str| format!("{arch}.rope.scaling.{k}");
    let kind = g.get_str(&key("type"))?.unwrap_or("none").to_string();
    let factor = g.get_f64(&key("factor"))?.unwrap_or(1.0) as f32;
    let original = g.get_u64(&key("original_context_length"))?.map(|v| v as usize);
    let bad = |why: &str| Error::model(&g.path, format!("RoPE scaling '{kind}': {why}"));
    if kind != "none" && !(factor.is_finite() && factor > 0.0) {
        return Err(bad(&format!("factor {factor} must be positive")));
    }
    Ok(match kind.as_str() {
        "none" => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor },
        "yarn" => {
            let original_context = original.or(context.map(|c| (c as f32 / factor) as usize)).filter(|&c| c > 0);
            let original_context = original_context.ok_or_else(|| bad("no original context length"))?;
            let attn = g.get_f64(&key("attn_factor"))?.map(|v| v as f32);
            RopeScaling::Yarn {
                factor,
                original_context,
                beta_fast: g.get_f64(&key("yarn_beta_fast"))?.unwrap_or(32.0) as f32,
                beta_slow: g.get_f64(&key("yarn_beta_slow"))?.unwrap_or(1.0) as f32,
                attn_factor: attn.unwrap_or(RopeScaling::yarn_mscale(factor)),
            }
        }
        "llama3" => RopeScaling::Llama3 {
            factor,
            low_freq_factor: g.get_f64(&key("low_freq_factor"))?.unwrap_or(1.0) as f32,
            high_freq_factor: g.get_f64(&key("high_freq_factor"))?.unwrap_or(4.0) as f32,
            original_context: original.ok_or_else(|| bad("no original context length"))?,
        },
        other => {
            return Err(Error::model(
                &g.path,
                format!("RoPE scaling '{other}' is not supported (supported: none, linear, yarn, llama3)"),
            ))
        }
    })
}

/// A batch laid out for one forward pass: every span's tokens in a row, their positions, and
/// where each token's K/V go in the cache. Shared by every architecture.
pub struct BatchPlan {
    pub ids: Vec<u32>,
    pub positions: Vec<usize>,
    /// First row of each span.
    pub row0s: Vec<usize>,
    /// (block, slot) of each row's K/V.
    pub slots: Vec<(u32, usize)>,
    pub pool: Option<std::sync::Arc<KvPool>>,
}

impl BatchPlan {
    /// Check the tokens, reserve cache room for them, and lay the batch out.
    pub fn new(spans: &mut [Span], cfg: &ModelConfig) -> Result<BatchPlan> {
        let mut p = BatchPlan { ids: Vec::new(), positions: Vec::new(), row0s: Vec::new(), slots: Vec::new(), pool: None };
        for s in spans.iter_mut() {
            if let Some(&bad) = s.tokens.iter().find(|&&t| t as usize >= cfg.vocab_size) {
                return Err(Error::arg(format!("token id {bad} is out of range (vocabulary size {})", cfg.vocab_size)));
            }
            s.kv.reserve(s.tokens.len())?;
            p.row0s.push(p.ids.len());
            p.positions.extend(s.kv.len..s.kv.len + s.tokens.len());
            p.ids.extend_from_slice(s.tokens);
            p.slots.extend((s.kv.len..s.kv.len + s.tokens.len()).map(|q| s.kv.locate(q)));
        }
        p.pool = spans.first().map(|s| s.kv.pool().clone());
        Ok(p)
    }

    pub fn n(&self) -> usize {
        self.ids.len()
    }

    pub fn attn_seqs<'a>(&self, spans: &'a [Span]) -> Vec<AttnSeq<'a>> {
        spans
            .iter()
            .zip(&self.row0s)
            .map(|(s, &row0)| AttnSeq { blocks: &s.kv.blocks, start: s.kv.len, n_tokens: s.tokens.len(), row0 })
            .collect()
    }

    /// Store every row's K and V (`[n, kv_dim]` each) for `layer`.
    pub fn write_kv(&self, layer: usize, k: &[f32], v: &[f32], kv_dim: usize) -> Result<()> {
        let pool = self.pool.as_ref().expect("non-empty batch");
        for (t, &(blk, slot)) in self.slots.iter().enumerate() {
            pool.write(blk, layer, slot, &k[t * kv_dim..(t + 1) * kv_dim], &v[t * kv_dim..(t + 1) * kv_dim])?;
        }
        Ok(())
    }

    /// After the layers: advance the caches and copy the rows each span asked for into `hidden`.
    pub fn finish(&self, spans: &mut [Span], x: &[f32], d: usize, hidden: &mut [f32]) {
        for s in spans.iter_mut() {
            s.kv.len += s.tokens.len();
        }
        let mut o = 0;
        for (s, &row0) in spans.iter().zip(&self.row0s) {
            let nt = s.tokens.len();
            for r in row0 + nt - s.want.rows(nt)..row0 + nt {
                hidden[o * d..(o + 1) * d].copy_from_slice(&x[r * d..(r + 1) * d]);
                o += 1;
            }
        }
    }
}

/// Run `f` and, if it fails, roll every span's cache back to where it was.
pub fn with_rollback(spans: &mut [Span], f: impl FnOnce(&mut [Span]) -> Result<()>) -> Result<()> {
    let start_lens: Vec<usize> = spans.iter().map(|s| s.kv.len).collect();
    let r = f(spans);
    if r.is_err() {
        for (s, &len) in spans.iter_mut().zip(&start_lens) {
            s.kv.truncate(len);
        }
    }
    r
}

/// Check the caller's hidden buffer against the rows the spans want.
pub fn check_hidden(spans: &[Span], d: usize, hidden: &[f32]) -> Result<()> {
    let n_rows: usize = spans.iter().map(|s| s.want.rows(s.tokens.len())).sum();
    if hidden.len() != n_rows * d {
        return Err(Error::Internal(format!("hidden buffer holds {} floats, {} needed", hidden.len(), n_rows * d)));
    }
    Ok(())
}

/// Weight lookup with shape checks: every problem names the file and the tensor.
pub struct Weights<'a> {
    pub g: &'a GgufFile,
}

impl<'a> Weights<'a> {
    /// A matrix of `rows` x `cols` (GGUF dims `[cols, rows]`), kept in the memory map.
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<QTensor> {
        let t = self.g.tensor(name).ok_or_else(|| Error::model(&self.g.path, format!("missing tensor '{name}'")))?;
        let ok = t.dims.len() == 2 && t.dims[0] as usize == cols && t.dims[1] as usize == rows;
        if !ok {
            return Err(Error::model(
                &self.g.path,
                format!("tensor '{name}' has shape {:?}, but the metadata implies [{cols}, {rows}]", t.dims),
            ));
        }
        Ok(QTensor::mapped(name, t.ty, rows, cols, self.g.blob(t).clone(), t.offset as usize))
    }

    /// Rows `first .. first + rows` of a fused matrix of `total_rows` x `cols` (Phi-3's QKV and
    /// gate/up): a view into the same bytes, no copy.
    pub fn matrix_rows(&self, name: &str, total_rows: usize, cols: usize, first: usize, rows: usize) -> Result<QTensor> {
        let whole = self.matrix(name, total_rows, cols)?;
        let t = self.g.tensor(name).expect("checked by matrix()");
        let offset = t.offset as usize + first * whole.row_bytes();
        Ok(QTensor::mapped(name, t.ty, rows, cols, self.g.blob(t).clone(), offset))
    }

    pub fn has(&self, name: &str) -> bool {
        self.g.tensor(name).is_some()
    }

    /// A vector of `n` values (norm weights, biases), converted to f32 (small).
    pub fn vector(&self, name: &str, n: usize) -> Result<Vec<f32>> {
        let t = self.g.tensor(name).ok_or_else(|| Error::model(&self.g.path, format!("missing tensor '{name}'")))?;
        if t.n_elements() != n as u64 || t.dims[0] as usize != n {
            return Err(Error::model(
                &self.g.path,
                format!("tensor '{name}' has shape {:?}, but the metadata implies [{n}]", t.dims),
            ));
        }
        let q = QTensor::mapped(name, t.ty, 1, n, self.g.blob(t).clone(), t.offset as usize);
        Ok(q.to_f32_vec())
    }

    pub fn opt_vector(&self, name: &str, n: usize) -> Result<Option<Vec<f32>>> {
        if self.has(name) {
            self.vector(name, n).map(Some)
        } else {
            Ok(None)
        }
    }
}
