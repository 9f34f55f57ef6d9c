//! Scoring: log-probabilities of given tokens (lm-eval's `loglikelihood`), and rolling perplexity.
//!
//! Items run batched through the shared forward pass (several items' spans per call, long items
//! in chunks); each call hands back only the hidden rows of scored positions, which are projected
//! to logits a few rows at a time, so memory stays bounded however long the text and however large
//! the vocabulary. Everything runs on the batch-invariant backend: an item's numbers are the same
//! bits whether it is scored alone or with others.

use crate::batch::{Span, Want};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::kv::SeqKv;

/// Tokens per forward call (all items together).
const BATCH_TOKENS: usize = 512;
/// Floats of logits held at once (rows x vocab).
const LOGITS_FLOATS: usize = 8 << 20;

/// Score `tokens[first..]`, each given the tokens before it (`first >= 1`).
#[derive(Clone, Debug)]
pub struct ScoreItem {
    pub tokens: Vec<u32>,
    pub first: usize,
}

#[derive(Clone, Debug, Default)]
pub struct ScoreResult {
    /// log p(tokens[i] | tokens[..i]) for i in first..n.
    pub logprobs: Vec<f32>,
    /// Whether every scored token was the arg-max of its distribution.
    pub greedy: bool,
    /// Per scored position, the `top_k` most likely tokens and their log-probabilities.
    pub top: Vec<Vec<(u32, f32)>>,
}

struct Active {
    item: usize,
    kv: SeqKv,
}

/// Log-softmax statistics of one logits row: (log p(target), target is the arg-max, top k).
pub fn row_logprob(row: &[f32], target: u32, top_k: usize) -> (f32, bool, Vec<(u32, f32)>) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = crate::sampling::log_sum_exp(row);
    let t = row[target as usize];
    let top = if top_k > 0 { top_k_of(row, top_k).into_iter().map(|(i, x)| (i, x - lse)).collect() } else { vec![] };
    (t - lse, t >= max, top)
}

/// The k largest values of `row` with their indices, largest first (ties: lower index first).
pub fn top_k_of(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let k = k.min(row.len());
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &x) in row.iter().enumerate() {
        if best.len() == k && x <= best[k - 1].1 {
            continue;
        }
        let at = best.partition_point(|&(_, y)| y >= x);
        best.insert(at, (i as u32, x));
        best.truncate(k);
    }
    best
}

impl Engine {
    /// Compute, once, every whole-block prefix that two or more of `seqs` share (each at most
    /// `max_tokens[i]` long) and that the prefix cache lacks, and put it in the cache: the members
    /// of a batch then reuse it instead of each computing it at the same time.
    pub fn warm_shared_prefixes(&self, seqs: &[&[u32]], max_tokens: &[usize], interrupted: &dyn Fn() -> bool) -> Result<()> {
        let bs = self.pool.block_size;
        let max_blocks: Vec<usize> = max_tokens.iter().map(|&m| m / bs).collect();
        let lens = self.pool.shared_uncached_prefixes(seqs, &max_blocks);
        let mut seen = std::collections::HashSet::new();
        let mut warm = Vec::new();
        for (t, &nb) in seqs.iter().zip(&lens) {
            if nb > 0 && seen.insert(&t[..nb * bs]) {
                warm.push(ScoreItem { tokens: t[..nb * bs].to_vec(), first: nb * bs });
            }
        }
        if !warm.is_empty() {
            self.run_items(&warm, 0, true, interrupted)?;
        }
        Ok(())
    }

