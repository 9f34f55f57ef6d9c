//! `lanner.cuda_info()`, the quantizer hooks and the per-kernel GPU test hook (bindings only).

use super::errors::{run, to_py};
use crate::backend::cuda::{self, testing::{HostArray, Param}};
use crate::error::Error;
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::collections::HashMap;

/// Whether a CUDA GPU can be used, why not, the devices, and how the kernels were compiled.
#[pyfunction]
pub fn cuda_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let i = py.detach(cuda::info);
    let d = PyDict::new(py);
    d.set_item("available", i.available)?;
    d.set_item("reason", i.reason)?;
    let devs = PyList::empty(py);
    for (name, mem, cc) in i.devices {
        let x = PyDict::new(py);
        x.set_item("name", name)?;
        x.set_item("memory_bytes", mem)?;
        x.set_item("compute_capability", cc)?;
        devs.append(x)?;
    }
    d.set_item("devices", devs)?;
    d.set_item("kernels", i.kernels)?;
    d.set_item("cublas", i.cublas)?;
    Ok(d)
}

/// Quantize float32 rows `[rows, cols]` with lanner's CPU reference quantizer of `type`;
/// returns uint8 `[rows, row_bytes]`.
#[pyfunction]
#[pyo3(name = "quantize")]
pub fn quantize_rows<'py>(py: Python<'py>, r#type: &str, x: PyReadonlyArrayDyn<'py, f32>) -> PyResult<Bound<'py, PyAny>> {
    let ty = crate::formats::hf::parse_quant_type(r#type).map_err(to_py)?;
    let shape = x.shape().to_vec();
    if shape.len() != 2 {
        return Err(to_py(Error::arg("x must be 2-D [rows, cols]")));
    }
    let (rows, cols) = (shape[0], shape[1]);
    let rb = ty.row_bytes(cols).ok_or_else(|| to_py(Error::arg(format!("cols {cols} is not a whole number of {} blocks", ty.name()))))?;
    let data = x.as_slice().map_err(|_| to_py(Error::arg("x must be C-contiguous")))?.to_vec();
    let out = run(py, move |_| {
        let mut out = vec![0u8; rows * rb];
        for r in 0..rows {
            crate::quant::quantize_row(ty, &data[r * cols..(r + 1) * cols], &mut out[r * rb..(r + 1) * rb]);
        }
        Ok(out)
    })?;
    Ok(PyArray1::from_vec(py, out).reshape([rows, rb])?.into_any())
}

/// Dequantize uint8 rows `[rows, row_bytes]` of `type` with the CPU reference; returns float32
/// `[rows, cols]`.
#[pyfunction]
#[pyo3(name = "dequantize")]
pub fn dequantize_rows<'py>(py: Python<'py>, r#type: &str, data: PyReadonlyArrayDyn<'py, u8>, cols: usize) -> PyResult<Bound<'py, PyAny>> {
    let ty = crate::formats::hf::parse_quant_type(r#type).map_err(to_py)?;
    let rb = ty.row_bytes(cols).ok_or_else(|| to_py(Error::arg(format!("cols {cols} is not a whole number of {} blocks", ty.name()))))?;
    let bytes = data.as_slice().map_err(|_| to_py(Error::arg("data must be C-contiguous")))?.to_vec();
    if rb == 0 || bytes.len() % rb != 0 {
        return Err(to_py(Error::arg(format!("data holds {} bytes, not a whole number of {rb}-byte rows", bytes.len()))));
    }
    let rows = bytes.len() / rb;
    let out = run(py, move |_| {
        let mut out = vec![0f32; rows * cols];
        for r in 0..rows {
            crate::quant::dequantize_row(ty, &bytes[r * rb..(r + 1) * rb], &mut out[r * cols..(r + 1) * cols]);
        }
        Ok(out)
    })?;
    Ok(PyArray1::from_vec(py, out).reshape([rows, cols])?.into_any())
}

/// Run one CUDA kernel on numpy inputs (tests/test_cuda.py compares each with a CPU reference).
#[pyfunction]
pub fn cuda_kernel_test<'py>(py: Python<'py>, op: &str, arrays: &Bound<'py, PyDict>, params: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
    let mut a = HashMap::new();
    let mut p = HashMap::new();
    for (k, v) in arrays.iter() {
        let k: String = k.extract()?;
        let (arr, shape) = if let Ok(x) = v.extract::<PyReadonlyArrayDyn<f32>>() {
            (HostArray::F32(x.as_array().iter().copied().collect()), x.shape().to_vec())
        } else if let Ok(x) = v.extract::<PyReadonlyArrayDyn<i32>>() {
            (HostArray::I32(x.as_array().iter().copied().collect()), x.shape().to_vec())
        } else if let Ok(x) = v.extract::<PyReadonlyArrayDyn<u8>>() {
            (HostArray::U8(x.as_array().iter().copied().collect()), x.shape().to_vec())
        } else if let Ok(x) = v.extract::<PyReadonlyArrayDyn<u16>>() {
            (HostArray::U16(x.as_array().iter().copied().collect()), x.shape().to_vec())
        } else {
            return Err(to_py(Error::arg(format!("array '{k}' must be a numpy array of float32, int32, uint8 or uint16"))));
        };
        let s: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        p.insert(format!("{k}.shape"), Param::Str(s.join(",")));
        a.insert(k, arr);
    }
    for (k, v) in params.iter() {
        let k: String = k.extract()?;
        let val = if let Ok(i) = v.extract::<i64>() {
            Param::Int(i)
        } else if let Ok(f) = v.extract::<f64>() {
            Param::Float(f)
        } else if let Ok(s) = v.extract::<String>() {
            Param::Str(s)
        } else {
            return Err(to_py(Error::arg(format!("parameter '{k}' must be an int, float or str"))));
        };
        p.insert(k, val);
    }
    let op = op.to_string();
    let out = run(py, move |_| cuda::testing::kernel_test(&op, a, p))?;
    let d = PyDict::new(py);
    for (k, (v, shape)) in out {
        let arr = match v {
            HostArray::F32(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
            HostArray::I32(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
            HostArray::U8(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
            HostArray::U16(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
        };
        d.set_item(k, arr)?;
    }
    Ok(d)
}
