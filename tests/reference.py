"""Independent numpy reference forward pass for GGUF `llama`, `qwen2` and `gemma3` models.

This module shares no code with lanner's Rust implementation: it reads the GGUF file with the
`gguf` Python package (``gguf.GGUFReader``), dequantizes every tensor with
``gguf.quants.dequantize`` into float32 numpy arrays and runs a plain, uncached, full-causal
transformer forward pass. The model configuration comes only from GGUF metadata.

Usage::

    from reference import ReferenceModel
    m = ReferenceModel("/path/to/model.gguf")
    logits = m.forward([1, 2, 3])        # float32 [3, vocab], logits at every position
    ids, margins = m.greedy([1, 2, 3], 8)  # pure-argmax continuation + top-2 margins

Numerics: activations and matmuls are float32 (weights are the exact dequantized values, so the
only difference from an exact-arithmetic model is float32 rounding). RMSNorm and softmax
accumulate in float64. llama.cpp's CPU backend instead quantizes activations to 8 bits before
quantized matmuls (Q8_0/Q8_1/Q8_K "vec_dot" types) and stores the KV cache in f16, so its logits
differ from these by roughly 1e-2 relative; see ``tests/goldens/reference_check.md``.

Architecture (llama and qwen2)::

    x = token_embd[ids]
    for each block:
        h = rmsnorm(x) * attn_norm
        q, k, v = h @ Wq.T (+bq), h @ Wk.T (+bk), h @ Wv.T (+bv)     # biases: qwen2 only
        q, k = rope(q), rope(k)                                      # per head, first n_rot dims
        a = softmax(q k^T / sqrt(head_dim) + causal mask) v           # GQA: kv head = q head // (n_head / n_kv)
        x = x + a @ Wo.T
        h = rmsnorm(x) * ffn_norm
        x = x + (silu(h @ Wgate.T) * (h @ Wup.T)) @ Wdown.T           # SwiGLU
    logits = (rmsnorm(x) * output_norm) @ W_out.T    # W_out = output.weight, else token_embd.weight (tied)

RoPE style per architecture -- this is the subtle part:

* ``llama``: "NORM" (GPT-J / interleaved) rope, rotating adjacent pairs ``(x[2i], x[2i+1])`` by
  angle ``pos * base^(-2i/n_rot)``. Hugging Face's Llama uses the "rotate_half" (NEOX-style,
  pairs ``(x[i], x[i + d/2])``) convention, but llama.cpp's ``convert_hf_to_gguf.py`` PERMUTES the
  rows of ``attn_q`` / ``attn_k`` for llama models (``LlamaModel.permute``) so that within each
  head the rows of half 1 and half 2 are interleaved. Rotating interleaved pairs of the permuted
  weights is then exactly HF's rotate_half on the original weights, and llama.cpp uses
  ``LLAMA_ROPE_TYPE_NORM`` for arch llama. So on GGUF llama weights we must use interleaved pairs.
* ``qwen2``: "NEOX" rope, rotating pairs ``(x[i], x[i + n_rot/2])``. The converter does NOT
  permute qwen2's q/k weights (llama.cpp maps qwen2 to ``LLAMA_ROPE_TYPE_NEOX``), so the stored
  weights are in HF order and rotate_half applies directly.

Gemma 3 (``gemma3``; llama.cpp ``src/models/gemma3.cpp`` and the GEMMA3 case of its hparams
loader)::

    x = token_embd[ids] * sqrt(n_embd)
    for layer i:  sliding = (i % 6 != 5)       # global layers: 5, 11, 17, ... ((i+1) % 6 == 0)
        h = rmsnorm(x) * attn_norm
        q, k, v = h @ Wq.T, h @ Wk.T, h @ Wv.T                       # no biases
        q = rmsnorm_per_head(q) * attn_q_norm                        # over head_dim, same eps
        k = rmsnorm_per_head(k) * attn_k_norm                        # (v is not normed)
        q, k = rope_neox(q, base), rope_neox(k, base)                # base: 10000 if sliding else rope.freq_base
        a = softmax(q k^T * scale + mask) v                          # scale = 1/sqrt(key_length)
            # mask: key j visible to query i iff j <= i, and on sliding layers also i - j < sliding_window
        x = x + rmsnorm(a @ Wo.T) * post_attention_norm
        h = rmsnorm(x) * ffn_norm
        x = x + rmsnorm((gelu_tanh(h @ Wgate.T) * (h @ Wup.T)) @ Wdown.T) * post_ffw_norm   # GeGLU
    logits = (rmsnorm(x) * output_norm) @ token_embd.T               # tied

All norm weights are plain multipliers: Gemma's checkpoints store ``w`` for ``(1 + w)``, and
llama.cpp's converter already adds the 1 when it writes the GGUF. The 27B model (62 layers)
scales by 1/sqrt(n_embd / n_head) instead, as llama.cpp does. ``<arch>.final_logit_softcapping``
(``c * tanh(logits / c)``) is applied only when present and the model has no sliding window,
as llama.cpp does for gemma3. The sliding window of W means a query sees itself and the W - 1
tokens before it (llama.cpp ``is_masked_swa``: masked iff ``p_query - p_key >= W``).

Metadata used: ``<arch>.embedding_length``, ``.block_count``, ``.attention.head_count``,
``.attention.head_count_kv`` (default = head_count), ``.attention.key_length`` (default
n_embd / n_head), ``.attention.layer_norm_rms_epsilon``, ``.rope.freq_base`` (default 10000),
``.rope.dimension_count`` (default head_dim). Rope scaling (linear / YaRN) is not implemented;
a model declaring a non-trivial ``.rope.scaling.type`` is rejected. Gemma 3 also uses
``.attention.sliding_window`` and ``.final_logit_softcapping``.
"""

