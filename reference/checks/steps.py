"""``step-<opt>``: two consecutive steps of each optimizer in ``STEP_OPTIMIZERS`` on the check batch, state
carried over. Before each step the implementation's own gradient is read (``loss_and_grads`` changes
nothing); the expected weights are the reference optimizer applied to the implementation's weights and that
gradient. This isolates the optimizer: an adaptive optimizer divides each gradient component by its own RMS,
so comparing it end to end would measure the rounding of near-zero gradient components (whose elementwise
error can be 1e-9 in float64), not the update rule. Gradients are compared end to end by ``grads``, and
steps by ``trajectory``.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from reference import spec as S
from reference import tolerance as T
from reference.checks import calls
from reference.checks import keys as K
from reference.checks.base import Check
from reference.checks.case import STEP_COUNT
from reference.checks.result import CheckResult, backward_order
from reference.compare import compare
from reference.magnitudes import step_scale
from reference.optimizers import HYPERPARAMETERS, make_optimizer
from reference.params import resolve

# The "one step of every optimizer" suite: name -> (optimizer, hyperparameters beyond the defaults).
STEP_OPTIMIZERS: dict[str, tuple[str, dict]] = {
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
}


def optimizer_spec(key: str) -> S.Optimizer:
    name, given = STEP_OPTIMIZERS[key]
    problems: list[str] = []
    params = resolve(f"STEP_OPTIMIZERS[{key}]", given, HYPERPARAMETERS[name], problems)
    assert not problems, problems
    return S.Optimizer(name, params)


class Step(Check):
    def __init__(self, key: str):
        self.key = key
        self.name = f"step-{key}"

    def spec(self, spec: S.Spec) -> S.Spec:
        """The spec this check builds: the case's, with this check's optimizer."""
        return dataclasses.replace(spec, optimizer=optimizer_spec(self.key))

    def ask(self, impl, case):
        spec = self.spec(case.spec)
        h = calls.build(impl, case, spec=spec)
        out = {}
        for s in range(STEP_COUNT):
            masks = case.check_masks[s] if case.check_masks else None
            _, grads = calls.loss_and_grads(impl, h, spec, case.x, case.y, masks)
            out.update({K.at_step(s, K.grad(n)): g for n, g in zip(case.names, grads)})
            out.update({K.at_step(s, K.weight(n)): w for n, w in zip(case.names, calls.step(impl, h, spec, case.x, case.y, masks))})
        return out

    def judge(self, judge, answers):
        c, names = judge.case, judge.case.names
        opt = optimizer_spec(self.key)
        reference_optimizer = make_optimizer(opt.name, opt.params)
        weights = [w.astype(np.float64) for w in c.weights]
        steps = []
        for s in range(STEP_COUNT):
            grads = [answers.get(K.at_step(s, K.grad(n))) for n in names]
            got = [answers.get(K.at_step(s, K.weight(n))) for n in names]
            bad_grads = [compare(f"{n} (its gradient)", g, w, c.dtype) for n, g, w in zip(names, grads, weights)]
            if any(d.problem for d in bad_grads):  # no update can be judged from a malformed gradient
                steps.append(backward_order(names, [d for d in bad_grads if d.problem]))
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
        return T.tolerance("step", judge.case.spec, judge.case.dtype, len(judge.case.x), optimizer_spec(self.key)), []
