//! Gemma 3 (text): interleaved sliding-window ("local") and global attention layers, each kind
//! with its own RoPE base; per-head QK RMSNorm; RMSNorm before and after both attention and MLP;
//! GeGLU with tanh GELU; embeddings scaled by sqrt(n_embd); output tied to the embedding.
//!
//! ```text
//! x = embed(tokens) * sqrt(n_embd)
//! for each block (local unless (i + 1) % pattern == 0, or as the per-layer pattern says):
//!     h = rmsnorm(x) ; q, k, v = h Wq, h Wk, h Wv
//!     q, k = rmsnorm_per_head(q), rmsnorm_per_head(k)
//!     q, k = rope(q, k, pos; base = local or global)
//!     x = x + rmsnorm(attention(q * scale, K, V; window if local) Wo)
//!     h = rmsnorm(x)
//!     x = x + rmsnorm((gelu(h Wgate) * (h Wup)) Wdown)
//! logits = softcap(rmsnorm(x) Wembd)
//! ```
//! Norm weights are plain multipliers: Gemma's `(1 + w)` form is folded in by llama.cpp's converter
//! and by our Hugging Face translation alike.

use super::{check_hidden, read_config, with_rollback, BatchPlan, Model, ModelConfig, Weights};
use crate::backend::{AttnShape, Backend, RopeParams, RopeScaling, RopeStyle};
use crate::batch::Span;
use crate::error::{Error, Result};
use crate::formats::gguf::{GgufFile, Value};
use crate::tensor::QTensor;
use std::collections::BTreeMap;

struct Block {
    attn_norm: Vec<f32>,
    wq: QTensor,
    wk: QTensor,
    wv: QTensor,
    q_norm: Vec<f32>,
    k_norm: Vec<f32>,
    wo: QTensor,
    post_attn_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    w_gate: QTensor,
    w_up: QTensor,
    w_down: QTensor,
    post_ffn_norm: Vec<f32>,
    /// Sliding-window ("local") layer.
    local: bool,
}

pub struct Gemma3 {
    cfg: ModelConfig,
    rope_global: RopeParams,
    rope_local: RopeParams,
    attn_scale: f32,
    window: usize,
    softcap: Option<f32>,
    embd: QTensor,
    blocks: Vec<Block>,
    out_norm: Vec<f32>,
}

/// Which layers are local: `gemma3.attention.sliding_window_pattern` is either a period N (every
/// N-th layer global, the others local; llama.cpp's default 6) or one bool per layer.
fn local_layers(g: &GgufFile, n_layer: usize) -> Result<Vec<bool>> {
    match g.get("gemma3.attention.sliding_window_pattern") {
        None => Ok((0..n_layer).map(|i| (i + 1) % 6 != 0).collect()),
        Some(Value::Array(v)) if v.len() == n_layer && v.iter().all(|b| b.as_bool().is_some()) => {
            Ok(v.iter().map(|b| b.as_bool().unwrap()).collect())
        }
        Some(v) => match v.as_u64() {
            Some(p) if p > 0 => Ok((0..n_layer).map(|i| (i + 1) % p as usize != 0).collect()),
            _ => Err(Error::model(
                &g.path,
                format!("gemma3.attention.sliding_window_pattern must be a positive period or {n_layer} bools"),
            )),
        },
    }
}

impl Gemma3 {
    pub fn load(g: &GgufFile) -> Result<Gemma3> {
        let cfg = read_config(g, "gemma3")?;
        let w = Weights { g };
        let (d, hd, ff) = (cfg.n_embd, cfg.head_dim, cfg.n_ff);
        let (q_dim, kv_dim) = (cfg.n_head * hd, cfg.kv_dim());
        if cfg.vocab_size == 0 {
            return Err(Error::model(&g.path, "token_embd.weight has no vocabulary dimension"));
        }
        let window = cfg
            .sliding_window
            .ok_or_else(|| Error::model(&g.path, "metadata has no 'gemma3.attention.sliding_window'"))?;
        let local = local_layers(g, cfg.n_layer)?;
        let embd = w.matrix("token_embd.weight", cfg.vocab_size, d)?;
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for (i, &local) in local.iter().enumerate() {
            let n = |s: &str| format!("blk.{i}.{s}");
            blocks.push(Block {
                attn_norm: w.vector(&n("attn_norm.weight"), d)?,
                wq: w.matrix(&n("attn_q.weight"), q_dim, d)?,
                wk: w.matrix(&n("attn_k.weight"), kv_dim, d)?,
                wv: w.matrix(&n("attn_v.weight"), kv_dim, d)?,
                q_norm: w.vector(&n("attn_q_norm.weight"), hd)?,
                k_norm: w.vector(&n("attn_k_norm.weight"), hd)?,
                wo: w.matrix(&n("attn_output.weight"), d, q_dim)?,
                post_attn_norm: w.vector(&n("post_attention_norm.weight"), d)?,
                ffn_norm: w.vector(&n("ffn_norm.weight"), d)?,
                w_gate: w.matrix(&n("ffn_gate.weight"), ff, d)?,
                w_up: w.matrix(&n("ffn_up.weight"), ff, d)?,
                w_down: w.matrix(&n("ffn_down.weight"), d, ff)?,
                post_ffn_norm: w.vector(&n("post_ffw_norm.weight"), d)?,
                local,
            });
        }
        let out_norm = w.vector("output_norm.weight", d)?;
        if !cfg.tied_embeddings {
            return Err(Error::model(&g.path, "gemma3 ties its output to the embedding, but the file has 'output.weight'"));
        }
        let local_base = g.get_f64("gemma3.rope.freq_base_swa")?.unwrap_or(10000.0) as f32;
        let rope_global = RopeParams::new(RopeStyle::Neox, cfg.rope_dim, cfg.rope_base, &cfg.rope_scaling, None);
        let rope_local = RopeParams::new(RopeStyle::Neox, cfg.rope_dim, local_base, &RopeScaling::None, None);
        let scalar = g.get_f64("gemma3.attention.query_pre_attn_scalar")?.map_or(hd as f64, |v| v);
        if scalar <= 0.0 {
            return Err(Error::model(&g.path, format!("query_pre_attn_scalar {scalar} must be positive")));
        }
        let softcap = g.get_f64("gemma3.final_logit_softcapping")?.map(|v| v as f32).filter(|&v| v > 0.0);
        Ok(Gemma3 {
            cfg,
            rope_global,
            rope_local,
            attn_scale: (1.0 / scalar.sqrt()) as f32,
            window,
            softcap,
            embd,
            blocks,
            out_norm,
        })
    }
}

