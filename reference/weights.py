"""Named tensors: every weight and every piece of state addressed as ``layers[i].<name>``, in one canonical order.

Each layer kind declares its tensors (``reference/layers``): a dense layer its ``kernel`` (fan_in, units)
— as in the documents' ``X @ W + b`` and in Keras; torch's ``Linear.weight`` is its transpose — and
``bias`` (units,), none with ``use_bias = false``; batch and layer normalization ``gamma`` and ``beta``
(width,); batch normalization also the *state* ``moving_mean`` and ``moving_variance`` (width,), which
training mode updates by rule and no optimizer touches. The *weights* are the trainable tensors, layer by
layer in declaration order (``tensor_names``); the *state* the others (``state_names``).

``init_weights`` draws the weights from one ``numpy.random.default_rng(spec.seed)``, in that order: layer
0's kernel, layer 0's bias, layer 1's ... Initializers that draw nothing (zeros, ones, constant) consume no
random numbers, so adding a constant bias — or a normalization layer — does not shift the kernels.
"""
from __future__ import annotations

import numpy as np

from reference.initializers import INITIALIZERS
from reference.layers import TensorSpec, kind
from reference.spec import Spec

Weights = list[np.ndarray]


def layer_tensors(spec: Spec) -> list[tuple[int, TensorSpec]]:
    """(layer index, tensor) for every tensor of the network, weights and state, in declaration order."""
    out, width = [], spec.n_inputs
    for i, layer in enumerate(spec.layers):
        k = kind(layer)
        out += [(i, t) for t in k.tensors(layer, width)]
        width = k.width(layer, width)
    return out


def _name(i: int, t: TensorSpec) -> str:
    return f"layers[{i}].{t.name}"


def tensor_names(spec: Spec) -> list[str]:
    """The weights' names, in the canonical order: ``layers[0].kernel``, ``layers[0].bias``, ..."""
    return [_name(i, t) for i, t in layer_tensors(spec) if t.trainable]


def state_names(spec: Spec) -> list[str]:
    """The state's names (``layers[i].moving_mean``, ``layers[i].moving_variance``), in the canonical order."""
    return [_name(i, t) for i, t in layer_tensors(spec) if not t.trainable]


def tensor_shapes(spec: Spec) -> list[tuple[int, ...]]:
    return [t.shape for _, t in layer_tensors(spec) if t.trainable]


def state_shapes(spec: Spec) -> list[tuple[int, ...]]:
    return [t.shape for _, t in layer_tensors(spec) if not t.trainable]


def layer_of(name: str) -> int:
    """``layers[3].gamma`` -> 3."""
    return int(name.split("[", 1)[1].split("]", 1)[0])


def _draw(spec: Spec, trainable: bool) -> Weights:
    rng = np.random.default_rng(spec.seed)
    out, width = [], spec.n_inputs
    for layer in spec.layers:
        k = kind(layer)
        fan_in, fan_out = width, k.width(layer, width)
        for t in k.tensors(layer, width):
            if t.trainable == trainable:  # state never draws (zeros, ones), so the weights' draws are unchanged
                w = INITIALIZERS[t.init.name](t.shape, fan_in, fan_out, rng, **t.init.params)
                out.append(np.asarray(w, dtype=np.float64))
        width = fan_out
    return out


def init_weights(spec: Spec) -> Weights:
    return _draw(spec, trainable=True)


def init_state(spec: Spec) -> Weights:
    return _draw(spec, trainable=False)


def by_layer(spec: Spec, flat: Weights) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The weights of a dense-only spec as (kernel, bias or None) per layer."""
    out, i = [], 0
    for layer in spec.layers:
        kernel = flat[i]
        bias = flat[i + 1] if layer.use_bias else None
        out.append((kernel, bias))
        i += 2 if layer.use_bias else 1
    return out


def cast(weights: Weights, dtype) -> Weights:
    return [np.array(w, dtype=dtype, copy=True) for w in weights]
