"""What the interpolation comparisons in tools/ share: reading a frame, scoring it (RGB PSNR, 8-bit,
as `kinora eval-interp` does) and timing a command."""
import os
import subprocess
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINORA = os.path.join(ROOT, "build", "kinora")


def load(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def psnr(a, b):
    mse = ((a - b) ** 2).mean()
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def timed(cmd):
    """Wall seconds of cmd, which must succeed (its output is discarded)."""
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0
