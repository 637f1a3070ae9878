"""Learning-rate schedules: the rules on numbers worked by hand, torch's schedulers against them, the spec's fields
and their errors, the two momentum forms, and the oracle catching a scheduler stepped in the wrong place."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnparity import runner
from reference import schedules
from reference import spec as S
from reference.errors import SpecError
from reference.optimizers import make_optimizer
from reference.worker import InProcess
from torch_impl import schedules as torch_schedules
from torch_impl.implementation import TorchImplementation


def _schedule(name, **given) -> S.Schedule:
    d = S.to_dict(S.load("gates_xor"))
    d["optimizer"]["learning_rate"] = {"name": name, **given}
    return S.from_dict(d).optimizer.schedule


EXPONENTIAL = _schedule("exponential_decay", initial_learning_rate=0.05, decay_steps=3, decay_rate=0.5)
STAIRCASE = _schedule("exponential_decay", initial_learning_rate=0.05, decay_steps=3, decay_rate=0.5, staircase=True)
INVERSE = _schedule("inverse_time_decay", initial_learning_rate=0.05, decay_steps=2, decay_rate=1.0)
PIECEWISE = _schedule("piecewise_constant", boundaries=[2, 5], values=[0.1, 0.01, 0.001])
COSINE = _schedule("cosine_decay", initial_learning_rate=0.001, decay_steps=8, alpha=0.1, warmup_target=0.01, warmup_steps=3)
PLAIN_COSINE = _schedule("cosine_decay", initial_learning_rate=0.02, decay_steps=10)


def test_the_rules_on_numbers_worked_by_hand():
    r = schedules.rate
    assert r(EXPONENTIAL, 3) == pytest.approx(0.025, rel=1e-15) and r(EXPONENTIAL, 1) == pytest.approx(0.05 * 0.5 ** (1 / 3))
    assert [r(STAIRCASE, i) for i in (0, 2, 3, 5, 6)] == [0.05, 0.05, 0.025, 0.025, 0.0125]
    assert r(INVERSE, 4) == pytest.approx(0.05 / 3, rel=1e-15)
    # Keras's boundaries: values[0] up to and including step 2, values[1] from step 3
    assert [r(PIECEWISE, i) for i in (0, 2, 3, 5, 6)] == [0.1, 0.1, 0.01, 0.01, 0.001]
    assert [r(COSINE, i) for i in (0, 1, 3)] == pytest.approx([0.001, 0.004, 0.01], rel=1e-15)
    assert r(COSINE, 3 + 4) == pytest.approx(0.01 * (0.9 * 0.5 + 0.1), rel=1e-15)  # half-way: cos(pi/2) = 0
    assert r(COSINE, 11) == r(COSINE, 40) == pytest.approx(0.001, rel=1e-15)  # holds at alpha * target past the end
    assert r(PLAIN_COSINE, 10) == 0.0


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")
@pytest.mark.parametrize("schedule", [EXPONENTIAL, STAIRCASE, INVERSE, PIECEWISE, COSINE, PLAIN_COSINE],
                         ids=["exponential", "staircase", "inverse-time", "piecewise", "cosine-warmup", "cosine"])
def test_torch_schedulers_give_the_reference_rate_at_every_step(schedule):
    """ExponentialLR / StepLR / LambdaLR / LinearLR + CosineAnnealingLR in a SequentialLR, stepped after each step,
    and held past a cosine's end as Keras holds it: within a few roundings of the closed form, over 30 steps."""
    opt = torch.optim.SGD([torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=schedules.initial(schedule) or 1.0)
    stepper = torch_schedules.Stepper(schedule, opt)
    for i in range(30):
        expected = schedules.rate(schedule, i)
        assert abs(opt.param_groups[0]["lr"] - expected) <= 64 * 2.0**-53 * 0.1, (i, opt.param_groups[0]["lr"], expected)
        stepper.after_step()


def _spec_with(**optimizer) -> dict:
    d = S.to_dict(S.load("gates_xor"))
    d["optimizer"] = optimizer
    return d


@pytest.mark.parametrize("optimizer, message", [
    ({"name": "momentum", "momentum": 0.9, "learning_rate": {"name": "exponential_decay", "initial_learning_rate": 0.1,
                                                              "decay_steps": 1, "decay_rate": 0.9}},
     "optimizer.momentum_form: required under a learning-rate schedule"),
    ({"name": "sgd", "learning_rate": {"name": "piecewise_constant", "boundaries": [3, 1], "values": [0.1, 0.2, 0.3]}},
     "optimizer.learning_rate.boundaries: got [3, 1]; expected strictly increasing steps"),
    ({"name": "sgd", "learning_rate": {"name": "piecewise_constant", "boundaries": [1], "values": [0.1, 0.2, 0.3]}},
     "optimizer.learning_rate.values: 3 values for 1 boundaries"),
    ({"name": "sgd", "learning_rate": {"name": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 5,
                                       "warmup_steps": 2}},
     "optimizer.learning_rate: warmup_target and warmup_steps go together"),
    ({"name": "sgd", "learning_rate": {"name": "step_decay", "initial_learning_rate": 0.1}},
     "optimizer.learning_rate.name: unknown learning-rate schedule 'step_decay'; known: exponential_decay"),
    ({"name": "sgd", "learning_rate": {"name": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 1,
                                       "decay_rate": 0.9, "per": "batch"}},
     "optimizer.learning_rate.per: got 'batch'; expected one of 'step', 'epoch'"),
])
def test_a_bad_schedule_is_named_by_its_field(optimizer, message):
    with pytest.raises(SpecError) as e:
        S.from_dict(_spec_with(**optimizer))
    assert message in str(e.value)


def test_a_schedule_round_trips_and_the_optimizer_starts_at_its_first_rate():
    spec = S.load("coverage_training")
    assert spec.optimizer.schedule.per == "epoch" and spec.optimizer.params["learning_rate"] == 0.1
    assert S.from_dict(S.to_dict(spec)) == spec


def _steps(form: str, schedule) -> list[np.ndarray]:
    opt = make_optimizer("momentum", {"learning_rate": 0.1, "momentum": 0.9, "momentum_form": form}, None, schedule)
    w, rng, out = np.zeros(3), np.random.default_rng(0), []
    for _ in range(6):
        opt.update([w], [rng.normal(size=3)])
        out.append(w.copy())
    return out


def test_the_momentum_forms_agree_for_a_constant_rate_and_part_under_a_schedule():
    constant = [np.abs(a - b).max() for a, b in zip(_steps("keras", None), _steps("torch", None))]
    assert max(constant) < 1e-15
    decay = _schedule("exponential_decay", initial_learning_rate=0.1, decay_steps=1, decay_rate=0.5)
    scheduled = [np.abs(a - b).max() for a, b in zip(_steps("keras", decay), _steps("torch", decay))]
    assert scheduled[0] < 1e-15 and scheduled[-1] > 1e-2  # the first step agrees; then the buffers carry old rates


class _SchedulerPerStep(TorchImplementation):
    """A per-epoch schedule ported as torch users often write a Keras one: scheduler.step() after every batch."""

    name = "torch-scheduler-per-step"

    def _after_step(self, h):
        super()._after_step(h)
        if h.stepper is not None:
            h.stepper.scheduler.step()

    def end_epoch(self, h):
        pass  # the loop over epochs never calls it


class _SchedulerFirst(TorchImplementation):
    """scheduler.step() before optimizer.step(): every step runs at the next rate."""

    name = "torch-scheduler-first"

    def build(self, spec, weights, **kw):
        h = super().build(spec, weights, **kw)
        if h.stepper is not None and h.stepper.schedule.per == "step":
            h.stepper.scheduler.step()
        return h


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")
@pytest.mark.parametrize("impl, check, hint", [
    (_SchedulerPerStep(), "schedule-exponential-staircase-epoch", "the schedule advanced per step"),
    (_SchedulerFirst(), "schedule-exponential-step", "the schedule one index ahead"),
])
def test_a_misplaced_scheduler_step_fails_its_schedule_check_with_the_hint_that_names_it(impl, check, hint):
    sel = runner.Selection(["coverage_training"], [impl.name], ["float64"], ["cpu"], [check, "schedule-piecewise-epoch"])
    out = {o.check: o for o in runner.run(sel, lambda name: InProcess(impl))}
    assert out[check].status == "fail", out[check]
    assert any(hint in h for h in out[check].hints), out[check].hints
    if isinstance(impl, _SchedulerFirst):
        assert out["schedule-piecewise-epoch"].status == "pass"  # a per-epoch schedule is untouched by this mistake


def test_an_implementation_without_supports_is_not_given_a_schedule():
    class DenseOnly:
        name = "dense-only"

    from reference.checks.calls import declined

    spec = S.from_dict(_spec_with(name="sgd", learning_rate={"name": "exponential_decay", "initial_learning_rate": 0.1,
                                                             "decay_steps": 1, "decay_rate": 0.9}))
    assert "follows a schedule (exponential_decay)" in declined(DenseOnly(), spec)


def test_the_rate_of_a_cosine_without_warmup_is_keras_formula():
    # Keras: decayed = (1 - alpha) * 0.5 * (1 + cos(pi * step / decay_steps)) + alpha
    assert schedules.rate(PLAIN_COSINE, 5) == pytest.approx(0.02 * 0.5 * (1 + math.cos(math.pi / 2)), abs=1e-18)
