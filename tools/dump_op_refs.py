#!/usr/bin/python3
"""Dump small PyTorch reference outputs for tests/unit/test_ops_torch.c into tests/data/ops/*.safetensors.
Run once with Debian's PyTorch: /usr/bin/python3 tools/dump_op_refs.py. Each file stays well under 50 KB.
Inputs are stored next to the outputs, so the C test only replays them. Backward references come from
torch.autograd with a stored upstream gradient."""
import json
import os
import struct

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "ops")
DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def save(name, tensors):
    """Minimal safetensors writer (the safetensors package is not installed)."""
    header, blobs, off = {}, [], 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy().tobytes()
        header[key] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    path = os.path.join(OUT, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    print(f"{path}: {os.path.getsize(path)} bytes")


def conv():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 9, 8, generator=g, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, generator=g, requires_grad=True)
    b = torch.randn(4, generator=g, requires_grad=True)
    # SD downsampler padding: (left 0, right 1, top 0, bottom 1), stride 2
    y = F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2)
    dy = torch.randn(y.shape, generator=g)
    y.backward(dy)
    w16 = w.detach().half()
    y16 = F.conv2d(x.detach(), w16.float(), b.detach(), padding=1)
    save("conv2d", {"x": x, "w": w, "b": b, "y": y, "dy": dy, "dx": x.grad, "dw": w.grad, "db": b.grad,
                    "w_f16": w16, "y_f16_pad1": y16})


def norms():
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(2, 8, 5, 6, generator=g) * 3 + 2).requires_grad_()
    ga = torch.randn(8, generator=g, requires_grad=True)
    be = torch.randn(8, generator=g, requires_grad=True)
    y = F.group_norm(x, 4, ga, be, eps=1e-6)
    dy = torch.randn(y.shape, generator=g)
    y.backward(dy)
    xl = torch.randn(3, 10, 16, generator=g)
    gl, bl = torch.randn(16, generator=g), torch.randn(16, generator=g)
    yl = F.layer_norm(xl, (16,), gl, bl, eps=1e-5)
    save("norms", {"gn_x": x, "gn_gamma": ga, "gn_beta": be, "gn_y": y, "gn_dy": dy, "gn_dx": x.grad,
                   "gn_dgamma": ga.grad, "gn_dbeta": be.grad, "ln_x": xl, "ln_gamma": gl, "ln_beta": bl, "ln_y": yl})


def linear_act():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 24, generator=g)
    w = torch.randn(12, 24, generator=g).bfloat16()
    b = torch.randn(12, generator=g)
    y = F.linear(x, w.float(), b)
    a = torch.linspace(-8, 8, 257)
    h = torch.randn(4, 2 * 20, generator=g) * 2
    hidden, gate = h.chunk(2, dim=-1)
    save("linear_act", {"x": x, "w_bf16": w, "b": b, "y": y, "act_x": a, "silu": F.silu(a), "gelu": F.gelu(a),
                        "gelu_tanh": F.gelu(a, approximate="tanh"), "quick_gelu": a * torch.sigmoid(1.702 * a),
                        "geglu_x": h, "geglu_y": hidden * F.gelu(gate),
                        "up_x": x[:2, :12].reshape(2, 3, 4), "up_y": F.interpolate(x[:2, :12].reshape(1, 2, 3, 4),
                                                                                   scale_factor=2, mode="nearest")[0]})


def sdpa(q, k, v, causal=False):
    """softmax(q k^T / sqrt(dh) [+ causal mask]) v in plain torch ops (torch 1.13 has no SDPA)."""
    s = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if causal:
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).triu(1)
        s = s.masked_fill(mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def attention():
    g = torch.Generator().manual_seed(4)
    B, H, Lq, Lk, dh = 2, 2, 9, 11, 8
    q = torch.randn(B, H, Lq, dh, generator=g, requires_grad=True)
    k = torch.randn(B, H, Lk, dh, generator=g, requires_grad=True)
    v = torch.randn(B, H, Lk, dh, generator=g, requires_grad=True)
    o = sdpa(q, k, v)
    do = torch.randn(o.shape, generator=g)
    o.backward(do)
    # causal self-attention on the first Lq keys
    kc, vc = k.detach()[:, :, :Lq], v.detach()[:, :, :Lq]
    oc = sdpa(q.detach(), kc, vc, causal=True)

    def tok(t):  # [B, H, L, dh] -> [B, L, H*dh], the kernel's token layout
        return t.detach().permute(0, 2, 1, 3).reshape(t.shape[0], t.shape[2], -1).contiguous()
    save("attention", {"q": tok(q), "k": tok(k), "v": tok(v), "out": tok(o), "dout": tok(do), "dq": tok(q.grad),
                       "dk": tok(k.grad), "dv": tok(v.grad), "out_causal": tok(oc)})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    conv()
    norms()
    linear_act()
    attention()
