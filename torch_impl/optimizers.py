r"""The spec's optimizer as a ``torch.optim`` optimizer, aligned with the reference's conventions.

``torch.optim`` expresses the PyTorch conventions directly (``eps_mode = "torch"``). For the Keras
conventions it has no switch, so three small subclasses implement them; each docstring says why.
Their update rules are the reference's (``reference/optimizers.py``), written with torch ops.
"""
from __future__ import annotations

import math

import torch


class KerasAdam(torch.optim.Optimizer):
    r"""Adam with Keras's "epsilon hat": :math:`w \leftarrow w - \eta \frac{\sqrt{c_2}}{c_1} \frac{m}{\sqrt v + \hat\epsilon}`.

    ``torch.optim.Adam`` divides by :math:`\sqrt{v}/\sqrt{c_2} + \epsilon`; the two agree only if
    :math:`\hat\epsilon = \epsilon\sqrt{c_2}`, which changes every step, so no constant epsilon maps one onto
    the other. ``weight_decay`` > 0 makes it AdamW: :math:`w \leftarrow w(1 - \eta\lambda_w)` first.
    """

    def __init__(self, params, lr, betas, eps, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["t"] += 1
                t, g = state["t"], p.grad
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                state["m"].lerp_(g, 1 - b1)
                state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
                alpha = group["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
                p.addcdiv_(state["m"], state["v"].sqrt().add_(group["eps"]), value=-alpha)


class KerasRMSprop(torch.optim.Optimizer):
    r"""RMSprop with epsilon inside the root, :math:`d = \sqrt{s + \epsilon}` (Keras), where
    ``torch.optim.RMSprop`` uses :math:`\sqrt{s} + \epsilon`. Centered and momentum as the reference."""

    def __init__(self, params, lr, rho, eps, centered, momentum):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, centered=centered, momentum=momentum))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            rho, lr, mu = group["rho"], group["lr"], group["momentum"]
            for p in group["params"]:
                state, g = self.state[p], p.grad
                if not state:
                    state["v"] = torch.zeros_like(p)
                    state["mean_g"] = torch.zeros_like(p)
                    state["b"] = torch.zeros_like(p)
                v = state["v"].mul_(rho).addcmul_(g, g, value=1 - rho)
                s = v
                if group["centered"]:
                    mean_g = state["mean_g"].mul_(rho).add_(g, alpha=1 - rho)
                    s = v.addcmul(mean_g, mean_g, value=-1)
                d = (s + group["eps"]).sqrt()
                if mu > 0:
                    state["b"].mul_(mu).addcdiv_(g, d)
                    p.add_(state["b"], alpha=-lr)
                else:
                    p.addcdiv_(g, d, value=-lr)


