"""Make greedy-generation goldens with llama.cpp and cross-check them against the numpy reference.

One-off tooling (not run in CI); needs ``llama-cpp-python``, ``numpy`` and ``gguf``::

    python3 tests/goldens/make_generation_goldens.py            # goldens + generation section of the report
    python3 tests/goldens/make_generation_goldens.py --check    # validate tests/reference.py against llama.cpp logits
    python3 tests/goldens/make_generation_goldens.py --model smollm2   # one model only

Default mode writes ``tests/goldens/generation_<model>.json``::

    {"model": str, "file": str, "reference": "llama-cpp-python <ver>",
     "n_new": 32, "eos_token_id": int, "stop_token_ids": [int],   # stop_token_ids: gemma3 only
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
emitting the EOS token, or for Gemma 3 also ``<end_of_turn>`` (``stop_token_ids``; the stop
token is included in ``new_ids``). Prompts are tokenized by llama.cpp with ``add_bos=True``
(which only adds BOS when the model's ``tokenizer.ggml.add_bos_token`` says so -- false for
SmolLM2 and Qwen, true for Gemma 3) and ``special=True`` (chat markers are parsed as control
tokens).

Both modes update their own section of ``tests/goldens/reference_check.md``, replacing the table
rows of the models they ran and keeping the others' rows.
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
REF_STEPS = {"smollm2": 32, "qwen2.5-coder-0.5b": 32, "gemma3-270m": 32}
# extra stop tokens (besides EOS) by model: Gemma ends a chat turn with <end_of_turn>
STOP_TEXTS = {"gemma3-270m": ["<end_of_turn>"]}

# Chat prompts are the models' own GGUF chat templates (tokenizer.chat_template) rendered with
# jinja2 for [{"role": "user", "content": ...}] and add_generation_prompt=True. The Gemma 3 GGUF
# carries no template: its prompt is Gemma 3's chat format without the leading <bos> (which
# add_bos supplies).
CHAT = {
    "smollm2": (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    ),
    "qwen2.5-coder-0.5b": (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nWrite a Python function that reverses a string.<|im_end|>\n<|im_start|>assistant\n"
    ),
    "gemma3-270m": "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
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
# Longer than Gemma 3's sliding window (512): the first LONG_TOKENS tokens of PARAGRAPH repeated,
# logits compared at the last LONG_LAST positions (which see only part of the prompt on the
# sliding-window layers).
LONG_TOKENS, LONG_LAST = 640, 64
CHECK_LONG = {"gemma3-270m"}


def model_paths(names: list[str]) -> dict[str, Path]:
    spec = importlib.util.spec_from_file_location("_lanner_models", ROOT / "python" / "lanner" / "_models.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["_lanner_models"] = mod
    spec.loader.exec_module(mod)
    return {n: Path(mod.fetch(n)) for n in names}


def open_llama(path: Path, n_ctx: int = 512, **kw):
    import llama_cpp

    return llama_cpp.Llama(str(path), logits_all=True, n_ctx=n_ctx, n_threads=2, verbose=False, **kw)


def llama_version() -> str:
    import llama_cpp

    return f"llama-cpp-python {llama_cpp.__version__}"


def llama_logits(llm, ids: list[int], last: int | None = None) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    first = 0 if last is None else len(ids) - last
    return np.array(llm.scores[first : len(ids)], dtype=np.float32)


def stop_ids(llm, name: str, eos: int) -> list[int]:
    ids = [eos]
    for text in STOP_TEXTS.get(name, []):
        t = llm.tokenize(text.encode(), add_bos=False, special=True)
        assert len(t) == 1, f"{text!r} is not one token for {name}"
        ids.append(int(t[0]))
    return ids


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


def rows_by_model(name: str) -> dict[str, list[str]]:
    """Table rows of the report's existing `name` block, by model (first column; a row whose first
    column is empty belongs to the model above it)."""
    text = REPORT.read_text() if REPORT.exists() else ""
    m = re.search(re.escape(f"<!-- BEGIN {name} -->") + r"(.*?)" + re.escape(f"<!-- END {name} -->"), text, re.S)
    groups: dict[str, list[str]] = {}
    current = None
    for line in m.group(1).splitlines() if m else []:
        if not line.startswith("| "):
            continue
        first = line.split("|")[1].strip()
        if first == "model":  # the header row
            continue
        current = first or current
        if current:
            groups.setdefault(current, []).append(line)
    return groups


def merged_rows(name: str, new: dict[str, list[str]]) -> list[str]:
    """The rows of the models just run, and the other models' rows kept from the report."""
    groups = rows_by_model(name)
    groups.update(new)
    order = [m for m in REF_STEPS if m in groups] + [m for m in groups if m not in REF_STEPS]
    return [row for m in order for row in groups[m]]


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
        "all-position logits of one `eval` of the prompt (default f16 KV cache; prompt 3: n_ctx=1024, "
        f"the last {LONG_LAST} positions). "
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
    rows: dict[str, list[str]] = {}
    for name, path in paths.items():
        t0 = time.time()
        ref = ReferenceModel(str(path))
        print(f"[{name}] reference loaded in {time.time() - t0:.1f}s", flush=True)
        long = name in CHECK_LONG
        n_ctx = 1024 if long else 512
        llm = open_llama(path, n_ctx)
        llm32 = open_llama(path, n_ctx, type_k=0, type_v=0)
        prompts = [(p, None) for p in CHECK_PROMPTS] + ([(" ".join([PARAGRAPH] * 8), LONG_LAST)] if long else [])
        out_rows = rows[name] = []
        for pi, (prompt, last) in enumerate(prompts):
            ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
            if last is not None:
                ids = ids[:LONG_TOKENS]
            b = llama_logits(llm, ids, last)
            b32 = llama_logits(llm32, ids, last)
            a = ref.forward(ids, last)
            style = ref.rope_style
            ref.rope_style = "neox" if style == "norm" else "norm"
            w = ref.forward(ids, last)
            ref.rope_style = style
            n = len(b)
            for label, x, y in [
                ("ref vs llama", a, b),
                ("ref vs llama f32-KV", a, b32),
                ("llama f16-KV vs f32-KV", b, b32),
                ("wrong-rope ref vs llama", w, b),
            ]:
                c = compare(x, y)
                out_rows.append(
                    f"| {name} | {pi} | {len(ids)} | {label} | {c['max_abs']:.3f} | {c['rel'].mean():.4f} | "
                    f"{c['rel'].max():.4f} | {int(c['agree'].sum())}/{n} |"
                )
                print(out_rows[-1], flush=True)
            c = compare(a, b)
            out_rows.append(
                f"|  |  |  | per-position rel (ref vs llama) | {' '.join(f'{r:.3f}' for r in c['rel'])} |  |  | "
                "disagree at "
                + (", ".join(
                    f"pos {i + len(ids) - n} (ref margin {margin(a[i]):.3f}, llama margin {margin(b[i]):.3f})"
                    for i in np.nonzero(~c["agree"])[0]
                ) or "none")
                + " |"
            )
        del ref, llm, llm32
    out += merged_rows("check", rows)
    out += ["", "Prompts:", ""] + [f"{i}. `{json.dumps(p)}`" for i, p in enumerate(CHECK_PROMPTS)]
    out.append(f"{len(CHECK_PROMPTS)}. ({', '.join(sorted(CHECK_LONG))} only) the generation cases' `paragraph` "
               f"prompt repeated 8 times, its first {LONG_TOKENS} tokens; the per-position row lists the "
               f"last {LONG_LAST} positions")
    section("check", "\n".join(out))


