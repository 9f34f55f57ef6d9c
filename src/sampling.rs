//! Next-token sampling: the sampler chain and a seeded, portable RNG.
//!
//! # The chain
//!
//! [`Sampler::sample`] turns one row of raw next-token logits into a token, in this order:
//!
//! 1. **NaN scrub** – NaN logits are treated as `-inf` (never chosen, never panic).
//! 2. **logit bias** – `logit_bias[(id, b)]` adds `b` to logit `id` (`-inf` bans a token, `+inf`
//!    forces it; out-of-vocabulary ids are ignored).
//! 3. **penalties** over the last `penalty_last_n` tokens of the history (0 = all of it); for each
//!    distinct token `t` in that window, appearing `c` times:
//!    * repetition (CTRL): `l > 0 ? l / rp : l * rp`,
//!    * then presence and frequency (OpenAI): `l -= presence + c * frequency`.
//! 4. **greedy** – if `temperature == 0`, return the arg-max (ties go to the lowest id). No random
//!    number is drawn.
//! 5. **top-k** – keep the `k` highest logits (0 = off).
//! 6. **temperature** – divide by `temperature`.
//! 7. **softmax** over the remaining candidates.
//! 8. **top-p** – keep the smallest set of most likely tokens whose mass reaches `top_p` (1 = off).
//! 9. **min-p** – drop tokens whose probability is below `min_p * p_max` (0 = off).
//! 10. **renormalize** and **draw** with exactly one uniform `f64` from the RNG.
//!
//! Ties in the ordering (equal logits) are always broken by the lower token id, so the candidate set
//! and its order are fully determined by the logits.
//!
//! # Cost
//!
//! Built for vocabularies of ~150k: nothing sorts the whole vocabulary, and the passes over it are
//! branch-free loops that vectorize (including `exp`, see below).
//!
//! * top-k (k <= 4096) is one scan with a size-k heap; larger k uses `select_nth_unstable`; either
//!   way only the k survivors are sorted.
//! * min-p is a linear filter (`exp((l - l_max) / T) >= min_p`). It keeps a best-first prefix, as
//!   top-p does, so it can run before top-p with the same result, leaving top-p less to do.
//! * top-p without top-k finds its cut with a quickselect on probability mass (expected O(n)),
//!   sorting only the last few dozen candidates around the cut.
//! * With neither top-k nor top-p nothing is sorted at all.
//!
//! The log-prob of the raw logits costs one more exp pass over the vocabulary.
//!
//! # Reproducibility
//!
//! The RNG is xoshiro256** seeded through SplitMix64, and a sampled (non-greedy) token costs exactly
//! one draw, whatever path the chain takes. All arithmetic that decides the token is plain IEEE
//! f32/f64 with a fixed evaluation order: `exp` is computed here (not by the platform's libm,
//! whose last bits differ between systems), sums are taken in a fixed order, and the candidates are
//! walked in an order that depends on the logits alone (best first after top-k, else by id). So
//! the same seed and logits give the same tokens in any process on any machine, whatever other
//! sequences are doing.
//!
//! # Log-probabilities
//!
//! [`Sampled::logprob`] is the log-softmax of the *raw* logits (before bias, penalties and
//! temperature) at the chosen token: the model's own belief, as OpenAI-style APIs report it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Parameters of the sampler chain. See the module docs for the order they apply in.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// 0 => greedy (arg-max, ties -> lowest id).
    pub temperature: f32,
    /// 0 => off.
    pub top_k: usize,
    /// 1.0 => off.
    pub top_p: f32,
    /// 0.0 => off.
    pub min_p: f32,
    /// 1.0 => off. CTRL-style: positive logits divided, negative logits multiplied.
    pub repetition_penalty: f32,
    /// 0 => off. OpenAI-style: subtracted once from every token that appears in the window.
    pub presence_penalty: f32,
    /// 0 => off. Subtracted `count` times, `count` = occurrences in the window.
    pub frequency_penalty: f32,
    /// Window of recent tokens the penalties look at; 0 => the whole history.
    pub penalty_last_n: usize,
    /// Added to the logit of each listed token. `-inf` bans a token, `+inf` forces it.
    pub logit_bias: Vec<(u32, f32)>,
    /// None => seeded from OS entropy and the clock (not reproducible).
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
    /// Deterministic arg-max decoding (the other defaults are kept but have no effect, except bias
    /// and penalties, which still apply before the arg-max).
    pub fn greedy() -> Self {
        SamplingParams { temperature: 0.0, ..Default::default() }
    }

    /// Check every field; the error names the field and the offending value.
    pub fn validate(&self) -> Result<(), String> {
        // Each test is written so that NaN fails it.
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(format!("temperature must be >= 0 and finite, got {}", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(self.min_p >= 0.0 && self.min_p <= 1.0) {
            return Err(format!("min_p must be in [0, 1], got {}", self.min_p));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return Err(format!("repetition_penalty must be > 0 and finite, got {}", self.repetition_penalty));
        }
        if !self.presence_penalty.is_finite() {
            return Err(format!("presence_penalty must be finite, got {}", self.presence_penalty));
        }
        if !self.frequency_penalty.is_finite() {
            return Err(format!("frequency_penalty must be finite, got {}", self.frequency_penalty));
        }
        if let Some(&(id, b)) = self.logit_bias.iter().find(|(_, b)| b.is_nan()) {
            return Err(format!("logit_bias for token {id} must not be NaN, got {b}"));
        }
        Ok(())
    }

    fn penalties_on(&self) -> bool {
        self.repetition_penalty != 1.0 || self.presence_penalty != 0.0 || self.frequency_penalty != 0.0
    }
}

// ---------------------------------------------------------------------------------------------
// RNG
// ---------------------------------------------------------------------------------------------

/// xoshiro256** (Blackman & Vigna, 2018), seeded through SplitMix64.
///
/// Pure integer arithmetic, so the stream for a seed is identical on every platform.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Expand a 64-bit seed into the 256-bit state with SplitMix64 (as the authors recommend; it
    /// never yields the forbidden all-zero state in practice).
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut splitmix = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng { s: [splitmix(), splitmix(), splitmix(), splitmix()] }
    }

    /// A seed from OS-provided entropy (std's per-process random hash keys) mixed with the clock
    /// and the process id. For unseeded sampling only.
    pub fn entropy_seed() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        h.write_u128(now.as_nanos());
        h.write_u32(std::process::id());
        h.finish()
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

    /// Uniform in [0, 1): the top 53 bits as a multiple of 2^-53.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

