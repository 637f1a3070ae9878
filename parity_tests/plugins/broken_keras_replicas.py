"""Keras on TensorFlow's replicated adapter with its data-parallel default left on in aligned cells:
parity_tests/test_replicas.py asserts the check that catches it."""
from __future__ import annotations

from keras_impl.replicated_tensorflow import ReplicatedKerasTensorflow
from reference.native import Native


class KerasLocalMean(ReplicatedKerasTensorflow):
    """Keras's own loss object on each replica (``Native.KERAS_LOCAL_MEAN``): its local mean divided by N, summed by
    the all-reduce, which is the global mean only when the shards are equal."""

    def build(self, spec, weights, *, dtype, device, native=frozenset()):
        return super().build(spec, weights, dtype=dtype, device=device, native={Native.KERAS_LOCAL_MEAN})


class KerasReplicaClip(ReplicatedKerasTensorflow):
    """Keras's clipping as it is under the strategy (``Native.KERAS_REPLICA_CLIP``): each replica's own part of the
    gradient clipped, then the parts summed by the all-reduce."""

    def build(self, spec, weights, *, dtype, device, native=frozenset()):
        return super().build(spec, weights, dtype=dtype, device=device, native={Native.KERAS_REPLICA_CLIP})
