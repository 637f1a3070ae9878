r"""The dense layer: :math:`z = a^{l-1} W + b,\ a^l = f(z)` — backprop's BP1-BP4 live here.

Given :math:`g = \partial C/\partial a^l` from the layer above, ``backward`` computes

* BP2 (this layer's part) :math:`\delta^l = g \odot f'(z)` (or the softmax's VJP); at the output the
  loss's closed form in the logits replaces it (BP1, ``backward_from_delta``);
* BP4 :math:`\partial C/\partial W = a^{l-1\,T} \delta^l` (the L2 term is added by the network);
* BP3 :math:`\partial C/\partial b = \sum_n \delta^l_n`;
* and :math:`\partial C/\partial a^{l-1} = \delta^l W^T`, the rest of BP2 for the layer below.
"""
from __future__ import annotations

import numpy as np

from reference.activations import ACTIVATIONS
from reference.layers.base import Array, LayerKind, TensorSpec


class Dense(LayerKind):
    name = "dense"

    def __init__(self, activations: dict = ACTIVATIONS):
        self.activations = activations

    def width(self, layer, width_in):
        return layer.units

    def tensors(self, layer, width_in):
        out = [TensorSpec("kernel", (width_in, layer.units), layer.kernel_init, l2=layer.l2)]
        if layer.use_bias:
            out.append(TensorSpec("bias", (layer.units,), layer.bias_init))
        return out

    def act(self, layer):
        return self.activations[layer.activation.name], layer.activation.params

    def forward(self, layer, p, a, *, training, mask=None, buffer=None):
        z = np.matmul(a, p["kernel"], out=buffer)
        if "bias" in p:
            z += p["bias"]
        act, params = self.act(layer)
        out = act.forward(z, **params)
        return out, (a, z, out)

    def backward(self, layer, p, cache, g, buffers=None, need_input: bool = True):
        _, z, a = cache
        act, params = self.act(layer)
        return self.backward_from_delta(layer, p, cache, act.backward(z, a, g, **params), buffers, need_input)  # BP2: g (.) f'(z)

    def backward_from_delta(self, layer, p, cache, delta, buffers=None, need_input: bool = True):
        """Given delta = dC/dz: BP4, BP3, and (unless the input is the network's own) dC/d(input) for the layer below."""
        a_prev = cache[0]
        buf = buffers or (lambda key, like: None)
        grads = {"kernel": np.matmul(a_prev.T, delta, out=buf("kernel", p["kernel"]))}  # BP4
        if "bias" in p:
            grads["bias"] = delta.sum(axis=0, out=buf("bias", p["bias"]))  # BP3
        return (np.matmul(delta, p["kernel"].T, out=buf("input", a_prev)) if need_input else None), grads

    def forward_magnitude(self, layer, p, cache, m_in):
        _, z, a = cache
        act, params = self.act(layer)
        terms = (m_in ** 2) @ (p["kernel"] ** 2) + (p["bias"] ** 2 if "bias" in p else 0)
        excess = np.maximum(np.sqrt(terms) - np.abs(z), 0)  # what z's own size does not show
        return np.abs(a) + act.forward_magnitude(z, a, excess, **params)

    def excess(self, layer, p, cache, m_in) -> Array:
        """The logits' excess (for the losses' magnitudes): their operands' scale beyond |z|."""
        _, z, _ = cache
        terms = (m_in ** 2) @ (p["kernel"] ** 2) + (p["bias"] ** 2 if "bias" in p else 0)
        return np.maximum(np.sqrt(terms) - np.abs(z), 0)

    def backward_magnitude(self, layer, p, cache, m_g, m_in, from_delta: bool = False):
        _, z, a = cache
        if from_delta:
            m_delta = m_g
        else:
            act, params = self.act(layer)
            m_delta = act.magnitude(z, a, m_g, **params)
        grads = {"kernel": np.sqrt((m_in ** 2).T @ (m_delta ** 2))}
        if "bias" in p:
            grads["bias"] = np.sqrt(np.sum(m_delta ** 2, axis=0))
        return np.sqrt((m_delta ** 2) @ (p["kernel"].T ** 2)), grads

    def reduction(self, layer, width_in, batch):
        return width_in

    def flops(self, layer, width_in, batch, first):
        # forward, the kernel's gradient, and (not for the first layer) the error passed down
        return (2 if first else 3) * 2 * batch * width_in * layer.units
