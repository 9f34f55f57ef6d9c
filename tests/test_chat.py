"""Chat templates: the model's own Jinja template rendered as Hugging Face's `apply_chat_template`.

The goldens (tests/goldens/chat_templates.json) were rendered by transformers for the real
models' templates and a few message lists; lanner must give the same text, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lanner
from lanner._lanner import render_chat_template
from tiny_model import write_tiny

GOLDENS = Path(__file__).parent / "goldens" / "chat_templates.json"

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
HELLO = [{"role": "user", "content": "Hello!"}]


def _cases() -> list[dict]:
    data = json.loads(GOLDENS.read_text(encoding="utf-8"))
    return data["cases"] if isinstance(data, dict) else data


CASES = _cases()


def _id(i: int, case: dict) -> str:
    return f"{i}-{case.get('model', 'model')}-{case.get('name', '')}-{'gen' if case['add_generation_prompt'] else 'nogen'}"


@pytest.mark.parametrize("case", CASES, ids=[_id(i, c) for i, c in enumerate(CASES)])
def test_golden_rendering(case):
    if case["template"] is None:
        # a model without a template (transformers raises); see test_gemma3_has_no_template
        assert "error" in case and "chat_template" in case["error"]
        return
    args = (case["template"], case["messages"], case["add_generation_prompt"], case.get("bos_token") or "", case.get("eos_token") or "")
    if "error" in case:
        with pytest.raises(ValueError) as ei:
            render_chat_template(*args)
        msg = str(ei.value)
        assert case["error"] in msg or msg.startswith("chat template error"), msg
    else:
        assert render_chat_template(*args) == case["rendered"]


def test_goldens_cover_the_real_models():
    models = {c.get("model") for c in CASES}
    assert {"smollm2", "qwen2.5-coder-0.5b", "gemma3-270m"} <= models, models


@pytest.mark.parametrize("name", ["smollm2", "qwen2.5-coder-0.5b"])
def test_golden_rendering_with_engine(name, request):
    """The engine's own template (from the GGUF) and BOS/EOS texts give the goldens."""
    eng = request.getfixturevalue({"smollm2": "smollm2", "qwen2.5-coder-0.5b": "qwen"}[name])
    cases = [c for c in CASES if c.get("model") == name and "error" not in c]
    assert cases
    for c in cases:
        assert c["template"] == eng.chat_template
        got = eng.apply_chat_template(c["messages"], add_generation_prompt=c["add_generation_prompt"])
        assert got == c["rendered"]


# ---- rendering without a model ---------------------------------------------------------------


def test_bad_messages_name_the_index():
    with pytest.raises(TypeError, match="list of dicts"):
        render_chat_template(CHATML, "Hello!")
    with pytest.raises(TypeError, match="list of dicts"):
        render_chat_template(CHATML, {"role": "user", "content": "x"})
    with pytest.raises(TypeError, match=r"messages\[1\] must be a dict"):
        render_chat_template(CHATML, [HELLO[0], "oops"])
    with pytest.raises(ValueError, match=r"messages\[0\] has no 'role'"):
        render_chat_template(CHATML, [{"content": "x"}])
    with pytest.raises(ValueError, match=r"messages\[1\] has no 'content'"):
        render_chat_template(CHATML, [HELLO[0], {"role": "user"}])
    with pytest.raises(TypeError, match=r"messages\[0\]\['content'\] must be a str"):
        render_chat_template(CHATML, [{"role": "user", "content": 5}])
    with pytest.raises(TypeError, match=r"messages\[0\]\['role'\] must be a str"):
        render_chat_template(CHATML, [{"role": None, "content": "x"}])


def test_template_errors_are_value_errors():
    with pytest.raises(ValueError, match="raised an exception: no system role"):
        render_chat_template("{{ raise_exception('no system role') }}", HELLO)
    with pytest.raises(ValueError, match="syntax error on line 2"):
        render_chat_template("ok\n{% for %}", HELLO)


def test_jinja_details_match_transformers():
    # trim_blocks + lstrip_blocks, Python-style printing, tojson like json.dumps, loop controls
    t = "{% for m in messages %}\n  {% if loop.index0 > 0 %}{% break %}{% endif %}\n{{ m | tojson }} {{ m.content.upper() }} {{ none }}\n{% endfor %}\n"
    assert render_chat_template(t, [{"role": "user", "content": "é"}, HELLO[0]]) == '{"role": "user", "content": "é"} É None\n'
    assert render_chat_template("{{ bos_token }}|{{ eos_token }}", HELLO, True, "<s>", "</s>") == "<s>|</s>"
    # extra fields and nested values pass through to the template
    msgs = [{"role": "user", "content": "x", "name": "bob", "meta": {"n": [1, 2.5, True, None]}}]
    assert render_chat_template("{{ messages[0].name }} {{ messages[0].meta.n }}", msgs) == "bob [1, 2.5, True, None]"


# ---- with an engine ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    eng = lanner.Engine(write_tiny(tmp_path_factory.mktemp("chat") / "tiny.gguf"), threads=1)
    yield eng
    eng.close()


def test_no_template_is_a_clear_error(tiny):
    assert tiny.chat_template is None
    with pytest.raises(lanner.ModelError, match="no chat template.*chat_template="):
        tiny.apply_chat_template(HELLO)
    with pytest.raises(lanner.ModelError, match="no chat template"):
        tiny.chat(HELLO, max_tokens=2)
    with pytest.raises(lanner.ModelError, match="no chat template"):
        tiny.session().feed_chat(HELLO)


