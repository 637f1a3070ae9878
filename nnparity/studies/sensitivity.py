"""The reference's own sensitivity over a study's long aligned run: how far two correct float64 runs land
apart when their starting weights differ by one rounding (as ``reference/judge.py``'s shadow run for the
parity trajectory, here over a whole training run).

A network in a chaotic regime amplifies any rounding step after step (the batch-normalised breast-cancer
networks with 100 or 1000 units: a relu unit that is almost constant over a batch has a variance near 0,
and batch normalization divides by its square root). There, frameworks that round differently land as far
apart as the reference does from itself, and their agreement can be judged only against that separation.
"""
from __future__ import annotations

import numpy as np

from reference import spec as S
from reference.batches import BatchSchedule
from reference.compare import compare
from reference.datasets import Data
from reference.network import Network


def one_rounding_away(weights: list[np.ndarray], seed: int = 1) -> list[np.ndarray]:
    """Each weight moved one ulp up or down at random; exact zeros stay zero (a zero nudged to 5e-324 would
    flip a relu at an exact 0 and read as chaos in a network that has none)."""
    rng = np.random.default_rng(seed)
    return [np.where(w == 0, w, np.nextafter(w, rng.choice([-1.0, 1.0], w.shape) * np.inf)) for w in weights]


def separation(spec: S.Spec, data: Data, weights: list[np.ndarray], epochs: int) -> float:
    """The max relative gap between the final weights and moving statistics of two float64 reference runs
    on the shared schedule, from ``weights`` and from one rounding away."""
    sched = BatchSchedule(len(data.x_train), spec.training.batch_size, epochs, spec.training.schedule_seed, spec.training.shuffle)
    b = spec.training.batch_size
    nets = [Network(spec, [np.asarray(w, np.float64) for w in start], dtype="float64")
            for start in (weights, one_rounding_away([np.asarray(w, np.float64) for w in weights]))]
    for e in range(epochs):
        order = sched.order(e)
        for i in range(0, len(order), b):
            for net in nets:
                net.step(data.x_train[order[i:i + b]], data.y_train[order[i:i + b]])
    finals = [net.weights() + net.state_values() for net in nets]
    return max(compare("", a, r).max_rel for a, r in zip(*finals))
