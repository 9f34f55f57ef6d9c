//! The Llama family decoder: Llama 2/3 (and Mistral, which GGUF files and our Hugging Face
//! translation both name `llama`), SmolLM2, Qwen2 (Q/K/V biases), Qwen3 (per-head QK RMSNorm),
//! Phi-3 (fused QKV and gate/up projections, read as row views of the fused matrices).
//!
//! ```text
//! x = embed(tokens)
//! for each block:
//!     h = rmsnorm(x) ; q, k, v = h Wq (+bq), h Wk (+bk), h Wv (+bv)
//!     q, k = rmsnorm_per_head(q), rmsnorm_per_head(k)          (qwen3)
//!     q, k = rope(q, pos), rope(k, pos) ; cache k, v
//!     x = x + attention(q, K, V) Wo          (causal, grouped-query, optional sliding window)
//!     h = rmsnorm(x)
//!     x = x + (silu(h Wgate) * (h Wup)) Wdown
//! logits = rmsnorm(x) Wout                    (Wout = embedding when tied)
//! ```

use super::{check_hidden, read_config, with_rollback, BatchPlan, Model, ModelConfig, Weights};
use crate::backend::{AttnShape, Backend, RopeParams, RopeStyle};
use crate::batch::Span;
use crate::error::{Error, Result};
use crate::formats::gguf::GgufFile;
use crate::tensor::QTensor;
use std::collections::BTreeMap;

/// What distinguishes the members of the family.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    pub rope_style: RopeStyle,
    /// Q/K/V projections carry biases (required when true).
    pub qkv_bias: bool,
    /// Per-head RMSNorm of Q and K before RoPE (`attn_q_norm`, `attn_k_norm`).
    pub qk_norm: bool,
    /// One `attn_qkv` matrix and one `ffn_up` holding gate and up (Phi-3).
    pub fused: bool,
}

impl Variant {
    /// The variant an architecture name implies. GGUF `llama` files have their Q/K rows permuted by
    /// the converter, so RoPE pairs adjacent values; a Hugging Face folder keeps the original order
    /// (`lanner.rope.neox` set by the translation), which pairs halves.
    pub fn of(arch: &str, g: &GgufFile) -> Result<Variant> {
        let neox = Variant { rope_style: RopeStyle::Neox, qkv_bias: false, qk_norm: false, fused: false };
        Ok(match arch {
            "llama" => {
                let hf_order = g.get_bool("lanner.rope.neox")?.unwrap_or(false);
                Variant { rope_style: if hf_order { RopeStyle::Neox } else { RopeStyle::Norm }, ..neox }
            }
            "qwen2" => Variant { qkv_bias: true, ..neox },
            "qwen3" => Variant { qk_norm: true, ..neox },
            "phi3" => Variant { fused: true, ..neox },
            other => return Err(Error::model(&g.path, format!("'{other}' is not a Llama-family architecture"))),
        })
    }
}

pub(crate) struct Block {
    pub(crate) attn_norm: Vec<f32>,
    pub(crate) wq: QTensor,
    pub(crate) wk: QTensor,
    pub(crate) wv: QTensor,
    pub(crate) bq: Option<Vec<f32>>,
    pub(crate) bk: Option<Vec<f32>>,
    pub(crate) bv: Option<Vec<f32>>,
    pub(crate) q_norm: Option<Vec<f32>>,
    pub(crate) k_norm: Option<Vec<f32>>,
    pub(crate) wo: QTensor,
    pub(crate) ffn_norm: Vec<f32>,
    pub(crate) w_gate: QTensor,
    pub(crate) w_up: QTensor,
    pub(crate) w_down: QTensor,
}

pub struct Llama {
    pub(crate) cfg: ModelConfig,
    pub(crate) rope: RopeParams,
    pub(crate) embd: QTensor,
    pub(crate) blocks: Vec<Block>,
    pub(crate) out_norm: Vec<f32>,
    /// `None` when the output projection is tied to the embedding.
    pub(crate) output: Option<QTensor>,
}

