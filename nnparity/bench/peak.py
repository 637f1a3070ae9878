"""The machine's own matmul peak, measured in the same run: the best of several large square products.

A product of two n x n matrices costs 2 n^3 flops; n = 2048 keeps one product near 0.1 s on a CPU,
long enough to time and short enough to repeat. On the CPU, NumPy (its OpenBLAS) and torch (its own
BLAS) are both measured and the peak is the faster of the two, per dtype; on CUDA, torch with TF32
off (the parity checks' setting), synchronised around each product.
"""
from __future__ import annotations

import time

import numpy as np

SIZE = 2048
REPEATS = 5


def _best(fn, repeats: int, sync=lambda: None) -> float:
    fn()  # warm-up: thread pools, page faults, kernels
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return min(times)


def measure(device: str = "cpu", size: int = SIZE, repeats: int = REPEATS) -> dict:
    """{"size", "device", "gflops": {dtype: {"numpy"?, "torch"?, "peak"}}}."""
    flops = 2.0 * size**3
    out = {"size": size, "device": device, "gflops": {}}
    for dtype in ("float32", "float64"):
        a = np.random.default_rng(0).standard_normal((size, size)).astype(dtype)
        b = np.random.default_rng(1).standard_normal((size, size)).astype(dtype)
        per = {}
        if device == "cpu":
            per["numpy"] = flops / _best(lambda a=a, b=b: a @ b, repeats) / 1e9
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None and (device == "cpu" or torch.cuda.is_available()):
            torch.backends.cuda.matmul.allow_tf32 = False
            ta, tb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
            sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
            per["torch"] = flops / _best(lambda ta=ta, tb=tb: ta @ tb, repeats, sync) / 1e9
        out["gflops"][dtype] = {**per, "peak": max(per.values()) if per else None}
    return out
