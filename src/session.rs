//! Session: one sequence's tokens and its KV block table.
//!
//! Invariant: `kv.len <= tokens.len()`; tokens past `kv.len` are known but not yet computed (a
//! sampled token is computed lazily by the next forward pass that needs it).

use crate::kv::SeqKv;

pub struct Session {
    pub kv: SeqKv,
    pub tokens: Vec<u32>,
}

impl Session {
    pub fn reset(&mut self) {
        self.tokens.clear();
        self.kv.truncate(0);
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}
