r"""Losses with their gradients, as a name -> function table.

A loss is a per-sample value :math:`\ell_n` reduced over the batch of N samples:

* ``reduction = "mean"``: :math:`C = \frac1N \sum_n \ell_n` (Keras ``sum_over_batch_size``, torch ``mean``);
* ``reduction = "sum"``: :math:`C = \sum_n \ell_n` (the digits ``NeuralNetwork``, which sums gradients);
* with sample or class weights, ``reference/weighting.py``.

The cross-entropies are always computed from the logits :math:`z = z^L`, never from probabilities,
so no framework's clipping (Keras 1e-7, torch's -100 clamp) enters the reference. Their output
activation is fixed (the *link*: softmax or sigmoid) and BP1 collapses to a closed form in z:

* ``categorical_crossentropy``: :math:`\ell = -\sum_k y_k \log \mathrm{softmax}(z)_k`,
  :math:`\partial\ell/\partial z = p \sum_k y_k - y` (= p - y for one-hot y);
* ``sparse_categorical_crossentropy``: the same with an integer label;
* ``binary_crossentropy``: :math:`\ell = \frac1D \sum_j \max(z_j,0) - z_j y_j + \log(1 + e^{-|z_j|})`,
  :math:`\partial\ell/\partial z = (\sigma(z) - y)/D`.

The squared errors act on the output activation :math:`a = a^L`, and BP1 multiplies by
:math:`f'(z^L)`:

* ``mse``: :math:`\ell = \frac1D \sum_j (a_j - y_j)^2`, :math:`\partial\ell/\partial a = 2(a - y)/D`;
* ``half_sse``: the documents' :math:`C = \frac12 \sum_j (a_j - y_j)^2`, :math:`\partial\ell/\partial a = a - y`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reference.activations import sigmoid

Array = np.ndarray


def _log_softmax(z: Array) -> Array:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _cce(z: Array, y: Array) -> Array:
    return -np.sum(y * _log_softmax(z), axis=-1)


def _cce_grad(z: Array, y: Array) -> Array:
    p = np.exp(_log_softmax(z))
    return p * y.sum(axis=-1, keepdims=True) - y


def _sparse_cce(z: Array, labels: Array) -> Array:
    return -_log_softmax(z)[np.arange(len(labels)), labels]


def _sparse_cce_grad(z: Array, labels: Array) -> Array:
    g = np.exp(_log_softmax(z))
    g[np.arange(len(labels)), labels] -= 1
    return g


def _bce(z: Array, y: Array) -> Array:
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), axis=-1)


def _bce_grad(z: Array, y: Array) -> Array:
    return (sigmoid(z) - y) / z.shape[-1]


def _mse(a: Array, y: Array) -> Array:
    return np.mean((a - y) ** 2, axis=-1)


def _mse_grad(a: Array, y: Array) -> Array:
    return 2 * (a - y) / a.shape[-1]


def _half_sse(a: Array, y: Array) -> Array:
    return 0.5 * np.sum((a - y) ** 2, axis=-1)


def _half_sse_grad(a: Array, y: Array) -> Array:
    return a - y


@dataclass(frozen=True)
class LossFn:
    """A per-sample loss and its per-sample gradient with respect to what it acts on.

    ``link`` is the output activation the loss is fused with (it acts on the logits z), or ``None``
    when it acts on the output activation a and any output activation may precede it.
    """

    per_sample: Callable[[Array, Array], Array]
    gradient: Callable[[Array, Array], Array]
    link: str | None
    targets: str  # "onehot", "labels" (integers) or "values"


LOSSES: dict[str, LossFn] = {
    "categorical_crossentropy": LossFn(_cce, _cce_grad, "softmax", "onehot"),
    "sparse_categorical_crossentropy": LossFn(_sparse_cce, _sparse_cce_grad, "softmax", "labels"),
    "binary_crossentropy": LossFn(_bce, _bce_grad, "sigmoid", "values"),
    "mse": LossFn(_mse, _mse_grad, None, "values"),
    "half_sse": LossFn(_half_sse, _half_sse_grad, None, "values"),
}
REDUCTIONS = ("mean", "sum")  # reduced in reference/weighting.py, with the weights where a spec has them
