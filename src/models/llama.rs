//! The Llama family decoder (Llama 2/3, SmolLM2, Mistral-style; Qwen2 reuses it with QKV biases).
//!
//! ```text
//! x = embed(tokens)
//! for each block:
//!     h = rmsnorm(x) ; q, k, v = h Wq (+bq), h Wk (+bk), h Wv (+bv)
//!     q, k = rope(q, pos), rope(k, pos) ; cache k, v
//!     x = x + attention(q, K, V) Wo          (causal, grouped-query)
//!     h = rmsnorm(x)
//!     x = x + (silu(h Wgate) * (h Wup)) Wdown
//! logits = rmsnorm(x) Wout                    (Wout = embedding when tied)
//! ```

use super::{read_config, Model, ModelConfig, Weights};
use crate::backend::{AttnSeq, AttnShape, Backend, RopeParams, RopeStyle};
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
}

impl Variant {
    /// GGUF `llama`: the converter permutes Q/K rows, so RoPE pairs adjacent values.
    pub fn llama() -> Variant {
        Variant { rope_style: RopeStyle::Norm, qkv_bias: false }
    }
}

struct Block {
    attn_norm: Vec<f32>,
    wq: QTensor,
    wk: QTensor,
    wv: QTensor,
    bq: Option<Vec<f32>>,
    bk: Option<Vec<f32>>,
    bv: Option<Vec<f32>>,
    wo: QTensor,
    ffn_norm: Vec<f32>,
    w_gate: QTensor,
    w_up: QTensor,
    w_down: QTensor,
}

pub struct Llama {
    cfg: ModelConfig,
    rope: RopeParams,
    embd: QTensor,
    blocks: Vec<Block>,
    out_norm: Vec<f32>,
    /// `None` when the output projection is tied to the embedding.
    output: Option<QTensor>,
}