impl Llama {
    pub fn load(g: &GgufFile, arch: &str) -> Result<Llama> {
        let variant = Variant::of(arch, g)?;
        let cfg = read_config(g, arch)?;
        let w = Weights { g };
        let (d, hd, ff) = (cfg.n_embd, cfg.head_dim, cfg.n_ff);
        let (q_dim, kv_dim) = (cfg.n_head * hd, cfg.kv_dim());
        if cfg.vocab_size == 0 {
            return Err(Error::model(&g.path, "token_embd.weight has no vocabulary dimension"));
        }
        let embd = w.matrix("token_embd.weight", cfg.vocab_size, d)?;
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}");
            let bias = |s: &str, len: usize| -> Result<Option<Vec<f32>>> {
                if variant.qkv_bias {
                    w.vector(&n(s), len).map(Some)
                } else {
                    w.opt_vector(&n(s), len)
                }
            };
            let qk_norm = |s: &str| -> Result<Option<Vec<f32>>> {
                if variant.qk_norm {
                    w.vector(&n(s), hd).map(Some)
                } else {
                    Ok(None)
                }
            };
            let (wq, wk, wv, w_gate, w_up) = if variant.fused {
                let (qkv, up) = (n("attn_qkv.weight"), n("ffn_up.weight"));
                let rows = q_dim + 2 * kv_dim;
                (
                    w.matrix_rows(&qkv, rows, d, 0, q_dim)?,
                    w.matrix_rows(&qkv, rows, d, q_dim, kv_dim)?,
                    w.matrix_rows(&qkv, rows, d, q_dim + kv_dim, kv_dim)?,
                    w.matrix_rows(&up, 2 * ff, d, 0, ff)?,
                    w.matrix_rows(&up, 2 * ff, d, ff, ff)?,
                )
            } else {
                (
                    w.matrix(&n("attn_q.weight"), q_dim, d)?,
                    w.matrix(&n("attn_k.weight"), kv_dim, d)?,
                    w.matrix(&n("attn_v.weight"), kv_dim, d)?,
                    w.matrix(&n("ffn_gate.weight"), ff, d)?,
                    w.matrix(&n("ffn_up.weight"), ff, d)?,
                )
            };
            blocks.push(Block {
                attn_norm: w.vector(&n("attn_norm.weight"), d)?,
                wq,
                wk,
                wv,
                bq: bias("attn_q.bias", q_dim)?,
                bk: bias("attn_k.bias", kv_dim)?,
                bv: bias("attn_v.bias", kv_dim)?,
                q_norm: qk_norm("attn_q_norm.weight")?,
                k_norm: qk_norm("attn_k_norm.weight")?,
                wo: w.matrix(&n("attn_output.weight"), d, q_dim)?,
                ffn_norm: w.vector(&n("ffn_norm.weight"), d)?,
                w_gate,
                w_up,
                w_down: w.matrix(&n("ffn_down.weight"), d, ff)?,
            });
        }
        let out_norm = w.vector("output_norm.weight", d)?;
        let output = if cfg.tied_embeddings { None } else { Some(w.matrix("output.weight", cfg.vocab_size, d)?) };
        let freq_factors = w.opt_vector("rope_freqs.weight", cfg.rope_dim / 2)?;
        let rope = RopeParams::new(variant.rope_style, cfg.rope_dim, cfg.rope_base, &cfg.rope_scaling, freq_factors.as_deref());
        Ok(Llama { cfg, rope, embd, blocks, out_norm, output })
    }
}

impl Model for Llama {
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
        if let Some(o) = &self.output {
            add(o);
        }
        m.into_iter().collect()
    }

    fn forward(&self, be: &dyn Backend, spans: &mut [Span], interrupted: &dyn Fn() -> bool, hidden: &mut [f32]) -> Result<()> {
        with_rollback(spans, |spans| self.forward_inner(be, spans, interrupted, hidden))
    }

    fn output(&self, be: &dyn Backend, hidden: &[f32], n: usize, logits: &mut [f32]) -> Result<()> {
        if n > 0 {
            be.matmul(self.output.as_ref().unwrap_or(&self.embd), hidden, n, logits);
        }
        Ok(())
    }
}

impl Llama {
    fn forward_inner(
        &self,
        be: &dyn Backend,
        spans: &mut [Span],
        interrupted: &dyn Fn() -> bool,
        hidden: &mut [f32],
    ) -> Result<()> {
        let c = &self.cfg;
        check_hidden(spans, c.n_embd, hidden)?;
        let (d, hd) = (c.n_embd, c.head_dim);
        let (q_dim, kv_dim) = (c.n_head * hd, c.kv_dim());
        let plan = BatchPlan::new(spans, c)?;
        let n = plan.n();
        let attn_seqs = plan.attn_seqs(spans);
        let shape = AttnShape {
            n_head: c.n_head,
            n_kv_head: c.n_kv_head,
            head_dim: hd,
            scale: 1.0 / (hd as f32).sqrt(),
            window: c.sliding_window,
        };
        let mut x = vec![0f32; n * d];
        be.get_rows(&self.embd, &plan.ids, &mut x);
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
            // attention
            h.copy_from_slice(&x);
            be.rms_norm(&mut h, &b.attn_norm, c.norm_eps);
            be.matmul_many(&mut [(&b.wq, &mut q[..]), (&b.wk, &mut k[..]), (&b.wv, &mut v[..])], &h, n);
            if let Some(bq) = &b.bq {
                be.add_bias(&mut q, bq);
            }
            if let Some(bk) = &b.bk {
                be.add_bias(&mut k, bk);
            }
            if let Some(bv) = &b.bv {
                be.add_bias(&mut v, bv);
            }
            if let (Some(qn), Some(kn)) = (&b.q_norm, &b.k_norm) {
                be.rms_norm(&mut q, qn, c.norm_eps);
                be.rms_norm(&mut k, kn, c.norm_eps);
            }
            be.rope(&mut q, c.n_head, &mut k, c.n_kv_head, hd, &plan.positions, &self.rope);
            plan.write_kv(layer, &k, &v, kv_dim)?;
            be.attention(plan.pool.as_ref().expect("non-empty batch"), layer, &attn_seqs, &q, shape, &mut att);
            be.matmul(&b.wo, &att, n, &mut h);
            be.add(&mut x, &h);
            // feed-forward
            h.copy_from_slice(&x);
            be.rms_norm(&mut h, &b.ffn_norm, c.norm_eps);
            be.matmul_many(&mut [(&b.w_gate, &mut gate[..]), (&b.w_up, &mut up[..])], &h, n);
            be.swiglu(&mut gate, &up);
            be.matmul(&b.w_down, &gate, n, &mut h);
            be.add(&mut x, &h);
        }
        drop(attn_seqs);
        plan.finish(spans, &x, d, hidden);
        be.rms_norm(hidden, &self.out_norm, c.norm_eps);
        Ok(())
    }
}
