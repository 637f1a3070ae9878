"""The one batch schedule every implementation consumes, so trajectories compare step by step.

Epoch e visits the training rows in the order ``numpy.random.default_rng([seed, e]).permutation(n)``
(or ``0..n-1`` with ``shuffle = false``), cut into consecutive batches of ``batch_size``; the last,
partial batch is kept, as Keras's ``fit`` does. Seeding each epoch from ``[seed, e]`` makes any
epoch reproducible on its own. Golden files store the index arrays themselves, so another language
never has to reproduce NumPy's generator.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from reference.spec import Spec


@dataclass(frozen=True)
class Batch:
    epoch: int
    step: int  # 0-based, counted over the whole run
    indices: np.ndarray


@dataclass(frozen=True)
class BatchSchedule:
    n: int
    batch_size: int
    epochs: int
    seed: int
    shuffle: bool = True

    @classmethod
    def for_spec(cls, spec: Spec, n: int, epochs: int | None = None) -> BatchSchedule:
        t = spec.training
        return cls(n, t.batch_size, t.epochs if epochs is None else epochs, t.schedule_seed, t.shuffle)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def _batches(self, epochs: int | None) -> Iterator[Batch]:
        step, epoch = 0, 0
        while epochs is None or epoch < epochs:
            order = self.order(epoch)
            for start in range(0, self.n, self.batch_size):
                yield Batch(epoch, step, order[start : start + self.batch_size])
                step += 1
            epoch += 1

    def __iter__(self) -> Iterator[Batch]:
        return self._batches(self.epochs)

    def __len__(self) -> int:
        return self.epochs * self.steps_per_epoch

    def first(self, k: int) -> list[np.ndarray]:
        """The index arrays of the first k steps, running past ``epochs`` when k needs more."""
        out = []
        for batch in self._batches(None):
            if len(out) == k:
                break
            out.append(batch.indices)
        return out
