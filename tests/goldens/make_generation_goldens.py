"""Make greedy-generation goldens with llama.cpp and cross-check them against the numpy reference.

One-off tooling (not run in CI); needs ``llama-cpp-python``, ``numpy`` and ``gguf``::

    python3 tests/goldens/make_generation_goldens.py            # goldens + generation section of the report
    python3 tests/goldens/make_generation_goldens.py --check    # validate tests/reference.py against llama.cpp logits
    python3 tests/goldens/make_generation_goldens.py --model smollm2   # one model only

Default mode writes ``tests/goldens/generation_<model>.json``::

    {"model": str, "file": str, "reference": "llama-cpp-python <ver>",
     "n_new": 32, "eos_token_id": int,
     "cases": [{"name", "prompt", "prompt_ids", "new_ids", "text", "stop": "eos"|"length",
                "llama_margins",            # llama.cpp top1-top2 logit per step
                "reference_new_ids",        # numpy (fp32) free-running greedy continuation
                "reference_text",           # its detokenized text
                "margins",                  # numpy top1-top2 logit per step of reference_new_ids
                "first_divergence",         # first step where new_ids != reference_new_ids, or null
                "forced_margins",           # numpy margins along llama.cpp's path (prompt + new_ids)
                "forced_argmax_agree"}]}    # per step: numpy argmax == llama.cpp token on that path

Greedy decoding is a pure argmax over ``Llama.scores`` (no sampler, no repeat penalty), ties
broken towards the lower id (numpy ``argmax``). Generation stops after ``n_new`` tokens or after
emitting the EOS token (which is included in ``new_ids``). Prompts are tokenized by llama.cpp
with ``add_bos=True`` (which only adds BOS when the model's ``tokenizer.ggml.add_bos_token`` says
so -- false for both models) and ``special=True`` (chat markers are parsed as control tokens).

Both modes update their own section of ``tests/goldens/reference_check.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

from reference import ReferenceModel  # noqa: E402

REPORT = HERE / "reference_check.md"
N_NEW = 32
# numpy greedy steps per model (the reference re-runs the whole sequence each step)
REF_STEPS = {"smollm2": 32, "qwen2.5-coder-0.5b": 32}

# Chat prompts are the models' own GGUF chat templates (tokenizer.chat_template) rendered with
# jinja2 for [{"role": "user", "content": ...}] and add_generation_prompt=True.
CHAT = {
    "smollm2": (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    ),
    "qwen2.5-coder-0.5b": (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nWrite a Python function that reverses a string.<|im_end|>\n<|im_start|>assistant\n"
    ),
}

PARAGRAPH = (
    "The history of computing is longer than the history of computing hardware and modern computing "
    "technology and includes the history of methods intended for pen and paper or for chalk and slate, "
    "with or without the aid of tables. Digital computing is intimately tied to the representation of "
    "numbers. But long before abstractions like the number arose, there were mathematical concepts to "
    "serve the purposes of civilization. These concepts are implicit in concrete practices such as"
)


def cases_for(model: str) -> list[tuple[str, str]]:
    return [
        ("capital", "The capital of France is"),
        ("fibonacci", "def fibonacci(n):"),
        ("chat", CHAT[model]),
        ("paragraph", PARAGRAPH),
        ("story", "Once upon a time, in a small village by the sea, there lived"),
    ]


CHECK_PROMPTS = [
    "The capital of France is Paris. It is known for the Eiffel Tower and",
    "def quicksort(arr):\n    if len(arr) <= 1:\n        return arr\n",
    "<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n",
]


def model_paths(names: list[str]) -> dict[str, Path]:
    spec = importlib.util.spec_from_file_location("_lanner_models", ROOT / "python" / "lanner" / "_models.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["_lanner_models"] = mod
    spec.loader.exec_module(mod)
    return {n: Path(mod.fetch(n)) for n in names}


def open_llama(path: Path, **kw):
    import llama_cpp

    return llama_cpp.Llama(str(path), logits_all=True, n_ctx=512, n_threads=2, verbose=False, **kw)


def llama_version() -> str:
    import llama_cpp

    return f"llama-cpp-python {llama_cpp.__version__}"


def llama_logits(llm, ids: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def margin(row: np.ndarray) -> float:
    top = np.partition(row, -2)[-2:]
    return float(top[1] - top[0])


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """a: candidate, b: baseline; both [T, vocab]."""
    rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)
    agree = a.argmax(1) == b.argmax(1)
    return {
        "max_abs": float(np.abs(a - b).max()),
        "rel": rel,
        "agree": agree,
    }


def section(name: str, body: str) -> None:
    """Replace (or append) the <!-- BEGIN name --> ... <!-- END name --> block of the report."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    text = REPORT.read_text() if REPORT.exists() else (
        "# Numpy reference vs llama.cpp\n\n"
        "Written by `tests/goldens/make_generation_goldens.py` (`--check` for the logits section, no flag "
        "for the generation section). `tests/reference.py` is the independent fp32 numpy forward pass.\n"
    )
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pat = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pat.sub(lambda _: block, text) if pat.search(text) else text.rstrip() + "\n\n" + block + "\n"
    REPORT.write_text(text)


