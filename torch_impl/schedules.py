r"""The spec's learning-rate schedule as a ``torch.optim.lr_scheduler`` scheduler (``reference/schedules.py``).

torch's schedulers hold the rate for the next ``optimizer.step()`` and move on when ``scheduler.step()`` is
called: the implementation calls it after every ``optimizer.step()`` (``per = "step"``) or once at the end of
each epoch (``per = "epoch"``), as torch users write either. Each schedule is torch's own class where it has
one, ``LambdaLR`` (torch's way to any rule) where it has none:

* ``exponential_decay``: ``ExponentialLR(gamma = r ** (1 / s))``, or ``StepLR(s, r)`` for the staircase;
* ``inverse_time_decay``, ``piecewise_constant``: ``LambdaLR`` with the rule as the factor on the first rate;
* ``cosine_decay``: ``CosineAnnealingLR(T_max = s, eta_min = alpha * peak)``, after ``LinearLR`` from
  ``initial / target`` to 1 over the warm-up, joined by ``SequentialLR``. ``CosineAnnealingLR``'s cosine
  rises again past ``T_max`` where Keras's ``CosineDecay`` holds its floor, so ``Stepper`` stops stepping it
  there (what a torch user training past ``T_max`` must do to keep the floor).

``ExponentialLR``, ``StepLR``, ``LinearLR`` and ``CosineAnnealingLR`` update the rate recursively (each step
multiplies the last rate), not from a closed form: the rounding grows by about one ulp a step, within the
schedule's share of the step bound (``reference/tolerance.py``) over the steps a check takes.
"""
from __future__ import annotations

import dataclasses

import torch
from torch.optim import lr_scheduler as L

from reference.schedules import rate


def _exponential(s, opt):
    h = s.params
    if h["staircase"]:
        return L.StepLR(opt, step_size=int(h["decay_steps"]), gamma=h["decay_rate"])
    return L.ExponentialLR(opt, gamma=h["decay_rate"] ** (1.0 / h["decay_steps"]))


def _factor(s, opt):
    first = rate(s, 0)
    return L.LambdaLR(opt, lambda i: rate(s, i) / first)


def _cosine(s, opt):
    h = s.params
    if not h["warmup_steps"]:
        return L.CosineAnnealingLR(opt, T_max=h["decay_steps"], eta_min=h["alpha"] * h["initial_learning_rate"])
    target = h["warmup_target"]
    for group in opt.param_groups:  # the warm-up climbs to target: the schedulers' base rate
        group["lr"] = target
    warmup = L.LinearLR(opt, start_factor=h["initial_learning_rate"] / target, end_factor=1.0, total_iters=h["warmup_steps"])
    cosine = L.CosineAnnealingLR(opt, T_max=h["decay_steps"], eta_min=h["alpha"] * target)
    return L.SequentialLR(opt, [warmup, cosine], milestones=[h["warmup_steps"]])


# name -> (schedule, optimizer) -> scheduler
SCHEDULERS = {"exponential_decay": _exponential, "inverse_time_decay": _factor, "piecewise_constant": _factor,
              "cosine_decay": _cosine}


def declines(s) -> str | None:
    """Why torch's schedulers cannot express ``s``, or None."""
    if s is None:
        return None
    h = s.params
    if s.name == "exponential_decay" and h["staircase"] and h["decay_steps"] != int(h["decay_steps"]):
        return f"a staircase exponential decay every {h['decay_steps']} steps: torch's StepLR takes a whole step_size"
    if s.name == "cosine_decay" and h["warmup_steps"] and not 0 < h["initial_learning_rate"] <= h["warmup_target"]:
        return ("a warm-up from initial_learning_rate = "
                f"{h['initial_learning_rate']} to {h['warmup_target']}: torch's LinearLR starts at a factor in (0, 1]")
    return None


def native(s, aspects: frozenset):
    """The schedule as a torch user ports a per-step one (native ``SCHEDULE_PER_EPOCH``): stepped once per epoch, one
    decay of ``decay_rate`` each (``decay_steps`` read as one epoch)."""
    from reference.native import Native

    if Native.SCHEDULE_PER_EPOCH not in aspects or s.per == "epoch":
        return s
    return dataclasses.replace(s, params={**s.params, "per": "epoch", **({"decay_steps": 1} if "decay_steps" in s.params else {})})


class Stepper:
    """The scheduler and when it moves: ``after_step`` (per step) or ``after_epoch`` (per epoch), never past the end
    of a cosine decay (module docstring)."""

    def __init__(self, s, opt: torch.optim.Optimizer):
        self.schedule, self.scheduler, self.index = s, SCHEDULERS[s.name](s, opt), 0
        h = s.params
        self.last = h["warmup_steps"] + h["decay_steps"] if s.name == "cosine_decay" else None

    def _advance(self) -> None:
        self.index += 1
        if self.last is None or self.index <= self.last:
            self.scheduler.step()

    def after_step(self) -> None:
        if self.schedule.per == "step":
            self._advance()

    def after_epoch(self) -> None:
        if self.schedule.per == "epoch":
            self._advance()
