//! Typed launchers for the kernels of `cuda/` (argument order and launch shapes as in
//! `cuda/CONTRACT.md`), and the choice of matrix-product path.

use super::device::{Arg, DBuf, Gpu};
use crate::backend::RopeParams;
use crate::error::{Error, Result};
use crate::quant::GgmlType;
use crate::tensor::QTensor;

/// The kernel-name suffix of a weight type; None when the GPU has no kernels for it.
pub fn type_suffix(ty: GgmlType) -> Option<&'static str> {
    Some(match ty {
        GgmlType::F32 => "f32",
        GgmlType::F16 => "f16",
        GgmlType::BF16 => "bf16",
        GgmlType::Q4_0 => "q4_0",
        GgmlType::Q4_1 => "q4_1",
        GgmlType::Q5_0 => "q5_0",
        GgmlType::Q5_1 => "q5_1",
        GgmlType::Q8_0 => "q8_0",
        GgmlType::Q2_K => "q2_k",
        GgmlType::Q3_K => "q3_k",
        GgmlType::Q4_K => "q4_k",
        GgmlType::Q5_K => "q5_k",
        GgmlType::Q6_K => "q6_k",
        _ => return None,
    })
}

/// A weight matrix in device memory, in its GGUF block format.
pub struct DWeight {
    pub name: String,
    pub ty: GgmlType,
    pub sfx: &'static str,
    pub rows: usize,
    pub cols: usize,
    pub row_bytes: usize,
    pub buf: DBuf,
}

impl DWeight {
    pub fn upload(gpu: &Gpu, t: &QTensor) -> Result<DWeight> {
        let sfx = type_suffix(t.ty).ok_or_else(|| {
            Error::Device(format!("tensor '{}' has type {}, which the CUDA backend does not run", t.name, t.ty.name()))
        })?;
        Ok(DWeight {
            name: t.name.clone(),
            ty: t.ty,
            sfx,
            rows: t.rows,
            cols: t.cols,
            row_bytes: t.row_bytes(),
            buf: gpu.upload_new(t.data())?,
        })
    }

    pub fn bytes(&self) -> usize {
        self.buf.bytes
    }
}

/// Which kernel computes a matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatPath {
    Auto,
    /// One pass over the weights for up to 8 tokens (decode): `matvec2` for float weights
    /// (unless `LANNER_CUDA_MATVEC=1`), `matvec` otherwise.
    Matvec,
    /// The first float matvec (one warp per row), for comparison.
    Matvec1,
    /// The own tiled kernel (f32).
    Gemm,
    /// Weights dequantized to BF16 (unless already BF16), activations rounded to BF16, cuBLAS
    /// with f32 accumulation.
    Cublas,
}

pub const MATVEC_MAX_TOKENS: usize = 8;

fn matvec1_forced() -> bool {
    static F: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *F.get_or_init(|| std::env::var("LANNER_CUDA_MATVEC").is_ok_and(|v| v == "1"))
}

/// Scratch for the cuBLAS path: BF16 copies of one weight matrix and of the activations.
#[derive(Default)]
pub struct BlasScratch {
    pub w: Option<DBuf>,
    pub x: Option<DBuf>,
}

fn ensure(gpu: &Gpu, slot: &mut Option<DBuf>, bytes: usize) -> Result<u64> {
    if slot.as_ref().is_none_or(|b| b.bytes < bytes) {
        *slot = None;
        *slot = Some(gpu.alloc(bytes)?);
    }
    Ok(slot.as_ref().unwrap().ptr)
}

/// Several products of the same input (Q/K/V; gate/up): on the cuBLAS path the input is
/// rounded to BF16 once for all of them.
pub fn matmul_group(gpu: &Gpu, ws: &[(&DWeight, u64)], x: u64, n: usize, scratch: &mut BlasScratch) -> Result<()> {
    let blas = n > MATVEC_MAX_TOKENS && gpu.blas.is_ok();
    for (i, &(w, y)) in ws.iter().enumerate() {
        let same_cols = i > 0 && ws[i - 1].0.cols == w.cols;
        matmul_inner(gpu, w, x, n, y, MatPath::Auto, scratch, blas && same_cols)?;
    }
    Ok(())
}

