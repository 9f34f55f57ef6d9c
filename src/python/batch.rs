//! Batched generation, scoring and perplexity for Python: argument conversion and result objects.

use super::errors::{run, to_py};
use super::session::{gen_params, input_ids, PyChunk};
use crate::batchgen::{BatchGen, Completion, Request};
use crate::engine::Engine;
use crate::error::Error;
use crate::score::{ScoreItem, ScoreResult};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const PARAM_KEYS: &[&str] = &[
    "max_tokens", "temperature", "top_k", "top_p", "min_p", "repetition_penalty", "presence_penalty",
    "frequency_penalty", "penalty_last_n", "logit_bias", "seed", "stop", "stop_token_ids", "ignore_eos",
    "top_logprobs", "prompt_logprobs", "logprobs",
];

/// One request's settings from a dict of keyword arguments (defaults as `Session.generate`).
fn request_params(d: &Bound<'_, PyDict>) -> PyResult<(crate::generate::GenParams, bool, bool)> {
    for k in d.keys() {
        let k: String = k.extract()?;
        if !PARAM_KEYS.contains(&k.as_str()) {
            return Err(PyTypeError::new_err(format!("unknown generation argument '{k}'")));
        }
    }
    fn get<'py, T: FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, k: &str, default: T) -> PyResult<T> {
        match d.get_item(k)? {
            Some(v) if !v.is_none() => v.extract::<T>().map_err(|_| {
                PyTypeError::new_err(format!("{k}: cannot use a {} here", v.get_type().name().map(|n| n.to_string()).unwrap_or_default()))
            }),
            _ => Ok(default),
        }
    }
    let stop = d.get_item("stop")?.filter(|v| !v.is_none());
    let p = gen_params(
        get(d, "max_tokens", 256usize)?,
        get(d, "temperature", 0.8f32)?,
        get(d, "top_k", 40usize)?,
        get(d, "top_p", 0.95f32)?,
        get(d, "min_p", 0.05f32)?,
        get(d, "repetition_penalty", 1.0f32)?,
        get(d, "presence_penalty", 0.0f32)?,
        get(d, "frequency_penalty", 0.0f32)?,
        get(d, "penalty_last_n", 64usize)?,
        get::<Option<HashMap<u32, f32>>>(d, "logit_bias", None)?,
        get::<Option<u64>>(d, "seed", None)?,
        stop.as_ref(),
        get::<Option<Vec<u32>>>(d, "stop_token_ids", None)?,
        get(d, "ignore_eos", false)?,
        get(d, "top_logprobs", 0usize)?,
    )?;
    Ok((p, get(d, "prompt_logprobs", false)?, get(d, "logprobs", true)?))
}

/// A finished request of `Engine.generate`.
#[pyclass(name = "Completion", module = "lanner._lanner", frozen, get_all)]
pub struct PyCompletion {
    pub index: usize,
    pub text: String,
    /// Generated token ids.
    pub tokens: Vec<u32>,
    /// "stop" or "length".
    pub finish_reason: Option<&'static str>,
    /// float32 [len(tokens)]: log p of each generated token under the raw model distribution
    /// (None with logprobs=False).
    pub logprobs: Option<Py<PyAny>>,
    /// Per generated token, [(token, logprob)] of the most likely ones (None unless asked).
    pub top_logprobs: Option<Vec<Vec<(u32, f32)>>>,
    pub prompt_tokens: Vec<u32>,
    /// float32 [len(prompt_tokens) - 1]: log p of each prompt token after the first (None unless asked).
    pub prompt_logprobs: Option<Py<PyAny>>,
}

#[pymethods]
impl PyCompletion {
    fn __repr__(&self) -> String {
        format!(
            "Completion(index={}, text={:?}, tokens={}, finish_reason={:?})",
            self.index,
            self.text,
            self.tokens.len(),
            self.finish_reason
        )
    }
}

fn completion(py: Python<'_>, index: usize, c: Completion, want_lp: bool, want_top: bool) -> PyResult<PyCompletion> {
    Ok(PyCompletion {
        index,
        text: c.text,
        tokens: c.tokens,
        finish_reason: c.finish_reason,
        logprobs: want_lp.then(|| PyArray1::from_vec(py, c.logprobs).into_any().unbind()),
        top_logprobs: if want_top { Some(c.top) } else { None },
        prompt_tokens: c.prompt_tokens,
        prompt_logprobs: c.prompt_logprobs.map(|v| PyArray1::from_vec(py, v).into_any().unbind()),
    })
}

