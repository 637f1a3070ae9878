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
    """Each layer kind counts its own (reference/layers): a dense layer as above, normalizations their few
    elementwise passes."""
    from reference.layers import kind

    return sum(kind(layer).flops(layer, width, batch, first=i == 0)
               for i, ((width, _), layer) in enumerate(zip(spec.layer_sizes(), spec.layers)))
