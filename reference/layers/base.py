"""What a layer kind declares: its tensors, its forward and backward passes, and what the tolerance policy,
the operand scales and the flop count need from it. ``reference/layers/__init__.py`` is the table."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reference.spec import Initializer

Array = np.ndarray


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a layer: ``layers[i].<name>`` in the canonical layout.

    ``trainable`` tensors are the weights (what the optimizer updates, in ``weights``); the others are
    state (what training mode updates by rule, in ``state``, as Keras's non-trainable variables)."""

    name: str
    shape: tuple[int, ...]
    init: Initializer
    trainable: bool = True
    l2: float = 0.0  # the penalty l2 * sum(t**2) this tensor adds to the loss


class LayerKind:
    """The interface of a kind (dense, batch_norm, dropout, layer_norm). ``p`` is the layer's tensors by name
    (weights and state), ``a`` the layer's input (N, width), ``cache`` what forward kept for backward.

    ``forward`` returns (output, cache); ``backward`` takes dC/d(output) and returns (dC/d(input), the
    gradients of the trainable tensors by name); ``state_update`` the state after a training-mode forward.
    ``forward_magnitude`` and ``backward_magnitude`` are the operand-scale rules of reference/magnitudes.py.
    """

    name = ""
    mode_dependent = False  # training and inference differ (batch statistics, dropout)
    stochastic = False  # needs a mask in training mode

    def width(self, layer, width_in: int) -> int:
        return width_in

    def tensors(self, layer, width_in: int) -> list[TensorSpec]:
        return []

    def forward(self, layer, p: dict, a: Array, *, training: bool, mask: Array | None = None, buffer=None) -> tuple[Array, Any]:
        raise NotImplementedError

    def backward(self, layer, p: dict, cache, g: Array) -> tuple[Array, dict]:
        raise NotImplementedError

    def state_update(self, layer, p: dict, cache) -> dict:
        return {}

    def forward_magnitude(self, layer, p: dict, cache, m_in: Array) -> Array:
        """A bound on the output's error scale (>= |output|) from the input's (>= |input|)."""
        raise NotImplementedError

    def backward_magnitude(self, layer, p: dict, cache, m_g: Array, m_in: Array) -> tuple[Array, dict]:
        """(a bound for dC/d(input)'s magnitude, the gradients' magnitudes by name) from dC/d(output)'s."""
        raise NotImplementedError

    def reduction(self, layer, width_in: int, batch: int) -> int:
        """The longest sum its forward pass forms (a dot product's fan-in, a batch mean's rows): the n of
        the tolerance's sqrt(n)."""
        return 1

    def stages(self, layer) -> int:
        """Rounding stages it adds to the depth L of the tolerance (a normalization or product: 1; dropout: 0)."""
        return 1

    def flops(self, layer, width_in: int, batch: int, first: bool) -> int:
        """Floating-point operations of one training step (forward and backward) for ``batch`` rows."""
        return 0