/// `y[t * rows + r] = W[r] . x[t]` for `t < n`.
pub fn matmul(gpu: &Gpu, w: &DWeight, x: u64, n: usize, y: u64, path: MatPath, scratch: &mut BlasScratch) -> Result<()> {
    matmul_inner(gpu, w, x, n, y, path, scratch, false)
}

/// `x_ready`: the cuBLAS path's BF16 copy of `x` was made by the previous call.
#[allow(clippy::too_many_arguments)]
fn matmul_inner(gpu: &Gpu, w: &DWeight, x: u64, n: usize, y: u64, path: MatPath, scratch: &mut BlasScratch, x_ready: bool) -> Result<()> {
    let path = match path {
        MatPath::Auto if n <= MATVEC_MAX_TOKENS => MatPath::Matvec,
        MatPath::Auto if gpu.blas.is_ok() => MatPath::Cublas,
        MatPath::Auto => MatPath::Gemm,
        p => p,
    };
    let (rows, cols) = (w.rows as i32, w.cols as i32);
    let wargs = [Arg::P(w.buf.ptr), Arg::L(w.row_bytes as i64)];
    match path {
        MatPath::Matvec | MatPath::Matvec1 => {
            // matvec2 measured faster on the H200 for rows up to 16 KB (14336x4096 bf16: 31.9 vs
            // 37.5 us; 128256x4096: 233 vs 280 us) and slower on longer rows (4096x14336: 75.6 vs
            // 33.7 us), which keep the one-warp-per-row kernel (bench/results/cuda_h200_run3)
            let row_bytes_ok = w.cols * if w.sfx == "f32" { 4 } else { 2 } <= 16384;
            let v2 = path == MatPath::Matvec && matches!(w.sfx, "f32" | "f16" | "bf16") && row_bytes_ok && !matvec1_forced();
            for t0 in (0..n).step_by(MATVEC_MAX_TOKENS) {
                let nt = (n - t0).min(MATVEC_MAX_TOKENS);
                let args = [wargs[0], wargs[1], Arg::P(x + (t0 * w.cols * 4) as u64), Arg::P(y + (t0 * w.rows * 4) as u64), Arg::I(rows), Arg::I(cols), Arg::I(nt as i32)];
                if v2 {
                    // rows per block as in cuda/CONTRACT.md "Round 3"
                    let b = w.cols as u64 * if w.sfx == "f32" { 4 } else { 2 };
                    let mut r: u32 = if b <= 4096 { 8 } else if b <= 8192 { 4 } else if b <= 16384 { 2 } else { 1 };
                    while r > 1 && (w.rows as u32).div_ceil(r) < 512 {
                        r /= 2;
                    }
                    gpu.launch(&format!("matvec2_{}", w.sfx), ((w.rows as u32).div_ceil(r), 1, 1), (256, 1, 1), &args)?;
                } else {
                    gpu.launch(&format!("matvec_{}", w.sfx), (w.rows.div_ceil(8) as u32, 1, 1), (32, 8, 1), &args)?;
                }
            }
            Ok(())
        }
        MatPath::Gemm => {
            let args = [wargs[0], wargs[1], Arg::P(x), Arg::P(y), Arg::I(rows), Arg::I(cols), Arg::I(n as i32)];
            gpu.launch(&format!("gemm_{}", w.sfx), (w.rows.div_ceil(64) as u32, n.div_ceil(64) as u32, 1), (16, 16, 1), &args)
        }
        MatPath::Cublas => {
            let blas = gpu.blas.as_ref().map_err(|why| Error::Device(format!("cuBLAS is not available: {why}")))?;
            let blas = blas.lock().unwrap_or_else(|e| e.into_inner());
            let wb = if w.ty == GgmlType::BF16 && w.row_bytes == w.cols * 2 {
                w.buf.ptr
            } else {
                let p = ensure(gpu, &mut scratch.w, w.rows * w.cols * 2)?;
                gpu.launch(&format!("dequant_bf16_{}", w.sfx), (w.rows as u32, 1, 1), (256, 1, 1), &[wargs[0], wargs[1], Arg::P(p), Arg::I(rows), Arg::I(cols)])?;
                p
            };
            let xb = ensure(gpu, &mut scratch.x, n * w.cols * 2)?;
            let nx = (n * w.cols) as i64;
            if !x_ready {
                gpu.launch("f32_to_bf16", ((nx as usize).div_ceil(256) as u32, 1, 1), (256, 1, 1), &[Arg::P(x), Arg::P(xb), Arg::L(nx)])?;
            }
            use cudarc::cublas::sys as cb;
            let (alpha, beta) = (1f32, 0f32);
            let t = gpu.profile_start()?;
            // Row-major W [rows, cols] is column-major A (cols x rows); Y^T = A^T X^T in
            // column-major terms: m = rows, n = tokens, k = cols.
            // SAFETY: all three buffers are live and sized rows*cols, n*cols, n*rows.
            unsafe {
                cudarc::cublas::result::gemm_ex(
                    *blas.handle(),
                    cb::cublasOperation_t::CUBLAS_OP_T,
                    cb::cublasOperation_t::CUBLAS_OP_N,
                    rows,
                    n as i32,
                    cols,
                    &alpha as *const f32 as *const _,
                    wb as *const _,
                    cb::cudaDataType_t::CUDA_R_16BF,
                    cols,
                    xb as *const _,
                    cb::cudaDataType_t::CUDA_R_16BF,
                    cols,
                    &beta as *const f32 as *const _,
                    y as *mut _,
                    cb::cudaDataType_t::CUDA_R_32F,
                    rows,
                    cb::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                    cb::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                )
            }
            .map_err(|e| Error::Device(format!("cuBLAS GemmEx on {}: {e:?}", w.name)))?;
            gpu.profile_end(t, "cublas_gemm")
        }
        MatPath::Auto => unreachable!(),
    }
}

