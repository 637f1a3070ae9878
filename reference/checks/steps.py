"""``step-<opt>``: two consecutive steps of each optimizer in ``STEP_OPTIMIZERS`` on the check batch, state
carried over. Before each step the implementation's own gradient is read (``loss_and_grads`` changes
nothing); the expected weights are the reference optimizer applied to the implementation's weights and that
gradient. This isolates the optimizer: an adaptive optimizer divides each gradient component by its own RMS,
so comparing it end to end would measure the rounding of near-zero gradient components (whose elementwise
error can be 1e-9 in float64), not the update rule. Gradients are compared end to end by ``grads``, and
steps by ``trajectory``.

The clipping entries (``reference/clipping.py``) need gradients the threshold really clips, whatever the spec:
each threshold is set from the reference's float64 gradient at the case's starting weights on the check batch
(``ClipRecipe``), so the implementation and the judge build the same spec from the case alone. ``between`` puts
the per-tensor threshold between the smallest and the largest tensor norm (some tensors clipped, some below the
threshold, in one step); ``half-global`` halves the global norm; ``median`` clips half of the elements.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from reference import clipping
from reference import spec as S
from reference import tolerance as T
from reference.checks import calls
from reference.checks import keys as K
from reference.checks.base import Check
from reference.checks.case import STEP_COUNT
from reference.checks.result import CheckResult, backward_order
from reference.compare import compare, problem
from reference.magnitudes import step_scale
from reference.optimizers import HYPERPARAMETERS, make_optimizer
from reference.params import resolve


@dataclass(frozen=True)
class ClipRecipe:
    """A clipping rule whose threshold is derived from the case's gradient (module docstring)."""

    rule: str
    threshold: str  # "between", "half-global" or "median"
    epsilon: float = 0.0


