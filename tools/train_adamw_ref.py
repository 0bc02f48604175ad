#!/usr/bin/python3
"""Reference for tests/unit/test_train_optim.c: ten torch.optim.AdamW steps on a small linear
least-squares problem, with torch's clip_grad_norm_, a LambdaLR warm-up + cosine schedule and a
diffusers-style EMA. Dumps the raw gradients, norms, learning rates, parameters and EMA after every
step so the C side can replay the same gradients and compare the updates alone.
Usage: /usr/bin/python3 tools/train_adamw_ref.py tests/data/train/adamw_ref.safetensors"""
import json, math, struct, sys
import torch

def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().to(torch.float32)
        b = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def run(tag, lr, wd, betas, eps, warmup, total, max_norm, ema_decay, out):
    g = torch.Generator().manual_seed(1234 if tag == "a" else 99)
    X = torch.randn(8, 4, generator=g)
    Y = torch.randn(8, 3, generator=g) * 2.0
    W = torch.nn.Parameter(torch.randn(4, 3, generator=g) * 0.5)
    b = torch.nn.Parameter(torch.zeros(3))
    out[f"{tag}.init.W"], out[f"{tag}.init.b"] = W.detach().clone(), b.detach().clone()
    opt = torch.optim.AdamW([W, b], lr=lr, betas=betas, eps=eps, weight_decay=wd, foreach=False)
    def factor(step):
        if step < warmup:
            return step / max(1, warmup)
        p = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1 + math.cos(math.pi * p))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor) if warmup >= 0 else None
    eW, eb = W.detach().clone(), b.detach().clone()
    lrs, norms = [], []
    for s in range(10):
        opt.zero_grad()
        loss = ((X @ W + b - Y) ** 2).mean() * (3.0 if s % 3 == 0 else 1.0)
        loss.backward()
        out[f"{tag}.grad{s}.W"], out[f"{tag}.grad{s}.b"] = W.grad.clone(), b.grad.clone()
        if max_norm > 0:
            norms.append(float(torch.nn.utils.clip_grad_norm_([W, b], max_norm)))
        else:
            norms.append(float(torch.cat([W.grad.flatten(), b.grad.flatten()]).norm()))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched:
            sched.step()
        with torch.no_grad():
            eW.sub_((1 - ema_decay) * (eW - W))
            eb.sub_((1 - ema_decay) * (eb - b))
        out[f"{tag}.step{s}.W"], out[f"{tag}.step{s}.b"] = W.detach().clone(), b.detach().clone()
        out[f"{tag}.ema{s}.W"], out[f"{tag}.ema{s}.b"] = eW.clone(), eb.clone()
    out[f"{tag}.lr"] = torch.tensor(lrs, dtype=torch.float64).float()
    out[f"{tag}.norm"] = torch.tensor(norms, dtype=torch.float64).float()

out = {}
run("a", lr=0.05, wd=0.1, betas=(0.9, 0.999), eps=1e-8, warmup=3, total=10, max_norm=1.0, ema_decay=0.9, out=out)
run("b", lr=1e-3, wd=1e-2, betas=(0.8, 0.99), eps=1e-6, warmup=-1, total=10, max_norm=0.0, ema_decay=0.99, out=out)
write_safetensors(sys.argv[1], out)