fn blocks256(n: usize) -> (u32, u32, u32) {
    (n.div_ceil(256).max(1) as u32, 1, 1)
}

pub fn get_rows(gpu: &Gpu, w: &DWeight, ids: u64, n: usize, out: u64) -> Result<()> {
    let args = [Arg::P(w.buf.ptr), Arg::L(w.row_bytes as i64), Arg::P(ids), Arg::P(out), Arg::I(n as i32), Arg::I(w.cols as i32)];
    gpu.launch(&format!("get_rows_{}", w.sfx), (n as u32, 1, 1), (256, 1, 1), &args)
}

/// For each of `n_rows` rows of `dim`: x += delta (when given), out = rmsnorm(x) * w.
pub fn add_rms_norm(gpu: &Gpu, x: u64, delta: Option<u64>, w: u64, out: u64, n_rows: usize, dim: usize, eps: f32) -> Result<()> {
    let args = [Arg::P(x), Arg::P(delta.unwrap_or(0)), Arg::P(w), Arg::P(out), Arg::I(dim as i32), Arg::F(eps)];
    gpu.launch("add_rms_norm", (n_rows as u32, 1, 1), (256, 1, 1), &args)
}

pub fn add_bias(gpu: &Gpu, x: u64, b: u64, n_rows: usize, dim: usize) -> Result<()> {
    gpu.launch("add_bias", blocks256(n_rows * dim), (256, 1, 1), &[Arg::P(x), Arg::P(b), Arg::I(n_rows as i32), Arg::I(dim as i32)])
}

/// `name` is one of add, swiglu, geglu: x op= y over n values.
pub fn binary(gpu: &Gpu, name: &str, x: u64, y: u64, n: usize) -> Result<()> {
    gpu.launch(name, blocks256(n), (256, 1, 1), &[Arg::P(x), Arg::P(y), Arg::L(n as i64)])
}

pub fn scale(gpu: &Gpu, x: u64, s: f32, n: usize) -> Result<()> {
    gpu.launch("scale", blocks256(n), (256, 1, 1), &[Arg::P(x), Arg::F(s), Arg::L(n as i64)])
}

