"""torch's replicated adapter with one data-parallel mistake each, as users make them (reference/replicas.py):
parity_tests/test_replicas.py asserts the check that catches each."""
from __future__ import annotations

import torch
import torch.distributed as dist

from reference import replicas, weighting
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


class LocalWeightSum(ReplicatedTorch):
    """A weighted mean (``mean_with_sample_weight``) divided by each replica's own rows' weight sum, then averaged by
    DDP: torch's ``CrossEntropyLoss(weight=...)`` on each shard, as a one-process loop becomes on every replica. The
    global weighted mean only where every shard's weights sum alike."""

    def _loss_scale(self, th, arrays) -> float:
        local = self._shard(arrays)[1]
        return 1.0 / float(weighting.row_weights(th.spec, local["y"], local.get("sample_weight")).sum())


class ValidationOnShard(ReplicatedTorch):
    """Early stopping on replica 0's shard of the validation rows (its ``DistributedSampler`` part), its mean
    broadcast so that the replicas still stop together: the monitored loss of a part of the validation set."""

    def _validation_loss(self, h, x_val, y_val) -> float:
        th = h.torch
        part = replicas.shards(len(x_val), self.world)[0]
        with torch.no_grad():
            z = th.model.logits(self._tensor(th, x_val[part]), training=False)
            mean = losses.data_loss(th.spec.loss.name, th.spec.loss.reduction, z, th.model.head(z),
                                    self._tensor(th, y_val[part])) + self._penalty(th)
        dist.broadcast(mean, 0)
        return float(mean.item())
