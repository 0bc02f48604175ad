#!/usr/bin/env python3
"""Independent float64 PyTorch reference for CLIPTextModel (the math of transformers'
modeling_clip: embeddings, pre-norm causal self-attention with q scaled by head_dim^-0.5, MLP, final
layer norm) that writes the extra clip_text cases under tests/vectors/. Random weights with a fixed
seed, stored in the case's dtype; the reference computes on exactly those stored values.

usage: /usr/bin/python3 tools/clip_text_ref.py [OUT_ROOT=tests/vectors]
       /usr/bin/python3 tools/clip_text_ref.py --clip-l OUT_DIR   (a CLIP ViT-L/14-sized text encoder with
           random f16 weights, 246 MB, and its case: a full-size parity and timing check, not committed)
"""
import json
import math
import os
import struct
import sys

import torch

CASES = [
    dict(name="clip_text_gelu3", act="gelu", hidden=8, inter=16, heads=2, layers=3, max_pos=12, vocab=40,
         eps=1e-5, dtype="F32", n=2, L=10, outs=["last_hidden_state", "hidden_states_m2", "hidden_states_m3"]),
    dict(name="clip_text_geluNew_f16", act="gelu_new", hidden=12, inter=20, heads=3, layers=2, max_pos=16,
         vocab=30, eps=1e-6, dtype="F16", n=3, L=7, outs=["last_hidden_state", "hidden_states_m2"]),
    dict(name="clip_text_quick_bf16", act="quick_gelu", hidden=16, inter=24, heads=4, layers=1, max_pos=9,
         vocab=25, eps=1e-5, dtype="BF16", n=1, L=9, outs=["last_hidden_state", "hidden_states_m2"]),
]

