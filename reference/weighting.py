r"""Sample and class weights, and what the weighted loss divides by.

Row n of a batch carries a weight :math:`w_n`: its sample weight (``training.sample_weight``, drawn by the
oracle for every training row, a name -> rule table below) or its class's weight
(``training.class_weight[label]``, Keras's ``class_weight``, torch's ``weight=``); a spec states one or the
other (Keras's ``fit`` refuses both at once). With per-sample losses :math:`\ell_n` over a batch of N rows:

* ``reduction = "sum"``: :math:`C = \sum_n w_n \ell_n`;
* ``reduction = "mean"``, ``weighted_reduction = "sum_over_batch_size"`` (Keras's default):
  :math:`C = \sum_n w_n \ell_n / N`;
* ``reduction = "mean"``, ``weighted_reduction = "mean_with_sample_weight"`` (torch's weighted
  ``CrossEntropyLoss``, Keras's reduction of that name): :math:`C = \sum_n w_n \ell_n / \sum_n w_n`.

So :math:`\partial C / \partial \ell_n` is :math:`w_n`, :math:`w_n / N` or :math:`w_n / \sum_m w_m`: BP1's delta is
scaled row by row (``reduction_scale``). The weights are constants of the batch: no gradient flows into them.
The label of a row is its one-hot row's argmax, its integer label, or its 0/1 target (a one-output
binary cross-entropy).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from reference.params import Param, integer, number
from reference.spec import Spec

WEIGHTED_REDUCTIONS = ("sum_over_batch_size", "mean_with_sample_weight")


def _uniform(p: dict, n: int) -> np.ndarray:
    return np.random.default_rng(p["seed"]).uniform(p["low"], p["high"], n)


# name -> (parameters, number of training rows) -> one weight per row, in the training rows' order
SAMPLE_WEIGHTS: dict[str, Callable[[dict, int], np.ndarray]] = {"uniform": _uniform}
PARAMS: dict[str, dict[str, Param]] = {
    "uniform": {"low": number(min=0), "high": number(min=0, min_open=True), "seed": integer(0, min=0)},
}


def weighted(spec: Spec) -> bool:
    return spec.training.class_weight is not None or spec.training.sample_weight is not None


def sample_weights(spec: Spec, n: int) -> np.ndarray | None:
    """The sample weights of the first ``n`` training rows (float64), or None if the spec has none."""
    sw = spec.training.sample_weight
    return None if sw is None else SAMPLE_WEIGHTS[sw.name](sw.params, n)


def labels(y: np.ndarray) -> np.ndarray:
    """Each row's class: a one-hot row's argmax, an integer label, or a single 0/1 target."""
    y = np.asarray(y)
    if y.ndim == 1:
        return y.astype(np.int64)
    if y.shape[-1] == 1:
        return np.rint(y[:, 0]).astype(np.int64)
    return np.argmax(y, axis=-1)


def row_weights(spec: Spec, y: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray | None:
    """w_n for the rows of a batch: the given sample weights, or the class weights of its labels; None if unweighted."""
    if sample_weight is not None:
        return np.asarray(sample_weight, dtype=np.float64)
    cw = spec.training.class_weight
    return None if cw is None else np.asarray(cw, dtype=np.float64)[labels(y)]


def reduce(per_sample: np.ndarray, reduction: str, weights: np.ndarray | None, weighted_reduction: str) -> float:
    """C from the per-sample losses (module docstring)."""
    if weights is None:
        total = per_sample.sum()
        return total / len(per_sample) if reduction == "mean" else total
    total = (weights * per_sample).sum()
    if reduction == "sum":
        return total
    return total / (len(per_sample) if weighted_reduction == "sum_over_batch_size" else weights.sum())


def reduction_scale(n: int, reduction: str, weights: np.ndarray | None = None,
                    weighted_reduction: str = "sum_over_batch_size") -> float | np.ndarray:
    """dC/d(l_n): 1/N or 1 unweighted; weighted, a column (N, 1) of w_n/N, w_n/sum(w) or w_n."""
    if weights is None:
        return 1.0 / n if reduction == "mean" else 1.0
    w = weights.reshape(-1, 1)
    if reduction == "sum":
        return w
    return w / (n if weighted_reduction == "sum_over_batch_size" else weights.sum())
