//! `lanner.Session` and its generate iterator.

use super::arrays::vec_to_numpy;
use super::engine::PyEngine;
use super::errors::{run, to_py};
use crate::batch::Want;
use crate::engine::Engine;
use crate::error::Error;
use crate::generate::{Chunk, GenParams, Generator};
use crate::sampling::SamplingParams;
use crate::session::Session;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

#[pyclass(name = "Session", module = "lanner._lanner", frozen)]
pub struct PySession {
    engine: Py<PyEngine>,
    inner: Mutex<Session>,
    /// Address of the last logits buffer handed to numpy (for the zero-copy test).
    last_logits_address: AtomicUsize,
}

impl PySession {
    pub fn new(engine: Py<PyEngine>, s: Session) -> PySession {
        PySession { engine, inner: Mutex::new(s), last_logits_address: AtomicUsize::new(0) }
    }

    pub(crate) fn lock(&self) -> PyResult<MutexGuard<'_, Session>> {
        match self.inner.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(to_py(Error::Busy(
                "this session is in use by another thread; give each thread its own session".into(),
            ))),
        }
    }

    fn engine(&self) -> PyResult<Arc<Engine>> {
        self.engine.get().get()
    }
}

/// A prompt as token ids: text is tokenized (special tokens added only at the session's start),
/// a sequence of ints is taken as ids.
pub fn input_ids(py: Python<'_>, eng: &Arc<Engine>, x: &Bound<'_, PyAny>, add_special: bool) -> PyResult<Vec<u32>> {
    if let Ok(text) = x.extract::<String>() {
        let eng = eng.clone();
        return run(py, move |_| eng.tokenize(&text, add_special));
    }
    match x.extract::<Vec<i64>>() {
        Ok(ids) => ids
            .into_iter()
            .map(|i| u32::try_from(i).map_err(|_| to_py(Error::arg(format!("token id {i} is out of range")))))
            .collect(),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected a str or a sequence of token ids, got {}",
            x.get_type().name()?
        ))),
    }
}

