"""``schedule-<s>``: an optimizer under each learning-rate schedule of ``SCHEDULED``, stepped across at least two
epoch boundaries of the shared batch schedule, and judged like ``step-<opt>``: before each step the implementation's
own gradient is read, and the expected weights are the reference optimizer, at the scheduled rate, applied to the
implementation's weights and that gradient. So each step isolates the rate the schedule gives it (and, for
momentum, which side of the buffer the rate is on) from the rounding the trajectory check measures end to end.

The steps are the trajectory's first ``2 e + 1`` batches (e steps per epoch of the pool, at most
``SCHEDULE_STEPS``); a per-epoch schedule is told each epoch's end (``end_epoch``). The checks run on every spec
whose own learning rate follows a schedule (``coverage_training`` among the bundled ones, and a user's).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from reference import spec as S
from reference import tolerance as T
from reference.checks import calls
from reference.checks import keys as K
from reference.checks.base import Check
from reference.checks.result import CheckResult, backward_order
from reference.compare import compare, problem
from reference.magnitudes import step_scale
from reference.optimizers import HYPERPARAMETERS, make_optimizer
from reference.params import resolve
from reference.schedules import PARAMS

SCHEDULE_STEPS = 20


def _schedule(name: str, **given) -> S.Schedule:
    problems: list[str] = []
    params = resolve(f"SCHEDULED[{name}]", given, PARAMS[name], problems)
    assert not problems, problems
    return S.Schedule(name, params)


# name -> (optimizer, hyperparameters beyond the defaults, schedule): every rule, both indices, both momentum forms
SCHEDULED: dict[str, tuple[str, dict, S.Schedule]] = {
    "exponential-step": ("sgd", {}, _schedule("exponential_decay", initial_learning_rate=0.05, decay_steps=3, decay_rate=0.5)),
    "exponential-staircase-epoch": ("adam", {}, _schedule("exponential_decay", initial_learning_rate=0.01, decay_steps=1,
                                                          decay_rate=0.5, staircase=True, per="epoch")),
    "inverse-time-step": ("sgd", {}, _schedule("inverse_time_decay", initial_learning_rate=0.05, decay_steps=2, decay_rate=1.0)),
    "piecewise-epoch": ("sgd", {}, _schedule("piecewise_constant", boundaries=[0, 1], values=[0.05, 0.02, 0.005], per="epoch")),
    "cosine-warmup-step": ("adam", {}, _schedule("cosine_decay", initial_learning_rate=0.001, decay_steps=8, alpha=0.1,
                                                 warmup_target=0.01, warmup_steps=3)),
    "momentum-keras-epoch": ("momentum", {"momentum": 0.9, "momentum_form": "keras"},
                             _schedule("exponential_decay", initial_learning_rate=0.05, decay_steps=1, decay_rate=0.7, per="epoch")),
    "nesterov-torch-step": ("nesterov", {"momentum": 0.9, "momentum_form": "torch"},
                            _schedule("exponential_decay", initial_learning_rate=0.05, decay_steps=2, decay_rate=0.7)),
}


def scheduled_optimizer(key: str) -> S.Optimizer:
    name, given, schedule = SCHEDULED[key]
    problems: list[str] = []
    params = resolve(f"SCHEDULED[{key}]", {**given, "learning_rate": 1.0}, HYPERPARAMETERS[name], problems)
    assert not problems, problems
    from reference.schedules import initial

    return S.Optimizer(name, {**params, "learning_rate": initial(schedule)}, None, schedule)


def steps(case) -> int:
    """Steps taken: two epochs of the pool and one more, at most SCHEDULE_STEPS and the batches there are."""
    return min(2 * case.steps_per_epoch + 1, SCHEDULE_STEPS, len(case.batches))


class Scheduled(Check):
    def __init__(self, key: str):
        self.key = key
        self.name = f"schedule-{key}"

    def applies(self, spec):
        return spec.optimizer.schedule is not None

    def spec(self, spec: S.Spec, case=None) -> S.Spec:
        """The spec this check builds: ``spec``, its optimizer the entry's (its clipping kept)."""
        opt = scheduled_optimizer(self.key)
        return dataclasses.replace(spec, optimizer=dataclasses.replace(opt, clip=spec.optimizer.clip))

    def ask(self, impl, case):
        spec = self.spec(case.spec)
        h = calls.build(impl, case, spec=spec)
        out = {}
        for k in range(steps(case)):
            idx = case.batches[k]
            x, y, masks = case.pool_x[idx], case.pool_y[idx], case.batch_masks[k] if case.batch_masks else None
            _, grads = calls.loss_and_grads(impl, h, spec, x, y, masks, case.weights_of(idx))
            out.update({K.at_step(k, K.grad(n)): g for n, g in zip(case.names, grads)})
            out.update({K.at_step(k, K.weight(n)): w for n, w in zip(case.names, calls.step(impl, h, spec, x, y, masks, case.weights_of(idx)))})
            if (k + 1) % case.steps_per_epoch == 0:
                calls.end_epoch(impl, h, spec)
        return out

    def judge(self, judge, answers):
        c, names = judge.case, judge.case.names
        opt = self.spec(c.spec).optimizer
        reference_optimizer = make_optimizer(opt.name, opt.params, opt.clip, opt.schedule)
        weights, out = [w.astype(np.float64) for w in c.weights], []
        for k in range(steps(c)):
            grads = [answers.get(K.at_step(k, K.grad(n))) for n in names]
            got = [answers.get(K.at_step(k, K.weight(n))) for n in names]
            bad = [d for d in (problem(f"{n} (its gradient)", g, w, c.dtype) for n, g, w in zip(names, grads, weights)) if d]
            if bad:
                out.append(backward_order(names, bad))
                break
            before = [w.copy() for w in weights]
            reference_optimizer.update(weights, [np.asarray(g, dtype=np.float64) for g in grads])
            diffs = backward_order(names, [compare(n, a, w, c.dtype, step_scale(b, w)) for n, a, w, b in zip(names, got, weights, before)])
            out.append(diffs)
            if any(d.problem for d in diffs):
                break
            weights = [np.asarray(a, dtype=np.float64).copy() for a in got]
            if (k + 1) % c.steps_per_epoch == 0:
                reference_optimizer.end_epoch()
        return CheckResult(self.name, out)

    def tolerance(self, judge):
        c = judge.case
        return T.tolerance("step", c.spec, c.dtype, len(c.x), self.spec(c.spec).optimizer, horizon=steps(c),
                           steps_per_epoch=c.steps_per_epoch), []
