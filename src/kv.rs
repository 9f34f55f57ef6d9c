//! The KV cache: fixed-size blocks from one engine-owned pool; each sequence holds a block table.
//!
//! A block stores `block_size` positions for every layer: `[layer][k|v][slot][kv_dim]` f32. A
//! sequence's position `p` lives in block `table[p / block_size]`, slot `p % block_size`. Blocks are
//! reference-counted so that later prefix sharing and copy-on-write forks can point two tables at one
//! block; a block with more than one owner is read-only.
//!
//! Copy-on-write: a sequence about to write into a block it shares (a fork, or a block of the
//! prefix cache) first copies it into a block of its own (`SeqKv::reserve`).
//!
//! The prefix cache keeps full blocks of computed prompts, keyed by the hash of every token up to
//! the block's end (and checked token by token), so that a new sequence starting with the same
//! tokens takes those blocks instead of recomputing them. It holds at most `prefix_capacity`
//! blocks, evicts the least recently used first, and gives blocks back whenever an allocation
//! would otherwise fail.
//!
//! The pool's memory is reserved zeroed (calloc): pages are only committed when first written, so a
//! large pool costs nothing until it is used.

use crate::error::{Error, Result};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::HashMap;
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
    prefix: Mutex<PrefixCache>,
    /// Set when the blocks' K/V live on a device (the CUDA backend) rather than in `data`; the
    /// pool then keeps only the bookkeeping and forwards data operations there.
    mirror: std::sync::OnceLock<Arc<dyn KvMirror>>,
}

/// K/V block storage kept elsewhere (device memory), under the pool's block ids.
pub trait KvMirror: Send + Sync {
    /// Copy every layer of block `from` into block `to`.
    fn copy_block(&self, from: u32, to: u32) -> Result<()>;
    /// Keys and values of one position for `layer`.
    fn read(&self, block: u32, layer: usize, slot: usize, k: &mut [f32], v: &mut [f32]) -> Result<()>;
    fn write(&self, block: u32, layer: usize, slot: usize, k: &[f32], v: &[f32]) -> Result<()>;
}

/// Full blocks of earlier prompts, for reuse (see the module note).
struct PrefixCache {
    capacity: usize,
    tick: u64,
    map: HashMap<u64, PrefixEntry>,
    hits: u64,
    reused_tokens: u64,
}

struct PrefixEntry {
    block: u32,
    /// Hash of the prefix before this block (0 for the first block) and this block's tokens: a
    /// hash collision can never hand out a wrong block.
    parent: u64,
    tokens: Box<[u32]>,
    depth: usize,
    last_used: u64,
}

