//! Zero-copy logits: the Vec the model's final matrix product wrote becomes the memory of a numpy
//! array, whose base object owns it (no memcpy, no preallocated n_ctx x vocab array).

use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;

pub fn vec_to_numpy<'py>(py: Python<'py>, v: Vec<f32>, rows: usize, vocab: usize, two_d: bool) -> PyResult<Bound<'py, PyAny>> {
    debug_assert_eq!(v.len(), rows * vocab);
    let flat = PyArray1::from_vec(py, v);
    if two_d {
        // a reshaped view of the same memory; its base chain keeps the Vec alive
        Ok(flat.reshape([rows, vocab])?.into_any())
    } else {
        Ok(flat.into_any())
    }
}
