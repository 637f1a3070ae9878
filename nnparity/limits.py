"""Sizes a run cannot have: refused before any work, with the memory the spec would need.

A parity case holds every parameter several times over (the weights, the large-logits weights, the
gradients, the optimizer's state, the reference's buffers and each worker's copy), and a trajectory
of K steps keeps up to ``SAMPLE`` elements of every tensor per step and one batch of indices per step.
A spec with 10^12 units, or ``--steps 10**12``, would die with a MemoryError (or numpy's "maximum
allowed dimension exceeded") minutes in; here it is one paragraph at once.
"""
from __future__ import annotations

import os

import numpy as np

from reference.checks import SAMPLE
from reference.errors import UserError

COPIES = 12  # float64 copies of the parameters a case may hold at once, across the main process and a worker


def available_memory() -> int:
    """Bytes this machine can still give (MemAvailable on Linux; physical memory elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n < 2**70 else f"about 2^{n.bit_length()} bytes"


def case_bytes(spec, steps: int) -> int:
    """What a parity case of ``spec`` with a ``steps``-step trajectory holds, at most (Python ints: no overflow)."""
    from reference.weights import layer_tensors

    sizes = [int(np.prod(t.shape, dtype=object)) for _, t in layer_tensors(spec)]
    per_step = sum(min(s, SAMPLE) for s in sizes) * 8 * 3 + spec.training.batch_size * 8  # answer, reference, shadow
    return COPIES * 8 * sum(sizes) + steps * per_step


def require_memory(spec, steps: int, label: str) -> None:
    need, have = case_bytes(spec, steps), available_memory()
    if need > have:
        biggest = max(enumerate(w for _, w in spec.layer_sizes()), key=lambda t: t[1])
        raise UserError(f"{label}: a parity case of this spec with a {steps:,}-step trajectory needs about {_gib(need)} "
                        f"of memory and this machine has {_gib(have)} available (its widest layer, layers[{biggest[0]}], "
                        f"has {biggest[1]:,} units). Use fewer units or fewer --steps.")
