"""Type stubs for the native module `lanner._lanner` (kept in sync by tests/test_stubs.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

__version__: str

class ModelError(ValueError):
    """A model file or folder that cannot be loaded; the message names the file and the problem."""

class TokenizerError(ValueError):
    """Text or token ids the tokenizer cannot handle."""

class ContextOverflowError(ValueError):
    """More tokens than the engine's context length."""

class KVCacheFullError(RuntimeError):
    """The KV cache pool has no free block left (the session is left as it was)."""

class SessionBusyError(RuntimeError):
    """A session used from two threads at once."""

class EngineClosedError(RuntimeError):
    """The engine was closed."""

class DeviceError(RuntimeError):
    """A device (GPU) that cannot be used, or a device operation that failed."""

def cuda_info() -> dict[str, Any]:
    """Whether a CUDA GPU can be used: {"available", "reason" (why not), "devices" (name,
    memory_bytes, compute_capability), "kernels" (how cuda/*.cu were compiled)}."""

def quantize(type: str, x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """Quantize float32 rows [rows, cols] into GGUF blocks of `type` with lanner's CPU reference
    quantizer; returns uint8 [rows, row_bytes]."""

def dequantize(type: str, data: npt.NDArray[np.uint8], cols: int) -> npt.NDArray[np.float32]:
    """Dequantize uint8 rows [rows, row_bytes] of `type` with the CPU reference; float32 [rows, cols]."""

def cuda_kernel_test(op: str, arrays: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Run one CUDA kernel on numpy inputs (for tests that compare it with a CPU reference):
    ops matmul, get_rows, dequant_bf16, add_rms_norm, rope, attention, swiglu, geglu, argmax."""

def cpu_info() -> dict[str, Any]:
    """CPU architecture, features, detected tier and the tier in use (after LANNER_CPU)."""

def read_tensor(path: str | os.PathLike[str], name: str, max_rows: int | None = None) -> npt.NDArray[np.float32]:
    """Dequantize a GGUF tensor to float32 [rows, row_length] with lanner's reference code."""

def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str], quantize: str | None = None) -> dict[str, Any]:
    """Write a Hugging Face folder (or a GGUF file) as the GGUF file `dst`, loadable by lanner and
    llama.cpp: tokenizer.json as `tokenizer.ggml.*` (byte-level BPE), Llama Q/K rows in llama.cpp's
    order, Llama 3.1 RoPE scaling as `rope_freqs.weight`. `quantize` ("q8_0", "q4_k", "f16", ...)
    quantizes a folder's weight matrices. Written to a temporary name and renamed into place, so a
    failure leaves no file. Returns {"path", "architecture", "tensors", "bytes", "seconds",
    "pre_tokenizer", "file_type"}."""

def render_chat_template(
    template: str,
    messages: Sequence[dict[str, Any]],
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
) -> str:
    """Render a Jinja chat template as Hugging Face's `apply_chat_template(tokenize=False)` does."""

class Chunk:
    """One generated token: `token` (None for a final text-only flush), `text` safe to show now,
    `logprob` (log-probability under the raw model distribution), `finish_reason`
    ("stop", "length" or None)."""

    token: int | None
    text: str
    logprob: float
    finish_reason: str | None
    top_logprobs: list[tuple[int, float]]

class GenerateStream(Iterator[Chunk]):
    """Iterator of Chunks; each step computes one token with the GIL released."""

    @property
    def session(self) -> Session: ...
    def __iter__(self) -> GenerateStream: ...
    def __next__(self) -> Chunk: ...

