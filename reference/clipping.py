r"""Gradient clipping, as a name -> rule table. It runs between the gradient and the update.

:math:`g_i` is the gradient of tensor i — of the whole loss C, so the L2 terms are inside it, as in both
frameworks (the penalty is part of the loss that is differentiated). Decoupled weight decay (AdamW) is
not a gradient and is never clipped: Keras applies it after clipping, torch inside ``step()``. With
threshold :math:`c` and epsilon :math:`\epsilon`:

* ``clipnorm`` (each tensor on its own, Keras ``clipnorm``):
  :math:`g_i \leftarrow g_i \min(1, c / (\lVert g_i\rVert_2 + \epsilon))`
* ``global_clipnorm`` (one norm over every tensor, Keras ``global_clipnorm``, torch ``clip_grad_norm_``):
  :math:`G = \sqrt{\sum_i \lVert g_i\rVert_2^2}`, :math:`g_i \leftarrow g_i \min(1, c / (G + \epsilon))`
* ``clipvalue`` (each element, Keras ``clipvalue``, torch ``clip_grad_value_``):
  :math:`g \leftarrow \min(\max(g, -c), c)`

:math:`\epsilon = 0` is Keras's rule; torch's ``clip_grad_norm_`` always adds :math:`10^{-6}` (the spec's
``clip_epsilon = 1e-6``). Keras computes the same factor as :math:`c / \max(\lVert g\rVert, c)`, one
rounding away from the reference's below the threshold: the rules are continuous at the threshold, so
no gradient near it can fall on different sides of a branch by more than that rounding.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from reference.spec import Clip


def _norm(g: np.ndarray) -> float:
    flat = g.reshape(-1)
    return float(np.sqrt(np.dot(flat, flat)))


def _factor(c: float, norm: float, eps: float) -> float:
    return min(1.0, c / (norm + eps)) if norm + eps > 0 else 1.0


def _clipnorm(grads, c, eps, out):
    for g, o in zip(grads, out):
        np.multiply(g, _factor(c, _norm(g), eps), out=o)


def _global_clipnorm(grads, c, eps, out):
    total = float(np.sqrt(sum(_norm(g) ** 2 for g in grads)))
    f = _factor(c, total, eps)
    for g, o in zip(grads, out):
        np.multiply(g, f, out=o)


def _clipvalue(grads, c, eps, out):
    for g, o in zip(grads, out):
        np.clip(g, -c, c, out=o)


# rule -> (grads, threshold, epsilon, out) -> None, writing the clipped gradients into out
CLIP_RULES: dict[str, Callable] = {"clipnorm": _clipnorm, "global_clipnorm": _global_clipnorm, "clipvalue": _clipvalue}
NORM_RULES = ("clipnorm", "global_clipnorm")  # the rules that take an epsilon


def clip(rule: Clip, grads: list[np.ndarray], out: list[np.ndarray]) -> list[np.ndarray]:
    """The clipped gradients, written into ``out`` (the gradients themselves are left as they are)."""
    CLIP_RULES[rule.rule](grads, rule.threshold, rule.epsilon, out)
    return out


def norms(grads: list[np.ndarray]) -> tuple[list[float], float]:
    """Each tensor's L2 norm and the global norm: what the clipping checks set their thresholds from."""
    each = [_norm(np.asarray(g, dtype=np.float64)) for g in grads]
    return each, float(np.sqrt(sum(n * n for n in each)))
