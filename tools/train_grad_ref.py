#!/usr/bin/python3
"""PyTorch reference for Kinora's training passes (the llm.c pattern): a tiny pipeline (UNetMotionModel,
CLIP text encoder, AutoencoderKL) with random f32 weights, fixed inputs, the trainer's losses, and
torch autograd's gradient of every parameter; then ten AdamW steps and their losses. The models are
this repository's independent references (torch_unet_ref.py, written without diffusers and proven
against ../shared/testvectors by its `verify` command).

  UNet loss:  mean((unet(x_t, t, clip(ids)) - target)^2)           gradients of unet.* and text.*
  VAE loss:   mean((decode(mean + exp(logvar/2) * eps) - img)^2)
              + 1e-3 * mean(0.5 * (mean^2 + exp(logvar) - 1 - logvar))      gradients of vae.*

usage: train_grad_ref.py OUT_DIR     writes OUT_DIR/{unet,text_encoder,vae}/ (config + f32 weights) and
                                     OUT_DIR/io.safetensors (inputs, losses, grad.<component>/<name>)
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_unet_ref as R  # noqa: E402
import bench_train_torch as BT  # noqa: E402

B, FR, S, L = 2, 3, 8, 6


def unet_config():
    return R.unet_cfg(_class_name="UNetMotionModel", block_out_channels=[8, 16], norm_num_groups=4,
                      cross_attention_dim=8, num_attention_heads=2, attention_head_dim=4,
                      down_block_types=["CrossAttnDownBlockMotion", "CrossAttnDownBlockMotion"],
                      up_block_types=["CrossAttnUpBlockMotion", "CrossAttnUpBlockMotion"], use_linear_projection=True,
                      motion_max_seq_length=8, motion_num_attention_heads=2, use_motion_mid_block=True)


def text_config():
    return {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": 8,
            "intermediate_size": 16, "num_attention_heads": 2, "num_hidden_layers": 2, "max_position_embeddings": 8,
            "vocab_size": 20, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "torch_dtype": "float32"}


def vae_config():
    return {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": 4,
            "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
            "block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4, "act_fn": "silu",
            "sample_size": 16, "scaling_factor": 1.0}


def perturb(sd, g):
    """Random norms and biases (not the 1/0 of a fresh model) so every gradient path is exercised; the
    UpBlockMotion's 32-group norms need channels divisible by 32 -- not used here."""
    for k, v in sd.items():
        if k.endswith(".bias") or v.dim() == 1:
            sd[k] = v + 0.1 * torch.randn(v.shape, generator=g)


def as_f64(d, trainable=lambda k: True):
    """The f32 weights as f64 leaves (exact): the reference gradients are then computed in float64 and
    carry no rounding of their own. torch's f32 kernels round differently from one CPU to the next (on
    an Intel Xeon host a bias gradient of the plain UNet sat 1.07e-4 relative from Kinora's, against
    the 1e-4 the test allows; on AMD Zen 4 it passed), so an f32 reference measures torch as much as
    Kinora."""
    for k in list(d):
        d[k] = d[k].detach().double().requires_grad_(trainable(k))


