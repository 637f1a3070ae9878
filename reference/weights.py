"""Canonical weights: a flat list ``[kernel_0, bias_0, kernel_1, bias_1, ...]`` in float64.

A kernel has shape (fan_in, fan_out), as in the documents' ``X @ W + b`` and in Keras; torch's
``Linear.weight`` is its transpose. A layer with ``use_bias = false`` contributes no bias entry.

``init_weights`` draws them from one ``numpy.random.default_rng(spec.seed)``, in that same order:
layer 0's kernel, layer 0's bias, layer 1's kernel, ... Initializers that draw nothing (zeros,
ones, constant) consume no random numbers, so adding a constant bias does not shift the kernels.
"""
from __future__ import annotations

import numpy as np

from reference.initializers import INITIALIZERS
from reference.spec import Spec

Weights = list[np.ndarray]


def tensor_names(spec: Spec) -> list[str]:
    """``layers[i].kernel`` / ``layers[i].bias``, in the canonical order."""
    names = []
    for i, layer in enumerate(spec.layers):
        names.append(f"layers[{i}].kernel")
        if layer.use_bias:
            names.append(f"layers[{i}].bias")
    return names


def tensor_shapes(spec: Spec) -> list[tuple[int, ...]]:
    shapes = []
    for (fan_in, fan_out), layer in zip(spec.layer_sizes(), spec.layers):
        shapes.append((fan_in, fan_out))
        if layer.use_bias:
            shapes.append((fan_out,))
    return shapes


def init_weights(spec: Spec) -> Weights:
    rng = np.random.default_rng(spec.seed)
    weights = []
    for (fan_in, fan_out), layer in zip(spec.layer_sizes(), spec.layers):
        inits = [(layer.kernel_init, (fan_in, fan_out))]
        if layer.use_bias:
            inits.append((layer.bias_init, (fan_out,)))
        for init, shape in inits:
            w = INITIALIZERS[init.name](shape, fan_in, fan_out, rng, **init.params)
            weights.append(np.asarray(w, dtype=np.float64))
    return weights


def by_layer(spec: Spec, flat: Weights) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The flat list as (kernel, bias or None) per layer."""
    out, i = [], 0
    for layer in spec.layers:
        kernel = flat[i]
        bias = flat[i + 1] if layer.use_bias else None
        out.append((kernel, bias))
        i += 2 if layer.use_bias else 1
    return out


def cast(weights: Weights, dtype) -> Weights:
    return [np.array(w, dtype=dtype, copy=True) for w in weights]
