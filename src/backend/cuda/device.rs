//! One GPU: its context and stream, the kernels of `cuda/` loaded as modules, cuBLAS when present,
//! and device buffers. Everything is loaded at run time (cudarc's dynamic loading): a machine
//! without a driver gets an `Error::Device` saying so, never a panic.

use crate::error::{Error, Result};
use cudarc::driver::{result as drv, sys, CudaContext, CudaFunction, CudaModule, CudaStream, LaunchConfig, PushKernelArg};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/cuda_kernels.rs"));
}

/// How the kernels reached the device (for `cuda_info`).
pub fn kernels_compiled_by() -> &'static str {
    embedded::COMPILED_BY
}

/// Names and sources of the kernel files (tests compile them with NVRTC).
pub fn kernel_sources() -> impl Iterator<Item = (&'static str, &'static str)> {
    embedded::KERNELS.iter().map(|&(n, s, _)| (n, s))
}

pub fn dev_err(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Device(format!("{what}: {e:?}"))
}

/// Run a cudarc call that may panic (a missing shared library under dynamic loading).
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(Error::Device(format!("{what}: {}", msg.unwrap_or_else(|| "failed".into()))))
        }
    }
}

/// Whether the CUDA driver library can be loaded and reports at least one device; the reason
/// when not.
pub fn probe() -> std::result::Result<usize, String> {
    static PROBE: OnceLock<std::result::Result<usize, String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            // SAFETY: only tries to open the library.
            if !unsafe { sys::is_culib_present() } {
                return Err("the CUDA driver library (libcuda.so) is not installed or not on the library path".into());
            }
            let r = guarded("CUDA driver", || {
                drv::init().map_err(|e| dev_err("cuInit failed", e))?;
                CudaContext::device_count().map_err(|e| dev_err("cannot count devices", e))
            });
            match r {
                Ok(0) => Err("the CUDA driver reports no GPU".into()),
                Ok(n) => Ok(n as usize),
                Err(e) => Err(e.to_string()),
            }
        })
        .clone()
}

/// Name, memory and compute capability of every device.
pub fn devices() -> Vec<(String, usize, (i32, i32))> {
    let Ok(n) = probe() else { return Vec::new() };
    (0..n)
        .filter_map(|i| {
            guarded("device query", || {
                let c = CudaContext::new(i).map_err(|e| dev_err("context", e))?;
                Ok((
                    c.name().unwrap_or_default(),
                    c.total_mem().unwrap_or(0),
                    c.compute_capability().unwrap_or((0, 0)),
                ))
            })
            .ok()
        })
        .collect()
}

/// A block of device memory (freed on drop).
pub struct DBuf {
    pub ptr: u64,
    pub bytes: usize,
    ctx: Arc<CudaContext>,
}

impl Drop for DBuf {
    fn drop(&mut self) {
        if self.bytes > 0 {
            let _ = self.ctx.bind_to_thread();
            // SAFETY: allocated by cuMemAlloc in `Gpu::alloc`; no kernel still uses it once the
            // owner drops it (owners synchronise their stream before dropping buffers).
            unsafe {
                let _ = drv::free_sync(self.ptr);
            }
        }
    }
}

impl DBuf {
    /// Address of element `i` of type `T`.
    pub fn at<T>(&self, i: usize) -> u64 {
        self.ptr + (i * std::mem::size_of::<T>()) as u64
    }
}

/// A lock that the thread holding it may take again (a forward pass takes it, and the KV copies
/// it triggers take it inside). Every use of a device's one stream holds it, so no thread's work
/// can slip into another thread's CUDA graph capture or between its launches and its wait.
#[derive(Default)]
pub struct StreamLock {
    owner: Mutex<(Option<std::thread::ThreadId>, usize)>,
    free: std::sync::Condvar,
}

pub struct StreamGuard<'a>(&'a StreamLock);

impl StreamLock {
    pub fn lock(&self) -> StreamGuard<'_> {
        let me = std::thread::current().id();
        let mut g = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match g.0 {
                None => {
                    *g = (Some(me), 1);
                    break;
                }
                Some(o) if o == me => {
                    g.1 += 1;
                    break;
                }
                Some(_) => g = self.free.wait(g).unwrap_or_else(|e| e.into_inner()),
            }
        }
        StreamGuard(self)
    }
}

