#!/usr/bin/env python3
"""How well `kinora interpolate` carries transparency (docs/interpolation.md, "Transparency").

    tools/eval_interp_alpha.py [--noise] VIDEO [FRAMES] [KINORA]

Real footage is given a real moving matte: each pixel's alpha is how far it stands from the clip's
median frame (the still background), |frame - median| over 8 levels at most 0, from 40 at least 255,
linear between, so the people walking in vtest.avi are opaque and the street clear (with --noise the
colour under clear pixels is replaced by random values, new in each frame, as a GIF optimiser or a
keyer may leave it; the truth's composite does not change). The first FRAMES
frames (default 61) become RGBA PNG frames; every other one is dropped and Kinora rebuilds them from
the kept ones (`--factor 2`, alpha kept). Scored on the dropped frames against the truth: the alpha
plane's PSNR (8-bit), and the PSNR of the colour over black (rgb * alpha / 255, what a viewer sees),
beside the linear blend and the duplication of the kept neighbours, and Kinora's wall time with and
without the alpha (`--no-alpha`), the median of 3 runs each, taking turns.
"""
import glob, os, shutil, statistics, subprocess, sys, tempfile, time

import numpy as np
from PIL import Image


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def over_black(rgba):
    return np.round(rgba[..., :3].astype(np.float64) * rgba[..., 3:4] / 255.0)


def main():
    args = sys.argv[1:]
    noise = "--noise" in args
    args = [a for a in args if a != "--noise"]
    video = args[0]
    n = int(args[1]) if len(args) > 1 else 61
    kinora = args[2] if len(args) > 2 else os.path.join(os.path.dirname(__file__), "..", "build", "kinora")
    rng = np.random.default_rng(1)
    tmp = tempfile.mkdtemp()
    try:
        raw = os.path.join(tmp, "raw")
        os.mkdir(raw)
        subprocess.run(["ffmpeg", "-v", "error", "-i", video, "-frames:v", str(n), "-fps_mode", "passthrough",
                        os.path.join(raw, "%05d.png")], check=True)
        frames = [np.asarray(Image.open(f).convert("RGB")) for f in sorted(glob.glob(os.path.join(raw, "*.png")))]
        n = len(frames)
        stack = np.stack(frames).astype(np.int16)
        background = np.median(stack, axis=0)
        truth = []
        for f in frames:
            d = np.abs(f.astype(np.float64) - background).max(axis=2)
            a = np.clip((d - 8) * 255.0 / 32, 0, 255).round().astype(np.uint8)
            t = np.dstack([f, a])
            if noise:
                t[a == 0, :3] = rng.integers(0, 256, (int(np.sum(a == 0)), 3), dtype=np.uint8)
            truth.append(t)
        kept = os.path.join(tmp, "kept")
        os.mkdir(kept)
        for j, i in enumerate(range(0, n, 2)):
            Image.fromarray(truth[i], "RGBA").save(os.path.join(kept, "%05d.png" % j))
        times = {"alpha": [], "no-alpha": []}
        for run in range(3):
            for mode in ("alpha", "no-alpha"):
                out = os.path.join(tmp, mode + "/")
                shutil.rmtree(out, ignore_errors=True)
                cmd = [kinora, "interpolate", kept, "-o", out, "--factor", "2", "--threads", "2"]
                if mode == "no-alpha":
                    cmd.append("--no-alpha")
                t0 = time.monotonic()
                subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
                times[mode].append(time.monotonic() - t0)
        out = sorted(glob.glob(os.path.join(tmp, "alpha", "*.png")))
        rows = {"kinora": ([], []), "blend": ([], []), "duplicate": ([], [])}
        for i in range(1, n - 1, 2):
            t = truth[i]
            k = np.asarray(Image.open(out[i]).convert("RGBA"))
            prev, nxt = truth[i - 1].astype(np.float64), truth[i + 1].astype(np.float64)
            blend = np.round((prev + nxt) / 2).astype(np.uint8)
            for name, img in (("kinora", k), ("blend", blend), ("duplicate", truth[i - 1])):
                rows[name][0].append(psnr(img[..., 3], t[..., 3]))
                rows[name][1].append(psnr(over_black(img), over_black(t)))
        h, w = frames[0].shape[:2]
        clear = np.mean([np.mean(t[..., 3] == 0) for t in truth])
        print("%s%s: %dx%d, %d frames, %d rebuilt; %.0f%% of the pixels clear" % (
            os.path.basename(video), " (noise under clear pixels)" if noise else "", w, h, n, len(rows["kinora"][0]),
            100 * clear))
        print("  %-10s %14s %18s" % ("method", "alpha PSNR dB", "over black PSNR dB"))
        for name, (a, c) in rows.items():
            print("  %-10s %14.3f %18.3f" % (name, np.mean(a), np.mean(c)))
        ta, tn = statistics.median(times["alpha"]), statistics.median(times["no-alpha"])
        print("  Kinora wall s (median of 3): %.2f with the alpha, %.2f without (%.2fx)" % (ta, tn, ta / tn))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
