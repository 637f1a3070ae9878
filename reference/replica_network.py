r"""The reference over N replicas whose batch normalization is **per replica** (``BatchNorm.replica_statistics =
"per-replica"``, torch DDP's default): each replica normalizes its own shard of the batch (``replicas.shards``) by
that shard's mean and variance, and the replicas' gradients are combined into the global batch's.

With shard r's rows :math:`I_r` and its own batch statistics, replica r's part of the loss is
:math:`\sum_{i \in I_r} \ell_i / D` (D the global batch's denominator: B for a mean, the global weight sum for a
weighted mean over the weights, 1 for a sum), so

.. math:: C = \sum_r c_r\, C_r^{\mathrm{data}} + \lambda \sum \lVert W \rVert^2, \qquad c_r = D_r / D,
          \qquad \nabla C = \sum_r c_r\, (\nabla C_r - 2\lambda W) + 2\lambda W

where :math:`C_r` is the network's own loss on the shard alone (its data term reduced over the shard: denominator
:math:`D_r`), L2 term included once. That is the gradient DDP's average of the replicas' :math:`N/B`-scaled losses
gives (``reference/replicas.py``), with each replica's statistics its own.

The moving statistics are **replica 0's**: DDP broadcasts rank 0's buffers to every replica before each forward
(``broadcast_buffers=True``), so what every replica starts a step from, and what inference normalizes by, is the
moving average of shard 0's statistics. With one replica, or global statistics, this is ``Network`` itself.
"""
from __future__ import annotations

import numpy as np

from reference import replicas
from reference.network import Network, Trace


def per_replica(spec) -> bool:
    """Whether ``spec`` has a batch normalization with per-replica statistics."""
    return any(layer.type == "batch_norm" and layer.replica_statistics == "per-replica" for layer in spec.layers)


class PerReplicaNetwork(Network):
    """``Network`` whose training-mode passes run shard by shard (module docstring)."""

    def __init__(self, spec, weights=None, dtype=None, *, replicas_n: int, **kwargs):
        super().__init__(spec, weights, dtype, **kwargs)
        self.replicas = replicas_n
        self._in_shard = False  # inside one shard's pass: Network's own, unsplit

    def _shard_args(self, part: slice, y, masks, sample_weight):
        masks = None if masks is None else {k: m[part] for k, m in masks.items()}
        return y[part], masks, None if sample_weight is None else sample_weight[part]

    def forward(self, x, *, training=False, masks=None, buffers=None) -> Trace:
        """Inference: ``Network``'s (replica 0's moving statistics). Training: each shard's outputs, in row order."""
        if not training or self._in_shard:
            return super().forward(x, training=training, masks=masks, buffers=buffers)
        traces = []
        for part in replicas.shards(len(x), self.replicas):
            if part.stop > part.start:
                ms = None if masks is None else {k: m[part] for k, m in masks.items()}
                traces.append(super().forward(x[part], training=True, masks=ms))
        return [(np.concatenate([t[i][0] for t in traces]), None) for i in range(len(self.slots))]

    def loss(self, x, y, trace=None, *, masks=None, sample_weight=None) -> float:
        if trace is None and not self._in_shard:
            return self._backprop(x, y, masks, None, sample_weight)[0]
        return super().loss(x, y, trace, masks=masks, sample_weight=sample_weight)

    def _denominator(self, y, sample_weight, rows: int) -> float:
        """D: what the spec's reduction divides the batch's summed losses by (module docstring)."""
        loss = self.spec.loss
        if loss.reduction == "sum":
            return 1.0
        w = self._row_weights(y, sample_weight)
        return float(np.sum(w)) if w is not None and loss.weighted_reduction == "mean_with_sample_weight" else float(rows)

    def _backprop(self, x, y, masks, buffers, sample_weight=None):
        if self._in_shard:
            return super()._backprop(x, y, masks, buffers, sample_weight)
        x = np.asarray(x, dtype=self.dtype)
        total = self._denominator(y, sample_weight, len(x))
        penalty = self._penalty()
        l2 = self._l2_grads()
        loss, grads, first = 0.0, None, None
        self._in_shard = True
        try:
            for part in replicas.shards(len(x), self.replicas):
                if part.stop == part.start:
                    continue
                ys, ms, ws = self._shard_args(part, y, masks, sample_weight)
                c = self._denominator(ys, ws, part.stop - part.start) / total
                loss_r, grads_r, trace_r = super()._backprop(x[part], ys, ms, None, ws)
                first = trace_r if first is None else first
                loss += c * (loss_r - penalty)
                parts = [c * (g - l) for g, l in zip(grads_r, l2)]
                grads = parts if grads is None else [a + b for a, b in zip(grads, parts)]
        finally:
            self._in_shard = False
        return float(loss + penalty), [g + l for g, l in zip(grads, l2)], first  # state: replica 0's (shard 0's trace)

    def _l2_grads(self) -> list[np.ndarray]:
        """2 lambda W for every weight with an L2 factor, zeros elsewhere."""
        out = [np.zeros_like(p) for p in self.params]
        for s in self.slots:
            for name, l2 in s.l2.items():
                out[s.params[name]] = 2 * l2 * self.params[s.params[name]]
        return out