impl Drop for StreamGuard<'_> {
    fn drop(&mut self) {
        let mut g = self.0.owner.lock().unwrap_or_else(|e| e.into_inner());
        g.1 -= 1;
        if g.1 == 0 {
            g.0 = None;
            self.0.free.notify_one();
        }
    }
}

/// A kernel argument.
#[derive(Clone, Copy, Debug)]
pub enum Arg {
    /// A device address (`T*` in the kernel); 0 is a null pointer.
    P(u64),
    I(i32),
    L(i64),
    U(u64),
    F(f32),
    D(f64),
}

pub struct Gpu {
    pub ordinal: usize,
    pub name: String,
    pub total_mem: usize,
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    modules: Vec<Arc<CudaModule>>,
    funcs: Mutex<HashMap<String, CudaFunction>>,
    /// cuBLAS, or why it is not there.
    pub blas: std::result::Result<Mutex<cudarc::cublas::CudaBlas>, String>,
    pub kernels_from: String,
    /// `LANNER_CUDA_PROFILE=1`: every launch is timed with events (and waited for); per kernel
    /// name, (calls, milliseconds).
    pub profile: Option<Mutex<HashMap<String, (u64, f64)>>>,
    /// Held by every user of `stream` (see `StreamLock`).
    pub exclusive: StreamLock,
}

// SAFETY: cudarc's handles are thread-safe driver objects; the function cache is behind a Mutex.
unsafe impl Send for Gpu {}
unsafe impl Sync for Gpu {}

impl Gpu {
    /// Open device `ordinal`: context, a stream, every kernel module (PTX embedded at build time,
    /// or compiled by NVRTC when there is none or the driver rejects it), cuBLAS if it loads.
    /// One `Gpu` per device for the whole process (engines share its stream, modules and cuBLAS).
    pub fn open(ordinal: usize) -> Result<Arc<Gpu>> {
        static OPEN: OnceLock<Mutex<HashMap<usize, Arc<Gpu>>>> = OnceLock::new();
        let mut open = OPEN.get_or_init(|| Mutex::new(HashMap::new())).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = open.get(&ordinal) {
            return Ok(g.clone());
        }
        let g = Gpu::open_new(ordinal)?;
        open.insert(ordinal, g.clone());
        Ok(g)
    }

    fn open_new(ordinal: usize) -> Result<Arc<Gpu>> {
        let n = probe().map_err(|why| Error::Device(format!("no usable CUDA GPU: {why}")))?;
        if ordinal >= n {
            return Err(Error::Device(format!("cuda:{ordinal} does not exist ({n} GPU(s): cuda:0..cuda:{})", n - 1)));
        }
        guarded("CUDA", || {
            let ctx = CudaContext::new(ordinal).map_err(|e| dev_err("cannot create a CUDA context", e))?;
            // SAFETY: lanner orders all work on one stream itself and never hands cudarc slices
            // to kernels, so cudarc's event tracking has nothing to do.
            unsafe { ctx.disable_event_tracking() };
            let stream = ctx.new_stream().map_err(|e| dev_err("cannot create a stream", e))?;
            let mut modules = Vec::new();
            let mut from = Vec::new();
            // LANNER_CUDA_NVRTC=1 ignores the built-in PTX (tests the run-time compile path)
            let force_nvrtc = std::env::var("LANNER_CUDA_NVRTC").is_ok_and(|v| v == "1");
            for &(name, src, ptx) in embedded::KERNELS {
                let ptx = if force_nvrtc { None } else { ptx };
                let loaded = ptx.map(|p| ctx.load_module(cudarc::nvrtc::Ptx::from_src(p)));
                let m = match loaded {
                    Some(Ok(m)) => {
                        from.push(format!("{name}: ptx"));
                        m
                    }
                    other => {
                        if let Some(Err(e)) = other {
                            log::warn!("embedded PTX of cuda/{name}.cu rejected ({e:?}); compiling it with NVRTC");
                        }
                        let ptx = nvrtc_compile(name, src)?;
                        from.push(format!("{name}: nvrtc"));
                        ctx.load_module(ptx).map_err(|e| dev_err(&format!("cannot load cuda/{name}.cu"), e))?
                    }
                };
                modules.push(m);
            }
            // SAFETY: only tries to open the library.
            let blas = if unsafe { cudarc::cublas::sys::is_culib_present() } {
                guarded("cuBLAS", || cudarc::cublas::CudaBlas::new(stream.clone()).map(Mutex::new).map_err(|e| dev_err("cuBLAS", e)))
                    .map_err(|e| e.to_string())
            } else {
                Err("libcublas is not installed or not on the library path".to_string())
            };
            Ok(Arc::new(Gpu {
                ordinal,
                name: ctx.name().unwrap_or_default(),
                total_mem: ctx.total_mem().unwrap_or(0),
                ctx,
                stream,
                modules,
                funcs: Mutex::new(HashMap::new()),
                blas,
                exclusive: StreamLock::default(),
                profile: std::env::var("LANNER_CUDA_PROFILE").is_ok_and(|v| v == "1").then(|| Mutex::new(HashMap::new())),
                kernels_from: if from.iter().all(|f| f.ends_with(": ptx")) {
                    "built-in PTX".to_string()
                } else if from.iter().all(|f| f.ends_with(": nvrtc")) {
                    "NVRTC".to_string()
                } else {
                    from.join(", ")
                },
            }))
        })
    }