def test_chat_template_argument_overrides(tiny):
    text = tiny.apply_chat_template(HELLO, chat_template=CHATML)
    assert text == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    ids = tiny.apply_chat_template(HELLO, tokenize=True, chat_template=CHATML)
    assert ids == tiny.tokenize(text, add_special=False)
    assert ids[0] == 1 and ids.count(1) == 2, "special tokens in the text are parsed as specials"
    assert tiny.chat_stop_token_ids(CHATML) == [2]  # <|im_end|>
    out = tiny.chat(HELLO, chat_template=CHATML, max_tokens=4, temperature=0)
    assert isinstance(out, str)


def test_smollm2_prompt(smollm2):
    assert smollm2.chat_template and "<|im_start|>" in smollm2.chat_template
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}]
    text = smollm2.apply_chat_template(msgs)
    assert text == "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    assert text.endswith("<|im_start|>assistant\n")
    assert not smollm2.apply_chat_template(msgs, add_generation_prompt=False).endswith("assistant\n")
    # the template's default system prompt when there is none
    assert smollm2.apply_chat_template(HELLO).startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    ids = smollm2.apply_chat_template(msgs, tokenize=True)
    assert ids == smollm2.tokenize(text, add_special=False)
    im_start, im_end = smollm2.tokenize("<|im_start|><|im_end|>", add_special=False)
    assert ids.count(im_start) == 3 and ids.count(im_end) == 2
    assert smollm2.chat_stop_token_ids() == [im_end]


def test_smollm2_chat(smollm2):
    out = smollm2.chat([{"role": "user", "content": "What is the capital of France?"}], max_tokens=8, temperature=0)
    assert isinstance(out, str) and out
    assert "<|im_end|>" not in out and "<|im_start|>" not in out
    # same as generating from the rendered prompt with the end-of-turn token as a stop
    prompt = smollm2.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}], tokenize=True)
    assert out == smollm2.generate(prompt, add_special=False, max_tokens=8, temperature=0)
    # a reply that ends stops at <|im_end|> and does not contain it
    done = smollm2.chat([{"role": "user", "content": "Say only the word yes."}], max_tokens=64, temperature=0)
    assert "<|im_end|>" not in done


def test_session_feed_chat(smollm2):
    msgs = [{"role": "user", "content": "Name a colour."}]
    s = smollm2.session()
    logits = s.feed_chat(msgs)
    assert logits.shape == (smollm2.vocab_size,)
    assert s.tokens == smollm2.apply_chat_template(msgs, tokenize=True)
    reply = "".join(c.text for c in s.generate(max_tokens=24, temperature=0))
    assert reply == smollm2.chat(msgs, max_tokens=24, temperature=0)
    # a follow-up turn: if the session holds the start of the new rendering, only the rest is fed
    held = len(s)
    follow = msgs + [{"role": "assistant", "content": reply}, {"role": "user", "content": "Another?"}]
    want = smollm2.apply_chat_template(follow, tokenize=True)
    if want[:held] == s.tokens:
        assert s.feed_chat(follow, logits="none") is None
        assert s.tokens == want
    else:  # the reply re-tokenizes differently (or was cut by max_tokens): a clear error
        with pytest.raises(ValueError, match="reset"):
            s.feed_chat(follow)
    with pytest.raises(ValueError, match="reset"):
        s.feed_chat([{"role": "user", "content": "Something else entirely"}])
    s.reset()
    s.feed_chat(follow, logits="none")
    assert s.tokens == want
    with pytest.raises(ValueError, match="already holds"):
        s.feed_chat(follow)


def test_qwen_prompt(qwen):
    text = qwen.apply_chat_template(HELLO)
    assert text == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
    )
    im_end = qwen.tokenize("<|im_end|>", add_special=False)
    assert qwen.chat_stop_token_ids() == im_end


@pytest.fixture(scope="module")
def gemma3():
    try:
        eng = lanner.Engine(lanner.fetch_model("gemma3-270m"), threads=2, context_length=512)
    except lanner.ModelError as e:
        if "unknown architecture" not in str(e):
            raise
        pytest.skip(f"this build cannot load gemma3: {e}")
    yield eng
    eng.close()


def test_gemma3_has_no_template(gemma3):
    # the GGUF of this base model carries no chat template (transformers raises too, see goldens)
    assert gemma3.chat_template is None
    with pytest.raises(lanner.ModelError, match="no chat template"):
        gemma3.apply_chat_template(HELLO)
    # the instruction-tuned Gemma 3 template passed in renders as in transformers, BOS included
    cases = [c for c in CASES if c.get("model") == "gemma3-it" and "error" not in c]
    assert cases
    for c in cases:
        got = gemma3.apply_chat_template(c["messages"], add_generation_prompt=c["add_generation_prompt"], chat_template=c["template"])
        assert got == c["rendered"]
    tmpl = cases[0]["template"]
    ids = gemma3.apply_chat_template(HELLO, tokenize=True, chat_template=tmpl)
    assert ids[0] == gemma3.bos_token_id and ids.count(gemma3.bos_token_id) == 1
    end_of_turn = gemma3.tokenize("<end_of_turn>", add_special=False)
    assert len(end_of_turn) == 1 and gemma3.chat_stop_token_ids(tmpl) == end_of_turn
    assert isinstance(gemma3.chat(HELLO, chat_template=tmpl, max_tokens=4, temperature=0), str)
