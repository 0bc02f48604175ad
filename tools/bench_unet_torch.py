#!/usr/bin/python3
"""PyTorch peer of bench/bench_unet.c: the same UNet call (this repository's independent reference
of UNet2DConditionModel + AnimateDiff motion modules, tools/torch_unet_ref.py, proven against
../shared/testvectors by its `verify` command) on the same folder pair and the same inputs, read from
the IO file bench_unet wrote. Weights are loaded as stored and computed in f32. Prints the median of
REPS calls after one warm-up, the peak resident memory, and the largest difference from Kinora's
output.

usage: bench_unet_torch.py UNET_DIR MOTION_DIR IO_FILE [threads=2] [reps=3]
"""
import resource
import statistics
import sys
import time
import os

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_unet_ref as R  # noqa: E402


def main():
    ud, md, iof = sys.argv[1], sys.argv[2], sys.argv[3]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    cfg, P = R.load_folder(ud)
    mcfg, M = R.load_folder(md)
    # compute in f32, as Kinora does: convert each stored tensor once
    for d in (P.sd, M.sd):
        for k in d:
            d[k] = d[k].float()
    t_open = time.perf_counter() - t0
    io = R.st_load(iof)
    x, ctx, t, ref = io["sample"], io["context"], io["timestep"], io["out"]
    times = []
    with torch.no_grad():
        for r in range(reps + 1):
            a = time.perf_counter()
            out = R.unet_forward(cfg, P, M, x, t, ctx, R.motion_of(mcfg))
            dt = time.perf_counter() - a
            print(f"torch call {r}: {dt:.2f} s{' (warm-up)' if r == 0 else ''}", file=sys.stderr, flush=True)
            if r > 0:
                times.append(dt)
    diff = (out - ref).abs().max().item()
    scale = ref.abs().max().item()
    print(f"torch_unet_call_s {statistics.median(times):.3f}")
    print(f"torch_peak_rss_mib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    print(f"torch_open_s {t_open:.2f}")
    print(f"max_abs_diff {diff:.3e} (output max |x| {scale:.3e})")


if __name__ == "__main__":
    main()