// ---------------------------------------------------------------------------------------------
// Free helpers
// ---------------------------------------------------------------------------------------------

/// `e^x` for `x <= 0`, accurate to a few ulp; NaN, `-inf` and anything below -87 give 0 (the true
/// value would be a denormal or smaller, irrelevant as a probability weight).
///
/// Written out here rather than calling `f32::exp` for two reasons: it is pure IEEE arithmetic, so
/// it returns bit-identical results on every platform (libm implementations differ in the last
/// bit, which could flip a sampled token for the same seed), and it is branch-free, so loops over
/// a 150k vocabulary vectorize (several times faster than the libm call).
///
/// Method (as in Cephes `expf`): x = n ln2 + r with n an integer and |r| <= ln2 / 2 (Cody-Waite:
/// ln2 split in a high part exact in few bits and a low correction); e^r from a degree-6
/// polynomial; 2^n put straight into the exponent bits.
#[inline(always)]
fn exp_nonpos(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4; // 0.693359375, 9 significant bits
    const LN2_LO: f32 = -2.121_944_4e-4; // ln2 - LN2_HI
                                         // Adding 1.5 * 2^23 rounds a float in (-2^22, 2^22) to the nearest integer, which then sits
                                         // in the low mantissa bits of the sum.
    const ROUND: f32 = 12_582_912.0;
    const ROUND_BITS: i32 = 0x4B40_0000; // ROUND.to_bits()

    // Clamp into [-87, 0] (NaN.max(..) picks the number, so NaN becomes -87 here and 0 below).
    #[allow(clippy::manual_clamp)] // clamp() would keep NaN; max() maps it to -87
    let xc = x.max(-87.0).min(0.0);
    let shifted = xc * LOG2E + ROUND;
    let n = shifted - ROUND; // round(x / ln2), in [-126, 0]
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND_BITS);
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // e^r = 1 + r + r^2 * P(r).
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let er = p * r * r + r + 1.0;
    // 2^n as a float: biased exponent n + 127 (>= 1, so always a normal number).
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    if x >= -87.0 {
        er * scale
    } else {
        0.0
    }
}

/// Sum of `f(v)` over `values`, in f64, in a fixed order: 8 interleaved running sums (element i
/// goes to sum i % 8), added together at the end. The order is part of the definition, so the
/// result is identical on every machine.
///
/// For speed, `f` is first mapped over blocks of 256 into a stack buffer (a plain map loop, which
/// the compiler vectorizes; fused with the f64 accumulation it does not), then the block is added
/// in. Block size is a multiple of 8, so element i still lands in sum i % 8.
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    // lanes[j] sums the values i = j mod 8 in order; 16 at a time (fixed-size arrays, so the map
    // and the sums vectorize)
    let mut lanes = [0f64; 8];
    let sixteens = values.chunks_exact(16);
    let rest = sixteens.remainder();
    for c in sixteens {
        let mut m = [0f32; 16];
        for j in 0..16 {
            m[j] = f(c[j]);
        }
        for j in 0..8 {
            lanes[j] += m[j] as f64;
        }
        for j in 0..8 {
            lanes[j] += m[j + 8] as f64;
        }
    }
    for (j, &v) in rest.iter().enumerate() {
        lanes[j % 8] += f(v) as f64;
    }
    lanes.iter().sum()
}

/// sum(exp(v - max)) over a row whose largest value is the finite `max`, NaN and -inf entries
/// adding 0: through the CPU kernel table's vectorized softmax (exp within about 1 ulp) on copies
/// of 4096 values at a time, summed in f32 within a copy and in f64 across them. One pass over a
/// 262k-entry vocabulary takes tens of microseconds (the scalar loop took ~0.4 ms per token).
fn exp_sum(values: &[f32], max: f32) -> f64 {
    let softmax = crate::backend::cpu::table::kernels().attn_softmax;
    let mut buf = [0f32; 4096];
    let mut total = 0f64;
    for c in values.chunks(buf.len()) {
        let b = &mut buf[..c.len()];
        for (d, &v) in b.iter_mut().zip(c) {
            *d = if v.is_nan() { f32::NEG_INFINITY } else { v };
        }
        total += softmax(b, max) as f64;
    }
    total
}

/// The largest value that is not NaN (-inf if none), and whether there is a NaN; lane-wise, so
/// it vectorizes.
fn max_and_nan(values: &[f32]) -> (f32, bool) {
    let mut m = [f32::NEG_INFINITY; 16];
    let mut nan = [0u32; 16];
    let sixteens = values.chunks_exact(16);
    let rest = sixteens.remainder();
    for c in sixteens {
        for j in 0..16 {
            // `>` is false for NaN: it never becomes the max
            m[j] = if c[j] > m[j] { c[j] } else { m[j] };
            nan[j] |= c[j].is_nan() as u32;
        }
    }
    for (j, &v) in rest.iter().enumerate() {
        m[j] = if v > m[j] { v } else { m[j] };
        nan[j] |= v.is_nan() as u32;
    }
    (m.iter().copied().fold(f32::NEG_INFINITY, |a, b| if b > a { b } else { a }), nan.iter().any(|&x| x != 0))
}

/// ln(sum(exp(logits))), computed stably (the normalizer of the log-softmax).
pub fn log_sum_exp(logits: &[f32]) -> f32 {
    let n = LogNormalizer::of(logits);
    (n.max as f64 + n.log_sum) as f32
}

/// Log of the softmax normalizer of a logit row, with NaN counted as `-inf`.
///
/// Handles the edge cases a plain `max + ln(sum exp)` gets wrong: all entries `-inf` (every
/// log-prob is `-inf`) and `+inf` entries (they share all the mass equally).
#[derive(Clone, Copy, Debug)]
struct LogNormalizer {
    max: f32,
    /// ln(sum exp(l - max)), or ln(number of +inf entries) when `max` is +inf.
    log_sum: f64,
    /// Whether the row has a NaN entry.
    has_nan: bool,
}

impl LogNormalizer {
    fn of(logits: &[f32]) -> Self {
        let (max, has_nan) = max_and_nan(logits);
        let log_sum = if max == f32::INFINITY {
            (logits.iter().filter(|&&v| v == f32::INFINITY).count() as f64).ln()
        } else if max == f32::NEG_INFINITY {
            0.0
        } else {
            exp_sum(logits, max).ln()
        };
        LogNormalizer { max, log_sum, has_nan }
    }

