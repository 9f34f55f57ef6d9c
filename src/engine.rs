//! Engine: model + tokenizer + backend + KV block pool. Everything here is plain Rust, reachable
//! from Rust tests; the Python layer only converts arguments and results.

use crate::backend::cpu::{features, CpuBackend};
use crate::backend::Backend;
use crate::batch::{Span, Want};
use crate::error::{Error, Result};
use crate::formats::gguf::GgufFile;
use crate::formats::hf;
use crate::kv::{KvPool, SeqKv};
use crate::models::{self, Model, ModelConfig};
use crate::session::Session;
use crate::tokenizer::{GgufVocab, Tokenizer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Tokens per forward call when feeding a long prompt (bounds activation memory; the interrupt
/// check also runs between chunks).
pub const PREFILL_CHUNK: usize = 512;

#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Threads for compute; None = the cores this process may use.
    pub threads: Option<usize>,
    /// Longest sequence a session may hold; None = the model's trained context length.
    pub context_length: Option<usize>,
    /// KV pool size in tokens (all sessions together); None = 2 x context_length (reserved
    /// lazily: memory is committed only as it is used).
    pub kv_cache_tokens: Option<usize>,
    /// Positions per KV block; None = 16.
    pub kv_block_size: Option<usize>,
    /// Tokens of computed prompts kept for reuse by later prompts that start the same way;
    /// None = a quarter of the KV pool, 0 = off.
    pub prefix_cache_tokens: Option<usize>,
    /// Quantize a Hugging Face folder's weight matrices at load ("q8_0", "q4_k", ...).
    pub quantize: Option<String>,
    /// "cpu" (None), "cuda", "cuda:N" or "auto".
    pub device: Option<String>,
    /// "random": a Hugging Face folder's config.json with generated weights instead of its
    /// safetensors (benchmarks at real shapes without the files).
    pub weights: Option<String>,
    /// CPU matrix products: "int8" (None; activations rounded to Q8A, 16-bit steps, where the
    /// CPU has int8 kernels) or "f32" (float32 throughout: slower, logits within float32
    /// rounding of a plain float32 computation). Scoring is float32 either way.
    pub activations: Option<String>,
}

pub struct Engine {
    pub path: PathBuf,
    pub gguf: GgufFile,
    pub model: Box<dyn Model>,
    pub tokenizer: Tokenizer,
    pub backend: Box<dyn Backend>,
    /// The same device in batch-invariant mode: batched generation and scoring run on it, so that
    /// a sequence's numbers never depend on what else shares its batch.
    pub backend_invariant: Box<dyn Backend>,
    pub pool: Arc<KvPool>,
    /// Identifies the model file (size and a hash of its first bytes) in saved sessions.
    pub fingerprint: u64,
    /// The model's own Jinja chat template (GGUF `tokenizer.chat_template`, or a Hugging Face
    /// folder's tokenizer_config.json), if it has one.
    pub chat_template: Option<String>,
    /// Sampling defaults the model ships (generation_config.json; GGUF `general.sampling.*`):
    /// (name as in `generate`, value). The Python `generate`/`chat`/`stream` use them for
    /// arguments the caller leaves out.
    pub generation_defaults: Vec<(String, f64)>,
    pub context_length: usize,
    pub load_seconds: f64,
    /// Of which quantizing weights at load (Hugging Face folders with `quantize`).
    pub quantize_seconds: f64,
}

impl Engine {
    pub fn load(path: &Path, opts: &EngineOptions) -> Result<Engine> {
        let t0 = Instant::now();
        let quantize = opts.quantize.as_deref().map(hf::parse_quant_type).transpose()?;
        let mut generation_defaults = Vec::new();
        let device = crate::backend::cuda::Device::parse(opts.device.as_deref().unwrap_or("cpu"))?.resolve();
        if let crate::backend::cuda::Device::Cuda(_) = device {
            // fail before reading (or generating) gigabytes of weights
            crate::backend::cuda::device::probe().map_err(|why| Error::Device(format!("no usable CUDA GPU: {why}")))?;
        }
        let random = match opts.weights.as_deref() {
            None | Some("file") => false,
            Some("random") => true,
            Some(o) => return Err(Error::arg(format!("weights='{o}' is not one of 'file', 'random'"))),
        };
        if random && !path.is_dir() {
            return Err(Error::arg("weights='random' takes a Hugging Face folder (its config.json and tokenizer.json)"));
        }
        let (gguf, tokenizer, quantize_seconds) = if path.is_dir() {
            let (ck, extras) = hf::open_with(path, quantize, random)?;
            let tok = hf_tokenizer(&ck, &extras)?;
            if let Some(gc) = &extras.generation_config {
                let num = |k: &str| gc.get(k).and_then(|v| v.as_f64());
                if gc.get("do_sample").and_then(|v| v.as_bool()) == Some(false) {
                    generation_defaults.push(("temperature".to_string(), 0.0));
                } else {
                    for (k, name) in [("temperature", "temperature"), ("top_k", "top_k"), ("top_p", "top_p"), ("min_p", "min_p")] {
                        if let Some(v) = num(k) {
                            generation_defaults.push((name.to_string(), v));
                        }
                    }
                }
                if let Some(v) = num("repetition_penalty") {
                    generation_defaults.push(("repetition_penalty".to_string(), v));
                }
            }
            (ck, tok, extras.quantize_seconds)
        } else {
            if quantize.is_some() {
                return Err(Error::arg("quantize= applies to Hugging Face folders; a GGUF file is used as it is"));
            }
            let g = GgufFile::open(path)?;
            let tok = load_tokenizer(&g, path)?;
            for (k, name) in [("temp", "temperature"), ("top_k", "top_k"), ("top_p", "top_p"), ("min_p", "min_p")] {
                if let Some(v) = g.get_f64(&format!("general.sampling.{k}"))? {
                    generation_defaults.push((name.to_string(), v));
                }
            }
            (g, tok, 0.0)
        };
        let model = match device {
            crate::backend::cuda::Device::Cuda(i) => crate::backend::cuda::load_model(&gguf, i)?,
            _ => models::load(&gguf)?,
        };
        let cfg = model.config().clone();
        if tokenizer.vocab_size() > cfg.vocab_size {
            return Err(Error::model(
                &gguf.path,
                format!("tokenizer has {} tokens but the embedding only {}", tokenizer.vocab_size(), cfg.vocab_size),
            ));
        }
        let context_length = match opts.context_length {
            None => cfg.context_length,
            Some(0) => return Err(Error::arg("context_length must be positive")),
            Some(n) => n,
        };
        let threads = match opts.threads {
            None => features::available_threads(),
            Some(0) => return Err(Error::arg("threads must be positive (or None for all available cores)")),
            Some(n) => n,
        };
        let int8 = match opts.activations.as_deref() {
            None | Some("int8") => true,
            Some("f32") => false,
            Some(a) => return Err(Error::arg(format!("activations must be \"int8\" or \"f32\", not {a:?}"))),
        };
        let backend = CpuBackend::new(threads).map_err(Error::Internal)?.with_int8(int8);
        let block_size = opts.kv_block_size.unwrap_or(16);
        if block_size == 0 {
            return Err(Error::arg("kv_block_size must be positive"));
        }
        let kv_tokens = match opts.kv_cache_tokens {
            Some(0) => return Err(Error::arg("kv_cache_tokens must be positive")),
            Some(n) => n,
            None => context_length.saturating_mul(2),
        };
        let n_blocks = kv_tokens.div_ceil(block_size);
        let pool = Arc::new(KvPool::new(cfg.kv_layers, cfg.kv_dim(), block_size, n_blocks)?);
        model.bind_kv(&pool)?;
        // a cached prefix holds K/V only: models with recurrent state cannot resume from one
        let prefix_tokens = if model.recurrent_state_len() > 0 { 0 } else { opts.prefix_cache_tokens.unwrap_or(n_blocks * block_size / 4) };
        pool.set_prefix_capacity((prefix_tokens / block_size).min(n_blocks));
        log::info!(
            "loaded {} ({}, {} layers) in {:.2}s; KV pool {} tokens",
            gguf.path,
            cfg.architecture,
            cfg.n_layer,
            t0.elapsed().as_secs_f64(),
            n_blocks * block_size
        );
        let fingerprint = fingerprint(gguf.main_bytes());
        let chat_template = gguf.get_str("tokenizer.chat_template")?.map(str::to_string);
        Ok(Engine {
            chat_template,
            generation_defaults,
            path: path.to_path_buf(),
            gguf,
            model,
            tokenizer,
            backend_invariant: Box::new(backend.batch_invariant()),
            backend: Box::new(backend),
            pool,
            fingerprint,
            context_length,
            load_seconds: t0.elapsed().as_secs_f64(),
            quantize_seconds,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        self.model.config()
    }

    /// Run a batch and return the logits rows its spans ask for (`[rows, vocab]`).
    pub fn run(&self, be: &dyn Backend, spans: &mut [Span], interrupted: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        let hidden = self.hidden(be, spans, interrupted)?;
        let rows = hidden.len() / self.config().n_embd;
        let mut logits = vec![0f32; rows * self.config().vocab_size];
        self.model.output(be, &hidden, rows, &mut logits)?;
        Ok(logits)
    }

    /// Run a batch and return the final hidden rows its spans ask for (`[rows, n_embd]`); project
    /// them with `self.model.output`.
    pub fn hidden(&self, be: &dyn Backend, spans: &mut [Span], interrupted: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        let rows: usize = spans.iter().map(|s| s.want.rows(s.tokens.len())).sum();
        let mut hidden = vec![0f32; rows * self.config().n_embd];
        self.model.forward(be, spans, interrupted, &mut hidden)?;
        Ok(hidden)
    }

    /// An empty session's KV takes the longest cached prefix of its tokens (leaving at least one
    /// token to compute, whose logits the caller wants).
    pub fn attach_prefix(&self, s: &mut Session) {
        if s.kv.len == 0 && s.kv.blocks.is_empty() && s.tokens.len() > 1 {
            let max_blocks = (s.tokens.len() - 1) / self.pool.block_size;
            let blocks = self.pool.lookup_prefix(&s.tokens, max_blocks);
            if !blocks.is_empty() {
                s.kv.adopt_prefix(blocks);
            }
        }
    }

    /// Offer a session's computed full blocks to the prefix cache.
    pub fn remember_prefix(&self, s: &Session) {
        self.pool.remember_prefix(&s.tokens, &s.kv.blocks, s.kv.len);
    }

    pub fn new_session(&self) -> Session {
        Session { kv: SeqKv::new(self.pool.clone()), tokens: Vec::new() }
    }

    pub fn tokenize(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        self.tokenizer.encode(text, add_special).map_err(Error::Tokenizer)
    }

    pub fn detokenize(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, false).map_err(Error::Tokenizer)
    }

    /// Check that `n_new` more tokens fit a session that holds `have`.
    pub fn check_context(&self, have: usize, n_new: usize) -> Result<()> {
        if have + n_new > self.context_length {
            return Err(Error::ContextOverflow(format!(
                "{} tokens in the session + {n_new} new = {} exceeds the context length {}",
                have,
                have + n_new,
                self.context_length
            )));
        }
        Ok(())
    }

    /// Append `tokens` to the session and run every not-yet-computed token through the model.
    /// Returns the logits rows asked for (`Last`: 1 row; `All`: one per token of `tokens`).
    /// On any error (interrupt included) the session is exactly as before.
    pub fn feed(&self, s: &mut Session, tokens: &[u32], want: Want, interrupted: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        let vocab = self.config().vocab_size;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::arg(format!("token id {bad} is out of range (vocabulary size {vocab})")));
        }
        self.check_context(s.tokens.len(), tokens.len())?;
        let before_tokens = s.tokens.len();
        let before_kv = s.kv.len;
        s.tokens.extend_from_slice(tokens);
        let r = self.compute_pending(s, want, tokens.len(), interrupted);
        if r.is_err() {
            s.tokens.truncate(before_tokens);
            s.kv.truncate(before_kv);
        }
        r
    }

    /// Run the session's not-yet-computed tokens (`tokens[kv.len..]`). `Want::All` returns rows
    /// for the last `n_all` of them.
    /// The greedy next token of a session with exactly one uncomputed token, picked where the
    /// model keeps its logits (a GPU: only the id and its log-probability come back). None when
    /// the model has no such path or the session is not in that state (the caller then takes the
    /// logits path).
    pub fn greedy_next(&self, s: &mut Session, interrupted: &dyn Fn() -> bool) -> Option<Result<(u32, f32)>> {
        if s.tokens.len() != s.kv.len + 1 || !self.model.greedy_on_device() {
            return None;
        }
        let toks = s.tokens[s.kv.len..].to_vec();
        let mut span = [Span { kv: &mut s.kv, tokens: &toks, want: Want::Last }];
        let hidden = match self.hidden(self.backend.as_ref(), &mut span, interrupted) {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        let picked = self.model.output_greedy(&hidden, 1)?;
        Some(picked.map(|v| v[0]))
    }

    pub fn compute_pending(&self, s: &mut Session, want: Want, n_all: usize, interrupted: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        let vocab = self.config().vocab_size;
        let pending = s.tokens.len() - s.kv.len;
        if pending == 0 {
            return Err(Error::arg("nothing to compute: the input is empty"));
        }
        let rows = match want {
            Want::None => 0,
            Want::Last => 1,
            Want::All => n_all.min(pending),
            Want::Tail(k) => return Err(Error::Internal(format!("compute_pending does not take Tail({k})"))),
        };
        let mut logits = vec![0f32; rows * vocab];
        let first_all = s.tokens.len() - rows; // first token whose row is wanted (All)
        if want != Want::All {
            self.attach_prefix(s);
        }
        let mut written = 0;
        while s.kv.len < s.tokens.len() {
            if interrupted() {
                return Err(Error::Interrupted);
            }
            let start = s.kv.len;
            let end = (start + self.model.max_step_tokens().unwrap_or(PREFILL_CHUNK)).min(s.tokens.len());
            let chunk_want = match want {
                Want::None => Want::None,
                Want::Last if end == s.tokens.len() => Want::Last,
                Want::Last => Want::None,
                Want::All if end <= first_all => Want::None,
                Want::All if start >= first_all => Want::All,
                Want::All => {
                    // the chunk straddles the first wanted token: split it there
                    let end = first_all;
                    let toks = s.tokens[start..end].to_vec();
                    let mut span = [Span { kv: &mut s.kv, tokens: &toks, want: Want::None }];
                    self.model.forward(self.backend.as_ref(), &mut span, interrupted, &mut [])?;
                    continue;
                }
                Want::Tail(_) => return Err(Error::Internal("compute_pending takes None, Last or All".into())),
            };
            let toks = s.tokens[start..end].to_vec();
            let n_rows = chunk_want.rows(toks.len());
            let out = &mut logits[written * vocab..(written + n_rows) * vocab];
            let mut span = [Span { kv: &mut s.kv, tokens: &toks, want: chunk_want }];
            let hidden = self.hidden(self.backend.as_ref(), &mut span, interrupted)?;
            self.model.output(self.backend.as_ref(), &hidden, n_rows, out)?;
            written += n_rows;
        }
        debug_assert_eq!(written, rows);
        if pending > 1 {
            self.remember_prefix(s);
        }
        Ok(logits)
    }

    /// One forward pass over spans of several sessions (decode for many, or mixtures): the path
    /// batched generation and scoring build on. Returns the wanted rows, span by span.
    pub fn forward_batch(&self, spans: &mut [Span], interrupted: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        for s in spans.iter() {
            self.check_context(s.kv.len, s.tokens.len())?;
        }
        self.run(self.backend_invariant.as_ref(), spans, interrupted)
    }

    /// Append `inputs[i]` to `sessions[i]` and run them all in one forward pass; returns each
    /// session's next-token logits (`[n_sessions, vocab]`). On error every session is as before.
    pub fn feed_batch(&self, sessions: &mut [&mut Session], inputs: &[Vec<u32>], interrupted: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        if sessions.len() != inputs.len() {
            return Err(Error::arg("one input per session"));
        }
        let vocab = self.config().vocab_size;
        for (s, ids) in sessions.iter().zip(inputs) {
            if ids.is_empty() && s.kv.len == s.tokens.len() {
                return Err(Error::arg("nothing to compute for one of the sessions: its input is empty"));
            }
            if let Some(&bad) = ids.iter().find(|&&t| t as usize >= vocab) {
                return Err(Error::arg(format!("token id {bad} is out of range (vocabulary size {vocab})")));
            }
            self.check_context(s.tokens.len(), ids.len())?;
        }
        let before: Vec<(usize, usize)> = sessions.iter().map(|s| (s.tokens.len(), s.kv.len)).collect();
        for (s, ids) in sessions.iter_mut().zip(inputs) {
            s.tokens.extend_from_slice(ids);
        }
        let pending: Vec<Vec<u32>> = sessions.iter().map(|s| s.tokens[s.kv.len..].to_vec()).collect();
        let mut spans: Vec<Span> = sessions
            .iter_mut()
            .zip(&pending)
            .map(|(s, toks)| Span { kv: &mut s.kv, tokens: toks, want: Want::Last })
            .collect();
        let r = if interrupted() { Err(Error::Interrupted) } else { self.forward_batch(&mut spans, interrupted) };
        drop(spans);
        if r.is_err() {
            for (s, &(nt, nk)) in sessions.iter_mut().zip(&before) {
                s.tokens.truncate(nt);
                s.kv.truncate(nk);
            }
        }
        r
    }

    /// What `Engine.info` shows.
    pub fn info(&self) -> Vec<(&'static str, InfoValue)> {
        let c = self.config();
        let cpu = features::cpu_info();
        let name = self.gguf.get_str("general.name").ok().flatten().unwrap_or("").to_string();
        vec![
            ("path", InfoValue::Str(self.path.display().to_string())),
            ("name", InfoValue::Str(name)),
            ("architecture", InfoValue::Str(c.architecture.clone())),
            ("n_layer", InfoValue::Int(c.n_layer as i64)),
            ("n_embd", InfoValue::Int(c.n_embd as i64)),
            ("n_ff", InfoValue::Int(c.n_ff as i64)),
            ("n_head", InfoValue::Int(c.n_head as i64)),
            ("n_kv_head", InfoValue::Int(c.n_kv_head as i64)),
            ("head_dim", InfoValue::Int(c.head_dim as i64)),
            ("rope_dim", InfoValue::Int(c.rope_dim as i64)),
            ("rope_base", InfoValue::Float(c.rope_base as f64)),
            ("norm_eps", InfoValue::Float(c.norm_eps as f64)),
            ("vocab_size", InfoValue::Int(c.vocab_size as i64)),
            ("tied_embeddings", InfoValue::Bool(c.tied_embeddings)),
            ("context_length", InfoValue::Int(self.context_length as i64)),
            ("train_context_length", InfoValue::Int(c.context_length as i64)),
            ("quant_types", InfoValue::Counts(self.model.weight_types())),
            ("threads", InfoValue::Int(self.backend.threads() as i64)),
            ("backend", InfoValue::Str(self.backend.describe())),
            ("device", InfoValue::Str(self.model.device())),
            ("weight_bytes", InfoValue::Int(self.model.weight_bytes() as i64)),
            ("device_counters", InfoValue::Counts(self.model.counters().into_iter().map(|(k, v)| (k, v.max(0) as usize)).collect())),
            ("cpu_tier", InfoValue::Str(cpu.tier.name().to_string())),
            ("cpu_kernels", InfoValue::Str(crate::backend::cpu::table::kernels_summary())),
            ("activations", InfoValue::Str(self.backend.activations().to_string())),
            ("cpu_features", InfoValue::List(cpu.features.iter().map(|s| s.to_string()).collect())),
            ("kv_cache_tokens", InfoValue::Int(self.pool.capacity_tokens() as i64)),
            ("kv_block_size", InfoValue::Int(self.pool.block_size as i64)),
            ("load_seconds", InfoValue::Float(self.load_seconds)),
            ("quantize_seconds", InfoValue::Float(self.quantize_seconds)),
            ("format", InfoValue::Str(if self.path.is_dir() { "huggingface" } else { "gguf" }.to_string())),
            ("prefix_cache_tokens", InfoValue::Int((self.pool.prefix_stats().1 * self.pool.block_size) as i64)),
            ("bos_token_id", self.tokenizer.bos().map_or(InfoValue::None, |v| InfoValue::Int(v as i64))),
            ("eos_token_id", self.tokenizer.eos().map_or(InfoValue::None, |v| InfoValue::Int(v as i64))),
        ]
    }
}

pub enum InfoValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<String>),
    Counts(Vec<(String, usize)>),
}

