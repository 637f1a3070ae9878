"""The outcome of judging one check: every tensor comparison, per step for the multi-step checks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.compare import TensorDiff
from reference.weights import layer_of


@dataclass
class CheckResult:
    """Every tensor comparison of one check; for the multi-step checks, one list per step."""

    check: str
    steps: list[list[TensorDiff]]  # one entry for single-shot checks; tensors in reporting order

    @property
    def curve(self) -> list[float]:
        """The max relative error after each step."""
        return [max((d.max_rel for d in diffs), default=0.0) for diffs in self.steps]

    @property
    def max_rel(self) -> float:
        return max(self.curve, default=0.0)

    @property
    def max_abs(self) -> float:
        return max((d.max_abs for diffs in self.steps for d in diffs), default=0.0)

    @property
    def operand_factor(self) -> float:
        """The largest ratio of a tensor's operand scale to its own max: 1 where nothing cancelled."""
        ratios = [d.scale / d.own_scale for diffs in self.steps for d in diffs
                  if d.scale is not None and d.own_scale and np.isfinite(d.scale)]
        return max(ratios, default=1.0)

    @property
    def worst(self) -> tuple[int, TensorDiff] | None:
        """(step, tensor) of the largest relative error."""
        pairs = [(s, d) for s, diffs in enumerate(self.steps) for d in diffs]
        return max(pairs, key=lambda p: p[1].max_rel, default=None)

    def first_failure(self, tol: float | list[float]) -> tuple[int, TensorDiff] | None:
        """The first step, and within it the first tensor in reporting order, outside ``tol`` (per step if a list)."""
        for s, diffs in enumerate(self.steps):
            t = tol[min(s, len(tol) - 1)] if isinstance(tol, list) else tol
            for d in diffs:
                if not d.within(t):
                    return s, d
        return None


def backward_order(names: list[str], diffs: list[TensorDiff]) -> list[TensorDiff]:
    """Backprop's order: the last layer's tensors first, and within a layer the canonical order (kernel before
    bias, gamma before beta). ``names`` is that canonical order; a diff's name may carry a suffix (" (final)")."""
    position = {n: i for i, n in enumerate(names)}
    base = lambda d: d.name.split(" ", 1)[0]
    return sorted(diffs, key=lambda d: (-layer_of(base(d)), position.get(base(d), len(position))))