    /// log-softmax of one entry of the row this normalizer was built from.
    fn logprob(&self, v: f32) -> f32 {
        if v.is_nan() || self.max == f32::NEG_INFINITY {
            f32::NEG_INFINITY
        } else if self.max == f32::INFINITY {
            if v == f32::INFINITY {
                -self.log_sum as f32
            } else {
                f32::NEG_INFINITY
            }
        } else {
            ((v - self.max) as f64 - self.log_sum) as f32
        }
    }
}

/// Numerically stable log-softmax of `logits` at `token` (NaN logits count as `-inf`).
///
/// Panics if `token` is out of range, like indexing.
pub fn log_softmax_at(logits: &[f32], token: u32) -> f32 {
    let v = logits[token as usize];
    LogNormalizer::of(logits).logprob(v)
}

/// Index of the largest logit; ties go to the lowest id; NaN never wins. Returns 0 for an empty
/// row or a row with no value above `-inf`.
pub fn argmax(logits: &[f32]) -> u32 {
    // the largest value (NaN never is), then its first position: two passes that vectorize
    let (max, _) = max_and_nan(logits);
    if max == f32::NEG_INFINITY {
        return 0;
    }
    logits.iter().position(|&v| v == max).unwrap_or(0) as u32
}

/// A candidate token: id and (biased, penalized) logit.
type Cand = (u32, f32);

/// Candidate order: higher logit first, then lower id. A strict total order (ids are distinct), so
/// "the k best" and "the best-first order" have exactly one meaning, whatever algorithm finds them.
fn better(a: &Cand, b: &Cand) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// A candidate ordered by [`better`], so that in a max-heap the top is the *worst* one.
struct Ranked(Cand);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        better(&self.0, &other.0)
    }
}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}

/// Up to this k, top-k scans the vocabulary once with a size-k heap (O(n) comparisons against the
/// current k-th best, O(k log n) heap work on typical input) instead of collecting every candidate
/// and running a selection over them.
const TOP_K_HEAP_MAX: usize = 4096;

/// The `k` best of `cands`, best first, if there are more than `k`; `None` if all of them fit.
fn top_k_by_heap(cands: impl Iterator<Item = Cand>, k: usize) -> Option<Vec<Cand>> {
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(k + 1);
    let mut dropped = false;
    for c in cands {
        if heap.len() < k {
            heap.push(Ranked(c));
        } else {
            dropped = true;
            let mut worst = heap.peek_mut().expect("k > 0");
            if better(&c, &worst.0) == Ordering::Less {
                *worst = Ranked(c); // replaced and sifted down when `worst` drops
            }
        }
    }
    // into_sorted_vec is ascending in `Ranked` order, i.e. best first.
    dropped.then(|| heap.into_sorted_vec().into_iter().map(|r| r.0).collect())
}

