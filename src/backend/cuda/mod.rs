//! The CUDA backend: NVIDIA GPUs through `cudarc` (driver, NVRTC and cuBLAS loaded at run time),
//! kernels from `cuda/*.cu` (PTX built in when nvcc was there at build time, else NVRTC at first
//! use, cached on disk).
//!
//! Models run whole on the device (`runner.rs`): weights uploaded once in their GGUF formats,
//! activations and the paged KV cache in device memory. The CPU backend is the reference every
//! kernel and every model output is tested against (tests/test_cuda.py).

pub mod device;
pub mod ops;
pub mod runner;
pub mod testing;

use crate::error::{Error, Result};
use crate::formats::gguf::GgufFile;
use crate::models::Model;

/// Where an engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(usize),
    /// A usable GPU if there is one, else the CPU.
    Auto,
}

impl Device {
    pub fn parse(s: &str) -> Result<Device> {
        let bad = || Error::arg(format!("device '{s}' is not one of \"cpu\", \"cuda\", \"cuda:N\", \"auto\""));
        Ok(match s.trim() {
            "cpu" => Device::Cpu,
            "auto" => Device::Auto,
            "cuda" => Device::Cuda(0),
            other => match other.strip_prefix("cuda:") {
                Some(n) => Device::Cuda(n.parse().map_err(|_| bad())?),
                None => return Err(bad()),
            },
        })
    }

    /// Auto resolved: cuda:0 when a GPU answers, else the CPU.
    pub fn resolve(self) -> Device {
        match self {
            Device::Auto if device::probe().is_ok() => Device::Cuda(0),
            Device::Auto => Device::Cpu,
            d => d,
        }
    }
}

/// Architectures the GPU runs.
pub const CUDA_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "phi3"];

/// Load the checkpoint's model onto GPU `ordinal`.
pub fn load_model(g: &GgufFile, ordinal: usize) -> Result<Box<dyn Model>> {
    let arch = g.architecture()?.to_string();
    if !CUDA_ARCHITECTURES.contains(&arch.as_str()) {
        return Err(Error::model(
            &g.path,
            format!("architecture '{arch}' does not run on CUDA yet (CUDA runs: {}); use device=\"cpu\"", CUDA_ARCHITECTURES.join(", ")),
        ));
    }
    let gpu = device::Gpu::open(ordinal)?;
    let host = crate::models::llama::Llama::load(g, &arch)?;
    Ok(Box::new(runner::CudaLlama::new(gpu, &host)?))
}

/// What `lanner.cuda_info()` reports.
pub struct CudaInfo {
    pub available: bool,
    pub reason: String,
    pub devices: Vec<(String, usize, (i32, i32))>,
    pub kernels: &'static str,
    /// Whether cuBLAS loads (prefill and batches use it; without it the own tiled kernels run).
    pub cublas: bool,
}

pub fn info() -> CudaInfo {
    // SAFETY: only tries to open the library.
    let cublas = std::panic::catch_unwind(|| unsafe { cudarc::cublas::sys::is_culib_present() }).unwrap_or(false);
    match device::probe() {
        Ok(_) => CudaInfo { available: true, reason: String::new(), devices: device::devices(), kernels: device::kernels_compiled_by(), cublas },
        Err(why) => CudaInfo { available: false, reason: why, devices: Vec::new(), kernels: device::kernels_compiled_by(), cublas },
    }
}
