//! The Llama family's forward pass with every tensor on the GPU: the weights the model file
//! loaded (`models::llama::Llama`) are uploaded once in their GGUF formats, activations and the
//! paged KV cache stay in device memory, and only token ids, positions and block tables go up and
//! the requested hidden rows / logits come down. The arithmetic is the model file's, op for op
//! (same weights, same order), so the CPU backend is its reference.

use super::device::{dev_err, DBuf, Gpu};
use super::ops::{self, AttnDims, AttnMeta, BlasScratch, DWeight, MatPath, PrefillScratch};
use cudarc::driver::sys;
use crate::backend::{Backend, RopeParams};
use crate::batch::Span;
use crate::error::{Error, Result};
use crate::kv::{KvMirror, KvPool};
use crate::models::llama::Llama;
use crate::models::{check_hidden, with_rollback, BatchPlan, Model, ModelConfig};
use std::sync::{Arc, Mutex};

struct DBlock {
    attn_norm: DBuf,
    wq: DWeight,
    wk: DWeight,
    wv: DWeight,
    bq: Option<DBuf>,
    bk: Option<DBuf>,
    bv: Option<DBuf>,
    q_norm: Option<DBuf>,
    k_norm: Option<DBuf>,
    wo: DWeight,
    ffn_norm: DBuf,
    w_gate: DWeight,
    w_up: DWeight,
    w_down: DWeight,
}

/// The device K/V of every layer: `n_slots x kv_dim` f32 each, slot = block * block_size + offset.
pub struct DeviceKv {
    gpu: Arc<Gpu>,
    k: Vec<DBuf>,
    v: Vec<DBuf>,
    kv_dim: usize,
    block_size: usize,
}

impl KvMirror for DeviceKv {
    fn copy_block(&self, from: u32, to: u32) -> Result<()> {
        let _x = self.gpu.exclusive.lock();
        let bytes = self.block_size * self.kv_dim * 4;
        let (f, t) = (from as usize * bytes, to as usize * bytes);
        for l in 0..self.k.len() {
            for b in [&self.k[l], &self.v[l]] {
                self.gpu.copy(b.ptr + t as u64, b.ptr + f as u64, bytes)?;
            }
        }
        Ok(())
    }

    fn read(&self, block: u32, layer: usize, slot: usize, k: &mut [f32], v: &mut [f32]) -> Result<()> {
        let _x = self.gpu.exclusive.lock();
        let off = ((block as usize * self.block_size + slot) * self.kv_dim * 4) as u64;
        self.gpu.download(k, self.k[layer].ptr + off)?;
        self.gpu.download(v, self.v[layer].ptr + off)
    }

    fn write(&self, block: u32, layer: usize, slot: usize, k: &[f32], v: &[f32]) -> Result<()> {
        let _x = self.gpu.exclusive.lock();
        let off = ((block as usize * self.block_size + slot) * self.kv_dim * 4) as u64;
        self.gpu.upload(self.k[layer].ptr + off, k)?;
        self.gpu.upload(self.v[layer].ptr + off, v)
    }
}

/// Activations of the largest batch seen so far (grown on demand).
#[derive(Default)]
struct Scratch {
    cap: usize,
    x: Option<DBuf>,
    h: Option<DBuf>,
    h2: Option<DBuf>,
    q: Option<DBuf>,
    k: Option<DBuf>,
    v: Option<DBuf>,
    att: Option<DBuf>,
    gate: Option<DBuf>,
    up: Option<DBuf>,
    ints: Option<DBuf>,
    ints_cap: usize,
    part: Option<DBuf>,
    part_cap: usize,
    logits_in: Option<DBuf>,
    logits: Option<DBuf>,
    logits_cap: usize,
    /// Greedy picks: 64 ids then 64 log-probabilities.
    picks: Option<DBuf>,
    blas: BlasScratch,
    prefill: PrefillScratch,
    /// Bumped whenever a buffer a captured graph may point to is replaced.
    generation: u64,
}

/// Spans at least this long take the cuBLAS prefill attention.
const PREFILL_MIN_TOKENS: usize = 32;

struct PrefillSpan {
    row0: usize,
    n_tok: usize,
    pos0: usize,
    table: u64,
}