/// FNV-1a over the previous hash and a block of tokens.
fn chain_hash(parent: u64, tokens: &[u32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ parent;
    for &t in tokens {
        for b in t.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h.max(1)
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
            prefix: Mutex::new(PrefixCache { capacity: 0, tick: 0, map: HashMap::new(), hits: 0, reused_tokens: 0 }),
            mirror: std::sync::OnceLock::new(),
        })
    }

    /// Keep the blocks' data in `m` from now on (set once, before any sequence uses the pool).
    pub fn set_mirror(&self, m: Arc<dyn KvMirror>) {
        let _ = self.mirror.set(m);
    }

    pub fn has_mirror(&self) -> bool {
        self.mirror.get().is_some()
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
        loop {
            if let Some(id) = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop() {
                self.refs[id as usize].store(1, Ordering::Release);
                return Ok(id);
            }
            // no free block: give back cached prefixes, least recently used first
            if !self.evict_one() {
                return Err(Error::KvCacheFull(format!(
                    "all {} blocks ({} tokens) of the KV cache are in use; free sessions or raise kv_cache_tokens",
                    self.n_blocks,
                    self.capacity_tokens()
                )));
            }
        }
    }

    fn prefix(&self) -> std::sync::MutexGuard<'_, PrefixCache> {
        self.prefix.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Most blocks the prefix cache may hold (0 turns it off and empties it).
    pub fn set_prefix_capacity(&self, blocks: usize) {
        self.prefix().capacity = blocks;
        while self.prefix().map.len() > blocks {
            self.evict_one();
        }
    }

    /// (blocks held, capacity, lookups that reused blocks, tokens reused).
    pub fn prefix_stats(&self) -> (usize, usize, u64, u64) {
        let p = self.prefix();
        (p.map.len(), p.capacity, p.hits, p.reused_tokens)
    }

    /// Drop the least recently used (deepest first on ties) cached block; false when none.
    fn evict_one(&self) -> bool {
        let id = {
            let mut p = self.prefix();
            let Some((&key, _)) = p.map.iter().min_by_key(|(_, e)| (e.last_used, usize::MAX - e.depth)) else {
                return false;
            };
            p.map.remove(&key).map(|e| e.block)
        };
        if let Some(id) = id {
            self.release(id);
        }
        true
    }

    /// Blocks of the longest cached prefix of `tokens` made of whole blocks, at most `max_blocks`
    /// of them; each comes with a reference the caller now owns.
    pub fn lookup_prefix(&self, tokens: &[u32], max_blocks: usize) -> Vec<u32> {
        let bs = self.block_size;
        let mut p = self.prefix();
        if p.capacity == 0 {
            return vec![];
        }
        p.tick += 1;
        let tick = p.tick;
        let mut out = Vec::new();
        let mut h = 0u64;
        for (i, blk) in tokens.chunks_exact(bs).take(max_blocks).enumerate() {
            let key = chain_hash(h, blk);
            match p.map.get_mut(&key) {
                Some(e) if e.parent == h && e.depth == i && &*e.tokens == blk => {
                    e.last_used = tick;
                    self.retain(e.block);
                    out.push(e.block);
                }
                _ => break,
            }
            h = key;
        }
        if !out.is_empty() {
            p.hits += 1;
            p.reused_tokens += (out.len() * bs) as u64;
        }
        out
    }

    /// Offer the full blocks of a computed sequence to the prefix cache.
    pub fn remember_prefix(&self, tokens: &[u32], blocks: &[u32], computed: usize) {
        let bs = self.block_size;
        let mut p = self.prefix();
        if p.capacity == 0 {
            return;
        }
        p.tick += 1;
        let tick = p.tick;
        let mut h = 0u64;
        let n_full = (computed.min(tokens.len()) / bs).min(blocks.len()).min(p.capacity);
        for (i, blk) in tokens.chunks_exact(bs).take(n_full).enumerate() {
            let key = chain_hash(h, blk);
            if let Some(e) = p.map.get_mut(&key) {
                e.last_used = tick;
            } else {
                self.retain(blocks[i]);
                p.map.insert(key, PrefixEntry { block: blocks[i], parent: h, tokens: blk.into(), depth: i, last_used: tick });
            }
            h = key;
        }
        let over = p.map.len().saturating_sub(p.capacity);
        drop(p);
        for _ in 0..over {
            self.evict_one();
        }
    }

    /// For each sequence, the length (in whole blocks, at most `max_blocks[i]`) of its longest
    /// prefix that another sequence of `seqs` also starts with and that the prefix cache does not
    /// hold yet: what a batch should compute once, before its members look it up.
    pub fn shared_uncached_prefixes(&self, seqs: &[&[u32]], max_blocks: &[usize]) -> Vec<usize> {
        let bs = self.block_size;
        let chains: Vec<Vec<u64>> = seqs
            .iter()
            .zip(max_blocks)
            .map(|(t, &m)| {
                let mut h = 0u64;
                t.chunks_exact(bs).take(m).map(|b| {
                    h = chain_hash(h, b);
                    h
                }).collect()
            })
            .collect();
        let mut count: HashMap<u64, usize> = HashMap::new();
        for c in &chains {
            for &h in c {
                *count.entry(h).or_default() += 1;
            }
        }
        let p = self.prefix();
        if p.capacity == 0 {
            return vec![0; seqs.len()];
        }
        chains
            .iter()
            .map(|c| {
                let n = c.iter().take_while(|h| count[h] >= 2).count();
                if n > 0 && p.map.contains_key(&c[n - 1]) {
                    0
                } else {
                    n
                }
            })
            .collect()
    }

    fn shared(&self, id: u32) -> bool {
        self.refs[id as usize].load(Ordering::Acquire) > 1
    }

    /// Copy every layer of block `from` into block `to`.
    fn copy_block(&self, from: u32, to: u32) -> Result<()> {
        if let Some(m) = self.mirror.get() {
            return m.copy_block(from, to);
        }
        let n = self.block_floats;
        assert!(from as usize * n + n <= n * self.n_blocks && to as usize * n + n <= n * self.n_blocks && from != to);
        // SAFETY: both in bounds (checked), distinct blocks; `to` is exclusively owned by the caller.
        unsafe { std::ptr::copy_nonoverlapping(self.data.add(from as usize * n), self.data.add(to as usize * n), n) };
        Ok(())
    }

    /// Every value of one position (all layers, k then v), for saving a session.
    pub fn position(&self, block: u32, slot: usize, out: &mut Vec<f32>) -> Result<()> {
        let d = self.kv_dim;
        if let Some(m) = self.mirror.get() {
            let (mut k, mut v) = (vec![0f32; d], vec![0f32; d]);
            for layer in 0..self.n_layers {
                m.read(block, layer, slot, &mut k, &mut v)?;
                out.extend_from_slice(&k);
                out.extend_from_slice(&v);
            }
            return Ok(());
        }
        for layer in 0..self.n_layers {
            out.extend_from_slice(&self.k(block, layer)[slot * d..(slot + 1) * d]);
            out.extend_from_slice(&self.v(block, layer)[slot * d..(slot + 1) * d]);
        }
        Ok(())
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
    pub fn write(&self, block: u32, layer: usize, slot: usize, k: &[f32], v: &[f32]) -> Result<()> {
        debug_assert_eq!(self.refs[block as usize].load(Ordering::Acquire), 1, "writing a shared block");
        if let Some(m) = self.mirror.get() {
            return m.write(block, layer, slot, k, v);
        }
        let d = self.kv_dim;
        let ko = self.offset(block, layer, 0) + slot * d;
        let vo = self.offset(block, layer, 1) + slot * d;
        assert!(slot < self.block_size && k.len() == d && v.len() == d && vo + d <= self.block_floats * self.n_blocks);
        // SAFETY: in bounds (checked) and disjoint from every other writer (exclusively owned block).
        unsafe {
            std::slice::from_raw_parts_mut(self.data.add(ko), d).copy_from_slice(k);
            std::slice::from_raw_parts_mut(self.data.add(vo), d).copy_from_slice(v);
        }
        Ok(())
    }
}

