//! The sampler chain, with a seeded RNG per sequence.
//!
//! Order: logit bias -> penalties (repetition, presence, frequency over the last `penalty_last_n`
//! tokens) -> greedy if temperature == 0 -> top-k -> temperature -> softmax -> top-p -> min-p ->
//! renormalize -> one uniform draw.
//!
//! The RNG is xoshiro256** seeded through SplitMix64 and draws exactly one number per sampled
//! token, so a seeded sequence gets the same tokens in any process, on any machine, whatever other
//! sequences run beside it.

use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct SamplingParams {
    /// 0 => greedy (arg-max, ties -> lowest id).
    pub temperature: f32,
    /// 0 => off.
    pub top_k: usize,
    /// 1.0 => off.
    pub top_p: f32,
    /// 0.0 => off.
    pub min_p: f32,
    /// 1.0 => off. CTRL-style: positive logits divided, negative multiplied.
    pub repetition_penalty: f32,
    /// 0 => off. Subtracted once from every token that appeared.
    pub presence_penalty: f32,
    /// 0 => off. Subtracted `count` times.
    pub frequency_penalty: f32,
    /// Window of recent tokens the penalties look at; 0 => the whole history.
    pub penalty_last_n: usize,
    pub logit_bias: Vec<(u32, f32)>,
    /// None => seeded from the clock.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_last_n: 64,
            logit_bias: Vec::new(),
            seed: None,
        }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        SamplingParams { temperature: 0.0, ..Default::default() }
    }

    pub fn validate(&self) -> Result<(), String> {
        let p = self;
        if !(p.temperature >= 0.0 && p.temperature.is_finite()) {
            return Err(format!("temperature must be >= 0, got {}", p.temperature));
        }
        if !(p.top_p > 0.0 && p.top_p <= 1.0) {
            return Err(format!("top_p must be in (0, 1], got {}", p.top_p));
        }
        if !(p.min_p >= 0.0 && p.min_p <= 1.0) {
            return Err(format!("min_p must be in [0, 1], got {}", p.min_p));
        }
        if !(p.repetition_penalty > 0.0 && p.repetition_penalty.is_finite()) {
            return Err(format!("repetition_penalty must be > 0, got {}", p.repetition_penalty));
        }
        if !p.presence_penalty.is_finite() || !p.frequency_penalty.is_finite() {
            return Err("presence_penalty and frequency_penalty must be finite".into());
        }
        if let Some(&(id, b)) = p.logit_bias.iter().find(|(_, b)| b.is_nan()) {
            return Err(format!("logit_bias for token {id} is {b}"));
        }
        Ok(())
    }
}

/// xoshiro256** (Blackman & Vigna), seeded with SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng { s: [next(), next(), next(), next()] }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampled {
    pub token: u32,
    /// log-softmax of the raw logits (before bias, penalties, temperature) at `token`.
    pub logprob: f32,
}

/// Numerically stable log-softmax of `logits` at `token` (NaN logits count as -inf).
pub fn log_softmax_at(logits: &[f32], token: u32) -> f32 {
    let max = logits.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return f32::NEG_INFINITY;
    }
    let sum: f64 = logits.iter().filter(|v| !v.is_nan()).map(|&v| ((v - max) as f64).exp()).sum();
    let x = logits[token as usize];
    if x.is_nan() {
        return f32::NEG_INFINITY;
    }
    ((x - max) as f64 - sum.ln()) as f32
}

