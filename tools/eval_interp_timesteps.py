#!/usr/bin/python3
"""Other timesteps: Kinora's `interpolate --factor N` against FFmpeg's minterpolate at N times the
rate, scored at t = 1/N, 2/N, ... (docs/interpolation.md, "Other timesteps").

The first FRAMES frames of each VIDEO (decoded by the ffmpeg tool into PNG files, each stored frame
once) are the truth; every N-th of them is kept. Both methods make the frames between the kept ones
from a PNG folder of those (minterpolate reading them at 10 fps and writing 10 N fps with the issue's
settings) and write PNG frames: output frame k of either is input frame k. Scored (mean RGB PSNR, 8-bit) on the gaps that
minterpolate fills completely, beside the linear blend; wall times include reading and writing PNGs
for both.

usage: eval_interp_timesteps.py VIDEO... [--factor N (4)] [--frames N (121)] [--threads N (2)]
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from interp_score import KINORA, load, psnr, timed

MI = "minterpolate=fps=%d:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:me=epzs:vsbmc=1"


def option(args, name, default):
    if name in args:
        i = args.index(name)
        value = int(args[i + 1])
        del args[i:i + 2]
        return value
    return default


def one(video, factor, frames, threads, tmp):
    png = lambda folder, i: os.path.join(tmp, folder, "%05d.png" % i)
    for folder in ("all", "kept", "mi"):
        os.makedirs(os.path.join(tmp, folder))
    # every stored frame once (passthrough: no frame repeated to fill a steady rate's grid)
    subprocess.run(["ffmpeg", "-v", "error", "-i", video, "-frames:v", str(frames), "-fps_mode", "passthrough",
                    "-start_number", "0", png("all", 0).replace("00000", "%05d")], check=True)
    n = len(os.listdir(os.path.join(tmp, "all")))
    for j, i in enumerate(range(0, n, factor)):
        os.link(png("all", i), png("kept", j))
    wall = {
        "kinora": timed([KINORA, "interpolate", os.path.join(tmp, "kept"), "-o", os.path.join(tmp, "kin") + "/",
                         "--factor", str(factor), "--threads", threads]),
        "minterpolate": timed(["ffmpeg", "-v", "error", "-threads", threads, "-filter_threads", threads,
                               "-framerate", "10", "-i", png("kept", 0).replace("00000", "%05d"),
                               "-vf", MI % (10 * factor), "-start_number", "0", png("mi", 0).replace("00000", "%05d")]),
    }
    scores = {m: [[] for _ in range(factor - 1)] for m in ("kinora", "minterpolate", "blend")}
    for a in range(0, n - factor, factor):
        if not os.path.exists(png("mi", a + factor - 1)):   # minterpolate stops early
            break
        fa, fb = load(png("all", a)), load(png("all", a + factor))
        for r in range(1, factor):
            truth, t = load(png("all", a + r)), r / factor
            scores["blend"][r - 1].append(psnr(np.round((1 - t) * fa + t * fb), truth))
            scores["kinora"][r - 1].append(psnr(load(png("kin", a + r)), truth))
            scores["minterpolate"][r - 1].append(psnr(load(png("mi", a + r)), truth))
    gaps = len(scores["blend"][0])
    print("%s: %d frames, every %dth kept, %d gaps scored; PSNR dB at t = %s" %
          (video, n, factor, gaps, " / ".join("%d/%d" % (r, factor) for r in range(1, factor))))
    for method, s in scores.items():
        extra = "  wall %.2f s" % wall[method] if method in wall else ""
        print("  %-12s %s%s" % (method, " / ".join("%.3f" % np.mean(x) for x in s), extra))


def main():
    args = sys.argv[1:]
    factor = option(args, "--factor", 4)
    frames = option(args, "--frames", 121)
    threads = str(option(args, "--threads", 2))
    if not args or factor < 2:
        sys.exit(__doc__)
    for video in args:
        tmp = tempfile.mkdtemp(prefix="kn-steps-")
        try:
            one(video, factor, frames, threads, tmp)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