/// A running batch (the core of `Engine.generate` / `Engine.stream` for lists of prompts).
#[pyclass(name = "BatchRun", module = "lanner._lanner", frozen)]
pub struct PyBatchRun {
    eng: Arc<Engine>,
    inner: Mutex<Option<BatchGen>>,
    /// Per request: (logprobs, top_logprobs) asked for.
    want: Vec<(bool, bool)>,
}

impl PyBatchRun {
    pub fn start(
        py: Python<'_>,
        eng: Arc<Engine>,
        prompts: Vec<Bound<'_, PyAny>>,
        params: Vec<Bound<'_, PyDict>>,
        max_batch_size: usize,
        add_special: bool,
    ) -> PyResult<PyBatchRun> {
        if params.len() != prompts.len() {
            return Err(to_py(Error::arg("one settings dict per prompt")));
        }
        let mut reqs = Vec::with_capacity(prompts.len());
        let mut want = Vec::with_capacity(prompts.len());
        for (p, d) in prompts.iter().zip(&params) {
            let (params, prompt_logprobs, logprobs) = request_params(d)?;
            want.push((logprobs, params.top_logprobs > 0));
            reqs.push(Request { prompt: input_ids(py, &eng, p, add_special)?, params, prompt_logprobs });
        }
        let bg = BatchGen::new(&eng, reqs, max_batch_size).map_err(to_py)?;
        Ok(PyBatchRun { eng, inner: Mutex::new(Some(bg)), want })
    }
}

#[pymethods]
impl PyBatchRun {
    /// One forward pass for the whole running batch; returns [(request index, Chunk)] for the
    /// tokens it produced. `processors`: callables `fn(token_ids, logits)` that may change each
    /// sequence's logits row (a writable float32 numpy view) in place, or return a new row.
    #[pyo3(signature = (processors=None))]
    fn step(&self, py: Python<'_>, processors: Option<Vec<Py<PyAny>>>) -> PyResult<Vec<(usize, PyChunk)>> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let bg = guard.as_mut().ok_or_else(|| to_py(Error::arg("this batch has finished")))?;
        let eng = &self.eng;
        let mut step = run(py, |interrupted| bg.forward(eng, interrupted))?;
        let vocab = eng.config().vocab_size;
        let rows = std::mem::take(&mut step.rows);
        let events = if let Some(procs) = processors.filter(|p| !p.is_empty() && !step.seqs.is_empty()) {
            // the rows become a numpy array (no copy); each processor sees a view of its row
            let n = step.seqs.len();
            let arr = PyArray1::from_vec(py, rows).reshape([n, vocab])?;
            for (r, &i) in step.seqs.iter().enumerate() {
                let ids = PyList::new(py, bg.seq(i).1)?;
                let row = arr.get_item(r)?;
                for f in &procs {
                    let out = f.bind(py).call1((&ids, &row))?;
                    if !out.is_none() && !out.is(&row) {
                        row.set_item(pyo3::types::PySlice::full(py), out)?;
                    }
                }
            }
            let arr: Bound<'_, PyArray2<f32>> = arr;
            let mut rw = arr.readwrite();
            let slice = rw.as_slice_mut().map_err(|e| to_py(Error::Internal(e.to_string())))?;
            bg.finish(eng, step, slice)
        } else {
            let mut rows = rows;
            bg.finish(eng, step, &mut rows)
        };
        Ok(events.into_iter().map(|(i, c)| (i, PyChunk::from(c))).collect())
    }

    #[getter]
    fn done(&self) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_none_or(|b| b.is_done())
    }

    #[getter]
    fn n_finished(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, |b| b.n_finished())
    }

    #[getter]
    fn n_requests(&self) -> usize {
        self.want.len()
    }

    /// The completions, in request order (once `done`).
    fn results(&self, py: Python<'_>) -> PyResult<Vec<PyCompletion>> {
        let bg = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        let bg = bg.ok_or_else(|| to_py(Error::arg("results() was already taken")))?;
        if !bg.is_done() {
            return Err(to_py(Error::arg("the batch has not finished")));
        }
        bg.into_results().into_iter().enumerate().map(|(i, c)| completion(py, i, c, self.want[i].0, self.want[i].1)).collect()
    }
}

