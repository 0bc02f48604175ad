#!/usr/bin/python3
"""Variable frame rate: Kinora's `interpolate --fps` against FFmpeg's minterpolate on frames that
come at uneven times (docs/interpolation.md, "Variable frame rate").

The first FRAMES frames of VIDEO (decoded by Kinora) are relabelled 10 fps and frame n is dropped
when n % 6 is 1 or 2 or n % 9 is 4 (gaps of one to three frames; the last frame is kept). The kept
frames go into a lossless Matroska file (FFV1, RGB) at their own times. Both methods then make 10
fps from it, each placing the input by its timestamps, and both write PNG frames; each dropped
frame is scored (RGB PSNR, 8-bit) against the original, beside the blend and duplication of its
neighbours at its time. Wall times include decoding and writing PNGs for both.

usage: eval_interp_vfr.py VIDEO [FRAMES (121)] [--threads N (2)]
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from interp_score import KINORA, load, psnr, timed

MINTERPOLATE = "minterpolate=fps=10:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:me=epzs:vsbmc=1"


def dropped(n, last):
    return n != last and (n % 6 in (1, 2) or n % 9 == 4)


def main():
    args = [a for a in sys.argv[1:]]
    threads = "2"
    if "--threads" in args:
        i = args.index("--threads")
        threads = args[i + 1]
        del args[i:i + 2]
    if not args:
        sys.exit(__doc__)
    video, frames = args[0], int(args[1]) if len(args) > 1 else 121
    tmp = tempfile.mkdtemp(prefix="kn-vfr-")
    try:
        every = os.path.join(tmp, "every")
        subprocess.run([KINORA, "interpolate", video, "-o", every + "/", "--factor", "1", "--input-fps", "10"],
                       check=True, stderr=subprocess.DEVNULL)
        truth = os.path.join(tmp, "truth")
        os.mkdir(truth)
        names = sorted(os.listdir(every))[:frames]
        n = len(names)
        for i, name in enumerate(names):
            shutil.move(os.path.join(every, name), os.path.join(truth, "%05d.png" % i))
        keep = "+".join("eq(n\\,%d)" % i for i in range(n) if not dropped(i, n - 1))
        vfr = os.path.join(tmp, "vfr.mkv")
        subprocess.run(["ffmpeg", "-v", "error", "-framerate", "10", "-i", os.path.join(truth, "%05d.png"),
                        "-vf", "select='%s'" % keep, "-fps_mode", "passthrough", "-c:v", "ffv1", "-pix_fmt", "bgr0",
                        vfr], check=True)
        kin, mi = os.path.join(tmp, "kinora"), os.path.join(tmp, "minterpolate")
        os.mkdir(mi)
        wall = {
            "kinora": timed([KINORA, "interpolate", vfr, "-o", kin + "/", "--fps", "10", "--threads", threads]),
            "minterpolate": timed(["ffmpeg", "-v", "error", "-threads", threads, "-filter_threads", threads, "-i", vfr,
                                   "-vf", MINTERPOLATE, "-start_number", "0", os.path.join(mi, "%05d.png")]),
        }
        kept = [i for i in range(n) if not dropped(i, n - 1)]
        scores = {"kinora": [], "minterpolate": [], "blend": [], "duplicate": []}
        for i in range(n):
            if i in kept:
                continue
            a, b = max(k for k in kept if k < i), min(k for k in kept if k > i)
            w = (i - a) / (b - a)
            t, fa, fb = (load(os.path.join(truth, "%05d.png" % k)) for k in (i, a, b))
            scores["blend"].append(psnr(np.round((1 - w) * fa + w * fb), t))
            scores["duplicate"].append(psnr(fa if w <= 0.5 else fb, t))
            for method, folder in (("kinora", kin), ("minterpolate", mi)):
                p = os.path.join(folder, "%05d.png" % i)
                scores[method].append(psnr(load(p), t) if os.path.exists(p) else float("nan"))
        print("%s: %d frames, %d kept at uneven times, %d rebuilt" % (video, n, len(kept), n - len(kept)))
        for method, s in scores.items():
            extra = "  wall %.2f s" % wall[method] if method in wall else ""
            print("  %-12s %7.3f dB%s" % (method, np.mean(s), extra))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