/// Device addresses of one pass's inputs.
struct Step {
    n: usize,
    ids: u64,
    pos: u64,
    slots: u64,
    split: AttnMeta,
    split_rows: Option<u64>,
    splits: usize,
    prefill: Vec<PrefillSpan>,
}

struct Graph(cudarc::driver::CudaGraph);
// SAFETY: a graph is only launched under the `graphs` lock, on the device's one stream.
unsafe impl Send for Graph {}
unsafe impl Sync for Graph {}

/// Captured decode passes by (rows, block-table stride, splits, split rows).
#[derive(Default)]
struct Graphs {
    generation: u64,
    seen: std::collections::HashSet<(usize, usize, usize, usize)>,
    replays: u64,
    captures: u64,
    eager: u64,
    map: std::collections::HashMap<(usize, usize, usize, usize), Graph>,
}

fn p(b: &Option<DBuf>) -> u64 {
    b.as_ref().map_or(0, |b| b.ptr)
}

pub struct CudaLlama {
    cfg: ModelConfig,
    gpu: Arc<Gpu>,
    rope: RopeParams,
    inv_freq: DBuf,
    embd: DWeight,
    blocks: Vec<DBlock>,
    out_norm: DBuf,
    output: Option<DWeight>,
    weight_bytes: usize,
    /// The host model's `weight_types` (the same tensors, uploaded).
    weight_types: Vec<(String, usize)>,
    kv: Mutex<Option<Arc<DeviceKv>>>,
    scratch: Mutex<Scratch>,
    graphs: Mutex<Graphs>,
}

impl CudaLlama {
    /// Upload `m`'s weights to `gpu` (the host copy can then be dropped).
    pub fn new(gpu: Arc<Gpu>, m: &Llama) -> Result<CudaLlama> {
        if m.cfg.head_dim > 256 || m.rope.dim / 2 > 1024 {
            return Err(Error::Device(format!("head dimension {} is larger than the CUDA kernels' 256", m.cfg.head_dim)));
        }
        let gpu_ref = gpu.clone();
        let g = &*gpu_ref;
        let _x = g.exclusive.lock();
        let vec = |v: &[f32]| g.upload_new(v);
        let opt = |v: &Option<Vec<f32>>| v.as_deref().map(vec).transpose();
        let mut blocks = Vec::with_capacity(m.blocks.len());
        let mut weight_bytes = 0;
        for b in &m.blocks {
            let w = |t| -> Result<DWeight> { DWeight::upload(g, t) };
            let db = DBlock {
                attn_norm: vec(&b.attn_norm)?,
                wq: w(&b.wq)?,
                wk: w(&b.wk)?,
                wv: w(&b.wv)?,
                bq: opt(&b.bq)?,
                bk: opt(&b.bk)?,
                bv: opt(&b.bv)?,
                q_norm: opt(&b.q_norm)?,
                k_norm: opt(&b.k_norm)?,
                wo: w(&b.wo)?,
                ffn_norm: vec(&b.ffn_norm)?,
                w_gate: w(&b.w_gate)?,
                w_up: w(&b.w_up)?,
                w_down: w(&b.w_down)?,
            };
            weight_bytes += [&db.wq, &db.wk, &db.wv, &db.wo, &db.w_gate, &db.w_up, &db.w_down].iter().map(|w| w.bytes()).sum::<usize>();
            blocks.push(db);
        }
        let embd = DWeight::upload(g, &m.embd)?;
        let output = m.output.as_ref().map(|t| DWeight::upload(g, t)).transpose()?;
        weight_bytes += output.as_ref().unwrap_or(&embd).bytes();
        Ok(CudaLlama {
            cfg: m.cfg.clone(),
            rope: m.rope.clone(),
            inv_freq: g.upload_new(&m.rope.inv_freq)?,
            embd,
            blocks,
            out_norm: vec(&m.out_norm)?,
            output,
            weight_bytes,
            weight_types: m.weight_types(),
            kv: Mutex::new(None),
            scratch: Mutex::new(Scratch::default()),
            graphs: Mutex::new(Graphs::default()),
            gpu,
        })
    }

    /// Bytes of weights read per decoded token (every matrix once, the embedding row aside).
    pub fn weight_bytes_per_token(&self) -> usize {
        self.weight_bytes
    }