/// FNV-1a of the file's size and of up to its first 8 MiB (the header: metadata, tensor table)
/// and last 1 MiB (weights): what a saved session records of the model it belongs to.
fn fingerprint(map: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |bytes: &[u8]| {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            h ^= u64::from_le_bytes(w);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&(map.len() as u64).to_le_bytes());
    eat(&map[..map.len().min(8 << 20)]);
    eat(&map[map.len().saturating_sub(1 << 20)..]);
    h
}

/// The tokenizer: a `tokenizer.json` beside the model wins; else the GGUF vocabulary.
fn load_tokenizer(g: &GgufFile, path: &Path) -> Result<Tokenizer> {
    let tok_err = |e: String| Error::model(&g.path, format!("tokenizer: {e}"));
    let id = |k: &str| -> Result<Option<u32>> { Ok(g.get_u64(k)?.map(|v| v as u32)) };
    let bos = id("tokenizer.ggml.bos_token_id")?;
    let eos = id("tokenizer.ggml.eos_token_id")?;
    let add_bos = g.get_bool("tokenizer.ggml.add_bos_token")?;
    if let Some(dir) = path.parent() {
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Tokenizer::from_json_file(&json, bos, eos, add_bos.unwrap_or(false)).map_err(tok_err);
        }
    }
    let model = g
        .get_str("tokenizer.ggml.model")?
        .ok_or_else(|| Error::model(&g.path, "metadata has no 'tokenizer.ggml.model' and no tokenizer.json is beside it"))?
        .to_string();
    let tokens = g
        .get_str_array("tokenizer.ggml.tokens")?
        .ok_or_else(|| Error::model(&g.path, "metadata has no 'tokenizer.ggml.tokens'"))?;
    let vocab = GgufVocab {
        model,
        pre: g.get_str("tokenizer.ggml.pre")?.map(str::to_string),
        tokens,
        token_types: g.get_i32_array("tokenizer.ggml.token_type")?,
        merges: g.get_str_array("tokenizer.ggml.merges")?,
        scores: g.get_f32_array("tokenizer.ggml.scores")?,
        bos,
        eos,
        unk: id("tokenizer.ggml.unknown_token_id")?,
        pad: id("tokenizer.ggml.padding_token_id")?,
        eot: id("tokenizer.ggml.eot_token_id")?,
        eom: id("tokenizer.ggml.eom_token_id")?,
        add_bos,
        add_eos: g.get_bool("tokenizer.ggml.add_eos_token")?,
        add_space_prefix: g.get_bool("tokenizer.ggml.add_space_prefix")?,
    };
    Tokenizer::from_gguf_vocab(&vocab).map_err(tok_err)
}