from __future__ import annotations

import sys
from typing import Any

import gguf
import numpy as np

__all__ = ["ReferenceModel", "ROPE_STYLE"]

# rope style used by llama.cpp for each architecture (see module docstring)
ROPE_STYLE = {"llama": "norm", "qwen2": "neox", "gemma3": "neox"}
# gemma3: every 6th layer attends globally; the others use the sliding window and this rope base
# (llama.cpp: set_swa_pattern(6), rope_freq_base_train_swa = 10000)
GEMMA3_PATTERN = 6
GEMMA3_LOCAL_ROPE_BASE = 10000.0


def _field(reader: gguf.GGUFReader, key: str, default: Any = None) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return default
    v = f.contents()
    return v


def _rmsnorm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    x64 = x.astype(np.float64)
    inv = 1.0 / np.sqrt(np.mean(x64 * x64, axis=-1, keepdims=True) + eps)
    return (x64 * inv).astype(np.float32) * w


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (ggml_gelu; Gemma's gelu_pytorch_tanh)."""
    return 0.5 * x * (1.0 + np.tanh(np.float32(np.sqrt(2.0 / np.pi)) * (x + np.float32(0.044715) * x * x * x)))


class ReferenceModel:
    """Dequantized float32 llama/qwen2/gemma3 model from a GGUF file; see the module docstring."""

    def __init__(self, gguf_path: str):
        reader = gguf.GGUFReader(str(gguf_path))
        arch = _field(reader, "general.architecture")
        if arch not in ROPE_STYLE:
            raise ValueError(f"unsupported architecture {arch!r} (supported: {sorted(ROPE_STYLE)})")
        self.arch: str = arch
        self.rope_style: str = ROPE_STYLE[arch]

        def meta(key: str, default: Any = None) -> Any:
            v = _field(reader, f"{arch}.{key}", default)
            if v is None:
                raise ValueError(f"missing metadata {arch}.{key}")
            return v

        self.n_embd = int(meta("embedding_length"))
        self.n_layer = int(meta("block_count"))
        self.n_head = int(meta("attention.head_count"))
        self.n_kv_head = int(meta("attention.head_count_kv", self.n_head))
        self.head_dim = int(meta("attention.key_length", self.n_embd // self.n_head))
        self.eps = float(meta("attention.layer_norm_rms_epsilon"))
        self.rope_base = float(meta("rope.freq_base", 10000.0))
        self.n_rot = int(meta("rope.dimension_count", self.head_dim))
        scaling = _field(reader, f"{arch}.rope.scaling.type", "none")
        if scaling not in ("none", None):
            raise ValueError(f"rope scaling {scaling!r} not supported by the reference")
        if self.n_head % self.n_kv_head:
            raise ValueError("head_count must be a multiple of head_count_kv")
        if self.n_rot % 2 or self.n_rot > self.head_dim:
            raise ValueError(f"bad rope dimension {self.n_rot} for head_dim {self.head_dim}")
        self.gemma = arch == "gemma3"
        # per layer: sliding window (None = full causal) and rope base
        self.windows: list[int | None] = [None] * self.n_layer
        self.rope_bases: list[float] = [self.rope_base] * self.n_layer
        self.attn_scale = 1.0 / np.sqrt(self.head_dim)
        self.softcap: float | None = None
        if self.gemma:
            window = int(_field(reader, f"{arch}.attention.sliding_window", 0) or 0)
            if window > 0:
                for i in range(self.n_layer):
                    if i % GEMMA3_PATTERN < GEMMA3_PATTERN - 1:
                        self.windows[i] = window
                        self.rope_bases[i] = GEMMA3_LOCAL_ROPE_BASE
            else:
                cap = float(_field(reader, f"{arch}.final_logit_softcapping", 0.0) or 0.0)
                self.softcap = cap if cap > 0 else None
            if self.n_layer == 62:  # 27B: query_pre_attn_scalar = n_embd / n_head
                self.attn_scale = 1.0 / np.sqrt(self.n_embd // self.n_head)
        self.bos_token_id = _field(reader, "tokenizer.ggml.bos_token_id")
        self.eos_token_id = _field(reader, "tokenizer.ggml.eos_token_id")

        self.weights: dict[str, np.ndarray] = {}
        for t in reader.tensors:
            arr = gguf.quants.dequantize(t.data, t.tensor_type)
            # GGUF shape is [ne0, ne1, ...] (ne0 fastest); numpy shape is reversed: [out, in]
            arr = np.ascontiguousarray(arr, dtype=np.float32).reshape(tuple(int(d) for d in reversed(t.shape)))
            self.weights[t.name] = arr
        del reader

        w = self.weights
        self.tok_embd = w["token_embd.weight"]
        self.vocab_size, n_embd = self.tok_embd.shape
        if n_embd != self.n_embd:
            raise ValueError(f"token_embd width {n_embd} != embedding_length {self.n_embd}")
        self.output = w.get("output.weight", self.tok_embd)  # tied when absent
        self.output_norm = w["output_norm.weight"]
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            self.layers.append(
                {
                    k: w.get(p + name)
                    for k, name in [
                        ("attn_norm", "attn_norm.weight"),
                        ("wq", "attn_q.weight"),
                        ("wk", "attn_k.weight"),
                        ("wv", "attn_v.weight"),
                        ("bq", "attn_q.bias"),
                        ("bk", "attn_k.bias"),
                        ("bv", "attn_v.bias"),
                        ("wo", "attn_output.weight"),
                        ("ffn_norm", "ffn_norm.weight"),
                        ("w_gate", "ffn_gate.weight"),
                        ("w_up", "ffn_up.weight"),
                        ("w_down", "ffn_down.weight"),
                        ("q_norm", "attn_q_norm.weight"),
                        ("k_norm", "attn_k_norm.weight"),
                        ("post_attn_norm", "post_attention_norm.weight"),
                        ("post_ffn_norm", "post_ffw_norm.weight"),
                    ]
                }
            )
            required = ["attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w_gate", "w_up", "w_down"]
            if self.gemma:
                required += ["q_norm", "k_norm", "post_attn_norm", "post_ffn_norm"]
            for k in required:
                if self.layers[-1][k] is None:
                    raise ValueError(f"missing tensor {p}{k}")
    # ------------------------------------------------------------------ forward pass

    def _rope(self, x: np.ndarray, pos: np.ndarray, base: float) -> np.ndarray:
        """x: [T, H, head_dim]; rotate the first n_rot dims of every head."""
        # theta_i = base^(-2i/n_rot), i in [0, n_rot/2)
        inv_freq = base ** (-np.arange(0, self.n_rot, 2, dtype=np.float64) / self.n_rot)
        ang = pos[:, None].astype(np.float64) * inv_freq[None, :]  # [T, n_rot/2]
        cos = np.cos(ang).astype(np.float32)[:, None, :]
        sin = np.sin(ang).astype(np.float32)[:, None, :]
        out = x.copy()
        r = self.n_rot
        if self.rope_style == "norm":  # adjacent pairs (2i, 2i+1)
            x0, x1 = x[..., 0:r:2], x[..., 1:r:2]
            out[..., 0:r:2] = x0 * cos - x1 * sin
            out[..., 1:r:2] = x0 * sin + x1 * cos
        else:  # neox: pairs (i, i + r/2)
            h = r // 2
            x0, x1 = x[..., :h], x[..., h:r]
            out[..., :h] = x0 * cos - x1 * sin
            out[..., h:r] = x0 * sin + x1 * cos
        return out

    def hidden(self, ids: list[int]) -> np.ndarray:
        """Final normed hidden states, float32 [len(ids), n_embd]."""
        ids = np.asarray(list(ids), dtype=np.int64)
        if ids.ndim != 1 or len(ids) == 0:
            raise ValueError("ids must be a non-empty list of token ids")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError("token id out of range")
        T = len(ids)
        hd, nh, nkv = self.head_dim, self.n_head, self.n_kv_head
        group = nh // nkv
        pos = np.arange(T)
        causal = np.triu(np.full((T, T), -np.inf), k=1)  # [Tq, Tk], float64
        dist = pos[:, None] - pos[None, :]  # query position - key position
        scale = self.attn_scale
        x = self.tok_embd[ids].astype(np.float32)
        if self.gemma:
            x = x * np.float32(np.sqrt(self.n_embd))
        for L, window, base in zip(self.layers, self.windows, self.rope_bases):
            mask = causal if window is None else np.where(dist >= window, -np.inf, causal)
            h = _rmsnorm(x, L["attn_norm"], self.eps)
            q = h @ L["wq"].T
            k = h @ L["wk"].T
            v = h @ L["wv"].T
            if L["bq"] is not None:
                q = q + L["bq"]
            if L["bk"] is not None:
                k = k + L["bk"]
            if L["bv"] is not None:
                v = v + L["bv"]
            q = q.reshape(T, nh, hd)
            k = k.reshape(T, nkv, hd)
            if self.gemma:  # QK-norm: RMSNorm over each head's vector
                q = _rmsnorm(q, L["q_norm"], self.eps)
                k = _rmsnorm(k, L["k_norm"], self.eps)
            q = self._rope(q, pos, base)
            k = self._rope(k, pos, base)
            v = v.reshape(T, nkv, hd)
            # GQA: query head j uses kv head j // group (llama.cpp / HF repeat_kv convention)
            k = np.repeat(k, group, axis=1)
            v = np.repeat(v, group, axis=1)
            s = np.einsum("qhd,khd->hqk", q, k).astype(np.float64) * scale + mask
            s -= s.max(axis=-1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=-1, keepdims=True)
            a = np.einsum("hqk,khd->qhd", p.astype(np.float32), v).reshape(T, nh * hd)
            a = a @ L["wo"].T
            if self.gemma:
                a = _rmsnorm(a, L["post_attn_norm"], self.eps)
            x = x + a
            h = _rmsnorm(x, L["ffn_norm"], self.eps)
            if self.gemma:
                f = (_gelu_tanh(h @ L["w_gate"].T) * (h @ L["w_up"].T)) @ L["w_down"].T
                x = x + _rmsnorm(f, L["post_ffn_norm"], self.eps)
            else:
                x = x + (_silu(h @ L["w_gate"].T) * (h @ L["w_up"].T)) @ L["w_down"].T
        return _rmsnorm(x, self.output_norm, self.eps)

    def _logits(self, h: np.ndarray) -> np.ndarray:
        out = (h @ self.output.T).astype(np.float32)
        if self.softcap is not None:
            out = (np.tanh(out / np.float32(self.softcap)) * np.float32(self.softcap)).astype(np.float32)
        return out

    def forward(self, ids: list[int], last: int | None = None) -> np.ndarray:
        """Float32 logits [len(ids), vocab] at every position (causal attention), or only at the
        `last` positions (cheaper output projection for long prompts)."""
        h = self.hidden(ids)
        if last is not None:
            h = h[len(h) - last :]
        return np.ascontiguousarray(self._logits(h), dtype=np.float32)

    def last_logits(self, ids: list[int]) -> np.ndarray:
        """Float32 logits [vocab] of the last position only (cheaper output projection)."""
        return self._logits(self.hidden(ids)[-1])

    def greedy(
        self, ids: list[int], n_new: int, stop_at_eos: bool = False, stop_ids: tuple[int, ...] = ()
    ) -> tuple[list[int], list[float]]:
        """Pure-argmax continuation by re-running the full forward each step; stops after EOS
        (`stop_at_eos`) or any of `stop_ids`, which are included.

        Returns (new_ids, margins): margins[i] = top1 - top2 logit at step i.
        """
        seq = list(ids)
        new: list[int] = []
        margins: list[float] = []
        for _ in range(n_new):
            lg = self.last_logits(seq)
            top2 = np.argpartition(-lg, 2)[:2]
            a, b = sorted(top2, key=lambda t: (-lg[t], t))
            tok = int(np.argmax(lg))
            new.append(tok)
            margins.append(float(lg[a] - lg[b]))
            seq.append(tok)
            if (stop_at_eos and tok == self.eos_token_id) or tok in stop_ids:
                break
        return new, margins


if __name__ == "__main__":  # python tests/reference.py MODEL.gguf ID ID ...
    m = ReferenceModel(sys.argv[1])
    out = m.forward([int(t) for t in sys.argv[2:]])
    print(out.shape, out[-1].argsort()[::-1][:10])