class Session:
    """One sequence: its tokens and its KV blocks. Use from one thread at a time."""

    @overload
    def feed(self, prompt: str | Sequence[int], logits: Literal["last"] = "last", add_special: bool | None = None) -> npt.NDArray[np.float32]: ...
    @overload
    def feed(self, prompt: str | Sequence[int], logits: Literal["all"], add_special: bool | None = None) -> npt.NDArray[np.float32]: ...
    @overload
    def feed(self, prompt: str | Sequence[int], logits: Literal["none"], add_special: bool | None = None) -> None: ...
    def feed_chat(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        chat_template: str | None = None,
        logits: Literal["last", "all", "none"] = "last",
    ) -> npt.NDArray[np.float32] | None:
        """Feed a conversation rendered with the chat template (only the tokens after those the
        session already holds); returns logits as `feed` does."""
    def generate(
        self,
        prompt: str | Sequence[int] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repetition_penalty: float = 1.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        penalty_last_n: int = 64,
        logit_bias: dict[int, float] | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        stop_token_ids: Sequence[int] | None = None,
        ignore_eos: bool = False,
        top_logprobs: int = 0,
    ) -> GenerateStream:
        """Stream tokens continuing the session (after appending `prompt`, if given)."""
    def fork(self) -> Session:
        """A new session with the same tokens sharing this one's KV blocks (copy-on-write)."""
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write tokens and KV cache to `path` (versioned, checksummed); see Engine.load_session."""
    def reset(self) -> None:
        """Forget every token; the KV blocks go back to the pool."""
    @property
    def tokens(self) -> list[int]: ...
    @property
    def _last_logits_address(self) -> int: ...
    def __len__(self) -> int: ...

class Engine:
    """A loaded model: tokenizer, weights (memory-mapped), compute backend and KV block pool."""

    def __init__(
        self,
        model: str | os.PathLike[str],
        threads: int | None = None,
        context_length: int | None = None,
        kv_cache_tokens: int | None = None,
        kv_block_size: int | None = None,
        prefix_cache_tokens: int | None = None,
        quantize: str | None = None,
        device: str | None = None,
        weights: str | None = None,
        activations: str | None = None,
    ) -> None: ...
    @property
    def info(self) -> dict[str, Any]: ...
    @property
    def context_length(self) -> int: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def eos_token_ids(self) -> list[int]: ...
    @property
    def bos_token_id(self) -> int | None: ...
    @property
    def closed(self) -> bool: ...
    def tokenize(self, text: str, add_special: bool = True) -> list[int]: ...
    def detokenize(self, ids: Sequence[int], skip_special: bool = False) -> str: ...
    def token_bytes(self, id: int) -> bytes: ...
    def session(self) -> Session: ...
    @property
    def generation_defaults(self) -> dict[str, float | int]:
        """Sampling defaults the model ships (generation_config.json, GGUF `general.sampling.*`)."""
        ...
    @property
    def chat_template(self) -> str | None:
        """The model's own Jinja chat template (None if it has none)."""
    @overload
    def apply_chat_template(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        tokenize: Literal[False] = False,
        chat_template: str | None = None,
    ) -> str: ...
    @overload
    def apply_chat_template(
        self,
        messages: Sequence[dict[str, Any]],
        add_generation_prompt: bool = True,
        *,
        tokenize: Literal[True],
        chat_template: str | None = None,
    ) -> list[int]: ...
    def chat_stop_token_ids(self, chat_template: str | None = None) -> list[int]:
        """The token that ends an assistant turn in the chat template (a list, empty if none)."""
    def feed_batch(self, items: Sequence[tuple[Session, str | Sequence[int]]]) -> npt.NDArray[np.float32]:
        """Feed several sessions in one forward pass; returns float32 [len(items), vocab] next-token logits."""
    def _generate_one(
        self,
        prompt: str | Sequence[int],
        max_tokens: int = 256,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repetition_penalty: float = 1.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        penalty_last_n: int = 64,
        logit_bias: dict[int, float] | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        stop_token_ids: Sequence[int] | None = None,
        ignore_eos: bool = False,
        add_special: bool = True,
    ) -> str:
        """Generate in a fresh session and return the text."""
    def score(
        self,
        items: Sequence[str | Sequence[int] | tuple[str | Sequence[int], str | Sequence[int]]],
        top_logprobs: int = 0,
        add_special: bool = True,
    ) -> list[ScoreResult]:
        """Log-probabilities of texts (every token after the first) or of (context, continuation) pairs."""
    def perplexity(
        self,
        text: str | Sequence[int],
        window: int | None = None,
        stride: int | None = None,
        add_special: bool = True,
    ) -> Perplexity:
        """Rolling perplexity: every token after the first predicted once, in windows."""
    def load_session(self, path: str | os.PathLike[str]) -> Session:
        """A session written by Session.save for this model."""
    def _batch(
        self,
        prompts: Sequence[str | Sequence[int]],
        params: Sequence[dict[str, Any]],
        max_batch_size: int = 64,
        add_special: bool = True,
    ) -> BatchRun: ...
    @property
    def prefix_cache(self) -> dict[str, int]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Engine: ...
    def __exit__(self, *args: object) -> bool: ...

class Completion:
    """One finished request of Engine.generate."""

    index: int
    text: str
    tokens: list[int]
    finish_reason: str | None
    logprobs: npt.NDArray[np.float32] | None
    top_logprobs: list[list[tuple[int, float]]] | None
    prompt_tokens: list[int]
    prompt_logprobs: npt.NDArray[np.float32] | None

class BatchRun:
    """A running batch of requests (the loop behind Engine.generate and Engine.stream)."""

    def step(self, processors: Sequence[Callable[[list[int], npt.NDArray[np.float32]], Any]] | None = None) -> list[tuple[int, Chunk]]: ...
    @property
    def done(self) -> bool: ...
    @property
    def n_finished(self) -> int: ...
    @property
    def n_requests(self) -> int: ...
    def results(self) -> list[Completion]: ...

class ScoreResult:
    """Scores of one item: `logprobs` of the scored tokens, their `total`, whether all were `greedy`."""

    logprobs: npt.NDArray[np.float32]
    total: float
    greedy: bool
    tokens: list[int]
    top_logprobs: list[list[tuple[int, float]]] | None

class Perplexity:
    """Rolling perplexity of a text and the log-probability of every token after the first."""

    perplexity: float
    logprobs: npt.NDArray[np.float32]
    total: float
    n_tokens: int
