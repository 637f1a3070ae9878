r"""Learning-rate schedules, as a name -> rule table: :math:`\eta(i)` for an index i counted from 0.

The index is the number of optimizer steps taken before this one (``per = "step"``, what a Keras
``LearningRateSchedule`` receives as ``optimizer.iterations``) or the number of epochs completed
(``per = "epoch"``, what a torch scheduler stepped once per epoch, or Keras's ``LearningRateScheduler``
callback, sees). With :math:`\eta_0` the initial rate, :math:`s` ``decay_steps`` and :math:`r` ``decay_rate``,
and :math:`p = i / s`, or :math:`\lfloor i / s \rfloor` with ``staircase``:

* ``exponential_decay``: :math:`\eta_0 r^p` (Keras ``ExponentialDecay``; torch ``ExponentialLR(gamma = r^{1/s})``,
  or ``StepLR(s, r)`` for the staircase)
* ``inverse_time_decay``: :math:`\eta_0 / (1 + r p)` (Keras ``InverseTimeDecay``; torch ``LambdaLR``)
* ``piecewise_constant``: ``values[k]`` where k is the number of ``boundaries`` strictly below i, so the
  value changes at step ``boundary + 1`` (Keras ``PiecewiseConstantDecay``; torch ``LambdaLR``)
* ``cosine_decay``: with ``warmup_steps`` w and ``warmup_target`` :math:`\eta_w`, first the linear warm-up
  :math:`\eta_0 + (\eta_w - \eta_0) i / w` for i < w (``warmup_steps = 0``, ``warmup_target = 0``: none), then, with :math:`j = \min(i - w, s)` and
  :math:`\hat\eta` = :math:`\eta_w` (or :math:`\eta_0` without warm-up),
  :math:`\hat\eta\,((1 - \alpha)\,\tfrac12(1 + \cos(\pi j / s)) + \alpha)`: it holds at :math:`\alpha\hat\eta` past
  the end (Keras ``CosineDecay``; torch ``LinearLR`` then ``CosineAnnealingLR`` in a ``SequentialLR``, whose cosine
  would rise again past ``T_max``, so torch's scheduler is not stepped past it).

Momentum under a schedule: Keras keeps the rate inside its velocity (:math:`v \leftarrow \mu v - \eta_i g`),
torch outside its buffer (:math:`b \leftarrow \mu b + g,\ w \leftarrow w - \eta_i b`); equal for a constant rate,
different once it changes, so a spec with a schedule states ``momentum_form`` (``reference/optimizers.py``).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from reference.params import REQUIRED, Param, choice, flag, integer, number
from reference.spec import Schedule


def _p(h: dict, i: int) -> float:
    p = i / h["decay_steps"]
    return math.floor(p) if h["staircase"] else p


def _exponential(h, i):
    return h["initial_learning_rate"] * h["decay_rate"] ** _p(h, i)


def _inverse_time(h, i):
    return h["initial_learning_rate"] / (1 + h["decay_rate"] * _p(h, i))


def _piecewise(h, i):
    return h["values"][sum(1 for b in h["boundaries"] if i > b)]


def _cosine(h, i):
    w = h["warmup_steps"]
    target = h["warmup_target"] if w else None  # Keras's warmup_target=None
    if target is not None and i < w:
        return (target - h["initial_learning_rate"]) * (i / w) + h["initial_learning_rate"]
    start = h["initial_learning_rate"] if target is None else target
    j = min(i - (w if target is not None else 0), h["decay_steps"])
    cosine = 0.5 * (1.0 + math.cos(math.pi * (j / h["decay_steps"])))
    return start * ((1 - h["alpha"]) * cosine + h["alpha"])


# name -> (hyperparameters, index) -> learning rate
SCHEDULES: dict[str, Callable[[dict, int], float]] = {
    "exponential_decay": _exponential, "inverse_time_decay": _inverse_time, "piecewise_constant": _piecewise,
    "cosine_decay": _cosine,
}

_PER = {"per": choice(("step", "epoch"), "step")}
_DECAY = {"initial_learning_rate": number(min=0, min_open=True), "decay_steps": number(min=0, min_open=True),
          "decay_rate": number(min=0, min_open=True), "staircase": flag(False)}


def _numbers() -> Param:
    def check(v):
        ok = isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                                                        and x > 0 for x in v)
        return None if ok else "a non-empty list of numbers > 0"
    return Param(REQUIRED, check, "list of numbers > 0")


def _ints() -> Param:
    def check(v):
        ok = isinstance(v, (list, tuple)) and v and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)
        return None if ok else "a non-empty list of integers >= 0"
    return Param(REQUIRED, check, "list of integers >= 0")


# Each schedule's parameters (Keras's names), "per" with them.
PARAMS: dict[str, dict[str, Param]] = {
    "exponential_decay": {**_DECAY, **_PER},
    "inverse_time_decay": {**_DECAY, **_PER},
    "piecewise_constant": {"boundaries": _ints(), "values": _numbers(), **_PER},
    "cosine_decay": {"initial_learning_rate": number(min=0), "decay_steps": integer(min=1), "alpha": number(0.0, min=0, max=1),
                     "warmup_target": number(0.0, min=0), "warmup_steps": integer(0, min=0), **_PER},
}


def check(s: Schedule, path: str) -> list[str]:
    """Problems the per-field checks cannot see, each with its field path."""
    h, out = s.params, []
    if s.name == "piecewise_constant":
        b, v = h["boundaries"], h["values"]
        if list(b) != sorted(set(b)):
            out.append(f"{path}.boundaries: got {list(b)}; expected strictly increasing steps")
        if len(v) != len(b) + 1:
            out.append(f"{path}.values: {len(v)} values for {len(b)} boundaries; give one more value than boundaries")
    if s.name == "cosine_decay":
        target, w = h["warmup_target"], h["warmup_steps"]
        if (target > 0) != (w > 0):
            out.append(f"{path}: warmup_target and warmup_steps go together (a linear warm-up from initial_learning_rate "
                       f"to warmup_target over warmup_steps; 0 and 0 for none); got warmup_target = {target}, "
                       f"warmup_steps = {w}")
        if w == 0 and h["initial_learning_rate"] <= 0:
            out.append(f"{path}.initial_learning_rate: got {h['initial_learning_rate']}; expected a number > 0 (0 only as "
                       "the start of a warm-up)")
    return out


def rate(s: Schedule, index: int) -> float:
    """The learning rate at ``index`` (steps or epochs completed, as ``s.per`` says)."""
    return SCHEDULES[s.name](s.params, index)


def initial(s: Schedule) -> float:
    return rate(s, 0)


def condition(s: Schedule | None, horizon: int) -> float:
    r"""sigma: how much the schedule's rounding adds to a step's relative error, in units of u, over the first
    ``horizon`` indices. A closed form (a power, a quotient) is a few roundings: 4. torch's ``ExponentialLR``,
    ``StepLR``, ``LinearLR`` and ``CosineAnnealingLR`` update the rate recursively, one more rounding per index:
    ``horizon``. A cosine near its end cancels, :math:`1 + \cos(\pi j / s) \to 0`, to a few roundings of its peak:
    :math:`4\,\eta_{max} / \eta_i` relative at index i, the worst with a rate > 0."""
    if s is None:
        return 0.0
    sigma = 4.0 + horizon
    if s.name == "cosine_decay":
        rates = [rate(s, i) for i in range(horizon)]
        positive = [r for r in rates if r > 0]
        sigma += 4.0 * max(rates) / min(positive) if positive else 0.0
    return sigma