/// Rotate `n_tok` rows of `n_heads` heads; `inv_freq` holds `p.inv_freq` (f64) on the device.
pub fn rope(gpu: &Gpu, x: u64, n_heads: usize, head_dim: usize, pos: u64, inv_freq: u64, p: &RopeParams, n_tok: usize) -> Result<()> {
    let neox = matches!(p.style, crate::backend::RopeStyle::Neox) as i32;
    let args = [
        Arg::P(x),
        Arg::I(n_heads as i32),
        Arg::I(head_dim as i32),
        Arg::I(p.dim as i32),
        Arg::P(pos),
        Arg::P(inv_freq),
        Arg::F(p.pos_scale),
        Arg::F(p.mscale),
        Arg::I(neox),
        Arg::I(n_tok as i32),
    ];
    gpu.launch("rope", (n_tok as u32, n_heads as u32, 1), ((p.dim / 2) as u32, 1, 1), &args)
}

pub fn kv_store(gpu: &Gpu, k: u64, v: u64, kc: u64, vc: u64, slots: u64, kv_dim: usize, n_tok: usize) -> Result<()> {
    let args = [Arg::P(k), Arg::P(v), Arg::P(kc), Arg::P(vc), Arg::P(slots), Arg::I(kv_dim as i32), Arg::I(n_tok as i32)];
    gpu.launch("kv_store", (n_tok as u32, 1, 1), (256, 1, 1), &args)
}

/// Where the rows of an attention call find their keys.
pub struct AttnMeta {
    pub block_table: u64,
    pub row_seq: u64,
    pub row_pos: u64,
    pub max_blocks: usize,
    pub block_size: usize,
    pub n_rows: usize,
    /// Most keys any row sees.
    pub max_keys: usize,
}

pub struct AttnDims {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub scale: f32,
    pub window: usize,
}

/// How many splits of the key range (flash-decoding): enough (row, head, split) blocks to fill
/// the GPU when there are few rows, one split when there are many.
pub fn choose_splits(n_rows: usize, n_head: usize, max_keys: usize) -> usize {
    let blocks = n_rows * n_head;
    if blocks >= 512 || max_keys <= 256 {
        return 1;
    }
    (512 / blocks.max(1)).min(max_keys.div_ceil(128)).clamp(1, 64)
}

/// Attention over the paged cache of one layer for `m.n_rows` rows (or, with `rows`, the
/// `n_rows` rows listed there, a device array); `part` must hold
/// `n_rows * n_head * n_splits * (head_dim + 2)` floats. `fixed_split`: every row splits its own
/// keys evenly (graph replay), else one split length from `m.max_keys`.
#[allow(clippy::too_many_arguments)]
pub fn attention(gpu: &Gpu, q: u64, kc: u64, vc: u64, m: &AttnMeta, d: &AttnDims, n_splits: usize, part: u64, out: u64, rows: Option<u64>, per_row_split: bool) -> Result<()> {
    let keys = if d.window > 0 { m.max_keys.min(d.window) } else { m.max_keys };
    let split_len = if per_row_split { 0 } else { keys.div_ceil(n_splits).max(1) };
    let part_o = part;
    let part_ml = part + (m.n_rows * d.n_head * n_splits * d.head_dim * 4) as u64;
    let args = [
        Arg::P(q),
        Arg::P(kc),
        Arg::P(vc),
        Arg::P(m.block_table),
        Arg::P(m.row_seq),
        Arg::P(m.row_pos),
        Arg::P(part_o),
        Arg::P(part_ml),
        Arg::I(d.n_head as i32),
        Arg::I(d.n_kv_head as i32),
        Arg::I(d.head_dim as i32),
        Arg::I(m.block_size as i32),
        Arg::I(m.max_blocks as i32),
        Arg::F(d.scale),
        Arg::I(d.window as i32),
        Arg::I(n_splits as i32),
        Arg::I(split_len as i32),
        Arg::P(rows.unwrap_or(0)),
    ];
    gpu.launch("attention_split", (m.n_rows as u32, d.n_head as u32, n_splits as u32), (128, 1, 1), &args)?;
    let args = [Arg::P(part_o), Arg::P(part_ml), Arg::P(out), Arg::I(d.n_head as i32), Arg::I(d.head_dim as i32), Arg::I(n_splits as i32), Arg::P(rows.unwrap_or(0))];
    gpu.launch("attention_combine", (m.n_rows as u32, d.n_head as u32, 1), (d.head_dim as u32, 1, 1), &args)
}

