r"""Finite differences against ``Network.loss_and_grads``: what makes the reference an oracle.

For a sample of elements :math:`\theta_i` of each parameter tensor, in float64, the fourth-order
central difference

.. math:: \hat g_i = \frac{8\,[C(\theta + h e_i) - C(\theta - h e_i)] - [C(\theta + 2h e_i) - C(\theta - 2h e_i)]}{12 h},
          \qquad h = 10^{-4}.

Its truncation error is :math:`O(h^4 C^{(5)}) \approx 10^{-16}` and its rounding error
:math:`\approx 1.5\,u\,|C| / h \approx 2\cdot10^{-12} |C|` (u = 2^-53). The plain two-point quotient at h = 1e-6
rounds a hundred times worse, which on networks with tiny gradients (a softmax hidden layer) comes
within a factor of 2 of the threshold; this one keeps every measured error below 1e-8.

The error of a tensor is :math:`\max_i |\hat g_i - g_i| / \max(\max_j |g_j|, \max_i |\hat g_i|)`: relative to the
tensor's scale, so entries that are zero in both (dead units, cancelled sums) do not divide by zero.
The check fails above 1e-6: well above the measured errors and far below what a real mistake makes
(a dropped factor, term or transpose moves it to O(1)); torch's gradcheck uses atol 1e-5, rtol 1e-3.

Where an activation has a kink at 0 (relu, leaky_relu, elu with alpha != 1), a perturbation that
moves any pre-activation across 0 makes the difference quotient meaningless; such elements are
detected from the sign pattern of every z at all four points and skipped, and the report counts them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.activations import has_kink
from reference.network import Network

STEP = 1e-4
THRESHOLD = 1e-6


@dataclass(frozen=True)
class TensorCheck:
    name: str
    rel_err: float
    abs_err: float
    checked: int
    skipped_kinks: int
    worst_index: tuple[int, ...] | None

    @property
    def passed(self) -> bool:
        return self.rel_err <= THRESHOLD


@dataclass(frozen=True)
class GradcheckResult:
    label: str
    loss: float
    tensors: list[TensorCheck]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors)

    @property
    def worst(self) -> TensorCheck:
        return max(self.tensors, key=lambda t: t.rel_err)


def _loss_and_signs(net: Network, x, y, masks=None) -> tuple[float, list[np.ndarray]]:
    """C in training mode (batch statistics, the given dropout masks: the loss the gradients are of) and the sign
    pattern of z in every dense layer whose activation has a kink at 0."""
    trace = net.forward(x, training=True, masks=masks)
    kinked = [cache[1] > 0 for (_, cache), layer in zip(trace, net.spec.layers)
              if layer.type == "dense" and has_kink(layer.activation.name, layer.activation.params)]
    return net.loss(x, y, trace), kinked


def _difference(net: Network, x, y, p: np.ndarray, idx, step: float, base_signs, masks=None) -> float | None:
    """The fourth-order difference quotient for p[idx], or None if a perturbation crosses a kink."""
    orig = p[idx]
    values = {}
    try:
        for k in (1, -1, 2, -2):
            p[idx] = orig + k * step
            values[k], signs = _loss_and_signs(net, x, y, masks)
            if any((a != b).any() for a, b in zip(base_signs, signs)):
                return None
    finally:
        p[idx] = orig
    return (8 * (values[1] - values[-1]) - (values[2] - values[-2])) / (12 * step)


def gradcheck(net: Network, x: np.ndarray, y: np.ndarray, *, label: str = "", max_elements: int = 32,
              seed: int = 0, step: float = STEP, masks=None) -> GradcheckResult:
    """Check every weight of ``net`` (float64) on the batch (x, y), in training mode with ``masks``; up to
    ``max_elements`` per tensor. Batch normalization is differentiated through its batch statistics."""
    if net.dtype != np.float64:
        raise ValueError("finite differences need float64; build the Network with dtype='float64'")
    rng = np.random.default_rng(seed)
    loss, grads = net.loss_and_grads(x, y, masks=masks)
    base_signs = _loss_and_signs(net, x, y, masks)[1]
    results = []
    for name, p, g in zip(net.names, net.params, grads):
        picks = np.arange(p.size) if p.size <= max_elements else rng.choice(p.size, max_elements, replace=False)
        errs, skipped, fd_max = [], 0, 0.0
        for flat in picks:
            idx = np.unravel_index(flat, p.shape)
            fd = _difference(net, x, y, p, idx, step, base_signs, masks)
            if fd is None:
                skipped += 1
                continue
            fd_max = max(fd_max, abs(fd))
            errs.append((abs(fd - g[idx]), idx))
        scale = max(float(np.abs(g).max()), fd_max)
        abs_err, worst = max(errs, key=lambda e: e[0]) if errs else (0.0, None)
        rel = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else np.inf)
        results.append(TensorCheck(name, float(rel), float(abs_err), len(errs), skipped,
                                   None if worst is None else tuple(int(i) for i in worst)))
    return GradcheckResult(label or net.spec.name, loss, results)