class KerasAdagrad(torch.optim.Optimizer):
    r"""Adagrad with epsilon inside the root, :math:`w \leftarrow w - \eta g / \sqrt{A + \epsilon}` (Keras);
    ``torch.optim.Adagrad`` divides by :math:`\sqrt{A} + \epsilon`."""

    def __init__(self, params, lr, initial_accumulator, eps):
        super().__init__(params, dict(lr=lr, initial_accumulator=initial_accumulator, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                state, g = self.state[p], p.grad
                if not state:
                    state["acc"] = torch.full_like(p, group["initial_accumulator"])
                acc = state["acc"].addcmul_(g, g)
                p.addcdiv_(g, (acc + group["eps"]).sqrt(), value=-group["lr"])


class KerasMomentum(torch.optim.Optimizer):
    r"""Momentum in Keras's form, the rate inside the velocity: :math:`v \leftarrow \mu v - \eta g`, then
    :math:`w \leftarrow w + v` (Nesterov: :math:`w \leftarrow w + \mu v - \eta g`). ``torch.optim.SGD`` keeps the
    rate outside its buffer (:math:`b \leftarrow \mu b + g,\ w \leftarrow w - \eta b`): the same steps for a
    constant rate, different ones once a scheduler changes it (``momentum_form = "keras"``)."""

    def __init__(self, params, lr, momentum, nesterov):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for p in group["params"]:
                state, g = self.state[p], p.grad
                if not state:
                    state["v"] = torch.zeros_like(p)
                v = state["v"].mul_(mu).sub_(g * lr)
                p.add_(v * mu - g * lr if group["nesterov"] else v)


def _sgd(h, params):
    return torch.optim.SGD(params, lr=h["learning_rate"])


def _momentum(nesterov: bool):
    def make_momentum(h, params):
        if h["momentum_form"] == "keras":
            return KerasMomentum(params, h["learning_rate"], h["momentum"], nesterov)
        return torch.optim.SGD(params, lr=h["learning_rate"], momentum=h["momentum"], dampening=0, nesterov=nesterov)
    return make_momentum


def _adagrad(h, params):
    if h["eps_mode"] == "torch":
        return torch.optim.Adagrad(params, lr=h["learning_rate"], lr_decay=0, initial_accumulator_value=h["initial_accumulator"],
                                   eps=h["epsilon"])
    return KerasAdagrad(params, h["learning_rate"], h["initial_accumulator"], h["epsilon"])


def _rmsprop(h, params):
    if h["eps_mode"] == "torch":
        return torch.optim.RMSprop(params, lr=h["learning_rate"], alpha=h["rho"], eps=h["epsilon"], centered=h["centered"],
                                   momentum=h["momentum"])
    return KerasRMSprop(params, h["learning_rate"], h["rho"], h["epsilon"], h["centered"], h["momentum"])


def _adam(decoupled: bool):
    def make_adam(h, params):
        betas, wd = (h["beta_1"], h["beta_2"]), (h["weight_decay"] if decoupled else 0.0)
        if h["eps_mode"] == "torch":
            cls = torch.optim.AdamW if decoupled else torch.optim.Adam
            return cls(params, lr=h["learning_rate"], betas=betas, eps=h["epsilon"], **({"weight_decay": wd} if decoupled else {}))
        return KerasAdam(params, h["learning_rate"], betas, h["epsilon"], weight_decay=wd)
    return make_adam


# name -> (hyperparameters, params) -> the optimizer: torch's own wherever it can express the convention
OPTIMIZERS = {"sgd": _sgd, "momentum": _momentum(False), "nesterov": _momentum(True), "adagrad": _adagrad,
              "rmsprop": _rmsprop, "adam": _adam(False), "adamw": _adam(True)}


def make(name: str, h: dict, params) -> torch.optim.Optimizer:
    """The optimizer for ``spec.optimizer``."""
    return OPTIMIZERS[name](h, params)


def make_native(name: str, h: dict, params, native: frozenset) -> torch.optim.Optimizer:
    """Native mode: the optimizer as a user porting a model writes it (``reference/native.py``)."""
    from reference.native import WEIGHT_DECAY, Native

    lr, extra = h["learning_rate"], {}
    if Native.WEIGHT_DECAY in native:
        extra["weight_decay"] = WEIGHT_DECAY
    if Native.SGD_DEFAULT_LR in native:
        return torch.optim.SGD(params, **extra)  # torch 2.13's default lr: 1e-3
    if Native.OPTIMIZER_DEFAULTS not in native and not extra:
        return make(name, h, params)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=h["momentum"], nesterov=name == "nesterov", **extra)
    cls = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
           "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    return cls(params, lr=lr, **extra)


# torch's clip_grad_norm_ divides by the norm plus this constant, fixed in its source (clip_grad.py)
TORCH_CLIP_EPSILON = 1e-6


def clip_gradients(clip, params: list[torch.Tensor]) -> None:
    r"""The spec's clipping (``reference/clipping.py``) of ``params``' ``.grad``, with torch's own functions, between
    ``backward()`` and ``optimizer.step()`` as torch users place it.

    ``global_clipnorm`` is ``clip_grad_norm_`` over every parameter; ``clipnorm`` (Keras's per-tensor rule, which
    torch has no single call for) is ``clip_grad_norm_`` on each parameter alone; ``clipvalue`` is
    ``clip_grad_value_``. ``clip_grad_norm_`` scales by :math:`\min(1, c / (n + 10^{-6}))`; for another
    epsilon the norm goes to ``clip_grads_with_norm_`` less :math:`10^{-6} - \epsilon`, so torch's own scaling
    divides by :math:`n + \epsilon` (one rounding of :math:`n` away).
    """
    if clip is None:
        return
    u = torch.nn.utils
    if clip.rule == "clipvalue":
        u.clip_grad_value_(params, clip.threshold)
        return
    groups = [params] if clip.rule == "global_clipnorm" else [[p] for p in params]
    for group in groups:
        if clip.epsilon == TORCH_CLIP_EPSILON:
            u.clip_grad_norm_(group, clip.threshold)
        else:
            norm = u.get_total_norm([p.grad for p in group])
            u.clip_grads_with_norm_(group, clip.threshold, norm + (clip.epsilon - TORCH_CLIP_EPSILON))
