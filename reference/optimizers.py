r"""Optimizers with state, as a name -> class table. Each class states its update rule.

Notation: :math:`w` a parameter, :math:`g` its gradient at step :math:`t` (1-based), :math:`\eta`
the learning rate. Every rule below is what ``update`` does, element by element, for every
parameter (kernels and biases alike), after the gradient is clipped (``reference/clipping.py``). Under a
schedule (``reference/schedules.py``) :math:`\eta` is the schedule's rate for this step, set before the
update; the momentum forms of PyTorch and Keras then stop being equivalent (research/divergences.md §1a),
and ``momentum_form`` picks one: ``"torch"`` keeps :math:`\eta` outside the buffer, ``"keras"`` inside
it; ``"either"`` (only for a constant rate, where they agree) computes the torch form.

Where PyTorch and Keras disagree on a convention, the hyperparameter ``eps_mode`` picks one:
``"keras"`` puts epsilon inside the square root (RMSprop, Adagrad) or uses Keras's "epsilon hat"
(Adam); ``"torch"`` puts it outside / uses the paper's epsilon. The two cannot be mapped onto each
other by a constant. The reference's defaults are Keras 3's, the documents' framework.

Each update runs in place, through two scratch arrays per parameter (``out=``), so a training step
allocates nothing parameter-sized; the operations and their order are those of the formulas, so
the rounding is the same as the plain expressions'.
"""
from __future__ import annotations

import math

import numpy as np

from reference import clipping, schedules
from reference.params import Param, choice, flag, number
from reference.spec import Clip, Schedule


def _torch_eps(eps_mode: str) -> bool:
    return eps_mode == "torch"


def _denominator(v: np.ndarray, eps: float, eps_mode: str, out: np.ndarray) -> np.ndarray:
    """sqrt(v) + eps (torch) or sqrt(v + eps) (keras), into ``out`` (which may be ``v``)."""
    if _torch_eps(eps_mode):
        np.sqrt(v, out=out)
        out += eps
    else:
        np.add(v, eps, out=out)
        np.sqrt(out, out=out)
    return out


