r"""Weight initializers, as a name -> function table.

Every initializer draws from the one ``numpy.random.Generator`` the spec's seed creates, so a
spec fixes every weight bit for bit. ``fan_in`` and ``fan_out`` are the layer's input and output
sizes (the kernel is stored as (fan_in, fan_out), as in Keras and the documents' ``X @ W + b``).

The normal-family initializers come in two variants (research/divergences.md §1c):

* ``variant = "keras"``: a normal truncated at two raw standard deviations, the raw deviation
  :math:`\sigma_{raw} = \sigma / 0.87962566103423978` so that the truncated law has std :math:`\sigma`
  (Keras ``VarianceScaling``).
* ``variant = "torch"``: the plain normal :math:`N(0, \sigma^2)` (torch ``xavier_normal_``, ``kaiming_normal_``).

Out-of-range draws of a truncated normal are redrawn, element by element, until none remains.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from reference.params import Param, choice, number

# std of a standard normal truncated to [-2, 2]; Keras divides by it (random_initializers.py).
TRUNCATION_STD = 0.87962566103423978

Init = Callable[..., np.ndarray]


def truncated_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """N(0, 1) conditioned on |x| <= 2, by redrawing the rejected entries."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2
    return x


def _scaled_normal(rng, shape, std: float, variant: str) -> np.ndarray:
    if variant == "keras":
        return truncated_standard_normal(rng, shape) * (std / TRUNCATION_STD)
    return rng.standard_normal(shape) * std


def zeros(shape, fan_in, fan_out, rng):
    return np.zeros(shape)


def ones(shape, fan_in, fan_out, rng):
    return np.ones(shape)


def constant(shape, fan_in, fan_out, rng, value):
    return np.full(shape, float(value))


def uniform(shape, fan_in, fan_out, rng, low, high):
    """U(low, high): the even-odd document's np.random.uniform(-.1, .1)."""
    return rng.uniform(low, high, shape)


def normal(shape, fan_in, fan_out, rng, mean, std):
    """N(mean, std^2): the documents' np.random.randn (std 1) and np.random.normal(0, 0.1)."""
    return mean + std * rng.standard_normal(shape)


def truncated_normal(shape, fan_in, fan_out, rng, mean, std):
    """Keras TruncatedNormal: N(mean, std^2) redrawn outside mean +- 2 std (std is the raw one)."""
    return mean + std * truncated_standard_normal(rng, shape)


def glorot_uniform(shape, fan_in, fan_out, rng):
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape)


def glorot_normal(shape, fan_in, fan_out, rng, variant):
    """std sqrt(2 / (fan_in + fan_out)), truncated (keras) or plain (torch)."""
    return _scaled_normal(rng, shape, math.sqrt(2.0 / (fan_in + fan_out)), variant)


def he_uniform(shape, fan_in, fan_out, rng):
    """U(-l, l), l = sqrt(6 / fan_in)."""
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, shape)


def he_normal(shape, fan_in, fan_out, rng, variant):
    """std sqrt(2 / fan_in), truncated (keras) or plain (torch kaiming_normal_)."""
    return _scaled_normal(rng, shape, math.sqrt(2.0 / fan_in), variant)


def lecun_uniform(shape, fan_in, fan_out, rng):
    """U(-l, l), l = sqrt(3 / fan_in)."""
    limit = math.sqrt(3.0 / fan_in)
    return rng.uniform(-limit, limit, shape)


def lecun_normal(shape, fan_in, fan_out, rng, variant):
    """std sqrt(1 / fan_in), truncated (keras) or plain (torch kaiming_normal_(nonlinearity='linear'))."""
    return _scaled_normal(rng, shape, math.sqrt(1.0 / fan_in), variant)


def torch_linear(shape, fan_in, fan_out, rng):
    """torch.nn.Linear's default for both weight and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    For the weight this is kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)), bound
    gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in). The bias uses the same bound (linear.py, reset_parameters).
    """
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape)


INITIALIZERS: dict[str, Init] = {
    "zeros": zeros,
    "ones": ones,
    "constant": constant,
    "uniform": uniform,
    "normal": normal,
    "truncated_normal": truncated_normal,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "torch_linear": torch_linear,
}
ALIASES = {
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
    "kaiming_uniform": "he_uniform",
    "kaiming_normal": "he_normal",
}

_VARIANT = choice(("keras", "torch"), "keras")
PARAMS: dict[str, dict[str, Param]] = {name: {} for name in INITIALIZERS}
PARAMS.update(
    constant={"value": number()},
    uniform={"low": number(), "high": number()},
    normal={"mean": number(0.0), "std": number(min=0)},
    truncated_normal={"mean": number(0.0), "std": number(min=0)},
    glorot_normal={"variant": _VARIANT},
    he_normal={"variant": _VARIANT},
    lecun_normal={"variant": _VARIANT},
)
