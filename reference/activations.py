r"""Activation functions and their derivatives, as a name -> function table.

Each entry gives the forward map :math:`a = f(z)` and the backward map
:math:`\partial C/\partial z = \partial C/\partial a \odot f'(z)` used by BP1 and BP2. For the
elementwise functions ``derivative(z, a)`` is :math:`f'(z)`, written with whichever of ``z`` and
``a = f(z)`` gives the cheaper exact form. Softmax is not elementwise; it supplies the
vector-Jacobian product :math:`a \odot (g - \langle g, a\rangle)` instead.

Conventions at the kinks follow TensorFlow and PyTorch (see research/divergences.md §1d):
relu'(0) = 0, leaky_relu'(0) = alpha, elu'(0) = alpha.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from reference.params import Param, choice, number

Array = np.ndarray


def sigmoid(z: Array) -> Array:
    """1 / (1 + exp(-z)), computed without overflow for either sign of z."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def _sigmoid_derivative(z: Array, a: Array) -> Array:
    # a (1 - a) rather than an exact sigma'(z): torch (sigmoid_backward) and TF (SigmoidGrad) use this
    # form, and in the saturated tail the two differ by far more than rounding.
    return a * (1 - a)


def _tanh(z: Array) -> Array:
    return np.tanh(z)


def _tanh_derivative(z: Array, a: Array) -> Array:
    return 1 - a * a


def _relu(z: Array) -> Array:
    return np.maximum(z, 0)


def _relu_derivative(z: Array, a: Array) -> Array:
    return (z > 0).astype(z.dtype)


def _leaky_relu(z: Array, alpha: float) -> Array:
    return np.where(z > 0, z, alpha * z)


def _leaky_relu_derivative(z: Array, a: Array, alpha: float) -> Array:
    return np.where(z > 0, 1, alpha).astype(z.dtype)


def _elu(z: Array, alpha: float) -> Array:
    # expm1 keeps full relative precision near 0, as torch, TF and jax all do.
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))


def _elu_derivative(z: Array, a: Array, alpha: float) -> Array:
    # For z <= 0: d/dz alpha (e^z - 1) = alpha e^z. Written from z, not as a + alpha, which cancels
    # for very negative z; torch's elu_backward uses the same form.
    return np.where(z > 0, 1, alpha * np.exp(np.minimum(z, 0))).astype(z.dtype)


def _silu(z: Array) -> Array:
    return z * sigmoid(z)


def _silu_derivative(z: Array, a: Array) -> Array:
    s = sigmoid(z)
    return s * (1 + z * (1 - s))


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715


def _gelu(z: Array, approximate: str) -> Array:
    if approximate == "tanh":
        return 0.5 * z * (1 + np.tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z**3)))
    return 0.5 * z * (1 + special.erf(z / math.sqrt(2)))


