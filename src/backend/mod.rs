//! The ops a model may call. A model holds a `&dyn Backend` and never knows which device or
//! instruction set runs them; each backend fills these with its own kernels.

pub mod cpu;
pub mod cuda;

use crate::kv::KvPool;
use crate::tensor::QTensor;

/// RoPE pairing: `Norm` rotates adjacent pairs (x[2i], x[2i+1]) (GGUF llama, whose converter
/// permutes Q/K), `Neox` rotates (x[i], x[i + d/2]) (qwen2, gemma, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    Norm,
    Neox,
}

/// How positions are stretched beyond the trained context (Hugging Face `rope_scaling`).
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by the factor.
    Linear { factor: f32 },
    /// YaRN: inverse frequencies blended between interpolation and extrapolation by a linear ramp
    /// over the dimensions whose wavelength falls between `beta_fast` and `beta_slow` rotations of
    /// the original context; cos/sin scaled by `attn_factor`.
    Yarn { factor: f32, original_context: usize, beta_fast: f32, beta_slow: f32, attn_factor: f32 },
    /// Llama 3.1: low frequencies divided by the factor, high ones kept, a smooth blend between.
    Llama3 { factor: f32, low_freq_factor: f32, high_freq_factor: f32, original_context: usize },
}

impl RopeScaling {
    /// YaRN's default attention factor for a stretch factor (0.1 ln(s) + 1).
    pub fn yarn_mscale(factor: f32) -> f32 {
        if factor <= 1.0 {
            1.0
        } else {
            0.1 * factor.ln() + 1.0
        }
    }

    /// Llama 3.1's per-frequency divisors (what llama.cpp's converter stores as `rope_freqs`).
    pub fn llama3_freq_factors(dim: usize, base: f32, factor: f32, low: f32, high: f32, original: usize) -> Vec<f32> {
        let (low_wavelen, high_wavelen) = (original as f64 / low as f64, original as f64 / high as f64);
        (0..dim / 2)
            .map(|i| {
                let inv = (base as f64).powf(-(2.0 * i as f64) / dim as f64);
                let wavelen = 2.0 * std::f64::consts::PI / inv;
                if wavelen < high_wavelen {
                    1.0
                } else if wavelen > low_wavelen {
                    factor
                } else {
                    let smooth = (original as f64 / wavelen - low as f64) / (high as f64 - low as f64);
                    (1.0 / ((1.0 - smooth) / factor as f64 + smooth)) as f32
                }
            })
            .collect()
    }
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
    /// positions (freq factors: Llama 3 `rope_freqs`; YaRN's blend).
    pub inv_freq: Vec<f64>,
    /// cos and sin are multiplied by this (YaRN's attention factor; 1 otherwise).
    pub mscale: f32,
}

impl RopeParams {
    pub fn new(style: RopeStyle, dim: usize, base: f32, scaling: &RopeScaling, freq_factors: Option<&[f32]>) -> RopeParams {
        let plain = |i: usize| (base as f64).powf(-(2.0 * i as f64) / dim as f64);
        let mut p = RopeParams { style, dim, pos_scale: 1.0, inv_freq: (0..dim / 2).map(plain).collect(), mscale: 1.0 };
        if let Some(ff) = freq_factors {
            p.inv_freq.iter_mut().zip(ff).for_each(|(f, &d)| *f /= d as f64);
        }
        match *scaling {
            RopeScaling::None => {}
            RopeScaling::Linear { factor } => p.pos_scale = 1.0 / factor,
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_context } => {
                let ff = RopeScaling::llama3_freq_factors(dim, base, factor, low_freq_factor, high_freq_factor, original_context);
                p.inv_freq.iter_mut().zip(&ff).for_each(|(f, &d)| *f /= d as f64);
            }
            RopeScaling::Yarn { factor, original_context, beta_fast, beta_slow, attn_factor } => {
                // the dimension whose wavelength makes `rot` turns over the original context
                let corr = |rot: f64| {
                    dim as f64 * (original_context as f64 / (rot * 2.0 * std::f64::consts::PI)).ln() / (2.0 * (base as f64).ln())
                };
                let low = corr(beta_fast as f64).floor().max(0.0);
                let mut high = corr(beta_slow as f64).ceil().min(dim as f64 - 1.0);
                if low == high {
                    high += 0.001;
                }
                for (i, f) in p.inv_freq.iter_mut().enumerate() {
                    let ramp = ((i as f64 - low) / (high - low)).clamp(0.0, 1.0);
                    let extrapolate = 1.0 - ramp;
                    *f = *f / factor as f64 * (1.0 - extrapolate) + *f * extrapolate;
                }
                p.mscale = attn_factor;
            }
        }
        p
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
    /// Sliding-window attention: a query sees only the keys less than `window` positions back
    /// (itself included); None = all earlier keys.
    pub window: Option<usize>,
}