    /// Score every item; results in order. On error nothing is kept (the KV blocks go back).
    pub fn score(&self, items: &[ScoreItem], top_k: usize, interrupted: &dyn Fn() -> bool) -> Result<Vec<ScoreResult>> {
        let vocab = self.config().vocab_size;
        for (i, it) in items.iter().enumerate() {
            if it.first == 0 || it.first >= it.tokens.len().max(1) {
                return Err(Error::arg(format!(
                    "item {i}: nothing to score ({} tokens, scoring from token {}; the first token has no prediction)",
                    it.tokens.len(),
                    it.first
                )));
            }
            if let Some(&bad) = it.tokens.iter().find(|&&t| t as usize >= vocab) {
                return Err(Error::arg(format!("item {i}: token id {bad} is out of range (vocabulary size {vocab})")));
            }
            // the last token is only predicted, never fed
            self.check_context(0, it.tokens.len() - 1).map_err(|e| match e {
                Error::ContextOverflow(m) => Error::ContextOverflow(format!("item {i}: {m} (use perplexity() for rolling windows)")),
                e => e,
            })?;
        }
        // contexts shared by several items (lm-eval's choices, few-shot prompts) are computed once
        let seqs: Vec<&[u32]> = items.iter().map(|it| &it.tokens[..]).collect();
        let max: Vec<usize> = items.iter().map(|it| it.first - 1).collect();
        self.warm_shared_prefixes(&seqs, &max, interrupted)?;
        self.run_items(items, top_k, false, interrupted)
    }

    /// The batched loop of `score`. `warm`: feed every token of each item, score nothing, and
    /// leave the whole blocks in the prefix cache.
    fn run_items(&self, items: &[ScoreItem], top_k: usize, warm: bool, interrupted: &dyn Fn() -> bool) -> Result<Vec<ScoreResult>> {
        let vocab = self.config().vocab_size;
        let be = self.backend_invariant.as_ref();
        let mut results: Vec<ScoreResult> = items
            .iter()
            .map(|it| ScoreResult { logprobs: Vec::with_capacity(it.tokens.len() - it.first), greedy: true, top: vec![] })
            .collect();
        // positions fed per item: tokens[..n-1]; the KV budget bounds how many items run at once
        let kv_budget = self.pool.capacity_tokens();
        let mut next = 0;
        let mut active: Vec<Active> = Vec::new();
        let max_rows = (LOGITS_FLOATS / vocab).max(1);
        let mut logits = Vec::new();
        while next < items.len() || !active.is_empty() {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            // admit items while their whole KV fits next to the active ones
            let mut held: usize = active.iter().map(|a| items[a.item].tokens.len()).sum();
            while next < items.len() && active.len() < BATCH_TOKENS {
                let need = items[next].tokens.len();
                if !active.is_empty() && held + need > kv_budget {
                    break;
                }
                let mut kv = SeqKv::new(self.pool.clone());
                // a shared context computed before (few-shot prompts, lm-eval choices) is reused
                let it = &items[next];
                let reuse_max = if warm { it.tokens.len() - 1 } else { it.first - 1 };
                let reuse = self.pool.lookup_prefix(&it.tokens, reuse_max / self.pool.block_size);
                if !reuse.is_empty() {
                    kv.adopt_prefix(reuse);
                }
                active.push(Active { item: next, kv });
                held += need;
                next += 1;
            }
            // one forward call: a span from each active item, BATCH_TOKENS in all
            let mut budget = BATCH_TOKENS;
            let mut spans = Vec::new();
            let mut owners = Vec::new(); // (active index, first scored token index of the rows)
            for (ai, a) in active.iter_mut().enumerate() {
                if budget == 0 {
                    break;
                }
                let it = &items[a.item];
                let fed_end = if warm { it.tokens.len() } else { it.tokens.len() - 1 };
                let (start, end) = (a.kv.len, (a.kv.len + budget).min(fed_end));
                budget -= end - start;
                // row of position p predicts token p + 1; rows wanted: p >= first - 1
                let rows = if warm { 0 } else { end.saturating_sub(start.max(it.first - 1)) };
                owners.push((ai, end - rows + 1));
                spans.push(Span { kv: &mut a.kv, tokens: &it.tokens[start..end], want: Want::Tail(rows) });
            }
            let spans_rows: Vec<usize> = spans.iter().map(|s| s.want.rows(s.tokens.len())).collect();
            let n_rows: usize = spans_rows.iter().sum();
            let hidden = self.hidden(be, &mut spans, interrupted)?;
            drop(spans);
            // targets of the rows, in order
            let mut targets = Vec::with_capacity(n_rows);
            for (&(ai, first_tok), &rows) in owners.iter().zip(&spans_rows) {
                let it = &items[active[ai].item];
                targets.extend((first_tok..first_tok + rows).map(|t| (active[ai].item, it.tokens[t])));
            }
            let d = self.config().n_embd;
            for r0 in (0..n_rows).step_by(max_rows) {
                let r1 = (r0 + max_rows).min(n_rows);
                logits.resize((r1 - r0) * vocab, 0.0);
                self.model.output(be, &hidden[r0 * d..r1 * d], r1 - r0, &mut logits)?;
                for (i, row) in logits.chunks_exact(vocab).enumerate() {
                    let (item, target) = targets[r0 + i];
                    let (lp, greedy, top) = row_logprob(row, target, top_k);
                    let res = &mut results[item];
                    res.logprobs.push(lp);
                    res.greedy &= greedy;
                    if top_k > 0 {
                        res.top.push(top);
                    }
                }
            }
            // finished items leave (their context blocks stay in the prefix cache for the next)
            active.retain(|a| {
                let it = &items[a.item];
                let done = a.kv.len >= if warm { it.tokens.len() } else { it.tokens.len() - 1 };
                if done {
                    let keep = if warm { a.kv.len } else { a.kv.len.min(it.first - 1) };
                    self.pool.remember_prefix(&it.tokens, &a.kv.blocks, keep);
                }
                !done
            });
        }
        Ok(results)
    }

