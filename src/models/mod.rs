//! Model configuration and architecture dispatch. One file per architecture family.

pub mod llama;
pub mod qwen2;

use crate::backend::Backend;
use crate::batch::Span;
use crate::error::{Error, Result};
use crate::formats::gguf::GgufFile;
use crate::tensor::QTensor;

/// Hyper-parameters read from the model's metadata (never guessed from tensor names).
#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub architecture: String,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rope_dim: usize,
    pub rope_base: f32,
    /// Linear RoPE scaling factor (1.0 = none).
    pub rope_scale: f32,
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
    fn output(&self, be: &dyn Backend, hidden: &[f32], n: usize, logits: &mut [f32]);
}

/// Load the architecture the file names.
pub fn load(gguf: &GgufFile) -> Result<Box<dyn Model>> {
    let arch = gguf.architecture()?.to_string();
    match arch.as_str() {
        "llama" => Ok(Box::new(llama::Llama::load(gguf, llama::Variant::llama())?)),
        "qwen2" => Ok(Box::new(qwen2::load(gguf)?)),
        other => Err(Error::model(
            &gguf.path,
            format!("unknown architecture '{other}' (supported: {})", SUPPORTED.join(", ")),
        )),
    }
}

pub const SUPPORTED: &[&str] = &["llama", "qwen2"];

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
    let scaling_type = g.get_str(&format!("{arch}.rope.scaling.type"))?.unwrap_or("none").to_string();
    let factor = g.get_f64(&format!("{arch}.rope.scaling.factor"))?.unwrap_or(1.0) as f32;
    let rope_scale = match scaling_type.as_str() {
        "none" => 1.0,
        "linear" if factor > 0.0 => factor,
        other => {
            return Err(Error::model(
                &g.path,
                format!("RoPE scaling '{other}' (factor {factor}) is not supported yet (supported: none, linear)"),
            ))
        }
    };
    let norm_eps = g.get_f64(&format!("{arch}.attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5) as f32;
    let context_length = opt("context_length")?.unwrap_or(2048);
    let embd = g
        .tensor("token_embd.weight")
        .ok_or_else(|| Error::model(&g.path, "missing tensor 'token_embd.weight'"))?;
    let vocab_size = embd.dims.get(1).copied().unwrap_or(0) as usize;
    Ok(ModelConfig {
        architecture: arch.to_string(),
        n_layer,
        n_embd,
        n_ff,
        n_head,
        n_kv_head,
        head_dim,
        rope_dim,
        rope_base,
        rope_scale,
        norm_eps,
        context_length,
        vocab_size,
        tied_embeddings: g.tensor("output.weight").is_none(),
    })
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
        Ok(QTensor::mapped(name, t.ty, rows, cols, self.g.map().clone(), t.offset as usize))
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
        let q = QTensor::mapped(name, t.ty, 1, n, self.g.map().clone(), t.offset as usize);
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