/// Greedy choice and its log-softmax per row: `ids[r]`, `logprobs[r]`.
pub fn argmax_logprob(gpu: &Gpu, logits: u64, vocab: usize, n_rows: usize, ids: u64, logprobs: u64) -> Result<()> {
    gpu.launch("argmax_logprob", (n_rows as u32, 1, 1), (1024, 1, 1), &[Arg::P(logits), Arg::I(vocab as i32), Arg::P(ids), Arg::P(logprobs)])
}

pub fn argmax_rows(gpu: &Gpu, logits: u64, vocab: usize, n_rows: usize, out: u64) -> Result<()> {
    gpu.launch("argmax_rows", (n_rows as u32, 1, 1), (1024, 1, 1), &[Arg::P(logits), Arg::I(vocab as i32), Arg::P(out)])
}

/// Scratch for prefill attention through cuBLAS.
#[derive(Default)]
pub struct PrefillScratch {
    pub qg: Option<DBuf>,
    pub kg: Option<DBuf>,
    pub vg: Option<DBuf>,
    pub s: Option<DBuf>,
    pub p: Option<DBuf>,
    pub o: Option<DBuf>,
}

/// Bytes of scores (f32) plus probabilities (bf16) one prefill chunk may use.
const PREFILL_SCORE_BYTES: usize = 1 << 30;