impl Model for Gemma3 {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn weight_types(&self) -> Vec<(String, usize)> {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        let mut add = |t: &QTensor| *m.entry(t.ty.name().to_string()).or_default() += 1;
        add(&self.embd);
        for b in &self.blocks {
            for t in [&b.wq, &b.wk, &b.wv, &b.wo, &b.w_gate, &b.w_up, &b.w_down] {
                add(t);
            }
        }
        m.into_iter().collect()
    }

    fn forward(&self, be: &dyn Backend, spans: &mut [Span], interrupted: &dyn Fn() -> bool, hidden: &mut [f32]) -> Result<()> {
        with_rollback(spans, |spans| self.forward_inner(be, spans, interrupted, hidden))
    }

    fn output(&self, be: &dyn Backend, hidden: &[f32], n: usize, logits: &mut [f32]) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        be.matmul(&self.embd, hidden, n, logits);
        if let Some(cap) = self.softcap {
            logits.iter_mut().for_each(|l| *l = cap * (*l / cap).tanh());
        }
        Ok(())
    }
}

impl Gemma3 {
    fn forward_inner(&self, be: &dyn Backend, spans: &mut [Span], interrupted: &dyn Fn() -> bool, hidden: &mut [f32]) -> Result<()> {
        let c = &self.cfg;
        check_hidden(spans, c.n_embd, hidden)?;
        let (d, hd) = (c.n_embd, c.head_dim);
        let (q_dim, kv_dim) = (c.n_head * hd, c.kv_dim());
        let plan = BatchPlan::new(spans, c)?;
        let n = plan.n();
        let attn_seqs = plan.attn_seqs(spans);
        let pool = plan.pool.clone().expect("non-empty batch");
        let shape = |local: bool| AttnShape {
            n_head: c.n_head,
            n_kv_head: c.n_kv_head,
            head_dim: hd,
            scale: self.attn_scale,
            window: local.then_some(self.window),
        };
        let mut x = vec![0f32; n * d];
        be.get_rows(&self.embd, &plan.ids, &mut x);
        be.scale(&mut x, (d as f32).sqrt());
        let mut h = vec![0f32; n * d];
        let mut q = vec![0f32; n * q_dim];
        let mut k = vec![0f32; n * kv_dim];
        let mut v = vec![0f32; n * kv_dim];
        let mut att = vec![0f32; n * q_dim];
        let mut gate = vec![0f32; n * c.n_ff];
        let mut up = vec![0f32; n * c.n_ff];

        for (layer, b) in self.blocks.iter().enumerate() {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            h.copy_from_slice(&x);
            be.rms_norm(&mut h, &b.attn_norm, c.norm_eps);
            be.matmul_many(&mut [(&b.wq, &mut q[..]), (&b.wk, &mut k[..]), (&b.wv, &mut v[..])], &h, n);
            be.rms_norm(&mut q, &b.q_norm, c.norm_eps);
            be.rms_norm(&mut k, &b.k_norm, c.norm_eps);
            let rope = if b.local { &self.rope_local } else { &self.rope_global };
            be.rope(&mut q, c.n_head, &mut k, c.n_kv_head, hd, &plan.positions, rope);
            plan.write_kv(layer, &k, &v, kv_dim)?;
            be.attention(&pool, layer, &attn_seqs, &q, shape(b.local), &mut att);
            be.matmul(&b.wo, &att, n, &mut h);
            be.rms_norm(&mut h, &b.post_attn_norm, c.norm_eps);
            be.add(&mut x, &h);

            h.copy_from_slice(&x);
            be.rms_norm(&mut h, &b.ffn_norm, c.norm_eps);
            be.matmul_many(&mut [(&b.w_gate, &mut gate[..]), (&b.w_up, &mut up[..])], &h, n);
            be.geglu(&mut gate, &up);
            be.matmul(&b.w_down, &gate, n, &mut h);
            be.rms_norm(&mut h, &b.post_ffn_norm, c.norm_eps);
            be.add(&mut x, &h);
        }
        drop(attn_seqs);
        plan.finish(spans, &x, d, hidden);
        be.rms_norm(hidden, &self.out_norm, c.norm_eps);
        Ok(())
    }
}
