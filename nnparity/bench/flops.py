r"""Floating-point operations of one training step of a dense network, counted as the matmuls do.

For a batch of B rows and a layer with a (fan_in x fan_out) kernel, the forward product costs
:math:`2 B\,\mathrm{fan_{in}}\,\mathrm{fan_{out}}` flops (a multiply and an add per term), and backprop
two more of the same size: the kernel's gradient :math:`a^{T}\delta` (BP4) and the error passed down
:math:`\delta W^{T}` (BP2), which the first layer does not need. Elementwise work (activations,
optimizer updates) is O(B (fan_in + fan_out)) and left out, as model-flop counts do.
"""
from __future__ import annotations

from reference.spec import Spec


def training_step(spec: Spec, batch: int) -> int:
    total = 0
    for i, (fan_in, fan_out) in enumerate(spec.layer_sizes()):
        products = 3 if i > 0 else 2  # forward, kernel gradient, and (not for layer 0) the error passed down
        total += products * 2 * batch * fan_in * fan_out
    return total