/// The top-p boundary without sorting everything: the candidate at which the best-first running
/// sum of `weight` first reaches `target`, or `None` if the total falls short.
///
/// A quickselect on mass: split the undecided range at its middle rank (`select_nth_unstable`),
/// add up the better half, and continue in the half that contains the crossing. Expected O(n);
/// only the last few candidates get sorted. `scratch` is reordered.
fn top_p_boundary(scratch: &mut [Cand], target: f64, weight: impl Fn(f32) -> f32) -> Option<Cand> {
    let (mut lo, mut hi) = (0, scratch.len());
    // Mass of scratch[..lo], all better than anything in scratch[lo..hi].
    let mut before = 0.0f64;
    while hi - lo > 32 {
        let mid = lo + (hi - lo) / 2;
        scratch[lo..hi].select_nth_unstable_by(mid - lo, better);
        let upper: f64 = scratch[lo..mid].iter().map(|c| weight(c.1) as f64).sum();
        if before + upper >= target {
            hi = mid; // the crossing is among the better half
        } else {
            before += upper;
            lo = mid;
        }
    }
    scratch[lo..hi].sort_unstable_by(better);
    let mut acc = before;
    for c in &scratch[lo..hi] {
        acc += weight(c.1) as f64;
        if acc >= target {
            return Some(*c);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Sampler
// ---------------------------------------------------------------------------------------------

/// Result of one sampling step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampled {
    pub token: u32,
    /// log-softmax of the raw logits (before bias, penalties, temperature) at `token`.
    pub logprob: f32,
}

/// A sampler for one sequence: the parameters plus that sequence's own RNG.
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
    /// Scratch: candidates (reused across calls to avoid reallocating vocab-sized buffers).
    cands: Vec<Cand>,
    /// Scratch: candidate weights exp((l - l_max) / T).
    weights: Vec<f32>,
    /// Scratch: a copy of the candidates for top-p's selection to reorder.
    scratch: Vec<Cand>,
    /// Scratch: (id, raw logit) of every entry the bias/penalty stages changed, in the order they
    /// were changed; the first entry for an id holds its raw value.
    saved: Vec<Cand>,
    /// Scratch: the penalty window, sorted, for counting.
    window: Vec<u32>,
}

impl Sampler {
    /// Validate `params` and seed the RNG (from `params.seed`, or OS entropy when `None`).
    pub fn new(params: SamplingParams) -> Result<Self, String> {
        params.validate()?;
        let seed = params.seed.unwrap_or_else(Rng::entropy_seed);
        Ok(Sampler {
            params,
            rng: Rng::new(seed),
            cands: Vec::new(),
            weights: Vec::new(),
            scratch: Vec::new(),
            saved: Vec::new(),
            window: Vec::new(),
        })
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Sample the next token.
    ///
    /// `logits`: the raw next-token logits; they are used as scratch and hold the biased and
    /// penalized values afterwards. `history`: every token of the sequence so far (prompt and
    /// generated), read by the penalties.
    ///
    /// An empty `logits` row returns token 0 with logprob `-inf`; so does a row in which every
    /// entry is NaN or `-inf` after bias and penalties (the arg-max fallback).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> Sampled {
        let n = logits.len();
        if n == 0 {
            return Sampled { token: 0, logprob: f32::NEG_INFINITY };
        }

        // The raw distribution, for the reported logprob; taken before anything is modified.
        let raw = LogNormalizer::of(logits);

        // 1. NaN scrub.
        if raw.has_nan {
            for v in logits.iter_mut() {
                if v.is_nan() {
                    *v = f32::NEG_INFINITY;
                }
            }
        }

        // 2-3. Bias and penalties, remembering raw values of what they touch.
        self.saved.clear();
        self.apply_bias(logits);
        self.apply_penalties(logits, history);

        // 4. Greedy (on a row nothing changed, the first position of the max found above).
        let token = if self.params.temperature != 0.0 {
            self.draw(logits)
        } else if !raw.has_nan && self.saved.is_empty() && raw.max > f32::NEG_INFINITY {
            logits.iter().position(|&v| v == raw.max).unwrap_or(0) as u32
        } else {
            argmax(logits)
        };

        // Report the raw logprob: the first saved value for `token` is its raw logit, otherwise it
        // was never changed (a NaN was scrubbed to -inf, which has the same logprob).
        let raw_logit =
            self.saved.iter().find(|&&(t, _)| t == token).map(|&(_, v)| v).unwrap_or(logits[token as usize]);
        Sampled { token, logprob: raw.logprob(raw_logit) }
    }

    /// Stage 2: add `logit_bias` (out-of-vocabulary ids ignored; repeated ids add up).
    fn apply_bias(&mut self, logits: &mut [f32]) {
        for &(id, b) in &self.params.logit_bias {
            if let Some(l) = logits.get_mut(id as usize) {
                self.saved.push((id, *l));
                *l += b;
                // -inf + +inf (a banned-then-forced token, or a -inf logit forced) is NaN: ban it.
                if l.is_nan() {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
    }

    /// Stage 3: repetition, presence and frequency penalties over the window.
    fn apply_penalties(&mut self, logits: &mut [f32], history: &[u32]) {
        let p = &self.params;
        if !p.penalties_on() {
            return;
        }
        let window = match p.penalty_last_n {
            0 => history,
            w => &history[history.len().saturating_sub(w)..],
        };
        // Count occurrences by sorting a copy of the window: runs of equal ids are the counts.
        self.window.clear();
        self.window.extend(window.iter().copied().filter(|&t| (t as usize) < logits.len()));
        self.window.sort_unstable();
        let mut i = 0;
        while i < self.window.len() {
            let t = self.window[i];
            let run = self.window[i..].iter().take_while(|&&x| x == t).count();
            i += run;

            let l = &mut logits[t as usize];
            self.saved.push((t, *l));
            if p.repetition_penalty != 1.0 {
                if *l > 0.0 {
                    *l /= p.repetition_penalty;
                } else {
                    *l *= p.repetition_penalty;
                }
            }
            *l -= p.presence_penalty + run as f32 * p.frequency_penalty;
            if l.is_nan() {
                *l = f32::NEG_INFINITY; // +inf - +inf cannot happen (penalties finite); belt and braces
            }
        }
    }

    /// Stages 5-10 for temperature > 0: build the candidate set, then one uniform draw.
    ///
    /// Candidates are walked for the draw in an order fixed by the logits alone: best first when
    /// top-k is active (it sorts its k survivors anyway), otherwise by token id.
    fn draw(&mut self, logits: &[f32]) -> u32 {
        // The one uniform number for this token, drawn first so that every call consumes exactly
        // one, whatever path it takes below.
        let u = self.rng.next_f64();
        let p = &self.params;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            // Nothing is possible (all banned / NaN / -inf): fall back to the arg-max (token 0).
            return argmax(logits);
        }

        // Candidates: every token with a logit above -inf. If some logits are +inf (forced by
        // bias), exactly those share the mass, equally: they count as logit 0, the rest drop out.
        let forced = max == f32::INFINITY;
        let l_max = if forced { 0.0 } else { max };
        let as_cand = |(i, &v): (usize, &f32)| -> Option<Cand> {
            if forced {
                (v == f32::INFINITY).then_some((i as u32, 0.0))
            } else {
                (v > f32::NEG_INFINITY).then_some((i as u32, v))
            }
        };
        // 6-7. Temperature + softmax, unnormalized: the weight of a candidate relative to the best
        // one, exp((l - l_max) / T), in (0, 1]; the best has weight exactly 1.
        let t = p.temperature;
        let weight = move |l: f32| exp_nonpos((l - l_max) / t);

        // 5. Top-k. `sorted`: cands are in best-first order.
        self.cands.clear();
        let mut sorted = false;
        if p.top_k > 0 && p.top_k <= TOP_K_HEAP_MAX {
            if let Some(best) = top_k_by_heap(logits.iter().enumerate().filter_map(as_cand), p.top_k) {
                self.cands = best;
                sorted = true;
            }
        } else if p.top_k > TOP_K_HEAP_MAX {
            self.cands.extend(logits.iter().enumerate().filter_map(as_cand));
            if p.top_k < self.cands.len() {
                self.cands.select_nth_unstable_by(p.top_k - 1, better);
                self.cands.truncate(p.top_k);
                self.cands.sort_unstable_by(better);
                sorted = true;
            } else {
                self.cands.clear(); // all fit: top-k is a no-op, rebuilt in id order below
            }
        }
        // The total mass `z` of the top-k survivors (or of all candidates): top-p measures against
        // it, before min-p removes anything.
        let top_p_on = p.top_p < 1.0;
        let mut z = 0.0f64;
        if sorted {
            if top_p_on {
                z = self.cands.iter().map(|c| weight(c.1) as f64).sum();
            }
        } else {
            // No top-k: the candidates are all tokens, in id order. With top-p on, a token whose
            // weight is below tau = (1 - top_p) z / n can never be inside the top-p prefix: all
            // such tokens together hold less than the (1 - top_p) z that the cut leaves out. So
            // they are skipped right here, which on real logits is nearly the whole vocabulary.
            // The test is on the same argument x = (l - l_max) / T that `weight` exponentiates,
            // with a 1e-3 margin that the few-ulp error of exp_nonpos cannot cross: it only ever
            // keeps more than needed, never fewer.
            let mut min_x = f32::NEG_INFINITY;
            if top_p_on {
                z = if forced {
                    logits.iter().filter(|&&v| v == f32::INFINITY).count() as f64
                // weights all 1
                } else {
                    lane_sum(logits, |l| exp_nonpos((l - l_max) / t)) // -inf entries add 0
                };
                let tau = (1.0 - p.top_p as f64) * z / logits.len() as f64;
                min_x = (tau.ln() - 1e-3) as f32;
            }
            self.cands.extend(logits.iter().enumerate().filter_map(as_cand).filter(|c| (c.1 - l_max) / t >= min_x));
        }

        // 9 (early). Min-p keeps p >= min_p * p_max, i.e. weight >= min_p. Like top-p it keeps a
        // best-first prefix, so applying it before top-p gives the same intersection; doing it
        // first leaves top-p far fewer candidates to look at. The best (weight 1) always stays.
        if p.min_p > 0.0 {
            let min_p = p.min_p;
            self.cands.retain(|c| weight(c.1) >= min_p);
        }

        // 8. Top-p: keep the shortest best-first prefix whose mass reaches top_p * z. If the
        // candidates left fall short (min-p removed the rest, or rounding), all of them stay.
        if top_p_on {
            let target = p.top_p as f64 * z;
            if sorted {
                let mut acc = 0.0f64;
                if let Some(i) = self.cands.iter().position(|c| {
                    acc += weight(c.1) as f64;
                    acc >= target
                }) {
                    self.cands.truncate(i + 1);
                }
            } else {
                self.scratch.clear();
                self.scratch.extend_from_slice(&self.cands);
                if let Some(b) = top_p_boundary(&mut self.scratch, target, weight) {
                    // Keep everything up to and including the boundary, still in id order.
                    self.cands.retain(|c| better(c, &b) != Ordering::Greater);
                }
            }
        }

        // 10. Renormalize and draw: the uniform number scaled by the kept mass, walked along the
        // cumulative weights.
        self.weights.clear();
        self.weights.extend(self.cands.iter().map(|c| weight(c.1)));
        let total = lane_sum(&self.weights, |w| w);
        let r = u * total;
        let mut acc = 0.0f64;
        for (i, &w) in self.weights.iter().enumerate() {
            acc += w as f64;
            if r < acc {
                return self.cands[i].0;
            }
        }
        // Rounding left r at or past the running sum: take the last candidate with weight > 0
        // (there is one: the best has weight 1).
        let last = self.weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        self.cands[last].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain sampling at temperature `t`: every filter off, fixed seed.
    fn params(t: f32) -> SamplingParams {
        SamplingParams { temperature: t, top_k: 0, top_p: 1.0, min_p: 0.0, seed: Some(1), ..Default::default() }
    }

    /// Draw `n` tokens from fixed logits, returning per-token counts.
    fn histogram(p: SamplingParams, logits: &[f32], n: usize) -> Vec<usize> {
        let mut s = Sampler::new(p).unwrap();
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..n {
            counts[s.sample(&mut logits.to_vec(), &[]).token as usize] += 1;
        }
        counts
    }

    fn softmax(logits: &[f32], t: f64) -> Vec<f64> {
        let e: Vec<f64> = logits.iter().map(|&v| (v as f64 / t).exp()).collect();
        let z: f64 = e.iter().sum();
        e.iter().map(|x| x / z).collect()
    }

    #[test]
    fn defaults_are_as_documented() {
        let d = SamplingParams::default();
        assert_eq!((d.temperature, d.top_k, d.top_p, d.min_p), (0.8, 40, 0.95, 0.05));
        assert_eq!((d.repetition_penalty, d.presence_penalty, d.frequency_penalty), (1.0, 0.0, 0.0));
        assert_eq!(d.penalty_last_n, 64);
        assert!(d.logit_bias.is_empty() && d.seed.is_none());
        assert!(d.validate().is_ok());
    }

    #[test]
    fn rng_is_xoshiro256starstar_with_splitmix_seeding() {
        // Reference values: SplitMix64(0) first output is 0xE220A8397B1DCDAF (Vigna's splitmix64.c).
        let r = Rng::new(0);
        assert_eq!(r.s[0], 0xE220_A839_7B1D_CDAF);
        // Stream is a pure function of the seed; next_f64 is in [0, 1).
        let a: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn exp_nonpos_is_accurate_and_total() {
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(-0.0), 1.0);
        assert_eq!(exp_nonpos(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpos(f32::NAN), 0.0);
        assert_eq!(exp_nonpos(-88.0), 0.0);
        assert_eq!(exp_nonpos(-1e30), 0.0);
        // Relative error against f64 exp over the whole range, densely.
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let got = exp_nonpos(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.000_37;
        }
        assert!(worst < 4e-7, "max relative error {worst}");
    }

    #[test]
    fn greedy_is_argmax_and_logprob_is_raw() {
        let mut s = Sampler::new(params(0.0)).unwrap();
        let mut l = vec![0.0, 3.0, 1.0, 3.0];
        let raw = l.clone();
        let r = s.sample(&mut l, &[]);
        assert_eq!(r.token, 1, "ties go to the lowest id");
        assert!((r.logprob - log_softmax_at(&raw, 1)).abs() < 1e-6);
        assert_eq!(argmax(&[f32::NAN, -1.0, 5.0, 5.0, f32::NAN]), 2);
    }

    /// The lane-wise max, the kernel exp-sum (blocks of 4096) and greedy's first-max shortcut on
    /// rows longer than their blocks, with NaN, -inf and a tied maximum, against an f64 reference
    /// and a plain first-strict-maximum scan.
    #[test]
    fn long_rows_match_a_float64_reference() {
        let mut seed = 0x5a3b_1c9du64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 40.0
        };
        for n in [1usize, 17, 4096, 4097, 70001] {
            let mut l: Vec<f32> = (0..n).map(|_| next()).collect();
            if n > 3 {
                (l[1], l[n / 3]) = (f32::NAN, f32::NEG_INFINITY);
                let m = l.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
                l[n - 1] = m; // a tie: the earlier position must win
            }
            let max = l.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = l.iter().filter(|v| !v.is_nan()).map(|&v| (v as f64 - max as f64).exp()).sum();
            for t in [0, n / 2, n - 1] {
                let want = if l[t].is_nan() { f64::NEG_INFINITY } else { l[t] as f64 - max as f64 - sum.ln() };
                let got = log_softmax_at(&l, t as u32) as f64;
                assert!(got == want || (got - want).abs() < 1e-5, "n={n} t={t}: {got} vs {want}");
            }
            let first = l.iter().position(|&v| v == max).unwrap() as u32;
            assert_eq!(argmax(&l), first, "argmax n={n}");
            let mut row = l.clone();
            assert_eq!(Sampler::new(params(0.0)).unwrap().sample(&mut row, &[]).token, first, "greedy n={n}");
        }
    }

    #[test]
    fn log_softmax_is_stable() {
        // Huge logits would overflow a naive exp.
        let l = [1000.0f32, 1000.0, 999.0];
        let lp0 = log_softmax_at(&l, 0) as f64;
        let expect = -(2.0 + (-1.0f64).exp()).ln();
        assert!((lp0 - expect).abs() < 1e-6, "{lp0} vs {expect}");
        // Probabilities sum to 1.
        let l = [-3.0f32, 0.5, 2.0, 7.25];
        let total: f64 = (0..4).map(|i| (log_softmax_at(&l, i) as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        // -inf / NaN entries get -inf; all--inf rows do not produce NaN.
        assert_eq!(log_softmax_at(&[0.0, f32::NEG_INFINITY], 1), f32::NEG_INFINITY);
        assert_eq!(log_softmax_at(&[0.0, f32::NAN], 1), f32::NEG_INFINITY);
        assert_eq!(log_softmax_at(&[0.0, f32::NAN], 0), 0.0);
        assert_eq!(log_softmax_at(&[f32::NEG_INFINITY; 3], 0), f32::NEG_INFINITY);
        // +inf entries share the mass.
        assert!((log_softmax_at(&[f32::INFINITY, 1.0, f32::INFINITY], 0) - (-(2.0f32).ln())).abs() < 1e-6);
    }

    #[test]
    fn sampled_logprob_ignores_bias_penalties_and_temperature() {
        let raw = vec![1.0f32, 2.0, 0.5, -1.0];
        let p = SamplingParams {
            logit_bias: vec![(0, 5.0), (1, -100.0)],
            repetition_penalty: 1.5,
            presence_penalty: 1.0,
            ..params(0.3)
        };
        let mut s = Sampler::new(p).unwrap();
        for _ in 0..50 {
            let r = s.sample(&mut raw.clone(), &[0, 0, 2]);
            assert!((r.logprob - log_softmax_at(&raw, r.token)).abs() < 1e-6);
        }
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
        // Unseeded samplers are (overwhelmingly likely) different from each other.
        let unseeded = || {
            let mut s = Sampler::new(SamplingParams { seed: None, ..params(1.0) }).unwrap();
            (0..40).map(|_| s.sample(&mut logits.clone(), &[]).token).collect::<Vec<_>>()
        };
        assert_ne!(unseeded(), unseeded());
    }

    #[test]
    fn seeded_stream_is_independent_of_the_filter_path() {
        // Exactly one draw per token: the RNG state after k tokens does not depend on the logits,
        // so two samplers with the same seed agree again once they see the same logits.
        let a_logits = vec![0.1f32, 0.2, 0.3, 0.4];
        let b_logits: Vec<f32> = (0..1000).map(|i| (i as f32).cos()).collect();
        let mut a = Sampler::new(SamplingParams { seed: Some(9), ..params(1.0) }).unwrap();
        let mut b =
            Sampler::new(SamplingParams { seed: Some(9), top_p: 0.5, min_p: 0.1, top_k: 10, ..params(0.7) }).unwrap();
        for _ in 0..7 {
            a.sample(&mut a_logits.clone(), &[]);
            b.sample(&mut b_logits.clone(), &[]);
        }
        assert_eq!(a.rng.next_u64(), b.rng.next_u64());
    }

    #[test]
    fn top_k_1_and_tiny_top_p_are_greedy() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1009) as f32 / 100.0).collect();
        let best = argmax(&logits);
        for p in [
            SamplingParams { top_k: 1, ..params(1.5) },
            SamplingParams { top_p: 1e-6, ..params(1.5) },
            SamplingParams { top_p: 1e-6, top_k: 100, ..params(1.5) },
        ] {
            let mut s = Sampler::new(p).unwrap();
            for _ in 0..20 {
                assert_eq!(s.sample(&mut logits.clone(), &[]).token, best);
            }
        }
    }

    #[test]
    fn top_k_keeps_exactly_the_k_best() {
        let logits = vec![0.0f32, 3.0, 1.0, 2.9, -1.0, 2.8];
        let c = histogram(SamplingParams { top_k: 3, ..params(1.0) }, &logits, 3000);
        assert_eq!((c[0], c[2], c[4]), (0, 0, 0));
        assert!(c[1] > 0 && c[3] > 0 && c[5] > 0);
        // top_k >= vocab is the same as off: the very same tokens for the same seed.
        let c = histogram(SamplingParams { top_k: 100, ..params(1.0) }, &logits, 3000);
        assert!(c.iter().all(|&x| x > 0));
        let tokens = |p: SamplingParams| {
            let mut s = Sampler::new(p).unwrap();
            (0..200).map(|_| s.sample(&mut logits.clone(), &[]).token).collect::<Vec<_>>()
        };
        assert_eq!(tokens(SamplingParams { top_k: 6, ..params(1.0) }), tokens(params(1.0)));
        assert_eq!(tokens(SamplingParams { top_k: 10_000, ..params(1.0) }), tokens(params(1.0)));
    }

    #[test]
    fn top_k_heap_and_selection_paths_agree() {
        // k = 5000 takes the selection path, k = 4096 the heap path; compare each against a full
        // sort, with many tied logits to exercise the id tie-break.
        let n = 20_000;
        let logits: Vec<f32> = (0..n).map(|i| ((i as u64 * 2654435761) % 997) as f32 / 50.0).collect();
        let mut all: Vec<Cand> = logits.iter().enumerate().map(|(i, &v)| (i as u32, v)).collect();
        all.sort_unstable_by(better);
        for k in [1, 40, TOP_K_HEAP_MAX, TOP_K_HEAP_MAX + 1, 5000] {
            let mut s = Sampler::new(SamplingParams { top_k: k, ..params(1.0) }).unwrap();
            s.sample(&mut logits.clone(), &[]);
            assert_eq!(s.cands, all[..k], "k = {k}");
        }
    }

    #[test]
    fn top_p_keeps_the_smallest_prefix_reaching_the_mass() {
        // probs 0.5, 0.25, 0.125, 0.125 (logits are log2-spaced).
        let ln2 = std::f32::consts::LN_2;
        let logits = vec![3.0 * ln2, 2.0 * ln2, ln2, ln2];
        // 0.7 needs the first two (0.5 < 0.7 <= 0.75).
        let c = histogram(SamplingParams { top_p: 0.7, ..params(1.0) }, &logits, 3000);
        assert_eq!((c[2], c[3]), (0, 0));
        assert!((c[0] as f64 / 3000.0 - 2.0 / 3.0).abs() < 0.04, "renormalized: {c:?}");
        // 0.8 needs a third; the tie between 2 and 3 goes to the lower id.
        let c = histogram(SamplingParams { top_p: 0.8, ..params(1.0) }, &logits, 3000);
        assert!(c[2] > 0 && c[3] == 0, "{c:?}");
    }

    #[test]
    fn top_p_on_a_large_vocab_needs_no_full_sort_but_gets_the_same_set() {
        // 150k tokens, a spread-out distribution: the growing selection must go several rounds.
        let n = 150_000;
        let logits: Vec<f32> = (0..n).map(|i| ((i as u64 * 2654435761) % 10007) as f32 / 2000.0).collect();
        let top_p = 0.9f32;
        // Reference: full sort.
        let mut all: Vec<Cand> = logits.iter().enumerate().map(|(i, &v)| (i as u32, v)).collect();
        all.sort_unstable_by(better);
        let w: Vec<f64> = all.iter().map(|&(_, l)| exp_nonpos(l - all[0].1) as f64).collect();
        let z: f64 = w.iter().sum();
        let mut acc = 0.0;
        let keep = w
            .iter()
            .position(|&x| {
                acc += x;
                acc >= top_p as f64 * z
            })
            .unwrap()
            + 1;
        assert!(keep > 1000, "test must exercise several selection rounds, keep = {keep}");
        let allowed: std::collections::HashSet<u32> = all[..keep].iter().map(|c| c.0).collect();

        let mut s = Sampler::new(SamplingParams { top_p, ..params(1.0) }).unwrap();
        for _ in 0..200 {
            let t = s.sample(&mut logits.clone(), &[]).token;
            assert!(allowed.contains(&t));
        }
        // The sampler's candidate set after the last call is exactly the reference prefix.
        let got: std::collections::HashSet<u32> = s.cands.iter().map(|c| c.0).collect();
        assert_eq!(got, allowed);
    }

    #[test]
    fn min_p_filters() {
        // probs ~ [0.64, 0.24, 0.09, 0.03]; p/p_max = [1, 0.37, 0.14, 0.05]; min_p 0.2 keeps two.
        let logits = vec![2.0f32, 1.0, 0.0, -1.0];
        let c = histogram(SamplingParams { min_p: 0.2, ..params(1.0) }, &logits, 2000);
        assert!(c[0] > 0 && c[1] > 0 && c[2] == 0 && c[3] == 0, "{c:?}");
        // Temperature applies before min-p: at T=4 ratios are [1, .78, .61, .47], all kept.
        let c = histogram(SamplingParams { min_p: 0.2, ..params(4.0) }, &logits, 2000);
        assert!(c.iter().all(|&x| x > 0), "{c:?}");
        // Combined with top_k (the sorted path).
        let c = histogram(SamplingParams { min_p: 0.2, top_k: 3, ..params(1.0) }, &logits, 2000);
        assert!(c[0] > 0 && c[1] > 0 && c[2] == 0 && c[3] == 0, "{c:?}");
    }

    #[test]
    fn min_p_and_top_p_measure_against_the_pre_filter_distribution() {
        // probs 0.5, 0.25, 0.125, 0.125. min_p 0.3 alone keeps {0, 1}; top_p 0.9 alone keeps
        // {0, 1, 2}; together the intersection {0, 1} (top-p mass is not recomputed after min-p).
        let ln2 = std::f32::consts::LN_2;
        let logits = vec![3.0 * ln2, 2.0 * ln2, ln2, ln2];
        let c = histogram(SamplingParams { min_p: 0.3, top_p: 0.9, ..params(1.0) }, &logits, 2000);
        assert!(c[0] > 0 && c[1] > 0 && c[2] == 0 && c[3] == 0, "{c:?}");
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
        // window = [2, 1, 1]: token 3 is outside it, token 99 is out of vocabulary.
        let history = [3, 99, 2, 1, 1];
        let mut l = vec![1.0f32, 4.0, -2.0, 10.0];
        let r = Sampler::new(p.clone()).unwrap().sample(&mut l, &history);
        assert_eq!(l[0], 1.0);
        assert_eq!(l[1], 4.0 / 2.0 - 0.5 - 2.0 * 0.25); // positive: divided, then 1 x presence, 2 x frequency
        assert_eq!(l[2], -2.0 * 2.0 - 0.5 - 0.25); // negative: multiplied
        assert_eq!(l[3], 10.0);
        assert_eq!(r.token, 3);
        // logprob is still the raw one.
        assert!((r.logprob - log_softmax_at(&[1.0, 4.0, -2.0, 10.0], 3)).abs() < 1e-6);

        // penalty_last_n = 0 is the whole history; out-of-vocabulary ids are ignored.
        let mut l = vec![1.0f32, 4.0, -2.0, 10.0];
        Sampler::new(SamplingParams { penalty_last_n: 0, ..p.clone() }).unwrap().sample(&mut l, &history);
        assert_eq!(l, vec![1.0, 4.0 / 2.0 - 0.5 - 0.5, -4.0 - 0.5 - 0.25, 10.0 / 2.0 - 0.5 - 0.25]);

        // Each penalty on its own; a zero logit is unaffected by the repetition penalty.
        let one = |p: SamplingParams| {
            let mut l = vec![0.0f32, 3.0, -3.0];
            Sampler::new(SamplingParams { penalty_last_n: 0, ..p }).unwrap().sample(&mut l, &[0, 1, 1, 2]);
            l
        };
        assert_eq!(one(SamplingParams { repetition_penalty: 1.5, ..params(0.0) }), vec![0.0, 2.0, -4.5]);
        assert_eq!(one(SamplingParams { presence_penalty: 1.0, ..params(0.0) }), vec![-1.0, 2.0, -4.0]);
        assert_eq!(one(SamplingParams { frequency_penalty: 1.0, ..params(0.0) }), vec![-1.0, 1.0, -4.0]);
        // Negative presence/frequency penalties encourage repetition.
        assert_eq!(one(SamplingParams { frequency_penalty: -1.0, ..params(0.0) }), vec![1.0, 5.0, -2.0]);
        // All off: nothing changes.
        assert_eq!(one(params(0.0)), vec![0.0, 3.0, -3.0]);
    }

    #[test]
    fn logit_bias_bans_forces_and_shifts() {
        let mut s = Sampler::new(SamplingParams { logit_bias: vec![(1, f32::NEG_INFINITY)], ..params(0.0) }).unwrap();
        assert_eq!(s.sample(&mut [0.0, 5.0, 1.0], &[]).token, 2);
        // Ban under sampling: never drawn.
        let c = histogram(
            SamplingParams { logit_bias: vec![(1, f32::NEG_INFINITY)], ..params(1.0) },
            &[0.0, 5.0, 1.0],
            2000,
        );
        assert_eq!(c[1], 0);
        // +inf forces; out-of-vocabulary ids are ignored.
        let c = histogram(
            SamplingParams { logit_bias: vec![(2, f32::INFINITY), (77, 1.0)], ..params(1.0) },
            &[0.0, 5.0, 1.0],
            200,
        );
        assert_eq!(c, vec![0, 0, 200]);
        // Finite bias is exact, and repeated ids add up.
        let mut l = vec![0.0f32, 5.0, 1.0];
        Sampler::new(SamplingParams { logit_bias: vec![(0, 2.5), (0, 1.0), (2, -0.5)], ..params(0.0) })
            .unwrap()
            .sample(&mut l, &[]);
        assert_eq!(l, vec![3.5, 5.0, 0.5]);
    }

    #[test]
    fn distribution_matches_softmax() {
        let logits = vec![0.0f32, 1.0, 2.0, 0.5];
        let n = 20_000;
        for (t, seed) in [(1.0f32, 1u64), (0.5, 2), (2.0, 3)] {
            let probs = softmax(&logits, t as f64);
            let c = histogram(SamplingParams { seed: Some(seed), ..params(t) }, &logits, n);
            for i in 0..4 {
                let f = c[i] as f64 / n as f64;
                assert!((f - probs[i]).abs() < 0.02, "T={t} token {i}: {f} vs {}", probs[i]);
            }
        }
        // Same through the sorted (top-k) path with a no-op k.
        let probs = softmax(&logits, 1.0);
        let c = histogram(SamplingParams { top_k: 4, top_p: 0.999_999, ..params(1.0) }, &logits, n);
        for i in 0..4 {
            assert!((c[i] as f64 / n as f64 - probs[i]).abs() < 0.02);
        }
    }

    #[test]
    fn validation_errors() {
        let err = |p: SamplingParams| p.validate().unwrap_err();
        let e = err(SamplingParams { temperature: -1.0, ..params(0.0) });
        assert!(e.starts_with("temperature must be >= 0") && e.ends_with("got -1"), "{e}");
        assert!(err(SamplingParams { temperature: f32::NAN, ..params(0.0) }).contains("temperature"));
        assert!(err(SamplingParams { temperature: f32::INFINITY, ..params(0.0) }).contains("temperature"));
        assert!(err(SamplingParams { top_p: 0.0, ..params(0.0) }).contains("top_p"));
        assert!(err(SamplingParams { top_p: 1.5, ..params(0.0) }).contains("top_p"));
        assert!(err(SamplingParams { top_p: f32::NAN, ..params(0.0) }).contains("top_p"));
        assert!(err(SamplingParams { min_p: 2.0, ..params(0.0) }).contains("min_p"));
        assert!(err(SamplingParams { min_p: -0.1, ..params(0.0) }).contains("min_p"));
        assert!(err(SamplingParams { repetition_penalty: 0.0, ..params(0.0) }).contains("repetition_penalty"));
        assert!(err(SamplingParams { repetition_penalty: f32::NAN, ..params(0.0) }).contains("repetition_penalty"));
        assert!(err(SamplingParams { presence_penalty: f32::NAN, ..params(0.0) }).contains("presence_penalty"));
        assert!(err(SamplingParams { frequency_penalty: f32::INFINITY, ..params(0.0) }).contains("frequency_penalty"));
        assert!(err(SamplingParams { logit_bias: vec![(3, f32::NAN)], ..params(0.0) }).contains("token 3"));
        // Sampler::new validates.
        assert!(Sampler::new(SamplingParams { temperature: -1.0, ..params(0.0) }).is_err());
        // Boundary values are fine.
        assert!(SamplingParams { top_p: 1.0, min_p: 1.0, logit_bias: vec![(0, f32::NEG_INFINITY)], ..params(0.0) }
            .validate()
            .is_ok());
    }

    #[test]
    fn nan_logits_do_not_panic_and_never_win() {
        for t in [0.0f32, 1.0] {
            for p in [params(t), SamplingParams { top_k: 2, top_p: 0.5, min_p: 0.1, ..params(t) }] {
                let mut s = Sampler::new(p).unwrap();
                for _ in 0..100 {
                    let r = s.sample(&mut [f32::NAN, 1.0, f32::NAN], &[]);
                    assert_eq!(r.token, 1);
                    assert!(r.logprob.abs() < 1e-6);
                }
                // All NaN: falls back to token 0, no panic.
                let r = s.sample(&mut [f32::NAN; 4], &[0, 1]);
                assert_eq!(r.token, 0);
                assert_eq!(r.logprob, f32::NEG_INFINITY);
                // Everything banned / empty row: no panic.
                assert_eq!(s.sample(&mut [f32::NEG_INFINITY; 3], &[]).token, 0);
                assert_eq!(s.sample(&mut [], &[]).token, 0);
            }
        }
    }

    #[test]
    fn extreme_temperatures() {
        let logits = vec![1.0f32, 1.5, 0.2];
        // Tiny temperature behaves like greedy (no NaN from 0/0).
        let c = histogram(SamplingParams { temperature: 1e-30, ..params(1.0) }, &logits, 100);
        assert_eq!(c, vec![0, 100, 0]);
        // Huge temperature is near uniform.
        let c = histogram(SamplingParams { temperature: 1e30, ..params(1.0) }, &logits, 3000);
        assert!(c.iter().all(|&x| (x as f64 / 3000.0 - 1.0 / 3.0).abs() < 0.05), "{c:?}");
    }
}

#[cfg(test)]
mod sample_bench {
    /// `cargo test --release --lib bench_sample_greedy -- --ignored --nocapture`: one greedy
    /// step over a 262k-entry row (Gemma 3's vocabulary), log-normalizer included.
    #[test]
    #[ignore]
    fn bench_sample_greedy() {
        use std::time::Instant;
        let logits: Vec<f32> = (0..262144).map(|i| ((i * 7919 % 1000) as f32) * 0.01 - 5.0).collect();
        let mut s = super::Sampler::new(super::SamplingParams { temperature: 0.0, ..Default::default() }).unwrap();
        let mut best = f64::MAX;
        for _ in 0..50 {
            let mut l = logits.clone();
            let t0 = Instant::now();
            std::hint::black_box(s.sample(&mut l, &[]));
            best = best.min(t0.elapsed().as_secs_f64());
        }
        eprintln!("greedy sample, 262144 logits: {:.1} us", best * 1e6);
    }
}
