"""Learning-rate schedules with one mistake each, replayed on a failed ``schedule-<s>`` check.

Each is the reference optimizer of the check with its schedule followed wrongly, in the ways ports go wrong:
advanced per step where the spec advances it per epoch or the reverse (``scheduler.step()`` in the other
loop), one index ahead (``scheduler.step()`` before ``optimizer.step()``, so the first step already has the
second rate), not followed at all (the first rate throughout), and, for momentum, the other side of the
buffer for the rate (Keras's velocity or torch's buffer, ``momentum_form``). Like the step checks' hints,
each is replayed from the implementation's own weights and gradients, step by step, told each epoch's end.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from reference import schedules
from reference.checks import keys as K
from reference.checks.scheduled import Scheduled, steps
from reference.compare import compare
from reference.magnitudes import step_scale
from reference.optimizers import Optimizer, make_optimizer
from reference.spec import Optimizer as OptimizerSpec


def _ahead(opt: OptimizerSpec) -> Optimizer:
    optimizer = make_optimizer(opt.name, opt.params, opt.clip, opt.schedule)
    begin = optimizer.begin

    def begin_ahead(params):
        begin(params)
        index = optimizer.t if opt.schedule.per == "step" else optimizer.epoch + 1
        optimizer.hyper["learning_rate"] = schedules.rate(opt.schedule, index)
    optimizer.begin = begin_ahead
    return optimizer


def mistakes(opt: OptimizerSpec) -> list[tuple[str, Callable[[], Optimizer]]]:
    s = opt.schedule
    other = "epoch" if s.per == "step" else "step"
    swapped = dataclasses.replace(s, params={**s.params, "per": other})
    out = [(f"the schedule advanced per {other} (scheduler.step() in the {other} loop, or a Keras LearningRateSchedule "
            f"where the spec's schedule counts {s.per}s), where the spec advances it per {s.per}",
            lambda: make_optimizer(opt.name, opt.params, opt.clip, swapped)),
           ("the schedule one index ahead: each step at the next rate (torch's scheduler.step() called before "
            "optimizer.step())", lambda: _ahead(opt)),
           (f"no schedule: every step at the first rate ({opt.params['learning_rate']:g})",
            lambda: make_optimizer(opt.name, opt.params, opt.clip, None))]
    form = opt.params.get("momentum_form")
    if form in ("keras", "torch") and opt.params.get("momentum", 0) > 0:
        flipped = "torch" if form == "keras" else "keras"
        where = "outside the momentum buffer (torch: b = mu b + g, w -= lr_t b)" if flipped == "torch" else \
            "inside the velocity (Keras: v = mu v - lr_t g, w += v)"
        out.append((f"the momentum form: the rate {where}, where the spec's momentum_form is {form!r}",
                    lambda: make_optimizer(opt.name, {**opt.params, "momentum_form": flipped}, opt.clip, s)))
    return out


def hints(judge, check: Scheduled, out: dict, tol: float) -> list[str]:
    c, names = judge.case, judge.case.names
    k_steps = steps(c)
    if not all(K.at_step(k, K.weight(n)) in out and K.at_step(k, K.grad(n)) in out for k in range(k_steps) for n in names):
        return []
    grads = [[np.asarray(out[K.at_step(k, K.grad(n))], dtype=np.float64) for n in names] for k in range(k_steps)]
    got = [[np.asarray(out[K.at_step(k, K.weight(n))], dtype=np.float64) for n in names] for k in range(k_steps)]
    befores = [[np.asarray(w, dtype=np.float64) for w in judge.ref_case.weights]] + got[:-1]

    def replay(make) -> float:
        optimizer, worst = make(), 0.0
        for k in range(k_steps):
            after = [w.copy() for w in befores[k]]
            optimizer.update(after, grads[k])
            for n, a, e, b in zip(names, got[k], after, befores[k]):
                d = compare(n, a, e, scale=step_scale(b, e))
                if d.problem:
                    return np.inf
                worst = max(worst, d.max_rel)
            if (k + 1) % c.steps_per_epoch == 0:
                optimizer.end_epoch()
        return worst

    opt = check.spec(c.spec).optimizer
    if replay(lambda: make_optimizer(opt.name, opt.params, opt.clip, opt.schedule)) <= tol:
        return []
    with np.errstate(all="ignore"):
        return [text + "?" for text, make in mistakes(opt) if replay(make) <= tol]
