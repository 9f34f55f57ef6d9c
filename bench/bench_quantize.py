"""Time `quantize=` at load: a Qwen2.5-0.5B-shaped Hugging Face folder with random BF16 weights
(494M parameters, 943 MB) is written to a temporary folder, then loaded as it is and quantized.

    python bench/bench_quantize.py [--keep DIR]
"""
import json, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np
from safetensors.numpy import save_file
src = Path(__file__).resolve().parents[1] / "tests" / "goldens" / "hf" / "qwen3"
dst = Path(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--keep" else Path(tempfile.mkdtemp()) / "qwen-shaped"
dst.mkdir(parents=True, exist_ok=True)
for f in ["tokenizer.json", "tokenizer_config.json"]:
    shutil.copy(src / f, dst / f)
d, ff, L, V, nh, nkv, hd = 896, 4864, 24, 151936, 14, 2, 64
cfg = {"model_type": "qwen2", "hidden_size": d, "intermediate_size": ff, "num_hidden_layers": L,
       "num_attention_heads": nh, "num_key_value_heads": nkv, "vocab_size": V, "rms_norm_eps": 1e-6,
       "rope_theta": 1e6, "max_position_embeddings": 32768, "tie_word_embeddings": True}
(dst / "config.json").write_text(json.dumps(cfg))
rng = np.random.default_rng(0)
def bf16(*shape):
    x = (rng.standard_normal(shape, dtype=np.float32) * 0.02).view(np.uint32)
    return (x >> 16).astype(np.uint16)
t = {"model.embed_tokens.weight": bf16(V, d), "model.norm.weight": bf16(d)}
for i in range(L):
    p = f"model.layers.{i}."
    t[p + "input_layernorm.weight"] = bf16(d); t[p + "post_attention_layernorm.weight"] = bf16(d)
    t[p + "self_attn.q_proj.weight"] = bf16(nh * hd, d); t[p + "self_attn.q_proj.bias"] = bf16(nh * hd)
    t[p + "self_attn.k_proj.weight"] = bf16(nkv * hd, d); t[p + "self_attn.k_proj.bias"] = bf16(nkv * hd)
    t[p + "self_attn.v_proj.weight"] = bf16(nkv * hd, d); t[p + "self_attn.v_proj.bias"] = bf16(nkv * hd)
    t[p + "self_attn.o_proj.weight"] = bf16(d, nh * hd)
    t[p + "mlp.gate_proj.weight"] = bf16(ff, d); t[p + "mlp.up_proj.weight"] = bf16(ff, d); t[p + "mlp.down_proj.weight"] = bf16(d, ff)
# safetensors.numpy has no bf16 dtype: write as uint16 then patch the header dtype
save_file(t, str(dst / "model.safetensors"))
raw = (dst / "model.safetensors").read_bytes()
n = int.from_bytes(raw[:8], "little"); h = raw[8:8 + n].rstrip().replace(b'"U16"', b'"BF16"')
h += b" " * ((8 - len(h) % 8) % 8)
(dst / "model.safetensors").write_bytes(len(h).to_bytes(8, "little") + h + raw[8 + n:])
print("params", sum(v.size for v in t.values()))

import lanner  # noqa: E402
print("| quantize | load s | of which quantize s | stored types |")
print("| --- | --- | --- | --- |")
for q in [None, "q8_0", "q4_k", "q6_k"]:
    e = lanner.Engine(str(dst), quantize=q)
    i = e.info
    print(f"| {q} | {i['load_seconds']:.2f} | {i['quantize_seconds']:.2f} | {i['quant_types']} |")
    e.close()
if not (len(sys.argv) > 2 and sys.argv[1] == "--keep"):
    shutil.rmtree(dst.parent)
