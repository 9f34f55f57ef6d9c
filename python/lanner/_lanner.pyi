"""Type stubs for the native module `lanner._lanner` (kept in sync by tests/test_stubs.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
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

def cpu_info() -> dict[str, Any]:
    """CPU architecture, features, detected tier and the tier in use (after LANNER_CPU)."""

def read_tensor(path: str | os.PathLike[str], name: str, max_rows: int | None = None) -> npt.NDArray[np.float32]:
    """Dequantize a GGUF tensor to float32 [rows, row_length] with lanner's reference code."""

class Chunk:
    """One generated token: `token` (None for a final text-only flush), `text` safe to show now,
    `logprob` (log-probability under the raw model distribution), `finish_reason`
    ("stop", "length" or None)."""

    token: int | None
    text: str
    logprob: float
    finish_reason: str | None

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
    ) -> GenerateStream:
        """Stream tokens continuing the session (after appending `prompt`, if given)."""
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
    def feed_batch(self, items: Sequence[tuple[Session, str | Sequence[int]]]) -> npt.NDArray[np.float32]:
        """Feed several sessions in one forward pass; returns float32 [len(items), vocab] next-token logits."""
    def generate(
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
    def close(self) -> None: ...
    def __enter__(self) -> Engine: ...
    def __exit__(self, *args: object) -> bool: ...