impl Llama {
    pub fn load(g: &GgufFile, variant: Variant) -> Result<Llama> {
        let arch = g.architecture()?.to_string();
        let cfg = read_config(g, &arch)?;
        let w = Weights { g };
        let (d, hd) = (cfg.n_embd, cfg.head_dim);
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
            blocks.push(Block {
                attn_norm: w.vector(&n("attn_norm.weight"), d)?,
                wq: w.matrix(&n("attn_q.weight"), q_dim, d)?,
                wk: w.matrix(&n("attn_k.weight"), kv_dim, d)?,
                wv: w.matrix(&n("attn_v.weight"), kv_dim, d)?,
                bq: bias("attn_q.bias", q_dim)?,
                bk: bias("attn_k.bias", kv_dim)?,
                bv: bias("attn_v.bias", kv_dim)?,
                wo: w.matrix(&n("attn_output.weight"), d, q_dim)?,
                ffn_norm: w.vector(&n("ffn_norm.weight"), d)?,
                w_gate: w.matrix(&n("ffn_gate.weight"), cfg.n_ff, d)?,
                w_up: w.matrix(&n("ffn_up.weight"), cfg.n_ff, d)?,
                w_down: w.matrix(&n("ffn_down.weight"), d, cfg.n_ff)?,
            });
        }
        let out_norm = w.vector("output_norm.weight", d)?;
        let output = if cfg.tied_embeddings { None } else { Some(w.matrix("output.weight", cfg.vocab_size, d)?) };
        let freq_factors = w.opt_vector("rope_freqs.weight", cfg.rope_dim / 2)?;
        let rope =
            RopeParams::new(variant.rope_style, cfg.rope_dim, cfg.rope_base, 1.0 / cfg.rope_scale, freq_factors.as_deref());
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
        let start_lens: Vec<usize> = spans.iter().map(|s| s.kv.len).collect();
        let r = self.forward_inner(be, spans, interrupted, hidden);
        if r.is_err() {
            for (s, &len) in spans.iter_mut().zip(&start_lens) {
                s.kv.truncate(len);
            }
        }
        r
    }

    fn output(&self, be: &dyn Backend, hidden: &[f32], n: usize, logits: &mut [f32]) {
        if n > 0 {
            be.matmul(self.output.as_ref().unwrap_or(&self.embd), hidden, n, logits);
        }
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
        let n_rows: usize = spans.iter().map(|s| s.want.rows(s.tokens.len())).sum();
        if hidden.len() != n_rows * c.n_embd {
            return Err(Error::Internal(format!("hidden buffer holds {} floats, {} needed", hidden.len(), n_rows * c.n_embd)));
        }
        let (d, hd) = (c.n_embd, c.head_dim);
        let (q_dim, kv_dim) = (c.n_head * hd, c.kv_dim());

        // Gather the batch: tokens, positions, and where each span's rows start.
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut row0s = Vec::with_capacity(spans.len());
        for s in spans.iter_mut() {
            if let Some(&bad) = s.tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
                return Err(Error::arg(format!("token id {bad} is out of range (vocabulary size {})", c.vocab_size)));
            }
            s.kv.reserve(s.tokens.len())?;
            row0s.push(ids.len());
            positions.extend(s.kv.len..s.kv.len + s.tokens.len());
            ids.extend_from_slice(s.tokens);
        }
        let n = ids.len();
        let attn_seqs: Vec<AttnSeq> = spans
            .iter()
            .zip(&row0s)
            .map(|(s, &row0)| AttnSeq { blocks: &s.kv.blocks, start: s.kv.len, n_tokens: s.tokens.len(), row0 })
            .collect();
        let shape = AttnShape { n_head: c.n_head, n_kv_head: c.n_kv_head, head_dim: hd, scale: 1.0 / (hd as f32).sqrt() };
        // where each row's K/V goes in the cache
        let slots: Vec<(u32, usize)> = spans
            .iter()
            .flat_map(|s| (s.kv.len..s.kv.len + s.tokens.len()).map(|p| s.kv.locate(p)))
            .collect();
        let pool = spans.first().map(|s| s.kv.pool().clone());

        let mut x = vec![0f32; n * d];
        be.get_rows(&self.embd, &ids, &mut x);
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
            let pool = pool.as_ref().expect("non-empty batch");
            // attention
            h.copy_from_slice(&x);
            be.rms_norm(&mut h, &b.attn_norm, c.norm_eps);
            be.matmul(&b.wq, &h, n, &mut q);
            be.matmul(&b.wk, &h, n, &mut k);
            be.matmul(&b.wv, &h, n, &mut v);
            if let Some(bq) = &b.bq {
                be.add_bias(&mut q, bq);
            }
            if let Some(bk) = &b.bk {
                be.add_bias(&mut k, bk);
            }
            if let Some(bv) = &b.bv {
                be.add_bias(&mut v, bv);
            }
            be.rope(&mut q, c.n_head, &mut k, c.n_kv_head, hd, &positions, &self.rope);
            for (t, &(blk, slot)) in slots.iter().enumerate() {
                pool.write(blk, layer, slot, &k[t * kv_dim..(t + 1) * kv_dim], &v[t * kv_dim..(t + 1) * kv_dim]);
            }
            be.attention(pool, layer, &attn_seqs, &q, shape, &mut att);
            be.matmul(&b.wo, &att, n, &mut h);
            be.add(&mut x, &h);
            // feed-forward
            h.copy_from_slice(&x);
            be.rms_norm(&mut h, &b.ffn_norm, c.norm_eps);
            be.matmul(&b.w_gate, &h, n, &mut gate);
            be.matmul(&b.w_up, &h, n, &mut up);
            be.swiglu(&mut gate, &up);
            be.matmul(&b.w_down, &gate, n, &mut h);
            be.add(&mut x, &h);
        }
        drop(attn_seqs);
        for s in spans.iter_mut() {
            s.kv.len += s.tokens.len();
        }

        // Final norm, only at the rows asked for.
        let mut o = 0;
        for (s, &row0) in spans.iter().zip(&row0s) {
            let nt = s.tokens.len();
            for r in row0 + nt - s.want.rows(nt)..row0 + nt {
                hidden[o * d..(o + 1) * d].copy_from_slice(&x[r * d..(r + 1) * d]);
                o += 1;
            }
        }
        be.rms_norm(hidden, &self.out_norm, c.norm_eps);
        Ok(())
    }
}
