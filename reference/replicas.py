r"""Data-parallel training against the reference on the global batch: how a batch is split over N replicas, and
what each replica's loss must be so that the frameworks' gradient averaging gives the global gradient.

**The split.** Every batch of the shared schedule (``reference/batches.py``) is cut into N contiguous shards in
row order, the first :math:`B \bmod N` replicas one row more (``numpy.array_split``): replica r trains on rows
:math:`[s_r, s_{r+1})`. An uneven batch (the last, short batch of an epoch; a batch smaller than N leaves some
replicas no rows) is split the same way; nothing is padded or repeated (``DistributedSampler`` pads an epoch by
repeating rows: a divergence, not this split).

**The loss each replica back-propagates.** A framework's data-parallel step averages the replicas' gradients
(torch ``DistributedDataParallel``, Keras's strategies). With per-sample losses :math:`\ell_i` and the spec's
mean over the global batch of B rows, replica r back-propagates

.. math:: C_r = \frac{N}{B} \sum_{i \in r} \ell_i + \lambda \sum \lVert W \rVert^2

so that the average :math:`\frac1N \sum_r \nabla C_r = \nabla\big(\frac1B \sum_i \ell_i\big) + 2\lambda W` is the
reference's gradient exactly, whatever the shards' sizes (the L2 term, the same on every replica, averages to
itself); a summed loss (``reduction = "sum"``) takes :math:`N \sum_{i \in r} \ell_i`. Weighted rows
(``reference/weighting.py``) take :math:`\frac{N}{D} \sum_{i \in r} w_i \ell_i` with the *global* batch's
denominator D: B for ``sum_over_batch_size``, :math:`\sum_i w_i` over all B rows for ``mean_with_sample_weight``
(every replica holds the whole batch's weights, so no collective is needed for it). The mean of the replicas'
own means (:math:`\frac1N \sum_r \frac{1}{B_r}\sum_{i\in r}\ell_i`) is the global mean only when the shards are
equal: the uneven-batch divergence. The loss reported is :math:`\sum_r \frac1B \sum_{i\in r}\ell_i` plus the L2
term, once.

**Rounding.** The shards' partial sums and their all-reduce are another order of the same B-term sum, which the
gradient bound already covers (:math:`\sqrt{nB}`, any order); the scaling by :math:`N/B` and the average's
division by N add two roundings, and the all-reduce's N - 1 additions at most :math:`(N-1)u` of the gradient's
operand scale: ``tolerance.replica_term``. The replicas end each step with the same averaged gradient, the same
optimizer and the same weights: their weights agree bitwise (``replicas`` check).
"""
from __future__ import annotations

import numpy as np


def shards(rows: int, replicas: int) -> list[slice]:
    """Replica r's rows of a batch of ``rows``: contiguous, the first ``rows % replicas`` one row more."""
    base, extra = divmod(rows, replicas)
    out, start = [], 0
    for r in range(replicas):
        stop = start + base + (1 if r < extra else 0)
        out.append(slice(start, stop))
        start = stop
    return out


def loss_scale(reduction: str, rows: int, replicas: int, denominator: float | None = None) -> float:
    """The factor on a replica's *summed* (weighted) per-sample losses: N / D for the spec's mean (D the global
    batch's ``denominator``, its rows B unless given: a weighted mean's weight sum), N for its sum."""
    return replicas / (rows if denominator is None else denominator) if reduction == "mean" else float(replicas)


def take(a: np.ndarray | None, part: slice):
    return None if a is None else a[part]


def batch_rows(spec) -> list[int]:
    """Every batch size the checks hand a step or a gradient: the check batch, the schedule's and the epoch's last,
    over the pool ``make_case`` draws (the first ``POOL_ROWS`` training rows, fewer for a small dataset)."""
    from reference import datasets
    from reference.checks.case import CHECK_ROWS, POOL_ROWS

    pool = len(datasets.for_spec(spec, dtype=np.float64, train_rows=POOL_ROWS).x_train)
    batch = min(spec.training.batch_size, pool)
    return sorted({min(CHECK_ROWS, pool), batch} | ({pool % batch} if pool % batch else set()))


def smallest_shard(spec, replicas: int) -> int:
    """The fewest rows any replica gets of any batch the checks hand it."""
    return min(rows // replicas for rows in batch_rows(spec))
