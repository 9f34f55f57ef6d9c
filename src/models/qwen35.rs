//! Qwen3.5 (text): a hybrid of gated delta-rule linear-attention layers, each with a short causal
//! convolution and a recurrent state per sequence, and gated full-attention layers.
//!
//! ```text
//! x = embed(tokens)
//! for each block:
//!     h = rmsnorm(x)
//!     linear layer:  qkv = conv1d_silu(h Wqkv) ; z = h Wz ; a = h Wa ; b = h Wb
//!                    q, k = l2norm(q) / sqrt(dk), l2norm(k)
//!                    per value head, per token (state S: dk x dv):
//!                        S = S * exp(-exp(A_log) softplus(a + dt_bias))
//!                        S = S + k (x) ((v - S^T k) * sigmoid(b)) ;  o = S^T q
//!                    x = x + (rmsnorm(o) * silu(z)) Wout
//!     attention:     [q | gate] = h Wq (per head) ; q, k = rmsnorm_per_head ; partial rope
//!                    x = x + (attention(q, K, V) * sigmoid(gate)) Wo
//!     h = rmsnorm(x) ; x = x + (silu(h Wgate) * (h Wup)) Wdown
//! logits = rmsnorm(x) Wembd
//! ```
//! Only the attention layers have K/V in the cache; the recurrent state lives in each sequence's
//! [`crate::kv::RecurrentState`] and is written only when the whole forward pass succeeds.
//!
//! Weights and metadata as llama.cpp's `convert_hf_to_gguf.py` writes them (architecture
//! `qwen35`), which is also what `formats::hf` makes of a Hugging Face folder:
//!
//! - `qwen35.attention.recurrent_layers` marks the linear layers (else every
//!   `full_attention_interval`-th layer is attention); `ssm.group_count` key heads,
//!   `ssm.time_step_rank` value heads, `ssm.state_size` the key head size, `ssm.inner_size` all
//!   value heads together; `nextn_predict_layers` trailing multi-token-prediction blocks are not
//!   run.
//! - `ssm_a` holds `-exp(A_log)`; `(1 + w)` norm weights are stored as `1 + w` (`ssm_norm`, a
//!   plain multiplier, as is); the post-attention norm is `post_attention_norm`.
//! - Value heads are in tiled order: value head h reads key head `h % nk` (Hugging Face groups
//!   them: `h / (nv / nk)`).
//! - `attn_q` rows are per head `[query | gate]`; RoPE is NeoX-style over `rope.dimension_count`
//!   (llama.cpp's interleaved M-RoPE, which is the same for text, where all sections share one
//!   position).

use super::{check_hidden, read_config, with_rollback, BatchPlan, Model, ModelConfig, Weights};
use crate::backend::{AttnShape, Backend, DeltaIo, DeltaRule, RopeParams, RopeStyle};
use crate::batch::Span;
use crate::error::{Error, Result};
use crate::formats::gguf::{GgufFile, Value};
use crate::kv::RecurrentState;
use crate::tensor::QTensor;
use std::collections::BTreeMap;

struct Linear {
    w_qkv: QTensor,
    w_z: QTensor,
    w_a: QTensor,
    w_b: QTensor,
    conv: Vec<f32>,
    a_log: Vec<f32>,
    dt_bias: Vec<f32>,
    norm: Vec<f32>,
    w_out: QTensor,
    /// Offsets of this layer's conv and delta states in the sequence state.
    conv_at: usize,
    delta_at: usize,
}

struct Attention {
    wq: QTensor,
    wk: QTensor,
    wv: QTensor,
    q_norm: Vec<f32>,
    k_norm: Vec<f32>,
    wo: QTensor,
    /// This layer's index in the KV cache (only attention layers have one).
    kv_layer: usize,
}

enum Mixer {
    Linear(Linear),
    Attention(Attention),
}

struct Block {
    attn_norm: Vec<f32>,
    mixer: Mixer,
    ffn_norm: Vec<f32>,
    w_gate: QTensor,
    w_up: QTensor,
    w_down: QTensor,
}

