"""Update rules with one mistake each: what an implementation with that mistake does in a step.

A step check is replayed from the implementation's own gradients and weights (``replay``), so a variant
is judged on its update rule alone; a trajectory is rerun end to end with the variant in the reference
network (``trajectory_network``). The mistakes: the other epsilon placement, no bias correction, a step
count off by one, the momentum's sign, momentum for Nesterov and back, torch-style dampening, AMSGrad's
running maximum, coupled or missing weight decay, the other centering, state dropped after the first
step, hyperparameters or the learning rate rounded through float32, a framework's default left in (momentum
under plain SGD, Adam's other default epsilon), a stale gradient (the previous step's), and the weights of each layer updated before the backward pass has reached the layer below.
Under clipping (``reference/clipping.py``), every one of them clips as the spec says, and four more
get the clipping itself wrong: none, the other norm (per tensor for global, global for per tensor: torch's
``clip_grad_norm_`` written for Keras's ``clipnorm``), or the other epsilon (torch's 1e-6 or none).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reference.network import Network
from reference.optimizers import Adam, AdamW, Momentum, Optimizer, make_optimizer
from reference.spec import Clip, Schedule


class _NoBiasCorrection(Adam):
    """Adam with c1 = c2 = 1 (its first steps are then several times too large)."""

    def apply(self, w, g, slot, s, s2):
        t, self.t = self.t, 10**9  # beta^t underflows to 0: no correction
        try:
            super().apply(w, g, slot, s, s2)
        finally:
            self.t = t


def _off_by_one(cls: type) -> type:
    class OffByOne(cls):
        """Bias correction with t + 1: the step counter advanced before its first use."""

        def apply(self, w, g, slot, s, s2):
            self.t += 1
            try:
                super().apply(w, g, slot, s, s2)
            finally:
                self.t -= 1

    return OffByOne


class _AMSGrad(Adam):
    """v replaced by its running maximum in the denominator (torch and Keras ``amsgrad=True``)."""

    def build(self, p):
        return {**super().build(p), "vmax": np.zeros_like(p)}

    def apply(self, w, g, slot, s, s2):
        h, t = self.hyper, self.t
        if "weight_decay" in h:
            w *= 1 - h["learning_rate"] * h["weight_decay"]
        m, v, vmax = slot["m"], slot["v"], slot["vmax"]
        m *= h["beta_1"]
        m += (1 - h["beta_1"]) * g
        v *= h["beta_2"]
        v += (1 - h["beta_2"]) * g * g
        np.maximum(vmax, v, out=vmax)
        c1, c2 = 1 - h["beta_1"] ** t, 1 - h["beta_2"] ** t
        if h["eps_mode"] == "torch":
            w -= h["learning_rate"] / c1 * m / (np.sqrt(vmax) / np.sqrt(c2) + h["epsilon"])
        else:
            w -= h["learning_rate"] * np.sqrt(c2) / c1 * m / (np.sqrt(vmax) + h["epsilon"])


class _Dampened(Momentum):
    """torch's SGD with dampening = momentum: b <- mu b + (1 - mu) g."""

    def apply(self, w, g, slot, s, s2):
        mu = self.hyper["momentum"]
        b = slot["b"]
        b *= mu
        b += (1 - mu) * g
        w -= self.hyper["learning_rate"] * (g + mu * b if self.nesterov else b)

    nesterov = False


class _DampenedNesterov(_Dampened):
    nesterov = True


class _ForgetsFirstState(Optimizer):
    """The reference optimizer whose state after the first step is thrown away (re-initialised)."""

    def __init__(self, inner: Optimizer):
        super().__init__(**inner.hyper)
        self.inner = inner

    def update(self, params, grads):
        self.inner.clip, self.inner.schedule, self.inner.epoch = self.clip, self.schedule, self.epoch
        self.inner.update(params, grads)
        if self.inner.t == 1:
            self.inner.slots = None


class _CoupledDecay(Adam):
    """AdamW's decay added to the gradient (g + wd w, Adam with L2) instead of applied to the weights."""

    def apply(self, w, g, slot, s, s2):
        h = dict(self.hyper)
        super().apply(w, g + h["weight_decay"] * w, slot, s, s2)


def _float32(params: dict, only: tuple[str, ...] | None = None) -> dict:
    return {k: float(np.float32(v)) if isinstance(v, float) and (only is None or k in only) else v for k, v in params.items()}