# ---------------------------------------------------------------------------- --check


def run_check(paths: dict[str, Path]) -> None:
    out = [
        "## Logits check (`python3 tests/goldens/make_generation_goldens.py --check`)",
        "",
        f"Reference: {llama_version()}, `Llama(path, logits_all=True, n_ctx=512, n_threads=2)`, "
        "all-position logits of one `eval` of the prompt (default f16 KV cache). "
        "`rel` = ||ref - llama|| / ||llama|| per position; `argmax` = positions where both argmaxes agree.",
        "",
        "Rows: **ref vs llama** is the real check. **llama f16-KV vs f32-KV** compares llama.cpp with "
        "itself (`type_k=type_v=GGML_TYPE_F32`) and shows how large pure precision noise is for the "
        "model. **wrong-rope ref vs llama** swaps the rope style (norm<->neox) in the reference: what "
        "a real bug looks like.",
        "",
        "| model | prompt | tokens | comparison | max abs | rel mean | rel max | argmax |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, path in paths.items():
        t0 = time.time()
        ref = ReferenceModel(str(path))
        print(f"[{name}] reference loaded in {time.time() - t0:.1f}s", flush=True)
        llm = open_llama(path)
        llm32 = open_llama(path, type_k=0, type_v=0)
        for pi, prompt in enumerate(CHECK_PROMPTS):
            ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
            b = llama_logits(llm, ids)
            b32 = llama_logits(llm32, ids)
            a = ref.forward(ids)
            style = ref.rope_style
            ref.rope_style = "neox" if style == "norm" else "norm"
            w = ref.forward(ids)
            ref.rope_style = style
            for label, x, y in [
                ("ref vs llama", a, b),
                ("ref vs llama f32-KV", a, b32),
                ("llama f16-KV vs f32-KV", b, b32),
                ("wrong-rope ref vs llama", w, b),
            ]:
                c = compare(x, y)
                out.append(
                    f"| {name} | {pi} | {len(ids)} | {label} | {c['max_abs']:.3f} | {c['rel'].mean():.4f} | "
                    f"{c['rel'].max():.4f} | {int(c['agree'].sum())}/{len(ids)} |"
                )
                print(out[-1], flush=True)
            c = compare(a, b)
            out.append(
                f"|  |  |  | per-position rel (ref vs llama) | {' '.join(f'{r:.3f}' for r in c['rel'])} |  |  | "
                "disagree at "
                + (", ".join(
                    f"pos {i} (ref margin {margin(a[i]):.3f}, llama margin {margin(b[i]):.3f})"
                    for i in np.nonzero(~c["agree"])[0]
                ) or "none")
                + " |"
            )
        del ref, llm, llm32
    out += ["", "Prompts:", ""] + [f"{i}. `{json.dumps(p)}`" for i, p in enumerate(CHECK_PROMPTS)]
    section("check", "\n".join(out))


# ---------------------------------------------------------------------------- goldens


def llama_greedy(llm, ids: list[int], n_new: int, eos: int) -> tuple[list[int], list[float], str]:
    llm.reset()
    llm.eval(ids)
    new: list[int] = []
    margins: list[float] = []
    stop = "length"
    for _ in range(n_new):
        row = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        tok = int(np.argmax(row))
        new.append(tok)
        margins.append(margin(row))
        if tok == eos:
            stop = "eos"
            break
        llm.eval([tok])
    return new, margins, stop


def run_goldens(paths: dict[str, Path]) -> None:
    ver = llama_version()
    rows = [
        "## Greedy generation (`python3 tests/goldens/make_generation_goldens.py`)",
        "",
        f"llama.cpp ({ver}, f16 KV cache, 8-bit activations) vs the fp32 numpy reference, pure argmax, "
        f"up to {N_NEW} new tokens (numpy: {REF_STEPS} steps, stop at EOS). `agree` = number of leading "
        "new tokens identical; `diverge@` = first differing step; margins are top1-top2 logit gaps at "
        "that step (numpy on its own path / llama.cpp on its path). `forced` = numpy argmax on llama.cpp's "
        "path (prompt + llama tokens) equals llama.cpp's token, over all llama steps; `min forced margin` "
        "= smallest numpy top-2 gap along that path. `llama f32-KV agree` = leading tokens on which llama.cpp "
        "with an f32 KV cache agrees with the default f16 one (llama.cpp's own precision noise). "
        "`min numpy margin` = smallest top-2 gap along numpy's own path (how robust `reference_new_ids` is "
        "for an fp32 engine).",
        "",
        "| model | case | prompt toks | llama new | numpy steps | agree | diverge@ | numpy margin@ | llama margin@ | forced | min forced margin (step) | llama f32-KV agree | min numpy margin (step) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, path in paths.items():
        t0 = time.time()
        ref = ReferenceModel(str(path))
        print(f"[{name}] reference loaded in {time.time() - t0:.1f}s", flush=True)
        llm = open_llama(path)
        llm32 = open_llama(path, type_k=0, type_v=0)
        eos = int(ref.eos_token_id)
        cases = []
        for cname, prompt in cases_for(name):
            ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
            new, lmargins, stop = llama_greedy(llm, ids, N_NEW, eos)
            text = llm.detokenize(new).decode("utf-8", errors="replace")
            new32, _, _ = llama_greedy(llm32, ids, N_NEW, eos)
            agree32 = next((i for i, (x, y) in enumerate(zip(new, new32)) if x != y), min(len(new), len(new32)))
            t0 = time.time()
            ref_new, ref_margins = ref.greedy(ids, REF_STEPS[name], stop_at_eos=True)
            t_ref = time.time() - t0
            # numpy along llama.cpp's path: one forward over prompt + new tokens
            forced = ref.forward(ids + new[:-1])[len(ids) - 1 :] if new else np.zeros((0, ref.vocab_size))
            forced_agree = [bool(int(np.argmax(r)) == t) for r, t in zip(forced, new)]
            forced_margins = [round(margin(r), 5) for r in forced]
            n = min(len(new), len(ref_new))
            div = next((i for i in range(n) if new[i] != ref_new[i]), None)
            if div is None and len(new) != len(ref_new) and n < min(len(new), REF_STEPS[name]):
                div = n  # one side stopped at EOS earlier
            agree = div if div is not None else n
            cases.append(
                {
                    "name": cname,
                    "prompt": prompt,
                    "prompt_ids": [int(t) for t in ids],
                    "new_ids": new,
                    "text": text,
                    "stop": stop,
                    "llama_margins": [round(m, 5) for m in lmargins],
                    "reference_new_ids": ref_new,
                    "reference_text": llm.detokenize(ref_new).decode("utf-8", errors="replace"),
                    "margins": [round(m, 5) for m in ref_margins],
                    "first_divergence": div,
                    "forced_margins": forced_margins,
                    "forced_argmax_agree": forced_agree,
                }
            )
            mi = int(np.argmin(forced_margins)) if forced_margins else -1
            rows.append(
                f"| {name} | {cname} | {len(ids)} | {len(new)} ({stop}) | {len(ref_new)} | {agree} | "
                f"{'-' if div is None else div} | "
                f"{'-' if div is None or div >= len(ref_margins) else f'{ref_margins[div]:.4f}'} | "
                f"{'-' if div is None or div >= len(lmargins) else f'{lmargins[div]:.4f}'} | "
                f"{sum(forced_agree)}/{len(forced_agree)} | "
                f"{forced_margins[mi]:.4f} ({mi}) | {agree32} | "
                f"{min(ref_margins):.4f} ({int(np.argmin(ref_margins))}) |"
            )
            print(rows[-1], f"[numpy {t_ref:.1f}s]", flush=True)
            print("   llama:", json.dumps(text), flush=True)
            print("   numpy:", json.dumps(cases[-1]["reference_text"]), flush=True)
        doc = {
            "model": name,
            "file": path.name,
            "reference": ver,
            "n_new": N_NEW,
            "eos_token_id": eos,
            "cases": cases,
        }
        (HERE / f"generation_{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        del ref, llm, llm32
    section("generation", "\n".join(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="validate the numpy reference's logits against llama.cpp")
    ap.add_argument("--model", action="append", choices=sorted(REF_STEPS), help="restrict to these models")
    args = ap.parse_args()
    paths = model_paths(args.model or list(REF_STEPS))
    if args.check:
        run_check(paths)
    else:
        run_goldens(paths)


if __name__ == "__main__":
    main()
