//! The KV cache: fixed-size blocks from one engine-owned pool; each sequence holds a block table.
//!
//! A block stores `block_size` positions for every layer: `[layer][k|v][slot][kv_dim]` f32. A
//! sequence's position `p` lives in block `table[p / block_size]`, slot `p % block_size`. Blocks are
//! reference-counted so that later prefix sharing and copy-on-write forks can point two tables at one
//! block; a block with more than one owner is read-only.
//!
//! The pool's memory is reserved zeroed (calloc): pages are only committed when first written, so a
//! large pool costs nothing until it is used.

use crate::error::{Error, Result};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

pub struct KvPool {
    pub n_layers: usize,
    pub kv_dim: usize,
    pub block_size: usize,
    pub n_blocks: usize,
    block_floats: usize,
    /// `block_floats * n_blocks` zeroed f32s (allocated fallibly: a huge pool is an error, not
    /// an abort).
    data: *mut f32,
    layout: Layout,
    free: Mutex<Vec<u32>>,
    refs: Vec<AtomicU32>,
}

// SAFETY: block contents are only written through `k_mut`/`v_mut` by the single owner of a block
// (the sequence whose table holds it, itself behind a lock); the free list is behind a Mutex.
unsafe impl Sync for KvPool {}
unsafe impl Send for KvPool {}

impl KvPool {
    pub fn new(n_layers: usize, kv_dim: usize, block_size: usize, n_blocks: usize) -> Result<KvPool> {
        let too_big = || {
            Error::KvCacheFull(format!(
                "cannot reserve a KV cache of {n_blocks} blocks x {block_size} tokens ({n_layers} layers, {kv_dim} \
                 values per token): pass a smaller kv_cache_tokens or context_length"
            ))
        };
        let block_floats = n_layers.checked_mul(2 * kv_dim).and_then(|v| v.checked_mul(block_size)).ok_or_else(too_big)?;
        let total = block_floats.checked_mul(n_blocks).filter(|&t| t > 0 && n_blocks <= u32::MAX as usize).ok_or_else(too_big)?;
        let layout = Layout::array::<f32>(total).map_err(|_| too_big())?;
        // SAFETY: non-zero size; a null result (refused allocation) is an error, not an abort.
        let data = unsafe { alloc_zeroed(layout) } as *mut f32;
        if data.is_null() {
            return Err(too_big());
        }
        Ok(KvPool {
            n_layers,
            kv_dim,
            block_size,
            n_blocks,
            block_floats,
            data,
            layout,
            // pop() hands out low ids first
            free: Mutex::new((0..n_blocks as u32).rev().collect()),
            refs: (0..n_blocks).map(|_| AtomicU32::new(0)).collect(),
        })
    }

    pub fn bytes_per_token(&self) -> usize {
        self.n_layers * 2 * self.kv_dim * 4
    }

    pub fn capacity_tokens(&self) -> usize {
        self.n_blocks * self.block_size
    }

    pub fn free_blocks(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn alloc(&self) -> Result<u32> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let id = free.pop().ok_or_else(|| {
            Error::KvCacheFull(format!(
                "all {} blocks ({} tokens) of the KV cache are in use; free sessions or raise kv_cache_tokens",
                self.n_blocks,
                self.capacity_tokens()
            ))
        })?;
        self.refs[id as usize].store(1, Ordering::Release);
        Ok(id)
    }

    /// Take one more reference to a block (prefix sharing, forks).
    pub fn retain(&self, id: u32) {
        self.refs[id as usize].fetch_add(1, Ordering::AcqRel);
    }

    fn release(&self, id: u32) {
        if self.refs[id as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
            self.free.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        }
    }

    #[inline]
    fn offset(&self, block: u32, layer: usize, which: usize) -> usize {
        block as usize * self.block_floats + (layer * 2 + which) * self.block_size * self.kv_dim
    }

    /// Keys of `layer` in `block`: `block_size * kv_dim` floats.
    #[inline]
    fn slice(&self, o: usize) -> &[f32] {
        assert!(o + self.block_size * self.kv_dim <= self.block_floats * self.n_blocks);
        // SAFETY: in bounds (checked); see the Sync note.
        unsafe { std::slice::from_raw_parts(self.data.add(o), self.block_size * self.kv_dim) }
    }

    #[inline]
    pub fn k(&self, block: u32, layer: usize) -> &[f32] {
        self.slice(self.offset(block, layer, 0))
    }

    #[inline]
    pub fn v(&self, block: u32, layer: usize) -> &[f32] {
        self.slice(self.offset(block, layer, 1))
    }