@dataclass(frozen=True)
class UpdateMistake:
    key: str
    text: str
    optimizer: Callable[[], Optimizer]  # a fresh optimizer with the mistake
    stale: bool = False  # applies the previous step's gradient
    layerwise: bool = False  # updates each layer as soon as backprop has its gradient


def update_mistakes(name: str, params: dict, dtype: str, clip: Clip | None = None,
                    schedule: Schedule | None = None) -> list[UpdateMistake]:
    """The mistakes that can differ from the rule ``name`` with ``params``, ``clip`` and ``schedule``
    (reference/optimizers.py). Each clips and follows the schedule as the spec says, but for its one mistake."""
    # The layerwise mistake updates a tensor before the others have gradients: no norm over them exists yet.
    rule_mistakes = [dataclasses.replace(m, optimizer=_configured(m.optimizer, clip, schedule))
                     for m in _rule_mistakes(name, params, dtype) if not (m.layerwise and clip is not None)]
    clip_mistakes = [dataclasses.replace(m, optimizer=_configured(m.optimizer, m.optimizer().clip, schedule))
                     for m in _clip_mistakes(name, params, clip)]
    return rule_mistakes + clip_mistakes


def _configured(make: Callable[[], Optimizer], clip: Clip | None, schedule: Schedule | None) -> Callable[[], Optimizer]:
    def made():
        optimizer = make()
        optimizer.clip, optimizer.schedule = clip, schedule
        return optimizer
    return made


def _clip_mistakes(name: str, params: dict, clip: Clip | None) -> list[UpdateMistake]:
    if clip is None:
        return []
    make = lambda c: (lambda: make_optimizer(name, params, c))
    out = [UpdateMistake("clip-missing", f"no clipping: the update matches the unclipped gradient ({clip.rule} = "
                         f"{clip.threshold:g} is not applied)", make(None))]
    other = {"clipnorm": "global_clipnorm", "global_clipnorm": "clipnorm"}.get(clip.rule)
    if other is None:
        return out
    eps = 1e-6 if clip.epsilon == 0 else 0.0
    eps_text = lambda e: "torch clip_grad_norm_'s 1e-6" if e == 1e-6 else f"clip_epsilon = {e:g}"
    out.append(UpdateMistake("clip-epsilon", f"the norm's epsilon: the update matches clip_epsilon = {eps:g} "
                             f"({'torch clip_grad_norm_' if eps else 'Keras'}'s rule), not {clip.epsilon:g}",
                             make(dataclasses.replace(clip, epsilon=eps))))
    # The other norm, with the spec's epsilon or the other one: a Keras clipnorm ported as torch's clip_grad_norm_
    # over all parameters changes both at once.
    for e in (clip.epsilon, eps):
        wrong = dataclasses.replace(clip, rule=other, epsilon=e)
        if other == "global_clipnorm":
            text = ("clipnorm applied to one global norm over all tensors (torch's clip_grad_norm_, or Keras's "
                    "global_clipnorm), where clipnorm clips each tensor by its own norm (Keras's clipnorm)")
        else:
            text = ("each tensor clipped by its own norm (Keras's clipnorm), where global_clipnorm clips by one norm "
                    "over all tensors (torch's clip_grad_norm_)")
        out.append(UpdateMistake("clip-per-tensor" if other == "clipnorm" else "clip-global", f"{text}, with {eps_text(e)}",
                                 make(wrong)))
    return out


