"""Write tiny random Llama/Qwen2 GGUF files with the `gguf` package (independent of lanner's Rust).

Used to test loading errors on files the tests corrupt themselves, and to compare lanner with the
numpy reference on architectures/shapes the real models do not cover.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

# A byte-level BPE vocabulary: the 256 byte symbols (GPT-2's byte-to-unicode map), a few merges
# and two control tokens.


def _byte_symbols() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def tiny_vocab() -> tuple[list[str], list[int], list[str]]:
    syms = _byte_symbols()
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a"]
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + syms
    for m in merges:
        a, b = m.split(" ")
        tokens.append(a + b)
    types = [3, 3, 3] + [1] * (len(tokens) - 3)
    return tokens, types, merges


def write_tiny(
    path: Path,
    *,
    arch: str = "llama",
    qtype: gguf.GGMLQuantizationType = gguf.GGMLQuantizationType.F32,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_kv_head: int = 2,
    n_ff: int = 128,
    seed: int = 0,
    skip: tuple[str, ...] = (),
    shape_override: dict[str, tuple[int, ...]] | None = None,
    tied: bool = True,
    context_length: int = 256,
) -> Path:
    """Write a tiny random model; `skip` leaves tensors out, `shape_override` gives wrong shapes."""
    rng = np.random.default_rng(seed)
    tokens, types, merges = tiny_vocab()
    vocab = len(tokens)
    head_dim = n_embd // n_head
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(n_layer)
    w.add_context_length(context_length)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default" if arch != "qwen2" else "qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.add_add_bos_token(False)

    def add(name: str, shape: tuple[int, ...], scale: float = 0.2, q: bool = True) -> None:
        if name in skip:
            return
        shape = (shape_override or {}).get(name, shape)
        arr = (rng.standard_normal(shape) * scale).astype(np.float32)
        if q and qtype != gguf.GGMLQuantizationType.F32 and len(shape) == 2:
            data = gguf.quants.quantize(arr, qtype)
            w.add_tensor(name, data, raw_dtype=qtype)
        else:
            w.add_tensor(name, arr)

    add("token_embd.weight", (vocab, n_embd), 1.0)
    for i in range(n_layer):
        add(f"blk.{i}.attn_norm.weight", (n_embd,), 0.1, q=False)
        add(f"blk.{i}.attn_q.weight", (n_head * head_dim, n_embd))
        add(f"blk.{i}.attn_k.weight", (n_kv_head * head_dim, n_embd))
        add(f"blk.{i}.attn_v.weight", (n_kv_head * head_dim, n_embd))
        if arch == "qwen2":
            add(f"blk.{i}.attn_q.bias", (n_head * head_dim,), 0.1, q=False)
            add(f"blk.{i}.attn_k.bias", (n_kv_head * head_dim,), 0.1, q=False)
            add(f"blk.{i}.attn_v.bias", (n_kv_head * head_dim,), 0.1, q=False)
        add(f"blk.{i}.attn_output.weight", (n_embd, n_head * head_dim))
        add(f"blk.{i}.ffn_norm.weight", (n_embd,), 0.1, q=False)
        add(f"blk.{i}.ffn_gate.weight", (n_ff, n_embd))
        add(f"blk.{i}.ffn_up.weight", (n_ff, n_embd))
        add(f"blk.{i}.ffn_down.weight", (n_embd, n_ff))
    add("output_norm.weight", (n_embd,), 0.1, q=False)
    if not tied:
        add("output.weight", (vocab, n_embd))
    # norms around 1 so activations stay sane
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
