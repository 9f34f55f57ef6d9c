//! lanner: a local LLM inference engine. See README.md for the shape of the code.

pub mod backend;
pub mod batch;
pub mod chat;
pub mod convert;
pub mod engine;
pub mod error;
pub mod formats;
pub mod batchgen;
pub mod generate;
pub mod kv;
pub mod models;
#[cfg(feature = "python")]
pub mod python;
pub mod quant;
pub mod sampling;
pub mod score;
pub mod session;
pub mod stop;
pub mod tensor;
pub mod tokenizer;

#[cfg(feature = "python")]
use pyo3::prelude::*;

#[cfg(feature = "python")]
#[pymodule]
fn _lanner(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Rust `log` records go to Python's `logging` (logger "lanner..."); silent by default.
    // No caching: a level set later in Python takes effect (the core logs rarely, never per token).
    if let Ok(logger) = pyo3_log::Logger::new(m.py(), pyo3_log::Caching::Nothing) {
        let _ = logger.install();
    }
    python::register(m)
}