def _rule_mistakes(name: str, params: dict, dtype: str) -> list[UpdateMistake]:
    make = lambda n=name, p=params: (lambda: make_optimizer(n, p))
    out = []
    if "eps_mode" in params:
        other = "torch" if params["eps_mode"] == "keras" else "keras"
        out.append(UpdateMistake("eps-mode", f"epsilon placement: the update matches eps_mode '{other}', not "
                                 f"'{params['eps_mode']}' ({'sqrt(v) + eps' if other == 'torch' else 'sqrt(v + eps), or Keras epsilon-hat'})",
                                 make(p={**params, "eps_mode": other})))
    if name in ("adam", "adamw"):
        base = Adam if name == "adam" else AdamW
        out += [UpdateMistake("no-bias-correction", "Adam without bias correction (the first steps 1/(1-beta1) too large)",
                              lambda: _NoBiasCorrection(**params) if name == "adam" else _with_decay(_NoBiasCorrection, params)),
                UpdateMistake("step-count", "the step count off by one: bias correction computed with t + 1",
                              lambda: _off_by_one(base)(**params)),
                UpdateMistake("amsgrad", "AMSGrad: v replaced by its running maximum (torch's amsgrad=True)",
                              lambda: _AMSGrad(**params))]
    out += _default_mistakes(name, params)
    if "momentum" in params and params["momentum"] > 0:
        out.append(UpdateMistake("momentum-sign", "the momentum's sign: the update matches momentum -mu",
                                 make(p={**params, "momentum": -params["momentum"]})))
        if name in ("momentum", "nesterov"):
            swapped = "nesterov" if name == "momentum" else "momentum"
            out.append(UpdateMistake("nesterov-swap", f"the update matches {swapped}, not {name}", make(n=swapped)))
            out.append(UpdateMistake("dampening", "the momentum buffer dampened: b = mu b + (1 - mu) g (torch's "
                                     "dampening = momentum) where the rule has b = mu b + g",
                                     lambda: (_Dampened if name == "momentum" else _DampenedNesterov)(**params)))
    if name == "adamw":
        out.append(UpdateMistake("decay-missing", "no weight decay: the update matches Adam without it",
                                 make(n="adam", p={k: v for k, v in params.items() if k != "weight_decay"})))
        out.append(UpdateMistake("decay-coupled", "weight decay coupled: wd w added to the gradient (Adam with L2) "
                                 "instead of decoupled w <- w (1 - lr wd)", lambda: _CoupledDecay(**params)))
    if name == "rmsprop":
        out.append(UpdateMistake("centered", f"centered = {not params['centered']}", make(p={**params, "centered": not params["centered"]})))
    out.append(UpdateMistake("forgets-state", "optimizer state: the first step's state is not kept (step 2 starts afresh)",
                             lambda: _ForgetsFirstState(make_optimizer(name, params))))
    out.append(UpdateMistake("stale-gradient", "a stale gradient: each step applies the previous step's gradient",
                             make(), stale=True))
    out.append(UpdateMistake("layerwise", "each layer's weights updated during the backward pass, before the layer "
                             "below has its gradient (which then flows through the updated weights)", make(), layerwise=True))
    if dtype == "float64":
        if float(np.float32(params["learning_rate"])) != params["learning_rate"]:
            out.append(UpdateMistake("lr-float32", f"the learning rate rounded to float32 ({params['learning_rate']!r} -> "
                                     f"{float(np.float32(params['learning_rate']))!r}): Keras keeps it in a floatx (float32) "
                                     "variable", make(p=_float32(params, ("learning_rate",)))))
        rounded = _float32(params)
        if rounded != _float32(params, ("learning_rate",)):
            out.append(UpdateMistake("hyper-float32", "the optimizer's constants (betas, epsilon, rho, momentum) rounded "
                                     "through float32 (Python floats cast via float32 constants: tensorflow#35938)",
                                     make(p=rounded)))
    return out


# What a framework does where a port leaves a hyperparameter at its default (research/layers-and-replicas.md §6).
SKLEARN_SGD_MOMENTUM = 0.9  # MLPClassifier(solver="sgd"): momentum=0.9, nesterovs_momentum=True
DEFAULT_EPSILONS = {1e-8: "scikit-learn's and torch's default", 1e-7: "Keras's default"}


def _default_mistakes(name: str, params: dict) -> list[UpdateMistake]:
    """A hyperparameter left at a framework's default: momentum on under plain SGD, Adam's other epsilon."""
    lr = params["learning_rate"]
    if name == "sgd":
        mu = SKLEARN_SGD_MOMENTUM
        nesterov = {"learning_rate": lr, "momentum": mu, "momentum_form": "keras"}
        return [UpdateMistake("default-nesterov", f"momentum left on: the update matches Nesterov momentum {mu}, "
                              "scikit-learn's default for solver='sgd' (momentum=0.9, nesterovs_momentum=True), where "
                              "the spec has plain SGD (momentum=0)", lambda: make_optimizer("nesterov", nesterov)),
                UpdateMistake("default-momentum", f"momentum left on: the update matches momentum {mu} "
                              "(nesterovs_momentum=False), where the spec has plain SGD (momentum=0)",
                              lambda: make_optimizer("momentum", nesterov))]
    if name in ("adam", "adamw"):
        return [UpdateMistake("default-epsilon", f"Adam's epsilon {eps:g} ({why}) where the spec's is "
                              f"{params['epsilon']:g}", lambda eps=eps: make_optimizer(name, {**params, "epsilon": eps}))
                for eps, why in DEFAULT_EPSILONS.items() if eps != params["epsilon"]]
    return []


