#!/usr/bin/python3
"""PyTorch peer of one `kinora train --stage joint` step, for `make bench`: the same architecture (the
pipeline folder's text_encoder and unet configs, read by this repository's independent references),
the same batch, frames, latent size and thread count; forward of the text encoder and the UNet,
epsilon MSE loss, backward, gradient clipping, AdamW. Weights are random (speed does not depend on
them). Prints one line per timed step and a final `torch_train_step_s MEDIAN`.

usage: bench_train_torch.py PIPELINE_DIR THREADS BATCH FRAMES LATENT_SIZE STEPS
"""
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_unet_ref as R  # noqa: E402


def clip_params(c, g):
    D, I, P = c["hidden_size"], c["intermediate_size"], "text_model."
    W = {P + "embeddings.token_embedding.weight": torch.randn(c["vocab_size"], D, generator=g) * 0.02,
         P + "embeddings.position_embedding.weight": torch.randn(c["max_position_embeddings"], D, generator=g) * 0.01,
         P + "final_layer_norm.weight": torch.ones(D), P + "final_layer_norm.bias": torch.zeros(D)}
    for i in range(c["num_hidden_layers"]):
        p = f"{P}encoder.layers.{i}."
        for nm in ("layer_norm1", "layer_norm2"):
            W[p + nm + ".weight"], W[p + nm + ".bias"] = torch.ones(D), torch.zeros(D)
        for nm, (o, k) in {"self_attn.q_proj": (D, D), "self_attn.k_proj": (D, D), "self_attn.v_proj": (D, D),
                           "self_attn.out_proj": (D, D), "mlp.fc1": (I, D), "mlp.fc2": (D, I)}.items():
            W[p + nm + ".weight"] = (torch.rand(o, k, generator=g) * 2 - 1) / math.sqrt(k)
            W[p + nm + ".bias"] = torch.zeros(o)
    return W


def clip_forward(c, W, ids):
    P, D, H = "text_model.", c["hidden_size"], c["num_attention_heads"]
    dh, (n, L) = D // H, ids.shape
    x = W[P + "embeddings.token_embedding.weight"][ids] + W[P + "embeddings.position_embedding.weight"][:L]
    mask = torch.full((L, L), float("-inf")).triu(1)
    for i in range(c["num_hidden_layers"]):
        p = f"{P}encoder.layers.{i}."
        lin = lambda h, nm: F.linear(h, W[p + nm + ".weight"], W[p + nm + ".bias"])  # noqa: E731
        h = F.layer_norm(x, [D], W[p + "layer_norm1.weight"], W[p + "layer_norm1.bias"], c["layer_norm_eps"])
        q = lin(h, "self_attn.q_proj") * dh ** -0.5
        k, v = lin(h, "self_attn.k_proj"), lin(h, "self_attn.v_proj")
        split = lambda t: t.view(n, L, H, dh).transpose(1, 2)  # noqa: E731
        a = torch.softmax(split(q) @ split(k).transpose(-1, -2) + mask, dim=-1) @ split(v)
        x = x + lin(a.transpose(1, 2).reshape(n, L, D), "self_attn.out_proj")
        h = F.layer_norm(x, [D], W[p + "layer_norm2.weight"], W[p + "layer_norm2.bias"], c["layer_norm_eps"])
        m = lin(h, "mlp.fc1")
        x = x + lin(m * torch.sigmoid(1.702 * m) if c["hidden_act"] == "quick_gelu" else F.gelu(m), "mlp.fc2")
    return F.layer_norm(x, [D], W[P + "final_layer_norm.weight"], W[P + "final_layer_norm.bias"], c["layer_norm_eps"])


def main():
    d, threads, B, Fr, S, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    tc = json.load(open(os.path.join(d, "text_encoder", "config.json")))
    uc = json.load(open(os.path.join(d, "unet", "config.json")))
    L = 77
    ids = torch.randint(0, tc["vocab_size"], (B, L), generator=g)
    C = uc["in_channels"]
    x0 = torch.randn(B, C, Fr, S, S, generator=g)
    # create the UNet's tensors by one forward in init mode (Params creates what the forward asks for)
    P = R.Params(gen=g)
    motion = R.motion_of(uc)
    with torch.no_grad():
        R.unet_forward(uc, P, P, x0, torch.tensor([500.0] * B), torch.zeros(B, L, tc["hidden_size"]), motion)
    W = clip_params(tc, g)
    params = list(P.sd.values()) + list(W.values())
    for p in params:
        p.requires_grad_(True)
    P.gen = None   # lookups now return the (leaf) tensors
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2)
    ac = torch.linspace(0.9991, 0.0047, 1000)
    times = []
    for s in range(steps):
        t0 = time.perf_counter()
        t = torch.randint(0, 1000, (B,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = ac[t].view(B, 1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        ctx = clip_forward(tc, W, ids)
        pred = R.unet_forward(uc, P, P, xt, t.float(), ctx, motion)
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if s > 0:
            times.append(dt)
        print(f"step {s} loss {loss.item():.5f} {dt:.3f} s", flush=True)
    print(f"torch_train_step_s {statistics.median(times):.4f}")


if __name__ == "__main__":
    main()