    fn grow(&self, s: &mut Scratch, n: usize) -> Result<()> {
        if n <= s.cap {
            return Ok(());
        }
        let c = &self.cfg;
        let n = n.next_power_of_two().max(8);
        let f = |len: usize| -> Result<Option<DBuf>> { Ok(Some(self.gpu.alloc(len * 4)?)) };
        let (q_dim, kv_dim) = (c.n_head * c.head_dim, c.kv_dim());
        // free the old ones first (they may be large)
        let generation = s.generation + 1;
        *s = Scratch { blas: std::mem::take(&mut s.blas), prefill: std::mem::take(&mut s.prefill), generation, ..Default::default() };
        s.x = f(n * c.n_embd)?;
        s.h = f(n * c.n_embd)?;
        s.h2 = f(n * c.n_embd)?;
        s.q = f(n * q_dim)?;
        s.k = f(n * kv_dim)?;
        s.v = f(n * kv_dim)?;
        s.att = f(n * q_dim)?;
        s.gate = f(n * c.n_ff)?;
        s.up = f(n * c.n_ff)?;
        s.cap = n;
        Ok(())
    }

    fn forward_inner(&self, spans: &mut [Span], interrupted: &dyn Fn() -> bool, hidden: &mut [f32]) -> Result<()> {
        // the whole pass, including the KV block copies reserving room may make, owns the stream
        let _x = self.gpu.exclusive.lock();
        let c = &self.cfg;
        check_hidden(spans, c.n_embd, hidden)?;
        let kv = self.kv.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let kv = kv.ok_or_else(|| Error::Internal("the CUDA model has no KV cache bound".into()))?;
        let plan = BatchPlan::new(spans, c)?;
        let n = plan.n();
        if n == 0 {
            return Ok(());
        }
        if interrupted() {
            return Err(Error::Interrupted);
        }
        let g = &*self.gpu;
        let d = c.n_embd;
        let mut s = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        self.grow(&mut s, n)?;

        // Which spans take the tensor-core prefill path; the other rows go through the split kernel.
        let blas = g.blas.is_ok() && std::env::var("LANNER_CUDA_PREFILL").map_or(true, |v| v != "split");
        let prefill: Vec<bool> = spans.iter().map(|sp| blas && sp.tokens.len() >= PREFILL_MIN_TOKENS).collect();
        let split_rows: Vec<i32> = spans
            .iter()
            .zip(&plan.row0s)
            .zip(&prefill)
            .filter(|(_, &pf)| !pf)
            .flat_map(|((sp, &r0), _)| (r0..r0 + sp.tokens.len()).map(|r| r as i32))
            .collect();

        // token ids, positions, slots, per-row sequence, block tables, split rows: one upload
        let bs = kv.block_size;
        let max_blocks = spans.iter().map(|s| s.kv.blocks.len()).max().unwrap_or(1).max(1).next_power_of_two();
        let mut ints: Vec<i32> = Vec::with_capacity(4 * n + spans.len() * max_blocks + split_rows.len());
        ints.extend(plan.ids.iter().map(|&t| t as i32));
        ints.extend(plan.positions.iter().map(|&p| p as i32));
        ints.extend(plan.slots.iter().map(|&(b, o)| (b as usize * bs + o) as i32));
        for (i, sp) in spans.iter().enumerate() {
            ints.extend(std::iter::repeat_n(i as i32, sp.tokens.len()));
        }
        for sp in spans.iter() {
            ints.extend(sp.kv.blocks.iter().map(|&b| b as i32));
            ints.extend(std::iter::repeat_n(0, max_blocks - sp.kv.blocks.len()));
        }
        let rows_at = ints.len();
        ints.extend_from_slice(&split_rows);
        if ints.len() > s.ints_cap {
            s.ints = None;
            s.ints = Some(g.alloc(ints.len().next_power_of_two() * 4)?);
            s.ints_cap = ints.len().next_power_of_two();
            s.generation += 1;
        }
        let ib = p(&s.ints);
        g.upload(ib, &ints)?;
        let at = |i: usize| ib + 4 * i as u64;
        let table = at(4 * n);
        let max_keys = split_rows.iter().map(|&r| plan.positions[r as usize] + 1).max().unwrap_or(1);
        let n_split_rows = split_rows.len();
        let splits = ops::choose_splits(n_split_rows.max(1), c.n_head, max_keys).next_power_of_two();
        let part_len = n_split_rows * c.n_head * splits * (c.head_dim + 2);
        if part_len > s.part_cap {
            s.part = None;
            s.part = Some(g.alloc(part_len * 4)?);
            s.part_cap = part_len;
            s.generation += 1;
        }
        let spans_pf: Vec<PrefillSpan> = spans
            .iter()
            .enumerate()
            .zip(&plan.row0s)
            .filter(|((i, _), _)| prefill[*i])
            .map(|((i, sp), &row0)| PrefillSpan { row0, n_tok: sp.tokens.len(), pos0: sp.kv.len, table: table + (i * max_blocks * 4) as u64 })
            .collect();
        let step = Step {
            n,
            ids: at(0),
            pos: at(n),
            slots: at(2 * n),
            split: AttnMeta { block_table: table, row_seq: at(3 * n), row_pos: at(n), max_blocks, block_size: bs, n_rows: n_split_rows, max_keys },
            split_rows: if n_split_rows == n { None } else { Some(at(rows_at)) },
            splits,
            prefill: spans_pf,
        };

        // Decode steps (no prefill span, a few rows) replay a CUDA graph of the whole pass.
        let graphable = g.profile.is_none() && step.prefill.is_empty() && n <= ops::MATVEC_MAX_TOKENS && std::env::var("LANNER_CUDA_GRAPHS").map_or(true, |v| v != "0");
        if graphable {
            let key = (n, max_blocks, splits, n_split_rows);
            let mut graphs = self.graphs.lock().unwrap_or_else(|e| e.into_inner());
            if graphs.generation != s.generation {
                graphs.map.clear();
                graphs.seen.clear();
                graphs.generation = s.generation;
            }
            if let Some(gr) = graphs.map.get(&key) {
                gr.0.launch().map_err(|e| dev_err("CUDA graph launch", e))?;
                graphs.replays += 1;
            } else if graphs.seen.contains(&key) {
                g.stream.begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED).map_err(|e| dev_err("begin graph capture", e))?;
                let r = self.layers(&mut s, &kv, &step);
                let gr = g.stream.end_capture(sys::CUgraphInstantiate_flags::CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH);
                r?;
                let gr = gr.map_err(|e| dev_err("end graph capture", e))?.ok_or_else(|| Error::Device("graph capture produced no graph".into()))?;
                gr.launch().map_err(|e| dev_err("CUDA graph launch", e))?;
                graphs.map.insert(key, Graph(gr));
                graphs.captures += 1;
            } else {
                graphs.seen.insert(key);
                graphs.eager += 1;
                self.layers(&mut s, &kv, &step)?;
            }
        } else {
            self.graphs.lock().unwrap_or_else(|e| e.into_inner()).eager += 1;
            self.layers(&mut s, &kv, &step)?;
        }
        // the rows each span asked for (final norm in h)
        let h = p(&s.h);
        let mut o = 0;
        for (sp, &row0) in spans.iter().zip(&plan.row0s) {
            let nt = sp.tokens.len();
            let want = sp.want.rows(nt);
            if want > 0 {
                let r0 = row0 + nt - want;
                g.download(&mut hidden[o * d..(o + want) * d], h + (r0 * d * 4) as u64)?;
                o += want;
            }
        }
        g.sync()?;
        for sp in spans.iter_mut() {
            sp.kv.len += sp.tokens.len();
        }
        Ok(())
    }

    /// Every kernel of one pass, enqueued on the stream (no copies, no waits: capturable).
    fn layers(&self, s: &mut Scratch, kv: &DeviceKv, st: &Step) -> Result<()> {
        let c = &self.cfg;
        let g = &*self.gpu;
        let n = st.n;
        let (d, hd) = (c.n_embd, c.head_dim);
        let (q_dim, kv_dim) = (c.n_head * hd, c.kv_dim());
        let dims = AttnDims {
            n_head: c.n_head,
            n_kv_head: c.n_kv_head,
            head_dim: hd,
            scale: 1.0 / (hd as f32).sqrt(),
            window: c.sliding_window.unwrap_or(0),
        };
        let (x, h, h2, q, k, v, att, gate, up) = (p(&s.x), p(&s.h), p(&s.h2), p(&s.q), p(&s.k), p(&s.v), p(&s.att), p(&s.gate), p(&s.up));
        let part = p(&s.part);
        let (blas, pf) = (&mut s.blas, &mut s.prefill);
        let mm = |w: &DWeight, input: u64, out: u64, blas: &mut BlasScratch| ops::matmul(g, w, input, n, out, MatPath::Auto, blas);
        ops::get_rows(g, &self.embd, st.ids, n, x)?;
        let mut pending: Option<u64> = None; // residual still to be added into x
        for (layer, b) in self.blocks.iter().enumerate() {
            ops::add_rms_norm(g, x, pending.take(), b.attn_norm.ptr, h, n, d, c.norm_eps)?;
            ops::matmul_group(g, &[(&b.wq, q), (&b.wk, k), (&b.wv, v)], h, n, blas)?;
            for (bias, t, dim) in [(&b.bq, q, q_dim), (&b.bk, k, kv_dim), (&b.bv, v, kv_dim)] {
                if let Some(bias) = bias {
                    ops::add_bias(g, t, bias.ptr, n, dim)?;
                }
            }
            if let (Some(qn), Some(kn)) = (&b.q_norm, &b.k_norm) {
                ops::add_rms_norm(g, q, None, qn.ptr, q, n * c.n_head, hd, c.norm_eps)?;
                ops::add_rms_norm(g, k, None, kn.ptr, k, n * c.n_kv_head, hd, c.norm_eps)?;
            }
            ops::rope(g, q, c.n_head, hd, st.pos, self.inv_freq.ptr, &self.rope, n)?;
            ops::rope(g, k, c.n_kv_head, hd, st.pos, self.inv_freq.ptr, &self.rope, n)?;
            let (kc, vc) = (kv.k[layer].ptr, kv.v[layer].ptr);
            ops::kv_store(g, k, v, kc, vc, st.slots, kv_dim, n)?;
            if st.split.n_rows > 0 {
                ops::attention(g, q, kc, vc, &st.split, &dims, st.splits, part, att, st.split_rows, true)?;
            }
            for sp in &st.prefill {
                ops::attention_prefill(g, q, kc, vc, sp.table, sp.row0, sp.n_tok, sp.pos0, &dims, kv.block_size, pf, att)?;
            }
            mm(&b.wo, att, h2, blas)?;
            ops::add_rms_norm(g, x, Some(h2), b.ffn_norm.ptr, h, n, d, c.norm_eps)?;
            ops::matmul_group(g, &[(&b.w_gate, gate), (&b.w_up, up)], h, n, blas)?;
            ops::binary(g, "swiglu", gate, up, n * c.n_ff)?;
            mm(&b.w_down, gate, h2, blas)?;
            pending = Some(h2);
        }
        // final norm into h (x keeps the residual stream)
        ops::add_rms_norm(g, x, pending, self.out_norm.ptr, h, n, d, c.norm_eps)
    }

    fn output_greedy_inner(&self, hidden: &[f32], n: usize) -> Result<Vec<(u32, f32)>> {
        let _x = self.gpu.exclusive.lock();
        let g = &*self.gpu;
        let w = self.output.as_ref().unwrap_or(&self.embd);
        let mut s = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        self.logits_room(&mut s, n)?;
        let (inp, out) = (p(&s.logits_in), p(&s.logits));
        if s.picks.is_none() {
            s.picks = Some(g.alloc(8 * 64)?);
        }
        let picks = p(&s.picks);
        let mut ids = vec![0i32; n];
        let mut lps = vec![0f32; n];
        g.upload(inp, hidden)?;
        for r0 in (0..n).step_by(64) {
            let m = (n - r0).min(64);
            ops::matmul(g, w, inp + (r0 * self.cfg.n_embd * 4) as u64, m, out, MatPath::Auto, &mut s.blas)?;
            ops::argmax_logprob(g, out, w.rows, m, picks, picks + 256)?;
            g.download(&mut ids[r0..r0 + m], picks)?;
            g.download(&mut lps[r0..r0 + m], picks + 256)?;
        }
        Ok(ids.into_iter().zip(lps).map(|(i, l)| (i as u32, l)).collect())
    }

    fn logits_room(&self, s: &mut Scratch, n: usize) -> Result<()> {
        let g = &*self.gpu;
        let rows = self.output.as_ref().unwrap_or(&self.embd).rows;
        if n > s.logits_cap {
            s.logits = None;
            s.logits_in = None;
            s.logits_in = Some(g.alloc(n * self.cfg.n_embd * 4)?);
            s.logits = Some(g.alloc(n.max(64) * rows * 4)?);
            s.logits_cap = n;
        }
        Ok(())
    }

    fn output_inner(&self, hidden: &[f32], n: usize, logits: &mut [f32]) -> Result<()> {
        let _x = self.gpu.exclusive.lock();
        let g = &*self.gpu;
        let w = self.output.as_ref().unwrap_or(&self.embd);
        let mut s = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        self.logits_room(&mut s, n)?;
        let (inp, out) = (p(&s.logits_in), p(&s.logits));
        g.upload(inp, hidden)?;
        ops::matmul(g, w, inp, n, out, MatPath::Auto, &mut s.blas)?;
        g.download(logits, out)
    }
}

