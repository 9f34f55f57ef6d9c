//! The CPU backend: portable Rust ops, threaded over rows with a rayon pool of the engine's own.
//!
//! Every op here is also the reference the later assembly kernels are checked against: the hot
//! loops (`dot`, the per-type row dequantization in `crate::quant`) are where the kernel table will
//! plug in.

mod crew;
pub mod features;
pub mod reference;
pub mod table;

use super::{AttnSeq, AttnShape, Backend, DeltaIo, DeltaRule, RopeParams, RopeStyle};
use crate::kv::KvPool;
use crate::quant::q8a::{self, Q8aRow};
use crate::tensor::QTensor;
use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

thread_local! {
    /// The calling thread's Q8A activations for single-token matmuls (kept between calls).
    static Q8A_ROW: RefCell<Q8aRow> = RefCell::new(Q8aRow::default());
    /// The calling thread's packed activations for `matmul_packed` (up to ~1 MB: allocated once,
    /// not mapped and faulted in again by every product).
    static PACK_X: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Each thread's weight panel and dequantized rows for `matmul_packed`.
    static PACK_W: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// The calling thread's Q8A activations of several tokens (planes, scales) for `matmul_q8a`.
    static Q8A_ROWS: RefCell<(Vec<i8>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// The calling thread's packed activation tiles for `matmul_q8a`.
    static PACK_XQ: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Each thread's int8 weight panel and one row's levels, scales and mins for `matmul_q8a`.
    static PACK_WQ: RefCell<(Vec<u8>, Vec<u8>, Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new(), Vec::new())) };
}

pub struct CpuBackend {
    pool: Arc<rayon::ThreadPool>,
    /// `threads - 1` spinning helper threads for `fork_join` (none for one thread).
    crew: Option<Arc<crew::Crew>>,
    threads: usize,
    k: &'static table::Kernels,
    /// Batch-invariant mode: every matrix product goes through the tile path (zero-padded at the
    /// edges), so a token's result never depends on how many other tokens share the call.
    invariant: bool,
    /// Int8 activations (Q8A) where the tier has int8 kernels; false: float32 throughout.
    int8: bool,
}


/// A raw pointer that may cross threads; each task writes a disjoint part of the buffer.
struct SendPtr<T>(*mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Most products of one input that `matmul_int8` takes in one call (q, k, v; gate, up).
const MAX_JOBS: usize = 8;

/// Row-wise ops (RMSNorm, RoPE) over at least this many rows are spread over the threads; fewer
/// (a decode step's one) run on the caller, where a dispatch would cost more than the work.
const PARALLEL_ROWS: usize = 16;

/// How several tokens' or one token's products take int8 activations (`CpuBackend::int8_path`).
#[derive(Clone, Copy)]
enum Int8Path {
    Rows,
    Gemm(table::Q8aGemm),
}

/// `wp[k * nr + r] = rows[r * kc + k]`: nr rows of kc values into a k-major GEMM panel, through
/// the tier's 16 x 16 transpose where it has one.
fn pack_panel(k: &table::Kernels, rows: &[f32], nr: usize, kc: usize, wp: &mut [f32]) {
    let mut done = 0;
    if let Some((tr, _)) = k.transpose_16x16.filter(|_| nr % 16 == 0) {
        done = kc / 16 * 16;
        for g in (0..nr).step_by(16) {
            for k0 in (0..done).step_by(16) {
                tr(&rows[g * kc + k0..], kc, &mut wp[k0 * nr + g..], nr);
            }
        }
    }
    if done == kc {
        return;
    }
    for (r, row) in rows.chunks_exact(kc).enumerate() {
        wp[done * nr + r..].iter_mut().step_by(nr).zip(&row[done..]).for_each(|(d, &v)| *d = v);
    }
}

/// `fork_join`'s state word: set once the caller has finished its own share (no helper may enter
/// after), and if a helper's share panicked.
const CLOSED: usize = 1 << (usize::BITS - 1);
const PANICKED: usize = 1 << (usize::BITS - 2);

/// What a crew thread does with a published job: enter unless the caller has closed it, run the
/// task, leave.
fn run_job(job: &crew::Job) {
    use std::sync::atomic::Ordering;
    let mut s = job.state.load(Ordering::Acquire);
    loop {
        if s & CLOSED != 0 {
            return;
        }
        match job.state.compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => s = now,
        }
    }
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job.task)).is_err() {
        job.state.fetch_or(PANICKED, Ordering::Relaxed);
    }
    job.state.fetch_sub(1, Ordering::Release);
}