class Optimizer:
    """Common state: the step counter t and per-parameter slots, created on the first update.

    ``apply(w, g, slot, s, s2)`` updates ``w`` in place; ``s`` and ``s2`` are scratch arrays of
    ``w``'s shape and dtype whose contents it may overwrite."""

    def __init__(self, clip: Clip | None = None, schedule: Schedule | None = None, **hyper):
        self.hyper = hyper
        self.clip = clip
        self.schedule = schedule
        self.epoch = 0  # epochs completed: a per-epoch schedule's index
        self.t = 0
        self.slots: list[dict[str, np.ndarray]] | None = None
        self._scratch: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._clipped: list[np.ndarray] | None = None

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Apply one step to ``params`` in place: the gradients clipped first (``reference/clipping.py``), if the spec
        clips, into buffers of their own, so the caller's gradients stay as they were."""
        self.begin(params)
        if self.clip is not None:
            if self._clipped is None or any(c.shape != g.shape or c.dtype != g.dtype for c, g in zip(self._clipped, grads)):
                self._clipped = [np.empty_like(g) for g in grads]
            grads = clipping.clip(self.clip, grads, self._clipped)
        for i, (p, g) in enumerate(zip(params, grads)):
            self.apply_one(i, p, g)

    def begin(self, params: list[np.ndarray]) -> None:
        """Start step t + 1 (state created on the first, the scheduled rate set); ``apply_one`` then updates each
        parameter."""
        if self.slots is None:
            self.slots = [self.build(p) for p in params]
        if self._scratch is None or any(s.shape != p.shape or s.dtype != p.dtype for (s, _), p in zip(self._scratch, params)):
            self._scratch = [(np.empty_like(p), np.empty_like(p)) for p in params]
        if self.schedule is not None:
            self.hyper["learning_rate"] = schedules.rate(self.schedule, self.t if self.schedule.per == "step" else self.epoch)
        self.t += 1

    def end_epoch(self) -> None:
        """An epoch ended: a per-epoch schedule moves on."""
        self.epoch += 1

    def keras_form(self) -> bool:
        return self.hyper.get("momentum_form") == "keras"

    def apply_one(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        """Update parameter i (in place) with its gradient, in the step ``begin`` started."""
        s, s2 = self._scratch[i]
        self.apply(p, g, self.slots[i], s, s2)

    def build(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def apply(self, w: np.ndarray, g: np.ndarray, slot: dict[str, np.ndarray], s: np.ndarray, s2: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    r"""Plain gradient descent: :math:`w \leftarrow w - \eta g`."""

    def apply(self, w, g, slot, s, s2):
        w -= np.multiply(g, self.hyper["learning_rate"], out=s)


class Momentum(Optimizer):
    r"""Heavy-ball momentum, PyTorch's buffer form (dampening 0), :math:`b_0 = 0`:

    .. math:: b \leftarrow \mu b + g, \qquad w \leftarrow w - \eta b

    Keras writes :math:`v \leftarrow \mu v - \eta g,\ w \leftarrow w + v` (``momentum_form = "keras"``); with
    a constant :math:`\eta` the two are the same sequence (:math:`v_t = -\eta b_t`).
    """

    def build(self, p):
        return {"b": np.zeros_like(p)}

    def apply(self, w, g, slot, s, s2):
        if self.keras_form():
            v = slot["b"]
            v *= self.hyper["momentum"]
            v -= np.multiply(g, self.hyper["learning_rate"], out=s)
            w += v
            return
        b = slot["b"]
        b *= self.hyper["momentum"]
        b += g
        w -= np.multiply(b, self.hyper["learning_rate"], out=s)


class Nesterov(Momentum):
    r"""Nesterov momentum, PyTorch's form:

    .. math:: b \leftarrow \mu b + g, \qquad w \leftarrow w - \eta (g + \mu b)

    Keras: :math:`v \leftarrow \mu v - \eta g,\ w \leftarrow w + \mu v - \eta g`, equal for constant :math:`\eta`.
    """

    def apply(self, w, g, slot, s, s2):
        mu = self.hyper["momentum"]
        if self.keras_form():
            v = slot["b"]
            v *= mu
            v -= np.multiply(g, self.hyper["learning_rate"], out=s2)
            np.multiply(v, mu, out=s)
            s -= s2
            w += s
            return
        b = slot["b"]
        b *= mu
        b += g
        np.multiply(b, mu, out=s)
        s += g
        s *= self.hyper["learning_rate"]
        w -= s


class Adagrad(Optimizer):
    r"""Adagrad with an initial accumulator :math:`A_0` (Keras 0.1, PyTorch 0):

    .. math:: A \leftarrow A + g^2, \qquad
              w \leftarrow w - \eta\, g / \sqrt{A + \epsilon}\ \text{(keras)}
              \quad\text{or}\quad w - \eta\, g / (\sqrt{A} + \epsilon)\ \text{(torch)}
    """

    def build(self, p):
        return {"acc": np.full_like(p, self.hyper["initial_accumulator"])}

    def apply(self, w, g, slot, s, s2):
        acc, eps = slot["acc"], self.hyper["epsilon"]
        acc += np.multiply(g, g, out=s)
        _denominator(acc, eps, self.hyper["eps_mode"], out=s)
        np.multiply(g, self.hyper["learning_rate"], out=s2)
        s2 /= s
        w -= s2


class RMSprop(Optimizer):
    r"""RMSprop, optionally centered and with momentum:

    .. math::
        v \leftarrow \rho v + (1-\rho) g^2, \qquad
        \bar g \leftarrow \rho \bar g + (1-\rho) g \ \text{(centered only)}, \qquad
        s = v - \bar g^2 \ \text{(centered) or } v

        d = \sqrt{s + \epsilon}\ \text{(keras)} \quad\text{or}\quad \sqrt{s} + \epsilon\ \text{(torch)}

        \mu = 0:\ w \leftarrow w - \eta g / d; \qquad
        \mu > 0:\ b \leftarrow \mu b + g / d,\ w \leftarrow w - \eta b

    (Keras keeps :math:`\eta` inside the momentum buffer, ``momentum_form = "keras"``:
    :math:`b \leftarrow \mu b + \eta g / d,\ w \leftarrow w - b`; equal for constant :math:`\eta`.)
    """

    def build(self, p):
        slot = {"v": np.zeros_like(p)}
        if self.hyper["centered"]:
            slot["mean_g"] = np.zeros_like(p)
        if self.hyper["momentum"] > 0:
            slot["b"] = np.zeros_like(p)
        return slot

    def apply(self, w, g, slot, s, s2):
        rho, eps, lr = self.hyper["rho"], self.hyper["epsilon"], self.hyper["learning_rate"]
        v = slot["v"]
        v *= rho
        np.multiply(g, 1 - rho, out=s)
        s *= g
        v += s
        variance = v
        if self.hyper["centered"]:
            mean_g = slot["mean_g"]
            mean_g *= rho
            mean_g += np.multiply(g, 1 - rho, out=s)
            variance = np.subtract(v, np.multiply(mean_g, mean_g, out=s), out=s)
        d = _denominator(variance, eps, self.hyper["eps_mode"], out=s)
        if self.hyper["momentum"] > 0 and self.keras_form():
            b = slot["b"]
            b *= self.hyper["momentum"]
            np.multiply(g, lr, out=s2)
            s2 /= d
            b += s2
            w -= b
        elif self.hyper["momentum"] > 0:
            b = slot["b"]
            b *= self.hyper["momentum"]
            b += np.divide(g, d, out=s2)
            w -= np.multiply(b, lr, out=s)
        else:
            np.multiply(g, lr, out=s2)
            s2 /= d
            w -= s2


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

    def apply(self, w, g, slot, s, s2):
        h, t = self.hyper, self.t
        m, v = slot["m"], slot["v"]
        m *= h["beta_1"]
        m += np.multiply(g, 1 - h["beta_1"], out=s)
        v *= h["beta_2"]
        np.multiply(g, 1 - h["beta_2"], out=s)
        s *= g
        v += s
        c1 = 1 - h["beta_1"] ** t
        c2 = 1 - h["beta_2"] ** t
        np.sqrt(v, out=s)
        if _torch_eps(h["eps_mode"]):
            s /= math.sqrt(c2)
            step = h["learning_rate"] / c1
        else:
            step = h["learning_rate"] * math.sqrt(c2) / c1
        s += h["epsilon"]
        np.multiply(m, step, out=s2)
        s2 /= s
        w -= s2


class AdamW(Adam):
    r"""Adam with decoupled weight decay :math:`\lambda_w`, applied first, to every parameter:

    .. math:: w \leftarrow w (1 - \eta \lambda_w), \quad\text{then the Adam step above}

    with the gradient g computed at the weights before the decay (torch ``AdamW``, Keras ``AdamW``).
    """

    def apply(self, w, g, slot, s, s2):
        w *= 1 - self.hyper["learning_rate"] * self.hyper["weight_decay"]
        super().apply(w, g, slot, s, s2)


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
_FORM = choice(("either", "keras", "torch"), "either")
_EPS_MODE = choice(("keras", "torch"), "keras")
_BETAS = {"beta_1": number(0.9, min=0, max=1, max_open=True), "beta_2": number(0.999, min=0, max=1, max_open=True)}

# Hyperparameters and the reference's defaults (Keras 3's); "momentum" and "nesterov" have none.
HYPERPARAMETERS: dict[str, dict[str, Param]] = {
    "sgd": {"learning_rate": number(0.01, min=0, min_open=True)},
    "momentum": {"learning_rate": _LR, "momentum": number(min=0, max=1, max_open=True), "momentum_form": _FORM},
    "nesterov": {"learning_rate": _LR, "momentum": number(min=0, max=1, max_open=True), "momentum_form": _FORM},
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
        "momentum_form": _FORM,
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


def make_optimizer(name: str, hyper: dict, clip: Clip | None = None, schedule: Schedule | None = None) -> Optimizer:
    return OPTIMIZERS[name](clip=clip, schedule=schedule, **hyper)
