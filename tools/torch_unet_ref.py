#!/usr/bin/python3
"""Independent PyTorch reference for Kinora's AutoencoderKL, UNet2DConditionModel and AnimateDiff
UNetMotionModel (diffusers 0.25 semantics), written from the model definitions without diffusers.

  verify CASE...     recompute every out.* tensor of parity cases (shared/testvectors format) and print
                     the largest error against the stored values (proves this reference first);
  big OUTDIR         write SD-1.5-shaped random models (f16 UNet + AnimateDiff v2-shaped MotionAdapter,
                     f32 VAE) for memory and speed measurements (not test cases: no expected outputs);
  stress OUTDIR [SHARED]
                     write larger, uncommitted cases (layers_per_block 2 + downsample_padding 0, odd
                     sizes, > 4096 transformer rows, a one-block motion UNet with UpBlockMotion, and,
                     given shared/testvectors, batch 2 x 3 frames on unet_motion_a's weights);
  make OUTDIR        write the extra cases of tests/vectors (random tiny weights, f16 or f32 files) with
                     their expected outputs from this reference.

Needs only torch (Debian's /usr/bin/python3). Weights are read and written as safetensors by hand."""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
DT_NAME = {v: k for k, v in DT.items()}


# ---------------------------------------------------------------- safetensors
def st_load(path):
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    hdr = json.loads(buf[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        raw = bytearray(buf[8 + n + a:8 + n + b])
        t = torch.frombuffer(raw, dtype=DT[v["dtype"]]) if b > a else torch.empty(0, dtype=DT[v["dtype"]])
        out[k] = t.reshape(v["shape"]).clone()
    return out


def st_save(path, tensors):
    hdr, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        b = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        hdr[k] = {"dtype": DT_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---------------------------------------------------------------- parameters
class Params:
    """Weights by name. In load mode a lookup checks the shape; in init mode it creates a random tensor
    (so the forward pass itself defines which tensors a new tiny model needs)."""

    def __init__(self, sd=None, gen=None):
        self.sd = sd if sd is not None else {}
        self.gen = gen

    def __call__(self, name, shape, kind="w"):
        if self.gen is None:
            t = self.sd[name]
            assert list(t.shape) == list(shape), (name, list(t.shape), shape)
            return t.to(torch.get_default_dtype())   # f32 (f16/bf16 weights upcast); f64 for train_grad_ref.py
        if name not in self.sd:
            g = self.gen
            if kind == "gamma":
                t = 1.0 + 0.2 * torch.randn(shape, generator=g)
            elif kind == "b":
                t = 0.2 * torch.randn(shape, generator=g)
            else:
                fan_in = max(1, math.prod(shape[1:]))
                t = torch.randn(shape, generator=g) / math.sqrt(fan_in)
            self.sd[name] = t
        return self.sd[name].float()

    def has(self, name):
        return name in self.sd


def lin(P, p, x, din, dout, bias=True, conv1x1=False):
    if P.gen is None and P.has(p + ".weight") and P.sd[p + ".weight"].dim() == 4:
        conv1x1 = True
    w = P(p + ".weight", [dout, din, 1, 1] if conv1x1 else [dout, din]).reshape(dout, din)
    b = P(p + ".bias", [dout], "b") if bias else None
    return F.linear(x, w, b)


def conv(P, p, x, cin, cout, k, stride=1, pad=None):
    w = P(p + ".weight", [cout, cin, k, k])
    b = P(p + ".bias", [cout], "b")
    return F.conv2d(x, w, b, stride=stride, padding=(k - 1) // 2 if pad is None else pad)


def gnorm(P, p, x, groups, eps):
    C = x.shape[1]
    return F.group_norm(x, groups, P(p + ".weight", [C], "gamma"), P(p + ".bias", [C], "b"), eps)


def lnorm(P, p, x, eps=1e-5):
    C = x.shape[-1]
    return F.layer_norm(x, [C], P(p + ".weight", [C], "gamma"), P(p + ".bias", [C], "b"), eps)


def resnet(P, p, x, cout, groups, eps, temb=None, out_scale=1.0):
    cin = x.shape[1]
    h = conv(P, p + ".conv1", F.silu(gnorm(P, p + ".norm1", x, groups, eps)), cin, cout, 3)
    if temb is not None:
        h = h + lin(P, p + ".time_emb_proj", F.silu(temb), temb.shape[1], cout)[:, :, None, None]
    h = conv(P, p + ".conv2", F.silu(gnorm(P, p + ".norm2", h, groups, eps)), cout, cout, 3)
    if cin != cout:
        x = conv(P, p + ".conv_shortcut", x, cin, cout, 1)
    return (x + h) / out_scale


def attention(P, p, x, ctx, heads, qkv_bias=False):
    """x [B, L, D], ctx [B, Lk, Dk] or None."""
    B, L, D = x.shape
    kv = x if ctx is None else ctx
    q = lin(P, p + ".to_q", x, D, D, qkv_bias)
    k = lin(P, p + ".to_k", kv, kv.shape[-1], D, qkv_bias)
    v = lin(P, p + ".to_v", kv, kv.shape[-1], D, qkv_bias)
    dh = D // heads

    def split(t):
        return t.reshape(B, -1, heads, dh).permute(0, 2, 1, 3)

    s = split(q) @ split(k).transpose(-1, -2) * (dh ** -0.5)
    o = (s.softmax(-1) @ split(v)).permute(0, 2, 1, 3).reshape(B, L, D)
    return lin(P, p + ".to_out.0", o, D, D)


def sinusoid_table(n, dim):
    pos = torch.arange(n).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, n, dim)
    pe[0, :, 0::2] = torch.sin(pos * div)
    pe[0, :, 1::2] = torch.cos(pos * div)
    return pe


def transformer_block(P, p, x, ctx, heads, pe_len=0):
    D = x.shape[-1]
    pe = None
    if pe_len:
        name = p + ".pos_embed.pe"
        if P.gen is not None and name not in P.sd:
            P.sd[name] = sinusoid_table(pe_len, D)
        pe = P(name, [1, pe_len, D])[:, :x.shape[1]]
    n = lnorm(P, p + ".norm1", x)
    if pe is not None:
        n = n + pe
    x = x + attention(P, p + ".attn1", n, None, heads)
    n = lnorm(P, p + ".norm2", x)
    if pe is not None:
        n = n + pe
    x = x + attention(P, p + ".attn2", n, ctx, heads)
    n = lnorm(P, p + ".norm3", x)
    h = lin(P, p + ".ff.net.0.proj", n, D, 8 * D)
    a, gate = h.chunk(2, dim=-1)
    return x + lin(P, p + ".ff.net.2", a * F.gelu(gate), 4 * D, D)


def transformer2d(P, p, x, ctx, heads, layers, groups, linear):
    N, C, H, W = x.shape
    h = gnorm(P, p + ".norm", x, groups, 1e-6)
    if linear:
        h = lin(P, p + ".proj_in", h.permute(0, 2, 3, 1).reshape(N, H * W, C), C, C)
    else:
        h = conv(P, p + ".proj_in", h, C, C, 1).permute(0, 2, 3, 1).reshape(N, H * W, C)
    for i in range(layers):
        h = transformer_block(P, f"{p}.transformer_blocks.{i}", h, ctx, heads)
    if linear:
        h = lin(P, p + ".proj_out", h, C, C).reshape(N, H, W, C).permute(0, 3, 1, 2)
    else:
        h = conv(P, p + ".proj_out", h.reshape(N, H, W, C).permute(0, 3, 1, 2), C, C, 1)
    return x + h


def temporal(P, p, x, frames, heads, groups, max_len):
    BF, C, H, W = x.shape
    B = BF // frames
    h = x.reshape(B, frames, C, H, W).permute(0, 2, 1, 3, 4)
    h = gnorm(P, p + ".norm", h, groups, 1e-6)
    h = h.permute(0, 3, 4, 2, 1).reshape(B * H * W, frames, C)
    h = lin(P, p + ".proj_in", h, C, C)
    h = transformer_block(P, p + ".transformer_blocks.0", h, None, heads, max_len)
    h = lin(P, p + ".proj_out", h, C, C)
    h = h.reshape(B, H, W, frames, C).permute(0, 3, 4, 1, 2).reshape(BF, C, H, W)
    return x + h


# ---------------------------------------------------------------- AutoencoderKL
def vae_mid(P, p, x, groups):
    C = x.shape[1]
    x = resnet(P, p + ".resnets.0", x, C, groups, 1e-6)
    N, _, H, W = x.shape
    h = gnorm(P, p + ".attentions.0.group_norm", x, groups, 1e-6).reshape(N, C, H * W).transpose(1, 2)
    h = attention(P, p + ".attentions.0", h, None, 1, qkv_bias=True).transpose(1, 2).reshape(N, C, H, W)
    x = x + h
    return resnet(P, p + ".resnets.1", x, C, groups, 1e-6)


def vae_encode(cfg, P, x):
    boc, lpb, g = cfg["block_out_channels"], cfg["layers_per_block"], cfg["norm_num_groups"]
    h = conv(P, "encoder.conv_in", x, x.shape[1], boc[0], 3)
    for i, c in enumerate(boc):
        for j in range(lpb):
            h = resnet(P, f"encoder.down_blocks.{i}.resnets.{j}", h, c, g, 1e-6)
        if i < len(boc) - 1:
            h = conv(P, f"encoder.down_blocks.{i}.downsamplers.0.conv", F.pad(h, (0, 1, 0, 1)), c, c, 3, 2, 0)
    h = vae_mid(P, "encoder.mid_block", h, g)
    h = conv(P, "encoder.conv_out", F.silu(gnorm(P, "encoder.conv_norm_out", h, g, 1e-6)), boc[-1], 2 * cfg["latent_channels"], 3)
    h = conv(P, "quant_conv", h, h.shape[1], h.shape[1], 1)
    mean, logvar = h.chunk(2, dim=1)
    return mean, logvar.clamp(-30.0, 20.0)


def vae_decode(cfg, P, z):
    boc, lpb, g = cfg["block_out_channels"], cfg["layers_per_block"], cfg["norm_num_groups"]
    L = cfg["latent_channels"]
    z = conv(P, "post_quant_conv", z, L, L, 1)
    h = conv(P, "decoder.conv_in", z, L, boc[-1], 3)
    h = vae_mid(P, "decoder.mid_block", h, g)
    for i, c in enumerate(reversed(boc)):
        for j in range(lpb + 1):
            h = resnet(P, f"decoder.up_blocks.{i}.resnets.{j}", h, c, g, 1e-6)
        if i < len(boc) - 1:
            h = conv(P, f"decoder.up_blocks.{i}.upsamplers.0.conv", F.interpolate(h, scale_factor=2.0, mode="nearest"), c, c, 3)
    return conv(P, "decoder.conv_out", F.silu(gnorm(P, "decoder.conv_norm_out", h, g, 1e-6)), boc[0], cfg["out_channels"], 3)


# ---------------------------------------------------------------- UNet
def per_block(v, n):
    return list(v) if isinstance(v, (list, tuple)) else [v] * n


def timestep_embedding(t, dim, flip, shift):
    half = dim // 2
    # f32 as diffusers computes it (the default dtype; f64 where train_grad_ref.py asks for it)
    ex = -math.log(10000) * torch.arange(half, dtype=torch.get_default_dtype()) / (half - shift)
    e = t[:, None].to(ex.dtype) * torch.exp(ex)[None, :]
    e = torch.cat([torch.sin(e), torch.cos(e)], dim=-1)
    if flip:
        e = torch.cat([e[:, half:], e[:, :half]], dim=-1)
    if dim % 2:
        e = F.pad(e, (0, 1))
    return e


def unet_forward(cfg, P, M, sample, t, ctx, motion=None):
    """sample [B,C,H,W] (motion None) or [B,C,F,H,W]; M: Params of the motion modules; motion: dict
    (heads, max_len, mid) for UNetMotionModel semantics."""
    merged = cfg.get("_class_name") == "UNetMotionModel"
    boc = cfg["block_out_channels"]
    nb = len(boc)
    g, eps = cfg["norm_num_groups"], cfg["norm_eps"]
    lin_proj = cfg.get("use_linear_projection", False)
    lpb = per_block(cfg["layers_per_block"], nb)
    if motion is not None:
        heads = per_block(cfg.get("num_attention_heads") or cfg["attention_head_dim"], nb)
        tl = [1] * nb
        rtl = [1] * nb
        flip, shift = True, 0
    else:
        heads = per_block(cfg.get("num_attention_heads") or cfg["attention_head_dim"], nb)
        tl = per_block(cfg.get("transformer_layers_per_block", 1), nb)
        rtl = cfg.get("reverse_transformer_layers_per_block") or list(reversed(tl))
        flip, shift = cfg["flip_sin_to_cos"], cfg["freq_shift"]
    frames = 1
    if sample.dim() == 5:
        B, C, frames, H, W = sample.shape
        sample = sample.permute(0, 2, 1, 3, 4).reshape(B * frames, C, H, W)
    temb_dim = boc[0] * 4
    e = timestep_embedding(t, boc[0], flip, shift)
    e = lin(P, "time_embedding.linear_2", F.silu(lin(P, "time_embedding.linear_1", e, boc[0], temb_dim)), temb_dim, temb_dim)
    e = e.repeat_interleave(frames, dim=0)
    ctx = ctx.repeat_interleave(frames, dim=0)
    if not merged and cfg.get("center_input_sample", False):   # UNet2DConditionModel only
        sample = 2 * sample - 1.0
    ks = cfg.get("conv_in_kernel", 3)
    h = conv(P, "conv_in", sample, sample.shape[1], boc[0], ks)
    skips = [h]

    def mm(p, x, groups):
        return temporal(M, p, x, frames, motion["heads"], groups, motion["max_len"]) if motion else x

    for i, bt in enumerate(cfg["down_block_types"]):
        for j in range(lpb[i]):
            h = resnet(P, f"down_blocks.{i}.resnets.{j}", h, boc[i], g, eps, e)
            if bt.startswith("CrossAttn"):
                h = transformer2d(P, f"down_blocks.{i}.attentions.{j}", h, ctx, heads[i], tl[i], g, lin_proj)
            h = mm(f"down_blocks.{i}.motion_modules.{j}", h, g)
            skips.append(h)
        if i < nb - 1:
            pad = cfg.get("downsample_padding", 1)
            x = F.pad(h, (0, 1, 0, 1)) if pad == 0 else h
            h = conv(P, f"down_blocks.{i}.downsamplers.0.conv", x, boc[i], boc[i], 3, 2, pad)
            skips.append(h)
    ms = cfg.get("mid_block_scale_factor", 1)
    h = resnet(P, "mid_block.resnets.0", h, boc[-1], g, eps, e, ms)
    h = transformer2d(P, "mid_block.attentions.0", h, ctx, heads[-1], tl[-1], g, lin_proj)
    if motion and motion["mid"]:
        h = mm("mid_block.motion_modules.0", h, g)
    h = resnet(P, "mid_block.resnets.1", h, boc[-1], g, eps, e, ms)
    rb = list(reversed(boc))
    rl = list(reversed(lpb))
    rh = list(reversed(heads))
    for i, bt in enumerate(cfg["up_block_types"]):
        for j in range(rl[i] + 1):
            h = torch.cat([h, skips.pop()], dim=1)
            h = resnet(P, f"up_blocks.{i}.resnets.{j}", h, rb[i], g, eps, e)
            if bt.startswith("CrossAttn"):
                h = transformer2d(P, f"up_blocks.{i}.attentions.{j}", h, ctx, rh[i], rtl[i], g, lin_proj)
            # diffusers 0.25: UpBlockMotion builds its motion modules with 32 groups
            h = mm(f"up_blocks.{i}.motion_modules.{j}", h, g if bt.startswith("CrossAttn") else 32)
        if i < nb - 1:
            h = F.interpolate(h, size=skips[-1].shape[2:], mode="nearest")
            h = conv(P, f"up_blocks.{i}.upsamplers.0.conv", h, rb[i], rb[i], 3)
    h = F.silu(gnorm(P, "conv_norm_out", h, g, eps))
    h = conv(P, "conv_out", h, boc[0], cfg["out_channels"], cfg.get("conv_out_kernel", 3))
    if frames > 1 or motion:
        h = h.reshape(-1, frames, *h.shape[1:]).permute(0, 2, 1, 3, 4)
    _ = merged
    return h


# ---------------------------------------------------------------- cases
def load_folder(d, weights="diffusion_pytorch_model.safetensors"):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    return cfg, Params(st_load(os.path.join(d, weights)))


def motion_of(cfg):
    return {"heads": cfg["motion_num_attention_heads"], "max_len": cfg["motion_max_seq_length"],
            "mid": cfg.get("use_motion_mid_block", True)}


def run_case(d):
    with open(os.path.join(d, "case.json")) as f:
        case = json.load(f)
    io = st_load(os.path.join(d, "io.safetensors"))
    kind = case["kind"]
    got = {}
    with torch.no_grad():
        if kind == "vae":
            cfg, P = load_folder(os.path.join(d, case["model"]))
            if "in.image" in io:
                got["out.mean"], got["out.logvar"] = vae_encode(cfg, P, io["in.image"])
            if "in.latent" in io:
                got["out.decoded"] = vae_decode(cfg, P, io["in.latent"])
        elif kind == "unet2d":
            cfg, P = load_folder(os.path.join(d, case["model"]))
            got["out.sample"] = unet_forward(cfg, P, None, io["in.sample"], io["in.timestep"], io["in.encoder_hidden_states"])
        elif kind == "unet_motion":
            cfg, P = load_folder(os.path.join(d, case["model"]))
            mcfg, M = load_folder(os.path.join(d, case["motion_adapter"]))
            got["out.sample"] = unet_forward(cfg, P, M, io["in.sample"], io["in.timestep"], io["in.encoder_hidden_states"],
                                             motion_of(mcfg))
            if "merged_model" in case:
                c2, P2 = load_folder(os.path.join(d, case["merged_model"]))
                got["out.sample(merged)"] = unet_forward(c2, P2, P2, io["in.sample"], io["in.timestep"],
                                                         io["in.encoder_hidden_states"], motion_of(c2))
        else:
            raise SystemExit(f"{d}: kind {kind} not covered")
    return case, io, got


def verify(dirs):
    bad = 0
    for d in dirs:
        case, io, got = run_case(d)
        for k, v in got.items():
            ref = io[k.split("(")[0]]
            err = (v - ref).abs().max().item()
            bound = case["tol"] * max(1.0, ref.abs().max().item())
            ok = err <= bound
            bad += not ok
            print(f"{os.path.basename(d.rstrip('/')):24s} {k:22s} max|ref-expected| = {err:.3e}  bound {bound:.3e}  {'OK' if ok else 'FAIL'}")
    return bad


def write_folder(d, cfg, sd, dtype):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    st_save(os.path.join(d, "diffusion_pytorch_model.safetensors"), {k: v.to(dtype) for k, v in sd.items()})


def unet_cfg(**kw):
    c = {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.25.0", "sample_size": 8, "in_channels": 4,
         "out_channels": 4, "center_input_sample": False, "flip_sin_to_cos": True, "freq_shift": 0,
         "mid_block_type": "UNetMidBlock2DCrossAttn", "only_cross_attention": False, "layers_per_block": 1,
         "downsample_padding": 1, "mid_block_scale_factor": 1, "dropout": 0.0, "act_fn": "silu", "norm_eps": 1e-05,
         "transformer_layers_per_block": 1, "reverse_transformer_layers_per_block": None, "encoder_hid_dim": None,
         "encoder_hid_dim_type": None, "num_attention_heads": None, "dual_cross_attention": False,
         "use_linear_projection": False, "class_embed_type": None, "addition_embed_type": None,
         "addition_time_embed_dim": None, "num_class_embeds": None, "upcast_attention": False,
         "resnet_time_scale_shift": "default", "resnet_skip_time_act": False, "resnet_out_scale_factor": 1.0,
         "time_embedding_type": "positional", "time_embedding_dim": None, "time_embedding_act_fn": None,
         "timestep_post_act": None, "time_cond_proj_dim": None, "conv_in_kernel": 3, "conv_out_kernel": 3,
         "projection_class_embeddings_input_dim": None, "attention_type": "default", "class_embeddings_concat": False,
         "mid_block_only_cross_attention": None, "cross_attention_norm": None}
    c.update(kw)
    return c


def finish(outdir, name, case, io, note):
    d = os.path.join(outdir, name)
    case_full = dict(case)
    case_full["note"] = note
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case_full, f, indent=1)
    st_save(os.path.join(d, "io.safetensors"), io)


def make(outdir):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1234)
    note = "expected outputs from tools/torch_unet_ref.py (independent reference, verified on shared/testvectors)"
    with torch.no_grad():
        # 3-block VAE (2 decoder resnets per block), 2 groups, non-square image, f16 weights
        cfg = {"_class_name": "AutoencoderKL", "_diffusers_version": "0.25.0", "in_channels": 3, "out_channels": 3,
               "down_block_types": ["DownEncoderBlock2D"] * 3, "up_block_types": ["UpDecoderBlock2D"] * 3,
               "block_out_channels": [4, 8, 8], "layers_per_block": 1, "act_fn": "silu", "latent_channels": 3,
               "norm_num_groups": 2, "sample_size": 16, "scaling_factor": 0.3, "force_upcast": True}
        P = Params(gen=g)
        img = torch.randn(1, 3, 24, 16, generator=g).clamp(-1, 1)
        lat = torch.randn(1, 3, 5, 3, generator=g)
        vae_encode(cfg, P, img)
        vae_decode(cfg, P, lat)
        sd = {k: v.half() for k, v in P.sd.items()}
        write_folder(os.path.join(outdir, "vae_b", "vae"), cfg, sd, torch.float16)
        P = Params({k: v.float() for k, v in sd.items()})
        mean, logvar = vae_encode(cfg, P, img)
        io = {"in.image": img, "in.latent": lat, "out.mean": mean, "out.logvar": logvar, "out.decoded": vae_decode(cfg, P, lat)}
        finish(outdir, "vae_b", {"kind": "vae", "model": "vae", "tol": 0.002}, io, note)

        # UNet: 3 blocks, linear projections, 2 transformer layers, per-block heads, non-square size
        # that is not a multiple of 4 (upsample to the skip size), flip_sin_to_cos false, freq_shift 1
        cfg = unet_cfg(block_out_channels=[4, 8, 8], down_block_types=["CrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
                       up_block_types=["UpBlock2D", "UpBlock2D", "CrossAttnUpBlock2D"], norm_num_groups=2,
                       cross_attention_dim=6, attention_head_dim=[2, 1, 4], transformer_layers_per_block=[2, 1, 1],
                       use_linear_projection=True, flip_sin_to_cos=False, freq_shift=1, mid_block_scale_factor=0.9)
        x = torch.randn(2, 4, 10, 6, generator=g)
        t = torch.tensor([3, 871], dtype=torch.int64)
        ctx = torch.randn(2, 5, 6, generator=g)
        P = Params(gen=g)
        unet_forward(cfg, P, None, x, t, ctx)
        sd = {k: v.half() for k, v in P.sd.items()}
        write_folder(os.path.join(outdir, "unet2d_b", "unet"), cfg, sd, torch.float16)
        P = Params({k: v.float() for k, v in sd.items()})
        io = {"in.sample": x, "in.timestep": t, "in.encoder_hidden_states": ctx, "out.sample": unet_forward(cfg, P, None, x, t, ctx)}
        finish(outdir, "unet2d_b", {"kind": "unet2d", "model": "unet", "tol": 0.002}, io, note)

        # AnimateDiff: 5 frames, non-square, motion heads 2, no mid-block motion module; the
        # merged UNetMotionModel folder is assembled from these two by tests/unit/test_unet.c (fixture size)
        cfg = unet_cfg(block_out_channels=[4, 8], down_block_types=["DownBlock2D", "DownBlock2D"],
                       up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"], norm_num_groups=2,
                       cross_attention_dim=4, attention_head_dim=2)
        mcfg = {"_class_name": "MotionAdapter", "_diffusers_version": "0.25.0", "block_out_channels": [4, 8],
                "motion_layers_per_block": 1, "motion_mid_block_layers_per_block": 1, "motion_num_attention_heads": 2,
                "motion_norm_num_groups": 2, "motion_max_seq_length": 8, "use_motion_mid_block": False}
        x = torch.randn(1, 4, 5, 6, 4, generator=g)
        t = torch.tensor([250], dtype=torch.int64)
        ctx = torch.randn(1, 3, 4, generator=g)
        P, M = Params(gen=g), Params(gen=g)
        unet_forward(cfg, P, M, x, t, ctx, motion_of(mcfg))
        sd = {k: v.half() for k, v in P.sd.items()}
        msd = {k: v.half() for k, v in M.sd.items()}
        base = os.path.join(outdir, "unet_motion_b")
        write_folder(os.path.join(base, "unet"), cfg, sd, torch.float16)
        write_folder(os.path.join(base, "motion_adapter"), mcfg, msd, torch.float16)
        P = Params({k: v.float() for k, v in sd.items()})
        M = Params({k: v.float() for k, v in msd.items()})
        io = {"in.sample": x, "in.timestep": t, "in.encoder_hidden_states": ctx,
              "out.sample": unet_forward(cfg, P, M, x, t, ctx, motion_of(mcfg))}
        finish(outdir, "unet_motion_b", {"kind": "unet_motion", "model": "unet", "motion_adapter": "motion_adapter",
                                         "tol": 0.002}, io, note)


def _unet_case(outdir, name, cfg, x, t, ctx, g, src=None, dtype=torch.float16):
    with torch.no_grad():
        if src:
            cfg, P = load_folder(src)
        else:
            P = Params(gen=g)
            unet_forward(cfg, P, None, x, t, ctx)
            P = Params({k: v.to(dtype).float() for k, v in P.sd.items()})
        write_folder(os.path.join(outdir, name, "unet"), cfg, P.sd, dtype)
        io = {"in.sample": x, "in.timestep": t, "in.encoder_hidden_states": ctx, "out.sample": unet_forward(cfg, P, None, x, t, ctx)}
    finish(outdir, name, {"kind": "unet2d", "model": "unet", "tol": 0.002}, io, "stress case from tools/torch_unet_ref.py")


def stress(outdir, shared=None):
    g = torch.Generator().manual_seed(11)
    cfg = unet_cfg(block_out_channels=[4, 4], down_block_types=["DownBlock2D", "DownBlock2D"],
                   up_block_types=["UpBlock2D", "UpBlock2D"], norm_num_groups=2, layers_per_block=2,
                   cross_attention_dim=4, attention_head_dim=2, transformer_layers_per_block=[1, 2],
                   downsample_padding=0, norm_eps=1e-6)
    _unet_case(outdir, "s_unet_lpb2_pad0", cfg, torch.randn(1, 4, 7, 8, generator=g), torch.tensor([500]),
               torch.randn(1, 3, 4, generator=g), g)
    _unet_case(outdir, "s_unet_odd", None, torch.randn(1, 4, 9, 13, generator=g), torch.tensor([77]),
               torch.randn(1, 3, 6, generator=g), g, src="tests/vectors/unet2d_b/unet")
    _unet_case(outdir, "s_unet_rows", None, torch.randn(2, 4, 72, 40, generator=g), torch.tensor([77, 5]),
               torch.randn(2, 3, 6, generator=g), g, src="tests/vectors/unet2d_b/unet")
    with torch.no_grad():
        cfg, P = load_folder("tests/vectors/vae_b/vae")
        img, lat = torch.randn(2, 3, 25, 15, generator=g), torch.randn(2, 3, 3, 5, generator=g)
        m, lv = vae_encode(cfg, P, img)
        write_folder(os.path.join(outdir, "s_vae_odd", "vae"), cfg, P.sd, torch.float16)
        finish(outdir, "s_vae_odd", {"kind": "vae", "model": "vae", "tol": 0.002},
               {"in.image": img, "in.latent": lat, "out.mean": m, "out.logvar": lv, "out.decoded": vae_decode(cfg, P, lat)}, "stress")
        # one block, layers_per_block 2, UpBlockMotion (32 groups) next to a UNet with 4 groups
        cfg = unet_cfg(block_out_channels=[32], down_block_types=["DownBlock2D"], up_block_types=["UpBlock2D"],
                       norm_num_groups=4, layers_per_block=2, cross_attention_dim=4, attention_head_dim=4)
        mcfg = {"_class_name": "MotionAdapter", "block_out_channels": [32], "motion_layers_per_block": 2,
                "motion_mid_block_layers_per_block": 1, "motion_num_attention_heads": 4, "motion_norm_num_groups": 2,
                "motion_max_seq_length": 6, "use_motion_mid_block": True}
        x, t, ctx = torch.randn(1, 4, 4, 3, 5, generator=g), torch.tensor([20]), torch.randn(1, 2, 4, generator=g)
        P, M = Params(gen=g), Params(gen=g)
        o = unet_forward(cfg, P, M, x, t, ctx, motion_of(mcfg))
        write_folder(os.path.join(outdir, "s_motion_lpb2", "unet"), cfg, P.sd, torch.float32)
        write_folder(os.path.join(outdir, "s_motion_lpb2", "motion_adapter"), mcfg, M.sd, torch.float32)
        finish(outdir, "s_motion_lpb2", {"kind": "unet_motion", "model": "unet", "motion_adapter": "motion_adapter", "tol": 0.002},
               {"in.sample": x, "in.timestep": t, "in.encoder_hidden_states": ctx, "out.sample": o}, "stress")
        if shared:
            src = os.path.join(shared, "unet_motion_a")
            cfg, P = load_folder(os.path.join(src, "unet"))
            mcfg, M = load_folder(os.path.join(src, "motion_adapter"))
            c2, P2 = load_folder(os.path.join(src, "unet_motion"))
            x, t, ctx = torch.randn(2, 4, 3, 10, 6, generator=g), torch.tensor([77, 905]), torch.randn(2, 5, 32, generator=g)
            o = unet_forward(cfg, P, M, x, t, ctx, motion_of(mcfg))
            d = os.path.join(outdir, "s_motion_b2")
            write_folder(os.path.join(d, "unet"), cfg, P.sd, torch.float32)
            write_folder(os.path.join(d, "motion_adapter"), mcfg, M.sd, torch.float32)
            write_folder(os.path.join(d, "unet_motion"), c2, P2.sd, torch.float32)
            finish(outdir, "s_motion_b2", {"kind": "unet_motion", "model": "unet", "motion_adapter": "motion_adapter",
                                           "merged_model": "unet_motion", "tol": 0.002},
                   {"in.sample": x, "in.timestep": t, "in.encoder_hidden_states": ctx, "out.sample": o}, "stress")


def big(outdir):
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        cfg = unet_cfg(block_out_channels=[320, 640, 1280, 1280], layers_per_block=2, norm_num_groups=32,
                       down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                       up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3, cross_attention_dim=768,
                       attention_head_dim=8, sample_size=64)
        mcfg = {"_class_name": "MotionAdapter", "_diffusers_version": "0.25.0", "block_out_channels": [320, 640, 1280, 1280],
                "motion_layers_per_block": 2, "motion_mid_block_layers_per_block": 1, "motion_num_attention_heads": 8,
                "motion_norm_num_groups": 32, "motion_max_seq_length": 32, "use_motion_mid_block": True}
        P, M = Params(gen=g), Params(gen=g)
        unet_forward(cfg, P, M, torch.randn(1, 4, 2, 8, 8), torch.tensor([10]), torch.randn(1, 7, 768), motion_of(mcfg))
        write_folder(os.path.join(outdir, "unet"), cfg, P.sd, torch.float16)
        P = None
        write_folder(os.path.join(outdir, "motion_adapter"), mcfg, M.sd, torch.float16)
        M = None
        vcfg = {"_class_name": "AutoencoderKL", "_diffusers_version": "0.25.0", "in_channels": 3, "out_channels": 3,
                "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
                "block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "act_fn": "silu", "latent_channels": 4,
                "norm_num_groups": 32, "sample_size": 512, "scaling_factor": 0.18215}
        V = Params(gen=g)
        vae_encode(vcfg, V, torch.randn(1, 3, 16, 16))
        vae_decode(vcfg, V, torch.randn(1, 4, 2, 2))
        write_folder(os.path.join(outdir, "vae"), vcfg, V.sd, torch.float32)


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "stress":
        stress(sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else None)
        sys.exit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "big":
        big(sys.argv[2])
        sys.exit(0)
    if len(sys.argv) >= 3 and sys.argv[1] == "verify":
        sys.exit(1 if verify(sys.argv[2:]) else 0)
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
        sys.exit(0)
    print(__doc__)
    sys.exit(2)
