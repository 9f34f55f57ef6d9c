//! The binding layer: the only code that knows PyO3.

pub mod arrays;
pub mod batch;
pub mod device;
pub mod engine;
pub mod errors;
pub mod session;

use crate::backend::cpu::features;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// CPU features, the detected tier and the tier in use (after LANNER_CPU).
#[pyfunction]
fn cpu_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = features::cpu_info();
    let d = PyDict::new(py);
    d.set_item("arch", std::env::consts::ARCH)?;
    d.set_item("features", info.features.clone())?;
    d.set_item("detected_tier", info.detected.name())?;
    d.set_item("tier", info.tier.name())?;
    d.set_item("kernels", crate::backend::cpu::table::kernels_summary())?;
    d.set_item("threads_available", features::available_threads())?;
    Ok(d)
}

/// One core's int8 multiply-add peak in GOP/s (None below the avx512vnni tier), timed over about
/// `seconds`: for bench/bench.py's fraction of the peak.
#[pyfunction]
#[pyo3(signature = (seconds=0.2))]
fn _int8_peak_gops(py: Python<'_>, seconds: f64) -> PyResult<Option<f64>> {
    if !seconds.is_finite() {
        return Err(pyo3::exceptions::PyValueError::new_err(format!("seconds must be a finite number, not {seconds}")));
    }
    Ok(py.detach(|| crate::backend::cpu::table::int8_peak_gops(seconds.clamp(0.0, 10.0))))
}

/// Dequantize a tensor of a GGUF file to float32 [rows, row_length] (first `max_rows` rows only
/// when given), with lanner's scalar reference code.
#[pyfunction]
#[pyo3(signature = (path, name, max_rows=None))]
fn read_tensor<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    name: &str,
    max_rows: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = name.to_string();
    let (data, rows, cols) = errors::run(py, move |_| crate::tensor::read_tensor_f32(&path, &name, max_rows))?;
    arrays::vec_to_numpy(py, data, rows, cols, true)
}

/// Convert a Hugging Face folder (or a GGUF file) into a GGUF file that lanner and llama.cpp load;
/// `quantize` quantizes a folder's weight matrices on the way. Returns what was written.
#[pyfunction]
#[pyo3(signature = (src, dst, quantize=None))]
fn convert(
    py: Python<'_>,
    src: std::path::PathBuf,
    dst: std::path::PathBuf,
    quantize: Option<String>,
) -> PyResult<Bound<'_, PyDict>> {
    let r = errors::run(py, move |interrupted| crate::convert::convert_with(&src, &dst, quantize.as_deref(), interrupted))?;
    let d = PyDict::new(py);
    d.set_item("path", r.path.display().to_string())?;
    d.set_item("architecture", r.architecture)?;
    d.set_item("tensors", r.tensors)?;
    d.set_item("bytes", r.bytes)?;
    d.set_item("seconds", r.seconds)?;
    d.set_item("pre_tokenizer", r.pre_tokenizer)?;
    d.set_item("file_type", r.file_type)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<engine::PyEngine>()?;
    m.add_class::<session::PySession>()?;
    m.add_class::<session::PyGenerateStream>()?;
    m.add_class::<session::PyChunk>()?;
    m.add_class::<batch::PyBatchRun>()?;
    m.add_class::<batch::PyCompletion>()?;
    m.add_class::<batch::PyScoreResult>()?;
    m.add_class::<batch::PyPerplexity>()?;
    m.add_function(wrap_pyfunction!(cpu_info, m)?)?;
    m.add_function(wrap_pyfunction!(_int8_peak_gops, m)?)?;
    m.add_function(wrap_pyfunction!(device::cuda_info, m)?)?;
    m.add_function(wrap_pyfunction!(device::quantize_rows, m)?)?;
    m.add_function(wrap_pyfunction!(device::dequantize_rows, m)?)?;
    m.add_function(wrap_pyfunction!(device::cuda_kernel_test, m)?)?;
    m.add_function(wrap_pyfunction!(read_tensor, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(engine::render_chat_template, m)?)?;
    m.add("ModelError", py.get_type::<errors::ModelError>())?;
    m.add("TokenizerError", py.get_type::<errors::TokenizerError>())?;
    m.add("ContextOverflowError", py.get_type::<errors::ContextOverflowError>())?;
    m.add("KVCacheFullError", py.get_type::<errors::KVCacheFullError>())?;
    m.add("SessionBusyError", py.get_type::<errors::SessionBusyError>())?;
    m.add("EngineClosedError", py.get_type::<errors::EngineClosedError>())?;
    m.add("DeviceError", py.get_type::<errors::DeviceError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