/// A Hugging Face folder's tokenizer: tokenizer.json, with BOS/EOS from tokenizer_config.json (or
/// config.json's ids), BOS added when tokenizer.json's post-processor or `add_bos_token` says so,
/// and generation_config.json's `eos_token_id`s as extra ends of generation.
fn hf_tokenizer(ck: &GgufFile, x: &hf::HfExtras) -> Result<Tokenizer> {
    use serde_json::Value as Json;
    let tok_err = |e: String| Error::model(&ck.path, format!("tokenizer: {e}"));
    let raw = tokenizers::Tokenizer::from_file(&x.tokenizer_json).map_err(|e| tok_err(e.to_string()))?;
    let special = |k: &str| -> Option<u32> {
        let v = x.tokenizer_config.as_ref()?.get(k)?;
        let text = v.as_str().or_else(|| v.get("content").and_then(Json::as_str))?;
        raw.token_to_id(text)
    };
    let config: Option<Json> = std::fs::read_to_string(std::path::Path::new(&ck.path).join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let config_id = |k: &str| config.as_ref().and_then(|c| c.get(k)).and_then(Json::as_u64).map(|v| v as u32);
    let bos = special("bos_token").or(config_id("bos_token_id"));
    let eos = special("eos_token").or(config_id("eos_token_id"));
    let post_adds_bos = bos.is_some_and(|b| raw.encode("a", true).map(|e| e.get_ids().first() == Some(&b)).unwrap_or(false));
    let add_bos = x.tokenizer_config.as_ref().and_then(|t| t.get("add_bos_token")).and_then(Json::as_bool).unwrap_or(post_adds_bos);
    let mut tok = Tokenizer::from_json_file(&x.tokenizer_json, bos, eos, add_bos).map_err(tok_err)?;
    let gen_eos = x.generation_config.as_ref().and_then(|g| g.get("eos_token_id"));
    match gen_eos {
        Some(Json::Number(n)) => tok.add_eog(n.as_u64().map(|v| v as u32)),
        Some(Json::Array(a)) => tok.add_eog(a.iter().filter_map(Json::as_u64).map(|v| v as u32)),
        _ => {}
    }
    Ok(tok)
}