TORCH_DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def write_safetensors(path, tensors):
    """tensors: name -> (dtype name, torch tensor). Minimal writer (the safetensors package is absent)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        dt, t = tensors[name]
        t = t.to(TORCH_DT[dt]).contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if dt in ("F16", "BF16") else t.numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def act_fn(name, x):
    if name == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name == "gelu_new":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    raise ValueError(name)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def forward(c, W, ids):
    P = "text_model."
    D, H = c["hidden"], c["heads"]
    dh = D // H
    n, L = ids.shape
    x = W[P + "embeddings.token_embedding.weight"][ids] + W[P + "embeddings.position_embedding.weight"][:L]
    states = [x]
    mask = torch.full((L, L), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(c["layers"]):
        p = f"{P}encoder.layers.{i}."
        lin = lambda h, nm: h @ W[p + nm + ".weight"].T + W[p + nm + ".bias"]
        h = layer_norm(x, W[p + "layer_norm1.weight"], W[p + "layer_norm1.bias"], c["eps"])
        q = lin(h, "self_attn.q_proj") * dh ** -0.5
        k, v = lin(h, "self_attn.k_proj"), lin(h, "self_attn.v_proj")
        split = lambda t: t.view(n, L, H, dh).transpose(1, 2)
        a = torch.softmax(split(q) @ split(k).transpose(-1, -2) + mask, dim=-1) @ split(v)
        x = x + lin(a.transpose(1, 2).reshape(n, L, D), "self_attn.out_proj")
        h = layer_norm(x, W[p + "layer_norm2.weight"], W[p + "layer_norm2.bias"], c["eps"])
        x = x + lin(act_fn(c["act"], lin(h, "mlp.fc1")), "mlp.fc2")
        states.append(x)
    last = layer_norm(x, W[P + "final_layer_norm.weight"], W[P + "final_layer_norm.bias"], c["eps"])
    return last, states


def make_weights(c, g):
    D, I, P = c["hidden"], c["inter"], "text_model."
    shapes = {P + "embeddings.token_embedding.weight": ([c["vocab"], D], 0.5, 0.0),
              P + "embeddings.position_embedding.weight": ([c["max_pos"], D], 0.3, 0.0),
              P + "final_layer_norm.weight": ([D], 0.2, 1.0), P + "final_layer_norm.bias": ([D], 0.1, 0.0)}
    for i in range(c["layers"]):
        p = f"{P}encoder.layers.{i}."
        for nm in ("layer_norm1", "layer_norm2"):
            shapes[p + nm + ".weight"] = ([D], 0.2, 1.0)
            shapes[p + nm + ".bias"] = ([D], 0.1, 0.0)
        for nm, (o, k) in {"self_attn.q_proj": (D, D), "self_attn.k_proj": (D, D), "self_attn.v_proj": (D, D),
                           "self_attn.out_proj": (D, D), "mlp.fc1": (I, D), "mlp.fc2": (D, I)}.items():
            shapes[p + nm + ".weight"] = ([o, k], 1.5 / math.sqrt(k), 0.0)
            shapes[p + nm + ".bias"] = ([o], 0.1, 0.0)
    W = {}
    for name, (shape, std, mean) in shapes.items():
        t = (torch.randn(*shape, generator=g, dtype=torch.float64) * std + mean).to(TORCH_DT[c["dtype"]])
        W[name] = t
    return W


CLIP_L = dict(name="clip_text_L", act="quick_gelu", hidden=768, inter=3072, heads=12, layers=12, max_pos=77,
              vocab=49408, eps=1e-5, dtype="F16", n=2, L=77, outs=["last_hidden_state", "hidden_states_m2"])


def main():
    cases, root = CASES, sys.argv[1] if len(sys.argv) > 1 else "tests/vectors"
    if root == "--clip-l":
        cases, root = [CLIP_L], sys.argv[2]
    for ci, c in enumerate(cases):
        g = torch.Generator().manual_seed(1234 + ci)
        W = make_weights(c, g)
        if c is CLIP_L:   # keep 12 layers of random weights in a realistic range
            W = {k: (v.float() * 0.05 if "embedding" in k else v.float()).to(TORCH_DT[c["dtype"]]) for k, v in W.items()}
        ids = torch.randint(0, c["vocab"], (c["n"], c["L"]), generator=g)
        ids[:, 0] = c["vocab"] - 2
        ids[-1, c["L"] // 2:] = c["vocab"] - 1
        last, states = forward(c, {k: v.to(torch.float64) for k, v in W.items()}, ids)
        d = os.path.join(root, c["name"])
        os.makedirs(os.path.join(d, "text_encoder"), exist_ok=True)
        cfg = {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": c["hidden"],
               "intermediate_size": c["inter"], "num_attention_heads": c["heads"],
               "num_hidden_layers": c["layers"], "max_position_embeddings": c["max_pos"],
               "vocab_size": c["vocab"], "hidden_act": c["act"], "layer_norm_eps": c["eps"],
               "bos_token_id": c["vocab"] - 2, "eos_token_id": c["vocab"] - 1, "pad_token_id": c["vocab"] - 1,
               "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[c["dtype"]]}
        with open(os.path.join(d, "text_encoder", "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        write_safetensors(os.path.join(d, "text_encoder", "model.safetensors"),
                          {k: (c["dtype"], v) for k, v in W.items()})
        io = {"in.input_ids": ("I64", ids)}
        for o in c["outs"]:
            t = last if o == "last_hidden_state" else states[-int(o.split("_m")[1])]
            io["out." + o] = ("F32", t.to(torch.float32))
        write_safetensors(os.path.join(d, "io.safetensors"), io)
        case = {"kind": "clip_text", "model": "text_encoder", "tol": 1e-4,
                "note": f"made by tools/clip_text_ref.py: independent float64 PyTorch CLIPTextModel math on "
                        f"random {c['dtype']} weights (seed {1234 + ci}); hidden_act {c['act']}, "
                        f"{c['layers']} layers, {c['heads']} heads, hidden {c['hidden']}",
                "outputs": {"out.last_hidden_state": "final_layer_norm(output of the last layer)",
                            "out.hidden_states_mK": "transformers hidden_states[-K], no norm"}}
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump(case, f, indent=1)
        print(d)


if __name__ == "__main__":
    main()