pub struct Qwen35 {
    cfg: ModelConfig,
    rope: RopeParams,
    nk: usize,
    nv: usize,
    dk: usize,
    dv: usize,
    conv_k: usize,
    state_len: usize,
    embd: QTensor,
    output: Option<QTensor>,
    blocks: Vec<Block>,
    out_norm: Vec<f32>,
}

impl Qwen35 {
    pub fn load(g: &GgufFile) -> Result<Qwen35> {
        let arch = "qwen35";
        let mut cfg = read_config(g, arch)?;
        let w = Weights { g };
        let key = |k: &str| format!("{arch}.{k}");
        let req = |k: &str| -> Result<usize> {
            g.get_u64(&key(k))?
                .filter(|&v| v > 0)
                .map(|v| v as usize)
                .ok_or_else(|| Error::model(&g.path, format!("metadata has no positive '{}'", key(k))))
        };
        let (conv_k, nk, nv, dk, inner) =
            (req("ssm.conv_kernel")?, req("ssm.group_count")?, req("ssm.time_step_rank")?, req("ssm.state_size")?, req("ssm.inner_size")?);
        if nv % nk != 0 || inner % nv != 0 {
            return Err(Error::model(
                &g.path,
                format!("{nv} value heads must be a multiple of {nk} key heads and divide ssm.inner_size {inner}"),
            ));
        }
        let dv = inner / nv;
        // multi-token-prediction blocks follow the model's own (llama.cpp runs them only to draft)
        let all_layers = cfg.n_layer;
        let nextn = g.get_u64(&key("nextn_predict_layers"))?.unwrap_or(0) as usize;
        if nextn >= all_layers {
            return Err(Error::model(&g.path, format!("{nextn} prediction layers leave none of {all_layers} blocks")));
        }
        cfg.n_layer = all_layers - nextn;
        let linear: Vec<bool> = match g.get(&key("attention.recurrent_layers")) {
            Some(Value::Array(v)) if v.len() == all_layers || v.len() == cfg.n_layer => {
                v.iter().take(cfg.n_layer).map(|b| b.as_bool().unwrap_or(false)).collect()
            }
            Some(_) => {
                return Err(Error::model(&g.path, format!("'{}' must hold {all_layers} bools", key("attention.recurrent_layers"))))
            }
            None => {
                let every = g.get_u64(&key("full_attention_interval"))?.unwrap_or(4).max(1) as usize;
                (0..cfg.n_layer).map(|i| (i + 1) % every != 0).collect()
            }
        };
        let (d, hd, ff) = (cfg.n_embd, cfg.head_dim, cfg.n_ff);
        let (q_dim, kv_dim) = (cfg.n_head * hd, cfg.kv_dim());
        let conv_dim = 2 * nk * dk + nv * dv;
        let embd = w.matrix("token_embd.weight", cfg.vocab_size, d)?;
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        let (mut state_len, mut kv_layers) = (0, 0);
        for (i, &lin) in linear.iter().enumerate() {
            let n = |s: &str| format!("blk.{i}.{s}");
            let mixer = if lin {
                let conv_at = state_len;
                let delta_at = conv_at + (conv_k - 1) * conv_dim;
                state_len = delta_at + nv * dk * dv;
                Mixer::Linear(Linear {
                    w_qkv: w.matrix(&n("attn_qkv.weight"), conv_dim, d)?,
                    w_z: w.matrix(&n("attn_gate.weight"), nv * dv, d)?,
                    w_a: w.matrix(&n("ssm_alpha.weight"), nv, d)?,
                    w_b: w.matrix(&n("ssm_beta.weight"), nv, d)?,
                    conv: w.matrix(&n("ssm_conv1d.weight"), conv_dim, conv_k)?.to_f32_vec(),
                    a_log: a_log(&w, &n("ssm_a"), nv)?,
                    dt_bias: w.vector(&n("ssm_dt.bias"), nv)?,
                    norm: w.vector(&n("ssm_norm.weight"), dv)?,
                    w_out: w.matrix(&n("ssm_out.weight"), d, nv * dv)?,
                    conv_at,
                    delta_at,
                })
            } else {
                kv_layers += 1;
                Mixer::Attention(Attention {
                    wq: w.matrix(&n("attn_q.weight"), 2 * q_dim, d)?,
                    wk: w.matrix(&n("attn_k.weight"), kv_dim, d)?,
                    wv: w.matrix(&n("attn_v.weight"), kv_dim, d)?,
                    q_norm: w.vector(&n("attn_q_norm.weight"), hd)?,
                    k_norm: w.vector(&n("attn_k_norm.weight"), hd)?,
                    wo: w.matrix(&n("attn_output.weight"), d, q_dim)?,
                    kv_layer: kv_layers - 1,
                })
            };
            blocks.push(Block {
                attn_norm: w.vector(&n("attn_norm.weight"), d)?,
                mixer,
                ffn_norm: w.vector(&n("post_attention_norm.weight"), d)?,
                w_gate: w.matrix(&n("ffn_gate.weight"), ff, d)?,
                w_up: w.matrix(&n("ffn_up.weight"), ff, d)?,
                w_down: w.matrix(&n("ffn_down.weight"), d, ff)?,
            });
        }
        cfg.kv_layers = kv_layers.max(1);
        let out_norm = w.vector("output_norm.weight", d)?;
        let output = if cfg.tied_embeddings { None } else { Some(w.matrix("output.weight", cfg.vocab_size, d)?) };
        let rope = RopeParams::new(RopeStyle::Neox, cfg.rope_dim, cfg.rope_base, &cfg.rope_scaling, None);
        Ok(Qwen35 { cfg, rope, nk, nv, dk, dv, conv_k, state_len, embd, output, blocks, out_norm })
    }
}

