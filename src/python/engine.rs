//! `lanner.Engine`: converts arguments, calls the core, converts results. No logic of its own.

use super::errors::{run, to_py};
use super::session::{gen_params, PySession};
use crate::engine::{Engine, EngineOptions, InfoValue};
use crate::error::Error;
use crate::generate::Generator;
use crate::chat::Value;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

#[pyclass(name = "Engine", module = "lanner._lanner", frozen, subclass)]
pub struct PyEngine {
    inner: RwLock<Option<Arc<Engine>>>,
}

impl PyEngine {
    pub fn get(&self) -> PyResult<Arc<Engine>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| to_py(Error::Closed))
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (model, threads=None, context_length=None, kv_cache_tokens=None, kv_block_size=None,
        prefix_cache_tokens=None, quantize=None, device=None, weights=None, activations=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: PathBuf,
        threads: Option<usize>,
        context_length: Option<usize>,
        kv_cache_tokens: Option<usize>,
        kv_block_size: Option<usize>,
        prefix_cache_tokens: Option<usize>,
        quantize: Option<String>,
        device: Option<String>,
        weights: Option<String>,
        activations: Option<String>,
    ) -> PyResult<Self> {
        let opts = EngineOptions { threads, context_length, kv_cache_tokens, kv_block_size, prefix_cache_tokens, quantize, device, weights, activations };
        let eng = run(py, |_| Engine::load(&model, &opts))?;
        Ok(PyEngine { inner: RwLock::new(Some(Arc::new(eng))) })
    }

    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let eng = self.get()?;
        let d = PyDict::new(py);
        for (k, v) in eng.info() {
            match v {
                InfoValue::None => d.set_item(k, py.None())?,
                InfoValue::Bool(b) => d.set_item(k, b)?,
                InfoValue::Int(i) => d.set_item(k, i)?,
                InfoValue::Float(f) => d.set_item(k, f)?,
                InfoValue::Str(s) => d.set_item(k, s)?,
                InfoValue::List(l) => d.set_item(k, PyList::new(py, l)?)?,
                InfoValue::Counts(c) => {
                    let sub = PyDict::new(py);
                    for (name, n) in c {
                        sub.set_item(name, n)?;
                    }
                    d.set_item(k, sub)?
                }
            }
        }
        Ok(d)
    }

    #[getter]
    fn context_length(&self) -> PyResult<usize> {
        Ok(self.get()?.context_length)
    }

    #[getter]
    fn vocab_size(&self) -> PyResult<usize> {
        Ok(self.get()?.config().vocab_size)
    }

    #[getter]
    fn eos_token_ids(&self) -> PyResult<Vec<u32>> {
        Ok(self.get()?.tokenizer.eog_ids())
    }

    #[getter]
    fn bos_token_id(&self) -> PyResult<Option<u32>> {
        Ok(self.get()?.tokenizer.bos())
    }

    #[pyo3(signature = (text, add_special=true))]
    fn tokenize(&self, py: Python<'_>, text: &str, add_special: bool) -> PyResult<Vec<u32>> {
        let eng = self.get()?;
        let text = text.to_string();
        run(py, move |_| eng.tokenize(&text, add_special))
    }

    #[pyo3(signature = (ids, skip_special=false))]
    fn detokenize(&self, py: Python<'_>, ids: Vec<u32>, skip_special: bool) -> PyResult<String> {
        let eng = self.get()?;
        run(py, move |_| eng.tokenizer.decode(&ids, skip_special).map_err(Error::Tokenizer))
    }

    /// Raw bytes of one token (for byte-level inspection).
    fn token_bytes<'py>(&self, py: Python<'py>, id: u32) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let eng = self.get()?;
        let b = eng.tokenizer.token_bytes(id).ok_or_else(|| to_py(Error::arg(format!("token id {id} is out of range"))))?;
        Ok(pyo3::types::PyBytes::new(py, &b))
    }

    fn session(slf: &Bound<'_, Self>) -> PyResult<PySession> {
        let eng = slf.get().get()?;
        Ok(PySession::new(slf.clone().unbind(), eng.new_session()))
    }

    #[pyo3(signature = (prompt, max_tokens=256, temperature=0.8, top_k=40, top_p=0.95, min_p=0.05,
        repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0, penalty_last_n=64,
        logit_bias=None, seed=None, stop=None, stop_token_ids=None, ignore_eos=false, add_special=true))]
    /// Generate from one prompt and return the text (batches: the Python `Engine.generate`).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(name = "_generate_one")]
    fn generate(
        &self,
        py: Python<'_>,
        prompt: &Bound<'_, PyAny>,
        max_tokens: usize,
        temperature: f32,
        top_k: usize,
        top_p: f32,
        min_p: f32,
        repetition_penalty: f32,
        presence_penalty: f32,
        frequency_penalty: f32,
        penalty_last_n: usize,
        logit_bias: Option<std::collections::HashMap<u32, f32>>,
        seed: Option<u64>,
        stop: Option<&Bound<'_, PyAny>>,
        stop_token_ids: Option<Vec<u32>>,
        ignore_eos: bool,
        add_special: bool,
    ) -> PyResult<String> {
        let eng = self.get()?;
        let params = gen_params(
            max_tokens, temperature, top_k, top_p, min_p, repetition_penalty, presence_penalty,
            frequency_penalty, penalty_last_n, logit_bias, seed, stop, stop_token_ids, ignore_eos, 0,
        )?;
        let ids = super::session::input_ids(py, &eng, prompt, add_special)?;
        let mut gen = Generator::new(params).map_err(to_py)?;
        let mut s = eng.new_session();
        let mut text = String::new();
        loop {
            let chunk = run(py, |interrupted| {
                if s.tokens.is_empty() {
                    eng.check_context(0, ids.len())?;
                    s.tokens.extend_from_slice(&ids);
                }
                gen.step(&eng, &mut s, interrupted)
            })?;
            match chunk {
                Some(c) => text.push_str(&c.text),
                None => break,
            }
        }
        Ok(text)
    }

    /// Feed several sessions in ONE forward pass (a mixture of prefills and single decode tokens):
    /// `items` is a list of `(session, prompt)`; returns float32 [len(items), vocab], each row the
    /// next-token logits of its session. The path batched generation builds on.
    fn feed_batch<'py>(&self, py: Python<'py>, items: Vec<(Py<PySession>, Bound<'py, PyAny>)>) -> PyResult<Bound<'py, PyAny>> {
        let eng = self.get()?;
        let mut guards = Vec::with_capacity(items.len());
        let mut inputs = Vec::with_capacity(items.len());
        for (sess, prompt) in &items {
            let g = sess.get().lock()?;
            let ids = super::session::input_ids(py, &eng, prompt, g.tokens.is_empty())?;
            guards.push(g);
            inputs.push(ids);
        }
        let mut refs: Vec<&mut crate::session::Session> = guards.iter_mut().map(|g| &mut **g).collect();
        let n = refs.len();
        let out = run(py, |interrupted| eng.feed_batch(&mut refs, &inputs, interrupted))?;
        drop(refs);
        drop(guards);
        super::arrays::vec_to_numpy(py, out, n, eng.config().vocab_size, true)
    }

    /// Log-probabilities of tokens given what precedes them. `items`: texts or token lists (every
    /// token after the first is scored) or `(context, continuation)` pairs (the continuation is
    /// scored). Returns one ScoreResult per item, in order; batched, memory-bounded.
    #[pyo3(signature = (items, top_logprobs=0, add_special=true))]
    fn score(&self, py: Python<'_>, items: &Bound<'_, PyAny>, top_logprobs: usize, add_special: bool) -> PyResult<Vec<super::batch::PyScoreResult>> {
        let eng = self.get()?;
        if items.is_instance_of::<pyo3::types::PyString>() || items.is_instance_of::<pyo3::types::PyTuple>() {
            return Err(pyo3::exceptions::PyTypeError::new_err("score() takes a list of items (wrap a single item in a list)"));
        }
        let its = super::batch::score_items(py, &eng, items, add_special)?;
        let res = run(py, |interrupted| eng.score(&its, top_logprobs, interrupted))?;
        Ok(super::batch::score_results(py, &its, res, top_logprobs > 0))
    }

    /// Rolling perplexity of a text (or token ids): every token after the first is predicted once,
    /// in windows of at most `window` tokens (default: the context length) starting every `stride`
    /// tokens (default: `window`).
    #[pyo3(signature = (text, window=None, stride=None, add_special=true))]
    fn perplexity(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        window: Option<usize>,
        stride: Option<usize>,
        add_special: bool,
    ) -> PyResult<super::batch::PyPerplexity> {
        let eng = self.get()?;
        let ids = super::session::input_ids(py, &eng, text, add_special)?;
        let lp = run(py, |interrupted| eng.rolling_logprobs(&ids, window, stride, interrupted))?;
        Ok(super::batch::perplexity(py, ids.len(), lp))
    }

    /// A session saved with `Session.save` (for this model).
    fn load_session(slf: &Bound<'_, Self>, path: PathBuf) -> PyResult<PySession> {
        let py = slf.py();
        let eng = slf.get().get()?;
        let s = run(py, |_| crate::session::Session::load(&eng, &path))?;
        Ok(PySession::new(slf.clone().unbind(), s))
    }

    /// Start a batch: one settings dict per prompt (see `Engine.generate`).
    #[pyo3(signature = (prompts, params, max_batch_size=64, add_special=true))]
    fn _batch(
        &self,
        py: Python<'_>,
        prompts: Vec<Bound<'_, PyAny>>,
        params: Vec<Bound<'_, PyDict>>,
        max_batch_size: usize,
        add_special: bool,
    ) -> PyResult<super::batch::PyBatchRun> {
        super::batch::PyBatchRun::start(py, self.get()?, prompts, params, max_batch_size, add_special)
    }

    /// The prefix cache: blocks held, capacity (blocks), lookups that reused blocks, tokens reused.
    #[getter]
    fn prefix_cache<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let eng = self.get()?;
        let (held, cap, hits, reused) = eng.pool.prefix_stats();
        let d = PyDict::new(py);
        d.set_item("blocks", held)?;
        d.set_item("capacity_blocks", cap)?;
        d.set_item("block_size", eng.pool.block_size)?;
        d.set_item("hits", hits)?;
        d.set_item("reused_tokens", reused)?;
        Ok(d)
    }

    /// Sampling defaults the model ships (generation_config.json, GGUF `general.sampling.*`),
    /// which `generate`, `chat` and `stream` use for the arguments the caller leaves out.
    #[getter]
    fn generation_defaults<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.get()?.generation_defaults {
            if k == "top_k" {
                d.set_item(k, *v as i64)?;
            } else {
                d.set_item(k, v)?;
            }
        }
        Ok(d)
    }

    /// The model's own Jinja chat template (None if the model file has none).
    #[getter]
    fn chat_template(&self) -> PyResult<Option<String>> {
        Ok(self.get()?.chat_template.clone())
    }

    /// Render `messages` (a list of {"role": str, "content": str} dicts) with the model's chat
    /// template (or `chat_template`), as Hugging Face's `apply_chat_template`: the text, or its
    /// token ids when `tokenize` (special tokens in the text parsed as such, none added).
    #[pyo3(signature = (messages, add_generation_prompt=true, tokenize=false, chat_template=None))]
    fn apply_chat_template(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        add_generation_prompt: bool,
        tokenize: bool,
        chat_template: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let eng = self.get()?;
        if tokenize {
            let ids = chat_ids(py, &eng, messages, add_generation_prompt, chat_template)?;
            Ok(PyList::new(py, ids)?.into_any().unbind())
        } else {
            let text = chat_text(py, &eng, messages, add_generation_prompt, chat_template)?;
            Ok(pyo3::types::PyString::new(py, &text).into_any().unbind())
        }
    }

    /// The token that ends an assistant turn in the chat template (for ChatML `<|im_end|>`), as
    /// a list (empty if the template shows none): `Engine.chat` stops there, as at EOS.
    #[pyo3(signature = (chat_template=None))]
    fn chat_stop_token_ids(&self, py: Python<'_>, chat_template: Option<String>) -> PyResult<Vec<u32>> {
        let eng = self.get()?;
        let source = template_source(&eng, chat_template)?;
        run(py, move |_| {
            let (bos, eos) = special_texts(&eng);
            let Some(tail) = crate::chat::compiled(&source)?.end_of_turn(&bos, &eos) else {
                return Ok(vec![]);
            };
            let ids = eng.tokenize(&tail, false)?;
            // the first special token after the assistant's text (it decodes to nothing when
            // special tokens are skipped)
            for id in ids {
                let skipped = eng.tokenizer.decode(&[id], true).map_err(Error::Tokenizer)?;
                let whole = eng.tokenizer.decode(&[id], false).map_err(Error::Tokenizer)?;
                if skipped.is_empty() && !whole.is_empty() {
                    return Ok(vec![id]);
                }
            }
            Ok(vec![])
        })
    }

    /// Free the model and the KV pool once in-flight calls end; later calls raise EngineClosedError.
    fn close(&self) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).is_none()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        match self.get() {
            Ok(e) => format!(
                "Engine({:?}, architecture={:?}, context_length={})",
                e.path.display().to_string(),
                e.config().architecture,
                e.context_length
            ),
            Err(_) => "Engine(<closed>)".to_string(),
        }
    }
}

