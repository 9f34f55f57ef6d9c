//! Weight tensors as the backends see them: a type, a 2-D shape and bytes that usually live in the
//! model file's memory map (used in place, never copied at load).

use crate::error::{Error, Result};
use crate::formats::gguf::{Blob, GgufFile};
use crate::quant::{self, GgmlType};

enum Bytes {
    Shared { blob: Blob, offset: usize, len: usize },
    Owned(Vec<u8>),
}

/// A matrix of `rows` rows of `cols` elements each, stored row-major in blocks of `ty`.
pub struct QTensor {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    row_bytes: usize,
    bytes: Bytes,
}

impl QTensor {
    /// A tensor whose bytes stay where the checkpoint holds them (usually the file's memory map).
    /// The caller has checked the range and shape.
    pub fn mapped(name: &str, ty: GgmlType, rows: usize, cols: usize, blob: Blob, offset: usize) -> QTensor {
        let row_bytes = ty.row_bytes(cols).expect("shape checked by the loader");
        let len = row_bytes * rows;
        assert!(offset + len <= blob.len());
        QTensor { name: name.to_string(), ty, rows, cols, row_bytes, bytes: Bytes::Shared { blob, offset, len } }
    }

    /// A tensor that owns its bytes (tests, converted weights).
    pub fn owned(name: &str, ty: GgmlType, rows: usize, cols: usize, data: Vec<u8>) -> QTensor {
        let row_bytes = ty.row_bytes(cols).expect("cols must be a multiple of the block size");
        assert_eq!(data.len(), row_bytes * rows);
        QTensor { name: name.to_string(), ty, rows, cols, row_bytes, bytes: Bytes::Owned(data) }
    }

    /// Quantize an f32 matrix into `ty` (tests and small models).
    pub fn from_f32(name: &str, ty: GgmlType, rows: usize, cols: usize, x: &[f32]) -> QTensor {
        assert_eq!(x.len(), rows * cols);
        let rb = ty.row_bytes(cols).expect("cols must be a multiple of the block size");
        let mut data = vec![0u8; rb * rows];
        for r in 0..rows {
            quant::quantize_row(ty, &x[r * cols..(r + 1) * cols], &mut data[r * rb..(r + 1) * rb]);
        }
        QTensor::owned(name, ty, rows, cols, data)
    }

    pub fn data(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Shared { blob, offset, len } => &blob.bytes()[*offset..*offset + *len],
            Bytes::Owned(v) => v,
        }
    }

    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    pub fn row(&self, r: usize) -> &[u8] {
        &self.data()[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// Whether the bytes are borrowed from the file map (for the no-copy test).
    pub fn is_mapped(&self) -> bool {
        matches!(&self.bytes, Bytes::Shared { blob, .. } if blob.is_mapped())
    }

    /// Dequantize row `r` into `out` (len == cols).
    pub fn row_to_f32(&self, r: usize, out: &mut [f32]) {
        quant::dequantize_row(self.ty, self.row(r), out);
    }

    /// The whole tensor as f32 (small tensors: norms, biases).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        for r in 0..self.rows {
            self.row_to_f32(r, &mut out[r * self.cols..(r + 1) * self.cols]);
        }
        out
    }
}

/// Dequantize tensor `name` of a GGUF file to f32 `[rows, row_length]` (the first `max_rows`
/// rows when given) with the scalar references. Returns (values, rows, row_length).
pub fn read_tensor_f32(path: &std::path::Path, name: &str, max_rows: Option<usize>) -> Result<(Vec<f32>, usize, usize)> {
    let g = GgufFile::open(path)?;
    let t = g.tensor(name).ok_or_else(|| Error::model(&g.path, format!("no tensor named '{name}'")))?;
    let cols = t.dims[0] as usize;
    let all_rows = (t.n_elements() / t.dims[0]) as usize;
    let rows = max_rows.map_or(all_rows, |m| m.min(all_rows));
    let q = QTensor::mapped(name, t.ty, all_rows, cols, g.blob(t).clone(), t.offset as usize);
    let mut out = vec![0f32; rows * cols];
    for (r, row) in out.chunks_exact_mut(cols.max(1)).enumerate().take(rows) {
        q.row_to_f32(r, row);
    }
    Ok((out, rows, cols))
}
