"""The timing loop, run inside each implementation's own process (``Worker.call``).

``train`` (the implementation's own training loop: torch's, Keras's compiled ``fit``, the
reference's) over one epoch of full batches: a warm-up epoch first (compilation, caches, page
faults), then ``repeats`` timed epochs, each on a freshly built handle from the same weights, so
every repeat does identical work. A fresh handle takes one batch before its clock starts: Keras
compiles ``fit`` per compiled model, and that compilation is start-up, not training.
"""
from __future__ import annotations

import time

import numpy as np

from reference import spec as S
from reference.implementation import train


def epoch_batches(order, batch_size: int) -> list:
    """``ceil(len(order) / batch_size)`` full batches in order, the last wrapping around to the start, so
    every step costs the same and fits every loop (``model.fit`` included)."""
    steps = -(-len(order) // batch_size)
    return list(np.resize(order, (steps, batch_size)))  # np.resize repeats the array cyclically


def time_training(impl, arrays: dict, spec: dict, dtype: str, device: str, batch_size: int, repeats: int,
                  n_weights: int) -> tuple[dict, dict]:
    spec = S.from_dict(spec, "bench")
    weights = [arrays[f"w{i}"] for i in range(n_weights)]
    x, y = arrays["x"], arrays["y"]
    batches = epoch_batches(arrays["order"], batch_size)

    def fresh():
        h = impl.build(spec, weights, dtype=dtype, device=device)
        train(impl, h, x, y, batches[:1])
        return h

    started = time.perf_counter()
    train(impl, fresh(), x, y, batches)
    warmup_seconds = time.perf_counter() - started
    seconds = []
    for _ in range(repeats):
        h = fresh()
        t = time.perf_counter()
        train(impl, h, x, y, batches)
        seconds.append(time.perf_counter() - t)
    return {"seconds": seconds, "warmup_seconds": warmup_seconds, "steps": len(batches)}, {}