impl CpuBackend {
    pub fn new(threads: usize) -> Result<CpuBackend, String> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("lanner-cpu-{i}"))
            .build()
            .map_err(|e| format!("cannot start {threads} threads: {e}"))?;
        let crew = if threads > 1 { Some(Arc::new(crew::Crew::new(threads - 1, run_job)?)) } else { None };
        Ok(CpuBackend { pool: Arc::new(pool), crew, threads, k: table::kernels(), invariant: false, int8: true })
    }

    /// The same backend with int8 activations on (the default) or off (float32 throughout).
    pub fn with_int8(self, int8: bool) -> CpuBackend {
        CpuBackend { int8, ..self }
    }

    /// Run `task` on the calling thread and on up to `threads - 1` crew threads at once; `task`
    /// takes its pieces of work from a shared counter until none are left. Returns when every
    /// piece is done, without waiting for crew threads that have not started yet: those find
    /// the call closed and leave without touching it. A single-token step runs a few hundred
    /// matrix products of a few microseconds each; handing each to a pool and sleeping until
    /// it is done (`ThreadPool::install`: two thread wake-ups per call) cost more than the work,
    /// and waking a sleeping helper for each still made it join late (see `crew`).
    fn fork_join(&self, task: &(dyn Fn() + Sync)) {
        use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
        use std::sync::atomic::Ordering;
        let Some(crew) = &self.crew else {
            task(); // one thread
            return;
        };
        if self.pool.current_thread_index().is_some() {
            // on one of the pool's threads (a caller that parallelises with rayon itself)
            self.pool.install(|| rayon::broadcast(|_| task()));
            return;
        }
        // helpers inside `task` (low bits), CLOSED once the caller is done, PANICKED if a helper
        // panicked; on the heap, since a late helper reads it after the caller has returned
        let state = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // SAFETY: a helper calls `task` (borrowed from this frame) only after registering in
        // `state` while it is not CLOSED (`run_job`), and this function returns, or unwinds,
        // only after it has set CLOSED and every registered helper has left `task` and
        // deregistered.
        let task_static: &'static (dyn Fn() + Sync) = unsafe { std::mem::transmute(task) };
        crew.publish(crew::Job { task: task_static, state: state.clone() });
        let mine = catch_unwind(AssertUnwindSafe(task));
        state.fetch_or(CLOSED, Ordering::AcqRel);
        let mut spins = 0u32;
        while state.load(Ordering::Acquire) & !(CLOSED | PANICKED) != 0 {
            if spins < 20_000 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        if let Err(e) = mine {
            resume_unwind(e);
        }
        assert!(state.load(Ordering::Relaxed) & PANICKED == 0, "a matmul task panicked");
    }

    /// Run `piece(i)` for every i in 0..n, spread over the threads (taken in turn from a shared
    /// counter); `init` makes each thread's scratch state once per call.
    fn for_pieces<S>(&self, n: usize, init: impl Fn() -> S + Sync, piece: impl Fn(&mut S, usize) + Sync) {
        if self.threads == 1 || n <= 1 {
            let mut s = init();
            (0..n).for_each(|i| piece(&mut s, i));
            return;
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        self.fork_join(&|| {
            let mut s = init();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                piece(&mut s, i);
            }
        });
    }

    /// out = x W^T through the tier's packed GEMM microkernel, every output computed by the same
    /// chain of fused multiply-adds in k order whatever n is (so batch-invariant by
    /// construction, and bit-identical to `reference::gemm_packed`).
    ///
    /// Blocking: tokens in blocks of `PACK_TILES` tiles of mr; k in blocks of about `PACK_KC`
    /// (whole weight blocks). For each (token block, k block) the activations are packed once
    /// (k-major per tile of mr tokens, zero past the last token; up to ~1 MB that stays in L2),
    /// then the panels of nr weight rows are spread over the threads: each thread dequantizes its
    /// panel's rows for this k block (asm dequantizers, then a 16 x 16 asm transpose into a
    /// k-major panel of 64 KB, L2) and runs the kernel over every token tile, accumulating into
    /// `out` (the first k block starts from zero). A k block ends before the next starts, so each
    /// output's chain stays in k order. 512 measured faster than 256 for k (fewer passes over C).
    fn matmul_packed(&self, g: &table::PackedGemm, w: &QTensor, x: &[f32], n: usize, out: &mut [f32]) {
        const PACK_KC: usize = 512;
        const PACK_TILES: usize = 40;
        let (rows, cols, mr, nr) = (w.rows, w.cols, g.mr, g.nr);
        let (bs, bb) = (w.ty.block_size(), w.ty.type_size());
        let kc_max = PACK_KC.next_multiple_of(bs);
        let tb = mr * PACK_TILES;
        assert!(mr * nr <= 12 * 32, "{}: tile larger than the edge buffer", g.name);
        if cols == 0 {
            out.fill(0.0);
            return;
        }
        let out_ptr = SendPtr(out.as_mut_ptr());
        let n_panels = rows.div_ceil(nr);
        let mut xp_buf = PACK_X.with(|b| std::mem::take(&mut *b.borrow_mut()));
        xp_buf.resize(n.min(tb).next_multiple_of(mr) * kc_max.min(cols), 0.0);
        let xp = &mut xp_buf;
        for t0 in (0..n).step_by(tb) {
            let t1 = (t0 + tb).min(n);
            let n_tiles = (t1 - t0).div_ceil(mr);
            for k0 in (0..cols).step_by(kc_max) {
                let kc = kc_max.min(cols - k0);
                let xp = &mut xp[..n_tiles * mr * kc];
                for (i, tile) in xp.chunks_exact_mut(mr * kc).enumerate() {
                    for tt in 0..mr {
                        let t = t0 + i * mr + tt;
                        let dst = tile[tt..].iter_mut().step_by(mr);
                        if t < t1 {
                            dst.zip(&x[t * cols + k0..t * cols + k0 + kc]).for_each(|(d, &v)| *d = v);
                        } else {
                            dst.for_each(|d| *d = 0.0);
                        }
                    }
                }
                let xp = &*xp;
                let (b0, b1) = (k0 / bs * bb, (k0 + kc) / bs * bb);
                self.for_pieces(n_panels, || [0f32; 12 * 32], |ctile, p| {
                    PACK_W.with(|b| {
                        let (wp, rowbuf) = &mut *b.borrow_mut();
                        // every value of both is written below before it is read
                        wp.resize(kc * nr, 0.0);
                        rowbuf.resize(nr * kc, 0.0);
                        let (r0, nrows) = (p * nr, nr.min(rows - p * nr));
                        // the panel's rows, dequantized (zeros past the last row), then k-major
                        for (rr, row) in rowbuf.chunks_exact_mut(kc).enumerate() {
                            if rr < nrows {
                                self.k.dequantize(w.ty, &w.row(r0 + rr)[b0..b1], row);
                            } else {
                                row.fill(0.0);
                            }
                        }
                        pack_panel(self.k, rowbuf, nr, kc, wp);
                        for (i, xt) in xp.chunks_exact(mr * kc).enumerate() {
                            let ta = t0 + i * mr;
                            let nt = mr.min(t1 - ta);
                            let op = out_ptr;
                            if nt == mr && nrows == nr {
                                // SAFETY: this tile's rows ta..ta + mr, columns r0..r0 + nr lie
                                // inside `out`, and this panel's columns are this task's alone.
                                unsafe { (g.f)(wp, xt, kc, op.0.add(ta * rows + r0), rows, k0 == 0) };
                                continue;
                            }
                            // an edge tile: through a full-size copy
                            for tt in (0..nt).filter(|_| k0 > 0) {
                                for rr in 0..nrows {
                                    // SAFETY: as above, inside `out` and this task's columns.
                                    ctile[tt * nr + rr] = unsafe { *op.0.add((ta + tt) * rows + r0 + rr) };
                                }
                            }
                            // SAFETY: ctile holds mr rows of nr floats (mr * nr <= 12 * 32).
                            unsafe { (g.f)(wp, xt, kc, ctile.as_mut_ptr(), nr, k0 == 0) };
                            for tt in 0..nt {
                                for rr in 0..nrows {
                                    // SAFETY: as above.
                                    unsafe { *op.0.add((ta + tt) * rows + r0 + rr) = ctile[tt * nr + rr] };
                                }
                            }
                        }
                    })
                });
            }
        }
        PACK_X.with(|b| *b.borrow_mut() = xp_buf);
    }

    /// `f` on every row of `dim` values of `x`: on the caller for a few rows, else in pieces of 8
    /// rows over the threads.
    fn rows_in_pieces(&self, x: &mut [f32], dim: usize, f: impl Fn(&mut [f32]) + Sync) {
        let n = if dim == 0 { 0 } else { x.len() / dim };
        if self.threads == 1 || n < PARALLEL_ROWS {
            x.chunks_exact_mut(dim.max(1)).for_each(f);
            return;
        }
        let xp = SendPtr(x.as_mut_ptr());
        self.for_pieces(n.div_ceil(8), || (), |_, c| {
            let xp = xp;
            let (r0, r1) = (8 * c, (8 * c + 8).min(n));
            // SAFETY: rows r0..r1 of x, touched by this piece alone.
            let rows = unsafe { std::slice::from_raw_parts_mut(xp.0.add(r0 * dim), (r1 - r0) * dim) };
            rows.chunks_exact_mut(dim).for_each(&f);
        });
    }

    /// The n tokens of `x` (rows of `cols`) in Q8A: planes `qs[t * 2 cols..]`, scales
    /// `ds[t * 2 cols / 32..]`, spread over the threads in pieces of 8 tokens.
    fn quantize_tokens(&self, x: &[f32], n: usize, cols: usize, qs: &mut Vec<i8>, ds: &mut Vec<f32>) {
        const QK: usize = q8a::QK;
        qs.resize(n * 2 * cols, 0);
        ds.resize(n * 2 * cols / QK, 0.0);
        let (qp, dp) = (SendPtr(qs.as_mut_ptr()), SendPtr(ds.as_mut_ptr()));
        self.for_pieces(n.div_ceil(8), || (), |_, c| {
            let (qp, dp) = (qp, dp);
            for t in 8 * c..(8 * c + 8).min(n) {
                // SAFETY: token t's planes and scales, written by this piece alone.
                let (q, d) = unsafe {
                    (
                        std::slice::from_raw_parts_mut(qp.0.add(t * 2 * cols), 2 * cols),
                        std::slice::from_raw_parts_mut(dp.0.add(t * 2 * cols / QK), 2 * cols / QK),
                    )
                };
                (self.k.quantize_q8a)(&x[t * cols..(t + 1) * cols], q, d);
            }
        });
    }

    /// The int8 path for products of the same input, if it serves every one of them: the row
    /// kernels for one token, the int8 GEMM for several (`None`: the float paths).
    fn int8_path(&self, jobs: &[(&QTensor, &mut [f32])], n: usize) -> Option<Int8Path> {
        let cols = jobs[0].0.cols;
        if !self.int8 || self.invariant || cols % q8a::QK != 0 || jobs.len() > MAX_JOBS || jobs.iter().any(|(w, _)| w.cols != cols) {
            return None;
        }
        if n == 1 {
            jobs.iter().all(|(w, _)| self.k.dot_q8a(w.ty).is_some()).then_some(Int8Path::Rows)
        } else {
            let g = self.k.gemm_q8a.filter(|_| n >= 2 && jobs.iter().all(|(w, _)| crate::quant::levels::unit_len(w.ty).is_some()))?;
            Some(Int8Path::Gemm(g))
        }
    }

    /// `jobs` (weights with the same input x, and their outputs) through `path`: x quantized to
    /// Q8A once. One token: every weight's chunks of rows in one dispatch over the threads.
    fn matmul_int8(&self, path: Int8Path, jobs: &mut [(&QTensor, &mut [f32])], x: &[f32], n: usize) {
        let cols = jobs[0].0.cols;
        for (w, out) in jobs.iter() {
            assert_eq!(x.len(), n * cols, "matmul {}: input shape", w.name);
            assert_eq!(out.len(), n * w.rows, "matmul {}: output shape", w.name);
        }
        match path {
            Int8Path::Gemm(g) => Q8A_ROWS.with(|b| {
                let (mut qs, mut ds) = std::mem::take(&mut *b.borrow_mut());
                self.quantize_tokens(x, n, cols, &mut qs, &mut ds);
                for (w, out) in jobs.iter_mut() {
                    self.matmul_q8a(&g, w, &qs, &ds, n, out);
                }
                *b.borrow_mut() = (qs, ds);
            }),
            Int8Path::Rows => Q8A_ROW.with(|row| {
                let mut row = row.borrow_mut();
                row.resize(cols);
                let Q8aRow { qs, ds } = &mut *row;
                (self.k.quantize_q8a)(x, qs, ds);
                let a = row.view();
                let k = self.k;
                if self.threads == 1 {
                    // all rows of each weight in one kernel call, on this thread
                    for (w, out) in jobs.iter_mut() {
                        (k.dot_q8a(w.ty).unwrap())(w.data(), a, out);
                    }
                    return;
                }
                // chunks of rows (a multiple of 4) of every weight, taken in turn by this thread
                // and the crew's as they come
                let mut pieces = [(0usize, 0usize); MAX_JOBS];
                let mut outs = [SendPtr(std::ptr::null_mut::<f32>()); MAX_JOBS];
                let mut total = 0;
                for (j, (w, out)) in jobs.iter_mut().enumerate() {
                    let chunk = (w.rows / (self.threads * 8)).clamp(8, 256).next_multiple_of(4);
                    total += w.rows.div_ceil(chunk);
                    (pieces[j], outs[j]) = ((chunk, total), SendPtr(out.as_mut_ptr()));
                }
                let jobs = &*jobs;
                self.for_pieces(total, || (), |_, p| {
                    let j = pieces.iter().position(|&(_, end)| p < end).unwrap();
                    let (w, (chunk, end)) = (jobs[j].0, pieces[j]);
                    let c = p - (end - w.rows.div_ceil(chunk));
                    let (r0, r1, rb) = (c * chunk, ((c + 1) * chunk).min(w.rows), w.row_bytes());
                    let op = outs[j];
                    // SAFETY: each chunk's rows r0..r1 of its output are written by one task.
                    let o = unsafe { std::slice::from_raw_parts_mut(op.0.add(r0), r1 - r0) };
                    (k.dot_q8a(w.ty).unwrap())(&w.data()[r0 * rb..r1 * rb], a, o);
                });
            }),
        }
    }

    /// out = x W^T through the tier's int8 GEMM microkernel: weights as 8-bit levels with an f32
    /// scale and min per unit of 32 or 16 values (`quant::levels`), activations in Q8A (two int8 planes, 16-bit
    /// precision), every output the same chain of operations in k order whatever n is
    /// (`reference::gemm_q8a`; batch-invariant like `matmul_packed`, though not the same bits).
    ///
    /// `qs`, `ds`: the n tokens' activations in Q8A (`quantize_tokens`). Blocking as
    /// in `matmul_packed`: tokens in blocks of up to `MAX_TILES` tiles of mr, k in blocks of `KC`;
    /// per (token block, k block) the tiles are packed (over the threads), then each thread takes
    /// panels of nr weight rows, turns them into a panel of levels (40 KB at KC = 1024: L1/L2)
    /// and runs the kernel over every tile, accumulating into `out`.
    fn matmul_q8a(&self, g: &table::Q8aGemm, w: &QTensor, qs: &[i8], ds: &[f32], n: usize, out: &mut [f32]) {
        const KC: usize = 1024;
        const MAX_TILES: usize = 86;
        const QK: usize = q8a::QK;
        let (rows, cols, mr, nr) = (w.rows, w.cols, g.mr, g.nr);
        let (bs, bb) = (w.ty.block_size(), w.ty.type_size());
        let kc_max = KC.next_multiple_of(bs);
        // token blocks of equal size, up to MAX_TILES tiles (a 512-token chunk is one block:
        // the weights are turned into levels once)
        let tb = n.div_ceil(n.div_ceil(mr * MAX_TILES)).next_multiple_of(mr);
        let ul = crate::quant::levels::unit_len(w.ty).expect("matmul_q8a: a type with levels");
        let kernel = if ul == 32 { g.f32u } else { g.f16u };
        // panel bytes per unit: levels, scales, mins / planes, (e, s) per token
        let (wu, xu) = ((ul + 8) * nr, (2 * ul + 8) * mr);
        assert!(cols % QK == 0 && mr * nr <= 12 * 32, "{}: bad shape", g.name);
        if cols == 0 {
            out.fill(0.0);
            return;
        }
        let out_ptr = SendPtr(out.as_mut_ptr());
        let n_panels = rows.div_ceil(nr);
        assert!(qs.len() == n * 2 * cols && ds.len() == n * 2 * cols / QK, "matmul_q8a: activations");
        let mut xp = PACK_XQ.with(|b| std::mem::take(&mut *b.borrow_mut()));
        for t0 in (0..n).step_by(tb) {
            let t1 = (t0 + tb).min(n);
            let n_tiles = (t1 - t0).div_ceil(mr);
            for k0 in (0..cols).step_by(kc_max) {
                let kc = kc_max.min(cols - k0);
                let nu = kc / ul;
                xp.resize(n_tiles * nu * xu, 0);
                // the tiles: per unit, [plane][group][token][4] i8, then [token][e, s] f32 (s the
                // unit's own sum: Q8A's for 32 values, its half's for 16)
                let xpp = SendPtr(xp.as_mut_ptr());
                self.for_pieces(n_tiles, || (), |_, i| {
                    let xpp = xpp;
                    // SAFETY: tile i's bytes, written by this piece alone.
                    let tile = unsafe { std::slice::from_raw_parts_mut(xpp.0.add(i * nu * xu), nu * xu) };
                    if t0 + (i + 1) * mr > t1 {
                        tile.fill(0); // tokens past the last: zero planes and scales
                    }
                    for tt in 0..mr.min(t1 - t0 - i * mr) {
                        let t = t0 + i * mr + tt;
                        let (q, d) = (&qs[t * 2 * cols..(t + 1) * 2 * cols], &ds[t * 2 * cols / QK..(t + 1) * 2 * cols / QK]);
                        let ng = ul / 4;
                        for (u, unit) in tile.chunks_exact_mut(xu).enumerate() {
                            let k = k0 + u * ul;
                            for p in 0..2 {
                                let src = &q[p * cols + k..p * cols + k + ul];
                                for (gr, s4) in src.chunks_exact(4).enumerate() {
                                    let o = ((p * ng + gr) * mr + tt) * 4;
                                    unit[o..o + 4].copy_from_slice(&[s4[0] as u8, s4[1] as u8, s4[2] as u8, s4[3] as u8]);
                                }
                            }
                            let e = d[2 * (k / QK)];
                            let s = if ul == QK {
                                d[2 * (k / QK) + 1]
                            } else {
                                // as Q8A's s: e times the exact integer sum (|sum| < 2^24)
                                let sum: i32 = (k..k + ul).map(|i| 256 * q[i] as i32 + q[cols + i] as i32).sum();
                                e * sum as f32
                            };
                            let o = 2 * ul * mr + 8 * tt;
                            unit[o..o + 4].copy_from_slice(&e.to_le_bytes());
                            unit[o + 4..o + 8].copy_from_slice(&s.to_le_bytes());
                        }
                    }
                });
                let xp = &xp[..n_tiles * nu * xu];
                let (b0, b1) = (k0 / bs * bb, (k0 + kc) / bs * bb);
                self.for_pieces(n_panels, || [0f32; 12 * 32], |ctile, pnl| {
                    PACK_WQ.with(|b| {
                        let (wp, lv, sc, mn) = &mut *b.borrow_mut();
                        wp.resize(nu * wu, 0);
                        lv.resize(kc, 0);
                        let ng = ul / 4;
                        sc.resize(nu, 0.0);
                        mn.resize(nu, 0.0);
                        let (r0, nrows) = (pnl * nr, nr.min(rows - pnl * nr));
                        for rr in 0..nr {
                            if rr < nrows {
                                crate::quant::levels::row_levels(w.ty, &w.row(r0 + rr)[b0..b1], lv, sc, mn);
                            } else {
                                lv.fill(0);
                                sc.fill(0.0);
                                mn.fill(0.0);
                            }
                            for (u, unit) in wp.chunks_exact_mut(wu).enumerate() {
                                for (gr, l4) in lv[u * ul..(u + 1) * ul].chunks_exact(4).enumerate() {
                                    unit[(gr * nr + rr) * 4..(gr * nr + rr) * 4 + 4].copy_from_slice(l4);
                                }
                                let (so, mo) = (4 * ng * nr + 4 * rr, (4 * ng + 4) * nr + 4 * rr);
                                unit[so..so + 4].copy_from_slice(&sc[u].to_le_bytes());
                                unit[mo..mo + 4].copy_from_slice(&mn[u].to_le_bytes());
                            }
                        }
                        for (i, xt) in xp.chunks_exact(nu * xu).enumerate() {
                            let ta = t0 + i * mr;
                            let nt = mr.min(t1 - ta);
                            let op = out_ptr;
                            if nt == mr && nrows == nr {
                                // SAFETY: this tile's rows ta..ta + mr, columns r0..r0 + nr lie
                                // inside `out`, and this panel's columns are this task's alone.
                                unsafe { kernel(wp, xt, nu, op.0.add(ta * rows + r0), rows, k0 == 0) };
                                continue;
                            }
                            // an edge tile: through a full-size copy
                            for tt in (0..nt).filter(|_| k0 > 0) {
                                for rr in 0..nrows {
                                    // SAFETY: as above, inside `out` and this task's columns.
                                    ctile[tt * nr + rr] = unsafe { *op.0.add((ta + tt) * rows + r0 + rr) };
                                }
                            }
                            // SAFETY: ctile holds mr rows of nr floats (mr * nr <= 12 * 32).
                            unsafe { kernel(wp, xt, nu, ctile.as_mut_ptr(), nr, k0 == 0) };
                            for tt in 0..nt {
                                for rr in 0..nrows {
                                    // SAFETY: as above.
                                    unsafe { *op.0.add((ta + tt) * rows + r0 + rr) = ctile[tt * nr + rr] };
                                }
                            }
                        }
                    })
                });
            }
        }
        PACK_XQ.with(|b| *b.borrow_mut() = xp);
    }

    /// The same threads and kernels in batch-invariant mode (see `invariant`).
    pub fn batch_invariant(&self) -> CpuBackend {
        CpuBackend { pool: self.pool.clone(), crew: self.crew.clone(), threads: self.threads, k: self.k, invariant: true, int8: false }
    }
}