/// The backend's rule takes A_log; the file holds `ssm_a = -exp(A_log)`.
fn a_log(w: &Weights, name: &str, nv: usize) -> Result<Vec<f32>> {
    let a = w.vector(name, nv)?;
    if !a.iter().all(|&x| x < 0.0) {
        return Err(Error::model(&w.g.path, format!("tensor '{name}' must hold -exp(A_log) (all negative)")));
    }
    Ok(a.iter().map(|&x| (-x).ln()).collect())
}

impl Model for Qwen35 {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn recurrent_state_len(&self) -> usize {
        self.state_len
    }

    fn weight_types(&self) -> Vec<(String, usize)> {
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        let mut add = |t: &QTensor| *m.entry(t.ty.name().to_string()).or_default() += 1;
        add(&self.embd);
        for b in &self.blocks {
            match &b.mixer {
                Mixer::Linear(l) => [&l.w_qkv, &l.w_z, &l.w_a, &l.w_b, &l.w_out].into_iter().for_each(&mut add),
                Mixer::Attention(a) => [&a.wq, &a.wk, &a.wv, &a.wo].into_iter().for_each(&mut add),
            }
            [&b.w_gate, &b.w_up, &b.w_down].into_iter().for_each(&mut add);
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

impl Qwen35 {
    fn forward_inner(&self, be: &dyn Backend, spans: &mut [Span], interrupted: &dyn Fn() -> bool, hidden: &mut [f32]) -> Result<()> {
        let c = &self.cfg;
        check_hidden(spans, c.n_embd, hidden)?;
        let (d, hd) = (c.n_embd, c.head_dim);
        let (q_dim, kv_dim) = (c.n_head * hd, c.kv_dim());
        let (nk, nv, dk, dv) = (self.nk, self.nv, self.dk, self.dv);
        let conv_dim = 2 * nk * dk + nv * dv;
        // Every sequence's state must be where its cache is: a fresh state at position 0.
        let mut states: Vec<Vec<f32>> = Vec::with_capacity(spans.len());
        for s in spans.iter() {
            match &s.kv.state {
                Some(st) if st.pos == s.kv.len && st.data.len() == self.state_len => states.push(st.data.clone()),
                _ if s.kv.len == 0 => states.push(vec![0f32; self.state_len]),
                _ => return Err(Error::Internal("recurrent state out of step with the cache".into())),
            }
        }
        let plan = BatchPlan::new(spans, c)?;
        let n = plan.n();
        let attn_seqs = plan.attn_seqs(spans);
        let pool = plan.pool.clone().expect("non-empty batch");
        let shape = AttnShape { n_head: c.n_head, n_kv_head: c.n_kv_head, head_dim: hd, scale: 1.0 / (hd as f32).sqrt(), window: None };
        let mut before_last: Vec<Vec<f32>> = states.clone();
        let spans_rows: Vec<(usize, usize)> = spans.iter().zip(&plan.row0s).map(|(s, &r)| (r, s.tokens.len())).collect();

        let mut x = vec![0f32; n * d];
        be.get_rows(&self.embd, &plan.ids, &mut x);
        let mut h = vec![0f32; n * d];
        let mut gate = vec![0f32; n * c.n_ff];
        let mut up = vec![0f32; n * c.n_ff];
        for b in &self.blocks {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            h.copy_from_slice(&x);
            be.rms_norm(&mut h, &b.attn_norm, c.norm_eps);
            match &b.mixer {
                Mixer::Linear(l) => {
                    let mut qkv = vec![0f32; n * conv_dim];
                    let mut z = vec![0f32; n * nv * dv];
                    let mut a = vec![0f32; n * nv];
                    let mut bb = vec![0f32; n * nv];
                    be.matmul(&l.w_qkv, &h, n, &mut qkv);
                    be.matmul(&l.w_z, &h, n, &mut z);
                    be.matmul(&l.w_a, &h, n, &mut a);
                    be.matmul(&l.w_b, &h, n, &mut bb);
                    let mut conv = vec![0f32; n * conv_dim];
                    let mut o = vec![0f32; n * nv * dv];
                    // key heads arrive repeated, one per value head (see linear_tokens)
                    let rule = DeltaRule { nk: nv, nv, dk, dv, a_log: &l.a_log, dt_bias: &l.dt_bias };
                    let layer_state = [(l.conv_at, (self.conv_k - 1) * conv_dim), (l.delta_at, nv * dk * dv)];
                    for (si, &(r0, nt)) in spans_rows.iter().enumerate() {
                        let st = &mut states[si];
                        // all tokens but the last, then the last: the state in between is kept so
                        // that recomputing the last position stays cheap
                        for (t0, t1) in [(r0, r0 + nt - 1), (r0 + nt - 1, r0 + nt)] {
                            if t1 == r0 + nt {
                                for (at, len) in layer_state {
                                    before_last[si][at..at + len].copy_from_slice(&st[at..at + len]);
                                }
                            }
                            if t0 < t1 {
                                self.linear_tokens(be, l, &rule, st, &qkv, &a, &bb, t0..t1, &mut conv, &mut o);
                            }
                        }
                    }
                    be.rms_norm(&mut o, &l.norm, c.norm_eps);
                    be.swiglu(&mut z, &o);
                    be.matmul(&l.w_out, &z, n, &mut h);
                }
                Mixer::Attention(at) => {
                    let mut qg = vec![0f32; n * 2 * q_dim];
                    let mut k = vec![0f32; n * kv_dim];
                    let mut v = vec![0f32; n * kv_dim];
                    be.matmul(&at.wq, &h, n, &mut qg);
                    be.matmul(&at.wk, &h, n, &mut k);
                    be.matmul(&at.wv, &h, n, &mut v);
                    let mut q = vec![0f32; n * q_dim];
                    let mut g = vec![0f32; n * q_dim];
                    for (i, pair) in qg.chunks_exact(2 * hd).enumerate() {
                        q[i * hd..(i + 1) * hd].copy_from_slice(&pair[..hd]);
                        g[i * hd..(i + 1) * hd].copy_from_slice(&pair[hd..]);
                    }
                    be.rms_norm(&mut q, &at.q_norm, c.norm_eps);
                    be.rms_norm(&mut k, &at.k_norm, c.norm_eps);
                    be.rope(&mut q, c.n_head, &mut k, c.n_kv_head, hd, &plan.positions, &self.rope);
                    plan.write_kv(at.kv_layer, &k, &v, kv_dim)?;
                    let mut att = vec![0f32; n * q_dim];
                    be.attention(&pool, at.kv_layer, &attn_seqs, &q, shape, &mut att);
                    be.sigmoid_mul(&mut att, &g);
                    be.matmul(&at.wo, &att, n, &mut h);
                }
            }
            be.add(&mut x, &h);
            h.copy_from_slice(&x);
            be.rms_norm(&mut h, &b.ffn_norm, c.norm_eps);
            be.matmul(&b.w_gate, &h, n, &mut gate);
            be.matmul(&b.w_up, &h, n, &mut up);
            be.swiglu(&mut gate, &up);
            be.matmul(&b.w_down, &gate, n, &mut h);
            be.add(&mut x, &h);
        }
        drop(attn_seqs);
        plan.finish(spans, &x, d, hidden);
        // commit the recurrent states only now that the whole pass succeeded
        for ((s, data), prev) in spans.iter_mut().zip(states).zip(before_last) {
            s.kv.state = Some(RecurrentState { data, pos: s.kv.len, before_last: Some(prev) });
        }
        be.rms_norm(hidden, &self.out_norm, c.norm_eps);
        Ok(())
    }

    /// Rows `t` of one sequence through a linear-attention layer's convolution and delta rule,
    /// advancing its state `st`; writes the rows of `conv` (scratch) and `o`.
    #[allow(clippy::too_many_arguments)]
    fn linear_tokens(
        &self,
        be: &dyn Backend,
        l: &Linear,
        rule: &DeltaRule,
        st: &mut [f32],
        qkv: &[f32],
        a: &[f32],
        b: &[f32],
        t: std::ops::Range<usize>,
        conv: &mut [f32],
        o: &mut [f32],
    ) {
        let (nk, nv, dk, dv) = (self.nk, self.nv, self.dk, self.dv);
        let conv_dim = 2 * nk * dk + nv * dv;
        let (t0, t1) = (t.start, t.end);
        let conv_state = &mut st[l.conv_at..l.conv_at + (self.conv_k - 1) * conv_dim];
        be.causal_conv1d_silu(&qkv[t0 * conv_dim..t1 * conv_dim], conv_dim, &l.conv, conv_state, &mut conv[t0 * conv_dim..t1 * conv_dim]);
        let m = t1 - t0;
        let (mut q, mut k, mut v) = (vec![0f32; m * nk * dk], vec![0f32; m * nk * dk], vec![0f32; m * nv * dv]);
        for i in 0..m {
            let row = &conv[(t0 + i) * conv_dim..(t0 + i + 1) * conv_dim];
            q[i * nk * dk..(i + 1) * nk * dk].copy_from_slice(&row[..nk * dk]);
            k[i * nk * dk..(i + 1) * nk * dk].copy_from_slice(&row[nk * dk..2 * nk * dk]);
            v[i * nv * dv..(i + 1) * nv * dv].copy_from_slice(&row[2 * nk * dk..]);
        }
        // l2norm(x) = rmsnorm(x; eps / dk) / sqrt(dk); q is also scaled by 1 / sqrt(dk)
        let inv = 1.0 / (dk as f32).sqrt();
        be.rms_norm(&mut q, &vec![inv * inv; dk], 1e-6 / dk as f32);
        be.rms_norm(&mut k, &vec![inv; dk], 1e-6 / dk as f32);
        // value heads are tiled (value head h reads key head h % nk): each token's key heads,
        // repeated nv / nk times, give the rule one key head per value head
        if nv != nk {
            let tile = |x: &[f32]| -> Vec<f32> { x.chunks_exact(nk * dk).flat_map(|row| row.repeat(nv / nk)).collect() };
            (q, k) = (tile(&q), tile(&k));
        }
        let io = DeltaIo {
            q: &q,
            k: &k,
            v: &v,
            a: &a[t0 * nv..t1 * nv],
            b: &b[t0 * nv..t1 * nv],
            state: &mut st[l.delta_at..l.delta_at + nv * dk * dv],
            out: &mut o[t0 * nv * dv..t1 * nv * dv],
        };
        be.gated_delta_rule(rule, io);
    }
}