def _with_decay(cls: type, params: dict) -> Optimizer:
    class Decayed(cls):
        def apply(self, w, g, slot, s, s2):
            w *= 1 - self.hyper["learning_rate"] * self.hyper["weight_decay"]
            super().apply(w, g, slot, s, s2)

    return Decayed(**params)


def replay(mistake: UpdateMistake, start: list[np.ndarray], grads: list[list[np.ndarray]],
           weights: list[list[np.ndarray]], layerwise: Callable | None = None) -> list[list[np.ndarray]]:
    """The weights after each step of a step check under ``mistake``, each step from the implementation's own
    weights before it (``start``, then ``weights[s - 1]``) and its own gradient ``grads[s]``."""
    optimizer = mistake.optimizer()
    expected, before = [], [np.asarray(w, dtype=np.float64).copy() for w in start]
    for s in range(len(weights)):
        if mistake.layerwise:
            after = layerwise(optimizer, before)
        else:
            g = grads[max(s - 1, 0)] if mistake.stale else grads[s]
            after = [w.copy() for w in before]
            optimizer.update(after, [np.asarray(x, dtype=np.float64) for x in g])
        expected.append(after)
        before = [np.asarray(w, dtype=np.float64).copy() for w in weights[s]]
    return expected


def layerwise_step(net: Network, optimizer: Optimizer, params: list[np.ndarray], x: np.ndarray, y, masks=None,
                   sample_weight=None) -> list[np.ndarray]:
    """One step that updates each layer's weights as soon as backprop has their gradient (the mistake), so the
    layer below is reached through the updated weights. ``params`` are left unchanged; the new weights returned
    (``net`` holds them, and the trace of the step in ``net.last_trace``)."""
    net.params = [np.asarray(p, dtype=np.float64).copy() for p in params]
    optimizer.begin(net.params)
    trace = net.forward(np.asarray(x, dtype=np.float64), training=True, masks=masks)
    delta, g = net.output_delta(trace, y, len(x), sample_weight=sample_weight), None
    for s in reversed(net.slots):
        cache = trace[s.index][1]

        def backward(p, s=s, cache=cache, g=g):
            if s is net.slots[-1]:
                return s.kind.backward_from_delta(s.layer, p, cache, delta)
            return s.kind.backward(s.layer, p, cache, g)

        _, grads = backward(net.tensors(s))
        for name, grad in grads.items():
            j = s.params[name]
            optimizer.apply_one(j, net.params[j], grad + 2 * s.l2.get(name, 0.0) * net.params[j])
        g = backward(net.tensors(s))[0]  # what flows down now passes through the updated weights
    net.last_trace = trace
    return [p.copy() for p in net.params]


class MistakenTrainer(Network):
    """The reference network whose ``step`` has one update mistake: for replaying a whole trajectory."""

    def __init__(self, spec, weights, dtype, mistake: UpdateMistake):
        super().__init__(spec, weights, dtype=dtype)
        self.optimizer, self.mistake, self._previous = mistake.optimizer(), mistake, None

    def step(self, x, y, *, masks=None, sample_weight=None):
        if self.mistake.layerwise:
            self.params = layerwise_step(self, self.optimizer, self.params, x, y, masks, sample_weight)
            self._update_state(self.last_trace)
            return 0.0
        loss, grads, trace = self._backprop(np.asarray(x, dtype=self.dtype), y, masks, None, sample_weight)
        grads = [g.copy() for g in grads]
        applied = self._previous if self.mistake.stale and self._previous is not None else grads
        self._previous = grads
        self.optimizer.update(self.params, applied)
        self._update_state(trace)
        return loss


def trainer_factory(mistake: UpdateMistake):
    """An implementation (for ``checks.collect``) whose networks train with ``mistake``."""
    from reference.implementation import NumpyImplementation

    class Mistaken(NumpyImplementation):
        def build(self, spec, weights, *, dtype, device):
            return MistakenTrainer(spec, weights, dtype, mistake)

    return Mistaken()

