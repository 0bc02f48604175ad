#!/usr/bin/python3
"""Upper bound for a learned refinement stage on one clip (docs/interpolation.md, "Learned
refinement"). Like `kinora eval-interp`, every other frame of the first FRAMES frames is dropped and
rebuilt by `kinora interpolate --factor 2`. A small residual CNN (four 3x3 convolutions, 24 channels,
ReLU, the last layer zero-initialised so it starts as the identity) takes Kinora's frame and its two
neighbours (9 channels) and adds a correction to Kinora's frame. It is trained with Adam (lr 1e-3,
16 random 64x64 crops per step, squared error) on the first half of the rebuilt frames, with the
true frames in view, and scored (mean RGB PSNR, 8-bit) on the second half. Trained on the clip
itself, it bounds what a network trained on other footage could add there; it is not a method.

usage: interp_refine_oracle.py VIDEO [FRAMES (61)] [STEPS (1500)]
needs: python3-torch, python3-pil, ffmpeg, build/kinora
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path):
    return np.asarray(Image.open(path).convert('RGB')).astype(np.float32) / 255.


def psnr(pred, truth):
    q = (pred.clamp(0, 1) * 255).round()
    mse = ((q - truth * 255) ** 2).mean((1, 2, 3))
    return (10 * torch.log10(255 ** 2 / mse)).mean().item()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    video = sys.argv[1]
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 61
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
    torch.set_num_threads(2)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        full, kept, out = (os.path.join(tmp, d) for d in ('all', 'kept', 'out'))
        os.mkdir(full)
        os.mkdir(kept)
        subprocess.run(['ffmpeg', '-v', 'error', '-i', video, '-fps_mode', 'passthrough', '-frames:v', str(frames),
                        '-start_number', '0', os.path.join(full, '%05d.png')], check=True)
        n = len(os.listdir(full))
        for i, k in enumerate(range(0, n, 2)):
            os.symlink(os.path.join(full, '%05d.png' % k), os.path.join(kept, '%05d.png' % i))
        subprocess.run([os.path.join(ROOT, 'build', 'kinora'), 'interpolate', kept, '-o', out + '/', '--factor', '2',
                        '--threads', '2'], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        xs, ys = [], []
        for k in range(1, n - 1, 2):
            f = [load(os.path.join(out, '%05d.png' % k)), load(os.path.join(full, '%05d.png' % (k - 1))),
                 load(os.path.join(full, '%05d.png' % (k + 1)))]
            xs.append(np.concatenate(f, 2).transpose(2, 0, 1))
            ys.append(load(os.path.join(full, '%05d.png' % k)).transpose(2, 0, 1))
    x, y = torch.tensor(np.array(xs)), torch.tensor(np.array(ys))
    half = len(x) // 2
    net = nn.Sequential(nn.Conv2d(9, 24, 3, padding=1), nn.ReLU(), nn.Conv2d(24, 24, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(24, 24, 3, padding=1), nn.ReLU(), nn.Conv2d(24, 3, 3, padding=1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    h, w = x.shape[2:]
    p = min(64, h, w)
    for _ in range(steps):
        i = torch.randint(0, half, (16,))
        y0 = torch.randint(0, h - p + 1, (16,))
        x0 = torch.randint(0, w - p + 1, (16,))
        xb = torch.stack([x[i[j], :, y0[j]:y0[j] + p, x0[j]:x0[j] + p] for j in range(16)])
        yb = torch.stack([y[i[j], :, y0[j]:y0[j] + p, x0[j]:x0[j] + p] for j in range(16)])
        loss = ((xb[:, :3] + net(xb) - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for name, part in (('train', slice(0, half)), ('test', slice(half, None))):
            xp = x[part]
            refined = xp[:, :3] + torch.cat([net(xp[j:j + 1]) for j in range(len(xp))])
            print('%s %s (%d frames): kinora %.3f dB, refined %.3f dB' %
                  (os.path.basename(video), name, len(xp), psnr(xp[:, :3], y[part]), psnr(refined, y[part])))


if __name__ == '__main__':
    main()