impl Model for CudaLlama {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn weight_types(&self) -> Vec<(String, usize)> {
        self.weight_types.clone()
    }

    fn forward(&self, _be: &dyn Backend, spans: &mut [Span], interrupted: &dyn Fn() -> bool, hidden: &mut [f32]) -> Result<()> {
        with_rollback(spans, |spans| self.forward_inner(spans, interrupted, hidden))
    }

    fn output(&self, _be: &dyn Backend, hidden: &[f32], n: usize, logits: &mut [f32]) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.output_inner(hidden, n, logits)
    }

    fn bind_kv(&self, pool: &Arc<KvPool>) -> Result<()> {
        let _x = self.gpu.exclusive.lock();
        let slots = pool.n_blocks * pool.block_size;
        let bytes = slots * pool.kv_dim * 4;
        let mut k = Vec::with_capacity(pool.n_layers);
        let mut v = Vec::with_capacity(pool.n_layers);
        for _ in 0..pool.n_layers {
            k.push(self.gpu.alloc_zeroed(bytes)?);
            v.push(self.gpu.alloc_zeroed(bytes)?);
        }
        let dk = Arc::new(DeviceKv { gpu: self.gpu.clone(), k, v, kv_dim: pool.kv_dim, block_size: pool.block_size });
        pool.set_mirror(dk.clone());
        *self.kv.lock().unwrap_or_else(|e| e.into_inner()) = Some(dk);
        Ok(())
    }

    fn device(&self) -> String {
        let blas = if self.gpu.blas.is_ok() { "cuBLAS" } else { "no cuBLAS" };
        format!(
            "cuda:{} ({}, {:.0} GiB, {blas}, kernels: {})",
            self.gpu.ordinal,
            self.gpu.name,
            self.gpu.total_mem as f64 / (1u64 << 30) as f64,
            self.gpu.kernels_from
        )
    }

    fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }

    fn greedy_on_device(&self) -> bool {
        true
    }

    fn output_greedy(&self, hidden: &[f32], n: usize) -> Option<Result<Vec<(u32, f32)>>> {
        Some(self.output_greedy_inner(hidden, n))
    }

    fn max_step_tokens(&self) -> Option<usize> {
        // activations of 4,096 tokens are a few hundred MB; weights are read once per pass
        Some(4096)
    }

    fn counters(&self) -> Vec<(String, i64)> {
        let g = self.graphs.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = vec![
            ("graph_replays".into(), g.replays as i64),
            ("graph_captures".into(), g.captures as i64),
            ("eager_passes".into(), g.eager as i64),
        ];
        // LANNER_CUDA_PROFILE=1: microseconds and calls per kernel
        for (name, calls, us) in self.gpu.profile_table() {
            c.push((format!("us:{name}"), us as i64));
            c.push((format!("calls:{name}"), calls as i64));
        }
        c
    }
}

impl Drop for CudaLlama {
    fn drop(&mut self) {
        let _ = self.gpu.sync();
    }
}
