//! Batched, continuous generation: many requests share each forward pass; a request joins the
//! running batch when there is room and leaves it the step it finishes.
//!
//! A step is `forward` (admit, one forward pass on the batch-invariant backend, a logits row per
//! sequence that needs its next token) then `finish` (sample each row, stop checks, text). The
//! split lets the Python layer run logits processors on the rows in between, with the GIL.
//! Because the backend is batch-invariant and every request has its own sampler (seeded from its
//! own parameters), a request's tokens do not depend on which others run beside it.

use crate::batch::{Span, Want};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::generate::{Chunk, GenParams, Generator};
use crate::score::ScoreItem;
use crate::session::Session;

/// Prompt and decode tokens per forward pass (decode tokens first, prompts fill the rest).
const STEP_TOKENS: usize = 512;

pub struct Request {
    pub prompt: Vec<u32>,
    pub params: GenParams,
    /// Also score the prompt: log p(prompt[i] | prompt[..i]) for i >= 1.
    pub prompt_logprobs: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Completion {
    pub prompt_tokens: Vec<u32>,
    pub tokens: Vec<u32>,
    pub text: String,
    pub logprobs: Vec<f32>,
    pub top: Vec<Vec<(u32, f32)>>,
    pub prompt_logprobs: Option<Vec<f32>>,
    pub finish_reason: Option<&'static str>,
}

struct Seq {
    index: usize,
    session: Session,
    gen: Generator,
    /// KV positions this request may come to hold (prompt + max_tokens, within the context).
    kv_need: usize,
    prompt_done: bool,
}

pub struct BatchGen {
    pending: std::collections::VecDeque<(usize, Request)>,
    active: Vec<Seq>,
    results: Vec<Completion>,
    max_batch: usize,
    finished: usize,
    warmed: bool,
}

/// What one forward pass produced: a logits row per sequence in `seqs` (indices into the active
/// list), and the events of sequences that ended without needing one.
pub struct StepLogits {
    pub rows: Vec<f32>,
    pub seqs: Vec<usize>,
    pub events: Vec<(usize, Chunk)>,
}

impl BatchGen {
    pub fn new(eng: &Engine, requests: Vec<Request>, max_batch: usize) -> Result<BatchGen> {
        if max_batch == 0 {
            return Err(Error::arg("max_batch_size must be positive"));
        }
        let vocab = eng.config().vocab_size;
        for (i, r) in requests.iter().enumerate() {
            if r.prompt.is_empty() {
                return Err(Error::arg(format!("prompt {i} is empty")));
            }
            if let Some(&bad) = r.prompt.iter().find(|&&t| t as usize >= vocab) {
                return Err(Error::arg(format!("prompt {i}: token id {bad} is out of range (vocabulary size {vocab})")));
            }
            eng.check_context(0, r.prompt.len()).map_err(|e| match e {
                Error::ContextOverflow(m) => Error::ContextOverflow(format!("prompt {i}: {m}")),
                e => e,
            })?;
            if r.prompt.len() >= eng.context_length && r.params.max_tokens > 0 {
                return Err(Error::ContextOverflow(format!(
                    "prompt {i} fills the whole context ({} tokens): no room to generate",
                    r.prompt.len()
                )));
            }
            Generator::new(r.params.clone())?;
        }
        let results = requests.iter().map(|r| Completion { prompt_tokens: r.prompt.clone(), ..Default::default() }).collect();
        Ok(BatchGen {
            pending: requests.into_iter().enumerate().collect(),
            active: Vec::new(),
            results,
            max_batch,
            finished: 0,
            warmed: false,
        })
    }

    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.active.is_empty()
    }

    pub fn n_requests(&self) -> usize {
        self.results.len()
    }

    pub fn n_finished(&self) -> usize {
        self.finished
    }

    /// Request index and every token so far (prompt and generated) of active sequence `i`.
    pub fn seq(&self, i: usize) -> (usize, &[u32]) {
        (self.active[i].index, &self.active[i].session.tokens)
    }

    /// Everything generated, in request order (complete once `is_done`).
    pub fn into_results(self) -> Vec<Completion> {
        self.results
    }

    fn admit(&mut self, eng: &Engine, interrupted: &dyn Fn() -> bool) -> Result<()> {
        let capacity = eng.pool.capacity_tokens();
        let mut held: usize = self.active.iter().map(|s| s.kv_need).sum();
        while self.active.len() < self.max_batch {
            let Some((_, req)) = self.pending.front() else { break };
            let need = (req.prompt.len() + req.params.max_tokens).min(eng.context_length);
            if !self.active.is_empty() && held + need > capacity {
                break;
            }
            let (index, req) = self.pending.pop_front().unwrap();
            if req.prompt_logprobs {
                // scored on its own; its blocks then serve the generation's prefill (prefix cache)
                let lp = if req.prompt.len() > 1 {
                    eng.score(&[ScoreItem { tokens: req.prompt.clone(), first: 1 }], 0, interrupted)?.remove(0).logprobs
                } else {
                    vec![]
                };
                self.results[index].prompt_logprobs = Some(lp);
            }
            let mut session = eng.new_session();
            session.tokens = req.prompt;
            eng.attach_prefix(&mut session);
            let gen = Generator::new(req.params)?;
            self.active.push(Seq { index, session, gen, kv_need: need, prompt_done: false });
            held += need;
        }
        Ok(())
    }