def save(d, name, cfg, sd, weights):
    os.makedirs(os.path.join(d, name), exist_ok=True)
    with open(os.path.join(d, name, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    R.st_save(os.path.join(d, name, weights), {k: v.detach().contiguous() for k, v in sd.items()})


def main():
    out = sys.argv[1]
    g = torch.Generator().manual_seed(1234)
    uc, tc, vc = unet_config(), text_config(), vae_config()
    motion = R.motion_of(uc)
    x = torch.randn(B, 4, FR, S, S, generator=g)
    t = torch.tensor([37.0, 815.0])
    ids = torch.randint(0, tc["vocab_size"], (B, L), generator=g)
    target = torch.randn(B, 4, FR, S, S, generator=g)
    # create the tensors by one forward in init mode, then make them leaves
    P = R.Params(gen=g)
    with torch.no_grad():
        R.unet_forward(uc, P, P, x, t, torch.zeros(B, L, tc["hidden_size"]), motion)
    perturb(P.sd, g)
    W = BT.clip_params(tc, g)
    perturb(W, g)
    V = R.Params(gen=g)
    img = torch.rand(B, 3, 16, 16, generator=g) * 2 - 1
    with torch.no_grad():
        m0, _ = R.vae_encode(vc, V, img)
        R.vae_decode(vc, V, m0)
    perturb(V.sd, g)
    eps = torch.randn(m0.shape, generator=g)
    save(out, "unet", uc, P.sd, "diffusion_pytorch_model.safetensors")
    save(out, "text_encoder", tc, W, "model.safetensors")
    save(out, "vae", vc, V.sd, "diffusion_pytorch_model.safetensors")
    P.gen = None
    V.gen = None
    io = {"x": x, "t": t, "ids": ids, "target": target, "img": img, "eps": eps}
    torch.set_default_dtype(torch.float64)   # from here on the math is f64 (as_f64); io stays f32
    for d in (P.sd, W, V.sd):
        as_f64(d, lambda k: not k.endswith(".pos_embed.pe"))   # a buffer in diffusers, not a parameter
    x, t, target, img, eps = x.double(), t.double(), target.double(), img.double(), eps.double()

    def unet_loss():
        ctx = BT.clip_forward(tc, W, ids)
        return F.mse_loss(R.unet_forward(uc, P, P, x, t, ctx, motion), target)

    loss = unet_loss()
    loss.backward()
    io["loss_unet"] = loss.detach().reshape(1).float()
    mean, logvar = R.vae_encode(vc, V, img)
    z = mean + torch.exp(0.5 * logvar) * eps
    rec = F.mse_loss(R.vae_decode(vc, V, z), img)
    kl = (0.5 * (mean ** 2 + torch.exp(logvar) - 1 - logvar)).mean()
    vloss = rec + 1e-3 * kl
    vloss.backward()
    io["loss_vae"] = vloss.detach().reshape(1).float()
    for comp, d in (("unet", P.sd), ("text_encoder", W), ("vae", V.sd)):
        for k, v in d.items():
            if v.requires_grad:
                io[f"grad.{comp}/{k}"] = v.grad.detach().float()
    # ten AdamW steps on the UNet loss (torch defaults but lr 1e-3, weight decay 1e-2), the same inputs
    params = [v for v in list(P.sd.values()) + list(W.values()) if v.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = unet_loss()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    io["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    torch.set_default_dtype(torch.float32)   # the next models are drawn in f32, as before
    # a plain UNet2DConditionModel: conv projections, DownBlock2D/UpBlock2D, center_input_sample, an odd
    # size (7 -> 4 -> upsampled back to 7), one image per item; loss mse, gradients of every parameter
    # and of the context
    c2 = R.unet_cfg(block_out_channels=[8, 16], norm_num_groups=4, cross_attention_dim=8, attention_head_dim=2,
                    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], use_linear_projection=False,
                    center_input_sample=True, flip_sin_to_cos=False, freq_shift=1)
    x2 = torch.rand(B, 4, 7, 7, generator=g)
    ctx2 = torch.randn(B, L, 8, generator=g)
    target2 = torch.randn(B, 4, 7, 7, generator=g)
    P2 = R.Params(gen=g)
    with torch.no_grad():
        R.unet_forward(c2, P2, P2, x2, t, ctx2)
    perturb(P2.sd, g)
    save(out, "unet2d", c2, P2.sd, "diffusion_pytorch_model.safetensors")
    P2.gen = None
    torch.set_default_dtype(torch.float64)
    as_f64(P2.sd)
    ctx2_64 = ctx2.double().requires_grad_(True)
    loss2 = F.mse_loss(R.unet_forward(c2, P2, P2, x2.double(), t.double(), ctx2_64), target2.double())
    loss2.backward()
    torch.set_default_dtype(torch.float32)
    io.update({"x2": x2, "ctx2": ctx2, "target2": target2, "loss_unet2d": loss2.detach().reshape(1).float(),
               "grad_ctx2": ctx2_64.grad.detach().float()})
    for k, v in P2.sd.items():
        io[f"grad.unet2d/{k}"] = v.grad.detach().float()
    # a CLIP text encoder with the exact (erf) gelu of hidden_act "gelu" and 3 layers; loss mse of its
    # output against a random target, gradients of every parameter
    tc3 = dict(text_config(), hidden_act="gelu", num_hidden_layers=3)
    W3 = BT.clip_params(tc3, g)
    perturb(W3, g)
    save(out, "text_gelu", tc3, W3, "model.safetensors")
    ids3 = torch.randint(0, tc3["vocab_size"], (B, L), generator=g)
    target3 = torch.randn(B, L, tc3["hidden_size"], generator=g)
    torch.set_default_dtype(torch.float64)
    as_f64(W3)
    loss3 = F.mse_loss(BT.clip_forward(tc3, W3, ids3), target3.double())
    loss3.backward()
    torch.set_default_dtype(torch.float32)
    io.update({"ids3": ids3, "target3": target3, "loss_text_gelu": loss3.detach().reshape(1).float()})
    for k, v in W3.items():
        io[f"grad.text_gelu/{k}"] = v.grad.detach().float()
    R.st_save(os.path.join(out, "io.safetensors"), {k: v.detach().contiguous() for k, v in io.items()})
    print(f"unet loss {io['loss_unet'].item():.6f} vae loss {io['loss_vae'].item():.6f} "
          f"adamw {losses[0]:.6f} -> {losses[-1]:.6f}; {sum(1 for k in io if k.startswith('grad.'))} gradients")


if __name__ == "__main__":
    main()