impl Drop for KvPool {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.data as *mut u8, self.layout) }
    }
}

/// A sequence's recurrent state (linear-attention layers: Qwen3.5's gated delta rule), which
/// summarises every position before `pos` and cannot be cut back like K/V blocks. The model keeps
/// the state as it was before the last token of its latest forward pass, so that recomputing the
/// last position (what generation does after a prompt's logits were handed out) stays cheap; any
/// other cut restarts the sequence from position 0 (its tokens are still in the session).
#[derive(Clone, Debug, Default)]
pub struct RecurrentState {
    pub data: Vec<f32>,
    /// Positions the state has consumed.
    pub pos: usize,
    /// The state at `pos - 1`, when known.
    pub before_last: Option<Vec<f32>>,
}

/// One sequence's view of the cache: its block table and how many positions are filled.
pub struct SeqKv {
    pool: Arc<KvPool>,
    pub blocks: Vec<u32>,
    pub len: usize,
    /// None for models without recurrent layers.
    pub state: Option<RecurrentState>,
}

impl SeqKv {
    pub fn new(pool: Arc<KvPool>) -> SeqKv {
        SeqKv { pool, blocks: Vec::new(), len: 0, state: None }
    }

    pub fn pool(&self) -> &Arc<KvPool> {
        &self.pool
    }

