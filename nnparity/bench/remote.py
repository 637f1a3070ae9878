"""The timing loop, run inside each implementation's own process (``Worker.call``).

``train`` (the implementation's own training loop: torch's, Keras's compiled ``fit``, the
reference's) over one epoch of full batches. The data is sent once per dtype (``load``) and kept
in the worker. The first epoch of each case is a warm-up (compilation, caches, page faults); every
timed epoch starts from a freshly built handle with the same weights, so each does identical work,
and that handle takes one batch before the clock starts: Keras compiles ``fit`` per compiled model,
and compiling is start-up, not training.
"""
from __future__ import annotations

import time

import numpy as np

from reference import spec as S
from reference.implementation import train

_DATA: dict[str, dict] = {}  # key -> the arrays ``load`` received, in this worker


def epoch_batches(order, batch_size: int) -> list:
    """``ceil(len(order) / batch_size)`` full batches in order, the last wrapping around to the start, so
    every step costs the same and fits every loop (``model.fit`` included)."""
    steps = -(-len(order) // batch_size)
    return list(np.resize(order, (steps, batch_size)))  # np.resize repeats the array cyclically


def load(impl, arrays: dict, key: str) -> tuple[dict, dict]:
    _DATA.clear()  # one dtype's data at a time: the full set is 190 MB in float32
    _DATA[key] = arrays
    return {}, {}


def time_epoch(impl, arrays: dict, key: str, spec: dict, dtype: str, device: str, batch_size: int, n_weights: int,
               warmup: bool = False) -> tuple[dict, dict]:
    """Seconds for one epoch on a fresh handle (after a whole untimed epoch first when ``warmup``)."""
    data, spec = _DATA[key], S.from_dict(spec, "bench")
    weights = [data[f"w{i}"] for i in range(n_weights)]
    x, y = data["x"], data["y"]
    batches = epoch_batches(data["order"], batch_size)
    warmup_seconds = None
    if warmup:
        started = time.perf_counter()
        train(impl, impl.build(spec, weights, dtype=dtype, device=device), x, y, batches)
        warmup_seconds = time.perf_counter() - started
    h = impl.build(spec, weights, dtype=dtype, device=device)
    train(impl, h, x, y, batches[:1])
    started = time.perf_counter()
    train(impl, h, x, y, batches)
    return {"seconds": time.perf_counter() - started, "warmup_seconds": warmup_seconds, "steps": len(batches)}, {}
