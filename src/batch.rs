//! A batch: token spans from one or more sequences, and which positions' logits are wanted.
//! Prefill, decode, many-session decode and scoring are all just different batches.

use crate::kv::SeqKv;

/// Which logits rows a span wants back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    None,
    Last,
    All,
    /// The rows of the last k tokens (scoring: the positions whose predictions are scored).
    Tail(usize),
}

impl Want {
    pub fn rows(self, n_tokens: usize) -> usize {
        match self {
            Want::None => 0,
            Want::Last => n_tokens.min(1),
            Want::All => n_tokens,
            Want::Tail(k) => n_tokens.min(k),
        }
    }
}

/// New tokens for one sequence, appended after the `kv.len` positions it already has.
pub struct Span<'a> {
    pub kv: &'a mut SeqKv,
    pub tokens: &'a [u32],
    pub want: Want,
}