/// The result of scoring one item.
#[pyclass(name = "ScoreResult", module = "lanner._lanner", frozen, get_all)]
pub struct PyScoreResult {
    /// float32: log p of each scored token given everything before it.
    pub logprobs: Py<PyAny>,
    /// Their sum (in float64).
    pub total: f64,
    /// Whether every scored token is the arg-max of its distribution.
    pub greedy: bool,
    /// The scored token ids.
    pub tokens: Vec<u32>,
    /// Per scored position, [(token, logprob)] of the most likely ones (None unless asked).
    pub top_logprobs: Option<Vec<Vec<(u32, f32)>>>,
}

#[pymethods]
impl PyScoreResult {
    fn __repr__(&self) -> String {
        format!("ScoreResult(total={:.4}, greedy={}, tokens={})", self.total, self.greedy, self.tokens.len())
    }
}

/// Items as token lists: text or ids (everything after the first token is scored), or a
/// `(context, continuation)` pair (the continuation is scored).
pub fn score_items(py: Python<'_>, eng: &Arc<Engine>, items: &Bound<'_, PyAny>, add_special: bool) -> PyResult<Vec<ScoreItem>> {
    let mut out = Vec::new();
    for (i, it) in items.try_iter()?.enumerate() {
        let it = it?;
        if let Ok(pair) = it.cast::<PyTuple>() {
            if pair.len() != 2 {
                return Err(PyTypeError::new_err(format!("item {i}: a pair must be (context, continuation)")));
            }
            let mut ctx = input_ids(py, eng, &pair.get_item(0)?, add_special)?;
            let cont = input_ids(py, eng, &pair.get_item(1)?, false)?;
            if cont.is_empty() {
                return Err(to_py(Error::arg(format!("item {i}: the continuation is empty"))));
            }
            if ctx.is_empty() {
                // nothing to condition on: the model's start token, as lm-eval does
                ctx = match eng.tokenizer.bos() {
                    Some(b) => vec![b],
                    None => return Err(to_py(Error::arg(format!("item {i}: empty context and the model has no BOS token")))),
                };
            }
            let first = ctx.len();
            ctx.extend(cont);
            out.push(ScoreItem { tokens: ctx, first });
        } else {
            out.push(ScoreItem { tokens: input_ids(py, eng, &it, add_special)?, first: 1 });
        }
    }
    Ok(out)
}

pub fn score_results(py: Python<'_>, items: &[ScoreItem], res: Vec<ScoreResult>, top: bool) -> Vec<PyScoreResult> {
    items
        .iter()
        .zip(res)
        .map(|(it, r)| PyScoreResult {
            total: r.logprobs.iter().map(|&x| x as f64).sum(),
            greedy: r.greedy,
            tokens: it.tokens[it.first..].to_vec(),
            top_logprobs: if top { Some(r.top) } else { None },
            logprobs: PyArray1::from_vec(py, r.logprobs).into_any().unbind(),
        })
        .collect()
}

/// `Engine.perplexity`'s result.
#[pyclass(name = "Perplexity", module = "lanner._lanner", frozen, get_all)]
pub struct PyPerplexity {
    /// exp(-mean log p) over every predicted token.
    pub perplexity: f64,
    /// float32 [n_tokens - 1]: log p of every token after the first.
    pub logprobs: Py<PyAny>,
    /// Sum of the log-probabilities.
    pub total: f64,
    /// Tokens in the text (the first is not predicted).
    pub n_tokens: usize,
}

#[pymethods]
impl PyPerplexity {
    fn __repr__(&self) -> String {
        format!("Perplexity(perplexity={:.4}, n_tokens={})", self.perplexity, self.n_tokens)
    }
}

pub fn perplexity(py: Python<'_>, n_tokens: usize, lp: Vec<f32>) -> PyPerplexity {
    let total: f64 = lp.iter().map(|&x| x as f64).sum();
    PyPerplexity {
        perplexity: (-total / lp.len() as f64).exp(),
        total,
        n_tokens,
        logprobs: PyArray1::from_vec(py, lp).into_any().unbind(),
    }
}