# ---------------------------------------------------------------------------- goldens


def llama_greedy(llm, ids: list[int], n_new: int, stops: list[int]) -> tuple[list[int], list[float], str]:
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
        if tok in stops:
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
        f"up to {N_NEW} new tokens (numpy: {REF_STEPS} steps, stop at EOS; Gemma 3 also at <end_of_turn>). `agree` = number of leading "
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
    model_rows: dict[str, list[str]] = {}
    for name, path in paths.items():
        t0 = time.time()
        ref = ReferenceModel(str(path))
        print(f"[{name}] reference loaded in {time.time() - t0:.1f}s", flush=True)
        llm = open_llama(path)
        llm32 = open_llama(path, type_k=0, type_v=0)
        eos = int(ref.eos_token_id)
        stops = stop_ids(llm, name, eos)
        cases = []
        out_rows = model_rows[name] = []
        for cname, prompt in cases_for(name):
            ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)
            new, lmargins, stop = llama_greedy(llm, ids, N_NEW, stops)
            text = llm.detokenize(new).decode("utf-8", errors="replace")
            new32, _, _ = llama_greedy(llm32, ids, N_NEW, stops)
            agree32 = next((i for i, (x, y) in enumerate(zip(new, new32)) if x != y), min(len(new), len(new32)))
            t0 = time.time()
            ref_new, ref_margins = ref.greedy(ids, REF_STEPS[name], stop_at_eos=True, stop_ids=tuple(stops))
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
            out_rows.append(
                f"| {name} | {cname} | {len(ids)} | {len(new)} ({stop}) | {len(ref_new)} | {agree} | "
                f"{'-' if div is None else div} | "
                f"{'-' if div is None or div >= len(ref_margins) else f'{ref_margins[div]:.4f}'} | "
                f"{'-' if div is None or div >= len(lmargins) else f'{lmargins[div]:.4f}'} | "
                f"{sum(forced_agree)}/{len(forced_agree)} | "
                f"{forced_margins[mi]:.4f} ({mi}) | {agree32} | "
                f"{min(ref_margins):.4f} ({int(np.argmin(ref_margins))}) |"
            )
            print(out_rows[-1], f"[numpy {t_ref:.1f}s]", flush=True)
            print("   llama:", json.dumps(text), flush=True)
            print("   numpy:", json.dumps(cases[-1]["reference_text"]), flush=True)
        doc = {
            "model": name,
            "file": path.name,
            "reference": ver,
            "n_new": N_NEW,
            "eos_token_id": eos,
            **({"stop_token_ids": stops} if name in STOP_TEXTS else {}),
            "cases": cases,
        }
        (HERE / f"generation_{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        del ref, llm, llm32
    section("generation", "\n".join(rows + merged_rows("generation", model_rows)))


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