/// A Python value (None, bool, int, float, str, list, tuple, dict) as a template value.
fn py_to_value(x: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyTuple};
    if depth > 64 {
        return Err(PyValueError::new_err("chat messages are nested too deeply"));
    }
    if x.is_none() {
        Ok(Value::from(()))
    } else if let Ok(b) = x.cast::<PyBool>() {
        Ok(Value::from(b.is_true()))
    } else if x.is_instance_of::<PyInt>() {
        match x.extract::<i64>() {
            Ok(i) => Ok(Value::from(i)),
            Err(_) => Ok(Value::from(x.extract::<i128>()?)),
        }
    } else if x.is_instance_of::<PyFloat>() {
        Ok(Value::from(x.extract::<f64>()?))
    } else if let Ok(s) = x.cast::<PyString>() {
        Ok(Value::from(s.to_cow()?.as_ref()))
    } else if let Ok(d) = x.cast::<PyDict>() {
        let mut pairs = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            pairs.push((py_to_value(&k, depth + 1)?, py_to_value(&v, depth + 1)?));
        }
        Ok(Value::from_pairs(pairs))
    } else if x.is_instance_of::<PyList>() || x.is_instance_of::<PyTuple>() {
        let items: PyResult<Vec<Value>> = x.try_iter()?.map(|v| py_to_value(&v?, depth + 1)).collect();
        Ok(Value::from(items?))
    } else {
        Err(PyTypeError::new_err(format!(
            "a chat message may hold None, bool, int, float, str, list and dict values, not {}",
            x.get_type().name()?
        )))
    }
}