/// Causal attention of one sequence's `n_tok` consecutive rows (`row0..`, positions `pos0..`)
/// over its paged keys, with tensor-core GEMMs: K/V gathered to BF16, S = Q K^T and O = P V as
/// cuBLAS batched GEMMs (one batch per KV head), a softmax kernel between. Rows are taken in
/// chunks so the score matrix stays bounded.
#[allow(clippy::too_many_arguments)]
pub fn attention_prefill(
    gpu: &Gpu,
    q: u64,
    kc: u64,
    vc: u64,
    block_table: u64,
    row0: usize,
    n_tok: usize,
    pos0: usize,
    d: &AttnDims,
    block_size: usize,
    sc: &mut PrefillScratch,
    out: u64,
) -> Result<()> {
    use cudarc::cublas::sys as cb;
    let blas = gpu.blas.as_ref().map_err(|why| Error::Device(format!("cuBLAS is not available: {why}")))?;
    let (nh, nkv, hd) = (d.n_head, d.n_kv_head, d.head_dim);
    let group = nh / nkv;
    let n_keys = pos0 + n_tok;
    let kg = ensure(gpu, &mut sc.kg, nkv * n_keys * hd * 2)?;
    let vg = ensure(gpu, &mut sc.vg, nkv * n_keys * hd * 2)?;
    let args = [Arg::P(kc), Arg::P(vc), Arg::P(block_table), Arg::P(kg), Arg::P(vg), Arg::I(n_keys as i32), Arg::I(nkv as i32), Arg::I(hd as i32), Arg::I(block_size as i32)];
    gpu.launch("attn_gather_kv", (n_keys as u32, nkv as u32, 1), (128, 1, 1), &args)?;
    // Query chunks of at most 512 rows: each chunk's scores stop at its own last position, so a
    // long prompt computes about half of the square (causality) and the score buffer stays small.
    let chunk = (PREFILL_SCORE_BYTES / (nh * n_keys * 6)).clamp(1, n_tok.min(512));
    // sized once for the largest chunk (a reallocation inside the loop would wait for the device)
    ensure(gpu, &mut sc.s, nh * chunk * n_keys * 4)?;
    ensure(gpu, &mut sc.p, nh * chunk * n_keys * 2)?;
    for c0 in (0..n_tok).step_by(chunk) {
        let nt = chunk.min(n_tok - c0);
        // keys this chunk can see: up to its last row's position
        let nk = pos0 + c0 + nt;
        let qg = ensure(gpu, &mut sc.qg, nh * nt * hd * 2)?;
        let s = ensure(gpu, &mut sc.s, nh * nt * nk * 4)?;
        let p = ensure(gpu, &mut sc.p, nh * nt * nk * 2)?;
        let o = ensure(gpu, &mut sc.o, nh * nt * hd * 4)?;
        gpu.launch("attn_gather_q", (nt as u32, nh as u32, 1), (128, 1, 1), &[Arg::P(q), Arg::P(qg), Arg::I((row0 + c0) as i32), Arg::I(nt as i32), Arg::I(nh as i32), Arg::I(hd as i32)])?;
        let blas = blas.lock().unwrap_or_else(|e| e.into_inner());
        let (one, zero) = (1f32, 0f32);
        let gm = (group * nt) as i32;
        let t = gpu.profile_start()?;
        // S (row-major [group*nt, nk] per kv head) = column-major (nk x group*nt) = Kg^T Qg
        // SAFETY: buffers sized above; strides per kv head.
        unsafe {
            cudarc::cublas::result::gemm_strided_batched_ex(
                *blas.handle(),
                cb::cublasOperation_t::CUBLAS_OP_T,
                cb::cublasOperation_t::CUBLAS_OP_N,
                nk as i32,
                gm,
                hd as i32,
                &one as *const f32 as *const _,
                kg as *const _,
                cb::cudaDataType_t::CUDA_R_16BF,
                hd as i32,
                (n_keys * hd) as i64,
                qg as *const _,
                cb::cudaDataType_t::CUDA_R_16BF,
                hd as i32,
                (group * nt * hd) as i64,
                &zero as *const f32 as *const _,
                s as *mut _,
                cb::cudaDataType_t::CUDA_R_32F,
                nk as i32,
                (group * nt * nk) as i64,
                nkv as i32,
                cb::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cb::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| Error::Device(format!("cuBLAS attention scores: {e:?}")))?;
        gpu.profile_end(t, "cublas_attn_scores")?;
        let args = [Arg::P(s), Arg::P(p), Arg::I(nt as i32), Arg::I(nk as i32), Arg::I((pos0 + c0) as i32), Arg::F(d.scale), Arg::I(d.window as i32), Arg::I((nh * nt) as i32)];
        gpu.launch("attn_softmax", ((nh * nt) as u32, 1, 1), (256, 1, 1), &args)?;
        let t = gpu.profile_start()?;
        // O (row-major [group*nt, hd]) = column-major (hd x group*nt) = Vg^T-as-stored x P
        // SAFETY: as above.
        unsafe {
            cudarc::cublas::result::gemm_strided_batched_ex(
                *blas.handle(),
                cb::cublasOperation_t::CUBLAS_OP_N,
                cb::cublasOperation_t::CUBLAS_OP_N,
                hd as i32,
                gm,
                nk as i32,
                &one as *const f32 as *const _,
                vg as *const _,
                cb::cudaDataType_t::CUDA_R_16BF,
                hd as i32,
                (n_keys * hd) as i64,
                p as *const _,
                cb::cudaDataType_t::CUDA_R_16BF,
                nk as i32,
                (group * nt * nk) as i64,
                &zero as *const f32 as *const _,
                o as *mut _,
                cb::cudaDataType_t::CUDA_R_32F,
                hd as i32,
                (group * nt * hd) as i64,
                nkv as i32,
                cb::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cb::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| Error::Device(format!("cuBLAS attention output: {e:?}")))?;
        gpu.profile_end(t, "cublas_attn_output")?;
        drop(blas);
        gpu.launch("attn_scatter_out", (nt as u32, nh as u32, 1), (128, 1, 1), &[Arg::P(o), Arg::P(out), Arg::I((row0 + c0) as i32), Arg::I(nt as i32), Arg::I(nh as i32), Arg::I(hd as i32)])?;
    }
    Ok(())
}