fn parse_stop(stop: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    match stop {
        None => Ok(vec![]),
        Some(s) => {
            if let Ok(one) = s.extract::<String>() {
                Ok(vec![one])
            } else {
                s.extract::<Vec<String>>().map_err(|_| PyTypeError::new_err("stop must be a str or a list of str"))
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn gen_params(
    max_tokens: usize,
    temperature: f32,
    top_k: usize,
    top_p: f32,
    min_p: f32,
    repetition_penalty: f32,
    presence_penalty: f32,
    frequency_penalty: f32,
    penalty_last_n: usize,
    logit_bias: Option<HashMap<u32, f32>>,
    seed: Option<u64>,
    stop: Option<&Bound<'_, PyAny>>,
    stop_token_ids: Option<Vec<u32>>,
    ignore_eos: bool,
    top_logprobs: usize,
) -> PyResult<GenParams> {
    let sampling = SamplingParams {
        temperature,
        top_k,
        top_p,
        min_p,
        repetition_penalty,
        presence_penalty,
        frequency_penalty,
        penalty_last_n,
        logit_bias: logit_bias.unwrap_or_default().into_iter().collect(),
        seed,
    };
    sampling.validate().map_err(|e| to_py(Error::InvalidArgument(e)))?;
    Ok(GenParams {
        max_tokens,
        sampling,
        stop: parse_stop(stop)?,
        stop_token_ids: stop_token_ids.unwrap_or_default(),
        ignore_eos,
        top_logprobs,
    })
}

#[pymethods]
impl PySession {
    /// Append a prompt (text or token ids) and return next-token logits: float32 [vocab] for
    /// logits="last", [n, vocab] for "all" (one row per fed token), None for "none".
    #[pyo3(signature = (prompt, logits="last", add_special=None))]
    fn feed<'py>(
        &self,
        py: Python<'py>,
        prompt: &Bound<'py, PyAny>,
        logits: &str,
        add_special: Option<bool>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let want = match logits {
            "last" => Want::Last,
            "all" => Want::All,
            "none" => Want::None,
            other => return Err(to_py(Error::arg(format!("logits must be 'last', 'all' or 'none', got {other:?}")))),
        };
        let eng = self.engine()?;
        let mut s = self.lock()?;
        let add_special = add_special.unwrap_or(s.tokens.is_empty());
        let ids = input_ids(py, &eng, prompt, add_special)?;
        if ids.is_empty() {
            return Err(to_py(Error::arg("nothing to feed: the prompt is empty")));
        }
        let n = ids.len();
        let vocab = eng.config().vocab_size;
        let sess: &mut Session = &mut s;
        let out = run(py, |interrupted| eng.feed(sess, &ids, want, interrupted))?;
        drop(s);
        if want == Want::None {
            return Ok(None);
        }
        self.last_logits_address.store(out.as_ptr() as usize, Ordering::Relaxed);
        let rows = if want == Want::All { n } else { 1 };
        vec_to_numpy(py, out, rows, vocab, want == Want::All).map(Some)
    }

    /// Feed a conversation rendered with the model's chat template (or `chat_template`), as
    /// `Engine.apply_chat_template(messages, add_generation_prompt, tokenize=True)` gives it; then
    /// `generate` writes the assistant's reply. On a session that already holds the start of
    /// this conversation (an earlier `feed_chat` and its generated reply), only the new tokens
    /// are fed. Returns logits as `feed` does.
    #[pyo3(signature = (messages, add_generation_prompt=true, chat_template=None, logits="last"))]
    fn feed_chat<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        add_generation_prompt: bool,
        chat_template: Option<String>,
        logits: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let eng = self.engine()?;
        let ids = super::engine::chat_ids(py, &eng, messages, add_generation_prompt, chat_template)?;
        let held = self.lock()?.tokens.clone();
        if !ids.starts_with(&held) {
            return Err(to_py(Error::arg(
                "the session's tokens are not the start of this conversation (the rendered messages \
                 differ from what it holds); call reset() first to feed the whole conversation",
            )));
        }
        if ids.len() == held.len() {
            return Err(to_py(Error::arg("nothing to feed: the session already holds this whole conversation")));
        }
        let new = pyo3::types::PyList::new(py, &ids[held.len()..])?;
        self.feed(py, new.as_any(), logits, Some(false))
    }

    /// Stream generated tokens: an iterator of Chunk(token, text, logprob, finish_reason).
    #[pyo3(signature = (prompt=None, max_tokens=256, temperature=0.8, top_k=40, top_p=0.95, min_p=0.05,
        repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0, penalty_last_n=64,
        logit_bias=None, seed=None, stop=None, stop_token_ids=None, ignore_eos=false, top_logprobs=0))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        slf: &Bound<'_, Self>,
        prompt: Option<&Bound<'_, PyAny>>,
        max_tokens: usize,
        temperature: f32,
        top_k: usize,
        top_p: f32,
        min_p: f32,
        repetition_penalty: f32,
        presence_penalty: f32,
        frequency_penalty: f32,
        penalty_last_n: usize,
        logit_bias: Option<HashMap<u32, f32>>,
        seed: Option<u64>,
        stop: Option<&Bound<'_, PyAny>>,
        stop_token_ids: Option<Vec<u32>>,
        ignore_eos: bool,
        top_logprobs: usize,
    ) -> PyResult<PyGenerateStream> {
        let py = slf.py();
        let this = slf.get();
        let params = gen_params(
            max_tokens, temperature, top_k, top_p, min_p, repetition_penalty, presence_penalty,
            frequency_penalty, penalty_last_n, logit_bias, seed, stop, stop_token_ids, ignore_eos, top_logprobs,
        )?;
        let gen = Generator::new(params).map_err(to_py)?;
        let pending = match prompt {
            Some(p) => {
                let eng = this.engine()?;
                let empty = this.lock()?.tokens.is_empty();
                input_ids(py, &eng, p, empty)?
            }
            None => vec![],
        };
        Ok(PyGenerateStream { session: slf.clone().unbind(), gen: Mutex::new(gen), pending: Mutex::new(pending) })
    }

    /// A new session with the same tokens that shares this one's KV blocks (copy-on-write): forking
    /// a long session costs a block table, not a copy of its cache.
    fn fork(&self, py: Python<'_>) -> PyResult<PySession> {
        self.engine()?; // a closed engine cannot fork
        let s = self.lock()?;
        Ok(PySession::new(self.engine.clone_ref(py), s.fork()))
    }

    /// Write the session (tokens and KV cache) to `path`; `Engine.load_session` reads it back.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let eng = self.engine()?;
        let s = self.lock()?;
        let sess: &Session = &s;
        run(py, |_| sess.save(&eng, &path))
    }

    /// Forget every token; the KV blocks go back to the pool.
    fn reset(&self) -> PyResult<()> {
        self.lock()?.reset();
        Ok(())
    }

    #[getter]
    fn tokens(&self) -> PyResult<Vec<u32>> {
        Ok(self.lock()?.tokens.clone())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.lock()?.tokens.len())
    }

    #[getter]
    fn _last_logits_address(&self) -> usize {
        self.last_logits_address.load(Ordering::Relaxed)
    }

    fn __repr__(&self) -> String {
        match self.inner.try_lock() {
            Ok(s) => format!("Session(tokens={})", s.tokens.len()),
            Err(_) => "Session(<busy>)".to_string(),
        }
    }
}

