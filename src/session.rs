//! Session: one sequence's tokens and its KV block table.
//!
//! Invariant: `kv.len <= tokens.len()`; tokens past `kv.len` are known but not yet computed (a
//! sampled token is computed lazily by the next forward pass that needs it).
//!
//! Saved sessions (`save` / `load`), little-endian:
//!
//! ```text
//! magic "LANNERKV" | version u32 = 1 | model fingerprint u64 | n_layer u32 | kv_dim u32
//! | n_tokens u64 | kv_len u64 | tokens u32[n_tokens]
//! | kv f32[kv_len][n_layer][2][kv_dim]     (position by position: every layer's key, then value)
//! | FNV-1a-64 of everything before it, u64
//! ```

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::kv::SeqKv;
use std::io::Write;
use std::path::Path;

pub struct Session {
    pub kv: SeqKv,
    pub tokens: Vec<u32>,
}

const MAGIC: &[u8; 8] = b"LANNERKV";
const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 4 + 4 + 8 + 8;

fn fnv(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
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

    /// A copy that shares this session's KV blocks (copy-on-write): costs a block table, not the
    /// cache. Either may then go its own way.
    pub fn fork(&self) -> Session {
        Session { kv: self.kv.share(), tokens: self.tokens.clone() }
    }

    /// Write the tokens and computed KV to `path` (through a temporary file renamed into place:
    /// never half-written).
    pub fn save(&self, eng: &Engine, path: &Path) -> Result<()> {
        let pool = self.kv.pool();
        // models with recurrent layers: the state at kv.len follows the K/V (a session whose
        // state is not at its cache end is saved uncomputed; loading recomputes it)
        let state_len = eng.model.recurrent_state_len();
        let state = self.kv.state.as_ref().filter(|st| st.pos == self.kv.len && st.data.len() == state_len);
        let kv_len = if state_len > 0 && state.is_none() { 0 } else { self.kv.len };
        let per_pos = pool.n_layers * 2 * pool.kv_dim;
        let mut buf = Vec::with_capacity(HEADER + self.tokens.len() * 4 + self.kv.len * per_pos * 4 + 8);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        buf.extend_from_slice(&eng.fingerprint.to_le_bytes());
        buf.extend_from_slice(&(pool.n_layers as u32).to_le_bytes());
        buf.extend_from_slice(&(pool.kv_dim as u32).to_le_bytes());
        buf.extend_from_slice(&(self.tokens.len() as u64).to_le_bytes());
        buf.extend_from_slice(&(kv_len as u64).to_le_bytes());
        for t in &self.tokens {
            buf.extend_from_slice(&t.to_le_bytes());
        }
        let mut vals = Vec::with_capacity(per_pos);
        for p in 0..kv_len {
            let (b, slot) = self.kv.locate(p);
            vals.clear();
            pool.position(b, slot, &mut vals)?;
            for v in &vals {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        if let Some(st) = state.filter(|_| kv_len > 0) {
            for v in &st.data {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        let sum = fnv(&buf);
        buf.extend_from_slice(&sum.to_le_bytes());
        let io = |e: std::io::Error| Error::arg(format!("cannot write session file {}: {e}", path.display()));
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let r = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&buf)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r.map_err(io)
    }

    /// Read a session written by `save` for this engine's model.
    pub fn load(eng: &Engine, path: &Path) -> Result<Session> {
        let p = path.display();
        let bad = |m: String| Error::arg(format!("{p}: not a usable lanner session file: {m}"));
        let buf = std::fs::read(path).map_err(|e| Error::arg(format!("cannot read session file {p}: {e}")))?;
        if buf.len() < HEADER + 8 || &buf[..8] != MAGIC {
            return Err(bad("it does not start with the LANNERKV header".into()));
        }
        let u32_at = |o: usize| u32::from_le_bytes(buf[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(buf[o..o + 8].try_into().unwrap());
        let version = u32_at(8);
        if version != VERSION {
            return Err(bad(format!("format version {version}, this lanner reads version {VERSION}")));
        }
        let body = buf.len() - 8;
        if fnv(&buf[..body]) != u64_at(body) {
            return Err(bad("the checksum does not match (truncated or corrupt)".into()));
        }
        let pool = eng.pool.clone();
        if u64_at(12) != eng.fingerprint || u32_at(20) as usize != pool.n_layers || u32_at(24) as usize != pool.kv_dim {
            return Err(bad(format!("it was saved with a different model than {}", eng.path.display())));
        }
        let (n_tokens, kv_len) = (u64_at(28) as usize, u64_at(36) as usize);
        let per_pos = pool.n_layers * 2 * pool.kv_dim;
        let state_len = if kv_len > 0 { eng.model.recurrent_state_len() } else { 0 };
        let want = n_tokens
            .checked_mul(4)
            .and_then(|t| kv_len.checked_mul(per_pos * 4).map(|k| HEADER + t + k + 4 * state_len));
        if kv_len > n_tokens || want != Some(body) {
            return Err(bad(format!("{n_tokens} tokens and {kv_len} cached positions do not match its size")));
        }
        eng.check_context(0, n_tokens)?;
        let tokens: Vec<u32> = (0..n_tokens).map(|i| u32_at(HEADER + 4 * i)).collect();
        let vocab = eng.config().vocab_size;
        if let Some(t) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(bad(format!("token id {t} is out of range (vocabulary size {vocab})")));
        }
        let mut kv = SeqKv::new(pool.clone());
        kv.reserve(kv_len)?;
        let d = pool.kv_dim;
        let f = |o: usize| f32::from_le_bytes(buf[o..o + 4].try_into().unwrap());
        let mut k = vec![0f32; d];
        let mut v = vec![0f32; d];
        let mut o = HEADER + 4 * n_tokens;
        for p in 0..kv_len {
            let (b, slot) = kv.locate(p);
            for layer in 0..pool.n_layers {
                for (i, x) in k.iter_mut().enumerate() {
                    *x = f(o + 4 * i);
                }
                o += 4 * d;
                for (i, x) in v.iter_mut().enumerate() {
                    *x = f(o + 4 * i);
                }
                o += 4 * d;
                pool.write(b, layer, slot, &k, &v)?;
            }
        }
        kv.len = kv_len;
        if state_len > 0 {
            let data: Vec<f32> = (0..state_len).map(|i| f(o + 4 * i)).collect();
            kv.state = Some(crate::kv::RecurrentState { data, pos: kv_len, before_last: None });
        }
        Ok(Session { kv, tokens })
    }
}