    /// Rolling log-likelihood of `tokens`: every token after the first is predicted exactly once,
    /// in windows of at most `window` tokens (default and maximum: the context length) that move
    /// `stride` tokens at a time (default: `window`); a window's first scored token sees the
    /// `max(window - stride, 1)` tokens before it (lm-eval's rolling windows are `stride = window`).
    /// Returns the log-probabilities of tokens[1..].
    pub fn rolling_logprobs(
        &self,
        tokens: &[u32],
        window: Option<usize>,
        stride: Option<usize>,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<Vec<f32>> {
        if tokens.len() < 2 {
            return Err(Error::arg("perplexity needs at least 2 tokens"));
        }
        let window = window.unwrap_or(self.context_length);
        if window < 2 || window > self.context_length {
            return Err(Error::arg(format!("window must be in 2..={} (the context length), got {window}", self.context_length)));
        }
        let stride = stride.unwrap_or(window);
        if stride == 0 || stride > window {
            return Err(Error::arg(format!("stride must be in 1..={window} (the window), got {stride}")));
        }
        // each window scores the next tokens not scored yet, after `overlap` tokens of context
        // (at least one: a window's first token has no prediction)
        let overlap = (window - stride).max(1);
        let mut items = Vec::new();
        let mut scored_to = 1usize;
        while scored_to < tokens.len() {
            let begin = scored_to.saturating_sub(overlap);
            let end = (begin + window).min(tokens.len());
            items.push(ScoreItem { tokens: tokens[begin..end].to_vec(), first: scored_to - begin });
            scored_to = end;
        }
        let res = self.score(&items, 0, interrupted)?;
        Ok(res.into_iter().flat_map(|r| r.logprobs).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_largest_in_order() {
        let row = [0.5, 3.0, -1.0, 3.0, 2.0];
        assert_eq!(top_k_of(&row, 3), vec![(1, 3.0), (3, 3.0), (4, 2.0)]);
        assert_eq!(top_k_of(&row, 9).len(), 5);
        let (lp, greedy, top) = row_logprob(&row, 1, 2);
        let lse = row.iter().map(|&x: &f32| (x as f64).exp()).sum::<f64>().ln() as f32;
        assert!((lp - (3.0 - lse)).abs() < 1e-6 && greedy);
        assert_eq!(top[0].0, 1);
        assert!(!row_logprob(&row, 4, 0).1);
    }
}