    fn func(&self, name: &str) -> Result<CudaFunction> {
        let mut f = self.funcs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = f.get(name) {
            return Ok(k.clone());
        }
        for m in &self.modules {
            if let Ok(k) = m.load_function(name) {
                f.insert(name.to_string(), k.clone());
                return Ok(k);
            }
        }
        Err(Error::Device(format!("no CUDA kernel named '{name}' in cuda/*.cu")))
    }

    /// Launch `name` on the stream (asynchronously).
    pub fn launch(&self, name: &str, grid: (u32, u32, u32), block: (u32, u32, u32), args: &[Arg]) -> Result<()> {
        if grid.0 == 0 || grid.1 == 0 || grid.2 == 0 {
            return Ok(());
        }
        let f = self.func(name)?;
        let mut b = self.stream.launch_builder(&f);
        for a in args {
            match a {
                Arg::P(v) | Arg::U(v) => b.arg(v),
                Arg::I(v) => b.arg(v),
                Arg::L(v) => b.arg(v),
                Arg::F(v) => b.arg(v),
                Arg::D(v) => b.arg(v),
            };
        }
        let cfg = LaunchConfig { grid_dim: grid, block_dim: block, shared_mem_bytes: 0 };
        let t = self.profile_start()?;
        // SAFETY: argument lists follow cuda/CONTRACT.md; callers pass live buffers of the sizes
        // the kernel reads and writes.
        unsafe { b.launch(cfg) }.map_err(|e| dev_err(&format!("launching {name}"), e))?;
        self.profile_end(t, name)
    }

