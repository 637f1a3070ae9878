"""The reference's losses with torch's functional losses, reduced as the reference reduces.

The reference's per-sample loss is a mean over the outputs for ``binary_crossentropy`` and ``mse``
(as Keras), so torch's ``reduction="sum"`` over all elements is divided by the number of outputs.
The cross-entropies take the logits (``F.cross_entropy`` accepts one-hot probability targets).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _per_batch(total: torch.Tensor, rows: int, reduction: str) -> torch.Tensor:
    return total / rows if reduction == "mean" else total


# name -> (z, a, y, reduction) -> C before the L2 term, from the logits z (cross-entropies) or the outputs a
LOSSES = {
    "categorical_crossentropy": lambda z, a, y, r: F.cross_entropy(z, y, reduction=r),
    "sparse_categorical_crossentropy": lambda z, a, y, r: F.cross_entropy(z, y, reduction=r),
    "binary_crossentropy": lambda z, a, y, r: _per_batch(F.binary_cross_entropy_with_logits(z, y, reduction="sum") / z.shape[-1], len(z), r),
    "mse": lambda z, a, y, r: _per_batch(F.mse_loss(a, y, reduction="sum") / a.shape[-1], len(a), r),
    "half_sse": lambda z, a, y, r: _per_batch(0.5 * F.mse_loss(a, y, reduction="sum"), len(a), r),
}


def data_loss(name: str, reduction: str, z: torch.Tensor, a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C before the L2 term, from the logits z (cross-entropies) or the outputs a (squared errors)."""
    return LOSSES[name](z, a, y, reduction)


def probability_loss(name: str, reduction: str, a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Native mode ``probabilities``: the loss on the output probabilities, as a port of Keras's
    ``Dense(activation='softmax')`` + cross-entropy is often written: ``nll_loss(log p)`` (no clipping:
    p = 0 gives inf) and ``nn.BCELoss`` (which clamps each log at -100)."""
    if name == "categorical_crossentropy":
        return F.nll_loss(torch.log(a), y.argmax(dim=-1), reduction=reduction)
    if name == "sparse_categorical_crossentropy":
        return F.nll_loss(torch.log(a), y, reduction=reduction)
    if name == "binary_crossentropy":
        total = F.binary_cross_entropy(a, y, reduction="sum") / a.shape[-1]
        return total / len(a) if reduction == "mean" else total
    return data_loss(name, reduction, a, a, y)


# name -> (z, a, y) -> the per-sample losses (reduction="none"), for weighting row by row
PER_SAMPLE = {
    "categorical_crossentropy": lambda z, a, y: F.cross_entropy(z, y, reduction="none"),
    "sparse_categorical_crossentropy": lambda z, a, y: F.cross_entropy(z, y, reduction="none"),
    "binary_crossentropy": lambda z, a, y: F.binary_cross_entropy_with_logits(z, y, reduction="none").mean(dim=-1),
    "mse": lambda z, a, y: F.mse_loss(a, y, reduction="none").mean(dim=-1),
    "half_sse": lambda z, a, y: 0.5 * F.mse_loss(a, y, reduction="none").sum(dim=-1),
}


def _class_weight_native(loss, class_weight) -> bool:
    """Whether torch's own ``weight=`` gives the spec's weighted loss. ``F.cross_entropy(weight=w)`` sums
    :math:`w_{y_n} \\ell_n`; with ``reduction="mean"`` it divides by :math:`\\sum_n w_{y_n}` for class-index targets
    (mean_with_sample_weight) but by N for class-probability (one-hot) targets (sum_over_batch_size)."""
    if class_weight is None:
        return False
    if loss.reduction == "sum":
        return loss.name in ("categorical_crossentropy", "sparse_categorical_crossentropy")
    return (loss.name, loss.weighted_reduction) in (("categorical_crossentropy", "sum_over_batch_size"),
                                                    ("sparse_categorical_crossentropy", "mean_with_sample_weight"))


def weighted_loss(loss, z: torch.Tensor, a: torch.Tensor, y: torch.Tensor, class_weight: torch.Tensor | None,
                  sample_weight: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor:
    """C before the L2 term under class or sample weights (``reference/weighting.py``): torch's ``weight=`` where it
    means the spec's weighted mean (``_class_weight_native``), else the per-sample losses weighted and reduced, the
    way torch users write a weighted loss that ``weight=`` cannot express (``reduction="none"``)."""
    if _class_weight_native(loss, class_weight):
        return F.cross_entropy(z, y, weight=class_weight, reduction=loss.reduction)
    return reduce_weighted(loss, loss.reduction, z, a, y, sample_weight if sample_weight is not None else class_weight[labels])


def reduce_weighted(loss, reduction: str, z: torch.Tensor, a: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The rows' per-sample losses weighted by ``w`` and reduced: summed (``reduction = "sum"``), or divided by the
    rows (``sum_over_batch_size``) or by their weights' sum (``mean_with_sample_weight``)."""
    total = (w * PER_SAMPLE[loss.name](z, a, y)).sum()
    if reduction == "sum":
        return total
    return total / (len(z) if loss.weighted_reduction == "sum_over_batch_size" else w.sum())
