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
