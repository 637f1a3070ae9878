"""torch's replicated adapter with one data-parallel mistake each, as users make them (reference/replicas.py):
parity_tests/test_replicas.py asserts the check that catches each."""
from __future__ import annotations

from reference.native import Native
from torch_impl import losses
from torch_impl.replicated import ReplicatedTorch


class MeanOfMeans(ReplicatedTorch):
    """Each replica's loss the mean over its own rows (criterion(model(x_r), y_r)), which DDP then averages: the
    global mean only when the shards are equal. The adapter's own native form of it (``Native.DDP_LOCAL_MEAN``, what
    ``nnparity divergences --topic data-parallel`` measures), here left on in aligned cells."""

    def _build(self, h, arrays, spec, dtype, device, native=()):
        return super()._build(h, arrays, spec, dtype, device, native=[Native.DDP_LOCAL_MEAN.key])


class Unsynchronised(ReplicatedTorch):
    """The model stepped without its DDP wrapper: each replica on its own shard's gradient, no all-reduce."""

    def _replica_loss(self, h, arrays, local=None):
        th, spec = h.torch, h.spec
        local = self._shard(arrays)[1] if local is None else local
        x, y = self._tensor(th, local["x"]), self._tensor(th, local["y"])
        z = th.model.logits(x, training=True, masks=self._masks(th, self._local_masks(local)))
        mean = losses.data_loss(spec.loss.name, spec.loss.reduction, z, th.model.head(z), y)
        return mean, mean.detach() / self.world