    /// Start timing one operation (profiling mode only).
    pub fn profile_start(&self) -> Result<Option<cudarc::driver::CudaEvent>> {
        if self.profile.is_none() {
            return Ok(None);
        }
        let e = self.ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT)).map_err(|e| dev_err("event", e))?;
        e.record(&self.stream).map_err(|e| dev_err("event", e))?;
        Ok(Some(e))
    }

    pub fn profile_end(&self, start: Option<cudarc::driver::CudaEvent>, name: &str) -> Result<()> {
        let (Some(p), Some(e0)) = (&self.profile, start) else { return Ok(()) };
        let e1 = self.ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT)).map_err(|e| dev_err("event", e))?;
        e1.record(&self.stream).map_err(|e| dev_err("event", e))?;
        e1.synchronize().map_err(|e| dev_err("event", e))?;
        let ms = e0.elapsed_ms(&e1).map_err(|e| dev_err("event", e))? as f64;
        let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
        let entry = p.entry(name.to_string()).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += ms;
        Ok(())
    }

    /// The profile so far: (kernel, calls, total microseconds), largest first.
    pub fn profile_table(&self) -> Vec<(String, u64, f64)> {
        let Some(p) = &self.profile else { return Vec::new() };
        let p = p.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = p.iter().map(|(k, &(n, ms))| (k.clone(), n, ms * 1000.0)).collect();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        v
    }

    pub fn alloc(&self, bytes: usize) -> Result<DBuf> {
        if bytes == 0 {
            return Ok(DBuf { ptr: 0, bytes: 0, ctx: self.ctx.clone() });
        }
        self.ctx.bind_to_thread().map_err(|e| dev_err("bind", e))?;
        // SAFETY: plain allocation; the result is owned by the DBuf.
        let ptr = unsafe { drv::malloc_sync(bytes) }.map_err(|e| {
            Error::Device(format!("cannot allocate {:.1} MiB on cuda:{} ({e:?})", bytes as f64 / 1048576.0, self.ordinal))
        })?;
        Ok(DBuf { ptr, bytes, ctx: self.ctx.clone() })
    }

    pub fn alloc_zeroed(&self, bytes: usize) -> Result<DBuf> {
        let b = self.alloc(bytes)?;
        if bytes > 0 {
            // SAFETY: inside the allocation just made.
            unsafe { drv::memset_d8_async(b.ptr, 0, bytes, self.stream.cu_stream()) }.map_err(|e| dev_err("memset", e))?;
        }
        Ok(b)
    }

    /// Copy host values to device address `dst` (enqueued; `src` may be reused on return).
    pub fn upload<T: Copy>(&self, dst: u64, src: &[T]) -> Result<()> {
        if src.is_empty() {
            return Ok(());
        }
        self.ctx.bind_to_thread().map_err(|e| dev_err("bind", e))?;
        // SAFETY: the caller sized `dst` for `src`. The copy is synchronous with respect to the
        // pageable host buffer.
        unsafe { drv::memcpy_htod_async(dst, src, self.stream.cu_stream()) }.map_err(|e| dev_err("host-to-device copy", e))?;
        self.sync()
    }

    pub fn upload_new<T: Copy>(&self, src: &[T]) -> Result<DBuf> {
        let b = self.alloc(std::mem::size_of_val(src))?;
        self.upload(b.ptr, src)?;
        Ok(b)
    }

    /// Copy device values at `src` into `dst`, waiting for the stream.
    pub fn download<T: Copy>(&self, dst: &mut [T], src: u64) -> Result<()> {
        if dst.is_empty() {
            return Ok(());
        }
        self.ctx.bind_to_thread().map_err(|e| dev_err("bind", e))?;
        // SAFETY: the caller sized `src` for `dst`; we wait for the copy before returning.
        unsafe { drv::memcpy_dtoh_async(dst, src, self.stream.cu_stream()) }.map_err(|e| dev_err("device-to-host copy", e))?;
        self.sync()
    }

    pub fn copy(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: the caller checked both ranges.
        unsafe { drv::memcpy_dtod_async(dst, src, bytes, self.stream.cu_stream()) }.map_err(|e| dev_err("device copy", e))
    }

    pub fn sync(&self) -> Result<()> {
        self.stream.synchronize().map_err(|e| dev_err("CUDA stream (a kernel failed)", e))
    }
}

/// Compile one kernel file with NVRTC, caching the PTX on disk under the user's cache folder.
fn nvrtc_compile(name: &str, src: &str) -> Result<cudarc::nvrtc::Ptx> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    src.hash(&mut h);
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
        .map(|d| d.join("lanner").join("ptx").join(format!("{name}-{:016x}.ptx", h.finish())));
    if let Some(p) = &cache {
        if let Ok(s) = std::fs::read_to_string(p) {
            return Ok(cudarc::nvrtc::Ptx::from_src(s));
        }
    }
    let ptx = nvrtc_ptx(name, src)?;
    if let Some(p) = &cache {
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
            let tmp = p.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, &ptx).is_ok() {
                let _ = std::fs::rename(&tmp, p);
            }
        }
    }
    Ok(cudarc::nvrtc::Ptx::from_src(ptx))
}

/// PTX text of one kernel file, compiled by NVRTC for compute_80.
pub fn nvrtc_ptx(name: &str, src: &str) -> Result<String> {
    // SAFETY: only tries to open the library.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(Error::Device(format!(
            "cuda/{name}.cu has no PTX built in and NVRTC (libnvrtc.so) is not on the library path to compile it"
        )));
    }
    guarded("NVRTC", || {
        let opts = cudarc::nvrtc::CompileOptions { arch: Some("compute_80"), ..Default::default() };
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(src, opts).map_err(|e| dev_err(&format!("NVRTC cannot compile cuda/{name}.cu"), e))?;
        Ok(ptx.to_src())
    })
}

#[cfg(test)]
mod tests {
    use super::StreamLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn stream_lock_is_reentrant_and_exclusive() {
        let l = Arc::new(StreamLock::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (l, inside) = (l.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _a = l.lock();
                        let _b = l.lock(); // the same thread again: no deadlock
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two threads inside");
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
