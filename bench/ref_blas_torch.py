"""Reference throughput for scripts/bench.sh: OpenBLAS sgemm through numpy (x @ W.T, the kn_linear
layout) and torch.nn.functional.conv2d, at the shapes of bench_ops.c. Prints lines in the same format
as bench_ops: "gemm M N K GFLOPS" / "conv B C H W Cout k GFLOPS" (median of reps runs after a warm-up),
"attn B L H dh GFLOPS", "gn B C S G MS", "silu N MS", plus "blas_core NAME" (the OpenBLAS kernel in use) and "torch_threads N".
Usage: /usr/bin/python3 bench/ref_blas_torch.py {gemm|conv|other} THREADS REPS"""
import ctypes
import statistics
import sys
import time


def blas_core(np):
    try:
        from numpy.core import _multiarray_umath as m  # noqa: F401  (loads libopenblas)
    except Exception:
        pass
    for name in ("libopenblas.so.0", "libopenblasp-r0.3.21.so", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name)
            f = lib.openblas_get_corename
            f.restype = ctypes.c_char_p
            return f().decode()
        except (OSError, AttributeError):
            continue
    return "unknown"


def timed(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    what, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if what == "gemm":
        import numpy as np
        print("blas_core", blas_core(np))
        rng = np.random.default_rng(0)
        for M, N, K in ((4096, 320, 320), (1024, 640, 1280), (256, 1280, 1280), (4096, 1280, 320)):
            a = rng.standard_normal((M, K), dtype=np.float32)
            w = rng.standard_normal((N, K), dtype=np.float32)
            out = np.empty((M, N), dtype=np.float32)
            t = timed(lambda: np.matmul(a, w.T, out=out), reps)
            print(f"gemm {M} {N} {K} {2.0 * M * N * K / t * 1e-9:.1f}", flush=True)
    if what == "conv":
        import torch
        torch.set_num_threads(threads)
        print("torch_threads", torch.get_num_threads())
        with torch.no_grad():
            for B, C, H, W, Co in ((16, 320, 32, 32, 320), (16, 640, 16, 16, 640), (16, 1280, 8, 8, 1280)):
                x = torch.randn(B, C, H, W)
                w = torch.randn(Co, C, 3, 3)
                b = torch.randn(Co)
                t = timed(lambda: torch.nn.functional.conv2d(x, w, b, padding=1), min(reps, 5))
                print(f"conv {B} {C} {H} {W} {Co} 3 {2.0 * B * Co * H * W * C * 9 / t * 1e-9:.1f}", flush=True)
    if what == "other":
        import torch
        torch.set_num_threads(threads)
        with torch.no_grad():
            # self-attention as torch 1.13 computes it without SDPA: softmax(q k^T * scale) v, per head
            B, L, H, dh = 1, 4096, 8, 40
            q, k, v = (torch.randn(B * H, L, dh) for _ in range(3))
            t = timed(lambda: torch.softmax(q @ k.transpose(1, 2) * dh ** -0.5, dim=-1) @ v, min(reps, 3))
            print(f"attn {B} {L} {H} {dh} {4.0 * B * H * L * L * dh / t * 1e-9:.1f}", flush=True)
            x = torch.randn(16, 320, 32, 32)
            g, b = torch.randn(320), torch.randn(320)
            t = timed(lambda: torch.nn.functional.group_norm(x, 32, g, b, 1e-5), reps)
            print(f"gn 16 320 1024 32 {t * 1e3:.3f}", flush=True)
            t = timed(lambda: torch.nn.functional.silu(x), reps)
            print(f"silu {x.numel()} {t * 1e3:.3f}", flush=True)


if __name__ == "__main__":
    main()
