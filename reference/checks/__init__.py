"""The parity checks, as a name -> check table: each check one object (``base.Check``) owning which specs it
applies to, what it asks of an implementation, the reference's answers, how they are judged, its tolerance
and its golden file. Module by module:

* ``case.py``       the case every check runs on (weights, state, batches, masks) and its one serialization;
* ``calls.py``      how the oracle calls an implementation, compatibly with dense-only ones;
* ``keys.py``       the names of the arrays in the answers;
* ``single.py``     weights, forward, forward-training, loss, grads, large-logits, state;
* ``steps.py``      step-<opt>, one check per optimizer of ``STEP_OPTIMIZERS``;
* ``scheduled.py``  schedule-<s>, one check per learning-rate schedule of ``SCHEDULED``;
* ``trajectory.py`` trajectory (and predictions, for ``nnparity divergences``);
* ``stopping.py``   early-stopping, an early-stopped run in the implementation's own training loop;
* ``replicated.py`` replicas, the replicas of a data-parallel run agreeing bitwise.

A float32 case is judged against the float64 reference computed from the same float32-rounded weights and
inputs: what remains is the float32 implementation's own rounding. The judging is ``reference/judge.py``.
"""
from __future__ import annotations

from reference.checks.base import Check
from reference.checks.calls import declined
from reference.checks.case import (
    CHECK_ROWS,
    LARGE_LOGIT,
    POOL_ROWS,
    SAMPLE,
    STEP_COUNT,
    TRAJECTORY_STEPS,
    Case,
    make_case,
)
from reference.checks.replicated import ReplicaAgreement
from reference.checks.result import CheckResult, backward_order
from reference.checks.scheduled import SCHEDULED, Scheduled
from reference.checks.single import Forward, LargeLogits, LossAndGrads, State, Weights
from reference.checks.steps import STEP_OPTIMIZERS, Step, optimizer_spec
from reference.checks.stopping import EarlyStopped, StoppedPredictions
from reference.checks.trajectory import Predictions, Trajectory
from reference.errors import Unsupported

CHECKS: dict[str, Check] = {c.name: c for c in [
    Weights(), Forward(training=False), Forward(training=True), LossAndGrads("loss"), LossAndGrads("grads"),
    LargeLogits(), State(), *(Step(k) for k in STEP_OPTIMIZERS), *(Scheduled(k) for k in SCHEDULED), Trajectory(),
    EarlyStopped(), ReplicaAgreement(), Predictions(), Predictions("losses"), Predictions("epoch-predictions"),
    StoppedPredictions(),
]}


def check_names(spec=None, replicas: int = 1) -> list[str]:
    """Every parity check, in the order tables show them; with ``spec``, those that apply to it; over ``replicas``,
    the replicas' agreement too."""
    return [name for name, c in CHECKS.items() if c.parity and (spec is None or c.applies(spec))
            and (not c.needs_replicas or replicas > 1)]


def spec_for(case: Case, check: str):
    """The spec a check builds, as ``supports`` sees it: ``dtype`` is the run's, and a step check's optimizer is
    the one it steps with."""
    import dataclasses

    spec = dataclasses.replace(case.spec, dtype=case.dtype)
    if not CHECKS[check].stops_early and spec.training.early_stopping is not None:  # only those checks train with it
        spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, early_stopping=None))
    c = CHECKS[check]
    return c.spec(spec, case) if isinstance(c, (Step, Scheduled)) else spec


def collect(impl, case: Case, check: str) -> dict:
    """The raw answers of ``impl`` for one check (runs wherever the implementation lives); ``Unsupported`` when
    the implementation declines the spec the check builds."""
    why = declined(impl, spec_for(case, check), check)
    if why:
        raise Unsupported(why)
    return CHECKS[check].ask(impl, case)


__all__ = ["CHECKS", "CHECK_ROWS", "LARGE_LOGIT", "POOL_ROWS", "SAMPLE", "STEP_COUNT", "STEP_OPTIMIZERS", "TRAJECTORY_STEPS",
           "Case", "Check", "CheckResult", "backward_order", "check_names", "collect", "make_case", "optimizer_spec", "spec_for"]