    /// Write one position's key and value. Only the block's single owner may call this.
    pub fn write(&self, block: u32, layer: usize, slot: usize, k: &[f32], v: &[f32]) {
        debug_assert_eq!(self.refs[block as usize].load(Ordering::Acquire), 1, "writing a shared block");
        let d = self.kv_dim;
        let ko = self.offset(block, layer, 0) + slot * d;
        let vo = self.offset(block, layer, 1) + slot * d;
        assert!(slot < self.block_size && k.len() == d && v.len() == d && vo + d <= self.block_floats * self.n_blocks);
        // SAFETY: in bounds (checked) and disjoint from every other writer (exclusively owned block).
        unsafe {
            std::slice::from_raw_parts_mut(self.data.add(ko), d).copy_from_slice(k);
            std::slice::from_raw_parts_mut(self.data.add(vo), d).copy_from_slice(v);
        }
    }
}

impl Drop for KvPool {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.data as *mut u8, self.layout) }
    }
}

/// One sequence's view of the cache: its block table and how many positions are filled.
pub struct SeqKv {
    pool: Arc<KvPool>,
    pub blocks: Vec<u32>,
    pub len: usize,
}

impl SeqKv {
    pub fn new(pool: Arc<KvPool>) -> SeqKv {
        SeqKv { pool, blocks: Vec::new(), len: 0 }
    }

    pub fn pool(&self) -> &Arc<KvPool> {
        &self.pool
    }

    /// Make room for `n` more positions, allocating blocks as needed. On failure nothing changes.
    pub fn reserve(&mut self, n: usize) -> Result<()> {
        let need = (self.len + n).div_ceil(self.pool.block_size);
        let before = self.blocks.len();
        while self.blocks.len() < need {
            match self.pool.alloc() {
                Ok(id) => self.blocks.push(id),
                Err(e) => {
                    for id in self.blocks.drain(before..) {
                        self.pool.release(id);
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Forget positions from `len` on and give back the blocks no longer needed.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        let keep = len.div_ceil(self.pool.block_size);
        while self.blocks.len() > keep {
            let id = self.blocks.pop().unwrap();
            self.pool.release(id);
        }
    }

    /// (block, slot) of a position.
    #[inline]
    pub fn locate(&self, pos: usize) -> (u32, usize) {
        let bs = self.pool.block_size;
        (self.blocks[pos / bs], pos % bs)
    }
}

impl Drop for SeqKv {
    fn drop(&mut self) {
        for &id in &self.blocks {
            self.pool.release(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_allocated_released_and_bounded() {
        let pool = Arc::new(KvPool::new(2, 4, 4, 3).unwrap());
        let mut a = SeqKv::new(pool.clone());
        a.reserve(5).unwrap(); // 2 blocks
        assert_eq!(a.blocks.len(), 2);
        assert_eq!(pool.free_blocks(), 1);
        let mut b = SeqKv::new(pool.clone());
        let e = b.reserve(8).unwrap_err(); // needs 2, only 1 left
        assert!(matches!(e, Error::KvCacheFull(_)));
        assert_eq!(pool.free_blocks(), 1, "a failed reserve gives back what it took");
        a.len = 5;
        a.truncate(3);
        assert_eq!(a.blocks.len(), 1);
        drop(a);
        assert_eq!(pool.free_blocks(), 3);
    }

    #[test]
    fn an_impossible_pool_is_an_error_not_an_abort() {
        assert!(matches!(KvPool::new(32, 1024, 16, usize::MAX / 64), Err(Error::KvCacheFull(_))));
        assert!(matches!(KvPool::new(1 << 20, 1 << 20, 1 << 20, 1 << 20), Err(Error::KvCacheFull(_))));
    }

    #[test]
    fn writes_land_where_locate_says() {
        let pool = Arc::new(KvPool::new(2, 3, 2, 4).unwrap());
        let mut s = SeqKv::new(pool.clone());
        s.reserve(3).unwrap();
        for p in 0..3 {
            let (b, slot) = s.locate(p);
            pool.write(b, 1, slot, &[p as f32; 3], &[-(p as f32); 3]);
        }
        let (b, slot) = s.locate(2);
        assert_eq!(pool.k(b, 1)[slot * 3..slot * 3 + 3], [2.0; 3]);
        assert_eq!(pool.v(b, 1)[slot * 3..slot * 3 + 3], [-2.0; 3]);
        assert_eq!(pool.k(b, 0)[slot * 3], 0.0, "other layers untouched");
    }
}
