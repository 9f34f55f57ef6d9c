//! One kernel at a time on host arrays, for the tests that compare each kernel with a CPU
//! reference (`lanner._lanner.cuda_kernel_test`). Shapes are checked here; a wrong one is an
//! `InvalidArgument`, never a kernel reading past a buffer.

use super::device::{DBuf, Gpu};
use super::ops::{self, AttnDims, AttnMeta, BlasScratch, DWeight, MatPath};
use crate::backend::{RopeParams, RopeScaling, RopeStyle};
use crate::error::{Error, Result};
use crate::quant::GgmlType;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A host array crossing the test hook (flat data; shapes are the caller's business).
#[derive(Clone, Debug)]
pub enum HostArray {
    F32(Vec<f32>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    U16(Vec<u16>),
}

#[derive(Clone, Debug)]
pub enum Param {
    Int(i64),
    Float(f64),
    Str(String),
}

fn gpu() -> Result<Arc<Gpu>> {
    static G: OnceLock<std::result::Result<Arc<Gpu>, String>> = OnceLock::new();
    G.get_or_init(|| {
        Gpu::open(0).map_err(|e| match e {
            Error::Device(m) => m,
            o => o.to_string(),
        })
    })
    .clone()
    .map_err(Error::Device)
}

struct Args {
    a: HashMap<String, HostArray>,
    p: HashMap<String, Param>,
}

impl Args {
    fn f32(&self, k: &str) -> Result<&[f32]> {
        match self.a.get(k) {
            Some(HostArray::F32(v)) => Ok(v),
            Some(_) => Err(Error::arg(format!("array '{k}' must be float32"))),
            None => Err(Error::arg(format!("missing array '{k}'"))),
        }
    }
    fn opt_f32(&self, k: &str) -> Result<Option<&[f32]>> {
        if self.a.contains_key(k) {
            self.f32(k).map(Some)
        } else {
            Ok(None)
        }
    }
    fn i32(&self, k: &str) -> Result<&[i32]> {
        match self.a.get(k) {
            Some(HostArray::I32(v)) => Ok(v),
            Some(_) => Err(Error::arg(format!("array '{k}' must be int32"))),
            None => Err(Error::arg(format!("missing array '{k}'"))),
        }
    }
    fn u8(&self, k: &str) -> Result<&[u8]> {
        match self.a.get(k) {
            Some(HostArray::U8(v)) => Ok(v),
            Some(_) => Err(Error::arg(format!("array '{k}' must be uint8"))),
            None => Err(Error::arg(format!("missing array '{k}'"))),
        }
    }
    fn int(&self, k: &str) -> Result<usize> {
        match self.p.get(k) {
            Some(Param::Int(v)) if *v >= 0 => Ok(*v as usize),
            Some(_) => Err(Error::arg(format!("parameter '{k}' must be a non-negative integer"))),
            None => Err(Error::arg(format!("missing parameter '{k}'"))),
        }
    }
    fn int_or(&self, k: &str, d: usize) -> Result<usize> {
        if self.p.contains_key(k) {
            self.int(k)
        } else {
            Ok(d)
        }
    }
    fn float(&self, k: &str) -> Result<f64> {
        match self.p.get(k) {
            Some(Param::Float(v)) => Ok(*v),
            Some(Param::Int(v)) => Ok(*v as f64),
            Some(_) => Err(Error::arg(format!("parameter '{k}' must be a number"))),
            None => Err(Error::arg(format!("missing parameter '{k}'"))),
        }
    }
    /// Dimension `i` (negative from the end) of array `name`, from the `name.shape` parameter
    /// the bindings add.
    fn dim(&self, name: &str, i: isize) -> Option<usize> {
        let Some(Param::Str(s)) = self.p.get(&format!("{name}.shape")) else { return None };
        let d: Vec<usize> = s.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        let i = if i < 0 { d.len() as isize + i } else { i };
        d.get(usize::try_from(i).ok()?).copied()
    }
    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        let Some(Param::Str(s)) = self.p.get(&format!("{name}.shape")) else { return None };
        Some(s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
    }
    fn str(&self, k: &str) -> Result<&str> {
        match self.p.get(k) {
            Some(Param::Str(v)) => Ok(v),
            Some(_) => Err(Error::arg(format!("parameter '{k}' must be a string"))),
            None => Err(Error::arg(format!("missing parameter '{k}'"))),
        }
    }
}

fn check(what: &str, len: usize, want: usize) -> Result<()> {
    if len != want {
        return Err(Error::arg(format!("'{what}' has {len} values, {want} expected")));
    }
    Ok(())
}

fn weight(g: &Gpu, a: &Args) -> Result<DWeight> {
    let ty = crate::formats::hf::parse_quant_type(a.str("type")?)?;
    let (rows, cols) = (a.int("rows")?, a.int("cols")?);
    let rb = ty.row_bytes(cols).ok_or_else(|| Error::arg(format!("cols {cols} is not a whole number of {} blocks", ty.name())))?;
    let w = a.u8("w")?;
    check("w", w.len(), rows * rb)?;
    let t = crate::tensor::QTensor::owned("w", ty, rows, cols, w.to_vec());
    DWeight::upload(g, &t)
}

fn up_f32(g: &Gpu, v: &[f32]) -> Result<DBuf> {
    g.upload_new(v)
}

fn down_f32(g: &Gpu, b: &DBuf, n: usize) -> Result<Vec<f32>> {
    let mut v = vec![0f32; n];
    g.download(&mut v, b.ptr)?;
    Ok(v)
}

/// Run `op` (see tests/test_cuda.py) and return its outputs.
pub fn kernel_test(op: &str, arrays: HashMap<String, HostArray>, params: HashMap<String, Param>) -> Result<HashMap<String, (HostArray, Vec<usize>)>> {
    let g = gpu()?;
    let g = &*g;
    let _x = g.exclusive.lock();
    let a = Args { a: arrays, p: params };
    let mut out = HashMap::new();
    match op {
        "matmul" => {
            let w = weight(g, &a)?;
            let x = a.f32("x")?;
            if x.len() % w.cols != 0 || x.is_empty() {
                return Err(Error::arg("x must be [n_tok, cols]"));
            }
            let n = x.len() / w.cols;
            let path = match a.p.get("path") {
                None => MatPath::Auto,
                Some(_) => match a.str("path")? {
                    "auto" => MatPath::Auto,
                    "matvec" => MatPath::Matvec,
                    "matvec1" => MatPath::Matvec1,
                    "gemm" => MatPath::Gemm,
                    "cublas" => MatPath::Cublas,
                    o => return Err(Error::arg(format!("unknown path '{o}'"))),
                },
            };
            let xb = up_f32(g, x)?;
            let y = g.alloc(n * w.rows * 4)?;
            let mut s = BlasScratch::default();
            ops::matmul(g, &w, xb.ptr, n, y.ptr, path, &mut s)?;
            out.insert("y".into(), (HostArray::F32(down_f32(g, &y, n * w.rows)?), vec![n, w.rows]));
        }
        "get_rows" => {
            let w = weight(g, &a)?;
            let ids = a.i32("ids")?;
            if let Some(bad) = ids.iter().find(|&&i| i < 0 || i as usize >= w.rows) {
                return Err(Error::arg(format!("id {bad} out of range")));
            }
            let ib = g.upload_new(ids)?;
            let o = g.alloc(ids.len() * w.cols * 4)?;
            ops::get_rows(g, &w, ib.ptr, ids.len(), o.ptr)?;
            out.insert("out".into(), (HostArray::F32(down_f32(g, &o, ids.len() * w.cols)?), vec![ids.len(), w.cols]));
        }
        "dequant_bf16" => {
            let w = weight(g, &a)?;
            let o = g.alloc(w.rows * w.cols * 2)?;
            let args = [super::device::Arg::P(w.buf.ptr), super::device::Arg::L(w.row_bytes as i64), super::device::Arg::P(o.ptr), super::device::Arg::I(w.rows as i32), super::device::Arg::I(w.cols as i32)];
            g.launch(&format!("dequant_bf16_{}", w.sfx), (w.rows as u32, 1, 1), (256, 1, 1), &args)?;
            let mut v = vec![0u16; w.rows * w.cols];
            g.download(&mut v, o.ptr)?;
            out.insert("out".into(), (HostArray::U16(v), vec![w.rows, w.cols]));
        }
        "add_rms_norm" => {
            let (x, w) = (a.f32("x")?, a.f32("w")?);
            let dim = w.len();
            if dim == 0 || x.len() % dim != 0 {
                return Err(Error::arg("x must be [n, dim] with dim = len(w)"));
            }
            let n = x.len() / dim;
            let delta = a.opt_f32("delta")?;
            if let Some(d) = delta {
                check("delta", d.len(), x.len())?;
            }
            let (xb, wb) = (up_f32(g, x)?, up_f32(g, w)?);
            let db = delta.map(|d| up_f32(g, d)).transpose()?;
            let ob = g.alloc(x.len() * 4)?;
            ops::add_rms_norm(g, xb.ptr, db.as_ref().map(|b| b.ptr), wb.ptr, ob.ptr, n, dim, a.float("eps")? as f32)?;
            out.insert("x".into(), (HostArray::F32(down_f32(g, &xb, x.len())?), vec![n, dim]));
            out.insert("out".into(), (HostArray::F32(down_f32(g, &ob, x.len())?), vec![n, dim]));
        }
        "rope" => {
            let (x, pos) = (a.f32("x")?, a.i32("pos")?);
            let (nh, hd, rd) = (a.int("n_heads")?, a.int("head_dim")?, a.int("rope_dim")?);
            if rd == 0 || rd % 2 != 0 || rd > hd || hd > 256 {
                return Err(Error::arg("rope_dim must be even, positive and <= head_dim <= 256"));
            }
            check("x", x.len(), pos.len() * nh * hd)?;
            let style = if a.int("neox")? == 1 { RopeStyle::Neox } else { RopeStyle::Norm };
            let p = RopeParams::new(style, rd, a.float("base")? as f32, &RopeScaling::None, None);
            let (xb, pb, fb) = (up_f32(g, x)?, g.upload_new(pos)?, g.upload_new(&p.inv_freq)?);
            ops::rope(g, xb.ptr, nh, hd, pb.ptr, fb.ptr, &p, pos.len())?;
            out.insert("x".into(), (HostArray::F32(down_f32(g, &xb, x.len())?), vec![pos.len(), nh * hd]));
        }
        "attention" => {
            let (q, k, v) = (a.f32("q")?, a.f32("k")?, a.f32("v")?);
            let (row_seq, row_pos) = (a.i32("row_seq")?, a.i32("row_pos")?);
            let (nh, nkv, hd, bs) = (a.int("n_head")?, a.int("n_kv_head")?, a.int("head_dim")?, a.int("block_size")?);
            let n_seq = match a.dim("k", 0) {
                Some(n) if a.dim("k", 2).is_some() => n,
                _ => a.int("n_seq")?,
            };
            if nkv == 0 || nh % nkv != 0 || hd == 0 || hd > 256 || bs == 0 {
                return Err(Error::arg("bad attention shape"));
            }
            let kv_dim = nkv * hd;
            let n_rows = row_seq.len();
            check("q", q.len(), n_rows * nh * hd)?;
            check("row_pos", row_pos.len(), n_rows)?;
            if k.len() != v.len() || k.len() % (n_seq * kv_dim) != 0 {
                return Err(Error::arg("k and v must be [n_seq, max_len, n_kv_head * head_dim]"));
            }
            let max_len = k.len() / (n_seq * kv_dim);
            for (&s, &p) in row_seq.iter().zip(row_pos) {
                if s < 0 || s as usize >= n_seq || p < 0 || p as usize >= max_len {
                    return Err(Error::arg("row_seq / row_pos out of range"));
                }
            }
            // a shuffled block table: sequence s's block j lives in block perm[s * nb + j]
            let nb = max_len.div_ceil(bs);
            let total = n_seq * nb;
            let mut perm: Vec<usize> = (0..total).collect();
            let mut st = 0x9e37_79b9_7f4a_7c15u64;
            for i in (1..total).rev() {
                st ^= st << 13;
                st ^= st >> 7;
                st ^= st << 17;
                perm.swap(i, (st % (i as u64 + 1)) as usize);
            }
            let mut kc = vec![0f32; total * bs * kv_dim];
            let mut vc = vec![0f32; total * bs * kv_dim];
            for s in 0..n_seq {
                for p in 0..max_len {
                    let slot = perm[s * nb + p / bs] * bs + p % bs;
                    let src = (s * max_len + p) * kv_dim;
                    kc[slot * kv_dim..(slot + 1) * kv_dim].copy_from_slice(&k[src..src + kv_dim]);
                    vc[slot * kv_dim..(slot + 1) * kv_dim].copy_from_slice(&v[src..src + kv_dim]);
                }
            }
            let table: Vec<i32> = perm.iter().map(|&b| b as i32).collect();
            let (qb, kb, vb, tb) = (up_f32(g, q)?, up_f32(g, &kc)?, up_f32(g, &vc)?, g.upload_new(&table)?);
            let (sb, pb) = (g.upload_new(row_seq)?, g.upload_new(row_pos)?);
            let max_keys = row_pos.iter().map(|&p| p as usize + 1).max().unwrap_or(1);
            let meta = AttnMeta { block_table: tb.ptr, row_seq: sb.ptr, row_pos: pb.ptr, max_blocks: nb, block_size: bs, n_rows, max_keys };
            let dims = AttnDims { n_head: nh, n_kv_head: nkv, head_dim: hd, scale: a.float("scale")? as f32, window: a.int_or("window", 0)? };
            let splits = match a.int_or("n_splits", 0)? {
                0 => ops::choose_splits(n_rows, nh, max_keys),
                s => s,
            };
            let part = g.alloc(n_rows * nh * splits * (hd + 2) * 4)?;
            let ob = g.alloc_zeroed(n_rows * nh * hd * 4)?;
            let path = if a.p.contains_key("path") { a.str("path")? } else { "split" };
            match path {
                "split" => {
                    // optional subset of rows (the others stay 0)
                    let subset = if a.a.contains_key("rows") { Some(a.i32("rows")?.to_vec()) } else { None };
                    if let Some(r) = &subset {
                        if r.iter().any(|&x| x < 0 || x as usize >= n_rows) {
                            return Err(Error::arg("rows out of range"));
                        }
                    }
                    let rb = subset.as_ref().map(|r| g.upload_new(r)).transpose()?;
                    let mut meta = meta;
                    if let Some(r) = &subset {
                        meta.n_rows = r.len();
                        meta.max_keys = r.iter().map(|&x| row_pos[x as usize] as usize + 1).max().unwrap_or(1);
                    }
                    let per_row = a.int_or("per_row_split", 0)? == 1;
                    ops::attention(g, qb.ptr, kb.ptr, vb.ptr, &meta, &dims, splits, part.ptr, ob.ptr, rb.as_ref().map(|b| b.ptr), per_row)?;
                }
                "prefill" => {
                    // runs of rows of one sequence at consecutive positions
                    let mut sc = ops::PrefillScratch::default();
                    let mut r = 0;
                    while r < n_rows {
                        let mut e = r + 1;
                        while e < n_rows && row_seq[e] == row_seq[r] && row_pos[e] == row_pos[e - 1] + 1 {
                            e += 1;
                        }
                        let table = tb.ptr + (row_seq[r] as usize * nb * 4) as u64;
                        ops::attention_prefill(g, qb.ptr, kb.ptr, vb.ptr, table, r, e - r, row_pos[r] as usize, &dims, bs, &mut sc, ob.ptr)?;
                        r = e;
                    }
                }
                o => return Err(Error::arg(format!("unknown attention path '{o}'"))),
            }
            out.insert("out".into(), (HostArray::F32(down_f32(g, &ob, n_rows * nh * hd)?), vec![n_rows, nh * hd]));
        }
        "swiglu" | "geglu" => {
            let (gate, up) = (a.f32("gate")?, a.f32("up")?);
            check("up", up.len(), gate.len())?;
            let (gb, ub) = (up_f32(g, gate)?, up_f32(g, up)?);
            ops::binary(g, op, gb.ptr, ub.ptr, gate.len())?;
            out.insert("out".into(), (HostArray::F32(down_f32(g, &gb, gate.len())?), a.shape_of("gate").unwrap_or(vec![gate.len()])));
        }
        "argmax" => {
            let l = a.f32("logits")?;
            let vocab = match a.dim("logits", -1) {
                Some(v) => v,
                None => a.int("vocab")?,
            };
            if vocab == 0 || l.len() % vocab != 0 {
                return Err(Error::arg("logits must be [n, vocab]"));
            }
            let n = l.len() / vocab;
            let lb = up_f32(g, l)?;
            let ib = g.alloc(n * 4)?;
            ops::argmax_rows(g, lb.ptr, vocab, n, ib.ptr)?;
            let mut ids = vec![0i32; n];
            g.download(&mut ids, ib.ptr)?;
            out.insert("ids".into(), (HostArray::I32(ids), vec![n]));
        }
        "argmax_logprob" => {
            let l = a.f32("logits")?;
            let vocab = match a.dim("logits", -1) {
                Some(v) => v,
                None => a.int("vocab")?,
            };
            if vocab == 0 || l.len() % vocab != 0 {
                return Err(Error::arg("logits must be [n, vocab]"));
            }
            let n = l.len() / vocab;
            let lb = up_f32(g, l)?;
            let ib = g.alloc(n * 4)?;
            let pb = g.alloc(n * 4)?;
            ops::argmax_logprob(g, lb.ptr, vocab, n, ib.ptr, pb.ptr)?;
            let mut ids = vec![0i32; n];
            g.download(&mut ids, ib.ptr)?;
            out.insert("ids".into(), (HostArray::I32(ids), vec![n]));
            out.insert("logprobs".into(), (HostArray::F32(down_f32(g, &pb, n)?), vec![n]));
        }
        other => return Err(Error::arg(format!("unknown kernel test op '{other}'"))),
    }
    g.sync()?;
    Ok(out)
}

/// The weight type of a test's `type` parameter (re-exported for the bindings).
pub fn parse_type(name: &str) -> Result<GgmlType> {
    crate::formats::hf::parse_quant_type(name)
}
