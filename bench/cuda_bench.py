#!/usr/bin/env python3
"""lanner's CUDA backend against the GPU's memory bandwidth and Hugging Face transformers.

    python bench/cuda_bench.py            # full: more repetitions
    python bench/cuda_bench.py --quick    # under ~3 minutes on an H100/H200

Sections (each in its own try/except: a failure is printed and recorded, the rest still run):
  bandwidth   device-to-device copy of 2 GiB with torch, median of 5 (bytes read + written / s)
  llama8b     Llama-3-8B shapes (hidden 4096, ffn 14336, 32 layers, 32/8 heads, head_dim 128,
              vocab 128256, rope_theta 500000), lanner `Engine(folder, weights="random",
              device="cuda")`: single-request decode tok/s and its fraction of the roofline
              (weight bytes read per token / bandwidth), 2048-token prefill tok/s, and 32
              concurrent sequences through the batch API (aggregate tok/s)
  hf          transformers LlamaForCausalLM from the same config.json, BF16, sdpa, random init:
              decode with a static cache (eager; --hf-compile lets generate() torch.compile it),
              2048-token prefill (one forward pass with use_cache), and lanner/HF ratios
  qwen05b     the same single-request decode for a Qwen2.5-0.5B-shaped model (qwen2, biases,
              tied embeddings, vocab 151936)

A measurement that would take longer than its cap (--quick: 15-25 s) uses fewer tokens (recorded
as "tokens"/"new_tokens"); a section that would start with less than its minimum left of --budget
is skipped and says so.

Decode tok/s, for lanner and HF alike, is (n - 1) / (T(n) - T(1)): T(k) is the median wall time
of generating k tokens greedily from a 16-token prompt in a fresh sequence (EOS ignored), so the
prompt's prefill and per-request set-up cancel out. Results go to $OUT/cuda_bench.json when OUT
is set (or --json), rewritten after every section so a timeout loses only the section it hit.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER_DIR = ROOT / "tests" / "goldens" / "hf" / "llama"  # byte-level BPE, 384 tokens, BOS 0, EOS 1
TOK_VOCAB, BOS = 384, 0

LLAMA3_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
    "rope_theta": 500000.0, "rope_scaling": None, "rms_norm_eps": 1e-5, "max_position_embeddings": 8192,
    "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False, "hidden_act": "silu",
    "bos_token_id": 0, "eos_token_id": 1, "torch_dtype": "bfloat16",
}
QWEN25_05B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
    "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
    "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
    "rope_theta": 1000000.0, "rope_scaling": None, "rms_norm_eps": 1e-6, "max_position_embeddings": 32768,
    "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 24,
    "hidden_act": "silu", "bos_token_id": 0, "eos_token_id": 1, "torch_dtype": "bfloat16",
}
# --shapes tiny: the same code paths on small models (a smoke test; runs on the CPU too)
TINY = {
    "llama8b": {**LLAMA3_8B, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1024},
    "qwen05b": {**QWEN25_05B, "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 1024},
}


class Bench:
    def __init__(self, args):
        self.a = args
        self.quick = args.quick
        self.cuda = args.device.startswith("cuda")
        self.t0 = time.perf_counter()
        self.results: dict = {"meta": {"argv": sys.argv[1:], "quick": args.quick, "shapes": args.shapes,
                                       "device": args.device, "started": time.strftime("%Y-%m-%d %H:%M:%S")},
                              "sections": {}}
        self.json_path = args.json or (Path(os.environ["OUT"]) / "cuda_bench.json" if os.environ.get("OUT") else None)
        self.tmp = Path(tempfile.mkdtemp(prefix="lanner_cuda_bench_"))
        self.rng = np.random.default_rng(1234)

    # -- plumbing -------------------------------------------------------------------------
    def remaining(self) -> float:
        return self.a.budget - (time.perf_counter() - self.t0)

    def log(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f}s] {msg}", flush=True)

    def save(self) -> None:
        self.results["meta"]["elapsed_s"] = round(time.perf_counter() - self.t0, 2)
        if self.json_path:
            Path(self.json_path).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(str(self.json_path) + ".tmp")
            tmp.write_text(json.dumps(self.results, indent=2, default=str))
            os.replace(tmp, self.json_path)

    def section(self, name: str, fn, min_seconds: float = 10.0) -> None:
        out = self.results["sections"].setdefault(name, {})
        if name not in self.a.sections:
            out["skipped"] = "not selected (--sections)"
            return
        if self.remaining() < min_seconds:
            out["skipped"] = f"out of time ({self.remaining():.0f} s of --budget left)"
            self.log(f"{name}: skipped, {out['skipped']}")
            self.save()
            return
        self.log(f"== {name}")
        t = time.perf_counter()
        try:
            fn(out)
        except Exception as e:  # noqa: BLE001 - every section reports and the rest go on
            out["error"] = f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc()
            self.log(f"{name}: FAILED {out['error']}")
            traceback.print_exc()
        finally:
            out["seconds"] = round(time.perf_counter() - t, 2)
            self.free()
            self.save()

    def free(self) -> None:
        gc.collect()
        if "torch" in sys.modules:
            torch = sys.modules["torch"]
            if torch.cuda.is_available():
                torch.cuda.synchronize()
                torch.cuda.empty_cache()

    def folder(self, key: str) -> Path:
        cfg = (TINY if self.a.shapes == "tiny" else {"llama8b": LLAMA3_8B, "qwen05b": QWEN25_05B})[key]
        d = self.tmp / key
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.json").write_text(json.dumps(cfg, indent=1))
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(TOKENIZER_DIR / f, d / f)
        return d

    def prompt(self, n: int) -> list[int]:
        return [BOS] + [int(t) for t in self.rng.integers(4, TOK_VOCAB, n - 1)]

    def reps(self, quick: int, full: int) -> int:
        return quick if self.quick else full

    def cap(self, quick: float, full: float) -> float:
        """Seconds one measurement may take (fewer tokens past it, recorded in the results)."""
        return quick if self.quick else full

    # -- sections -------------------------------------------------------------------------
    def bandwidth(self, out: dict) -> None:
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        name = torch.cuda.get_device_name(0)
        n = (2 << 30) if self.a.shapes != "tiny" else (64 << 20)
        src = torch.empty(n, dtype=torch.uint8, device="cuda")
        src.fill_(1)
        dst = torch.empty_like(src)
        dst.copy_(src)
        times = []
        for _ in range(5):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            dst.copy_(src)
            e1.record()
            e1.synchronize()
            times.append(e0.elapsed_time(e1) / 1e3)
        del src, dst
        t = statistics.median(times)
        gpu = "H200" if "H200" in name else "H100" if "H100" in name else name
        out.update(device_name=name, gpu=gpu, copy_bytes=n, median_s=t,
                   bytes_per_s=2 * n / t, note="bytes read + bytes written per second")
        self.results["meta"]["gpu"] = gpu
        self.log(f"{name}: copy {2 * n / t / 1e12:.2f} TB/s (read + write), median of 5")

    def lanner_engine(self, key: str, kv_tokens: int):
        import lanner

        if self.cuda and not lanner.cuda_info()["available"]:
            # fail fast: the engine would generate 16 GB of random weights before finding no GPU
            raise lanner.DeviceError(f"no usable CUDA GPU: {lanner.cuda_info()['reason']}")
        t = time.perf_counter()
        eng = lanner.Engine(self.folder(key), weights="random", device=self.a.device, context_length=4096,
                            kv_cache_tokens=kv_tokens, prefix_cache_tokens=0)
        info = eng.info
        return eng, {"load_s": round(time.perf_counter() - t, 2), "device": info.get("device"),
                     "weight_bytes": info.get("weight_bytes"), "quant_types": info.get("quant_types"),
                     "kv_cache_tokens": info.get("kv_cache_tokens")}

    def lanner_decode(self, eng, n: int, reps: int) -> dict:
        prompt = self.prompt(16)

        def run(k: int) -> float:
            t = time.perf_counter()
            s = eng.session()
            got = sum(1 for c in s.generate(prompt, max_tokens=k, temperature=0, ignore_eos=True) if c.token is not None)
            dt = time.perf_counter() - t
            del s
            if got != k:
                raise RuntimeError(f"asked for {k} tokens, got {got}")
            return dt

        w = run(8)  # warm-up (and a speed estimate: keep the measurement within its cap)
        est = w / 8
        while n > 16 and est * n * 2 * reps > self.cap(15, 60):
            n //= 2
        full = [run(n) for _ in range(reps)]
        one = [run(1) for _ in range(reps)]
        per_tok = (statistics.median(full) - statistics.median(one)) / (n - 1)
        return {"tokens": n, "prompt_tokens": 16, "reps": reps, "t_n_s": full, "t_1_s": one,
                "s_per_token": per_tok, "tok_per_s": 1.0 / per_tok}

    def roofline(self, d: dict, info: dict, cfg_key: str) -> None:
        bw = self.results["sections"].get("bandwidth", {}).get("bytes_per_s")
        wb = info.get("weight_bytes")
        if not wb:
            c = (TINY if self.a.shapes == "tiny" else {"llama8b": LLAMA3_8B, "qwen05b": QWEN25_05B})[cfg_key]
            h, f, nl = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
            hd = c.get("head_dim", h // c["num_attention_heads"])
            q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
            wb = 2 * (nl * (h * (q + 2 * kv) + q * h + 3 * h * f) + c["vocab_size"] * h)
            d["weight_bytes_from"] = "shapes (BF16)"
        else:
            d["weight_bytes_from"] = "engine.info['weight_bytes']"
        d["weight_bytes_per_token"] = wb
        if bw:
            d["roofline_s_per_token"] = wb / bw
            d["roofline_fraction"] = (wb / bw) / d["s_per_token"]

    def llama8b(self, out: dict) -> None:
        eng, info = self.lanner_engine("llama8b", kv_tokens=8192)
        out["engine"] = info
        self.log(f"lanner llama8b: loaded in {info['load_s']} s on {info['device']}, "
                 f"{(info['weight_bytes'] or 0) / 1e9:.2f} GB of weights per token")
        try:
            dec = self.lanner_decode(eng, 128, self.reps(2, 5))
            self.roofline(dec, info, "llama8b")
            out["decode"] = dec
            self.log(f"lanner llama8b decode: {dec['tok_per_s']:.1f} tok/s"
                     + (f", {dec['roofline_fraction']:.0%} of roofline" if "roofline_fraction" in dec else "")
                     + f"; device counters {dict(eng.info.get('device_counters', {}))}")
            self.save()

            # prefill: one fresh sequence of `n` tokens (prefix cache off), last logits only
            n = 2048 if self.a.shapes != "tiny" else 256
            warm = self.prompt(256)
            t = time.perf_counter()
            eng.session().feed(warm, logits="last")
            est = (time.perf_counter() - t) / 256 * n
            if est > 15:
                n = 512
            ids = self.prompt(n)
            times = []
            for _ in range(self.reps(2, 3)):
                s = eng.session()
                t = time.perf_counter()
                s.feed(ids, logits="last")
                times.append(time.perf_counter() - t)
                del s
            out["prefill"] = {"tokens": n, "reps": len(times), "times_s": times,
                              "tok_per_s": n / statistics.median(times)}
            self.log(f"lanner llama8b prefill {n}: {out['prefill']['tok_per_s']:.0f} tok/s")
            self.save()

            # 32 concurrent sequences through the batch API
            nseq, new = 32, 128
            prompts = [self.prompt(16) for _ in range(nseq)]
            kw = dict(temperature=0, ignore_eos=True, max_batch_size=nseq, progress=False, logprobs=False)
            t = time.perf_counter()
            eng.generate(prompts, max_tokens=4, **kw)  # warm-up and estimate
            est_step = (time.perf_counter() - t) / 5
            while new > 16 and est_step * new * self.reps(1, 3) > self.cap(20, 90):
                new //= 2
            times, total = [], 0
            for _ in range(self.reps(1, 3)):
                t = time.perf_counter()
                done = eng.generate(prompts, max_tokens=new, **kw)
                times.append(time.perf_counter() - t)
                total = sum(len(c.tokens) for c in done)
            if total != nseq * new:
                raise RuntimeError(f"batch gave {total} tokens, expected {nseq * new}")
            out["batch32"] = {"sequences": nseq, "new_tokens": new, "prompt_tokens": 16, "times_s": times,
                              "aggregate_tok_per_s": total / statistics.median(times),
                              "note": "wall time of Engine.generate(list), prompts' prefill included"}
            self.log(f"lanner llama8b batch of {nseq}: {out['batch32']['aggregate_tok_per_s']:.0f} tok/s aggregate")
        finally:
            eng.close()
            del eng

    def qwen05b(self, out: dict) -> None:
        eng, info = self.lanner_engine("qwen05b", kv_tokens=4096)
        out["engine"] = info
        try:
            dec = self.lanner_decode(eng, 128, self.reps(2, 5))
            self.roofline(dec, info, "qwen05b")
            out["decode"] = dec
            self.log(f"lanner qwen05b decode: {dec['tok_per_s']:.1f} tok/s"
                     + (f", {dec['roofline_fraction']:.0%} of roofline" if "roofline_fraction" in dec else "")
                     + f"; device counters {dict(eng.info.get('device_counters', {}))}")
        finally:
            eng.close()
            del eng

    def hf(self, out: dict) -> None:
        import warnings

        import torch
        import transformers

        warnings.filterwarnings("ignore")
        transformers.logging.set_verbosity_error()
        dev = "cuda" if self.cuda else "cpu"
        sync = torch.cuda.synchronize if self.cuda else (lambda: None)
        folder = self.folder("llama8b")
        cfg = transformers.AutoConfig.from_pretrained(folder)
        dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
        t = time.perf_counter()
        with torch.device(dev):
            model = transformers.AutoModelForCausalLM.from_config(
                cfg, **{dtype_kw: torch.bfloat16}, attn_implementation="sdpa")
        model.eval()
        sync()
        out.update(transformers=transformers.__version__, torch=torch.__version__, build_s=round(time.perf_counter() - t, 2),
                   parameters=sum(p.numel() for p in model.parameters()), attn_implementation="sdpa",
                   compile=bool(self.a.hf_compile))
        self.log(f"HF llama8b: built in {out['build_s']} s ({out['parameters'] / 1e9:.2f} B parameters)")
        try:
            prompt = torch.tensor([self.prompt(16)], device=dev)
            mask = torch.ones_like(prompt)

            def run(k: int) -> float:
                sync()
                t = time.perf_counter()
                with torch.inference_mode():
                    o = model.generate(prompt, attention_mask=mask, max_new_tokens=k, min_new_tokens=k,
                                       do_sample=False, cache_implementation="static", pad_token_id=1,
                                       disable_compile=not self.a.hf_compile)
                sync()
                dt = time.perf_counter() - t
                if o.shape[1] - prompt.shape[1] != k:
                    raise RuntimeError(f"HF generated {o.shape[1] - prompt.shape[1]} tokens, not {k}")
                return dt

            w = run(8)  # warm-up (compiles, with --hf-compile)
            if self.a.hf_compile:
                w = run(8)
            n, reps = 128, self.reps(2, 3)
            while n > 16 and w / 8 * n * 2 * reps > self.cap(25, 90):
                n //= 2
            full = [run(n) for _ in range(reps)]
            one = [run(1) for _ in range(reps)]
            per_tok = (statistics.median(full) - statistics.median(one)) / (n - 1)
            out["decode"] = {"tokens": n, "reps": reps, "t_n_s": full, "t_1_s": one, "s_per_token": per_tok,
                             "tok_per_s": 1.0 / per_tok, "cache": "static"}
            self.log(f"HF llama8b decode ({'compiled' if self.a.hf_compile else 'eager'}, static cache): "
                     f"{1 / per_tok:.1f} tok/s")
            self.save()

            n = 2048 if self.a.shapes != "tiny" else 256
            ids = torch.tensor([self.prompt(n)], device=dev)

            def fwd() -> float:
                sync()
                t = time.perf_counter()
                with torch.inference_mode():
                    try:
                        model(ids, use_cache=True, logits_to_keep=1)
                    except TypeError:
                        model(ids, use_cache=True)
                sync()
                return time.perf_counter() - t

            fwd()
            times = [fwd() for _ in range(self.reps(2, 3))]
            out["prefill"] = {"tokens": n, "times_s": times, "tok_per_s": n / statistics.median(times)}
            self.log(f"HF llama8b prefill {n}: {out['prefill']['tok_per_s']:.0f} tok/s")
        finally:
            model = None  # noqa: F841 - drop the 16 GB before the next section
            gc.collect()

    # -- report ---------------------------------------------------------------------------
    def table(self) -> str:
        S = self.results["sections"]
        g = lambda *ks: _dig(S, *ks)  # noqa: E731
        rows = []
        bw = g("bandwidth", "bytes_per_s")
        gpu = g("bandwidth", "gpu") or "?"
        rows.append(("device copy bandwidth (2 GiB dtod, read+write)",
                     f"{bw / 1e12:.2f} TB/s" if bw else _why(S, "bandwidth"), gpu))
        ld, hd = g("llama8b", "decode", "tok_per_s"), g("hf", "decode", "tok_per_s")
        rf = g("llama8b", "decode", "roofline_fraction")
        rows.append(("Llama-3-8B shape, lanner decode tok/s (1 request)", _f(ld, ".1f") or _why(S, "llama8b"),
                     f"roofline {rf:.0%}" if rf else ""))
        rows.append(("Llama-3-8B shape, HF decode tok/s (static cache" + (", compiled)" if self.a.hf_compile else ", eager)"),
                     _f(hd, ".1f") or _why(S, "hf"), f"lanner/HF {ld / hd:.2f}x" if ld and hd else ""))
        lp, hp = g("llama8b", "prefill", "tok_per_s"), g("hf", "prefill", "tok_per_s")
        n = g("llama8b", "prefill", "tokens") or 2048
        rows.append((f"Llama-3-8B shape, lanner prefill tok/s ({n} tokens)", _f(lp, ".0f") or _why(S, "llama8b"), ""))
        hn = g("hf", "prefill", "tokens") or 2048
        rows.append((f"Llama-3-8B shape, HF prefill tok/s ({hn} tokens)", _f(hp, ".0f") or _why(S, "hf"),
                     f"lanner/HF {lp / hp:.2f}x" if lp and hp else ""))
        b = g("llama8b", "batch32", "aggregate_tok_per_s")
        rows.append(("Llama-3-8B shape, lanner 32 sequences, aggregate tok/s", _f(b, ".0f") or _why(S, "llama8b"),
                     f"{b / ld:.1f}x one request" if b and ld else ""))
        qd, qr = g("qwen05b", "decode", "tok_per_s"), g("qwen05b", "decode", "roofline_fraction")
        rows.append(("Qwen2.5-0.5B shape, lanner decode tok/s (1 request)", _f(qd, ".1f") or _why(S, "qwen05b"),
                     f"roofline {qr:.0%}" if qr else ""))
        w = max(len(r[0]) for r in rows)
        lines = [f"{'measurement'.ljust(w)} | {'value':>14} | note", "-" * (w + 40)]
        lines += [f"{a.ljust(w)} | {b:>14} | {c}" for a, b, c in rows]
        return "\n".join(lines)


def _dig(d, *ks):
    for k in ks:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _f(v, fmt):
    return format(v, fmt) if isinstance(v, (int, float)) else None


def _why(S, name):
    s = S.get(name, {})
    return "FAILED" if "error" in s else "skipped" if "skipped" in s else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (whole run under ~3 minutes)")
    ap.add_argument("--sections", default="bandwidth,llama8b,hf,qwen05b",
                    help="comma-separated subset of bandwidth,llama8b,hf,qwen05b (run in that order)")
    ap.add_argument("--hf-compile", action="store_true",
                    help="let transformers torch.compile the static-cache decode (minutes of compile time)")
    ap.add_argument("--shapes", choices=["real", "tiny"], default="real", help="tiny: a smoke test of the script")
    ap.add_argument("--device", default="cuda", help="lanner device (cpu only for --shapes tiny smoke tests)")
    ap.add_argument("--budget", type=float, default=None, help="seconds; later sections are skipped past it")
    ap.add_argument("--json", type=Path, default=None, help="output JSON (default: $OUT/cuda_bench.json)")
    a = ap.parse_args()
    a.sections = [s.strip() for s in a.sections.split(",") if s.strip()]
    if a.budget is None:
        a.budget = 200.0 if a.quick else 1800.0
    b = Bench(a)
    try:
        import lanner

        b.results["meta"]["lanner"] = lanner.__version__
        b.results["meta"]["cuda_info"] = lanner.cuda_info()
        b.log(f"lanner {lanner.__version__}, cuda_info: {json.dumps(b.results['meta']['cuda_info'])}")
    except Exception as e:  # noqa: BLE001
        b.results["meta"]["lanner_error"] = f"{type(e).__name__}: {e}"
        b.log(f"lanner: {b.results['meta']['lanner_error']}")
    try:
        b.section("bandwidth", b.bandwidth, min_seconds=5)
        b.section("llama8b", b.llama8b, min_seconds=30)
        b.section("hf", b.hf, min_seconds=30)
        b.section("qwen05b", b.qwen05b, min_seconds=10)
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
        table = b.table()
        b.results["table"] = table
        b.save()
        print()
        print(table, flush=True)
        errors = {k: v["error"] for k, v in b.results["sections"].items() if "error" in v}
        for k, v in errors.items():
            print(f"{k}: {v}")
        if b.json_path:
            print(f"results: {b.json_path}")


if __name__ == "__main__":
    main()
