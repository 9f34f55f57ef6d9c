//! The ops a model may call. A model holds a `&dyn Backend` and never knows which device or
//! instruction set runs them; each backend fills these with its own kernels.

pub mod cpu;

use crate::kv::KvPool;
use crate::tensor::QTensor;

/// RoPE pairing: `Norm` rotates adjacent pairs (x[2i], x[2i+1]) (GGUF llama, whose converter
/// permutes Q/K), `Neox` rotates (x[i], x[i + d/2]) (qwen2, gemma, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    Norm,
    Neox,
}

/// Everything RoPE needs besides the data, prepared once at load.
#[derive(Clone, Debug)]
pub struct RopeParams {
    pub style: RopeStyle,
    /// Rotated dimensions per head (<= head_dim; the rest pass through).
    pub dim: usize,
    /// Linear position scaling: positions are multiplied by this (1 / scaling factor).
    pub pos_scale: f32,
    /// `dim / 2` inverse frequencies base^(-2i/dim) / freq_factor[i], in f64 for accuracy at long
    /// positions (freq factors: Llama 3 `rope_freqs`).
    pub inv_freq: Vec<f64>,
}

impl RopeParams {
    pub fn new(style: RopeStyle, dim: usize, base: f32, pos_scale: f32, freq_factors: Option<&[f32]>) -> RopeParams {
        let inv_freq = (0..dim / 2)
            .map(|i| {
                let f = (base as f64).powf(-(2.0 * i as f64) / dim as f64);
                freq_factors.map_or(f, |ff| f / ff[i] as f64)
            })
            .collect();
        RopeParams { style, dim, pos_scale, inv_freq }
    }
}

/// One sequence's rows in a batch, for attention: rows `row0 .. row0 + n_tokens` of Q are its tokens
/// at positions `start .. start + n_tokens`, and its keys/values live in `blocks`.
pub struct AttnSeq<'a> {
    pub blocks: &'a [u32],
    pub start: usize,
    pub n_tokens: usize,
    pub row0: usize,
}

/// Attention shape for one layer.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub scale: f32,
}

pub trait Backend: Send + Sync {
    /// A short description (device, tier) for `Engine.info`.
    fn describe(&self) -> String;
    fn threads(&self) -> usize;

    /// `out[t * w.rows + r] = dot(w.row(r), x[t * w.cols ..])` for `t < n`: y = x W^T.
    fn matmul(&self, w: &QTensor, x: &[f32], n: usize, out: &mut [f32]);
    /// Embedding lookup: row `ids[t]` of `w` dequantized into `out[t * w.cols ..]`.
    fn get_rows(&self, w: &QTensor, ids: &[u32], out: &mut [f32]);
    /// Row-wise RMSNorm of `x` ([n, dim]) in place: x * w / sqrt(mean(x^2) + eps).
    fn rms_norm(&self, x: &mut [f32], w: &[f32], eps: f32);
    /// Rotate every head of row t of `q` ([n, n_q_heads * head_dim]) and of `k`
    /// ([n, n_k_heads * head_dim]) by position `positions[t]` (one cos/sin table per row for both).
    fn rope(&self, q: &mut [f32], n_q_heads: usize, k: &mut [f32], n_k_heads: usize, head_dim: usize, positions: &[usize], p: &RopeParams);
    /// Causal attention of Q rows over each sequence's cached K/V for `layer`; writes `out` rows.
    fn attention(&self, pool: &KvPool, layer: usize, seqs: &[AttnSeq], q: &[f32], s: AttnShape, out: &mut [f32]);
    /// gate = silu(gate) * up, elementwise.
    fn swiglu(&self, gate: &mut [f32], up: &[f32]);
    /// x += y
    fn add(&self, x: &mut [f32], y: &[f32]);
    /// x[row] += bias for every row of `x` ([n, bias.len()]).
    fn add_bias(&self, x: &mut [f32], bias: &[f32]);
}
