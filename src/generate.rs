//! Token-by-token generation for one session: sampling, stop tokens, stop strings and UTF-8-safe
//! streaming text. The Python iterator calls `step` once per token with the GIL released.

use crate::batch::Want;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sampling::{Sampler, SamplingParams};
use crate::session::Session;
use crate::stop::{StopMatcher, StopResult};
use crate::tokenizer::StreamDecoder;

#[derive(Clone, Debug)]
pub struct GenParams {
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    pub stop_token_ids: Vec<u32>,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// Report this many most likely alternatives (raw log-probabilities) with every token.
    pub top_logprobs: usize,
}

/// One generated token and the text it completes.
#[derive(Clone, Debug)]
pub struct Chunk {
    pub token: u32,
    /// Text safe to show now (may be empty while a multi-token character or a possible stop
    /// string is held back; never the stop string itself).
    pub text: String,
    /// log p(token) under the model's raw next-token distribution.
    pub logprob: f32,
    /// "stop" (end token or stop string), "length" (max_tokens or context full), or None.
    pub finish_reason: Option<&'static str>,
    /// The `top_logprobs` most likely tokens at this step and their raw log-probabilities.
    pub top: Vec<(u32, f32)>,
}

pub struct Generator {
    params: GenParams,
    sampler: Sampler,
    stops: StopMatcher,
    decoder: StreamDecoder,
    generated: usize,
    /// Next-token logits already computed for the session's current last token.
    pending_logits: Option<Vec<f32>>,
    pub finished: Option<&'static str>,
}

impl Generator {
    pub fn new(params: GenParams) -> Result<Generator> {
        let sampler = Sampler::new(params.sampling.clone()).map_err(Error::InvalidArgument)?;
        let stops = StopMatcher::new(params.stop.clone());
        Ok(Generator { params, sampler, stops, decoder: StreamDecoder::new(), generated: 0, pending_logits: None, finished: None })
    }

    /// Next-token logits for the session as it stands.
    fn next_logits(&mut self, eng: &Engine, s: &mut Session, interrupted: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        if let Some(l) = self.pending_logits.take() {
            if s.kv.len == s.tokens.len() {
                return Ok(l);
            }
        }
        if s.tokens.is_empty() {
            return Err(Error::arg("the session is empty: feed a prompt before generating"));
        }
        if s.kv.len == s.tokens.len() {
            // everything is computed but its logits were handed out: recompute the last position
            s.kv.truncate(s.kv.len - 1);
        }
        let kv_before = s.kv.len;
        let r = eng.compute_pending(s, Want::Last, 1, interrupted);
        if r.is_err() {
            s.kv.truncate(kv_before);
        }
        r
    }

    /// Generate one token; `None` once finished.
    pub fn step(&mut self, eng: &Engine, s: &mut Session, interrupted: &dyn Fn() -> bool) -> Result<Option<Chunk>> {
        if let Some(end) = self.check_end(eng, s) {
            return Ok(end);
        }
        if self.plain_greedy() && self.pending_logits.is_none() {
            // the device picks the token; only (id, log-probability) comes back
            if let Some(r) = eng.greedy_next(s, interrupted) {
                let (tok, logprob) = r?;
                return Ok(Some(self.take(eng, s, tok, logprob, vec![])));
            }
        }
        let mut logits = self.next_logits(eng, s, interrupted)?;
        Ok(Some(self.accept(eng, s, &mut logits)))
    }

    /// Greedy on the raw logits (no penalties, biases or alternatives asked for): the arg-max is
    /// all the sampler would do.
    fn plain_greedy(&self) -> bool {
        let p = self.sampler.params();
        p.temperature == 0.0
            && p.repetition_penalty == 1.0
            && p.presence_penalty == 0.0
            && p.frequency_penalty == 0.0
            && p.logit_bias.is_empty()
            && self.params.top_logprobs == 0
    }

    /// Before computing logits: `Some(final chunk or None)` when the generation is over (finished
    /// already, or out of tokens or context).
    pub fn check_end(&mut self, eng: &Engine, s: &Session) -> Option<Option<Chunk>> {
        if self.finished.is_some() {
            return Some(None);
        }
        if self.generated >= self.params.max_tokens || s.tokens.len() >= eng.context_length {
            self.finished = Some("length");
            let text = self.decoder.flush() + &self.stops.flush();
            return Some(if text.is_empty() {
                None
            } else {
                Some(Chunk { token: u32::MAX, text, logprob: 0.0, finish_reason: Some("length"), top: vec![] })
            });
        }
        None
    }

    /// Sample from the next-token `logits` of the session (used as scratch), append the token,
    /// and say what it completes.
    pub fn accept(&mut self, eng: &Engine, s: &mut Session, logits: &mut [f32]) -> Chunk {
        let top = if self.params.top_logprobs > 0 {
            let lse = crate::sampling::log_sum_exp(logits);
            crate::score::top_k_of(logits, self.params.top_logprobs).into_iter().map(|(i, x)| (i, x - lse)).collect()
        } else {
            vec![]
        };
        let sampled = self.sampler.sample(logits, &s.tokens);
        self.take(eng, s, sampled.token, sampled.logprob, top)
    }

    /// Append the chosen token and say what it completes.
    fn take(&mut self, eng: &Engine, s: &mut Session, tok: u32, logprob: f32, top: Vec<(u32, f32)>) -> Chunk {
        s.tokens.push(tok);
        self.generated += 1;

        let is_end = !self.params.ignore_eos && eng.tokenizer.is_eog(tok) || self.params.stop_token_ids.contains(&tok);
        let mut chunk = Chunk { token: tok, text: String::new(), logprob, finish_reason: None, top };
        if is_end {
            chunk.text = self.decoder.flush() + &self.stops.flush();
            chunk.finish_reason = Some("stop");
        } else {
            let piece = self.decoder.push(&eng.tokenizer, tok);
            match self.stops.push(&piece) {
                StopResult::Continue(t) => chunk.text = t,
                StopResult::Stop(t) => {
                    chunk.text = t;
                    chunk.finish_reason = Some("stop");
                }
            }
            if chunk.finish_reason.is_none()
                && (self.generated >= self.params.max_tokens || s.tokens.len() >= eng.context_length)
            {
                chunk.text += &(self.decoder.flush() + &self.stops.flush());
                chunk.finish_reason = Some("length");
            }
        }
        self.finished = chunk.finish_reason;
        chunk
    }
}
