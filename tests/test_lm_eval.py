"""lm-evaluation-harness integration, driven through lm-eval's own registry and Instance requests
(its datasets cannot be downloaded here, so the requests are built locally)."""

from __future__ import annotations

import numpy as np
import pytest

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install 'lanner[lm_eval]')")
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.api.registry import get_model  # noqa: E402

import lanner  # noqa: E402
import lanner.integrations.lm_eval  # noqa: E402,F401  (registers "lanner")


def requests(kind, args):
    return [Instance(request_type=kind, doc={}, arguments=a, idx=i) for i, a in enumerate(args)]


@pytest.fixture(scope="module")
def lm(smollm2):
    cls = get_model("lanner")
    assert cls is lanner.integrations.lm_eval.LannerLM
    return cls(engine=smollm2)


def test_model_from_arg_string(smollm2_path):
    cls = get_model("lanner")
    m = cls.create_from_arg_string(f"pretrained={smollm2_path},threads=1,context_length=512")
    assert m.engine.context_length == 512 and m.engine.info["threads"] == 1
    m.engine.close()
    with pytest.raises(ValueError, match="pretrained"):
        cls()


def test_loglikelihood(lm, smollm2):
    pairs = [
        ("The capital of France is", " Paris"),
        ("The capital of France is ", "Paris"),  # trailing space moves to the continuation
        ("2 + 2 =", " 4"),
        ("2 + 2 =", " banana"),
    ]
    out = lm.loglikelihood(requests("loglikelihood", pairs))
    assert len(out) == 4 and all(isinstance(lp, float) and isinstance(g, bool) for lp, g in out)
    want = smollm2.score([pairs[0], ("The capital of France is", " Paris"), pairs[2], pairs[3]])
    for (lp, g), w in zip(out, want):
        assert lp == pytest.approx(w.total, abs=1e-5) and g == w.greedy
    assert out[2][0] > out[3][0]


def test_loglikelihood_rolling(lm, smollm2):
    text = "The sun rose over the hills, and the farmers went out to the fields. " * 5
    (total,) = lm.loglikelihood_rolling(requests("loglikelihood_rolling", [(text,)]))
    # lm-eval scores every token of the text, the first one after the model's start token
    ids = smollm2.tokenize(text)
    if ids[0] != smollm2.bos_token_id:
        ids = [smollm2.bos_token_id] + ids
    rows = smollm2.session().feed(ids, logits="all").astype(np.float64)
    m = rows.max(axis=1, keepdims=True)
    lp = rows - m - np.log(np.exp(rows - m).sum(axis=1, keepdims=True))
    want = lp[np.arange(len(ids) - 1), ids[1:]].sum()
    assert total == pytest.approx(want, abs=2e-2)


def test_generate_until(lm, smollm2):
    greedy = smollm2.generate("The capital of France is", max_tokens=16, temperature=0)
    stop = greedy.strip().split()[1] if len(greedy.split()) > 1 else "\n"
    out = lm.generate_until(
        requests(
            "generate_until",
            [
                ("The capital of France is", {"until": [stop], "max_gen_toks": 16}),
                ("def add(a, b):", {"until": ["\n\n"], "max_gen_toks": 8, "do_sample": False}),
            ],
        )
    )
    assert len(out) == 2 and stop not in out[0] and greedy.startswith(out[0])
    assert out[1] == smollm2.generate("def add(a, b):", max_tokens=8, temperature=0, stop=["\n\n"])