/// Check and convert `messages`: a list of dicts, each with a str "role" and a "content" that
/// is a str (or a list of content parts, or None beside "tool_calls").
pub(crate) fn chat_messages(messages: &Bound<'_, PyAny>) -> PyResult<Value> {
    use pyo3::types::{PyString, PyTuple};
    let what = "messages must be a list of dicts with 'role' and 'content'";
    if !(messages.is_instance_of::<PyList>() || messages.is_instance_of::<PyTuple>()) {
        return Err(PyTypeError::new_err(format!("{what}, got {}", messages.get_type().name()?)));
    }
    let mut out = Vec::new();
    for (i, m) in messages.try_iter()?.enumerate() {
        let m = m?;
        let d = m
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err(format!("messages[{i}] must be a dict, got {}", m.get_type().name().map(|n| n.to_string()).unwrap_or_default())))?;
        match d.get_item("role")? {
            None => return Err(PyValueError::new_err(format!("messages[{i}] has no 'role'"))),
            Some(r) if !r.is_instance_of::<PyString>() => {
                return Err(PyTypeError::new_err(format!("messages[{i}]['role'] must be a str, got {}", r.get_type().name()?)))
            }
            Some(_) => {}
        }
        match d.get_item("content")? {
            None if d.contains("tool_calls")? => {}
            None => return Err(PyValueError::new_err(format!("messages[{i}] has no 'content'"))),
            Some(c) if c.is_instance_of::<PyString>() || c.is_instance_of::<PyList>() => {}
            Some(c) if c.is_none() && d.contains("tool_calls")? => {}
            Some(c) => {
                return Err(PyTypeError::new_err(format!(
                    "messages[{i}]['content'] must be a str (or a list of content parts), got {}",
                    c.get_type().name()?
                )))
            }
        }
        out.push(py_to_value(&m, 1)?);
    }
    Ok(Value::from(out))
}