/// Arg-max; ties go to the lowest id; NaN never wins.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best as u32
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Result<Self, String> {
        params.validate()?;
        let seed = params.seed.unwrap_or_else(|| {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            t.as_nanos() as u64 ^ (std::process::id() as u64) << 32
        });
        Ok(Sampler { params, rng: Rng::new(seed) })
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Sample the next token. `logits` are the raw next-token logits (used as scratch);
    /// `history` is the sequence so far (for penalties).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> Sampled {
        let p = &self.params;
        let n = logits.len();
        // logprobs are reported under the model's own distribution
        let raw_max = logits.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
        let raw_lse = raw_max as f64
            + logits.iter().filter(|v| !v.is_nan()).map(|&v| ((v - raw_max) as f64).exp()).sum::<f64>().ln();
        let raw_at = |v: f32| if v.is_nan() { f32::NEG_INFINITY } else { (v as f64 - raw_lse) as f32 };

        for v in logits.iter_mut() {
            if v.is_nan() {
                *v = f32::NEG_INFINITY;
            }
        }
        // keep a copy of the raw values we may change, to report raw logprobs
        let mut changed: HashMap<u32, f32> = HashMap::new();
        for &(id, b) in &p.logit_bias {
            if (id as usize) < n {
                changed.entry(id).or_insert(logits[id as usize]);
                logits[id as usize] += b;
            }
        }
        let window = if p.penalty_last_n == 0 { history } else { &history[history.len().saturating_sub(p.penalty_last_n)..] };
        if !window.is_empty()
            && (p.repetition_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0)
        {
            let mut counts: HashMap<u32, u32> = HashMap::new();
            for &t in window {
                if (t as usize) < n {
                    *counts.entry(t).or_default() += 1;
                }
            }
            for (&t, &c) in &counts {
                changed.entry(t).or_insert(logits[t as usize]);
                let l = &mut logits[t as usize];
                if p.repetition_penalty != 1.0 {
                    if *l > 0.0 {
                        *l /= p.repetition_penalty;
                    } else {
                        *l *= p.repetition_penalty;
                    }
                }
                *l -= p.presence_penalty + c as f32 * p.frequency_penalty;
            }
        }
        let before: Vec<(u32, f32)> = changed.into_iter().collect();
        let raw_value = |tok: u32, now: &[f32]| -> f32 {
            before.iter().find(|(t, _)| *t == tok).map(|&(_, v)| v).unwrap_or(now[tok as usize])
        };

        if p.temperature == 0.0 {
            let tok = argmax(logits);
            let rv = raw_value(tok, logits);
            return Sampled { token: tok, logprob: raw_at(rv) };
        }

        // candidates, best first (top-k via partial selection)
        let mut cand: Vec<(u32, f32)> =
            logits.iter().enumerate().filter(|(_, v)| **v > f32::NEG_INFINITY).map(|(i, &v)| (i as u32, v)).collect();
        if cand.is_empty() {
            let tok = argmax(logits);
            return Sampled { token: tok, logprob: f32::NEG_INFINITY };
        }
        let by_logit_desc = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.top_k > 0 && p.top_k < cand.len() {
            cand.select_nth_unstable_by(p.top_k - 1, by_logit_desc);
            cand.truncate(p.top_k);
        }
        cand.sort_unstable_by(by_logit_desc);

        // temperature + softmax (f64)
        let inv_t = 1.0 / p.temperature as f64;
        let m = cand[0].1 as f64;
        let mut probs: Vec<f64> = cand.iter().map(|&(_, v)| ((v as f64 - m) * inv_t).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|q| *q /= total);

        // top-p: smallest prefix whose mass reaches top_p
        let mut keep = probs.len();
        if p.top_p < 1.0 {
            let mut acc = 0.0;
            for (i, &q) in probs.iter().enumerate() {
                acc += q;
                if acc >= p.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
        }
        // min-p: drop candidates below min_p x the best probability
        if p.min_p > 0.0 {
            let floor = probs[0] * p.min_p as f64;
            keep = keep.min(probs.iter().take_while(|&&q| q >= floor).count().max(1));
        }
        probs.truncate(keep);
        let total: f64 = probs.iter().sum();
        let r = self.rng.next_f64() * total;
        let mut acc = 0.0;
        let mut pick = probs.len() - 1;
        for (i, &q) in probs.iter().enumerate() {
            acc += q;
            if r < acc {
                pick = i;
                break;
            }
        }
        let tok = cand[pick].0;
        let rv = raw_value(tok, logits);
        Sampled { token: tok, logprob: raw_at(rv) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(t: f32) -> SamplingParams {
        SamplingParams { temperature: t, top_k: 0, top_p: 1.0, min_p: 0.0, seed: Some(1), ..Default::default() }
    }

    #[test]
    fn greedy_is_argmax_and_logprob_is_raw() {
        let mut s = Sampler::new(params(0.0)).unwrap();
        let mut l = vec![0.0, 3.0, 1.0, 3.0];
        let raw = l.clone();
        let r = s.sample(&mut l, &[]);
        assert_eq!(r.token, 1, "ties go to the lowest id");
        assert!((r.logprob - log_softmax_at(&raw, 1)).abs() < 1e-6);
    }

    #[test]
    fn seeds_reproduce_and_differ() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |seed| {
            let mut s = Sampler::new(SamplingParams { seed: Some(seed), ..params(1.0) }).unwrap();
            (0..40).map(|_| s.sample(&mut logits.clone(), &[]).token).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn top_k_1_and_tiny_top_p_are_greedy() {
        let logits: Vec<f32> = (0..100).map(|i| ((i * 7919) % 101) as f32 / 10.0).collect();
        let best = argmax(&logits);
        for p in [SamplingParams { top_k: 1, ..params(1.5) }, SamplingParams { top_p: 1e-6, ..params(1.5) }] {
            let mut s = Sampler::new(p).unwrap();
            for _ in 0..20 {
                assert_eq!(s.sample(&mut logits.clone(), &[]).token, best);
            }
        }
    }

    #[test]
    fn min_p_filters() {
        // probs ~ [0.64, 0.24, 0.09, 0.03]; min_p 0.2 keeps the first two only
        let logits = vec![2.0f32, 1.0, 0.0, -1.0];
        let mut s = Sampler::new(SamplingParams { min_p: 0.2, ..params(1.0) }).unwrap();
        for _ in 0..500 {
            assert!(s.sample(&mut logits.clone(), &[]).token < 2);
        }
    }

    #[test]
    fn penalties_change_the_right_logits_by_the_right_amounts() {
        let p = SamplingParams {
            repetition_penalty: 2.0,
            presence_penalty: 0.5,
            frequency_penalty: 0.25,
            penalty_last_n: 3,
            ..params(0.0)
        };
        // window = [2, 1, 1] (token 3 is outside the window)
        let history = [3, 2, 1, 1];
        let mut l = vec![1.0f32, 4.0, -2.0, 10.0];
        let mut s = Sampler::new(p).unwrap();
        let r = s.sample(&mut l, &history);
        assert_eq!(l[0], 1.0);
        assert_eq!(l[1], 4.0 / 2.0 - 0.5 - 2.0 * 0.25);
        assert_eq!(l[2], -2.0 * 2.0 - 0.5 - 0.25);
        assert_eq!(l[3], 10.0);
        assert_eq!(r.token, 3);
    }

    #[test]
    fn logit_bias_bans() {
        let mut s = Sampler::new(SamplingParams { logit_bias: vec![(1, f32::NEG_INFINITY)], ..params(0.0) }).unwrap();
        assert_eq!(s.sample(&mut vec![0.0, 5.0, 1.0], &[]).token, 2);
    }

    #[test]
    fn distribution_matches_softmax() {
        let logits = vec![0.0f32, 1.0, 2.0, 0.5];
        let e: Vec<f64> = logits.iter().map(|&v| (v as f64).exp()).collect();
        let z: f64 = e.iter().sum();
        let mut s = Sampler::new(params(1.0)).unwrap();
        let mut counts = [0usize; 4];
        let n = 20000;
        for _ in 0..n {
            counts[s.sample(&mut logits.clone(), &[]).token as usize] += 1;
        }
        for i in 0..4 {
            let f = counts[i] as f64 / n as f64;
            assert!((f - e[i] / z).abs() < 0.02, "token {i}: {f} vs {}", e[i] / z);
        }
    }

    #[test]
    fn validation_and_nan() {
        assert!(SamplingParams { temperature: -1.0, ..params(0.0) }.validate().unwrap_err().contains("temperature"));
        assert!(SamplingParams { top_p: 0.0, ..params(0.0) }.validate().is_err());
        assert!(SamplingParams { min_p: 2.0, ..params(0.0) }.validate().is_err());
        assert!(SamplingParams { repetition_penalty: 0.0, ..params(0.0) }.validate().is_err());
        let mut s = Sampler::new(params(1.0)).unwrap();
        let r = s.sample(&mut vec![f32::NAN, 1.0, f32::NAN], &[]);
        assert_eq!(r.token, 1);
        assert!(r.logprob.abs() < 1e-6);
    }
}