    /// Admit what fits, end what is over, and run one forward pass.
    pub fn forward(&mut self, eng: &Engine, interrupted: &dyn Fn() -> bool) -> Result<StepLogits> {
        if !self.warmed {
            // prompts sharing a prefix (few-shot, system prompts): compute it once, up front
            let seqs: Vec<&[u32]> = self.pending.iter().map(|(_, r)| &r.prompt[..]).collect();
            let max: Vec<usize> = seqs.iter().map(|p| p.len() - 1).collect();
            eng.warm_shared_prefixes(&seqs, &max, interrupted)?;
            self.warmed = true;
        }
        self.admit(eng, interrupted)?;
        let mut events = Vec::new();
        let mut i = 0;
        while i < self.active.len() {
            let s = &mut self.active[i];
            if let Some(end) = s.gen.check_end(eng, &s.session) {
                let index = s.index;
                if let Some(c) = end {
                    self.record(index, &c);
                    events.push((index, c));
                }
                self.retire(i);
            } else {
                i += 1;
            }
        }
        // decode tokens first, then prompt tokens up to the step's budget
        let mut order: Vec<usize> = (0..self.active.len()).collect();
        order.sort_by_key(|&i| self.active[i].prompt_done as u8 == 0);
        let mut budget = eng.model.max_step_tokens().unwrap_or(STEP_TOKENS);
        let mut plan = Vec::new(); // (active index, start, end, wants a row)
        for i in order {
            let s = &self.active[i].session;
            let (start, total) = (s.kv.len, s.tokens.len());
            if budget == 0 {
                break;
            }
            let end = (start + budget).min(total);
            budget -= end - start;
            plan.push((i, start, end, end == total));
        }
        plan.sort_by_key(|p| p.0);
        let inputs: Vec<Vec<u32>> = plan.iter().map(|&(i, a, b, _)| self.active[i].session.tokens[a..b].to_vec()).collect();
        let mut spans = Vec::with_capacity(plan.len());
        let mut seqs = Vec::new();
        let mut it = plan.iter().zip(&inputs).peekable();
        for (i, s) in self.active.iter_mut().enumerate() {
            if let Some(&(&(pi, _, _, row), toks)) = it.peek() {
                if pi == i {
                    it.next();
                    if row {
                        seqs.push(i);
                    }
                    spans.push(Span { kv: &mut s.session.kv, tokens: toks, want: if row { Want::Last } else { Want::None } });
                }
            }
        }
        let rows = if spans.is_empty() { vec![] } else { eng.run(eng.backend_invariant.as_ref(), &mut spans, interrupted)? };
        Ok(StepLogits { rows, seqs, events })
    }

    /// Sample every row of `rows` (`step.rows`, which a logits processor may have changed).
    pub fn finish(&mut self, eng: &Engine, step: StepLogits, rows: &mut [f32]) -> Vec<(usize, Chunk)> {
        let vocab = eng.config().vocab_size;
        let mut events = step.events;
        let mut done = Vec::new();
        // Sampling (a log-softmax per row for the logprobs) runs over the rows in parallel: each
        // row touches only its own sequence. `seqs` is in increasing order.
        let mut work: Vec<(usize, &mut Seq, &mut [f32])> = Vec::with_capacity(step.seqs.len());
        let mut rows_it = rows.chunks_exact_mut(vocab);
        let mut want = step.seqs.iter().peekable();
        for (i, a) in self.active.iter_mut().enumerate() {
            if want.peek() == Some(&&i) {
                want.next();
                work.push((i, a, rows_it.next().expect("one row per sequence")));
            }
        }
        for (_, a, _) in work.iter_mut() {
            if !a.prompt_done {
                a.prompt_done = true;
                eng.remember_prefix(&a.session);
            }
        }
        let accept = |(i, a, row): (usize, &mut Seq, &mut [f32])| {
            let c = a.gen.accept(eng, &mut a.session, row);
            (i, a.index, c)
        };
        let sampled: Vec<(usize, usize, Chunk)> = if work.len() >= 4 && vocab >= 8192 {
            use rayon::prelude::*;
            work.into_par_iter().map(accept).collect()
        } else {
            work.into_iter().map(accept).collect()
        };
        for (i, index, c) in sampled {
            if c.finish_reason.is_some() {
                done.push(i);
            }
            self.record(index, &c);
            events.push((index, c));
        }
        for &i in done.iter().rev() {
            self.retire(i);
        }
        events
    }

    fn record(&mut self, index: usize, c: &Chunk) {
        let r = &mut self.results[index];
        r.text.push_str(&c.text);
        if c.token != u32::MAX {
            r.tokens.push(c.token);
            r.logprobs.push(c.logprob);
            if !c.top.is_empty() {
                r.top.push(c.top.clone());
            }
        }
        if c.finish_reason.is_some() {
            r.finish_reason = c.finish_reason;
        }
    }

    fn retire(&mut self, i: usize) {
        let s = self.active.remove(i);
        if self.results[s.index].finish_reason.is_none() {
            self.results[s.index].finish_reason = s.gen.finished;
        }
        self.finished += 1;
    }
}