    /// Make room for `n` more positions, allocating blocks as needed, and make the blocks those
    /// positions fall in this sequence's own (copy-on-write). On failure nothing changes.
    pub fn reserve(&mut self, n: usize) -> Result<()> {
        let bs = self.pool.block_size;
        let need = (self.len + n).div_ceil(bs);
        if n > 0 {
            for i in self.len / bs..need.min(self.blocks.len()) {
                let old = self.blocks[i];
                if self.pool.shared(old) {
                    let new = self.pool.alloc()?;
                    if let Err(e) = self.pool.copy_block(old, new) {
                        self.pool.release(new);
                        return Err(e);
                    }
                    self.blocks[i] = new;
                    self.pool.release(old);
                }
            }
        }
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

    /// A second table over the same blocks (a fork): both read them; whichever writes into a shared
    /// block first copies it.
    pub fn share(&self) -> SeqKv {
        for &id in &self.blocks {
            self.pool.retain(id);
        }
        SeqKv { pool: self.pool.clone(), blocks: self.blocks.clone(), len: self.len, state: self.state.clone() }
    }

    /// Start an empty sequence from blocks of the prefix cache (`lookup_prefix`'s result).
    pub fn adopt_prefix(&mut self, blocks: Vec<u32>) {
        debug_assert!(self.blocks.is_empty() && self.len == 0);
        self.len = blocks.len() * self.pool.block_size;
        self.blocks = blocks;
    }

    /// Forget positions from `len` on and give back the blocks no longer needed. With a recurrent
    /// state that cannot be brought back to `len`, the sequence restarts from 0 (`self.len` = 0).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        if let Some(st) = &mut self.state {
            if st.pos > self.len {
                match st.before_last.take() {
                    Some(prev) if st.pos == self.len + 1 => {
                        st.data = prev;
                        st.pos = self.len;
                    }
                    _ => {
                        st.data.iter_mut().for_each(|v| *v = 0.0);
                        st.pos = 0;
                        self.len = 0;
                    }
                }
            }
        }
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
            pool.write(b, 1, slot, &[p as f32; 3], &[-(p as f32); 3]).unwrap();
        }
        let (b, slot) = s.locate(2);
        assert_eq!(pool.k(b, 1)[slot * 3..slot * 3 + 3], [2.0; 3]);
        assert_eq!(pool.v(b, 1)[slot * 3..slot * 3 + 3], [-2.0; 3]);
        assert_eq!(pool.k(b, 0)[slot * 3], 0.0, "other layers untouched");
    }

    #[test]
    fn forks_share_blocks_until_one_writes() {
        let pool = Arc::new(KvPool::new(1, 2, 2, 8).unwrap());
        let mut a = SeqKv::new(pool.clone());
        a.reserve(3).unwrap();
        for p in 0..3 {
            let (b, slot) = a.locate(p);
            pool.write(b, 0, slot, &[p as f32; 2], &[0.0; 2]).unwrap();
        }
        a.len = 3;
        let mut b = a.share();
        assert_eq!(pool.free_blocks(), 6, "a fork takes no new block");
        // b writes position 3: the shared second block is copied first
        b.reserve(1).unwrap();
        assert_ne!(a.blocks[1], b.blocks[1]);
        assert_eq!(a.blocks[0], b.blocks[0]);
        let (blk, slot) = b.locate(3);
        pool.write(blk, 0, slot, &[9.0; 2], &[0.0; 2]).unwrap();
        let (ab, aslot) = a.locate(2);
        let (bb, bslot) = b.locate(2);
        assert_eq!(pool.k(ab, 0)[aslot * 2], 2.0);
        assert_eq!(pool.k(bb, 0)[bslot * 2], 2.0, "the copy holds what was there");
        drop(a);
        drop(b);
        assert_eq!(pool.free_blocks(), 8);
    }

    #[test]
    fn prefix_cache_reuses_checks_and_evicts() {
        let pool = Arc::new(KvPool::new(1, 1, 2, 4).unwrap());
        pool.set_prefix_capacity(4);
        let toks = [1u32, 2, 3, 4, 5];
        let mut a = SeqKv::new(pool.clone());
        a.reserve(5).unwrap();
        a.len = 5;
        pool.remember_prefix(&toks, &a.blocks, 5);
        assert_eq!(pool.prefix_stats().0, 2, "two full blocks cached");
        let got = pool.lookup_prefix(&[1, 2, 3, 4, 9, 9], 3);
        assert_eq!(got, a.blocks[..2].to_vec());
        let adopt = |blocks: Vec<u32>| {
            let mut s = SeqKv::new(pool.clone());
            s.adopt_prefix(blocks);
            s
        };
        assert_eq!(adopt(pool.lookup_prefix(&[1, 2, 7, 4], 2)).len, 2, "a different second block stops the match");
        assert!(pool.lookup_prefix(&[2, 1], 1).is_empty());
        let b = adopt(got);
        assert_eq!(b.len, 4);
        drop(a);
        drop(b);
        assert_eq!(pool.free_blocks(), 2, "the cache still holds two blocks");
        let mut c = SeqKv::new(pool.clone());
        c.reserve(8).unwrap();
        assert_eq!(pool.prefix_stats().0, 0, "allocation pressure empties the cache");
    }
}