#[pyclass(name = "Chunk", module = "lanner._lanner", frozen, get_all)]
pub struct PyChunk {
    /// The generated token id (None for a final text-only flush).
    pub token: Option<u32>,
    pub text: String,
    pub logprob: f32,
    pub finish_reason: Option<&'static str>,
    /// [(token, logprob)] of the most likely tokens at this step (empty unless top_logprobs > 0).
    pub top_logprobs: Vec<(u32, f32)>,
}

#[pymethods]
impl PyChunk {
    fn __repr__(&self) -> String {
        format!(
            "Chunk(token={:?}, text={:?}, logprob={:.4}, finish_reason={:?})",
            self.token, self.text, self.logprob, self.finish_reason
        )
    }
}

impl From<Chunk> for PyChunk {
    fn from(c: Chunk) -> Self {
        PyChunk {
            token: if c.token == u32::MAX { None } else { Some(c.token) },
            text: c.text,
            logprob: c.logprob,
            finish_reason: c.finish_reason,
            top_logprobs: c.top,
        }
    }
}

#[pyclass(name = "GenerateStream", module = "lanner._lanner", frozen)]
pub struct PyGenerateStream {
    session: Py<PySession>,
    gen: Mutex<Generator>,
    /// Prompt ids still to append before the first token.
    pending: Mutex<Vec<u32>>,
}

#[pymethods]
impl PyGenerateStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyChunk>> {
        let sess = self.session.get();
        let eng = sess.engine()?;
        let mut s_guard = sess.lock()?;
        let mut gen_guard = self.gen.lock().unwrap_or_else(|e| e.into_inner());
        let mut pending_guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (s, gen, pending): (&mut Session, &mut Generator, &mut Vec<u32>) =
            (&mut s_guard, &mut gen_guard, &mut pending_guard);
        let chunk = run(py, |interrupted| {
            if !pending.is_empty() {
                eng.check_context(s.tokens.len(), pending.len())?;
                s.tokens.extend(pending.drain(..));
            }
            gen.step(&eng, s, interrupted)
        })?;
        Ok(chunk.map(PyChunk::from))
    }

    /// The session this stream extends.
    #[getter]
    fn session(&self, py: Python<'_>) -> Py<PySession> {
        self.session.clone_ref(py)
    }
}