/// y += a * x
#[inline]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// At most this many tokens share an attention task (their scores and the K/V blocks they read
/// stay in cache together), and fewer when their scores would pass `ATTN_SCRATCH_FLOATS`.
const ATTN_MAX_TOKENS: usize = 16;
const ATTN_SCRATCH_FLOATS: usize = 1 << 16;

/// One attention task: tokens `tokens` (0 = the sequence's first row in the batch) of sequence
/// `seq`, query heads `heads`.
struct AttnTask {
    seq: usize,
    tokens: Range<usize>,
    heads: Range<usize>,
}

/// What every attention task reads and writes.
struct AttnIo<'a> {
    k: &'static table::Kernels,
    pool: &'a KvPool,
    layer: usize,
    shape: AttnShape,
    q: &'a [f32],
    /// The output, `q`'s shape; each task writes its own (token, head) slices.
    out: SendPtr<f32>,
}

/// One attention task's scratch, kept across the tasks a thread runs.
#[derive(Default)]
struct AttnScratch {
    /// Scores, then softmax numerators: per token, one run of its keys' length per head.
    p: Vec<f32>,
    /// Per (token, head): the largest score, then the softmax denominator.
    m: Vec<f32>,
    /// Per token: where its runs start in `p`.
    at: Vec<usize>,
}

