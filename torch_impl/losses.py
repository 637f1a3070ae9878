"""The reference's losses with torch's functional losses, reduced as the reference reduces.

The reference's per-sample loss is a mean over the outputs for ``binary_crossentropy`` and ``mse``
(as Keras), so torch's ``reduction="sum"`` over all elements is divided by the number of outputs.
The cross-entropies take the logits (``F.cross_entropy`` accepts one-hot probability targets).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def data_loss(name: str, reduction: str, z: torch.Tensor, a: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C before the L2 term, from the logits z (cross-entropies) or the outputs a (squared errors)."""
    outputs = z.shape[-1]
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        return F.cross_entropy(z, y, reduction=reduction)
    if name == "binary_crossentropy":
        total = F.binary_cross_entropy_with_logits(z, y, reduction="sum") / outputs
    elif name == "mse":
        total = F.mse_loss(a, y, reduction="sum") / outputs
    elif name == "half_sse":
        total = 0.5 * F.mse_loss(a, y, reduction="sum")
    else:
        raise ValueError(f"unknown loss {name!r}")
    return total / len(z) if reduction == "mean" else total