# The "one step of every optimizer" suite: name -> (optimizer, hyperparameters beyond the defaults[, clipping]).
STEP_OPTIMIZERS: dict[str, tuple] = {
    "sgd": ("sgd", {"learning_rate": 0.05}),
    "momentum": ("momentum", {"learning_rate": 0.05, "momentum": 0.9}),
    "nesterov": ("nesterov", {"learning_rate": 0.05, "momentum": 0.9}),
    "adagrad": ("adagrad", {"learning_rate": 0.05}),
    "adagrad-torch-eps": ("adagrad", {"learning_rate": 0.05, "initial_accumulator": 0.0, "epsilon": 1e-10, "eps_mode": "torch"}),
    "rmsprop": ("rmsprop", {"learning_rate": 0.01}),
    "rmsprop-centered": ("rmsprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "epsilon": 1e-8, "eps_mode": "torch"}),
    "adam": ("adam", {"learning_rate": 0.01}),
    "adam-torch-eps": ("adam", {"learning_rate": 0.01, "epsilon": 1e-8, "eps_mode": "torch"}),
    "adamw": ("adamw", {"learning_rate": 0.01, "weight_decay": 0.01}),
    "adamw-torch-eps": ("adamw", {"learning_rate": 0.01, "weight_decay": 0.01, "epsilon": 1e-8, "eps_mode": "torch"}),
    "sgd-clipnorm": ("sgd", {"learning_rate": 0.05}, ClipRecipe("clipnorm", "between")),
    "momentum-global-clipnorm": ("momentum", {"learning_rate": 0.05, "momentum": 0.9}, ClipRecipe("global_clipnorm", "half-global")),
    "sgd-global-clipnorm-torch": ("sgd", {"learning_rate": 0.05}, ClipRecipe("global_clipnorm", "half-global", 1e-6)),
    "adam-clipvalue": ("adam", {"learning_rate": 0.01}, ClipRecipe("clipvalue", "median")),
}


def optimizer_spec(key: str, case=None) -> S.Optimizer:
    """The optimizer entry ``key`` steps with; a clipping entry needs the ``case`` its threshold is derived from."""
    name, given, *recipe = STEP_OPTIMIZERS[key]
    problems: list[str] = []
    params = resolve(f"STEP_OPTIMIZERS[{key}]", given, HYPERPARAMETERS[name], problems)
    assert not problems, problems
    if not recipe:
        return S.Optimizer(name, params)
    if case is None:
        raise ValueError(f"step-{key} clips at a threshold derived from the case's gradient: pass the case")
    return S.Optimizer(name, params, clip_for(recipe[0], case))


_THRESHOLDS: dict[tuple, float] = {}


def clip_for(recipe: ClipRecipe, case) -> S.Clip:
    """The recipe's clipping for ``case``: its threshold from the reference's float64 gradient (4 significant digits)."""
    key = (case.uid, recipe)
    if key not in _THRESHOLDS:
        from reference.network import Network

        c64 = case.as_float64()
        net = Network(c64.spec, c64.weights, dtype="float64", state=c64.state)
        _, grads = net.loss_and_grads(c64.x, c64.y, masks=c64.check_masks[0] if c64.check_masks else None,
                                      sample_weight=c64.weights_of(slice(0, len(c64.x))))
        each, total = clipping.norms(grads)
        positive = [n for n in each if n > 0] or [1.0]
        if recipe.threshold == "between":
            c = math.sqrt(min(positive) * max(positive))
        elif recipe.threshold == "half-global":
            c = total / 2 if total > 0 else 1.0
        else:
            flat = np.abs(np.concatenate([g.reshape(-1) for g in grads]))
            c = float(np.median(flat[flat > 0])) if (flat > 0).any() else 1.0
        _THRESHOLDS[key] = float(f"{c:.4g}")
    return S.Clip(recipe.rule, _THRESHOLDS[key], recipe.epsilon)


class Step(Check):
    def __init__(self, key: str):
        self.key = key
        self.name = f"step-{key}"
        self.clips = len(STEP_OPTIMIZERS[key]) > 2

    def applies(self, spec):
        # The clipping steps run on the specs that clip (coverage_training among the bundled ones, and a user's):
        # their optimizer steps from any spec's gradient the same way, and each costs keras-jax 0.1 - 0.9 s of
        # compiling per spec, so on all 18 bundled specs four of them cost the default matrix about 35 s (measured).
        return not self.clips or spec.optimizer.clip is not None

    def spec(self, spec: S.Spec, case) -> S.Spec:
        """The spec this check builds: ``spec`` (the case's), with this check's optimizer."""
        return dataclasses.replace(spec, optimizer=optimizer_spec(self.key, case))

    def ask(self, impl, case):
        spec = self.spec(case.spec, case)
        h = calls.build(impl, case, spec=spec)
        out = {}
        for s in range(STEP_COUNT):
            masks = case.check_masks[s] if case.check_masks else None
            rows = case.weights_of(slice(0, len(case.x)))
            _, grads = calls.loss_and_grads(impl, h, spec, case.x, case.y, masks, rows)
            out.update({K.at_step(s, K.grad(n)): g for n, g in zip(case.names, grads)})
            out.update({K.at_step(s, K.weight(n)): w for n, w in zip(case.names, calls.step(impl, h, spec, case.x, case.y, masks, rows))})
        return out

    def judge(self, judge, answers):
        c, names = judge.case, judge.case.names
        opt = optimizer_spec(self.key, c)
        reference_optimizer = make_optimizer(opt.name, opt.params, opt.clip)
        weights = [w.astype(np.float64) for w in c.weights]
        steps = []
        for s in range(STEP_COUNT):
            grads = [answers.get(K.at_step(s, K.grad(n))) for n in names]
            got = [answers.get(K.at_step(s, K.weight(n))) for n in names]
            bad_grads = [d for d in (problem(f"{n} (its gradient)", g, w, c.dtype) for n, g, w in zip(names, grads, weights)) if d]
            if bad_grads:  # no update can be judged from a malformed gradient
                steps.append(backward_order(names, bad_grads))
                break
            before = [w.copy() for w in weights]
            reference_optimizer.update(weights, [np.asarray(g, dtype=np.float64) for g in grads])
            diffs = backward_order(names, [compare(n, a, w, c.dtype, step_scale(b, w)) for n, a, w, b in zip(names, got, weights, before)])
            steps.append(diffs)
            if any(d.problem for d in diffs):
                break
            weights = [np.asarray(a, dtype=np.float64).copy() for a in got]  # go on from the implementation's weights
        return CheckResult(self.name, steps)

    def tolerance(self, judge):
        return T.tolerance("step", judge.case.spec, judge.case.dtype, len(judge.case.x), optimizer_spec(self.key, judge.case)), []
