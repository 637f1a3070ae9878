r"""Inverted dropout: in training mode :math:`y = a \odot k / (1 - \text{rate})` with a keep-mask :math:`k \in \{0, 1\}`;
in inference mode :math:`y = a`. Backward: :math:`\partial C/\partial a = g \odot k / (1 - \text{rate})` (training) or g.

The mask is *given*: the oracle draws it (``reference/masks.py``: from the spec's seed, the step and the
layer) and hands the same array to every implementation, because the frameworks' generators cannot be
aligned. Keras and torch both scale the kept units by 1 / (1 - rate) in training (inverted dropout).
"""
from __future__ import annotations

import numpy as np

from reference.layers.base import LayerKind


class Dropout(LayerKind):
    name = "dropout"
    mode_dependent = True
    stochastic = True

    def forward(self, layer, p, a, *, training, mask=None, buffer=None):
        if not training:
            return a, None
        if mask is None:
            raise ValueError("dropout in training mode needs its mask (reference/masks.py)")
        scale = np.asarray(mask, dtype=a.dtype) * a.dtype.type(1.0 / (1.0 - layer.rate))
        return a * scale, scale

    def backward(self, layer, p, cache, g):
        return (g if cache is None else g * cache), {}

    def forward_magnitude(self, layer, p, cache, m_in):
        return m_in if cache is None else m_in * cache

    def backward_magnitude(self, layer, p, cache, m_g, m_in):
        return (m_g if cache is None else m_g * cache), {}

    def stages(self, layer):
        return 1

    def flops(self, layer, width_in, batch, first):
        return 2 * batch * width_in
