"""Every private part of scikit-learn's MLP this adapter uses, named here and nowhere else
(``parity_tests/test_sklearn.py`` checks each still behaves as assumed on the pinned version).

The public API trains (``partial_fit``: one pass of scikit-learn's own loop over the rows it is given) and
predicts (``predict_proba``, ``predict``); it has no gradient, no per-layer output, and no way to start from
given weights without a first ``fit``. For those three, and only those:

* ``_initialize(y, layer_units, dtype)`` sets an estimator up as its first ``fit`` does (layer count, output
  activation, coefficient lists, loss curve, ...); the adapter then overwrites ``coefs_`` and ``intercepts_``
  in place with the canonical weights. Its prerequisites, set before it: ``_label_binarizer`` and ``classes_``
  (classifiers), ``n_features_in_`` (what ``validate_data(..., reset=False)`` checks in later calls) and
  ``_random_state`` (``_init_coef`` draws the weights that are then overwritten).
* ``_forward_pass(activations)``: every layer's activation, in place, in the list it is given.
* ``_backprop(X, y, sample_weight, activations, deltas, coef_grads, intercept_grads)``: the loss (with
  ``0.5 * alpha * sum ||W||^2 / n``) and its gradients, ``(a^T delta + alpha W) / n`` and ``sum(delta) / n``.
* ``_optimizer``: the optimizer object ``partial_fit`` creates on its first call (SGDOptimizer or
  AdamOptimizer, from ``_stochastic_optimizers``) and reuses after; the adapter only reads it (its state).
"""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state


def initialize(est, y: np.ndarray, classes: np.ndarray | None, n_inputs: int, layer_units: list[int], dtype) -> None:
    """Set ``est`` up as a first fit would, without training it. ``y`` is the targets as ``_backprop`` sees them
    (binarized for a classifier), ``classes`` the labels a classifier knows (None: a regressor)."""
    if classes is not None:
        est._label_binarizer = LabelBinarizer().fit(classes)
        est.classes_ = est._label_binarizer.classes_
    est.n_features_in_ = n_inputs
    est._random_state = check_random_state(0)
    est._initialize(y, layer_units, dtype)


def forward_pass(est, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's activation on x: hidden layers after their activation, then the output activation."""
    activations = [x] + [None] * (est.n_layers_ - 1)
    return est._forward_pass(activations)[1:]


def backprop(est, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """(loss, coefficient gradients, intercept gradients) at the current weights, with the current ``alpha``."""
    n_layers = est.n_layers_
    activations = [x] + [None] * (n_layers - 1)
    deltas = [None] * (n_layers - 1)
    coef_grads = [np.empty_like(c) for c in est.coefs_]
    intercept_grads = [np.empty_like(b) for b in est.intercepts_]
    loss, coef_grads, intercept_grads = est._backprop(x, y, None, activations, deltas, coef_grads, intercept_grads)
    return float(loss), coef_grads, intercept_grads


def optimizer(est):
    """The optimizer ``partial_fit`` made (None before the first step)."""
    return getattr(est, "_optimizer", None)
