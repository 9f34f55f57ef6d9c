"""Make the tokenizer goldens with llama.cpp (llama-cpp-python, vocab_only) as the reference.

    pip install llama-cpp-python gguf && python tests/goldens/make_tokenizer_goldens.py

Writes tests/goldens/tokenizer_<model>.json (all models, or those named as arguments): ids for a
varied set of strings, tokenized as llama.cpp does with special tokens parsed (`special=True`),
with and without BOS.
Run once, outside CI; the JSON files are committed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import llama_cpp

import importlib.util  # noqa: E402

# lanner/_models.py is pure Python: load it by path so this script needs no built lanner
_spec = importlib.util.spec_from_file_location(
    "lanner_models", Path(__file__).resolve().parents[2] / "python" / "lanner" / "_models.py")
_models = importlib.util.module_from_spec(_spec)
sys.modules["lanner_models"] = _models
_spec.loader.exec_module(_models)
fetch = _models.fetch

TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "",
    " ",
    "   leading and trailing spaces   ",
    "multiple   spaces\tand\ttabs",
    "line one\nline two\n\nline four\n\n\n",
    "\n",
    "café naïve résumé façade Ångström",
    "Straße, Œuvre, Ærø",
    "日本語のテキストです。東京",
    "中文文本测试，你好世界！",
    "한국어 텍스트",
    "Привет, мир! Ёжик",
    "مرحبا بالعالم",
    "🙂😀🚀 emoji 👍🏽",
    "family: 👨‍👩‍👧‍👦 flag: 🇫🇷🇯🇵",
    "1234567890",
    "3.14159 and 2,718,281 and -42 and 1e-9",
    "year 2024, 10000 items, 007",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}",
    "    indented four\n        indented eight",
    "<html><body class=\"x\">Hi &amp; bye</body></html>",
    "don't won't I'LL we've they'RE it's",
    "MiXeD CaSe WoRdS and ALLCAPS",
    "URL: https://example.com/path?q=1&r=two#frag",
    "email@example.org, @handle #hashtag $100 50% ^caret~ |pipe|",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text before <|im_end|> text after",
    "<|im_start|><|im_end|>",
    "a<|im_start|>b",
    "Ünïcödé mixed with ASCII and 数字123",
    "      ",
    "\t\t\n\r\n",
    "...!!!???,,,;;;",
    "x" * 40,
    "The year 1999; the number 123456789012345.",
    "Special chars: © ® ™ € £ ¥ § ¶ • … — –",
]

# Per-model extras: the model's own chat markers and user-defined tokens (Gemma's runs of spaces,
# newlines and tabs, HTML tags), which the shared texts above do not reach.
EXTRA_TEXTS = {
    "gemma3-270m": [
        "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
        "<bos><start_of_turn>user\nhi<end_of_turn>",
        "text <end_of_turn> more<eos>",
        "<table><tr><td>1</td></tr></table> <h1>Title</h1> <b>bold</b> <code>x</code>",
        "a  b   c    d\t\te\n\n\nf",
        " " * 40 + "x" + "\n" * 35,
        "<0x41> literal byte token text",
        "<unused0><unk><mask>[multimodal]",
        "\u200b zero width, \u00a0 nbsp, \ufeff bom",
        "ﬁ ligature, Ω ohm, ½ half, ｆｕｌｌｗｉｄｔｈ",
        "  leading two spaces",
        "\nleading newline",
    ],
}

MODELS = ["smollm2", "qwen2.5-coder-0.5b", "gemma3-270m"]


def main() -> None:
    out_dir = Path(__file__).parent
    names = sys.argv[1:] or MODELS  # e.g. `make_tokenizer_goldens.py gemma3-270m`
    for name in names:
        path = fetch(name)
        llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
        cases = []
        for text in TEXTS + EXTRA_TEXTS.get(name, []):
            for add_special in (False, True):
                ids = llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=True)
                cases.append({"text": text, "add_special": add_special, "ids": list(ids)})
        doc = {"model": name, "reference": f"llama-cpp-python {llama_cpp.__version__} (vocab_only, special=True)",
               "cases": cases}
        (out_dir / f"tokenizer_{name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1))
        print(name, len(cases), "cases")


if __name__ == "__main__":
    main()
