"""Memory, logging and the command line."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest

import lanner


def test_loading_maps_weights_instead_of_copying(smollm2_path):
    """Peak RSS after load stays far below the file size (weights are used in place from the
    map), and even after a forward pass touched every weight page it is not double the model."""
    code = textwrap.dedent(
        """
        import json, resource, sys, lanner
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        eng = lanner.Engine(sys.argv[1], threads=1, context_length=256)
        load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        eng.session().feed("hello world")
        run = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps([base, load, run]))
        """
    )
    out = subprocess.run([sys.executable, "-c", code, str(smollm2_path)], capture_output=True, text=True, check=True)
    base, load, run = (v * 1024 for v in json.loads(out.stdout))
    size = os.path.getsize(smollm2_path)
    assert load - base < 0.25 * size, f"load grew RSS by {(load - base) / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
    assert run - base < 1.5 * size, f"after a forward pass RSS grew by {(run - base) / 2**20:.0f} MiB"


def test_rust_logs_reach_python_logging(caplog, tmp_path):
    from tiny_model import write_tiny

    p = write_tiny(tmp_path / "t.gguf")
    with caplog.at_level(logging.INFO):
        lanner.Engine(p, threads=1)
    assert any(r.name.startswith("lanner") and "loaded" in r.getMessage() for r in caplog.records), caplog.records


def test_command_line(smollm2_path):
    r = subprocess.run([sys.executable, "-m", "lanner", "--model", str(smollm2_path), "-n", "6", "-t", "0",
                        "The capital of France is"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Paris" in r.stdout
    bad = subprocess.run([sys.executable, "-m", "lanner", "--model", "/nonexistent.gguf", "hi"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "cannot open" in bad.stderr


def test_tokenizer_json_beside_the_model_wins(tmp_path):
    """A tokenizer.json next to the GGUF file replaces the GGUF vocabulary."""
    from tiny_model import write_tiny

    p = write_tiny(tmp_path / "model.gguf")
    vocab = {"[UNK]": 0, "a": 1, "b": 2, "c": 3, "d": 4, "hello": 5, "x": 6, "world": 7}
    (tmp_path / "tokenizer.json").write_text(json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    }))
    eng = lanner.Engine(p, threads=1)
    assert eng.tokenize("hello world zzz", add_special=False) == [5, 7, 0]
    assert eng.detokenize([5]) == "hello"
    (tmp_path / "tokenizer.json").write_text("{ not json")
    try:
        lanner.Engine(p, threads=1)
    except lanner.ModelError as e:
        assert "tokenizer" in str(e)
    else:
        raise AssertionError("a broken tokenizer.json must be a ModelError")


def test_threads_none_follows_affinity(tmp_path):
    """threads=None counts the cores this process may use (its affinity mask), not the host's."""
    if not hasattr(os, "sched_setaffinity"):
        import pytest

        pytest.skip("no sched_setaffinity on this platform")
    from tiny_model import write_tiny

    p = write_tiny(tmp_path / "t.gguf")
    code = "import os, sys, lanner; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); " \
           "print(lanner.Engine(sys.argv[1]).info['threads'])"
    out = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_int8_peak_is_measured_where_the_tier_has_vnni():
    """bench/bench.py's int8 peak: a positive GOP/s figure at the avx512vnni tier (one core does
    at most 2 vpdpbusd per cycle: 256 ops per cycle, so under ~2,000 GOP/s), None below it."""
    import lanner._lanner as native

    with pytest.raises(ValueError, match="finite"):
        native._int8_peak_gops(float("nan"))
    peak = native._int8_peak_gops(0.05)
    if lanner.cpu_info()["tier"] == "avx512vnni":
        assert peak is not None and 50 < peak < 2000, peak
    else:
        assert peak is None
