//! The one place where core errors become Python exceptions, and where core calls run with the GIL
//! released while Ctrl-C still works.

use crate::error::{catch_panic, Error, Result};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::cell::Cell;
use std::time::{Duration, Instant};

pyo3::create_exception!(lanner, ModelError, PyValueError, "A model file or folder that cannot be loaded (names the file and the problem).");
pyo3::create_exception!(lanner, TokenizerError, PyValueError, "Text or token ids the tokenizer cannot handle.");
pyo3::create_exception!(lanner, ContextOverflowError, PyValueError, "More tokens than the engine's context length.");
pyo3::create_exception!(lanner, KVCacheFullError, PyRuntimeError, "The KV cache pool has no free block left.");
pyo3::create_exception!(lanner, SessionBusyError, PyRuntimeError, "A session used from two threads at once.");
pyo3::create_exception!(lanner, EngineClosedError, PyRuntimeError, "The engine was closed.");
pyo3::create_exception!(lanner, DeviceError, PyRuntimeError, "A device (GPU) that cannot be used, or a device operation that failed.");

pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Model { .. } => ModelError::new_err(msg),
        Error::Tokenizer(_) => TokenizerError::new_err(msg),
        Error::ContextOverflow(_) => ContextOverflowError::new_err(msg),
        Error::KvCacheFull(_) => KVCacheFullError::new_err(msg),
        Error::InvalidArgument(_) => PyValueError::new_err(msg),
        Error::Busy(_) => SessionBusyError::new_err(msg),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted; the session was left as it was before the call"),
        Error::Closed => EngineClosedError::new_err(msg),
        Error::Device(_) => DeviceError::new_err(msg),
        Error::Internal(_) => PyRuntimeError::new_err(msg),
    }
}

/// Run `f` with the GIL released and panics caught. `f` receives an `interrupted()` poll that, on
/// the main thread and at most every 20 ms, briefly re-takes the GIL to run Python's signal
/// handlers: Ctrl-C then ends the call with `KeyboardInterrupt`.
pub fn run<T: Send>(py: Python<'_>, f: impl FnOnce(&dyn Fn() -> bool) -> Result<T> + Send) -> PyResult<T> {
    let on_main = is_main_thread(py);
    let r = py.detach(|| {
        let last = Cell::new(Instant::now());
        let interrupted = move || -> bool {
            if !on_main || last.get().elapsed() < Duration::from_millis(20) {
                return false;
            }
            last.set(Instant::now());
            Python::attach(|py| py.check_signals().is_err())
        };
        catch_panic(|| f(&interrupted))
    });
    r.map_err(to_py)
}

/// Python runs signal handlers only on its main thread; elsewhere polling would be wasted work.
fn is_main_thread(py: Python<'_>) -> bool {
    let check = || -> PyResult<bool> {
        let threading = py.import("threading")?;
        let current = threading.call_method0("current_thread")?;
        let main = threading.call_method0("main_thread")?;
        Ok(current.is(&main))
    };
    check().unwrap_or(false)
}
