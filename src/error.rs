//! The one error type of the core. The binding layer maps each variant to a Python exception
//! (`src/python/errors.rs`); nothing here knows about Python.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A model file or folder that cannot be used: bad magic, truncated, corrupt, unsupported.
    Model { path: String, msg: String },
    /// Text that cannot be tokenized, ids that cannot be detokenized, a vocabulary we cannot build.
    Tokenizer(String),
    /// More tokens than the context length allows.
    ContextOverflow(String),
    /// The KV block pool has no free block left.
    KvCacheFull(String),
    /// A bad argument from the caller (negative temperature, empty input, ...).
    InvalidArgument(String),
    /// A session used from two threads at once.
    Busy(String),
    /// The user interrupted a long call (Ctrl-C); the session was rolled back.
    Interrupted,
    /// The engine was closed.
    Closed,
    /// A device (GPU) that cannot be used, or a device operation that failed.
    Device(String),
    /// A bug: a caught panic or an invariant that does not hold.
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn model(path: impl fmt::Display, msg: impl fmt::Display) -> Error {
        Error::Model { path: path.to_string(), msg: msg.to_string() }
    }
    pub fn arg(msg: impl fmt::Display) -> Error {
        Error::InvalidArgument(msg.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Model { path, msg } => write!(f, "{path}: {msg}"),
            Error::Tokenizer(m) => write!(f, "tokenizer: {m}"),
            Error::ContextOverflow(m) => write!(f, "context overflow: {m}"),
            Error::KvCacheFull(m) => write!(f, "KV cache full: {m}"),
            Error::InvalidArgument(m) => write!(f, "{m}"),
            Error::Busy(m) => write!(f, "{m}"),
            Error::Interrupted => write!(f, "interrupted"),
            Error::Closed => write!(f, "the engine is closed"),
            Error::Device(m) => write!(f, "device: {m}"),
            Error::Internal(m) => write!(f, "internal error (a bug in lanner): {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Run `f`, turning a panic into `Error::Internal` so that no panic ever crosses into Python.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = if let Some(s) = payload.downcast_ref::<&str>() {
                s.to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "panic".to_string()
            };
            Err(Error::Internal(msg))
        }
    }
}
