"""What the two Keras engines over N devices of one process share (``replicated_jax.py``, ``replicated_tensorflow.py``):
the CPU devices, one data-parallel ``step`` per batch, and every array of a batch placed on the replicas by the
engine's own ``_shard``."""
from __future__ import annotations

import numpy as np

from keras_impl.implementation import KerasImplementation


class ReplicatedKeras(KerasImplementation):
    world: int  # the replicas

    def devices(self) -> list[str]:
        return ["cpu"]

    def _shard(self, a: np.ndarray):
        """``a``'s rows over the replicas, as the engine's functions take them."""
        raise NotImplementedError

    def _place(self, a):
        """``a``'s rows over the replicas (a list of inputs: each of them)."""
        if isinstance(a, list):
            return [self._place(t) for t in a]
        return None if a is None else self._shard(np.asarray(a))

    def train(self, h, x, y, batches):
        """One data-parallel ``step`` per batch: the steps the checks verify (on TensorFlow, ``model.fit`` under the
        strategy does not take the shared schedule's batches one step each: ``ReplicatedKerasTensorflow.fit``)."""
        weights = self.weights(h)
        for idx in batches:
            weights = self.step(h, x[idx], y[idx])
        return weights
