"""Convert the tiny random Qwen3.5 folder (``tests/goldens/hf/qwen3_5``) into a GGUF file with
llama.cpp's own converter, so that lanner is tested against the files users bring.

One-off tooling, NOT run in CI. The output ``tests/goldens/qwen3_5_llamacpp.gguf`` is committed;
rerun only to regenerate it. It needs llama.cpp's ``convert_hf_to_gguf.py`` with its ``conversion/``
package and ``gguf-py`` (a llama.cpp checkout, or the copy vendored in the llama-cpp-python sdist),
plus ``torch``, ``transformers`` and ``numpy``::

    # llama_cpp_python-0.3.36.tar.gz: the sdist from PyPI
    tar xzf llama_cpp_python-0.3.36.tar.gz
    python3 tests/goldens/make_qwen35_gguf.py llama_cpp_python-0.3.36/vendor/llama.cpp

It runs, in effect::

    python3 convert_hf_to_gguf.py tests/goldens/hf/qwen3_5 --no-mtp --outtype bf16 \\
        --outfile tests/goldens/qwen3_5_llamacpp.gguf

with one patch: llama.cpp names a tokenizer's pre-tokenizer by hashing how it splits a fixed text
(``get_vocab_base_pre``), and it does not know the toy tokenizer, so the patch answers ``gpt-2``:
the tokenizer.json's pre-tokenizer is a plain ``ByteLevel`` with ``use_regex: true``, GPT-2's rule.
``--no-mtp`` because the toy model has no multi-token-prediction layers. ``bf16`` keeps the stored
bf16 weights exact (vectors are written as F32, as the converter always does).

Last made with the llama.cpp vendored in llama-cpp-python 0.3.36.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "hf" / "qwen3_5"
DST = HERE / "qwen3_5_llamacpp.gguf"


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} PATH/TO/llama.cpp")
    llama_cpp = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(llama_cpp / "gguf-py"))
    sys.path.insert(0, str(llama_cpp))
    import convert_hf_to_gguf  # noqa: E402  (llama.cpp's script, imported for its main())
    from conversion.base import TextModel  # noqa: E402

    TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
    sys.argv = [
        "convert_hf_to_gguf.py", str(SRC), "--no-mtp", "--outtype", "bf16", "--outfile", str(DST),
    ]
    convert_hf_to_gguf.main()
    print(f"wrote {DST} ({DST.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
