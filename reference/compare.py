r"""How two tensors are compared, and how a disagreement is located.

The error of a tensor :math:`a` against the reference :math:`r` is the infinity-norm relative error

.. math:: e = \frac{\max_i |a_i - r_i|}{\max(\max_i |r_i|,\ s)},

with the worst element :math:`\arg\max_i |a_i - r_i|`. Measured against the tensor's scale, not element by
element, so entries that are (near) zero in both do not divide by zero: a gradient entry that
cancels to 1e-12 is not "wrong by 100 %" when the rest of the tensor is of order 1. ``s`` is the
tensor's *operand scale* where the reference knows it (``reference/magnitudes.py``): a result that
cancels (a bias of 0.01 minus a step of 0.01) is judged against the size of what produced it, not its
own. The absolute error :math:`\max_i |a_i - r_i|` is always reported beside it.

A shape or dtype that differs from the reference's, or a NaN/Inf where the reference is finite, is
a *problem*, not a number: the comparison says which, and a transposed shape says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorDiff:
    name: str
    max_abs: float
    max_rel: float
    worst_index: tuple[int, ...] | None
    problem: str | None = None  # why no number could be computed (shape, dtype, non-finite)
    scale: float | None = None  # the denominator of max_rel: max(own_scale, the operand scale)
    own_scale: float | None = None  # max |reference|

    def within(self, tol: float) -> bool:
        return self.problem is None and self.max_rel <= tol

    def to_json(self) -> dict:
        return {"name": self.name, "max_abs": self.max_abs, "max_rel": self.max_rel,
                "worst_index": list(self.worst_index) if self.worst_index is not None else None,
                "problem": self.problem, "scale": self.scale, "own_scale": self.own_scale}


def problem(name: str, actual, expected, dtype: str | None = None) -> TensorDiff | None:
    """Why ``actual`` cannot be compared with ``expected`` at all (not an array, another shape or dtype, a
    NaN/Inf where the reference is finite), or None: what a check asks of a tensor it does not judge by
    its numbers (an optimizer step's input gradient, whose reference is the weight it updates)."""
    why = _unlike(name, actual, expected, dtype)
    if why is not None:
        return why
    actual = np.asarray(actual)
    if actual.dtype.kind == "f" and not np.isfinite(np.max(actual, initial=0.0) - np.min(actual, initial=0.0)):
        return _non_finite(name, actual, np.asarray(expected))
    return None


def _non_finite(name: str, actual: np.ndarray, expected: np.ndarray) -> TensorDiff | None:
    bad = ~np.isfinite(actual) & np.isfinite(expected)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return TensorDiff(name, np.inf, np.inf, idx, f"{int(bad.sum())} non-finite value(s), first at {idx}")
    return None


def _unlike(name: str, actual, expected, dtype: str | None) -> TensorDiff | None:
    """Not an array, another shape or dtype than the reference's, or not numbers."""
    expected = np.asarray(expected)
    try:
        actual = np.asarray(actual)
    except Exception as exc:  # a plugin may return anything
        return TensorDiff(name, np.inf, np.inf, None, f"not an array ({type(actual).__name__}: {exc})")
    if actual.shape != expected.shape:
        hint = " (transposed: layout?)" if actual.shape == expected.shape[::-1] and actual.ndim == 2 else ""
        return TensorDiff(name, np.inf, np.inf, None, f"shape {actual.shape}, expected {expected.shape}{hint}")
    if dtype is not None and actual.dtype.kind == "f" and actual.dtype != np.dtype(dtype):
        return TensorDiff(name, np.inf, np.inf, None, f"dtype {actual.dtype}, expected {dtype}")
    if actual.dtype.kind not in "fiu":
        return TensorDiff(name, np.inf, np.inf, None, f"dtype {actual.dtype} is not numeric")
    return None


def compare(name: str, actual, expected, dtype: str | None = None, scale: float | np.ndarray | None = None) -> TensorDiff:
    """``actual`` against the reference ``expected``; ``dtype`` is the dtype the run promised; ``scale`` the
    operand scale (a number, or a magnitude tensor whose max is taken)."""
    why = _unlike(name, actual, expected, dtype)
    if why is not None:
        return why
    a = np.asarray(actual, dtype=np.float64)  # no copy of a float64 array: nothing below writes to a or r
    r = np.asarray(expected, dtype=np.float64)
    if a.size == 0:
        return TensorDiff(name, 0.0, 0.0, None)
    diff = np.subtract(a, r)
    np.abs(diff, out=diff)
    flat = int(np.argmax(diff))
    max_abs = float(diff.flat[flat])
    if np.isfinite(max_abs):  # then every a_i and r_i is finite: no masks to build (the common case)
        own = float(max(r.max(), -r.min()))
    else:
        why = _non_finite(name, a, r)
        if why is not None:
            return why
        diff[~np.isfinite(diff)] = 0.0  # both non-finite alike
        flat = int(np.argmax(diff))
        max_abs = float(diff.flat[flat])
        own = float(np.max(np.abs(r[np.isfinite(r)]), initial=0.0))
    operands = 0.0 if scale is None else float(np.max(np.asarray(scale, dtype=np.float64), initial=0.0))
    denominator = max(own, operands) if np.isfinite(operands) else own
    max_rel = max_abs / denominator if denominator > 0 else (0.0 if max_abs == 0 else np.inf)
    return TensorDiff(name, max_abs, max_rel, tuple(int(i) for i in np.unravel_index(flat, a.shape)), None, denominator, own)


def compare_scalar(name: str, actual, expected: float, scale: float | None = None) -> TensorDiff:
    try:
        value = float(actual)
    except (TypeError, ValueError) as exc:
        return TensorDiff(name, np.inf, np.inf, None, f"not a number ({type(actual).__name__}: {exc})")
    return compare(name, np.array([value]), np.array([expected]), scale=scale)