/// The template to use: the caller's, else the model's own.
fn template_source(eng: &Engine, chat_template: Option<String>) -> PyResult<String> {
    chat_template.or_else(|| eng.chat_template.clone()).ok_or_else(|| {
        to_py(Error::model(
            eng.path.display(),
            "the model has no chat template (tokenizer.chat_template); pass one as chat_template=\"...\"",
        ))
    })
}

/// The texts of the BOS and EOS tokens ("" when the model has none), for `bos_token`/`eos_token`.
fn special_texts(eng: &Engine) -> (String, String) {
    let text = |id: Option<u32>| {
        id.and_then(|id| eng.tokenizer.token_bytes(id)).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    };
    (text(eng.tokenizer.bos()), text(eng.tokenizer.eos()))
}

/// `messages` rendered with the model's template (or `chat_template`).
pub(crate) fn chat_text(
    py: Python<'_>,
    eng: &Arc<Engine>,
    messages: &Bound<'_, PyAny>,
    add_generation_prompt: bool,
    chat_template: Option<String>,
) -> PyResult<String> {
    let source = template_source(eng, chat_template)?;
    let msgs = chat_messages(messages)?;
    let eng = eng.clone();
    run(py, move |_| {
        let (bos, eos) = special_texts(&eng);
        crate::chat::compiled(&source)?.render(msgs, add_generation_prompt, &bos, &eos)
    })
}

/// The token ids of the rendered conversation: the template writes BOS and the turn markers
/// itself, so the text is tokenized with special tokens parsed and none added.
pub(crate) fn chat_ids(
    py: Python<'_>,
    eng: &Arc<Engine>,
    messages: &Bound<'_, PyAny>,
    add_generation_prompt: bool,
    chat_template: Option<String>,
) -> PyResult<Vec<u32>> {
    let text = chat_text(py, eng, messages, add_generation_prompt, chat_template)?;
    let eng = eng.clone();
    run(py, move |_| eng.tokenize(&text, false))
}

/// Render a chat template without a model (the golden tests use it): `messages` as for
/// `Engine.apply_chat_template`.
#[pyfunction]
#[pyo3(signature = (template, messages, add_generation_prompt=true, bos_token="", eos_token=""))]
pub fn render_chat_template(
    py: Python<'_>,
    template: String,
    messages: &Bound<'_, PyAny>,
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
) -> PyResult<String> {
    let msgs = chat_messages(messages)?;
    let (bos, eos) = (bos_token.to_string(), eos_token.to_string());
    run(py, move |_| crate::chat::compiled(&template)?.render(msgs, add_generation_prompt, &bos, &eos))
}