def _gelu_derivative(z: Array, a: Array, approximate: str) -> Array:
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z**3))
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * z * z)
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * du
    cdf = 0.5 * (1 + special.erf(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return cdf + z * pdf


def _softplus(z: Array) -> Array:
    # log(1 + e^z) = logaddexp(0, z): exact for large |z|. torch's F.softplus switches to the identity
    # above threshold=20, which differs from this by log1p(e^-z) (divergences: softplus threshold).
    return np.logaddexp(0, z).astype(z.dtype, copy=False)


def _softplus_derivative(z: Array, a: Array) -> Array:
    return sigmoid(z)


def _linear(z: Array) -> Array:
    return z


def _linear_derivative(z: Array, a: Array) -> Array:
    return np.ones_like(z)


def softmax(z: Array) -> Array:
    """exp(z - max z) / sum exp(z - max z) over the last axis; the shift makes it overflow-free."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_vjp(z: Array, a: Array, g: Array) -> Array:
    # Jacobian of softmax: diag(a) - a a^T, so g J = a * (g - <g, a>).
    return a * (g - np.sum(g * a, axis=-1, keepdims=True))


def _softmax_vjp_magnitude(z: Array, a: Array, m: Array) -> Array:
    # |a * (g - <g, a>)| <= a * (|g| + <|g|, a>): the subtraction's operands, not its (cancelling) result.
    return a * (m + np.sum(m * a, axis=-1, keepdims=True))


def _softmax_jvp_magnitude(z: Array, a: Array, e: Array) -> Array:
    # Independent errors e of z reach a through J = diag(a) - a a^T, in quadrature:
    # sqrt(sum_j J_kj^2 e_j^2) = a_k sqrt((1 - 2 a_k) e_k^2 + sum_j a_j^2 e_j^2).
    inner = (1 - 2 * a) * e * e + np.sum(a * a * e * e, axis=-1, keepdims=True)
    return a * np.sqrt(np.maximum(inner, 0))


@dataclass(frozen=True)
class ActivationFn:
    """One table entry: the forward map, its derivative, the parameters it takes and their defaults."""

    forward: Callable[..., Array]
    derivative: Callable[..., Array] | None
    params: dict[str, Param] = field(default_factory=dict)
    kink_at_zero: bool = False  # the derivative jumps at z = 0 (finite differences must not cross it)
    vjp: Callable[..., Array] | None = None  # for the non-elementwise softmax
    vjp_magnitude: Callable[..., Array] | None = None  # its bound on |vjp| from |g| (reference/magnitudes.py)
    jvp_magnitude: Callable[..., Array] | None = None  # how independent errors of z reach a, in quadrature

    def backward(self, z: Array, a: Array, g: Array, **params) -> Array:
        """dC/dz given dC/da = g."""
        if self.vjp is not None:
            return self.vjp(z, a, g)
        return g * self.derivative(z, a, **params)

    def magnitude(self, z: Array, a: Array, m: Array, **params) -> Array:
        """A bound on |backward(z, a, g)| from m >= |g| elementwise, free of the cancellation inside it."""
        if self.vjp_magnitude is not None:
            return self.vjp_magnitude(z, a, m)
        return m * np.abs(self.derivative(z, a, **params))

    def forward_magnitude(self, z: Array, a: Array, e: Array, **params) -> Array:
        """The error scale that independent errors of z, of scale e, give a = f(z)."""
        if self.jvp_magnitude is not None:
            return self.jvp_magnitude(z, a, e)
        return e * np.abs(self.derivative(z, a, **params))


ACTIVATIONS: dict[str, ActivationFn] = {
    "sigmoid": ActivationFn(sigmoid, _sigmoid_derivative),
    "tanh": ActivationFn(_tanh, _tanh_derivative),
    "relu": ActivationFn(_relu, _relu_derivative, kink_at_zero=True),
    # No default slope: torch uses 0.01, keras.activations 0.2 and keras.layers.LeakyReLU 0.3.
    "leaky_relu": ActivationFn(_leaky_relu, _leaky_relu_derivative, {"alpha": number(min=0)}, kink_at_zero=True),
    "elu": ActivationFn(_elu, _elu_derivative, {"alpha": number(1.0, min=0)}, kink_at_zero=True),
    "silu": ActivationFn(_silu, _silu_derivative),
    "gelu": ActivationFn(_gelu, _gelu_derivative, {"approximate": choice(("none", "tanh"), "none")}),
    "softplus": ActivationFn(_softplus, _softplus_derivative),
    "linear": ActivationFn(_linear, _linear_derivative),
    "softmax": ActivationFn(softmax, None, vjp=_softmax_vjp, vjp_magnitude=_softmax_vjp_magnitude,
                            jvp_magnitude=_softmax_jvp_magnitude),
}
ALIASES = {"swish": "silu", "identity": "linear", "logistic": "sigmoid"}


def has_kink(name: str, params: dict) -> bool:
    """Whether finite differences across z = 0 are invalid for this activation (elu only if alpha != 1)."""
    if name == "elu":
        return params.get("alpha", 1.0) != 1.0
    return ACTIVATIONS[name].kink_at_zero