/// The key positions `keys` of a sequence (`blocks`) cut at KV block boundaries: per piece, in
/// order, its first position, how many it has, and its rows of K and V from the piece's first
/// position to the block's end (`pool.kv_dim` floats apart).
fn kv_pieces<'a>(pool: &'a KvPool, layer: usize, blocks: &'a [u32], keys: Range<usize>) -> impl Iterator<Item = (usize, usize, &'a [f32], &'a [f32])> + 'a {
    let (bs, dim) = (pool.block_size, pool.kv_dim);
    let mut j = keys.start;
    std::iter::from_fn(move || {
        if j >= keys.end {
            return None;
        }
        let (block, slot) = (blocks[j / bs], j % bs);
        let n = (bs - slot).min(keys.end - j);
        j += n;
        Some((j - n, n, &pool.k(block, layer)[slot * dim..], &pool.v(block, layer)[slot * dim..]))
    })
}

/// One attention task: each of its tokens (at position `pos`) attends to keys `first..=pos`
/// (`first` > 0 under a sliding window), each query head to its KV head's keys. Walks the
/// blocks covering every token's keys twice, for the scores, then for the weighted sums of the
/// values: each block of K and V is read from memory once per task and stays in L1 for all of
/// its tokens and heads. The kernels take a (token, head)'s keys of one block per call. The softmax subtracts each (token, head)'s largest score before
/// exponentiating.
fn attend(io: &AttnIo, sq: &AttnSeq, task: &AttnTask, scr: &mut AttnScratch) {
    let AttnShape { n_head, n_kv_head, head_dim: hd, scale, window } = io.shape;
    let (k, pool, width, group) = (io.k, io.pool, n_head * hd, n_head / n_kv_head);
    let nh = task.heads.len();
    let keys = |t: usize| {
        let pos = sq.start + t;
        window.map_or(0, |w| (pos + 1).saturating_sub(w))..pos + 1
    };
    let all = keys(task.tokens.start).start..keys(task.tokens.end - 1).end;
    let AttnScratch { p, m, at } = scr;
    at.clear();
    let mut total = 0;
    for t in task.tokens.clone() {
        at.push(total);
        total += nh * keys(t).len();
    }
    let at = &at[..];
    p.resize(total, 0.0);
    m.clear();
    m.resize(task.tokens.len() * nh, f32::NEG_INFINITY);
    // The task's heads by KV head: each KV head's rows of a block stay in L1 while every token
    // and query head that reads them goes by.
    let (h0, h1) = (task.heads.start, task.heads.end);
    let by_kv_head = move || (h0 / group..=(h1 - 1) / group).map(move |g| (g * group).max(h0)..((g + 1) * group).min(h1));
    // (token, head) pairs that see part of the piece of keys j0..j0 + n: where their run of p
    // starts, the first key they see, how many, and their index in m
    let runs = |j0: usize, n: usize| {
        by_kv_head().flat_map(move |heads| {
            task.tokens.clone().enumerate().flat_map(move |(i, t)| {
                let kt = keys(t);
                let (a, b) = (j0.max(kt.start), (j0 + n).min(kt.end));
                let seen = a < b;
                heads.clone().filter(move |_| seen).map(move |h| {
                    let hi = h - h0;
                    (t, h, at[i] + hi * kt.len() + (a - kt.start), a, b - a, i * nh + hi)
                })
            })
        })
    };
    let dim = pool.kv_dim;
    for (j0, n, kb, _) in kv_pieces(pool, io.layer, sq.blocks, all.clone()) {
        for (t, h, run, a, len, mi) in runs(j0, n) {
            let qh = &io.q[(sq.row0 + t) * width + h * hd..][..hd];
            let rows = &kb[(a - j0) * dim + (h / group) * hd..];
            let max = (k.attn_scores)(qh, rows, dim, scale, &mut p[run..run + len]);
            m[mi] = m[mi].max(max);
        }
    }
    for (i, t) in task.tokens.clone().enumerate() {
        let len = keys(t).len();
        for (hi, mh) in m[i * nh..(i + 1) * nh].iter_mut().enumerate() {
            let run = at[i] + hi * len;
            *mh = (k.attn_softmax)(&mut p[run..run + len], *mh);
        }
    }
    // SAFETY: the (token, head) slices of the output are written by this task alone.
    let out = |t: usize| unsafe { std::slice::from_raw_parts_mut(io.out.0.add((sq.row0 + t) * width + h0 * hd), nh * hd) };
    for t in task.tokens.clone() {
        out(t).fill(0.0);
    }
    for (j0, n, _, vb) in kv_pieces(pool, io.layer, sq.blocks, all) {
        for (t, h, run, a, len, _) in runs(j0, n) {
            let rows = &vb[(a - j0) * dim + (h / group) * hd..];
            let o = &mut out(t)[(h - h0) * hd..][..hd];
            (k.attn_accum)(&p[run..run + len], rows, dim, o);
        }
    }
    for (i, t) in task.tokens.clone().enumerate() {
        for (oh, &sum) in out(t).chunks_exact_mut(hd).zip(&m[i * nh..(i + 1) * nh]) {
            let inv = 1.0 / sum;
            oh.iter_mut().for_each(|v| *v *= inv);
        }
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        let gemm = self.k.gemm_packed.map_or(self.k.gemm_name, |g| g.name);
        format!("cpu ({} threads, tier {}, {}, {gemm})", self.threads, self.k.tier.name(), self.k.dot_f32_name)
    }

    fn threads(&self) -> usize {
        self.threads
    }

    fn matmul_many(&self, jobs: &mut [(&QTensor, &mut [f32])], x: &[f32], n: usize) {
        match self.int8_path(jobs, n) {
            Some(path) => self.matmul_int8(path, jobs, x, n),
            None => jobs.iter_mut().for_each(|(w, out)| self.matmul(w, x, n, out)),
        }
    }

    fn activations(&self) -> &'static str {
        let kernels = self.k.gemm_q8a.is_some() || self.k.dot_rows_q8a.iter().any(|e| e.is_some());
        if self.int8 && !self.invariant && kernels {
            "int8"
        } else {
            "f32"
        }
    }

    fn matmul(&self, w: &QTensor, x: &[f32], n: usize, out: &mut [f32]) {
        let (rows, cols) = (w.rows, w.cols);
        assert_eq!(x.len(), n * cols, "matmul {}: input shape", w.name);
        assert_eq!(out.len(), n * rows, "matmul {}: output shape", w.name);
        // Chunks of rows (a multiple of the 4-row tile) spread over the threads.
        let chunk = (rows / (self.threads * 8)).clamp(8, 256).next_multiple_of(4);
        let n_chunks = rows.div_ceil(chunk);
        let out_ptr = SendPtr(out.as_mut_ptr());
        let k = self.k;
        // Int8 activations (Q8A) where the tier has kernels for this weight type: one token
        // through the row kernels (decode), several through the int8 GEMM.
        let mut job = [(w, out)];
        if let Some(path) = self.int8_path(&job, n) {
            self.matmul_int8(path, &mut job, x, n);
            return;
        }
        let [(w, out)] = job;
        // Several tokens (or batch-invariant mode) where the tier has a packed GEMM microkernel.
        if let Some(g) = k.gemm_packed.filter(|_| n >= 2 || self.invariant) {
            self.matmul_packed(&g, w, x, n, out);
            return;
        }
        // One token without an int8 kernel: a fused row kernel reads each weight byte once.
        // Otherwise (and always in batch-invariant mode) 4 dequantized rows x 4 tokens go through
        // the GEMM microkernel, the edges zero-padded to full tiles: every output is then computed
        // by the same arithmetic whatever n is and wherever its token sits in the batch.
        let fused = if n == 1 && !self.invariant { k.dot_row(w.ty) } else { None };
        let tiled = (n >= 2 || self.invariant) && cols % k.gemm_k_multiple == 0;
        let full = n / 4 * 4;
        let mut x_tail = vec![0f32; if tiled && full < n { 4 * cols } else { 0 }];
        if !x_tail.is_empty() {
            x_tail[..(n - full) * cols].copy_from_slice(&x[full * cols..]);
        }
        let x_tail = &x_tail;
        let body = |buf: &mut Vec<f32>, c: usize| {
            let op = out_ptr;
            // SAFETY (all writes below): output (t, r) pairs are disjoint across tasks,
            // since each task owns its rows r.
            let put = |t: usize, r: usize, v: f32| unsafe { *op.0.add(t * rows + r) = v };
            let (r0, r1) = (c * chunk, ((c + 1) * chunk).min(rows));
            if let Some(f) = fused {
                for r in r0..r1 {
                    put(0, r, f(w.row(r), x));
                }
                return;
            }
            if tiled {
                let mut tile = [0f32; 16];
                for r in (r0..r1).step_by(4) {
                    let nr = (r1 - r).min(4);
                    for i in 0..4 {
                        let dst = &mut buf[i * cols..(i + 1) * cols];
                        if i < nr {
                            k.dequantize(w.ty, w.row(r + i), dst);
                        } else {
                            dst.fill(0.0);
                        }
                    }
                    for t in (0..n).step_by(4) {
                        let xs = if t < full { &x[t * cols..] } else { &x_tail[..] };
                        (k.gemm_f32_4x4)(buf, cols, xs, cols, cols, &mut tile, 4);
                        for tt in 0..(n - t).min(4) {
                            for rr in 0..nr {
                                put(t + tt, r + rr, tile[tt * 4 + rr]);
                            }
                        }
                    }
                }
                return;
            }
            // one row at a time (a single token without a fused kernel, or k not a
            // multiple of the microkernel's step)
            for r in r0..r1 {
                let row = &mut buf[..cols];
                k.dequantize(w.ty, w.row(r), row);
                for t in 0..n {
                    put(t, r, (k.dot_f32)(row, &x[t * cols..(t + 1) * cols]));
                }
            }
        };
        self.for_pieces(n_chunks, || vec![0f32; 4 * cols], body);
    }

    fn get_rows(&self, w: &QTensor, ids: &[u32], out: &mut [f32]) {
        let cols = w.cols;
        assert_eq!(out.len(), ids.len() * cols);
        for (t, &id) in ids.iter().enumerate() {
            self.k.dequantize(w.ty, w.row(id as usize), &mut out[t * cols..(t + 1) * cols]);
        }
    }

    fn rms_norm(&self, x: &mut [f32], w: &[f32], eps: f32) {
        let dim = w.len();
        let norm = |row: &mut [f32]| {
            let ss: f64 = row.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let inv = (1.0 / ((ss / dim as f64) + eps as f64).sqrt()) as f32;
            for (v, &g) in row.iter_mut().zip(w) {
                *v = *v * inv * g;
            }
        };
        self.rows_in_pieces(x, dim, norm);
    }

    fn rope(&self, q: &mut [f32], n_q_heads: usize, k: &mut [f32], n_k_heads: usize, head_dim: usize, positions: &[usize], p: &RopeParams) {
        let half = p.dim / 2;
        let (wq, wk) = (n_q_heads * head_dim, n_k_heads * head_dim);
        assert!(q.len() == positions.len() * wq && k.len() == positions.len() * wk, "rope: shapes");
        // one token's q and k rows at position pos (cs: scratch for the angles' cos, sin)
        let rotate = |cs: &mut Vec<(f32, f32)>, qrow: &mut [f32], krow: &mut [f32], pos: usize| {
            cs.resize(half, (0.0, 0.0));
            let pos = pos as f64 * p.pos_scale as f64;
            for (c, &f) in cs.iter_mut().zip(&p.inv_freq) {
                let a = pos * f;
                *c = (a.cos() as f32 * p.mscale, a.sin() as f32 * p.mscale);
            }
            for h in qrow.chunks_exact_mut(head_dim).chain(krow.chunks_exact_mut(head_dim)) {
                for (i, &(c, s)) in cs.iter().enumerate() {
                    let (a, b) = match p.style {
                        RopeStyle::Norm => (2 * i, 2 * i + 1),
                        RopeStyle::Neox => (i, i + half),
                    };
                    let (x0, x1) = (h[a], h[b]);
                    h[a] = x0 * c - x1 * s;
                    h[b] = x0 * s + x1 * c;
                }
            }
        };
        let n = positions.len();
        if self.threads == 1 || n < PARALLEL_ROWS {
            let mut cs = Vec::new();
            for ((qrow, krow), &pos) in q.chunks_exact_mut(wq).zip(k.chunks_exact_mut(wk)).zip(positions) {
                rotate(&mut cs, qrow, krow, pos);
            }
            return;
        }
        // tokens in pieces of 8 over the threads (each token's rows are its own)
        let (qp, kp) = (SendPtr(q.as_mut_ptr()), SendPtr(k.as_mut_ptr()));
        self.for_pieces(n.div_ceil(8), Vec::new, |cs, c| {
            let (qp, kp) = (qp, kp);
            for t in 8 * c..(8 * c + 8).min(n) {
                // SAFETY: token t's q and k rows, touched by this piece alone.
                let (qrow, krow) = unsafe { (std::slice::from_raw_parts_mut(qp.0.add(t * wq), wq), std::slice::from_raw_parts_mut(kp.0.add(t * wk), wk)) };
                rotate(cs, qrow, krow, positions[t]);
            }
        });
    }

    fn attention(&self, pool: &KvPool, layer: usize, seqs: &[AttnSeq], q: &[f32], s: AttnShape, out: &mut [f32]) {
        // Tasks of up to `tile` consecutive tokens of one sequence and a run of query heads: all
        // of them when there are enough tasks to keep every thread busy (a block of K or V then
        // serves every head and token of the task from L1), fewer heads otherwise.
        let longest = seqs.iter().map(|sq| sq.start + sq.n_tokens).max().unwrap_or(0);
        let tile = (ATTN_SCRATCH_FLOATS / (s.n_head * longest).max(1)).clamp(1, ATTN_MAX_TOKENS);
        let token_runs: usize = seqs.iter().map(|sq| sq.n_tokens.div_ceil(tile)).sum();
        let split = if self.threads == 1 { 1 } else { (4 * self.threads).div_ceil(token_runs.max(1)).clamp(1, s.n_head) };
        let per_task = s.n_head.div_ceil(split);
        let tasks: Vec<AttnTask> = seqs
            .iter()
            .enumerate()
            .flat_map(|(seq, sq)| {
                (0..sq.n_tokens).step_by(tile).flat_map(move |t| {
                    (0..s.n_head).step_by(per_task).map(move |h| AttnTask {
                        seq,
                        tokens: t..(t + tile).min(sq.n_tokens),
                        heads: h..(h + per_task).min(s.n_head),
                    })
                })
            })
            .collect();
        let io = AttnIo { k: self.k, pool, layer, shape: s, q, out: SendPtr(out.as_mut_ptr()) };
        // on this thread and the crew's, like the matrix products (whose helpers are awake)
        self.for_pieces(tasks.len(), AttnScratch::default, |scr, i| attend(&io, &seqs[tasks[i].seq], &tasks[i], scr));
    }

    fn swiglu(&self, gate: &mut [f32], up: &[f32]) {
        assert_eq!(gate.len(), up.len(), "swiglu: shapes");
        (self.k.swiglu)(gate, up);
    }

    fn geglu(&self, gate: &mut [f32], up: &[f32]) {
        assert_eq!(gate.len(), up.len(), "geglu: shapes");
        (self.k.geglu)(gate, up);
    }

    fn scale(&self, x: &mut [f32], s: f32) {
        x.iter_mut().for_each(|v| *v *= s);
    }

    fn sigmoid_mul(&self, x: &mut [f32], gate: &[f32]) {
        for (v, &g) in x.iter_mut().zip(gate) {
            *v /= 1.0 + (-g).exp();
        }
    }

    fn causal_conv1d_silu(&self, x: &[f32], channels: usize, w: &[f32], state: &mut [f32], out: &mut [f32]) {
        let k = w.len() / channels;
        let n = x.len() / channels;
        assert!(state.len() == (k - 1) * channels && out.len() == x.len(), "conv1d: shapes");
        // row r of the padded input: state rows first, then x
        let row = |r: usize| if r < k - 1 { &state[r * channels..(r + 1) * channels] } else { &x[(r - (k - 1)) * channels..(r - k + 2) * channels] };
        for t in 0..n {
            for c in 0..channels {
                let mut acc = 0f32;
                for j in 0..k {
                    acc += w[c * k + j] * row(t + j)[c];
                }
                out[t * channels + c] = acc / (1.0 + (-acc).exp());
            }
        }
        // keep the last k - 1 rows of (state ++ x)
        let total = k - 1 + n;
        let last: Vec<f32> = (total - (k - 1)..total).flat_map(|r| row(r).to_vec()).collect();
        state.copy_from_slice(&last);
    }

    fn gated_delta_rule(&self, p: &DeltaRule, io: DeltaIo<'_>) {
        let (nk, nv, dk, dv) = (p.nk, p.nv, p.dk, p.dv);
        let n = io.a.len() / nv;
        let per_k = nv / nk;
        let state = io.state;
        for t in 0..n {
            for h in 0..nv {
                let kh = h / per_k;
                let q = &io.q[t * nk * dk + kh * dk..][..dk];
                let k = &io.k[t * nk * dk + kh * dk..][..dk];
                let v = &io.v[t * nv * dv + h * dv..][..dv];
                let x = io.a[t * nv + h] + p.dt_bias[h];
                let softplus = if x > 20.0 { x } else { x.exp().ln_1p() };
                let decay = (-p.a_log[h].exp() * softplus).exp();
                let beta = 1.0 / (1.0 + (-io.b[t * nv + h]).exp());
                let s = &mut state[h * dk * dv..(h + 1) * dk * dv];
                s.iter_mut().for_each(|e| *e *= decay);
                let mut delta = vec![0f32; dv];
                for (i, &ki) in k.iter().enumerate() {
                    axpy(&mut delta, ki, &s[i * dv..(i + 1) * dv]);
                }
                for (d, &vj) in delta.iter_mut().zip(v) {
                    *d = (vj - *d) * beta;
                }
                for (i, &ki) in k.iter().enumerate() {
                    axpy(&mut s[i * dv..(i + 1) * dv], ki, &delta);
                }
                let o = &mut io.out[t * nv * dv + h * dv..][..dv];
                o.iter_mut().for_each(|e| *e = 0.0);
                for (i, &qi) in q.iter().enumerate() {
                    axpy(o, qi, &s[i * dv..(i + 1) * dv]);
                }
            }
        }
    }

    fn add(&self, x: &mut [f32], y: &[f32]) {
        for (a, b) in x.iter_mut().zip(y) {
            *a += b;
        }
    }

    fn add_bias(&self, x: &mut [f32], bias: &[f32]) {
        for row in x.chunks_exact_mut(bias.len()) {
            self.add(row, bias);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The matmul framework (fused decode rows, 4x4 tiles, leftover rows and tokens) against a
    //! naive dequantize-then-dot reference, at awkward shapes.
    use super::*;
    use crate::quant::GgmlType;

    fn rand_vec(seed: &mut u64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                ((*seed >> 40) as f32 / (1u64 << 23) as f32) - 1.0
            })
            .collect()
    }

    #[test]
    fn matmul_matches_naive_reference_at_awkward_shapes() {
        let be = CpuBackend::new(2).unwrap();
        let mut seed = 0x1234_5678_9abc_def1u64;
        let types = [
            GgmlType::F32,
            GgmlType::F16,
            GgmlType::BF16,
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q5_1,
            GgmlType::Q2_K,
            GgmlType::Q3_K,
            GgmlType::Q4_K,
            GgmlType::Q5_K,
            GgmlType::Q6_K,
        ];
        for ty in types {
            let bs = ty.block_size().max(8);
            let pad = if ty.block_size() == 1 { 8 } else { 0 };
            // the last: several k blocks of the GEMMs (512 f32, 1024 int8) and several token blocks
            for (cols, big) in [(bs * 2, false), (bs * 3 + pad, false), (2304 + pad, true)] {
                for rows in if big { &[37usize][..] } else { &[1usize, 3, 5, 13, 36][..] } {
                    let rows = *rows;
                    let w = QTensor::from_f32("w", ty, rows, cols, &rand_vec(&mut seed, rows * cols));
                    let mut deq = vec![0f32; rows * cols];
                    for r in 0..rows {
                        w.row_to_f32(r, &mut deq[r * cols..(r + 1) * cols]);
                    }
                    for &n in if big { &[7usize, 485][..] } else { &[1usize, 2, 4, 5, 9][..] } {
                        let mut x = rand_vec(&mut seed, n * cols);
                        // tokens through an int8 kernel see their activations as Q8A
                        let int8 = if n == 1 { be.k.dot_q8a(ty).is_some() } else { be.k.gemm_q8a.is_some() && crate::quant::levels::unit_len(ty).is_some() };
                        let mut out = vec![f32::NAN; n * rows];
                        be.matmul(&w, &x, n, &mut out);
                        if int8 {
                            for xt in x.chunks_exact_mut(cols) {
                                let mut a = Q8aRow::default();
                                q8a::quantize_row(xt, &mut a);
                                xt.copy_from_slice(&a.view().to_f32());
                            }
                        }
                        for t in 0..n {
                            for r in 0..rows {
                                let a = &deq[r * cols..(r + 1) * cols];
                                let b = &x[t * cols..(t + 1) * cols];
                                let want: f64 = a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum();
                                let mag: f64 = a.iter().zip(b).map(|(p, q)| (*p as f64 * *q as f64).abs()).sum();
                                let got = out[t * rows + r] as f64;
                                assert!(
                                    (got - want).abs() <= 1e-5 * mag + 1e-12,
                                    "{} rows={rows} cols={cols} n={n} (t={t}, r={r}): {got} vs {want}",
                                    ty.name()
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn row_ops_give_the_same_bits_on_one_thread_and_spread_over_two() {
        use super::super::{RopeParams, RopeStyle};
        let mut seed = 0x0dd5_eed5_1234_5678u64;
        let (one, two) = (CpuBackend::new(1).unwrap(), CpuBackend::new(2).unwrap());
        for n in [1usize, 15, 16, 37] {
            let (dim, w) = (96, rand_vec(&mut seed, 96));
            let x = rand_vec(&mut seed, n * dim);
            let (mut a, mut b) = (x.clone(), x.clone());
            one.rms_norm(&mut a, &w, 1e-6);
            two.rms_norm(&mut b, &w, 1e-6);
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "rms_norm n={n}");
            for style in [RopeStyle::Norm, RopeStyle::Neox] {
                let p = RopeParams { style, dim: 48, pos_scale: 1.0, inv_freq: (0..24).map(|i| 10000f64.powf(-(2 * i) as f64 / 48.0)).collect(), mscale: 1.0 };
                let positions: Vec<usize> = (0..n).map(|t| 3 * t + 1).collect();
                let (q0, k0) = (rand_vec(&mut seed, n * 4 * 64), rand_vec(&mut seed, n * 2 * 64));
                let (mut qa, mut ka, mut qb, mut kb) = (q0.clone(), k0.clone(), q0, k0);
                one.rope(&mut qa, 4, &mut ka, 2, 64, &positions, &p);
                two.rope(&mut qb, 4, &mut kb, 2, 64, &positions, &p);
                assert!(qa.iter().zip(&qb).chain(ka.iter().zip(&kb)).all(|(p, q)| p.to_bits() == q.to_bits()), "rope n={n}");
            }
        }
    }

    #[test]
    fn matmul_many_gives_each_output_its_own_matmuls_bits() {
        let mut seed = 0x51ed_270b_3c1a_9e55u64;
        for threads in [1, 2] {
            let be = CpuBackend::new(threads).unwrap();
            for tys in [[GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0], [GgmlType::Q5_0, GgmlType::F32, GgmlType::Q4_1]] {
                let cols = 512;
                let ws: Vec<QTensor> = tys.iter().zip([40usize, 9, 300]).map(|(&t, rows)| QTensor::from_f32("w", t, rows, cols, &rand_vec(&mut seed, rows * cols))).collect();
                for n in [1usize, 2, 7] {
                    let x = rand_vec(&mut seed, n * cols);
                    let mut outs: Vec<Vec<f32>> = ws.iter().map(|w| vec![f32::NAN; n * w.rows]).collect();
                    {
                        let mut jobs: Vec<(&QTensor, &mut [f32])> = ws.iter().zip(outs.iter_mut()).map(|(w, o)| (w, &mut o[..])).collect();
                        be.matmul_many(&mut jobs, &x, n);
                    }
                    for (w, got) in ws.iter().zip(&outs) {
                        let mut want = vec![f32::NAN; n * w.rows];
                        be.matmul(w, &x, n, &mut want);
                        assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{} n={n} threads={threads}", w.ty.name());
                    }
                }
            }
        }
    }

    #[test]
    fn batch_invariant_mode_gives_every_token_the_same_bits_at_any_batch_size() {
        let be = CpuBackend::new(2).unwrap();
        let inv = be.batch_invariant();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for ty in [GgmlType::F32, GgmlType::Q8_0, GgmlType::Q4_1, GgmlType::Q6_K] {
            let cols = ty.block_size().max(16) * 2;
            let rows = 37;
            let w = QTensor::from_f32("w", ty, rows, cols, &rand_vec(&mut seed, rows * cols));
            let x = rand_vec(&mut seed, 11 * cols);
            let mut alone = vec![0f32; 11 * rows];
            for t in 0..11 {
                inv.matmul(&w, &x[t * cols..(t + 1) * cols], 1, &mut alone[t * rows..(t + 1) * rows]);
            }
            // several tokens in the default mode: the f32 GEMM of batch-invariant mode, or the
            // int8 GEMM (weight types with levels), batch-invariant too but not the same bits
            let int8 = be.k.gemm_q8a.is_some() && crate::quant::levels::unit_len(ty).is_some();
            let mut all = vec![f32::NAN; 11 * rows];
            be.matmul(&w, &x, 11, &mut all);
            for n in [2usize, 3, 4, 5, 8, 11] {
                for start in [0usize, 11 - n] {
                    let mut out = vec![f32::NAN; n * rows];
                    inv.matmul(&w, &x[start * cols..(start + n) * cols], n, &mut out);
                    let want = &alone[start * rows..(start + n) * rows];
                    assert!(out.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()), "{} n={n} start={start}", ty.name());
                    let mut out2 = vec![f32::NAN; n * rows];
                    be.matmul(&w, &x[start * cols..(start + n) * cols], n, &mut out2);
                    let want2 = if int8 { &all[start * rows..(start + n) * rows] } else { want };
                    assert!(out2.iter().zip(want2).all(|(a, b)| a.to_bits() == b.to_bits()), "{} default n={n} start={start}", ty.name());
                }
            }
        }
    }

    /// Naive attention of one query head (f64 softmax over keys `first..=pos`).
    #[allow(clippy::too_many_arguments)]
    fn naive_head(pool: &KvPool, layer: usize, blocks: &[u32], pos: usize, first: usize, q: &[f32], kvo: usize, scale: f32) -> Vec<f64> {
        let (bs, dim, hd) = (pool.block_size, pool.kv_dim, q.len());
        let row = |data: &dyn Fn(u32) -> Vec<f32>, j: usize| data(blocks[j / bs])[(j % bs) * dim + kvo..][..hd].to_vec();
        let ks = |b: u32| pool.k(b, layer).to_vec();
        let vs = |b: u32| pool.v(b, layer).to_vec();
        let scores: Vec<f64> = (first..=pos).map(|j| scale as f64 * row(&ks, j).iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>()).collect();
        let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        let mut out = vec![0f64; hd];
        for (j, w) in (first..=pos).zip(&e) {
            for (o, v) in out.iter_mut().zip(row(&vs, j)) {
                *o += w / sum * v as f64;
            }
        }
        out
    }

    /// Attention over the paged KV cache against a naive f64 softmax, at every kernel tier, with
    /// one and several threads: grouped heads, odd head sizes, partial first and last blocks,
    /// sliding windows (down to a single key), a sequence decoding after a cached prefix beside
    /// one prefilling from position 0.
    #[test]
    fn attention_matches_naive_reference() {
        use crate::kv::SeqKv;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut checked = 0;
        for &tier in &table::available_tiers() {
            let kernels: &'static table::Kernels = Box::leak(Box::new(table::Kernels::for_tier(tier)));
            for threads in [1usize, 3] {
                let be = CpuBackend { k: kernels, ..CpuBackend::new(threads).unwrap() };
                for (n_head, n_kv_head, hd) in [(9usize, 3usize, 64usize), (4, 1, 256), (2, 2, 13), (14, 2, 80)] {
                    for bs in [16usize, 5] {
                        for window in [None, Some(1), Some(7), Some(40)] {
                            let (kv_dim, layer) = (n_kv_head * hd, 1);
                            let pool = Arc::new(KvPool::new(2, kv_dim, bs, 64).unwrap());
                            // (cached positions, new tokens) per sequence
                            let plan = [(37usize, 3usize), (0, 21)];
                            let mut kvs = Vec::new();
                            for &(cached, new) in &plan {
                                let mut kv = SeqKv::new(pool.clone());
                                kv.reserve(cached + new).unwrap();
                                for pos in 0..cached + new {
                                    let (b, slot) = kv.locate(pos);
                                    let (k, v) = (rand_vec(&mut seed, kv_dim), rand_vec(&mut seed, kv_dim));
                                    pool.write(b, layer, slot, &k, &v).unwrap();
                                }
                                kvs.push(kv);
                            }
                            let mut row0 = 0;
                            let seqs: Vec<AttnSeq> = plan
                                .iter()
                                .zip(&kvs)
                                .map(|(&(cached, new), kv)| {
                                    row0 += new;
                                    AttnSeq { blocks: &kv.blocks, start: cached, n_tokens: new, row0: row0 - new }
                                })
                                .collect();
                            let width = n_head * hd;
                            let q = rand_vec(&mut seed, row0 * width);
                            let scale = 1.0 / (hd as f32).sqrt();
                            let shape = AttnShape { n_head, n_kv_head, head_dim: hd, scale, window };
                            let mut out = vec![f32::NAN; row0 * width];
                            be.attention(&pool, layer, &seqs, &q, shape, &mut out);
                            for sq in &seqs {
                                for i in 0..sq.n_tokens {
                                    let (row, pos) = (sq.row0 + i, sq.start + i);
                                    let first = window.map_or(0, |w| (pos + 1).saturating_sub(w));
                                    for h in 0..n_head {
                                        let qh = &q[row * width + h * hd..][..hd];
                                        let want = naive_head(&pool, layer, sq.blocks, pos, first, qh, h / (n_head / n_kv_head) * hd, scale);
                                        let got = &out[row * width + h * hd..][..hd];
                                        for (d, (&g, &w)) in got.iter().zip(&want).enumerate() {
                                            assert!(
                                                (g as f64 - w).abs() <= 2e-6,
                                                "{} threads={threads} heads {n_head}/{n_kv_head} hd={hd} bs={bs} window={window:?}: \
                                                 row {row} (position {pos}) head {h} value {d}: {g} vs {w}",
                                                kernels.attn_name
                                            );
                                        }
                                    }
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        eprintln!("attention: {checked} (token, shape) cases");
    }
}
