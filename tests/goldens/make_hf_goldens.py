"""Make tiny random Hugging Face checkpoint folders plus logit goldens for the HF loader tests.

One-off tooling, NOT run in CI. The outputs under ``tests/goldens/hf/<case>/`` are committed;
rerun only to regenerate them (needs ``torch``, ``transformers``, ``safetensors``, ``tokenizers``;
CPU-only wheels are fine)::

    pip install torch transformers safetensors tokenizers
    python3 tests/goldens/make_hf_goldens.py            # all cases
    python3 tests/goldens/make_hf_goldens.py llama gemma3   # some cases

Each ``tests/goldens/hf/<case>/`` holds what ``save_pretrained`` writes for a tiny random model
(``config.json``, ``model.safetensors`` or shards + ``model.safetensors.index.json``,
``generation_config.json``), the tokenizer files, and ``goldens.json``::

    {"case", "model_type", "class", "transformers_version", "torch_version",
     "torch_dtype_saved",          # dtype of the tensors in the safetensors files
     "config_style",               # "legacy" (rope_scaling/rope_theta/torch_dtype keys, as most
                                   #  Hub checkpoints) or "v5" (transformers 5 rope_parameters/dtype)
     "tokenizer_layout",           # "classic": chat_template in tokenizer_config.json, plus
                                   #  special_tokens_map.json; "v5" (qwen3_5 only): transformers 5's
                                   #  default, chat_template.jinja and no special_tokens_map.json
     "attn_implementation": "eager",
     "config_overrides",           # the config attributes this script set (the rest are defaults)
     "init",                       # how the random weights were drawn
     "notes",                      # per-architecture quirks worth knowing when re-implementing
     "prompts": [{"text", "ids",   # ids as the tokenizer gives them (BOS <|bos|>=0 prepended)
                  "logits"}],      # [position][vocab] float32 logits, 6 significant digits
     "greedy_ids",                 # 8 argmax tokens continuing prompts[0] (EOS does not stop it;
                                   #  each step is a full no-cache forward over the whole sequence)
     "greedy_margins"}             # top1-top2 logit gap at each of those steps

Golden logits are always an fp32 forward pass (eager attention, no cache). For checkpoints saved in
bf16/f16 the weights are rounded to that dtype first, so the goldens equal an fp32 computation over
exactly the stored (rounded) weights. Only parameters are rounded -- the non-persistent buffers
(RoPE inv_freq, Gemma's embed_scale) stay fp32, as they are after ``from_pretrained(dtype=float32)``.

Weights: every Linear weight ~ N(0, (0.5/sqrt(fan_in))^2) (std 0.044..0.0625), biases ~ N(0, 0.05^2),
embeddings ~ N(0, 0.1^2); RMSNorm weights 1 + 0.1*N(0,1), except the zero-centred norms whose
forward multiplies by (1 + w) (Gemma3RMSNorm, Qwen3_5RMSNorm) which get w = 0.1*N(0,1) -- so an
implementation that uses the wrong norm form is off by a lot. Qwen3.5 linear attention: depthwise
conv1d weights ~ N(0, 0.3^2), A_log = log(U(1, 8)), dt_bias ~ 1 + 0.1*N(0,1), the gated norm
(plain ``w * x``) 1 + 0.1*N(0,1).

The script finally reloads every folder with ``AutoModelForCausalLM.from_pretrained(dtype=float32)``
and checks the logits (max abs diff printed, < 1e-4) and the cached ``generate`` greedy tokens
reproduce the goldens, and that ``tokenizers.Tokenizer.from_file(tokenizer.json)`` gives the golden
ids. (``AutoTokenizer`` is only reported: transformers 5 loads model types such as qwen2 with their
own tokenizer class, which rebuilds the pre-tokenizer instead of using tokenizer.json's, so it
splits "\n    " differently on this toy vocabulary.)

The tokenizer is one small byte-level BPE (``tokenizers``), trained here on a few KB of generated
English/code text: specials <|bos|>=0, <|eos|>=1, <|im_start|>=2, <|im_end|>=3; a
TemplateProcessing post-processor prepends <|bos|>; a ChatML chat template.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import shutil
import sys
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedTokenizerFast,
)

HERE = Path(__file__).resolve().parent
OUT = HERE / "hf"
SEED = 1234
N_GREEDY = 8

SPECIALS = ["<|bos|>", "<|eos|>", "<|im_start|>", "<|im_end|>"]
BOS_ID, EOS_ID, IM_START_ID, IM_END_ID = 0, 1, 2, 3
VOCAB = 384

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

PROMPTS = [  # 6, 13 and 20 ids with BOS
    "The cat sat",
    "def add(a, b):\n    return a",
    "In the morning, the little robot walked.",
]

# Common to every case. vocab_size/bos/eos/pad follow the tokenizer.
COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    bos_token_id=BOS_ID,
    eos_token_id=EOS_ID,
    pad_token_id=None,
)

# ---------------------------------------------------------------------------------------------
# cases: name -> dict(cls, config kwargs, dtype, sharded, config_style, tok_layout, notes)
# ---------------------------------------------------------------------------------------------
CASES: dict[str, dict] = {
    "llama": dict(
        cls="LlamaForCausalLM", cfg="LlamaConfig",
        kw=dict(num_hidden_layers=2, head_dim=16, tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        dtype=torch.float32, config_style="v5",
        notes="Plain Llama: untied lm_head, RMSNorm x*w (w stored as-is), SwiGLU down(silu(gate)*up), "
              "rotate_half RoPE (NeoX style: pairs (i, i+head_dim/2)).",
    ),
    "llama3_rope": dict(
        cls="LlamaForCausalLM", cfg="LlamaConfig",
        kw=dict(num_hidden_layers=2, head_dim=16, tie_word_embeddings=True,
                rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                 "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 64}),
        dtype=torch.bfloat16, config_style="legacy",
        notes="llama3 RoPE scaling (rope_scaling.rope_type=llama3), tied embeddings (no lm_head.weight "
              "in the file), BF16 safetensors. Goldens are fp32 math over the bf16 weights.",
    ),
    "qwen2_yarn": dict(
        cls="Qwen2ForCausalLM", cfg="Qwen2Config",
        kw=dict(num_hidden_layers=2, tie_word_embeddings=False,
                rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                 "original_max_position_embeddings": 64}),
        dtype=torch.float16, sharded="100KB", config_style="legacy",
        notes="QKV bias. YaRN: config.json has rope_scaling {type: yarn, factor 4, "
              "original_max_position_embeddings 64} (legacy 'type' key), max_position_embeddings 256 "
              "(= factor * original, so transformers 4.x and 5.x agree). YaRN defaults beta_fast=32, "
              "beta_slow=1, truncate=True (floor/ceil of the correction range), attention_factor = "
              "0.1*ln(factor)+1 multiplies cos and sin. F16 safetensors, sharded (index.json). "
              "Qwen2 has no head_dim attribute: head_dim = hidden_size/num_attention_heads = 16.",
    ),
    "qwen3": dict(
        cls="Qwen3ForCausalLM", cfg="Qwen3Config",
        kw=dict(num_hidden_layers=2, head_dim=16, tie_word_embeddings=True,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
        dtype=torch.float32, config_style="v5",
        notes="q_norm/k_norm: RMSNorm (x*w) over head_dim on each head of q and k, after the projection "
              "and before RoPE. No bias. Tied embeddings.",
    ),
    "mistral": dict(
        cls="MistralForCausalLM", cfg="MistralConfig",
        kw=dict(num_hidden_layers=2, head_dim=16, tie_word_embeddings=False, sliding_window=8,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        dtype=torch.float32, config_style="v5",
        notes="sliding_window=8 on every layer: query i sees keys j with i-8 < j <= i (8 keys incl. "
              "itself), transformers.masking_utils.sliding_window_overlay: kv_idx > q_idx - sliding_window.",
    ),
    "phi3": dict(
        cls="Phi3ForCausalLM", cfg="Phi3Config",
        kw=dict(num_hidden_layers=2, tie_word_embeddings=False, original_max_position_embeddings=256,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        dtype=torch.float32, config_style="v5",
        notes="Fused qkv_proj rows = [q (heads*hd) | k (kv*hd) | v (kv*hd)]; fused gate_up_proj rows = "
              "[gate (I) | up (I)], mlp = down(up * silu(gate)). No head_dim attribute: "
              "hidden/heads = 16. rms_norm_eps default 1e-5.",
    ),
    "phi3_partial": dict(
        cls="Phi3ForCausalLM", cfg="Phi3Config",
        kw=dict(num_hidden_layers=2, tie_word_embeddings=True, original_max_position_embeddings=256,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                 "partial_rotary_factor": 0.5}),
        dtype=torch.float32, config_style="v5",
        notes="As phi3 but partial_rotary_factor 0.5 (inside rope_parameters): RoPE (rotate_half over "
              "the first 8 dims, pairs (i, i+4)) applies to dims [0, 8) of each head, dims [8, 16) pass "
              "through. Tied embeddings (like Phi-4-mini).",
    ),
    "gemma3": dict(
        cls="Gemma3ForCausalLM", cfg="Gemma3TextConfig",
        kw=dict(num_hidden_layers=4, head_dim=16, tie_word_embeddings=True, sliding_window=8,
                sliding_window_pattern=4,
                layer_types=["sliding_attention", "sliding_attention", "sliding_attention",
                             "full_attention"],
                query_pre_attn_scalar=32, final_logit_softcapping=None, attn_logit_softcapping=None,
                hidden_activation="gelu_pytorch_tanh",
                rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                 "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}}),
        dtype=torch.bfloat16, config_style="legacy",
        notes="model_type gemma3_text. BF16 safetensors. Layers 0-2 sliding (window 8, RoPE base rope_local_base_freq "
              "10000), layer 3 global (RoPE base rope_theta 1e6). All RMSNorms (input, "
              "post_attention, pre_feedforward, post_feedforward, final, q_norm, k_norm) are "
              "x_normed_f32 * (1 + w). Embeddings are multiplied by sqrt(hidden_size)=8 (cast to the "
              "weight dtype). Attention scale = query_pre_attn_scalar**-0.5 = 32**-0.5 (NOT head_dim). "
              "MLP down(gelu_tanh(gate)*up). Block: h += post_attention_layernorm(attn(input_layernorm(h))); "
              "h += post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))). No logit softcapping.",
    ),
    "qwen3_5": dict(
        cls="Qwen3_5ForCausalLM", cfg="Qwen3_5TextConfig",
        kw=dict(num_hidden_layers=4, head_dim=16, tie_word_embeddings=True,
                layer_types=["linear_attention", "linear_attention", "linear_attention",
                             "full_attention"],
                linear_conv_kernel_dim=4, linear_key_head_dim=16, linear_value_head_dim=16,
                linear_num_key_heads=2, linear_num_value_heads=4,
                rope_parameters={"rope_type": "default", "rope_theta": 10000000.0,
                                 "partial_rotary_factor": 0.5, "mrope_section": [2, 1, 1],
                                 "mrope_interleaved": True}),
        dtype=torch.bfloat16, config_style="v5", tok_layout="v5",
        notes="BF16 safetensors. model_type qwen3_5_text (Qwen3_5ForCausalLM; the Hub's Qwen3.5 checkpoints are "
              "Qwen3_5ForConditionalGeneration/model_type qwen3_5 with this config under text_config "
              "and weights under model.language_model.*). Layers 0-2 Gated DeltaNet linear attention, "
              "layer 3 gated full attention. All Qwen3_5RMSNorm (input/post_attention/final/q_norm/"
              "k_norm) are x*(1+w); the linear-attention output norm (Qwen3_5RMSNormGated) is "
              "w*rmsnorm(x)*silu(z) with plain w. Full attention: q_proj gives per head [q(16) | gate(16)], "
              "out = o_proj(attn * sigmoid(gate)); partial RoPE on the first 8 of 16 dims "
              "(mrope collapses to plain RoPE for text: all 3 position rows are equal). Linear "
              "attention: conv kernel 4 (depthwise, causal, no bias, silu) over in_proj_qkv's "
              "[q (2 heads*16) | k (2*16) | v (4*16)]; value heads 4 share key heads 2 via "
              "repeat_interleave (v head j uses k head j//2); q,k l2-normalised (eps 1e-6), q*=16**-0.5; "
              "beta = sigmoid(in_proj_b x); g = -exp(A_log) * softplus(in_proj_a x + dt_bias); "
              "state S (k_dim x v_dim) per v head: S = S*exp(g); S += k (beta*(v - S^T k))^T; o = S^T q. "
              "Goldens use the torch fallback (fla / causal_conv1d / kernels absent): the chunked "
              "form (chunk 64) for prefill; generate()'s decode steps use the recurrent form.",
    ),
}


# ---------------------------------------------------------------------------------------------
# tokenizer
# ---------------------------------------------------------------------------------------------
def training_text() -> list[str]:
    rng = random.Random(SEED)
    subjects = ["the cat", "a little robot", "the old man", "my friend", "the teacher", "a small dog",
                "the engineer", "our team", "the model", "this program"]
    verbs = ["walked to", "looked at", "wrote about", "found", "bought", "opened", "read", "built",
             "tested", "loved"]
    objects = ["the market", "three apples", "a red book", "the window", "some code", "the garden",
               "a long letter", "the river", "a new house", "the morning news"]
    tails = ["in the morning.", "after lunch.", "on Monday.", "with great care.", "and then slept.",
             "before the rain.", "for an hour.", "without a word.", "every day.", "at night."]
    lines = []
    for _ in range(120):
        s = f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(objects)} {rng.choice(tails)}"
        lines.append(s)
    lines += [
        "The quick brown fox jumps over the lazy dog. The cat sat on the mat.",
        "In the morning, the sun rises over the hills and the birds start to sing.",
        "Hello, world! How are you today? I am fine, thank you.",
        "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024 3.14159",
    ]
    code = [
        "def add(a, b):\n    return a + b\n",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "for i in range(10):\n    print(i * i)\n",
        "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
        "import os\nimport sys\n\nif __name__ == \"__main__\":\n    main()\n",
        "fn main() {\n    let x = 5;\n    println!(\"{}\", x + 1);\n}\n",
        "let v: Vec<u32> = (0..10).map(|i| i * 2).collect();\n",
        "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }\n",
        "SELECT name, age FROM users WHERE age > 30 ORDER BY name;\n",
        "{\"key\": \"value\", \"list\": [1, 2, 3], \"ok\": true}\n",
    ]
    for _ in range(6):
        lines += code
    return lines


def build_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(training_text(), trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    tok.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A", pair="<|bos|> $A <|bos|> $B", special_tokens=[("<|bos|>", BOS_ID)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|eos|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    assert len(fast) == VOCAB
    return fast


def save_tokenizer(fast: PreTrainedTokenizerFast, d: Path, layout: str) -> None:
    if layout == "v5":
        # transformers 5 default: chat template in chat_template.jinja, no special_tokens_map.json
        fast.save_pretrained(d)
        return
    # classic layout (most Hub checkpoints): chat_template inside tokenizer_config.json,
    # plus special_tokens_map.json
    fast.save_pretrained(d, save_jinja_files=False)
    cfg_path = d / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg.pop("backend", None)
    extra = cfg.pop("extra_special_tokens", [])  # transformers 4.x name:
    cfg["additional_special_tokens"] = extra
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    stm = {**fast.special_tokens_map, "additional_special_tokens": extra}
    (d / "special_tokens_map.json").write_text(json.dumps(stm, indent=2, ensure_ascii=False) + "\n")
    assert "chat_template" in cfg and not (d / "chat_template.jinja").exists()


# ---------------------------------------------------------------------------------------------
# model init
# ---------------------------------------------------------------------------------------------
ZERO_CENTERED_NORMS = {"Gemma3RMSNorm", "Qwen3_5RMSNorm"}  # forward multiplies by (1 + w)


@torch.no_grad()
def init_weights(model: nn.Module, gen: torch.Generator) -> None:
    def randn(shape):
        return torch.randn(shape, generator=gen, dtype=torch.float32)

    seen = set()
    for mname, module in model.named_modules():
        cls = type(module).__name__
        for pname, p in module.named_parameters(recurse=False):
            full = f"{mname}.{pname}"
            if id(p) in seen:  # tied
                continue
            seen.add(id(p))
            shape = p.shape
            if "Norm" in cls:
                assert pname == "weight", full
                if cls in ZERO_CENTERED_NORMS:
                    assert torch.all(p == 0), f"{full}: expected zero init for a (1+w) norm"
                    p.copy_(0.1 * randn(shape))
                else:
                    p.copy_(1.0 + 0.1 * randn(shape))
            elif isinstance(module, nn.Embedding):
                p.copy_(0.1 * randn(shape))
            elif isinstance(module, nn.Linear):
                if pname == "weight":
                    p.copy_(randn(shape) * (0.5 / math.sqrt(shape[1])))
                else:
                    p.copy_(0.05 * randn(shape))
            elif isinstance(module, nn.Conv1d):
                assert pname == "weight", full
                p.copy_(0.3 * randn(shape))
            elif pname == "A_log":
                p.copy_(torch.log(1.0 + 7.0 * torch.rand(shape, generator=gen)))
            elif pname == "dt_bias":
                p.copy_(1.0 + 0.1 * randn(shape))
            else:
                raise RuntimeError(f"no init rule for {full} ({cls}, {tuple(shape)})")


# ---------------------------------------------------------------------------------------------
# config.json rewriting to the legacy (transformers 4.x / most Hub checkpoints) form
# ---------------------------------------------------------------------------------------------
def legacy_config(cfg: dict, case: str) -> dict:
    cfg = dict(cfg)
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    rp = cfg.pop("rope_parameters")
    if case == "gemma3":
        full, sliding = dict(rp["full_attention"]), dict(rp["sliding_attention"])
        cfg["rope_theta"] = full.pop("rope_theta")
        cfg["rope_local_base_freq"] = sliding.pop("rope_theta")
        assert full.pop("rope_type") == "default" and sliding.pop("rope_type") == "default"
        assert not full and not sliding, (full, sliding)
        cfg["rope_scaling"] = None
        cfg["sliding_window_pattern"] = 4
        return cfg
    rp = dict(rp)
    cfg["rope_theta"] = rp.pop("rope_theta")
    if "partial_rotary_factor" in rp:
        cfg["partial_rotary_factor"] = rp.pop("partial_rotary_factor")
    if rp.get("rope_type") == "default" and len(rp) == 1:
        cfg["rope_scaling"] = None
    elif rp.get("rope_type") == "yarn":
        rp.pop("rope_type")
        cfg["rope_scaling"] = {"type": "yarn", **rp}  # the old key, as in Qwen2.5's README
    else:
        cfg["rope_scaling"] = rp
    if case == "qwen2_yarn":
        # as in Qwen2.5's config.json: no layer_types, a sliding_window that is ignored because
        # use_sliding_window is false (8 here, so honouring it would break the 13/20-id goldens)
        del cfg["layer_types"]
        assert cfg["use_sliding_window"] is False and cfg["sliding_window"] is None
        cfg["sliding_window"] = 8
        cfg["max_window_layers"] = 28
    return cfg


# ---------------------------------------------------------------------------------------------
# goldens
# ---------------------------------------------------------------------------------------------
def r6(x: float) -> float:
    return float(f"{x:.6g}")


@torch.no_grad()
def full_logits(model, ids: list[int]) -> torch.Tensor:
    out = model(input_ids=torch.tensor([ids]), use_cache=False)
    return out.logits[0].float()


@torch.no_grad()
def greedy_nocache(model, ids: list[int], n: int) -> tuple[list[int], list[float]]:
    """n argmax steps (full forward each step); also the top1-top2 logit margin of each step."""
    seq = list(ids)
    new, margins = [], []
    for _ in range(n):
        last = full_logits(model, seq)[-1]
        t = int(torch.argmax(last))
        top2 = torch.topk(last, 2).values
        new.append(t)
        margins.append(r6(float(top2[0] - top2[1])))
        seq.append(t)
    return new, margins


def make_case(name: str, spec: dict, fast: PreTrainedTokenizerFast) -> dict:
    d = OUT / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)

    cfg_cls = getattr(transformers, spec["cfg"])
    model_cls = getattr(transformers, spec["cls"])
    kw = {**COMMON, **spec["kw"]}
    config = cfg_cls(**kw)
    torch.manual_seed(SEED)
    model = model_cls._from_config(config, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    gen = torch.Generator().manual_seed(SEED)
    init_weights(model, gen)
    if model.config.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()

    dtype = spec["dtype"]
    if dtype != torch.float32:  # round the stored weights; buffers stay fp32
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(dtype).float())

    prompts = []
    for text in PROMPTS:
        ids = fast(text).input_ids
        logits = full_logits(model, ids)
        prompts.append({"text": text, "ids": ids,
                        "logits": [[r6(v) for v in row] for row in logits.tolist()]})
    greedy, margins = greedy_nocache(model, prompts[0]["ids"], N_GREEDY)

    # save
    model.generation_config = GenerationConfig(
        bos_token_id=BOS_ID, eos_token_id=[EOS_ID, IM_END_ID], pad_token_id=EOS_ID,
        do_sample=True, temperature=0.7, top_p=0.9, top_k=20,
    )
    to_save = model.to(dtype) if dtype != torch.float32 else model
    save_kw = {}
    if spec.get("sharded"):
        save_kw["max_shard_size"] = spec["sharded"]
    to_save.save_pretrained(d, safe_serialization=True, **save_kw)
    if spec["config_style"] == "legacy":
        cfg_path = d / "config.json"
        cfg_path.write_text(json.dumps(legacy_config(json.loads(cfg_path.read_text()), name),
                                       indent=2, sort_keys=True) + "\n")
    save_tokenizer(fast, d, spec.get("tok_layout", "classic"))

    overrides = {k: v for k, v in kw.items()}
    golden = {
        "case": name,
        "model_type": config.model_type,
        "class": spec["cls"],
        "config_class": spec["cfg"],
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "torch_dtype_saved": str(dtype).replace("torch.", ""),
        "config_style": spec["config_style"],
        "tokenizer_layout": spec.get("tok_layout", "classic"),
        "attn_implementation": "eager",
        "config_overrides": overrides,
        "init": "seed 1234; Linear W ~ N(0,(0.5/sqrt(fan_in))^2), bias ~ N(0,0.05^2), embed ~ N(0,0.1^2), "
                "norm w = 1+0.1N (x*w norms) or 0.1N ((1+w) norms); conv1d ~ N(0,0.3^2), "
                "A_log = log U(1,8), dt_bias = 1+0.1N",
        "notes": spec["notes"],
        "prompts": prompts,
        "greedy_ids": greedy,
        "greedy_margins": margins,
    }
    (d / "goldens.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    return golden


@torch.no_grad()
def verify(name: str, golden: dict) -> float:
    d = OUT / name
    raw = Tokenizer.from_file(str(d / "tokenizer.json"))  # what a tokenizers-crate loader sees
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    assert type(model).__name__ == golden["class"], type(model).__name__
    assert model.config.model_type == golden["model_type"]
    stored = {str(p.dtype) for p in AutoModelForCausalLM.from_pretrained(d).parameters()}
    worst = 0.0
    for pr in golden["prompts"]:
        assert raw.encode(pr["text"]).ids == pr["ids"], (name, pr["text"])
        auto_ids = tok(pr["text"]).input_ids
        if auto_ids != pr["ids"]:
            # transformers 5 maps some model types (qwen2, ...) to their own tokenizer class, which
            # rebuilds the pre-tokenizer instead of using tokenizer.json's: not what we test
            print(f"  note: {name}: AutoTokenizer ({type(tok).__name__}) gives other ids for "
                  f"{pr['text']!r}: {auto_ids}")
        logits = full_logits(model, pr["ids"])
        ref = torch.tensor(pr["logits"])
        worst = max(worst, float((logits - ref).abs().max()))
    ids = golden["prompts"][0]["ids"]
    out = model.generate(torch.tensor([ids]), max_new_tokens=N_GREEDY, min_new_tokens=N_GREEDY,
                         do_sample=False, use_cache=True, top_p=None, top_k=None, temperature=None)
    gen_cached = out[0, len(ids):].tolist()
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                   add_generation_prompt=True)
    print(f"  {name:13s} reload ok: class={type(model).__name__} stored={sorted(stored)} "
          f"max|dlogit|={worst:.3g} greedy={golden['greedy_ids']} "
          f"generate(cache)={'same' if gen_cached == golden['greedy_ids'] else gen_cached} "
          f"chat={chat!r}")
    assert worst < 1e-4, worst
    assert gen_cached == golden["greedy_ids"], (gen_cached, golden["greedy_ids"])
    return worst


def main(argv: list[str]) -> None:
    names = argv or list(CASES)
    for n in names:
        assert n in CASES, f"unknown case {n}; known: {', '.join(CASES)}"
    # the Qwen3.5 goldens must come from transformers' torch fallback
    for pkg in ("fla", "causal_conv1d", "kernels"):
        assert importlib.util.find_spec(pkg) is None, f"uninstall {pkg}: goldens use the torch path"
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    fast = build_tokenizer()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    for text in PROMPTS:
        print(f"  prompt {len(fast(text).input_ids):2d} ids: {text!r}")
    goldens = {}
    for n in names:
        goldens[n] = make_case(n, CASES[n], fast)
    print("verify (reload with AutoModelForCausalLM / AutoTokenizer):")
    for n in names:
        verify(n, goldens[n])
    total = 0
    for n in names:
        size = sum(f.stat().st_size for f in (OUT / n).iterdir())
        total += size
        print(f"  {n:13s} {size / 1024:7.1f} KiB  {sorted(f.name for f in (OUT / n).iterdir())}")
    print(f"  total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main(sys.argv[1:])
