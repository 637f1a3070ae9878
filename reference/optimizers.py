r"""Optimizers with state, as a name -> class table. Each class states its update rule.

Notation: :math:`w` a parameter, :math:`g` its gradient at step :math:`t` (1-based), :math:`\eta`
the learning rate. Every rule below is what ``update`` does, element by element, for every
parameter (kernels and biases alike). The learning rate is constant; under a schedule the momentum
forms of PyTorch and Keras stop being equivalent (research/divergences.md §1a).

Where PyTorch and Keras disagree on a convention, the hyperparameter ``eps_mode`` picks one:
``"keras"`` puts epsilon inside the square root (RMSprop, Adagrad) or uses Keras's "epsilon hat"
(Adam); ``"torch"`` puts it outside / uses the paper's epsilon. The two cannot be mapped onto each
other by a constant. The reference's defaults are Keras 3's, the documents' framework.
"""
from __future__ import annotations

import math

import numpy as np

from reference.params import Param, choice, flag, number


def _torch_eps(eps_mode: str) -> bool:
    return eps_mode == "torch"


class Optimizer:
    """Common state: the step counter t and per-parameter slots, created on the first update."""

    def __init__(self, **hyper):
        self.hyper = hyper
        self.t = 0
        self.slots: list[dict[str, np.ndarray]] | None = None

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Apply one step to ``params`` in place."""
        if self.slots is None:
            self.slots = [self.build(p) for p in params]
        self.t += 1
        for p, g, slot in zip(params, grads, self.slots):
            self.apply(p, g, slot)

    def build(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def apply(self, w: np.ndarray, g: np.ndarray, slot: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    r"""Plain gradient descent: :math:`w \leftarrow w - \eta g`."""

    def apply(self, w, g, slot):
        w -= self.hyper["learning_rate"] * g


class Momentum(Optimizer):
    r"""Heavy-ball momentum, PyTorch's buffer form (dampening 0), :math:`b_0 = 0`:

    .. math:: b \leftarrow \mu b + g, \qquad w \leftarrow w - \eta b

    Keras writes :math:`v \leftarrow \mu v - \eta g,\ w \leftarrow w + v`; with a constant
    :math:`\eta` the two are the same sequence (:math:`v_t = -\eta b_t`).
    """

    def build(self, p):
        return {"b": np.zeros_like(p)}

    def apply(self, w, g, slot):
        b = slot["b"]
        b *= self.hyper["momentum"]
        b += g
        w -= self.hyper["learning_rate"] * b


class Nesterov(Momentum):
    r"""Nesterov momentum, PyTorch's form:

    .. math:: b \leftarrow \mu b + g, \qquad w \leftarrow w - \eta (g + \mu b)

    Keras: :math:`v \leftarrow \mu v - \eta g,\ w \leftarrow w + \mu v - \eta g`, equal for constant :math:`\eta`.
    """

    def apply(self, w, g, slot):
        mu = self.hyper["momentum"]
        b = slot["b"]
        b *= mu
        b += g
        w -= self.hyper["learning_rate"] * (g + mu * b)


class Adagrad(Optimizer):
    r"""Adagrad with an initial accumulator :math:`A_0` (Keras 0.1, PyTorch 0):

    .. math:: A \leftarrow A + g^2, \qquad
              w \leftarrow w - \eta\, g / \sqrt{A + \epsilon}\ \text{(keras)}
              \quad\text{or}\quad w - \eta\, g / (\sqrt{A} + \epsilon)\ \text{(torch)}
    """

    def build(self, p):
        return {"acc": np.full_like(p, self.hyper["initial_accumulator"])}

    def apply(self, w, g, slot):
        acc, eps = slot["acc"], self.hyper["epsilon"]
        acc += g * g
        denom = np.sqrt(acc) + eps if _torch_eps(self.hyper["eps_mode"]) else np.sqrt(acc + eps)
        w -= self.hyper["learning_rate"] * g / denom


class RMSprop(Optimizer):
    r"""RMSprop, optionally centered and with momentum:

    .. math::
        v \leftarrow \rho v + (1-\rho) g^2, \qquad
        \bar g \leftarrow \rho \bar g + (1-\rho) g \ \text{(centered only)}, \qquad
        s = v - \bar g^2 \ \text{(centered) or } v

        d = \sqrt{s + \epsilon}\ \text{(keras)} \quad\text{or}\quad \sqrt{s} + \epsilon\ \text{(torch)}

        \mu = 0:\ w \leftarrow w - \eta g / d; \qquad
        \mu > 0:\ b \leftarrow \mu b + g / d,\ w \leftarrow w - \eta b

    (Keras keeps :math:`\eta` inside the momentum buffer; equal for constant :math:`\eta`.)
    """

    def build(self, p):
        slot = {"v": np.zeros_like(p)}
        if self.hyper["centered"]:
            slot["mean_g"] = np.zeros_like(p)
        if self.hyper["momentum"] > 0:
            slot["b"] = np.zeros_like(p)
        return slot

    def apply(self, w, g, slot):
        rho, eps, lr = self.hyper["rho"], self.hyper["epsilon"], self.hyper["learning_rate"]
        v = slot["v"]
        v *= rho
        v += (1 - rho) * g * g
        s = v
        if self.hyper["centered"]:
            mean_g = slot["mean_g"]
            mean_g *= rho
            mean_g += (1 - rho) * g
            s = v - mean_g * mean_g
        d = np.sqrt(s) + eps if _torch_eps(self.hyper["eps_mode"]) else np.sqrt(s + eps)
        if self.hyper["momentum"] > 0:
            b = slot["b"]
            b *= self.hyper["momentum"]
            b += g / d
            w -= lr * b
        else:
            w -= lr * g / d


class Adam(Optimizer):
    r"""Adam with bias correction, :math:`c_1 = 1 - \beta_1^t`, :math:`c_2 = 1 - \beta_2^t`:

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad v \leftarrow \beta_2 v + (1-\beta_2) g^2

        \text{keras:}\quad w \leftarrow w - \eta \frac{\sqrt{c_2}}{c_1} \frac{m}{\sqrt{v} + \hat\epsilon}
        \qquad
        \text{torch:}\quad w \leftarrow w - \frac{\eta}{c_1} \frac{m}{\sqrt{v}/\sqrt{c_2} + \epsilon}

    The two agree iff :math:`\hat\epsilon = \epsilon \sqrt{c_2}`, which changes with t: no constant maps
    one epsilon onto the other.
    """

    def build(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def apply(self, w, g, slot):
        h, t = self.hyper, self.t
        m, v = slot["m"], slot["v"]
        m *= h["beta_1"]
        m += (1 - h["beta_1"]) * g
        v *= h["beta_2"]
        v += (1 - h["beta_2"]) * g * g
        c1 = 1 - h["beta_1"] ** t
        c2 = 1 - h["beta_2"] ** t
        if _torch_eps(h["eps_mode"]):
            w -= (h["learning_rate"] / c1) * m / (np.sqrt(v) / math.sqrt(c2) + h["epsilon"])
        else:
            w -= (h["learning_rate"] * math.sqrt(c2) / c1) * m / (np.sqrt(v) + h["epsilon"])


class AdamW(Adam):
    r"""Adam with decoupled weight decay :math:`\lambda_w`, applied first, to every parameter:

    .. math:: w \leftarrow w (1 - \eta \lambda_w), \quad\text{then the Adam step above}

    with the gradient g computed at the weights before the decay (torch ``AdamW``, Keras ``AdamW``).
    """

    def apply(self, w, g, slot):
        w *= 1 - self.hyper["learning_rate"] * self.hyper["weight_decay"]
        super().apply(w, g, slot)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}

_LR = number(min=0, min_open=True)
_EPS_MODE = choice(("keras", "torch"), "keras")
_BETAS = {"beta_1": number(0.9, min=0, max=1, max_open=True), "beta_2": number(0.999, min=0, max=1, max_open=True)}

# Hyperparameters and the reference's defaults (Keras 3's); "momentum" and "nesterov" have none.
HYPERPARAMETERS: dict[str, dict[str, Param]] = {
    "sgd": {"learning_rate": number(0.01, min=0, min_open=True)},
    "momentum": {"learning_rate": _LR, "momentum": number(min=0, max=1, max_open=True)},
    "nesterov": {"learning_rate": _LR, "momentum": number(min=0, max=1, max_open=True)},
    "adagrad": {
        "learning_rate": number(0.001, min=0, min_open=True),
        "initial_accumulator": number(0.1, min=0),
        "epsilon": number(1e-7, min=0),
        "eps_mode": _EPS_MODE,
    },
    "rmsprop": {
        "learning_rate": number(0.001, min=0, min_open=True),
        "rho": number(0.9, min=0, max=1, max_open=True),
        "epsilon": number(1e-7, min=0),
        "eps_mode": _EPS_MODE,
        "centered": flag(False),
        "momentum": number(0.0, min=0, max=1, max_open=True),
    },
    "adam": {"learning_rate": number(0.001, min=0, min_open=True), **_BETAS, "epsilon": number(1e-7, min=0), "eps_mode": _EPS_MODE},
    "adamw": {
        "learning_rate": number(0.001, min=0, min_open=True),
        **_BETAS,
        "epsilon": number(1e-7, min=0),
        "eps_mode": _EPS_MODE,
        "weight_decay": number(0.004, min=0),
    },
}


def make_optimizer(name: str, hyper: dict) -> Optimizer:
    return OPTIMIZERS[name](**hyper)