/// Shapes and per-head constants of a gated delta-rule layer.
pub struct DeltaRule<'a> {
    /// Key heads and value heads (value head h reads key head h / (nv / nk)), their dimensions.
    pub nk: usize,
    pub nv: usize,
    pub dk: usize,
    pub dv: usize,
    /// Per value head: A_log and dt_bias (decay = exp(-exp(A_log) * softplus(a + dt_bias))).
    pub a_log: &'a [f32],
    pub dt_bias: &'a [f32],
}

/// One sequence's inputs and state for [`Backend::gated_delta_rule`]: for each of the n tokens,
/// `q`, `k` (`nk * dk`, already L2-normalised, q scaled), `v` (`nv * dv`), `a` and `b` (`nv`);
/// `state` is `nv x dk x dv`; `out` receives `nv * dv` per token.
pub struct DeltaIo<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub a: &'a [f32],
    pub b: &'a [f32],
    pub state: &'a mut [f32],
    pub out: &'a mut [f32],
}

pub trait Backend: Send + Sync {
    /// A short description (device, tier) for `Engine.info`.
    fn describe(&self) -> String;
    fn threads(&self) -> usize;
    /// The activations of the matrix products (`EngineOptions::activations`): "int8" where
    /// they are rounded to Q8A, else "f32".
    fn activations(&self) -> &'static str {
        "f32"
    }

    /// `out[t * w.rows + r] = dot(w.row(r), x[t * w.cols ..])` for `t < n`: y = x W^T.
    fn matmul(&self, w: &QTensor, x: &[f32], n: usize, out: &mut [f32]);
    /// `matmul` of several weights with the same input (q, k, v; gate, up): each output the same
    /// bits as its own `matmul`. A backend may share the input's quantization and one dispatch.
    fn matmul_many(&self, jobs: &mut [(&QTensor, &mut [f32])], x: &[f32], n: usize) {
        for (w, out) in jobs.iter_mut() {
            self.matmul(w, x, n, out);
        }
    }
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
    /// gate = gelu(gate) * up, elementwise, GELU in its tanh approximation (GeGLU).
    fn geglu(&self, gate: &mut [f32], up: &[f32]);
    /// x *= s
    fn scale(&self, x: &mut [f32], s: f32);
    /// x *= sigmoid(gate), elementwise.
    fn sigmoid_mul(&self, x: &mut [f32], gate: &[f32]);
    /// Depthwise causal convolution over time, then SiLU: for `n` rows of `channels` values,
    /// `out[t][c] = silu(sum_j w[c][j] * in[t - (K-1) + j][c])` with `K = w.len() / channels`,
    /// where rows before the first come from `state` (the previous `K - 1` rows), which is then
    /// updated to the last `K - 1` rows.
    fn causal_conv1d_silu(&self, x: &[f32], channels: usize, w: &[f32], state: &mut [f32], out: &mut [f32]);
    /// The gated delta rule over `n` tokens of one sequence (Qwen3.5's linear attention).
    fn gated_delta_rule(&self, p: &DeltaRule, io: DeltaIo<'_>);
    /// x += y
    fn add(&self, x: &mut [f32], y: &[f32]);
    /// x[row] += bias for every row of `x` ([n, bias.len()]).
    fn add_bias(&self, x: &mut [f32], bias: &[f32]);
}
