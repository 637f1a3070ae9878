"""Keras on JAX over N data-parallel replicas: ``keras.distribution.DataParallel`` over N host devices
(``--xla_force_host_platform_device_count``), one process, against the single-process reference on the global batch.

Under the distribution every variable is replicated on the N devices (``DataParallel``'s variable layout) and this
adapter puts each batch's rows on them in N contiguous shards (``NamedSharding(mesh, P("batch"))``: ``reference/
replicas.py``'s split, which on JAX must be equal parts). The jitted gradient is then one SPMD program: each device
computes its shard's part of the global batch's loss, and XLA inserts the all-reduce. So the loss is the global
batch's mean by construction: the per-replica-mean divergence of DDP and MirroredStrategy does not arise, and
batch normalization's statistics are the global batch's (a synchronised BatchNorm, with no layer to swap in).
The optimizer's update runs on the replicated gradients and weights, on every device alike.

The devices' copies of each variable are read back one by one (``replica_weights``: each ``addressable_shard``);
the ``replicas`` check compares them bitwise.

Declined (``supports``): a spec whose batches (the check batch of 64 rows, the schedule's batches and the epoch's
last, short one) do not split into N equal parts, because jax shards only equal parts.

Early stopping is the one-process ``fit``: Keras's own ``model.fit`` with its ``EarlyStopping`` callback, which under
the distribution shards every batch it reads over the devices itself (``keras/src/backend/jax/trainer.py``,
``_distribute_data``: the distribution's data layout, the batch dimension split).
"""
from __future__ import annotations

import keras
import numpy as np

from keras_impl.replicated_base import ReplicatedKeras
from reference import replicas
from reference.replica_network import per_replica


class ReplicatedKerasJax(ReplicatedKeras):
    """``KerasImplementation`` with every batch sharded over this process's N jax devices (module docstring)."""

    native_aspects = frozenset()

    def __init__(self):
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        super().__init__()
        if self.backend != "jax":
            raise RuntimeError(f"keras-jax replicas need KERAS_BACKEND=jax, not {self.backend}")
        self.world = jax.device_count()
        self.name = f"keras-jax-x{self.world}"
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
        self._rows = NamedSharding(Mesh(np.array(jax.devices()), ("batch",)), PartitionSpec("batch"))

    def supports(self, spec) -> str | None:
        why = super().supports(spec)
        if why is None and per_replica(spec):
            why = ("batch normalization with per-replica statistics: under keras.distribution the loss is one SPMD "
                   "program over the global batch, whose statistics are the global batch's (replica_statistics = "
                   "'global')")
        uneven = [r for r in replicas.batch_rows(spec) if r % self.world]
        if why is None and uneven:
            why = (f"batches of {', '.join(map(str, uneven))} rows over {self.world} replicas: jax shards a batch into "
                   "equal parts only (keras.distribution.DataParallel), so an uneven shard is not expressible")
        return why

    def _shard(self, a: np.ndarray):
        """``a``'s rows over the devices, contiguously."""
        import jax

        if len(a) % self.world:
            raise ValueError(f"a batch of {len(a)} rows does not split into {self.world} equal shards")
        return jax.device_put(a, self._rows)

    def replica_weights(self, h) -> list[list[np.ndarray]]:
        """Each device's copy of every weight, device 0's first."""
        self._live(h)
        per_device = [sorted(v.value.addressable_shards, key=lambda s: s.device.id) for v in h.built.weights]
        return [[np.array(shards[r].data) for shards in per_device] for r in range(self.world)]

